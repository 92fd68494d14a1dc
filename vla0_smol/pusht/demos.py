"""Scripted PushT demonstrations: expert episodes in gym-pusht, written as a LeRobotDataset.

:func:`run_episode` runs any controller with ``reset(seed)`` + ``act(obs, info)`` (the scripted
expert of :mod:`vla0_smol.pusht.expert`) from a seeded reset; :func:`generate_dataset` writes the
successful episodes in ``lerobot/pusht``'s format (:mod:`vla0_smol.pusht.task`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..datasets import quiet_datasets
from .expert import ExpertConfig, PushTExpert, read_state
from .task import PUSHT_TASK, create_pusht_dataset


@dataclass
class EpisodeResult:
    """One expert episode; arrays are indexed by control step ``t`` (``T`` = ``steps``)."""

    seed: int  # the environment's reset seed
    success: bool  # gym-pusht's is_success was reached (coverage > 0.95)
    steps: int  # control steps taken
    max_coverage: float  # best goal coverage seen
    states: np.ndarray  # (T, 2) float32 agent x, y before each action
    actions: np.ndarray  # (T, 2) float32 targets sent
    rewards: np.ndarray  # (T,) float32 reward returned by each step
    successes: np.ndarray  # (T,) bool is_success after each step
    frames: np.ndarray | None = None  # (T, 96, 96, 3) uint8 observations before each action (pixel envs)
    seconds: float = 0.0  # wall time of the episode
    info: dict = field(default_factory=dict)  # expert statistics (plans, planning seconds)


def make_env(pixels: bool = True):
    """``gym_pusht/PushT-v0`` with 96x96 pixels + agent position (or the 5-number state)."""
    import gym_pusht  # noqa: F401 - registers the environment
    import gymnasium as gym

    return gym.make("gym_pusht/PushT-v0", obs_type="pixels_agent_pos" if pixels else "state")


def run_episode(env, expert: PushTExpert, seed: int, max_steps: int = 300) -> EpisodeResult:
    """Run ``expert`` on ``env`` from ``env.reset(seed=seed)`` until success or ``max_steps``.

    Args:
        env: a gym-pusht environment (``obs_type`` ``"pixels_agent_pos"`` records frames too).
        expert: the expert (or any object with ``reset(seed)`` and ``act(obs, info)``), reset with ``seed``.
        seed: reset seed of the environment and of the expert.
        max_steps: step limit (gym-pusht's own limit is 300).
    """
    _check_int("seed", seed, 0)
    _check_int("max_steps", max_steps, 1)
    t0 = time.perf_counter()
    obs, info = env.reset(seed=seed)
    expert.reset(seed)
    frames, states, actions, rewards, successes, cover = [], [], [], [], [], 0.0
    for _ in range(max_steps):
        action = expert.act(obs, info)
        if isinstance(obs, Mapping) and "pixels" in obs:
            frames.append(np.asarray(obs["pixels"], dtype=np.uint8))
        states.append(read_state(obs, info)[0].astype(np.float32))
        actions.append(action)
        obs, reward, terminated, truncated, info = env.step(action)
        rewards.append(float(reward))
        successes.append(bool(info["is_success"]))
        cover = max(cover, float(info["coverage"]))
        if terminated or truncated:
            break
    return EpisodeResult(
        seed=seed,
        success=any(successes),
        steps=len(actions),
        max_coverage=cover,
        states=np.stack(states),
        actions=np.stack(actions).astype(np.float32),
        rewards=np.array(rewards, np.float32),
        successes=np.array(successes, bool),
        frames=np.stack(frames) if frames else None,
        seconds=time.perf_counter() - t0,
        info={"plans": getattr(expert, "plans", 0), "plan_seconds": getattr(expert, "plan_seconds", 0.0)},
    )


def generate_dataset(
    root: str | Path,
    repo_id: str,
    num_episodes: int,
    seed: int = 0,
    max_steps: int = 300,
    keep_failed: bool = False,
    progress: bool = True,
    expert_config: ExpertConfig | None = None,
) -> dict:
    """Write expert demonstrations as a local LeRobotDataset in ``lerobot/pusht``'s format.

    Runs the seeds ``seed .. seed + num_episodes - 1``; episodes that miss the goal within
    ``max_steps`` are dropped (unless ``keep_failed``) and counted in the summary.

    Args:
        root: folder of the new dataset (must not exist).
        repo_id: the dataset's name, e.g. ``"local/pusht_expert"`` (nothing is uploaded).
        num_episodes: episodes to run.
        seed: first seed.
        max_steps: step limit per episode.
        keep_failed: keep unsuccessful episodes too.
        progress: show a tqdm bar.
        expert_config: expert settings (e.g. ``ExpertConfig(top_k=3)`` for varied demonstrations).

    Returns:
        Summary with ``episodes`` (written), ``frames``, ``attempted``, ``dropped``, ``dropped_seeds``,
        ``success_rate`` (over attempted episodes), ``mean_steps`` (written episodes), ``seconds``.

    Raises:
        RuntimeError: no episode was kept (nothing is written then).
    """
    _check_int("num_episodes", num_episodes, 1)
    _check_int("seed", seed, 0)
    _check_int("max_steps", max_steps, 1)
    if not isinstance(repo_id, str) or not repo_id.strip():
        raise ValueError(f"repo_id must be a non-empty string such as 'local/pusht_expert', got {repo_id!r}")
    if Path(root).exists():
        raise FileExistsError(f"root {str(root)!r} already exists; LeRobot writes a dataset into a new folder")
    t0 = time.perf_counter()
    env, expert = make_env(pixels=True), PushTExpert(expert_config)
    dataset, kept, dropped, successes = None, [], [], 0
    bar = tqdm(range(seed, seed + num_episodes), desc="PushT expert demos", unit="ep", disable=not progress)
    try:
        with quiet_datasets():
            for s in bar:
                ep = run_episode(env, expert, s, max_steps)
                successes += ep.success
                if not (ep.success or keep_failed):
                    dropped.append(s)
                else:
                    dataset = dataset or create_pusht_dataset(root, repo_id)
                    _write_episode(dataset, ep)
                    kept.append(ep.steps)
                bar.set_postfix(kept=len(kept), dropped=len(dropped))
    finally:
        env.close()
        if dataset is not None:
            dataset.finalize()
    if dataset is None:
        raise RuntimeError(
            f"none of the {num_episodes} episodes reached the goal within max_steps={max_steps}; nothing was written"
        )
    return {
        "repo_id": repo_id,
        "root": str(root),
        "episodes": len(kept),
        "frames": int(sum(kept)),
        "attempted": num_episodes,
        "dropped": len(dropped),
        "dropped_seeds": dropped,
        "success_rate": successes / num_episodes,
        "mean_steps": float(np.mean(kept)),
        "seconds": time.perf_counter() - t0,
    }


def _write_episode(dataset, ep: EpisodeResult) -> None:
    for t in range(ep.steps):
        dataset.add_frame(
            {
                "observation.image": ep.frames[t],
                "observation.state": ep.states[t],
                "action": ep.actions[t],
                "next.reward": ep.rewards[t : t + 1],
                "next.done": np.array([t == ep.steps - 1]),
                "next.success": ep.successes[t : t + 1],
                "task": PUSHT_TASK,
            }
        )
    dataset.save_episode()


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
