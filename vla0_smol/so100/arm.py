"""Deploying on an SO100/SO101 arm: the trained policy, a connected arm (simulated or real), its review.

The control loop itself is :mod:`vla0_smol.so100.deploy`; the arm without hardware is
:mod:`vla0_smol.so100.sim`. Here: load the policy for the loop, connect a simulated or real arm,
read its calibration, stop it, reload the episode the control loop recorded, and the recipe's summary.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .dataset import SO100_FPS
from .deploy import joint_limits
from .pipeline import final_loss
from .profiles import SO100Profile


def load_policy(checkpoint: Path, device: str = "cpu", **overrides):
    """A trained policy ready for :func:`vla0_smol.so100.deploy.run_policy` (``overrides``: inference fields)."""
    from ..training import load_checkpoint

    return load_checkpoint(checkpoint, device, **overrides)


def camera_shapes(policy) -> dict[str, tuple[int, int]]:
    """``{camera name: (height, width)}`` the policy was trained on (``observation.images.<name>``)."""
    return {k.removeprefix("observation.images."): tuple(f.shape[1:]) for k, f in policy.config.image_features.items()}


@dataclass
class SO100Connection:
    """A connected arm: ``robot`` (LeRobot's ``SO100Follower``) and, when simulated, its ``sim``."""

    robot: object
    kind: str  # "sim" or the LeRobot robot type of a real arm
    sim: object | None = None
    port: str | None = None  # real arm

    def connect(self) -> SO100Connection:
        """Connect the bus and cameras; LeRobot then configures the servos and **enables torque**.

        ``calibrate=False``: an arm without a calibration file is not calibrated here (interactively)
        but refused by :func:`vla0_smol.so100.preflight.preflight` before this call.
        """
        if not self.robot.is_connected:
            self.robot.connect(calibrate=False)
        return self

    def stop(self) -> dict:
        """Disconnect (LeRobot disables torque on every servo); returns what the servos report."""
        torque = None
        if self.robot.is_connected:
            self.robot.disconnect()
        if self.sim is not None:
            torque = {str(k): v for k, v in self.sim.bus.torque_enabled().items()}
            self.sim.close()
        return {"connected": self.robot.is_connected, "torque_enabled": torque}


def connect_so100(robot: str = "sim", **kwargs) -> SO100Connection:
    """Connect an arm (torque on): :func:`make_so100` ``(robot, **kwargs)``, then ``.connect()``."""
    return make_so100(robot, **kwargs).connect()


def make_so100(
    robot: str = "sim",
    cameras: dict | None = None,
    fps: int = SO100_FPS,
    max_relative_target: float | None = 10.0,
    workdir: Path | None = None,
    port: str | None = None,
    robot_id: str | None = None,
) -> SO100Connection:
    """An arm, not yet connected: nothing is written to the servos (torque untouched) until ``.connect()``.

    Args:
        robot: "sim" (LeRobot's ``SO100Follower`` on an emulated Feetech bus, cameras reading
            generated videos) or "so100_follower" / "so101_follower" (a real arm).
        cameras: "sim": name -> (height, width); real arm: name -> ``(index_or_path, (height, width))``
            of an OpenCV camera. Names must be the policy's (``observation.images.<name>``).
        fps: camera frame rate.
        max_relative_target: LeRobot's per-step clamp (degrees; None: off, not advised).
        workdir: "sim": where its calibration file and videos go (a temporary folder if None).
        port: real arm: serial port (``lerobot-find-port``).
        robot_id: real arm: the id its calibration was saved under (``lerobot-calibrate``).
    """
    if robot == "sim":
        from .sim import SimulatedSO100

        work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="so100_sim_"))
        sim = SimulatedSO100(work, cameras=cameras, fps=fps, max_relative_target=max_relative_target, connect=False)
        return SO100Connection(sim.robot, "sim", sim)
    if robot not in ("so100_follower", "so101_follower"):
        raise ValueError(f"robot must be 'sim', 'so100_follower' or 'so101_follower', got {robot!r}")
    if not port or not robot_id:
        raise ValueError("a real arm needs port= (lerobot-find-port) and robot_id= (its calibration id)")
    from lerobot.cameras.opencv import OpenCVCameraConfig
    from lerobot.robots.so_follower import SO100Follower, SO100FollowerConfig

    cams = {
        name: OpenCVCameraConfig(index_or_path=src, fps=fps, width=hw[1], height=hw[0])
        for name, (src, hw) in (cameras or {}).items()
    }
    config = SO100FollowerConfig(port=port, id=robot_id, cameras=cams, max_relative_target=max_relative_target)
    return SO100Connection(SO100Follower(config), robot, port=port)


def calibration_table(robot) -> list[dict]:
    """Per motor: id, calibrated raw range and the joint limits in action units the control loop enforces."""
    names, limits = joint_limits(robot)
    cal = robot.bus.calibration
    return [
        {
            "motor": m,
            "id": cal[m].id,
            "range_raw": [cal[m].range_min, cal[m].range_max],
            "homing_offset": cal[m].homing_offset,
            "limits": [round(float(limits[0, i]), 2), round(float(limits[1, i]), 2)],
            "unit": "0..100" if m == "gripper" else "degrees",
        }
        for i, m in enumerate(names)
    ]


def review_recording(root: Path, result=None, repo_id: str = "local/so100_eval") -> dict:
    """Reload the episode :func:`~vla0_smol.so100.deploy.run_policy` recorded; compare it with the run's log."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ds = LeRobotDataset(repo_id, root=root)
    columns = ds.hf_dataset.select_columns(["action", "predicted_action"])[:]  # no image decoding
    actions = np.stack([np.asarray(a) for a in columns["action"]])  # (T, 6)
    predicted = np.stack([np.asarray(a) for a in columns["predicted_action"]])  # (T, 6), 0 where held
    out = {
        "root": str(root),
        "episodes": ds.num_episodes,
        "frames": len(ds),
        "fps": ds.fps,
        "features": sorted(ds.features),
        "tasks": list(map(str, ds.meta.tasks.index)),
    }
    if result is not None:  # the recording is the run: executed and predicted actions, frame by frame
        out["max_abs_diff_action_vs_executed"] = float(np.abs(actions - result.executed).max())
        logged = np.nan_to_num(result.predicted, nan=0.0)
        out["max_abs_diff_predicted_vs_log"] = float(np.abs(predicted - logged).max())
    return out


def deploy_summary(
    profile: SO100Profile,
    connection: SO100Connection,
    dataset: tuple[str, Path | None],
    task: str,
    policy,
    checkpoint: Path,
    calibration: list[dict],
    result,
    stop: dict,
    review: dict,
    **extra,
) -> dict:
    """The recipe's ``so100_deploy.json``: settings, training, calibration, the run's counters and review.

    ``steps``, ``clamp_activations`` and ``watchdog_holds`` are repeated at the top level; the
    rest of :meth:`~vla0_smol.so100.deploy.DeployResult.summary` is under ``deploy``. ``extra`` (plot
    path, wall times, ...) is added as it is.
    """
    repo_id, root = dataset
    return {
        "recipe": "so100_deploy",
        "profile": profile.name,
        "robot": connection.kind,
        "model": profile.policy.get("vlm_model_name"),
        "dataset": repo_id,
        "dataset_root": None if root is None else str(root),
        "task": task,
        "profile_settings": profile.to_dict(),
        "resolved_config": json.loads(json.dumps(policy.config.__dict__, default=str)),
        "train": {"steps": profile.steps, "checkpoint": str(checkpoint), "final_loss": final_loss(checkpoint)},
        "calibration": calibration,
        "steps": result.steps,
        "clamp_activations": result.clamp_activations,
        "watchdog_holds": result.watchdog_holds,
        "deploy": result.summary(),
        "stop": stop,
        "review": review,
        **extra,
    }
