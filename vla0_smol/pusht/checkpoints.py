"""Every saved checkpoint of a run, evaluated on the same seeds; the best and the last reported.

The blog reports PushT's success rate at the best checkpoint; the authors' run evaluates every
3,000 steps (``eval_freq`` in their ``configs/vla0.json``). Here each ``checkpoints/<step>/`` that
``lerobot-train`` saved (the ``full`` profile saves every 3,000 steps) is evaluated on the same
seeded episodes, and the run is summarised by

* ``checkpoints``: step, success rate and mean max coverage of each (the curve);
* ``best``: the highest success rate (ties: higher coverage, then the later step). It is chosen
  on the evaluation episodes themselves, as the blog does, so it is optimistic;
* ``last``: the final checkpoint, which needs no choice; tables report both, labelled.

Each checkpoint's evaluation is cached as JSON under ``<run>/evaluations/<settings>/<step>.json``
(its episodes and resolved config included), so an interrupted sweep resumes and a finished one
is read back. Beside it, ``<step>.png`` shows 6 frames of its first episode (``rollout`` in the
JSON: seed, steps shown, outcome).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

from ..results import save_json, write_strip
from .pipeline import evaluate_checkpoint
from .profiles import PushTProfile

SELECTION = "best: highest success rate on the evaluation episodes (ties: coverage, then later step), as the blog"


def saved_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """``(step, pretrained_model folder)`` of every complete checkpoint of a run, by step."""
    root = Path(run_dir) / "checkpoints"
    found = []
    for folder in root.iterdir() if root.is_dir() else []:
        model = folder / "pretrained_model"
        if folder.name.isdigit() and not folder.is_symlink() and (model / "model.safetensors").is_file():
            found.append((int(folder.name), model))
    return sorted(found)


def prune_training_states(run_dir: Path) -> list[Path]:
    """Delete the optimizer/scheduler state of every checkpoint but the last; return what went.

    ``lerobot-train`` resumes from ``checkpoints/last`` only; the weights of earlier checkpoints are
    all the evaluation needs. At the ``full`` profile this is 4 GB (AdamW moments of 500M
    parameters) per checkpoint. Call it once training is finished.
    """
    ckpts = saved_checkpoints(run_dir)
    removed = []
    for _, model in ckpts[:-1]:
        state = model.parent / "training_state"
        if state.is_dir():
            shutil.rmtree(state)
            removed.append(state)
    return removed


def _settings_key(profile: PushTProfile, seed: int, overrides: dict) -> str:
    key = {"seed": seed, "episodes": profile.eval_episodes, "max_steps": profile.eval_max_steps, **overrides}
    return hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]


def evaluate_every_checkpoint(
    run_dir: Path,
    profile: PushTProfile,
    seed: int,
    video_dir: Path | None = None,
    progress: bool = True,
    **overrides,
) -> dict:
    """Evaluate each saved checkpoint of ``run_dir`` on the profile's seeded episodes.

    Args:
        run_dir: the ``lerobot-train`` output folder.
        profile: episodes, batch and step limit of the evaluation.
        seed: first evaluation seed (the same for every checkpoint).
        video_dir: rollout videos of the last checkpoint (None: none).
        progress: progress bars.
        overrides: inference fields of the config (e.g. ``execution="temporal"``).

    Returns:
        ``{"checkpoints": [...], "best": {...}, "last": {...}, "selection": ...}``: compact rows
        (step, success_rate, mean_max_coverage, n_episodes, eval_seconds, checkpoint); the full
        evaluation of each (episodes, resolved config) is its cached JSON, ``row["file"]``.
    """
    ckpts = saved_checkpoints(run_dir)
    if not ckpts:
        raise FileNotFoundError(f"no saved checkpoint under {Path(run_dir) / 'checkpoints'}")
    cache = Path(run_dir) / "evaluations" / _settings_key(profile, seed, overrides)
    rows = []
    for i, (step, model) in enumerate(ckpts):
        path = cache / f"{step:06d}.json"
        if not path.is_file():
            last = i == len(ckpts) - 1
            result = evaluate_checkpoint(
                model,
                profile,
                seed=seed,
                video_dir=video_dir if last else None,
                progress=progress,
                keep_frames=1,
                **overrides,
            )
            record = {"step": step, "checkpoint": str(model), **result.summary(), "rollout": _strip(result, path)}
            save_json(record, path)
        full = json.loads(path.read_text())
        rows.append(
            {
                "step": step,
                "success_rate": full["success_rate"],
                "mean_max_coverage": full["mean_max_coverage"],
                "n_episodes": full["n_episodes"],
                "eval_seconds": round(full["wall_s"], 1),
                "checkpoint": full["checkpoint"],
                "file": str(path),
                "rollout": full.get("rollout"),
            }
        )
    return summarise(rows)


def _strip(result, path: Path) -> dict:
    """Write the first episode's frame strip beside ``path``; describe it."""
    first = result.episodes[0]  # episodes are sorted by seed: the first evaluation seed
    png, steps = write_strip(result.frames[first.seed], Path(path).with_suffix(".png"))
    return {
        "png": str(png),
        "seed": first.seed,
        "steps": steps,
        "success": first.success,
        "max_coverage": first.max_coverage,
    }


def rollout(row: dict, profile: PushTProfile, seed: int, progress: bool = False, **overrides) -> dict:
    """The frame strip of a checkpoint row's first evaluation episode (``row["rollout"]``).

    An evaluation cached before frames were kept has none: that one episode is run again, alone
    (its outcome, recorded with ``"rerun": true``, can differ slightly from the batched one), and
    the cached JSON gains it.
    """
    if row.get("rollout"):
        return row["rollout"]
    path = Path(row["file"])
    full = json.loads(path.read_text())
    if not full.get("rollout"):
        one = replace(profile, eval_episodes=1, eval_batch=1)
        result = evaluate_checkpoint(row["checkpoint"], one, seed=seed, progress=progress, keep_frames=1, **overrides)
        full["rollout"] = {**_strip(result, path), "rerun": True}
        save_json(full, path)
    return full["rollout"]


def summarise(rows: list[dict]) -> dict:
    """The best and the last of per-checkpoint rows (sorted by step)."""
    best = max(rows, key=lambda r: (r["success_rate"], r["mean_max_coverage"], r["step"]))
    return {"checkpoints": rows, "best": best, "last": rows[-1], "selection": SELECTION}


def load_evaluation(row: dict) -> dict:
    """The full cached evaluation of one checkpoint row (episodes, config, videos)."""
    return json.loads(Path(row["file"]).read_text())
