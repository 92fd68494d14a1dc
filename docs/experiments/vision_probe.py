"""Pretrain the tiny preset's vision side alone: positions regressed from the image tokens.

SmolVLM2's vision encoder arrives pretrained (SigLIP) before it is connected to the language
model. This is the tiny stand-in: the encoder and connector, with a linear head on the image
tokens, learn where the T block and the agent are in random ``gym-pusht`` frames (the
pretraining's frames: random poses, no actions, no evaluation seeds). The head is thrown away;
the encoder and connector are written into a copy of ``--base``.

    .venv/bin/python docs/experiments/vision_probe.py --base outputs/stage5_base \
        --out outputs/vision_probe --steps 1000
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from vla0_smol.backbone import is_vision, load_processor, load_vlm
from vla0_smol.presets.pretrain import Questions, image_spread
from vla0_smol.presets.pretrain_data import Generator, random_crop


@dataclass
class Frame:
    image: np.ndarray  # the policy's random crop of a 96 px frame
    block: np.ndarray  # x, y (world px)
    agent: np.ndarray


def frames(gen: Generator, rng: np.random.Generator, n: int) -> list[Frame]:
    out = []
    for _ in range(n):
        image, agent, block, _ = gen.pusht.frame(rng)
        out.append(Frame(random_crop(image, rng), block, agent))
    return out


def targets(batch: list[Frame]) -> torch.Tensor:
    """(B, 4): block x, y and agent x, y, scaled to about [-1, 1]."""
    return torch.tensor(np.array([[*f.block, *f.agent] for f in batch]), dtype=torch.float32) / 256 - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="preset folder whose language model is kept")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    processor = load_processor("tiny")
    questions = Questions(processor)
    vlm = load_vlm(args.base)
    fresh = load_vlm("tiny").state_dict()  # random init of the vision side (seeded)
    vlm.load_state_dict({k: fresh[k] if is_vision(k) else v for k, v in vlm.state_dict().items()})
    model = vlm.model
    n_tokens = model.config.vision_config.image_size // model.config.vision_config.patch_size
    n_tokens = (n_tokens // model.config.scale_factor) ** 2
    head = torch.nn.Linear(n_tokens * model.config.text_config.hidden_size, 4)
    params = [p for n, p in vlm.named_parameters() if is_vision(n)] + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    gen = Generator(args.seed)
    evals = frames(gen, np.random.default_rng([args.seed + 1, 1_000_003]), 64)
    log, t0 = [], time.time()

    def predict(examples):
        px = questions.pixels(examples)[:, 0]
        tokens = model.connector(model.vision_model(pixel_values=px).last_hidden_state)
        return head(tokens.flatten(1))

    for step in range(1, args.steps + 1):
        rng = np.random.default_rng([args.seed, 7, step])
        batch = frames(gen, rng, args.batch_size)
        loss = torch.nn.functional.mse_loss(predict(batch), targets(batch))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == args.steps:
            with torch.no_grad():
                err = (predict(evals) - targets(evals)).abs().mul(256).view(-1, 2, 2).norm(dim=-1).mean(0)
            spread = image_spread(vlm, questions, gen, 16, args.seed + 1)
            row = {
                "step": step,
                "loss": float(loss),
                "block_px": float(err[0]),
                "agent_px": float(err[1]),
                "image_spread": spread,
                "seconds": round(time.time() - t0, 1),
            }
            log.append(row)
            print(json.dumps(row), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    dst = args.out / "preset"
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(args.base, dst)
    save_file(
        {k: v.contiguous() for k, v in vlm.state_dict().items()}, dst / "model.safetensors", metadata={"format": "pt"}
    )
    (args.out / "log.json").write_text(json.dumps(log, indent=1))


if __name__ == "__main__":
    main()
