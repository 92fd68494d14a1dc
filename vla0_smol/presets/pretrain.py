"""Pretrain the tiny SmolVLM on generated numbers-and-grounding questions (``vla0-smol pretrain``).

The ``full`` profile fine-tunes SmolVLM2-500M, which arrives pretrained; the embedded ``tiny``
architecture arrives random, and in the ``cpu`` profile's budget it learns neither to read
digits nor to find the block (``docs/tiny-learning.md``). This is the small-scale stand-in for
SmolVLM2's pretraining: the same model class, prompt layout, tokenizer and decoder as the
policy, trained on :mod:`~vla0_smol.presets.pretrain_data`'s stream (no PushT actions, no
trajectories, no evaluation seeds). The result is written as the ``tiny-pretrained`` preset:
``config.json``, the processor files and ``model.safetensors``, loaded by the same
``from_pretrained`` call as SmolVLM2, with ``provenance.json`` beside them.

The run is seeded and resumable: batch ``k`` depends only on ``(seed, k)``, a checkpoint
(weights, optimizer, step) is written every ``save_every`` steps and on Ctrl-C, and
``metrics.jsonl`` gets one line per logged step (loss per skill) and per evaluation (greedy,
grammar-constrained answers on fresh questions: mean absolute error and exact-match rate per
skill).
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from ..backbone import PRESETS_DIR, is_vision, load_processor, load_vlm
from ..decoding import decode
from ..grammar import ActionGrammar
from ..prompt import IGNORE_INDEX, PromptBuilder, collate
from ..tokens import BinTokenTable
from .pretrain_data import CIRCULAR, FIRST_MIXTURE, FIRST_STEPS, MAX_INT, MIXTURE, Example, Generator

PRETRAINED_DIR = PRESETS_DIR / "tiny_pretrained"


@dataclass
class PretrainConfig:
    """One pretraining run."""

    out_dir: str = "outputs/pretrain"  # checkpoints and metrics.jsonl
    export_dir: str = str(PRETRAINED_DIR)  # the preset written at the end
    base: str = "tiny"  # architecture and tokenizer (random init)
    seed: int = 0
    steps: int = 4000  # length of the learning-rate schedule
    stop_after: int = 0  # stop (and export) at this step; 0: at the end of the schedule
    batch_size: int = 16
    micro_batches: int = 2  # forward passes per step, on length-sorted slices of the batch
    lr: float = 1.5e-3  # AdamW peak learning rate
    min_lr: float = 1e-4  # end of the cosine decay
    warmup: int = 300
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    log_every: int = 25
    eval_every: int = 1000
    eval_size: int = 16  # fresh questions per skill at each evaluation
    save_every: int = 250
    # torch threads; 0: torch's default, one per core (1.46x one thread's speed on an idle 2-core
    # machine, benchmarks/pretrain_step.py); 1 when another job shares the cores
    threads: int = 0
    # learning-rate factor of the vision encoder and connector (0: frozen). Trained at the full
    # rate from random init, they collapsed to an image-independent output within 250 steps
    # (docs/tiny-learning.md, "Fourth round"), after which nothing could be grounded.
    vision_lr_scale: float = 1.0
    mixture: dict[str, float] = field(default_factory=lambda: dict(MIXTURE))
    first_mixture: dict[str, float] = field(default_factory=lambda: dict(FIRST_MIXTURE))
    first_steps: int = FIRST_STEPS  # batches drawn from first_mixture (numbers only)
    # stop early once every evaluation reaches these: skill -> (metric, threshold), "mae" is met
    # at or below, "exact" at or above (e.g. {"copy": ("exact", 0.95)}); empty: run to the cap
    stop_when: dict[str, tuple[str, float]] = field(default_factory=dict)

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch_size must be >= 1, got {self.steps}, {self.batch_size}")
        if not 0 < self.min_lr <= self.lr:
            raise ValueError(f"need 0 < min_lr <= lr, got min_lr={self.min_lr}, lr={self.lr}")
        if self.vision_lr_scale < 0:
            raise ValueError(f"vision_lr_scale must be >= 0 (0: frozen), got {self.vision_lr_scale}")
        for skill, (metric, _) in self.stop_when.items():
            if skill not in self.mixture:
                raise ValueError(f"stop_when names skill {skill!r}, which is not in mixture {sorted(self.mixture)}")
            if metric not in ("mae", "exact"):
                raise ValueError(f"stop_when[{skill!r}] metric must be 'mae' or 'exact', got {metric!r}")


def thresholds_met(stop_when: dict[str, tuple[str, float]], skills: dict[str, dict]) -> bool:
    """Whether an evaluation reaches every threshold (False when there are none)."""
    if not stop_when:
        return False
    return all(skills[k]["mae"] <= v if m == "mae" else skills[k]["exact"] >= v for k, (m, v) in stop_when.items())


class Questions:
    """Turns :class:`Example` s into the policy's token layout (one image, optional state)."""

    def __init__(self, processor):
        self.processor = processor
        self.table = BinTokenTable(processor.tokenizer, MAX_INT + 1)
        kw = dict(num_images=1, system_prompt=None, horizon=1, action_dim=1)
        self.with_state = PromptBuilder(processor, self.table, use_state=True, **kw)
        self.without_state = PromptBuilder(processor, self.table, use_state=False, **kw)
        self.eot_id = self.with_state.eot_id
        tok = processor.tokenizer
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else self.eot_id
        proc = processor.image_processor
        self.mean = torch.tensor(proc.image_mean).view(1, 1, 3, 1, 1)
        self.std = torch.tensor(proc.image_std).view(1, 1, 3, 1, 1)

    def sample(self, ex: Example, with_answer: bool = True):
        builder = self.with_state if ex.state is not None else self.without_state
        ids = self.table.encode(ex.answer).ids if with_answer else None
        return builder.build(ex.task, ex.state, ids)

    def pixels(self, examples: list[Example]) -> torch.Tensor:
        """``(B, 1, 3, S, S)`` normalised as the policy normalises its cameras."""
        x = torch.from_numpy(np.stack([e.image for e in examples])).permute(0, 3, 1, 2).float() / 255
        return (x[:, None] - self.mean) / self.std


def per_sample_loss(vlm, inputs: dict, pixels: torch.Tensor) -> torch.Tensor:
    """``(B,)`` mean cross-entropy over each row's labelled tokens (the answer and end of turn)."""
    out = vlm.model(
        input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], pixel_values=pixels, use_cache=False
    )
    target = inputs["labels"][:, 1:]
    sel = target != IGNORE_INDEX
    logits = vlm.lm_head(out.last_hidden_state[:, :-1][sel]).float()  # (N, V)
    tok = F.cross_entropy(logits, target[sel], reduction="none")
    rows = sel.nonzero()[:, 0]
    return torch.zeros(sel.shape[0]).index_add_(0, rows, tok) / sel.sum(1).clamp(min=1)


@torch.no_grad()
def evaluate(
    vlm, questions: Questions, gen: Generator, size: int, seed: int, skills=None, keep_errors: bool = False
) -> dict[str, dict]:
    """Greedy grammar-constrained answers to fresh questions: per skill MAE and exact match.

    With ``keep_errors`` each skill also lists every question's error, in an order fixed by
    ``(seed, size)``: two models measured alike can be compared question by question.
    """
    vlm.eval()
    results = {}
    for skill in skills or gen.names:
        examples = gen.eval_set(skill, size, seed)
        errors, exact = [], []
        by_len: dict[int, list[Example]] = {}
        for ex in examples:
            by_len.setdefault(len(ex.answer), []).append(ex)
        for count, group in by_len.items():
            grammar = ActionGrammar(
                questions.processor.tokenizer, vlm.config.text_config.vocab_size, count, MAX_INT + 1, questions.eot_id
            )
            inputs = collate([questions.sample(e, with_answer=False) for e in group], questions.pad_id, "left")
            tokens, _ = decode(
                vlm, grammar, inputs["input_ids"], inputs["attention_mask"], questions.pixels(group), method="fast"
            )
            for ex, ids in zip(group, tokens, strict=True):
                text = questions.processor.tokenizer.decode(ids, skip_special_tokens=True)
                got = np.array([int(t) for t in text.split()])
                diff = np.abs(got - np.array(ex.answer))
                if skill in CIRCULAR:  # a turn of 512 is no turn: 5 and 510 are 7 apart
                    diff = np.minimum(diff, MAX_INT + 1 - diff)
                errors.append(diff.mean())
                exact.append(bool((got == np.array(ex.answer)).all()))
        results[skill] = {"mae": float(np.mean(errors)), "exact": float(np.mean(exact))}
        if keep_errors:
            results[skill]["errors"] = [float(e) for e in errors]
    vlm.train()
    return results


@torch.no_grad()
def image_spread(vlm, questions: Questions, gen: Generator, size: int, seed: int) -> float:
    """How much the image tokens differ between frames: std across frames / RMS of the tokens.

    About 0.15 at random init; a value near 0 means the vision side has collapsed to an
    image-independent output (the language model then cannot ground anything).
    """
    frames = gen.eval_set("pusht_block", size, seed)
    model = vlm.model
    feats = model.connector(model.vision_model(pixel_values=questions.pixels(frames)[:, 0]).last_hidden_state)
    return float(feats.std(0).mean() / feats.pow(2).mean().sqrt())


def param_groups(vlm, cfg: PretrainConfig) -> list[dict]:
    """AdamW groups: decay on matrices (not embeddings); the vision side at ``vision_lr_scale``.

    With ``vision_lr_scale=0`` the vision side is frozen (``requires_grad=False``). At the
    default scale of 1 the groups are the two that checkpoints written before the setting existed
    hold (decayed, then not decayed), so those runs still resume.
    """
    groups: dict[tuple[bool, bool], list] = {}
    for name, p in vlm.named_parameters():
        vision = is_vision(name) and cfg.vision_lr_scale != 1
        if vision and cfg.vision_lr_scale == 0:
            p.requires_grad_(False)
            continue
        groups.setdefault((vision, p.ndim >= 2 and "embed" not in name), []).append(p)
    order = [(vision, decay) for vision in (False, True) for decay in (True, False)]
    return [
        {
            "params": groups[key],
            "weight_decay": cfg.weight_decay if key[1] else 0.0,
            "scale": cfg.vision_lr_scale if key[0] else 1.0,
        }
        for key in order
        if key in groups
    ]


def lr_at(step: int, cfg: PretrainConfig) -> float:
    """Linear warm-up, then cosine decay from ``lr`` to ``min_lr``."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * min(t, 1.0)))


def _git_commit() -> str:
    try:
        here = Path(__file__).parent
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


class Checkpoint:
    """Weights, optimizer and step in ``out_dir/checkpoint`` (written atomically)."""

    def __init__(self, out_dir: Path):
        self.dir = out_dir / "checkpoint"

    def exists(self) -> bool:
        return (self.dir / "state.json").exists()

    def save(self, vlm, opt, step: int, seconds: float, stopped: str = "") -> None:
        tmp = self.dir.with_name("checkpoint.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_file({k: v.contiguous() for k, v in vlm.state_dict().items()}, tmp / "model.safetensors")
        torch.save(opt.state_dict(), tmp / "optimizer.pt")
        (tmp / "state.json").write_text(json.dumps({"step": step, "seconds": seconds, "stopped": stopped}))
        shutil.rmtree(self.dir, ignore_errors=True)
        tmp.rename(self.dir)

    def load(self, vlm, opt) -> tuple[int, float, str]:
        """Returns the step, the seconds spent and why the run stopped ("" if it has not)."""
        vlm.load_state_dict(load_file(self.dir / "model.safetensors"))
        opt.load_state_dict(torch.load(self.dir / "optimizer.pt", weights_only=True))
        state = json.loads((self.dir / "state.json").read_text())
        return state["step"], state["seconds"], state.get("stopped", "")


def _log(path: Path, record: dict) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


def _truncate(path: Path, step: int) -> None:
    """Drop metric lines written after the checkpoint being resumed."""
    if path.exists():
        keep = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= step]
        path.write_text("".join(line + "\n" for line in keep))


def pretrain(cfg: PretrainConfig, progress=print) -> dict:
    """Run (or resume) pretraining and export the preset; returns the provenance record.

    The torch thread count (``cfg.threads``) and the SIGTERM handler it sets for the run are
    put back as they were when it returns or raises (a caller in the same process, e.g. a
    notebook or a test session, keeps its own).
    """
    with restore_on_exit(cfg.threads, progress) as boundary:
        return _pretrain(cfg, progress, boundary)


class StepBoundary:
    """Ctrl-C and SIGTERM while a step runs: noted, and acted on where the step ends.

    A ``KeyboardInterrupt`` raised inside ``opt.step()`` would leave some tensors updated and the
    step counter not; the checkpoint saved then would resume to other weights than an
    uninterrupted run. So the first signal only sets ``requested``; the training loop calls
    :meth:`check` after each whole step (and its save), which raises ``KeyboardInterrupt`` there.
    A second signal raises at once (``immediate``): the loop then keeps its last checkpoint.
    """

    def __init__(self, progress=print):
        self.requested = False
        self.immediate = False
        self.progress = progress

    def handle(self, signum, frame):
        if self.requested:
            self.immediate = True
            raise KeyboardInterrupt
        self.requested = True
        self.progress("stopping at the end of this step (press Ctrl-C again to stop now and lose it)")

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt


@contextlib.contextmanager
def restore_on_exit(threads: int, progress=print):
    """Run with ``threads`` torch threads (0: unchanged); Ctrl-C and SIGTERM stop at a step boundary.

    Yields the :class:`StepBoundary` the loop checks, so ``kill`` checkpoints as Ctrl-C does, with
    the weights of a whole step. The thread count and both handlers are put back on exit. Outside
    the main thread (where Python cannot install handlers) the signals keep their behaviour.
    """
    before = torch.get_num_threads()
    boundary = StepBoundary(progress)
    handlers = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            handlers[sig] = signal.getsignal(sig)
            signal.signal(sig, boundary.handle)
    if threads:
        torch.set_num_threads(threads)
    try:
        yield boundary
    finally:
        torch.set_num_threads(before)
        for sig, handler in handlers.items():
            if handler is not None:
                signal.signal(sig, handler)


def _pretrain(cfg: PretrainConfig, progress, boundary: StepBoundary) -> dict:
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    metrics = out / "metrics.jsonl"
    torch.manual_seed(cfg.seed)
    processor = load_processor(cfg.base)
    vlm = load_vlm(cfg.base)
    questions = Questions(processor)
    gen = Generator(cfg.seed, cfg.mixture, cfg.first_mixture, cfg.first_steps)
    opt = torch.optim.AdamW(param_groups(vlm, cfg), lr=cfg.lr, betas=(0.9, 0.95))
    ckpt = Checkpoint(out)
    step, spent, stopped = 0, 0.0, ""
    if ckpt.exists():
        step, spent, stopped = ckpt.load(vlm, opt)
        _truncate(metrics, step)
        progress(f"resumed at step {step} ({spent / 60:.1f} min spent)")
    elif metrics.exists():
        metrics.unlink()
    vlm.train()
    start = time.time() - spent
    window: dict[str, list[float]] = {}
    try:
        last = cfg.stop_after or cfg.steps
        while step < last and not stopped:
            examples = gen.batch(step, cfg.batch_size)
            samples = [questions.sample(e) for e in examples]
            # questions differ in length by up to 3x: micro-batches of similar lengths pad less
            order = sorted(range(len(samples)), key=lambda i: samples[i].input_ids.numel())
            for group in opt.param_groups:
                group["lr"] = lr_at(step, cfg) * group["scale"]
            opt.zero_grad(set_to_none=True)
            for part in np.array_split(order, min(cfg.micro_batches, len(order))):
                inputs = collate([samples[i] for i in part], questions.pad_id, "right")
                losses = per_sample_loss(vlm, inputs, questions.pixels([examples[i] for i in part]))
                (losses.sum() / len(samples)).backward()
                for i, v in zip(part, losses.tolist(), strict=True):
                    window.setdefault(examples[i].skill, []).append(v)
            torch.nn.utils.clip_grad_norm_(vlm.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            if step % cfg.log_every == 0 or step == last:
                per_skill = {k: round(float(np.mean(v)), 4) for k, v in sorted(window.items())}
                elapsed = time.time() - start
                _log(metrics, {"step": step, "loss": per_skill, "lr": lr_at(step - 1, cfg), "seconds": elapsed})
                eta = elapsed / step * (last - step)
                mean = float(np.mean([x for v in window.values() for x in v]))
                progress(f"step {step}/{last}  loss {mean:.3f}  {elapsed / 60:.1f} min  ETA {eta / 60:.1f} min")
                window = {}
            if step % cfg.eval_every == 0 or step == last:
                skills = evaluate(vlm, questions, gen, cfg.eval_size, cfg.seed + 1)
                spread = image_spread(vlm, questions, gen, cfg.eval_size, cfg.seed + 1)
                _log(metrics, {"step": step, "eval": skills, "image_spread": spread, "seconds": time.time() - start})
                progress(
                    "  eval (mae/exact) "
                    + "  ".join(f"{k} {v['mae']:.1f}/{v['exact']:.2f}" for k, v in skills.items())
                    + f"  image spread {spread:.3f}"
                )
                if thresholds_met(cfg.stop_when, skills):
                    stopped = f"thresholds {cfg.stop_when} met at step {step}"
                    progress(f"  stop: {stopped}")
            if step % cfg.save_every == 0 or stopped:
                ckpt.save(vlm, opt, step, time.time() - start, stopped)
            boundary.check()  # Ctrl-C or SIGTERM during this step: stop here, the step whole
    except KeyboardInterrupt:
        if boundary.immediate:  # stopped inside a step: its weights are half-updated, keep the last save
            progress("interrupted inside a step: the last checkpoint stands; run the same command to resume")
        else:
            ckpt.save(vlm, opt, step, time.time() - start)
            progress(f"interrupted: checkpoint at step {step}; run the same command to resume")
        raise
    ckpt.save(vlm, opt, step, time.time() - start, stopped)  # a threshold stop is final, a step cap is not
    reason = stopped or f"step cap {last} reached"
    evals = [r["step"] for r in map(json.loads, metrics.read_text().splitlines()) if "eval" in r]
    if not evals or evals[-1] != step:  # e.g. resumed at the stop step: measure what is exported
        skills = evaluate(vlm, questions, gen, cfg.eval_size, cfg.seed + 1)
        _log(metrics, {"step": step, "eval": skills, "seconds": time.time() - start})
    return export(vlm, processor, cfg, metrics, time.time() - start, reason, step)


def export(vlm, processor, cfg: PretrainConfig, metrics: Path, seconds: float, stopped: str = "", step=None) -> dict:
    """Write the preset folder: config, processor, ``model.safetensors`` and ``provenance.json``."""
    dst = Path(cfg.export_dir)
    dst.mkdir(parents=True, exist_ok=True)
    vlm.save_pretrained(dst, safe_serialization=True)
    processor.save_pretrained(dst)
    evals = [r for r in map(json.loads, metrics.read_text().splitlines()) if "eval" in r]
    steps = step if step is not None else cfg.stop_after or cfg.steps
    stop = f" --stop-after {cfg.stop_after}" if cfg.stop_after else ""
    record = {
        "command": f"vla0-smol pretrain --steps {cfg.steps}{stop} --seed {cfg.seed} --batch-size {cfg.batch_size}",
        "commit": _git_commit(),
        "config": asdict(cfg),
        "steps": steps,
        "schedule_steps": cfg.steps,
        "stopped": stopped,
        "wall_time_s": round(seconds, 1),
        "threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in vlm.parameters()),
        "data_mixture": {
            f"steps 0-{cfg.first_steps - 1}": cfg.first_mixture,
            f"steps {cfg.first_steps}-{cfg.steps - 1}": cfg.mixture,
        },
        "final_metrics": evals[-1]["eval"] if evals else None,
        "metric_definitions": "per skill, on fresh questions (seed + 1): mae = mean absolute error of the "
        "answer integers (units of the 512-wide frame or of the numbers), exact = fraction answered exactly",
    }
    (dst / "provenance.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    """``vla0-smol pretrain``: run or resume pretraining, then export the preset."""
    import argparse

    defaults = PretrainConfig()
    parser = argparse.ArgumentParser(prog="vla0-smol pretrain", description=main.__doc__)
    parser.add_argument("--steps", type=int, default=defaults.steps, help="length of the learning-rate schedule")
    parser.add_argument("--stop-after", type=int, default=0, help="stop and export at this step (resumable)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--out-dir", default=defaults.out_dir, help="checkpoints and metrics (resumed if present)")
    parser.add_argument("--export-dir", default=defaults.export_dir, help="where the preset is written")
    parser.add_argument("--eval-every", type=int, default=defaults.eval_every)
    parser.add_argument("--save-every", type=int, default=defaults.save_every)
    parser.add_argument("--threads", type=int, default=defaults.threads)
    args = parser.parse_args(argv)
    cfg = PretrainConfig(**{k: v for k, v in vars(args).items()})
    record = pretrain(cfg, progress=lambda s: print(s, flush=True))
    print(json.dumps(record["final_metrics"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
