"""SO100-shaped training data recorded offline on the simulated arm, and what a dataset's metadata says.

:func:`record_so100_dataset` drives LeRobot's ``SO100Follower`` on the emulated Feetech bus of
:mod:`vla0_smol.so100.sim` with a scripted joint-space motion and writes what it observes and
commands with LeRobot's dataset writer, exactly as ``lerobot-record`` lays out a real arm's
episodes. The cameras read generated videos unrelated to the motion: pipeline-test data for the
``smoke`` and ``cpu`` profiles, not demonstrations.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from .deploy import joint_limits

SO100_FPS = 30  # SO100 datasets recorded with LeRobot (lerobot/svla_so100_pickplace among them)
LOCAL_TASK = "Pick up the cube and place it in the box."
DEFAULT_CAMERAS = {"front": (96, 96), "wrist": (96, 96)}  # name -> (height, width)


def scripted_targets(start: np.ndarray, limits: np.ndarray, frames: int, rng: np.random.Generator) -> np.ndarray:
    """``(frames, 6)`` joint targets: a minimum-jerk reach to a random pose, gripper open then closed.

    ``start`` (6,) and ``limits`` (2, 6) are in action units (degrees; gripper 0..100). The goal is
    drawn inside the middle 60 % of each joint's calibrated range.
    """
    lo, hi = limits
    goal = rng.uniform(lo + 0.2 * (hi - lo), hi - 0.2 * (hi - lo))  # (6,)
    s = np.clip(np.arange(frames) / max(1, int(0.7 * frames)), 0.0, 1.0)[:, None]  # (T, 1)
    path = start + (goal - start) * (10 * s**3 - 15 * s**4 + 6 * s**5)  # (T, 6) minimum jerk
    path[:, -1] = np.where(np.arange(frames) < frames // 2, hi[-1] - 0.2 * (hi[-1] - lo[-1]), lo[-1] + 5.0)
    return path


def record_so100_dataset(
    root: Path,
    repo_id: str = "local/so100_sim",
    episodes: int = 2,
    frames: int = 20,
    cameras: dict | None = None,
    fps: int = SO100_FPS,
    task: str = LOCAL_TASK,
    seed: int = 0,
):
    """Record an SO100-shaped LeRobotDataset on the simulated arm (LeRobot's robot class and writer).

    Features are exactly what the arm produces (``hw_to_dataset_features`` of the robot, as
    ``lerobot-record`` writes them): ``observation.state`` and ``action`` (6,) named
    ``<motor>.pos``, one ``observation.images.<camera>`` per camera; ``action`` is what was sent
    (after LeRobot's ``max_relative_target`` clamp).
    """
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from lerobot.utils.feature_utils import hw_to_dataset_features

    from .sim import SimulatedSO100

    rng = np.random.default_rng(seed)
    with (
        tempfile.TemporaryDirectory() as work,
        SimulatedSO100(work, cameras=cameras or DEFAULT_CAMERAS, fps=fps) as sim,
    ):
        robot = sim.robot
        motors, limits = joint_limits(robot)
        features = hw_to_dataset_features(robot.observation_features, "observation", use_video=False)
        features.update(hw_to_dataset_features(robot.action_features, "action", use_video=False))
        ds = LeRobotDataset.create(
            repo_id, fps=fps, root=root, robot_type="so100_follower", features=features, use_videos=False
        )
        for _ in range(episodes):
            obs = robot.get_observation()
            start = np.array([obs[f"{m}.pos"] for m in motors])
            t_next = time.perf_counter()
            for target in scripted_targets(start, limits, frames, rng):
                obs = robot.get_observation()
                sent = robot.send_action({f"{m}.pos": float(v) for m, v in zip(motors, target, strict=True)})
                frame = {
                    "observation.state": np.array([obs[f"{m}.pos"] for m in motors], np.float32),
                    "action": np.array([sent[f"{m}.pos"] for m in motors], np.float32),
                }
                frame.update({f"observation.images.{c}": obs[c] for c in robot.cameras})
                ds.add_frame({**frame, "task": task})
                t_next += 1.0 / fps
                time.sleep(max(0.0, t_next - time.perf_counter()))
            ds.save_episode()
        ds.finalize()
    return ds


def dataset_info(repo_id: str, root: Path | None = None) -> dict:
    """The dataset's fps, first task and camera shapes ``{key: (h, w)}`` (reads only its metadata)."""
    from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata

    meta = LeRobotDatasetMetadata(repo_id, root=root)
    cams = {k: tuple(meta.features[k]["shape"][:2]) for k in meta.camera_keys}
    action = meta.features["action"]
    if action["shape"][0] != 6:
        raise ValueError(f"{repo_id}: actions have {action['shape'][0]} dimensions, an SO100 arm has 6")
    return {"fps": meta.fps, "task": str(meta.tasks.index[0]), "cameras": cams, "action_names": action["names"]}
