"""Benchmark: the scripted PushT expert on seeded episodes, against a random policy on the same seeds.

Runs seeds S .. S+N-1 with gym-pusht's 300-step limit (96x96 pixels rendered, as when recording
demonstrations), prints a table and writes ``results/bench/expert.json`` with the resolved
settings and every episode. The last line printed is a JSON summary.

    python benchmarks/expert.py --episodes 50 --seed 0
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from vla0_smol.pusht.demos import make_env, run_episode
from vla0_smol.pusht.expert import ExpertConfig, PushTExpert


class RandomPolicy:
    """Uniformly random targets over the 512 x 512 workspace: the floor any policy must beat."""

    def __init__(self):
        self.rng = np.random.default_rng(0)

    def reset(self, seed=None):
        self.rng = np.random.default_rng(seed)

    def act(self, obs, info):
        return self.rng.uniform(0, 512, 2).astype(np.float32)


def run(policy, seeds: list[int], max_steps: int, pixels: bool) -> tuple[list, float]:
    env = make_env(pixels=pixels)
    t0 = time.perf_counter()
    episodes = [run_episode(env, policy, s, max_steps) for s in seeds]
    env.close()
    return episodes, time.perf_counter() - t0


def summarize(episodes, wall: float) -> dict:
    steps = np.array([e.steps for e in episodes])
    return {
        "success_rate": float(np.mean([e.success for e in episodes])),
        "mean_steps": float(steps.mean()),
        "p90_steps": float(np.percentile(steps, 90)),
        "max_steps_taken": int(steps.max()),
        "mean_max_coverage": float(np.mean([e.max_coverage for e in episodes])),
        "wall_s": wall,
        "steps_per_s": float(steps.sum() / wall),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=50, help="number of seeded episodes")
    ap.add_argument("--seed", type=int, default=0, help="first seed")
    ap.add_argument("--max-steps", type=int, default=300, help="step limit per episode")
    ap.add_argument("--top-k", type=int, default=1, help="expert picks among its k best pushes")
    ap.add_argument("--no-pixels", action="store_true", help="state observations only (no rendering)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the random-policy baseline")
    ap.add_argument("--out", type=Path, default=Path("results/bench/expert.json"))
    args = ap.parse_args()
    if args.episodes < 1:
        ap.error(f"--episodes must be >= 1, got {args.episodes}")
    if args.seed < 0:
        ap.error(f"--seed must be >= 0, got {args.seed}")

    seeds = list(range(args.seed, args.seed + args.episodes))
    expert = PushTExpert(ExpertConfig(top_k=args.top_k))
    episodes, wall = run(expert, seeds, args.max_steps, pixels=not args.no_pixels)
    res = summarize(episodes, wall)
    res["plan_s_per_episode"] = float(np.mean([e.info["plan_seconds"] for e in episodes]))
    rows = [("scripted expert", res)]
    base = None
    if not args.no_baseline:
        base_eps, base_wall = run(RandomPolicy(), seeds, args.max_steps, pixels=False)
        base = summarize(base_eps, base_wall)
        rows.append(("random targets (state obs)", base))

    print(f"\nPushT, seeds {seeds[0]}..{seeds[-1]}, limit {args.max_steps} steps, {os.cpu_count()} CPU cores")
    print("| policy | success | mean steps | p90 steps | max steps | mean max coverage | wall s | steps/s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in rows:
        print(
            f"| {name} | {r['success_rate']:.1%} | {r['mean_steps']:.1f} | {r['p90_steps']:.0f} | "
            f"{r['max_steps_taken']} | {r['mean_max_coverage']:.3f} | {r['wall_s']:.1f} | {r['steps_per_s']:.0f} |"
        )
    print(f"expert planning: {res['plan_s_per_episode']:.2f} s per episode")
    failed = [e.seed for e in episodes if not e.success]
    if failed:
        print(f"failed seeds: {failed}")

    record = {
        "config": {**vars(args), "out": str(args.out), "expert": ExpertConfig(top_k=args.top_k).__dict__},
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "expert": res,
        "random": base,
        "episodes": [
            {"seed": e.seed, "success": e.success, "steps": e.steps, "max_coverage": e.max_coverage} for e in episodes
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1, default=list))
    summary = {"episodes": args.episodes, "seed": args.seed, **res}
    if base is not None:
        summary["random_success_rate"] = base["success_rate"]
        summary["random_mean_max_coverage"] = base["mean_max_coverage"]
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
