"""Rung (c) of issue #17's ladder: the full pixel policy, fine-tuned from a given backbone.

Trains the ``cpu`` profile's PushT policy (the demo's data, steps and batch) from ``--backbone``
(``tiny`` = random init, or a pretrained preset folder written by ``vla0-smol pretrain``) and
evaluates every checkpoint on the demo's seeds, next to random actions on the same seeds.

    .venv/bin/python docs/experiments/ladder_pixels.py --backbone outputs/pretrain_stage2/preset \
        --lr 3e-4 --out outputs/ladder_c_copy

Results go to ``--out`` (git-ignored ``outputs/``); docs/tiny-learning.md reports them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from vla0_smol.pusht.checkpoints import evaluate_every_checkpoint
from vla0_smol.pusht.pipeline import pusht_dataset, train_pusht
from vla0_smol.pusht.profiles import pusht_profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="tiny", help="preset name or pretrained preset folder")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the profile's)")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the profile's 1,200)")
    parser.add_argument("--vision-lr-scale", type=float, default=1.0, help="policy vision_lr_scale (0: frozen)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    prof = pusht_profile("cpu")
    fields = {"vlm_model_name": str(Path(args.backbone).resolve()) if Path(args.backbone).is_dir() else args.backbone}
    if args.lr:
        fields["optimizer_lr"] = args.lr
    if args.vision_lr_scale != 1:
        fields["vision_lr_scale"] = args.vision_lr_scale
    if args.steps:
        from dataclasses import replace

        prof = replace(prof, steps=args.steps, save_freq=max(1, args.steps // 3))
        fields["scheduler_decay_steps"] = args.steps
    prof = prof.with_policy(**fields)
    t0 = time.time()
    dataset = pusht_dataset(prof, Path("data"), seed=args.seed)
    train_pusht(prof, args.out / "train", dataset, seed=args.seed)
    train_s = time.time() - t0
    sweep = evaluate_every_checkpoint(args.out / "train", prof, 10_000 + args.seed, progress=False)
    record = {
        "backbone": args.backbone,
        "policy": prof.policy,
        "steps": prof.steps,
        "batch_size": prof.batch_size,
        "train_seconds": round(train_s, 1),
        "checkpoints": [{k: r[k] for k in ("step", "success_rate", "mean_max_coverage")} for r in sweep["checkpoints"]],
    }
    (args.out / "ladder.json").write_text(json.dumps(record, indent=2))
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
