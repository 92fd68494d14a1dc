"""The PushT task as every PushT module sees it: the T, its goal, coverage, and the dataset format.

The T outline and goal pose are gym-pusht's; :func:`goal_coverage` is its success measure. The
``lerobot/pusht`` format (features, fps, robot type, task string) is shared by every PushT dataset
of the project: the scripted demonstrations (:mod:`vla0_smol.pusht.demos`) and the converted human
demonstrations (:mod:`vla0_smol.pusht.human`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

# --- The lerobot/pusht format (meta/info.json of the hub dataset, images stored as PNG frames) ---
PUSHT_TASK = "Push the T-shaped block onto the T-shaped target."
PUSHT_FPS = 10
PUSHT_ROBOT_TYPE = "unknown"  # what lerobot/pusht's meta/info.json declares
PUSHT_FEATURES = {
    "observation.image": {"dtype": "image", "shape": (96, 96, 3), "names": ["height", "width", "channel"]},
    "observation.state": {"dtype": "float32", "shape": (2,), "names": {"motors": ["motor_0", "motor_1"]}},
    "action": {"dtype": "float32", "shape": (2,), "names": {"motors": ["motor_0", "motor_1"]}},
    "next.reward": {"dtype": "float32", "shape": (1,), "names": None},
    "next.done": {"dtype": "bool", "shape": (1,), "names": None},
    "next.success": {"dtype": "bool", "shape": (1,), "names": None},
}
SUCCESS_COVERAGE = 0.95  # gym-pusht's success threshold on the goal coverage

# T outline in the block frame, counter-clockwise (gym-pusht's two 120x30 / 30x90 boxes); (8, 2).
TEE_OUTLINE = np.array([(-60, 0), (60, 0), (60, 30), (15, 30), (15, 120), (-15, 120), (-15, 30), (-60, 30)], float)
GOAL_POSE = (256.0, 256.0, math.pi / 4)  # x, y, angle of the target T


def tee_corners(pose) -> np.ndarray:
    """World coordinates (8, 2) of the T outline at ``pose`` = (x, y, angle) of the block frame."""
    x, y, a = float(pose[0]), float(pose[1]), float(pose[2])
    c, s = math.cos(a), math.sin(a)
    rot = np.array([[c, -s], [s, c]])
    return TEE_OUTLINE @ rot.T + (x, y)


def goal_coverage(block_pose) -> float:
    """Fraction of the goal T covered by the block at ``block_pose``, as gym-pusht computes it."""
    import shapely.geometry as sg

    goal = sg.Polygon(tee_corners(GOAL_POSE))
    return goal.intersection(sg.Polygon(tee_corners(block_pose))).area / goal.area


def create_pusht_dataset(root: str | Path, repo_id: str, image_writer_threads: int = 2):
    """An empty local LeRobotDataset with ``lerobot/pusht``'s features, ready for ``add_frame``.

    Args:
        root: folder to create; it must not exist yet.
        repo_id: the dataset's name, e.g. ``"local/pusht_human"`` (nothing is uploaded).
        image_writer_threads: threads encoding the PNG frames while the caller goes on.
    """
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    if not isinstance(repo_id, str) or not repo_id.strip():
        raise ValueError(f"repo_id must be a non-empty string such as 'local/pusht', got {repo_id!r}")
    root = Path(root)
    if root.exists():
        raise FileExistsError(f"root {str(root)!r} already exists; LeRobot writes a dataset into a new folder")
    return LeRobotDataset.create(
        repo_id,
        fps=PUSHT_FPS,
        root=root,
        robot_type=PUSHT_ROBOT_TYPE,
        features=PUSHT_FEATURES,
        use_videos=False,
        image_writer_threads=image_writer_threads,
    )
