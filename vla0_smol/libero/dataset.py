"""A small LIBERO-format dataset recorded offline on official LIBERO tasks (pipeline-test data).

``HuggingFaceVLA/libero`` (the authors' training set) lives on the Hugging Face hub. Offline, the
``smoke`` and ``cpu`` profiles train on episodes recorded here instead: LeRobot's own
``LiberoEnv`` on an official task, from LIBERO's fixed initial states, with a scripted
reach-and-grasp motion. The dataset has the hub dataset's feature names and shapes, so the same
``lerobot-train`` command line trains on either. It is **not** expert data: a policy trained on it
is not expected to solve the task.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .env import IMAGE_KEYS, IMAGE_SIZE, LIBERO_FPS, libero_features, make_libero_env, reset_to, to_batch


def scripted_action(state: np.ndarray, target: np.ndarray, t: int, frames: int) -> np.ndarray:
    """A reach-and-grasp motion in LIBERO's delta-OSC command space (7-D, in [-1, 1]).

    Hover 10 cm above ``target`` (first half), descend to it, close the gripper in the last
    quarter. Not an expert: a plausible, smooth motion for pipeline tests.
    """
    phase = t / max(1, frames - 1)
    goal = target + np.array([0.0, 0.0, 0.10 if phase < 0.5 else 0.02])
    action = np.zeros(7)
    action[:3] = np.clip((goal - state[:3]) * 10.0, -1.0, 1.0)
    action[6] = 1.0 if phase >= 0.75 else -1.0  # +1 closes, -1 opens
    return action


def make_libero_dataset(
    root: Path,
    suite: str = "libero_object",
    task_ids: Sequence[int] = (0,),
    episodes: int = 2,
    frames: int = 20,
    size: int = IMAGE_SIZE,
    repo_id: str = "local/libero_scripted",
):
    """A small LIBERO-format LeRobotDataset recorded on official tasks with a scripted motion.

    Same feature names and shapes as ``HuggingFaceVLA/libero`` (two cameras after LeRobot's
    180-degree rotation, 8-D state, 7-D actions stored as they are sent to the env, "absolute" in
    VLA-0's sense: not relative to the state). For every task of ``task_ids``, episode ``k``
    starts from LIBERO's fixed initial state ``k``; the motion reaches for the task's goal object.

    Args:
        root: dataset folder (must not exist yet).
        suite: LIBERO suite of the tasks.
        task_ids: tasks of the suite, ``episodes`` episodes each.
        episodes: episodes per task.
        frames: frames per episode.
        size: camera side in pixels (``HuggingFaceVLA/libero``: 256).
        repo_id: the dataset's LeRobot id.
    """
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ds = LeRobotDataset.create(
        repo_id, fps=LIBERO_FPS, root=root, robot_type="panda", features=libero_features(size), use_videos=False
    )
    for task_id in task_ids:
        env = make_libero_env(suite, task_id, size=size)
        try:
            for ep in range(episodes):
                obs = reset_to(env, ep)
                inner = env._env.env
                obj = inner.parsed_problem["goal_state"][0][1]
                for t in range(frames):
                    batch = to_batch([obs], [env.task_description])
                    state = batch["observation.state"][0].numpy()  # (8,)
                    target = np.array(inner.sim.data.body_xpos[inner.obj_body_id[obj]])
                    action = scripted_action(state, target, t, frames).astype(np.float32)  # (7,)
                    frame = {
                        k: (batch[k][0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for k in IMAGE_KEYS
                    }
                    frame.update({"observation.state": state.astype(np.float32), "action": action})
                    ds.add_frame({**frame, "task": env.task_description})
                    obs, *_ = env.step(action.astype(np.float64))
                ds.save_episode()
        finally:
            env.close()
    ds.finalize()
    return ds
