"""LIBERO: official tasks through LeRobot's env code, and the policy batch.

Evaluation is in :mod:`vla0_smol.libero.evaluation`, the scripted LIBERO-format dataset in
:mod:`vla0_smol.libero.dataset`; profiles and the recipe (train, then evaluate every suite) in
:mod:`vla0_smol.libero.profiles` and :mod:`vla0_smol.libero.pipeline`.

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
and verifies the scene assets: :mod:`vla0_smol.libero.assets`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

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
        ``offline``: the verified asset folder and file count (``assets.LiberoPaths``);
        otherwise None.
    """
    os.environ.setdefault("MUJOCO_GL", "egl")
    from . import assets as libero_assets

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
def place_goal_objects(env) -> None:
    """Put each goal object of ``env``'s task where its goal predicate holds (a scripted success).

    Handles ``in``/``on`` goals (object -> region site or object): the object's free joint is set
    a few centimetres above the target, at rest; the scene settles under the next steps.
    """
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


def success_path_check(suite: str = "libero_object", task_id: int = 0, env=None, settle_steps: int = 20) -> bool:
    """Place each goal object so its goal predicate holds; return LIBERO's ``check_success()``.

    :func:`place_goal_objects` from LIBERO's initial state 0, then the scene settles under no-op
    actions and the task's own success test runs. A deterministic test of the success path
    without a policy.
    """
    from lerobot.envs.libero import get_libero_dummy_action

    own = env is None
    env = env or make_libero_env(suite, task_id, size=64)
    try:
        reset_to(env, 0)
        place_goal_objects(env)
        for _ in range(settle_steps):
            env._env.step(get_libero_dummy_action())
        return bool(env._env.check_success())
    finally:
        if own:
            env.close()
