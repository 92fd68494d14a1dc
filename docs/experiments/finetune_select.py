"""Choose the `cpu` profile's fine-tuning settings on validation seeds (issue #27).

Trains the `cpu` profile's PushT policy (the demo's 60 scripted demonstrations, batch 32) from
the `tiny-pretrained` backbone with one setting per arm, and evaluates every saved checkpoint on
**validation seeds** (40000 onwards) that no table of the project reports: the demo reports
10000+, its printed `lerobot-eval` command 20000+. The arm chosen here becomes the profile's
default; its numbers on the demo's seeds are then measured once, by `make demo`.

    OMP_NUM_THREADS=1 .venv/bin/python docs/experiments/finetune_select.py \
        --lr 3e-4 --vision-lr-scale 0 --steps 1200 --out outputs/select/lr3e-4_v0

One arm is one training run (about 15-25 min on one core); run arms one after the other. Each
writes `select.json` in `--out`; `--table` prints every arm found under a folder.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from vla0_smol.presets.recipe import weights_record

VALIDATION_SEED = 40_000


def run_arm(args) -> dict:
    from vla0_smol.pusht.checkpoints import evaluate_every_checkpoint
    from vla0_smol.pusht.evaluation import RandomController, evaluate_pusht
    from vla0_smol.pusht.pipeline import pusht_dataset, train_pusht
    from vla0_smol.pusht.profiles import pusht_profile

    torch.set_num_threads(args.threads)
    prof = pusht_profile("cpu")
    fields = {"vlm_model_name": args.backbone, "optimizer_lr": args.lr, "vision_lr_scale": args.vision_lr_scale}
    fields["scheduler_decay_steps"] = args.steps
    if args.absolute:  # targets in the frame the pretraining answered in (where is the block), no subtraction
        fields["relative_actions"] = False
    if args.no_crop:  # whole 96 px frames, as the pretraining saw them (an 84 px crop shifts and zooms the view)
        fields["crop_shape"] = None
    prof = replace(prof, steps=args.steps, save_freq=max(1, args.steps // args.checkpoints))
    if args.processes:  # e.g. 1 when another job holds the other core; the batch stays the profile's
        prof = replace(prof, train_processes=args.processes, train_threads=1)
    prof = replace(prof, eval_episodes=args.episodes, eval_batch=min(16, args.episodes)).with_policy(**fields)
    t0 = time.time()
    dataset = pusht_dataset(prof, Path(args.data_dir), seed=args.seed)
    train_pusht(prof, args.out / "train", dataset, seed=args.seed)
    train_s = time.time() - t0
    sweep = evaluate_every_checkpoint(args.out / "train", prof, VALIDATION_SEED, progress=False)
    kw = dict(n_episodes=args.episodes, seed=VALIDATION_SEED, batch_size=min(16, args.episodes))
    rand = evaluate_pusht(RandomController(args.seed), max_steps=prof.eval_max_steps, **kw).summary()
    record = {
        "arm": {"lr": args.lr, "vision_lr_scale": args.vision_lr_scale, "steps": args.steps}
        | ({"relative_actions": False} if args.absolute else {})
        | ({"crop_shape": None} if args.no_crop else {}),
        "backbone": args.backbone,
        "backbone_weights": weights_record(args.backbone),
        "validation_seeds": [VALIDATION_SEED, VALIDATION_SEED + args.episodes - 1],
        "train_seconds": round(train_s, 1),
        "random": {k: rand[k] for k in ("success_rate", "mean_max_coverage")},
        "checkpoints": [{k: r[k] for k in ("step", "success_rate", "mean_max_coverage")} for r in sweep["checkpoints"]],
    }
    (args.out / "select.json").write_text(json.dumps(record, indent=2))
    return record


def table(root: Path) -> str:
    from vla0_smol.book.prose import arm_setting

    rows = [
        "| lr | vision | setting | steps | train min | last: coverage (success) | best: coverage | random |",
        "|---" * 8 + "|",
    ]
    for f in sorted(root.rglob("select.json")):
        r = json.loads(f.read_text())
        last, best = r["checkpoints"][-1], max(r["checkpoints"], key=lambda c: c["mean_max_coverage"])
        a = r["arm"]
        rows.append(
            f"| {a['lr']:g} | x{a['vision_lr_scale']:g} | {arm_setting(r)} "
            f"| {a['steps']} | {'-' if r['train_seconds'] is None else round(r['train_seconds'] / 60)} | "
            f"{last['mean_max_coverage']:.3f} ({100 * last['success_rate']:.0f}%) | "
            f"{best['mean_max_coverage']:.3f} (step {best['step']}) | {r['random']['mean_max_coverage']:.3f} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="tiny-pretrained")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--vision-lr-scale", type=float, default=0.0)
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--checkpoints", type=int, default=3, help="saved (and evaluated) checkpoints per arm")
    parser.add_argument("--episodes", type=int, default=16, help="validation episodes per checkpoint")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--absolute", action="store_true", help="absolute action targets (relative_actions=False)")
    parser.add_argument("--no-crop", action="store_true", help="whole frames (crop_shape=None), as in pretraining")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--processes", type=int, default=None, help="training processes (default: the profile's 2)")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--table", type=Path, help="print the arms found under this folder and exit")
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return
    if args.out is None:
        parser.error("--out is required to run an arm")
    print(json.dumps(run_arm(args), indent=2))


if __name__ == "__main__":
    main()
