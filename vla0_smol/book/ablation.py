"""Ablation grids on PushT: one training run and one evaluation per arm and seed, results as JSON.

A grid is a list of :class:`Arm` (a name, policy fields for training, inference fields for
evaluation). :func:`run_grid` trains each arm at a profile, once per training seed, and evaluates
every checkpoint it saved (:mod:`vla0_smol.pusht.checkpoints`) on that seed's evaluation episodes,
the same for every arm. It writes ``results/<profile>/<recipe>.json`` with the resolved settings
of every arm, per seed: its best and last checkpoints, the curve between them, its training loss
(``metrics.jsonl`` of the run) and a strip of frames of one episode; and, pooled over the seeds:
success, coverage and the episode counts the intervals are computed from
(:mod:`vla0_smol.book.evidence`). An arm's ``success_rate`` and ``mean_max_coverage`` are its best
checkpoints' (what the blog reports); ``last`` is beside them.

Reference controllers (:data:`REFERENCES`: the scripted expert, random actions, holding still) are
measured on the same evaluation episodes, so every table has a ceiling and two floors. Finished
arms and references are read back instead of re-run, so an interrupted grid continues where it
stopped and the references are measured once for all six chapters.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..pusht.checkpoints import evaluate_every_checkpoint, load_evaluation, prune_training_states, rollout
from ..pusht.evaluation import ExpertController, HoldStillController, RandomController, evaluate_pusht
from ..pusht.pipeline import pusht_dataset, run_dir_for, train_pusht
from ..pusht.profiles import pusht_profile
from ..results import save_json
from ..training import read_metrics
from .evidence import successes
from .paths import data_dir as paths_data_dir
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

    def describe(self) -> str:
        """One line for a chapter: the arm's training and evaluation settings, numbers written briefly."""

        def fields(d: dict) -> str:
            return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in d.items()) or "-"

        return f"{self.name:24s} train: {fields(self.policy)}; evaluate: {fields(self.inference)}"


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


REFERENCES = ("scripted expert", "random actions", "hold still")


def _reference_controller(name: str, seed: int):
    if name == "scripted expert":
        return ExpertController(seed)
    if name == "random actions":
        return RandomController(seed)
    if name == "hold still":
        return HoldStillController()
    raise ValueError(f"unknown reference {name!r}; known: {REFERENCES}")


def _eval_seed(seed: int) -> int:
    return 10_000 + seed  # evaluation seeds differ from the demonstration seeds


def _pooled(rows: list[dict]) -> dict:
    """Success and coverage of rows (one per seed) pooled: successes and episodes summed."""
    k = sum(successes(r)[0] for r in rows)
    n = sum(int(r["n_episodes"]) for r in rows)
    coverage = sum(r["mean_max_coverage"] * r["n_episodes"] for r in rows) / n
    return {"success_rate": k / n, "mean_max_coverage": coverage, "successes": k, "n_episodes": n}


def run_references(profile: str, seeds: list[int], results_dir: Path = Path("results"), progress: bool = True):
    """Each reference controller on the arms' evaluation episodes of every seed, pooled.

    Cached per controller and seed under ``results/<profile>/references/``.
    """
    prof = pusht_profile(profile)
    cache = Path(results_dir) / profile / "references"
    rows = []
    for name in REFERENCES:
        per_seed = []
        for seed in seeds:
            first = _eval_seed(seed)
            path = cache / f"{_slug(name)}_{first}_n{prof.eval_episodes}_max{prof.eval_max_steps}.json"
            if not path.exists():
                result = evaluate_pusht(
                    _reference_controller(name, seed),
                    n_episodes=prof.eval_episodes,
                    seed=first,
                    batch_size=prof.eval_batch,
                    max_steps=prof.eval_max_steps,
                    progress=progress,
                    desc=f"eval {name}",
                )
                save_json({"reference": name, "seed": seed, "eval_seed": first, **result.summary()}, path)
            full = json.loads(path.read_text())
            per_seed.append({k: full[k] for k in ("seed", "success_rate", "mean_max_coverage", "n_episodes")})
        rows.append({"reference": name, **_pooled(per_seed), "per_seed": per_seed})
    return rows


def arm_checkpoint(results_dir: Path, profile: str, recipe: str, arm: str, seed: int = 0) -> Path | None:
    """The best checkpoint of a finished arm at one training seed; None until its grid has run it."""
    arm_file = Path(results_dir) / profile / "arms" / recipe / f"seed{seed}" / f"{_slug(arm)}.json"
    if not arm_file.is_file():
        return None
    ckpt = Path(json.loads(arm_file.read_text())["checkpoint"])
    return ckpt if ckpt.is_dir() else None


def _run_arm(arm: Arm, prof, out_dir: Path, seed: int, dataset, progress: bool) -> dict:
    """Train and evaluate one arm at one seed (its row, without the cache)."""
    t0 = time.perf_counter()
    arm_prof = prof.with_policy(**arm.policy)
    # identical training settings share one run, across arms and recipes
    run_dir = run_dir_for(arm_prof, out_dir, seed)
    train_pusht(arm_prof, run_dir, dataset, seed=seed)
    prune_training_states(run_dir)
    train_s = time.perf_counter() - t0
    eval_seed = _eval_seed(seed)
    sweep = evaluate_every_checkpoint(run_dir, arm_prof, eval_seed, progress=progress, **arm.inference)
    best = load_evaluation(sweep["best"])
    return {
        "arm": arm.name,
        "seed": seed,
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
        "run_dir": str(run_dir),
        "loss": [[r["steps"], r["loss"]] for r in read_metrics(run_dir)],  # (step, loss) per logged window
        "rollout": rollout(sweep["best"], arm_prof, eval_seed, **arm.inference),  # frames of one episode
        "checkpoint": sweep["best"]["checkpoint"],
        "resolved_config": best["config"],
        "episodes": best["episodes"],
    }


def run_grid(
    recipe: str,
    arms: list[Arm],
    profile: str,
    seed: int = 0,
    seeds: int = 1,
    results_dir: Path = Path("results"),
    data_dir: Path | None = None,
    progress: bool = True,
    references: bool = True,
) -> dict:
    """Train and evaluate every arm; return (and write) ``results/<profile>/<recipe>.json``.

    Args:
        recipe: the grid's name (file names, the blog's numbers).
        arms: the configurations compared.
        profile: "smoke", "cpu" or "full".
        seed: the first training seed (demonstrations, training, evaluation episodes).
        seeds: training seeds per arm: ``seed, seed + 1, ...``; each has its own demonstrations
            and evaluation episodes, shared by every arm and reference.
        results_dir: the ``results/`` folder (``<profile>/`` is made under it).
        data_dir: where demonstrations are built (None: :func:`~vla0_smol.book.paths.data_dir`).
        progress: progress bars.
        references: measure the reference controllers too.
    """
    if len({a.name for a in arms}) != len(arms):
        raise ValueError("arm names must be unique")
    seeds = int(seeds)  # `recipes run -p seeds 3` passes a string
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    prof = pusht_profile(profile)
    out_dir = Path(results_dir) / profile
    seed_list = list(range(seed, seed + seeds))
    data_dir = Path(data_dir) if data_dir is not None else paths_data_dir()
    datasets = {s: pusht_dataset(prof, data_dir, seed=s) for s in seed_list}
    rows = []
    for arm in arms:
        per_seed = []
        for s in seed_list:
            arm_file = out_dir / "arms" / recipe / f"seed{s}" / f"{_slug(arm.name)}.json"
            if not arm_file.exists():
                save_json(_run_arm(arm, prof, out_dir, s, datasets[s], progress), arm_file)
            per_seed.append(json.loads(arm_file.read_text()))
        best, last = _pooled([r["best"] for r in per_seed]), _pooled([r["last"] for r in per_seed])
        best["steps"], last["steps"] = [r["best"]["step"] for r in per_seed], [r["last"]["step"] for r in per_seed]
        rows.append(
            {
                "arm": arm.name,
                "policy_overrides": arm.policy,
                "inference_overrides": arm.inference,
                "seeds": seed_list,
                "success_rate": best["success_rate"],  # pooled over seeds, best checkpoints
                "mean_max_coverage": best["mean_max_coverage"],
                "n_episodes": best["n_episodes"],
                "best": best,
                "last": last,
                "per_seed": per_seed,
            }
        )
    summary = {
        "recipe": recipe,
        "profile": profile,
        "model": prof.policy.get("vlm_model_name"),
        "seed": seed,
        "seeds": seed_list,
        "eval_seeds": [[_eval_seed(s), _eval_seed(s) + prof.eval_episodes - 1] for s in seed_list],
        "dataset": [datasets[s][0] for s in seed_list],
        "profile_settings": prof.to_dict(),
        "arms": rows,
        "references": run_references(profile, seed_list, results_dir, progress) if references else [],
    }
    save_json(summary, out_dir / f"{recipe}.json")
    plot_checkpoint_curves(summary, out_dir / f"{recipe}_checkpoints.png")
    return summary
