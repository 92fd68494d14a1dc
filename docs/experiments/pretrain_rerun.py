"""Does `vla0-smol pretrain` rebuild the shipped weights (issue #26)?

Measures the shipped `tiny-pretrained` preset and a rerun's preset on the same fresh questions
(a seed neither run trained or evaluated on), question by question, and writes what a reader
needs to judge the rerun: each skill's MAE with its 95% interval for both, the paired difference
(rerun - shipped) with its interval, the constant predictor, the image spread, both runs' stages
(steps, why each stopped, wall time) and how far the two sets of weights are apart, tensor by
tensor. The rerun's `provenance.json` and learning curves are copied beside it.

    # the rerun, from a fresh clone, on an otherwise idle machine
    .venv/bin/vla0-smol pretrain --seed 0 --out-dir outputs/pretrain_r3 --export-dir outputs/pretrain_r3/preset
    OMP_NUM_THREADS=1 .venv/bin/python docs/experiments/pretrain_rerun.py \
        --rerun outputs/pretrain_r3/preset --out docs/experiments/results/pretrain_rerun

"Within noise" below means the interval of the paired difference holds 0 or lies within
``--tolerance`` world units of it (questions are the same for both models, so the interval is that
of the evaluation set only; a second training seed would add run-to-run variation).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from vla0_smol.book.pretrain_figures import compare_runs, rerun_rows
from vla0_smol.presets.pretrain import PRETRAINED_DIR
from vla0_smol.presets.recipe import measure

SEED = 777_000  # no stage trains or evaluates on it (they use seed, seed + 1 and seed + 2)


def weight_difference(a: Path, b: Path) -> dict:
    """How far two presets' weights are apart: identical tensors, and the largest absolute difference."""
    from safetensors.torch import load_file

    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    if wa.keys() != wb.keys():
        raise ValueError(f"different tensors: {sorted(wa.keys() ^ wb.keys())[:5]}")
    same = sum(bool((wa[k] == wb[k]).all()) for k in wa)
    largest = max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)
    return {"tensors": len(wa), "identical": same, "max_abs_difference": largest}


def stages(provenance: dict) -> list[dict]:
    return [{k: s[k] for k in ("stage", "steps", "stopped", "wall_time_min")} for s in provenance["stages"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rerun", type=Path, required=True, help="the rerun's exported preset folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--size", type=int, default=256, help="questions per skill")
    parser.add_argument("--tolerance", type=float, default=2.0, help="world units (see the docstring)")
    args = parser.parse_args()
    if not (args.rerun / "provenance.json").is_file() or not (args.rerun / "model.safetensors").is_file():
        parser.error(f"--rerun {args.rerun}: not an exported preset (needs provenance.json and model.safetensors)")
    if args.size < 2:
        parser.error(f"--size {args.size}: an interval needs at least 2 questions per skill")

    theirs = json.loads((PRETRAINED_DIR / "provenance.json").read_text())
    mine = json.loads((args.rerun / "provenance.json").read_text())
    shipped = measure(str(PRETRAINED_DIR), SEED, args.size, keep_errors=True)
    rerun = measure(str(args.rerun), SEED, args.size, keep_errors=True)
    record = {
        "questions": f"{args.size} fresh questions per skill (seed {SEED})",
        "tolerance": args.tolerance,
        "skills": compare_runs(shipped, rerun, args.tolerance),
        "image_spread": {"shipped": shipped["image_spread"], "rerun": rerun["image_spread"]},
        "weights": weight_difference(PRETRAINED_DIR, args.rerun),
        "shipped": {
            "command": theirs["command"],
            "commit": theirs["commit"],
            "stages": stages(theirs),
            "wall_time_min": theirs["wall_time_min"],
        },
        "rerun": {
            "command": mine["command"],
            "commit": mine["commit"],
            "stages": stages(mine),
            "wall_time_min": mine["wall_time_min"],
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "comparison.json").write_text(json.dumps(record, indent=2) + "\n")
    shutil.copyfile(args.rerun / "provenance.json", args.out / "provenance.json")
    shutil.copytree(args.rerun / "metrics", args.out / "metrics", dirs_exist_ok=True)
    for row in rerun_rows(record):
        print(" | ".join(str(v) for v in row.values()))
    print(f"image spread: {record['image_spread']}; weights: {record['weights']}")
    for who in ("shipped", "rerun"):
        print(who, record[who]["wall_time_min"], "min:", record[who]["stages"])


if __name__ == "__main__":
    main()
