"""PushT evaluation: batched rollouts over seeded episodes, success rate, coverage, videos.

``B`` environments run side by side; each takes the next seed from a shared list when its
episode ends, and the controller is told which environments reset (their chunk queues or
ensembles restart; the others go on). One call to the controller per control step covers every
environment, so a policy decodes all of them in one batched, grammar-constrained pass.

The blog's protocol: success rate over 64 episodes (coverage of the goal > 95% before the
300-step limit, gym-pusht's own ``is_success``). Mean max coverage is reported too: it tells a
weak policy from a random one long before success does.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import gymnasium as gym
import numpy as np
import torch
from lerobot.envs.utils import preprocess_observation
from tqdm.auto import tqdm

from ..results import write_video
from ..training import load_checkpoint
from .task import PUSHT_TASK


class Controller(Protocol):
    """Acts for a batch of environments."""

    def reset(self, env_ids: list[int]) -> None:
        """Environments ``env_ids`` start a new episode."""

    def act(self, obs: dict[str, np.ndarray], infos: list[dict]) -> np.ndarray:
        """``obs`` holds ``pixels`` (B, 96, 96, 3) uint8 and ``agent_pos`` (B, 2); returns (B, 2)."""


class RandomController:
    """Uniformly random targets in the 512 x 512 workspace (the floor any policy must beat)."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def reset(self, env_ids):
        pass

    def act(self, obs, infos):
        return self.rng.uniform(0, 512, (len(infos), 2))


class HoldStillController:
    """Targets the agent's own position at every step: it never moves (what doing nothing scores).

    The block starts at rest, so its coverage stays the initial one: the floor a policy that has
    learned nothing but "stay put" reaches, and the coverage an episode starts with.
    """

    def reset(self, env_ids):
        pass

    def act(self, obs, infos):
        return np.array(obs["agent_pos"], dtype=np.float64, copy=True)


class ExpertController:
    """The scripted expert (privileged state), one per environment."""

    def __init__(self, seed: int = 0):
        from .expert import PushTExpert

        self._make, self.seed, self.experts = PushTExpert, seed, {}

    def reset(self, env_ids):
        for i in env_ids:
            self.experts[i] = self._make()
            self.experts[i].reset(self.seed + i)

    def act(self, obs, infos):
        one = [{k: v[i] for k, v in obs.items()} for i in range(len(infos))]
        return np.stack([self.experts[i].act(one[i], infos[i]) for i in range(len(infos))])


class PolicyController:
    """A LeRobot policy with its pre/post-processors (``vla0_smol`` or any other).

    Args:
        policy: the policy.
        preprocessor: LeRobot input pipeline (None: batches go to the policy as they are).
        postprocessor: LeRobot output pipeline.
        task: the instruction given to the policy.
        action_dim: the environment's action dimension; a policy with another one is refused.
    """

    def __init__(self, policy, preprocessor=None, postprocessor=None, task: str = PUSHT_TASK, action_dim: int = 2):
        got = policy.config.output_features["action"].shape[0]
        if got != action_dim:
            raise ValueError(
                f"the policy's action dimension is {got} but the environment's is {action_dim}: "
                "this checkpoint was trained for another robot or task"
            )
        self.policy, self.pre, self.post, self.task = policy, preprocessor, postprocessor, task
        self.policy.eval()

    @classmethod
    def from_checkpoint(cls, path: Path, device: str = "cpu", **overrides) -> PolicyController:
        """Load ``<run>/checkpoints/<step>/pretrained_model`` with its processors.

        ``overrides`` set inference fields of the config, e.g. ``decoder="hf"``, ``execution="temporal"``.
        """
        return cls(*load_checkpoint(path, device, processors=True, **overrides))

    def reset(self, env_ids):
        try:
            self.policy.reset(env_ids=env_ids)
        except TypeError:  # policies whose reset() takes no env ids
            self.policy.reset()

    @torch.no_grad()
    def act(self, obs, infos):
        batch = preprocess_observation({"pixels": obs["pixels"], "agent_pos": obs["agent_pos"]})
        batch["task"] = [self.task] * len(infos)
        if self.pre is not None:
            batch = self.pre(batch)
        action = self.policy.select_action(batch)
        if self.post is not None:
            action = self.post(action)
        return action.detach().cpu().numpy()


@dataclass
class Episode:
    seed: int
    success: bool
    max_coverage: float
    steps: int


@dataclass
class EvalResult:
    """Outcome of an evaluation (``summary()`` is what goes into JSON)."""

    episodes: list[Episode]
    wall_s: float
    env_steps: int
    videos: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    frames: dict[int, np.ndarray] = field(default_factory=dict)  # seed -> (T + 1, 96, 96, 3) uint8, not in JSON

    @property
    def success_rate(self) -> float:
        return float(np.mean([e.success for e in self.episodes]))

    @property
    def mean_max_coverage(self) -> float:
        return float(np.mean([e.max_coverage for e in self.episodes]))

    def summary(self) -> dict:
        return {
            "success_rate": self.success_rate,
            "mean_max_coverage": self.mean_max_coverage,
            "n_episodes": len(self.episodes),
            "mean_steps": float(np.mean([e.steps for e in self.episodes])),
            "wall_s": self.wall_s,
            "env_steps": self.env_steps,
            "videos": self.videos,
            "episodes": [asdict(e) for e in self.episodes],
            **self.extra,
        }


def make_pusht_env(max_steps: int = 300):
    import gym_pusht  # noqa: F401  (registers the environment)

    return gym.make(
        "gym_pusht/PushT-v0", obs_type="pixels_agent_pos", render_mode="rgb_array", max_episode_steps=max_steps
    )


def evaluate_pusht(
    controller: Controller,
    n_episodes: int = 64,
    seed: int = 0,
    batch_size: int = 16,
    max_steps: int = 300,
    video_dir: Path | None = None,
    n_videos: int = 1,
    progress: bool = True,
    desc: str = "eval",
    keep_frames: int = 0,
) -> EvalResult:
    """Run ``n_episodes`` seeded PushT episodes (seeds ``seed .. seed + n - 1``).

    Args:
        controller: what acts (see :class:`Controller`).
        n_episodes: episodes in total (the blog: 64).
        seed: first seed; the same seeds give the same initial states for every controller.
        batch_size: environments stepped side by side.
        max_steps: episode limit (gym-pusht's default is 300).
        video_dir: where to write the first ``n_videos`` episodes as mp4 (None: no videos).
        n_videos: episodes recorded.
        progress: show a progress bar.
        desc: progress bar label.
        keep_frames: episodes (the first ones) whose observation images, 96 x 96 as the policy
            sees them, are kept in ``EvalResult.frames``: the reset frame and one per step.
    """
    if n_episodes < 1 or batch_size < 1 or max_steps < 1:
        raise ValueError("n_episodes, batch_size and max_steps must be >= 1")
    batch_size = min(batch_size, n_episodes)
    envs = [make_pusht_env(max_steps) for _ in range(batch_size)]
    queue = list(range(seed, seed + n_episodes))
    slot_seed: list[int | None] = [None] * batch_size
    cover = np.zeros(batch_size)
    steps = np.zeros(batch_size, dtype=int)
    frames: dict[int, list] = {}
    record = set(queue[:n_videos]) if video_dir is not None else set()
    keep = set(queue[:keep_frames])
    kept: dict[int, list] = {}
    obs_list: list[dict] = [{}] * batch_size
    info_list: list[dict] = [{}] * batch_size
    episodes: list[Episode] = []
    env_steps = 0
    t0 = time.perf_counter()
    bar = tqdm(total=n_episodes, desc=desc, disable=not progress, leave=False)

    def start(i: int) -> bool:
        if not queue:
            slot_seed[i] = None
            return False
        slot_seed[i] = queue.pop(0)
        obs_list[i], info_list[i] = envs[i].reset(seed=slot_seed[i])
        cover[i], steps[i] = 0.0, 0
        if slot_seed[i] in record:
            frames[slot_seed[i]] = [envs[i].render()]
        if slot_seed[i] in keep:
            kept[slot_seed[i]] = [obs_list[i]["pixels"].copy()]
        return True

    for i in range(batch_size):
        start(i)
    controller.reset(list(range(batch_size)))
    try:
        while any(s is not None for s in slot_seed):
            obs = {k: np.stack([o[k] for o in obs_list]) for k in ("pixels", "agent_pos")}
            actions = np.asarray(controller.act(obs, info_list), dtype=np.float64)
            if actions.shape != (batch_size, 2):
                raise ValueError(f"controller returned actions of shape {actions.shape}, expected ({batch_size}, 2)")
            restarted = []
            for i, env in enumerate(envs):
                if slot_seed[i] is None:
                    continue
                obs_list[i], _, terminated, truncated, info_list[i] = env.step(actions[i])
                env_steps += 1
                steps[i] += 1
                cover[i] = max(cover[i], info_list[i].get("coverage", 0.0))
                if slot_seed[i] in frames:
                    frames[slot_seed[i]].append(env.render())
                if slot_seed[i] in kept:
                    kept[slot_seed[i]].append(obs_list[i]["pixels"].copy())
                if terminated or truncated:
                    episodes.append(Episode(slot_seed[i], bool(info_list[i]["is_success"]), cover[i], int(steps[i])))
                    bar.update(1)
                    if start(i):
                        restarted.append(i)
            if restarted:
                controller.reset(restarted)
    finally:
        bar.close()
        for env in envs:
            env.close()
    videos = (
        [str(write_video(f, Path(video_dir) / f"episode_{s}.mp4", fps=10)) for s, f in frames.items()]
        if video_dir
        else []
    )
    episodes.sort(key=lambda e: e.seed)
    kept_arrays = {s: np.stack(f) for s, f in kept.items()}
    return EvalResult(episodes, time.perf_counter() - t0, env_steps, videos, frames=kept_arrays)
