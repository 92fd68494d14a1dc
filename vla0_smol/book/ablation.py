"""Ablation grids on PushT: one training run and one evaluation per arm, results as JSON.

A grid is a list of :class:`Arm` (a name, policy fields for training, inference fields for
evaluation). :func:`run_grid` trains each arm at a profile and evaluates every checkpoint it saved
(:mod:`vla0_smol.pusht.checkpoints`), on the same demonstrations and evaluation seeds, and writes
``results/<profile>/<recipe>.json`` with the resolved settings of every arm, its best and last
checkpoints and the curve between them (``<recipe>_checkpoints.png``). An arm's ``success_rate``
and ``mean_max_coverage`` are its best checkpoint's (what the blog reports); ``last`` is beside
them. Finished arms are read back instead of re-run, so an interrupted grid continues where it
stopped.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..pusht.checkpoints import evaluate_every_checkpoint, load_evaluation, prune_training_states
from ..pusht.pipeline import pusht_dataset, run_dir_for, train_pusht
from ..pusht.profiles import pusht_profile
from ..results import save_json
from .report import plot_checkpoint_curves


@dataclass(frozen=True)
class Arm:
    """One configuration of an ablation.

    Attributes:
        name: label in tables and file names.
        policy: ``VLA0SmolConfig`` fields used for training (on top of the profile's).
        inference: config fields changed at evaluation only (e.g. ``execution="temporal"``).
    """

    name: str
    policy: dict = field(default_factory=dict)
    inference: dict = field(default_factory=dict)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


# The blog's PushT ablations start from: relative actions, no state, no masking, vision trained,
# no system prompt (its 57.8% row); its final PushT recipe adds state tokens and whole-action masking.
BLOG_BASE = {"use_state": False, "relative_actions": True, "masking": "none"}
BLOG_FINAL = {"use_state": True, "relative_actions": True, "masking": "whole"}


def blog_grid(recipe: str, base_lr: float) -> list[Arm]:
    """The arms of one blog ablation.

    Learning rates are the blog's grid relative to the profile's own learning rate: ``base_lr``
    = 5e-5 (the full profile) gives 5e-6, 1e-5, 5e-5, 1e-4.
    """
    base = dict(BLOG_BASE)
    if recipe == "ablation_lr":
        return [
            Arm(f"lr={f * base_lr:.0e}", {**base, "optimizer_lr": f * base_lr, "scheduler_decay_lr": 0.1 * f * base_lr})
            for f in (0.1, 0.2, 1.0, 2.0)
        ]
    if recipe == "ablation_vision":
        return [Arm("vision frozen", {**base, "freeze_vision_encoder": True}), Arm("vision trained", base)]
    if recipe == "ablation_state_action":
        return [
            Arm(
                f"{'state' if st else 'no state'} + {'relative' if rel else 'absolute'}",
                {**base, "use_state": st, "relative_actions": rel},
            )
            for st in (False, True)
            for rel in (False, True)
        ]
    if recipe == "ablation_system_prompt":
        return [Arm("no system prompt", base), Arm("system prompt", {**base, "system_prompt": "default"})]
    if recipe == "ablation_masking":
        return [
            Arm("no masking", base),
            Arm("character masking", {**base, "masking": "char", "mask_max_fraction": 0.4, "mask_skip_prob": 0.1}),
            Arm("whole-action masking", {**base, "masking": "whole"}),
        ]
    if recipe == "ablation_ensembling":
        final = dict(BLOG_FINAL)
        return [
            Arm("5 steps ahead", final, {"execution": "chunk", "n_action_steps": 5}),
            Arm("temporal ensembling", final, {"execution": "temporal"}),
        ]
    raise ValueError(f"unknown ablation recipe {recipe!r}")


def run_grid(
    recipe: str,
    arms: list[Arm],
    profile: str,
    seed: int = 0,
    results_dir: Path = Path("results"),
    data_dir: Path = Path("data"),
    progress: bool = True,
) -> dict:
    """Train and evaluate every arm; return (and write) ``results/<profile>/<recipe>.json``."""
    if len({a.name for a in arms}) != len(arms):
        raise ValueError("arm names must be unique")
    prof = pusht_profile(profile)
    out_dir = Path(results_dir) / profile
    arms_dir = out_dir / "arms" / recipe
    dataset = pusht_dataset(prof, data_dir, seed=seed)
    eval_seed = 10_000 + seed
    rows = []
    for arm in arms:
        arm_file = arms_dir / f"{_slug(arm.name)}.json"
        if arm_file.exists():
            rows.append(json.loads(arm_file.read_text()))
            continue
        t0 = time.perf_counter()
        arm_prof = prof.with_policy(**arm.policy)
        # identical training settings share one run, across arms and recipes
        run_dir = run_dir_for(arm_prof, out_dir, seed)
        train_pusht(arm_prof, run_dir, dataset, seed=seed)
        prune_training_states(run_dir)
        train_s = time.perf_counter() - t0
        sweep = evaluate_every_checkpoint(run_dir, arm_prof, eval_seed, progress=progress, **arm.inference)
        best = load_evaluation(sweep["best"])
        row = {
            "arm": arm.name,
            "policy_overrides": arm.policy,
            "inference_overrides": arm.inference,
            "success_rate": sweep["best"]["success_rate"],  # the best checkpoint's, as the blog reports
            "mean_max_coverage": sweep["best"]["mean_max_coverage"],
            "best": sweep["best"],
            "last": sweep["last"],
            "checkpoints": sweep["checkpoints"],
            "selection": sweep["selection"],
            "n_episodes": best["n_episodes"],
            "train_seconds": round(train_s, 1),
            "eval_seconds": round(sum(r["eval_seconds"] for r in sweep["checkpoints"]), 1),
            "checkpoint": sweep["best"]["checkpoint"],
            "resolved_config": best["config"],
            "episodes": best["episodes"],
        }
        save_json(row, arm_file)
        rows.append(row)
    summary = {
        "recipe": recipe,
        "profile": profile,
        "model": prof.policy.get("vlm_model_name"),
        "seed": seed,
        "eval_seeds": [eval_seed, eval_seed + prof.eval_episodes - 1],
        "dataset": dataset[0],
        "profile_settings": prof.to_dict(),
        "arms": rows,
    }
    save_json(summary, out_dir / f"{recipe}.json")
    plot_checkpoint_curves(summary, out_dir / f"{recipe}_checkpoints.png")
    return summary


def results_table(summary: dict) -> str:
    """A Markdown table of a grid's arms."""
    lines = [
        f"{summary['recipe']} (profile {summary['profile']}, model {summary['model']}, "
        f"{summary['arms'][0]['n_episodes'] if summary['arms'] else 0} episodes)",
        "",
        "| arm | success, best checkpoint (step) | success, last | coverage, best | coverage, last |",
        "|---|---|---|---|---|",
    ]
    for r in summary["arms"]:
        best, last = r.get("best", r), r.get("last", r)
        lines.append(
            f"| {r['arm']} | {100 * best['success_rate']:.1f}% ({best.get('step', '?')}) | "
            f"{100 * last['success_rate']:.1f}% | {best['mean_max_coverage']:.3f} | {last['mean_max_coverage']:.3f} |"
        )
    return "\n".join(lines)
