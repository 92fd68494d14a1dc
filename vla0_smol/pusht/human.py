"""The original PushT human demonstrations, converted to the ``lerobot/pusht`` format.

``lerobot/pusht`` on the hub is a conversion of the 206 human demonstrations that Diffusion Policy
(Chi et al., 2023) published as a zarr store (``pusht_cchi_v7_replay.zarr``). This module converts
that zarr store to a local LeRobotDataset in the format every PushT dataset of the project shares
(:mod:`vla0_smol.pusht.task`), so that offline machines train on the same demonstrations as users
who can download ``lerobot/pusht``.

Zarr arrays used (``N`` = 25,650 frames over 206 episodes):

    data/img            (N, 96, 96, 3) float32, whole numbers 0-255 -> observation.image (uint8)
    data/state          (N, 5)  agent x, y, block x, y, angle      -> observation.state = [:, :2]
    data/action         (N, 2)  target agent position (pixels)      -> action
    meta/episode_ends   (E,)    exclusive end index of each episode

``next.reward`` / ``next.success`` come from the goal coverage after each action: the next recorded
state's, and for the last action (no state recorded after it) one simulated step; reward =
clip(coverage / 0.95, 0, 1), success = coverage > 0.95. The recorded states alone (the last frame
keeping its own coverage) miss that final push: no episode would reach 0.95, instead of 6.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..datasets import quiet_datasets
from .physics import PushTPhysics
from .task import PUSHT_TASK, SUCCESS_COVERAGE, create_pusht_dataset, goal_coverage


def open_pusht_zarr(zarr_path: str | Path):
    """Open and check the original store; returns ``(group, episode_ends)``.

    Raises:
        FileNotFoundError: ``zarr_path`` does not exist.
        ValueError: the store lacks an array or the arrays disagree (the message names the path).
    """
    import zarr

    path = Path(zarr_path)
    if not path.is_dir():
        raise FileNotFoundError(f"zarr_path {str(path)!r} does not exist (expected pusht_cchi_v7_replay.zarr)")
    try:
        group = zarr.open(str(path), mode="r")
        img, state, action = group["data/img"], group["data/state"], group["data/action"]
        ends = np.asarray(group["meta/episode_ends"][:], dtype=np.int64)
    except (KeyError, ValueError, TypeError) as err:  # missing array or not a zarr group
        raise ValueError(
            f"zarr_path {str(path)!r} is not a PushT replay store: it needs data/img, data/state, "
            f"data/action and meta/episode_ends ({type(err).__name__}: {err})"
        ) from err
    n = img.shape[0]
    problems = []
    if tuple(img.shape[1:]) != (96, 96, 3):
        problems.append(f"data/img has shape {img.shape}, expected (N, 96, 96, 3)")
    if state.shape[0] != n or len(state.shape) != 2 or state.shape[1] < 2:
        problems.append(f"data/state has shape {state.shape}, expected ({n}, 5)")
    if tuple(action.shape) != (n, 2):
        problems.append(f"data/action has shape {action.shape}, expected ({n}, 2)")
    if ends.ndim != 1 or len(ends) == 0 or ends[-1] != n or np.any(np.diff(np.r_[0, ends]) <= 0):
        problems.append(f"meta/episode_ends must increase strictly and end at {n}")
    if problems:
        raise ValueError(f"zarr_path {str(path)!r} is malformed: " + "; ".join(problems))
    return group, ends


def convert_pusht_zarr(
    zarr_path: str | Path,
    root: str | Path,
    repo_id: str,
    progress: bool = True,
    max_episodes: int | None = None,
) -> dict:
    """Convert the original PushT zarr store to a local LeRobotDataset in ``lerobot/pusht``'s format.

    Args:
        zarr_path: the ``pusht_cchi_v7_replay.zarr`` folder.
        root: folder of the new dataset (must not exist).
        repo_id: the dataset's name, e.g. ``"local/pusht_human"``.
        progress: show a tqdm bar over episodes.
        max_episodes: convert only the first episodes (None: all 206).

    Returns:
        Summary: ``episodes``, ``frames``, ``root``, ``repo_id``, ``successes`` (episodes reaching
        gym-pusht's success threshold after some action: 6 of the 206 human demonstrations).
    """
    if max_episodes is not None and (not isinstance(max_episodes, int) or max_episodes < 1):
        raise ValueError(f"max_episodes must be a positive int or None, got {max_episodes!r}")
    group, ends = open_pusht_zarr(zarr_path)
    starts = np.r_[0, ends[:-1]]
    n_eps = len(ends) if max_episodes is None else min(max_episodes, len(ends))
    dataset = create_pusht_dataset(root, repo_id)
    successes = 0
    try:
        with quiet_datasets():
            for ep in tqdm(range(n_eps), desc="pusht zarr -> LeRobotDataset", unit="ep", disable=not progress):
                successes += _convert_episode(dataset, group, int(starts[ep]), int(ends[ep]))
    finally:
        dataset.finalize()
    frames = int(ends[n_eps - 1])
    return {"episodes": n_eps, "frames": frames, "successes": successes, "root": str(root), "repo_id": repo_id}


def _convert_episode(dataset, group, lo: int, hi: int) -> bool:
    """Append frames ``lo:hi`` of the zarr store as one episode; True if it reaches the goal."""
    imgs = np.clip(np.rint(group["data/img"][lo:hi]), 0, 255).astype(np.uint8)  # (T, 96, 96, 3)
    state = np.asarray(group["data/state"][lo:hi], dtype=np.float64)  # (T, 5)
    action = np.asarray(group["data/action"][lo:hi], dtype=np.float32)  # (T, 2)
    n = hi - lo
    # coverage after each action: the next recorded state's, and for the last action a simulated step
    cover = np.array([goal_coverage(s[2:5]) for s in state[1:]] + [_last_step_coverage(state, action)])  # (T,)
    for t in range(n):
        c = cover[t]
        dataset.add_frame(
            {
                "observation.image": imgs[t],
                "observation.state": state[t, :2].astype(np.float32),
                "action": action[t],
                "next.reward": np.array([min(c / SUCCESS_COVERAGE, 1.0)], np.float32),
                "next.done": np.array([t == n - 1]),
                "next.success": np.array([c > SUCCESS_COVERAGE]),
                "task": PUSHT_TASK,
            }
        )
    dataset.save_episode()
    return bool(cover.max() > SUCCESS_COVERAGE)


def _last_step_coverage(state: np.ndarray, action: np.ndarray, warmup: int = 8) -> float:
    """Goal coverage after the episode's last action, which the store has no state for.

    The demonstrators stopped when they saw the goal reached, so this last step matters (it is
    how 6 of the 206 episodes reach coverage > 0.95). The step is simulated from the last recorded
    state in :class:`~vla0_smol.pusht.physics.PushTPhysics` (the expert's copy of gym-pusht's physics);
    the agent's velocity, not recorded, comes from replaying the ``warmup`` actions before it from rest.

    Args:
        state: (T, 5) agent x, y, block x, y, angle.
        action: (T, 2) targets.
        warmup: actions replayed to estimate the agent's velocity.
    """
    k = min(warmup, len(state) - 1)
    sim = PushTPhysics()
    sim.set_state(state[-1 - k, :2], state[-1 - k, 2:5])
    for a in action[len(state) - 1 - k : -1]:
        sim.step(a)
    sim.set_state(state[-1, :2], state[-1, 2:5], agent_vel=sim.agent.velocity)
    sim.step(action[-1])
    return goal_coverage(sim.block_pose())
