"""Stage 2 of the tiny VLM's pretraining: the vision side alone, before any language model reads it.

SmolVLM2's vision encoder arrives pretrained (SigLIP) before it is connected to its language
model. Trained from random init together with the language model, the tiny encoder and
connector collapse instead: their output stops depending on the frame within a few hundred steps
(``image_spread`` 0.154 -> 0.0002-0.009, ``docs/tiny-learning.md``, "Fifth round"), and nothing
can be grounded after that. This stage is the tiny stand-in for SigLIP's pretraining: the
encoder and connector, with a linear head on the image tokens, regress what a PushT policy must
see, in frames with random poses (never an episode of an evaluation seed, no action):

* in ``gym-pusht`` frames: the T block's x, y and angle (as cos, sin), the agent's x, y;
* in scenes of one coloured shape on a coloured background: the shape's x, y, so that the
  features are not tied to one image.

The head is thrown away; the encoder and connector are written into a copy of the base preset
(whose language model is kept). The stage is seeded and resumable like the language stages
(``checkpoint/`` every ``save_every`` steps and on Ctrl-C or SIGTERM) and ends at its step cap or
when the block's and the agent's position errors and the block's angle error reach their thresholds.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..backbone import is_vision, load_processor, load_vlm
from .pretrain import Questions, image_spread, restore_on_exit
from .pretrain_data import WORLD, Generator, random_crop, shapes_scene

# target layout (8 numbers): block x, y, cos, sin of the block's angle, agent x, y, shape x, y
TARGETS = ("block_x", "block_y", "angle_cos", "angle_sin", "agent_x", "agent_y", "shape_x", "shape_y")
PUSHT_MASK = np.array([1, 1, 1, 1, 1, 1, 0, 0], np.float32)
SHAPE_MASK = np.array([0, 0, 0, 0, 0, 0, 1, 1], np.float32)


@dataclass
class VisionConfig:
    """The vision stage."""

    out_dir: str  # checkpoint, metrics.jsonl and preset/
    base: str  # preset folder whose language model (and tokenizer) is kept
    seed: int = 0
    steps: int = 2000  # step cap (and length of the cosine schedule)
    batch_size: int = 32
    lr: float = 1e-3
    warmup: int = 50
    pusht_fraction: float = 0.75  # the rest of the frames are one-shape scenes
    eval_every: int = 250
    eval_size: int = 64
    save_every: int = 250
    # the stage stops once all three are reached: block and agent position error in world units
    # of 512, the block's angle error in degrees
    stop_block_error: float = 10.0
    stop_agent_error: float = 15.0
    stop_angle_error: float = 10.0
    # torch threads; 0: torch's default, one per core (1.46x one thread's speed on an idle 2-core
    # machine, benchmarks/pretrain_step.py); 1 when another job shares the cores
    threads: int = 0

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch_size must be >= 1, got {self.steps}, {self.batch_size}")
        if not 0 <= self.pusht_fraction <= 1:
            raise ValueError(f"pusht_fraction must be in [0, 1], got {self.pusht_fraction}")


def frames(gen: Generator, rng: np.random.Generator, n: int, pusht_fraction: float):
    """``n`` frames with their ``(n, 8)`` targets (scaled to about [-1, 1]) and loss masks."""
    images, targets, masks = [], [], []
    for _ in range(n):
        target = np.zeros(8, np.float32)
        if rng.random() < pusht_fraction:
            image, agent, block, angle = gen.pusht.frame(rng)
            image = random_crop(image, rng)  # the policy's augmentation
            target[:] = [*(block / (WORLD / 2) - 1), np.cos(angle), np.sin(angle), *(agent / (WORLD / 2) - 1), 0, 0]
            masks.append(PUSHT_MASK)
        else:
            image, objects = shapes_scene(rng, 1)
            target[6:] = objects[0][1] / (WORLD / 2) - 1
            masks.append(SHAPE_MASK)
        images.append(image)
        targets.append(target)
    return images, torch.from_numpy(np.stack(targets)), torch.from_numpy(np.stack(masks))


class _Frame:  # what Questions.pixels reads
    def __init__(self, image):
        self.image = image


def errors(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """Block, agent and shape position errors (world units) and the block's angle error (degrees)."""

    def dist(i, rows):
        d = (pred[rows][:, i : i + 2] - target[rows][:, i : i + 2]) * (WORLD / 2)
        return float(d.norm(dim=-1).mean()) if rows.any() else float("nan")

    pusht, shape = mask[:, 0] > 0, mask[:, 6] > 0
    a_pred = torch.atan2(pred[pusht][:, 3], pred[pusht][:, 2])
    a_true = torch.atan2(target[pusht][:, 3], target[pusht][:, 2])
    turn = torch.remainder(a_pred - a_true + np.pi, 2 * np.pi) - np.pi
    return {
        "block": dist(0, pusht),
        "angle_deg": float(turn.abs().mean() * 180 / np.pi) if pusht.any() else float("nan"),
        "agent": dist(4, pusht),
        "shape": dist(6, shape),
    }


def train_vision(cfg: VisionConfig, progress=print) -> dict:
    """Run (or resume) the stage; writes ``out_dir/preset`` and returns the stage's record."""
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    metrics = out / "metrics.jsonl"
    with restore_on_exit(cfg.threads, progress) as boundary:
        torch.manual_seed(cfg.seed)
        processor = load_processor(cfg.base)
        questions = Questions(processor)
        vlm = load_vlm(cfg.base)
        fresh = load_vlm("tiny", load_weights=False).state_dict()  # the vision side starts from random init
        vlm.load_state_dict({k: fresh[k] if is_vision(k) else v for k, v in vlm.state_dict().items()})
        model = vlm.model
        side = model.config.vision_config.image_size // model.config.vision_config.patch_size
        n_tokens = (side // model.config.scale_factor) ** 2
        head = torch.nn.Linear(n_tokens * model.config.text_config.hidden_size, len(TARGETS))
        params = [p for n, p in vlm.named_parameters() if is_vision(n)] + list(head.parameters())
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.01)
        gen = Generator(cfg.seed)
        eval_frames = frames(gen, np.random.default_rng([cfg.seed + 1, 2_000_003]), cfg.eval_size, cfg.pusht_fraction)

        def predict(images):
            px = questions.pixels([_Frame(i) for i in images])[:, 0]
            tokens = model.connector(model.vision_model(pixel_values=px).last_hidden_state)  # (B, n_tokens, D)
            return head(tokens.flatten(1))

        ckpt = out / "checkpoint"
        step, spent, stopped = 0, 0.0, ""
        if (ckpt / "state.json").exists():
            state = json.loads((ckpt / "state.json").read_text())
            weights = load_file(ckpt / "weights.safetensors")
            vlm.load_state_dict({**vlm.state_dict(), **{k[4:]: v for k, v in weights.items() if k.startswith("vlm.")}})
            head.load_state_dict({k[5:]: v for k, v in weights.items() if k.startswith("head.")})
            opt.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True))
            step, spent, stopped = state["step"], state["seconds"], state["stopped"]
            if metrics.exists():
                keep = [x for x in metrics.read_text().splitlines() if json.loads(x)["step"] <= step]
                metrics.write_text("".join(x + "\n" for x in keep))
            progress(f"vision: resumed at step {step} ({spent / 60:.1f} min spent)")
        elif metrics.exists():
            metrics.unlink()

        def save():
            tmp = out / "checkpoint.partial"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            weights = {f"vlm.{k}": v for k, v in vlm.state_dict().items() if is_vision(k)}
            weights |= {f"head.{k}": v for k, v in head.state_dict().items()}
            save_file({k: v.contiguous() for k, v in weights.items()}, tmp / "weights.safetensors")
            torch.save(opt.state_dict(), tmp / "optimizer.pt")
            seconds = time.time() - start
            (tmp / "state.json").write_text(json.dumps({"step": step, "seconds": seconds, "stopped": stopped}))
            shutil.rmtree(ckpt, ignore_errors=True)
            tmp.rename(ckpt)

        start = time.time() - spent
        try:
            while step < cfg.steps and not stopped:
                rng = np.random.default_rng([cfg.seed, 7, step])
                images, target, mask = frames(gen, rng, cfg.batch_size, cfg.pusht_fraction)
                lr = cfg.lr * min(1.0, (step + 1) / cfg.warmup)
                lr *= 0.5 * (
                    1 + math.cos(math.pi * min(1.0, step / cfg.steps))
                )  # a float: optimizer state loads weights_only
                for group in opt.param_groups:
                    group["lr"] = lr
                loss = ((predict(images) - target) ** 2 * mask).sum() / mask.sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                if step % cfg.eval_every == 0 or step == cfg.steps:
                    with torch.no_grad():
                        err = errors(predict(eval_frames[0]), eval_frames[1], eval_frames[2])
                    spread = image_spread(vlm, questions, gen, 16, cfg.seed + 1)
                    row = {"step": step, "loss": loss.item(), "eval": err, "image_spread": spread}
                    row["seconds"] = round(time.time() - start, 1)
                    with metrics.open("a") as f:
                        f.write(json.dumps(row) + "\n")
                    progress(
                        f"vision step {step}/{cfg.steps}  block {err['block']:.1f}  angle {err['angle_deg']:.0f} deg"
                        f"  agent {err['agent']:.1f}  shape {err['shape']:.1f}  image spread {spread:.3f}"
                        f"  {row['seconds'] / 60:.1f} min"
                    )
                    if (
                        err["block"] <= cfg.stop_block_error
                        and err["agent"] <= cfg.stop_agent_error
                        and err["angle_deg"] <= cfg.stop_angle_error
                    ):
                        stopped = f"block {err['block']:.1f}, agent {err['agent']:.1f}, "
                        stopped += f"angle {err['angle_deg']:.1f} deg within the thresholds at step {step}"
                if step % cfg.save_every == 0 or stopped:
                    save()
                boundary.check()  # Ctrl-C or SIGTERM during this step: stop here, the step whole
        except KeyboardInterrupt:
            if boundary.immediate:
                progress("vision: interrupted inside a step: the last checkpoint stands")
            else:
                save()
                progress(f"vision: interrupted, checkpoint at step {step}; run the same command to resume")
            raise
        save()
        seconds = time.time() - start
    dst = out / "preset"
    shutil.rmtree(dst, ignore_errors=True)
    vlm.save_pretrained(dst, safe_serialization=True)
    processor.save_pretrained(dst)
    evals = [json.loads(x) for x in metrics.read_text().splitlines()]
    return {
        "stage": "vision",
        "steps": step,
        "stopped": stopped or f"step cap {cfg.steps} reached",
        "wall_time_s": round(seconds, 1),
        "config": asdict(cfg),
        "final_metrics": {**evals[-1]["eval"], "image_spread": evals[-1]["image_spread"]} if evals else None,
    }
