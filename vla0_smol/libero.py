"""LIBERO: official tasks through LeRobot's env code, the policy batch, evaluation.

The scripted LIBERO-format dataset is in :mod:`vla0_smol.libero_data`; profiles and the recipe
(train, then evaluate every suite) in :mod:`vla0_smol.libero_recipe`.

Environments are LeRobot's own ``lerobot.envs.libero.LiberoEnv`` (hf-libero underneath: robosuite,
Panda, OSC delta controller, both cameras, LIBERO's fixed initial states, the suite episode
lengths of ``TASK_SUITE_MAX_STEPS``). Observations go through LeRobot's own processing:
``preprocess_observation`` then ``LiberoProcessorStep`` (images rotated 180 degrees to the
``HuggingFaceVLA/libero`` convention; state = eef position (3), axis-angle (3), gripper (2)).

Why the ``LiberoEnv`` class and not ``make_env(LiberoEnv config)``: ``make_env`` returns vector
environments that auto-reset on the step after an episode ends (one more 2.5-4 s reset, and it
moves the env on to another initial state). Here each slot is a ``LiberoEnv`` built with the same
arguments ``create_libero_envs`` passes, and ``init_state_id`` is set before every reset, so
episode ``k`` of a task always starts from LIBERO's fixed initial state ``k`` and nothing resets
twice. The observation size options are honoured by the class (128 px used in tests); the
config's 360 px default is not what ``HuggingFaceVLA/libero`` has (256 px), so the size is passed
explicitly (``size=256`` by default, the dataset's).

Before hf-libero is imported, :func:`setup_libero` writes LIBERO's config (and, offline, installs
and verifies the scene assets: :mod:`vla0_smol.libero_assets`).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .results import write_video

SUITES = ("libero_spatial", "libero_object", "libero_goal", "libero_10")
LIBERO_DATASET = "HuggingFaceVLA/libero"  # the authors' choice
LIBERO_FPS = 10  # fps recorded in HuggingFaceVLA/libero's metadata
IMAGE_SIZE = 256  # HuggingFaceVLA/libero's frames
EPISODES_PER_TASK = 50  # LIBERO's fixed initial states per task (the standard protocol)
IMAGE_KEYS = ("observation.images.image", "observation.images.image2")  # agent view, wrist
STATE_NAMES = ["eef_x", "eef_y", "eef_z", "axis_angle_x", "axis_angle_y", "axis_angle_z", "gripper_l", "gripper_r"]
ACTION_NAMES = ["dx", "dy", "dz", "drx", "dry", "drz", "gripper"]


def libero_features(size: int = IMAGE_SIZE) -> dict:
    """LeRobotDataset features of ``HuggingFaceVLA/libero`` (images stored as images here)."""
    img = {"dtype": "image", "shape": (size, size, 3), "names": ["height", "width", "channel"]}
    return {
        IMAGE_KEYS[0]: dict(img),
        IMAGE_KEYS[1]: dict(img),
        "observation.state": {"dtype": "float32", "shape": (8,), "names": {"motors": STATE_NAMES}},
        "action": {"dtype": "float32", "shape": (7,), "names": {"motors": ACTION_NAMES}},
    }


def policy_features(size: int = IMAGE_SIZE) -> tuple[dict, dict]:
    """``(input_features, output_features)`` of a LIBERO policy: 2 cameras, 8-D state, 7-D action."""
    from lerobot.configs import FeatureType, PolicyFeature

    inputs = {k: PolicyFeature(FeatureType.VISUAL, (3, size, size)) for k in IMAGE_KEYS}
    inputs["observation.state"] = PolicyFeature(FeatureType.STATE, (8,))
    return inputs, {"action": PolicyFeature(FeatureType.ACTION, (7,))}


# ----------------------------------------------------------------------------- environments
def setup_libero(offline: bool = True, assets: str | Path | None = None):
    """Make hf-libero importable without a prompt (and, ``offline``, with verified local assets).

    ``offline=False`` keeps hf-libero's own hub download of the assets (the users' default) and
    only writes the config file if it is missing.

    Returns:
        ``offline``: the verified asset folder and file count (``libero_assets.LiberoPaths``);
        otherwise None.
    """
    os.environ.setdefault("MUJOCO_GL", "egl")
    from . import libero_assets

    if offline:
        return libero_assets.prepare_libero_offline(assets=assets)
    if not libero_assets.config_file().is_file():
        pkg = libero_assets.libero_package_dir()
        libero_assets.write_libero_config(pkg / "assets")
    return None


def episode_length(suite: str) -> int:
    """Steps per episode as LeRobot sets them (``TASK_SUITE_MAX_STEPS``)."""
    from lerobot.envs.libero import TASK_SUITE_MAX_STEPS

    if suite not in TASK_SUITE_MAX_STEPS:
        raise ValueError(f"unknown LIBERO suite {suite!r}; known: {sorted(TASK_SUITE_MAX_STEPS)}")
    return TASK_SUITE_MAX_STEPS[suite]


def make_libero_env(suite: str, task_id: int, size: int = IMAGE_SIZE, max_steps: int | None = None):
    """One official LIBERO task as LeRobot's ``LiberoEnv`` (both cameras, state, fixed init states)."""
    from lerobot.envs.libero import LiberoEnv, _get_suite

    return LiberoEnv(
        task_suite=_get_suite(suite),
        task_id=task_id,
        task_suite_name=suite,
        episode_length=max_steps,
        obs_type="pixels_agent_pos",
        observation_height=size,
        observation_width=size,
        init_states=True,
        control_mode="relative",
    )


def reset_to(env, init_state: int) -> dict:
    """Reset ``env`` to LIBERO's fixed initial state number ``init_state``."""
    env.init_state_id = init_state
    obs, _ = env.reset()
    return obs


def to_batch(observations: list[dict], tasks: list[str]) -> dict:
    """Raw ``LiberoEnv`` observations -> the policy batch, through LeRobot's LIBERO processing.

    Returns ``observation.images.image`` / ``image2`` (B, 3, H, W) float in [0, 1] (rotated 180
    degrees, as in ``HuggingFaceVLA/libero``), ``observation.state`` (B, 8) and ``task``.
    """
    from lerobot.envs.utils import preprocess_observation
    from lerobot.processor.env_processor import LiberoProcessorStep

    def stack(items):
        if isinstance(items[0], dict):
            return {k: stack([it[k] for it in items]) for k in items[0]}
        return np.stack(items)

    batch = preprocess_observation(stack(observations))
    batch = LiberoProcessorStep().observation(batch)
    batch["task"] = list(tasks)
    return batch


# ----------------------------------------------------------------------------- success path
def success_path_check(suite: str = "libero_object", task_id: int = 0, env=None, settle_steps: int = 20) -> bool:
    """Place each goal object so its goal predicate holds; return LIBERO's ``check_success()``.

    Handles ``in``/``on`` goals (object -> region site or object): the object's free joint is set
    a few centimetres above the target, the scene settles under no-op actions, then the task's own
    success test runs. A deterministic test of the success path without a policy.
    """
    from lerobot.envs.libero import get_libero_dummy_action

    own = env is None
    env = env or make_libero_env(suite, task_id, size=64)
    try:
        reset_to(env, 0)
        inner = env._env.env  # the LIBERO problem (robosuite env)
        sim = inner.sim
        for pred in inner.parsed_problem["goal_state"]:
            name, obj, target = pred[0].lower(), pred[1], pred[2]
            if name not in ("in", "on"):
                raise NotImplementedError(f"goal predicate {pred} is not handled (only 'in' and 'on')")
            if target in inner.object_sites_dict:
                goal = np.array(sim.data.get_site_xpos(target))
            else:
                goal = np.array(sim.data.body_xpos[inner.obj_body_id[target]])
            joint = inner.get_object(obj).joints[-1]
            qpos = np.array(sim.data.get_joint_qpos(joint))
            qpos[:3] = goal + np.array([0.0, 0.0, 0.05])
            sim.data.set_joint_qpos(joint, qpos)
            sim.data.set_joint_qvel(joint, np.zeros(6))
        sim.forward()
        for _ in range(settle_steps):
            env._env.step(get_libero_dummy_action())
        return bool(env._env.check_success())
    finally:
        if own:
            env.close()


# ----------------------------------------------------------------------------- evaluation
class LiberoPolicyController:
    """A LeRobot policy (with optional pre/post-processors) acting on LIBERO batches."""

    def __init__(self, policy, preprocessor=None, postprocessor=None):
        got = policy.config.output_features["action"].shape[0]
        if got != 7:
            raise ValueError(f"the policy's action dimension is {got}; LIBERO's Panda takes 7")
        self.policy, self.pre, self.post = policy, preprocessor, postprocessor
        self.policy.eval()

    def reset(self, env_ids: list[int]) -> None:
        self.policy.reset(env_ids=env_ids)

    @torch.no_grad()
    def act(self, batch: dict) -> np.ndarray:
        if self.pre is not None:
            batch = self.pre(batch)
        action = self.policy.select_action(batch)
        if self.post is not None:
            action = self.post(action)
        return action.detach().cpu().numpy()  # (B, 7)


@dataclass
class TaskResult:
    suite: str
    task_id: int
    task: str
    successes: list[bool]
    lengths: list[int]

    @property
    def success_rate(self) -> float:
        return float(np.mean(self.successes)) if self.successes else 0.0


@dataclass
class LiberoEvalResult:
    tasks: list[TaskResult]
    wall_s: float
    env_steps: int
    timings: dict = field(default_factory=dict)
    videos: list[str] = field(default_factory=list)

    def per_suite(self) -> dict[str, float]:
        out: dict[str, list[bool]] = {}
        for t in self.tasks:
            out.setdefault(t.suite, []).extend(t.successes)
        return {s: float(np.mean(v)) for s, v in out.items()}

    def episodes(self) -> list[dict]:
        """One row per episode: suite, task id, LIBERO initial state, success and steps run."""
        return [
            {"suite": t.suite, "task_id": t.task_id, "task": t.task, "init_state": k, "success": s, "steps": n}
            for t in self.tasks
            for k, (s, n) in enumerate(zip(t.successes, t.lengths, strict=True))
        ]

    def summary(self) -> dict:
        suites = self.per_suite()
        return {
            "per_suite": suites,
            "average": float(np.mean(list(suites.values()))) if suites else 0.0,
            "per_task": [{**asdict(t), "success_rate": t.success_rate} for t in self.tasks],
            "n_episodes": sum(len(t.successes) for t in self.tasks),
            "wall_s": self.wall_s,
            "env_steps": self.env_steps,
            "timings": self.timings,
            "videos": self.videos,
        }


def evaluate_libero(
    controller,
    suites: tuple[str, ...] | list[str] = SUITES,
    task_ids: list[int] | None = None,
    n_episodes: int = EPISODES_PER_TASK,
    batch_size: int = 1,
    max_steps: int | None = None,
    size: int = IMAGE_SIZE,
    video_dir: Path | None = None,
    n_videos: int = 1,
    snapshot: Path | None = None,
) -> LiberoEvalResult:
    """Run ``n_episodes`` per task (fixed initial states ``0 .. n-1``) over tasks of suites.

    Args:
        controller: ``reset(env_ids)`` and ``act(batch) -> (B, 7)`` (:class:`LiberoPolicyController`).
        suites: LIBERO suites.
        task_ids: tasks per suite (None: every task).
        n_episodes: episodes per task (LIBERO: 50 fixed initial states).
        batch_size: environments of one task stepped side by side (one policy call per step).
        max_steps: episode limit (None: LeRobot's per-suite limit).
        size: camera side in pixels.
        video_dir: where agent-view videos go (None: no videos).
        n_videos: episodes recorded per task (the first ones).
        snapshot: a PNG written here of both cameras' first frame, side by side, as the policy
            sees them (after LeRobot's LIBERO processing); None: no picture.
    """
    from lerobot.envs.libero import _get_suite

    results, videos, env_steps, timings = [], [], 0, {"create_s": [], "reset_s": [], "step_s": []}
    t0 = time.perf_counter()
    for suite in suites:
        limit = max_steps or episode_length(suite)
        ids = task_ids if task_ids is not None else list(range(len(_get_suite(suite).tasks)))
        for tid in ids:
            b = min(batch_size, n_episodes)
            t = time.perf_counter()
            envs = [make_libero_env(suite, tid, size=size, max_steps=limit) for _ in range(b)]
            timings["create_s"].append(time.perf_counter() - t)
            result = TaskResult(suite, tid, envs[0].task_description, [], [])
            try:
                for first in range(0, n_episodes, b):
                    eps = list(range(first, min(first + b, n_episodes)))
                    t = time.perf_counter()
                    obs = [reset_to(envs[i], ep) for i, ep in enumerate(eps)]
                    timings["reset_s"].append((time.perf_counter() - t) / len(eps))
                    controller.reset(list(range(len(eps))))
                    done, success = np.zeros(len(eps), bool), np.zeros(len(eps), bool)
                    length = np.zeros(len(eps), int)
                    frames = {i: [] for i, ep in enumerate(eps) if video_dir is not None and ep < n_videos}
                    for _ in range(limit):
                        batch = to_batch(obs, [result.task] * len(eps))
                        if snapshot is not None:
                            _write_snapshot(batch, Path(snapshot))
                            snapshot = None  # the first frame only
                        actions = controller.act(batch)
                        t = time.perf_counter()
                        for i in np.flatnonzero(~done):
                            obs[i], _, term, _, info = envs[i].step(np.asarray(actions[i], dtype=np.float64))
                            length[i] += 1
                            env_steps += 1
                            if i in frames:
                                frames[i].append(obs[i]["pixels"]["image"][::-1, ::-1].copy())
                            if term:
                                done[i], success[i] = True, bool(info["is_success"])
                        timings["step_s"].append((time.perf_counter() - t) / max(1, len(eps)))
                        if done.all():
                            break
                    result.successes += success.tolist()
                    result.lengths += length.tolist()
                    for i, f in frames.items():
                        if f:
                            path = Path(video_dir) / f"{suite}_task{tid}_ep{eps[i]}.mp4"
                            videos.append(str(write_video(f, path, fps=20)))
            finally:
                for env in envs:
                    env.close()
            results.append(result)
    timings = {k: float(np.mean(v)) if v else None for k, v in timings.items()}
    return LiberoEvalResult(results, time.perf_counter() - t0, env_steps, timings, videos)


def _write_snapshot(batch: dict, path: Path) -> Path:
    """Both cameras of the batch's first row, side by side, as an RGB PNG."""
    import imageio.v2 as imageio

    views = [(batch[k][0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for k in IMAGE_KEYS]
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.imwrite(path, np.concatenate(views, axis=1))
    return path
