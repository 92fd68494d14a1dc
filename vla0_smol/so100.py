"""SO100/SO101: fine-tuning data, training, and deploying the result on an arm (simulated by default).

What the ``so100_deploy`` recipe needs beyond :mod:`vla0_smol.deploy` (the control loop) and
:mod:`vla0_smol.so100_sim` (the arm without hardware):

* **Data.** ``full``: ``lerobot/svla_so100_pickplace``, the SO100 pick-and-place dataset LeRobot
  released with SmolVLA (30 fps, 6-D joint positions: five joints in degrees and the gripper in
  0..100, as LeRobot's ``SO100Follower`` reads and commands them). ``smoke`` / ``cpu``: a dataset of
  the same shape recorded here on the simulated arm (:mod:`vla0_smol.so100_data`), a scripted
  joint-space reach-and-close motion seen by video-file cameras: pipeline-test data, not
  demonstrations.
* **Settings adapted from the blog** (PushT, LIBERO) to the arm: actions are the 6-D **absolute**
  joint targets the arm's position controller takes (LeRobot records what was commanded), state
  tokens on, whole-action masking, chunks of 10 actions executed 5 at a time at the data's 30 fps
  (1/3 s predicted, 1/6 s executed per chunk), a random crop of 90 % of each camera frame
  (the blog's 84/96 and 230/256) sized from the dataset's own camera shapes.
* **Deployment helpers**: connect a simulated or real arm, read its calibration, stop it, and
  reload the episode the control loop recorded.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .configuration_vla0_smol import REAL_VLM
from .datasets import build_once
from .deploy import joint_limits
from .so100_data import DEFAULT_CAMERAS, LOCAL_TASK, SO100_FPS, dataset_info
from .training import profile_spec, read_metrics, run_lerobot_train

SO100_DATASET = "lerobot/svla_so100_pickplace"


@dataclass(frozen=True)
class SO100Profile:
    """Sizes of one SO100 fine-tune-and-deploy run (only sizes change between profiles).

    Attributes:
        name: "smoke", "cpu" or "full".
        dataset_repo_id: LeRobot dataset (``lerobot/svla_so100_pickplace`` for ``full``; local else).
        record_episodes / record_frames / record_cameras: the dataset recorded on the simulated arm
            when ``dataset_repo_id`` is local (cameras: name -> (height, width)).
        fps: the dataset's frame rate (recording and control rate).
        steps / batch_size / save_freq: training.
        crop_fraction: random-crop side as a fraction of each camera's (centre crop at inference).
        deploy_fps / deploy_steps: the control loop (the tiny preset on a laptop CPU cannot keep 30 fps).
        max_relative_target: LeRobot's per-step clamp on the commanded joints (degrees).
        task: the instruction (None: the dataset's first task).
        policy: ``VLA0SmolConfig`` fields.
    """

    name: str
    dataset_repo_id: str
    record_episodes: int
    record_frames: int
    record_cameras: dict
    fps: int
    steps: int
    batch_size: int
    save_freq: int
    crop_fraction: float
    deploy_fps: float
    deploy_steps: int
    max_relative_target: float
    task: str | None
    policy: dict = field(default_factory=dict)

    @property
    def device(self) -> str:
        return self.policy.get("device", "cuda")

    def to_dict(self) -> dict:
        return asdict(self)


_SO100_POLICY = {
    "chunk_size": 10,  # 1/3 s at 30 fps
    "n_action_steps": 5,  # a new chunk every 1/6 s (asynchronous inference in deploy.py)
    "execution": "chunk",
    "relative_actions": False,  # absolute joint targets, as the position controller takes them
    "use_state": True,
    "masking": "whole",
}
_TINY = {
    "vlm_model_name": "tiny",
    "device": "cpu",
    "optimizer_lr": 1e-3,
    "scheduler_decay_lr": 1e-4,
    "default_task": LOCAL_TASK,
}

SO100_PROFILES = {
    "smoke": SO100Profile(
        name="smoke",
        dataset_repo_id="local/so100_sim",
        record_episodes=2,
        record_frames=20,
        record_cameras=DEFAULT_CAMERAS,
        fps=SO100_FPS,
        steps=4,
        batch_size=4,
        save_freq=4,
        crop_fraction=0.9,
        deploy_fps=10.0,
        deploy_steps=20,
        max_relative_target=10.0,
        task=LOCAL_TASK,
        policy={**_SO100_POLICY, **_TINY, "scheduler_warmup_steps": 2, "scheduler_decay_steps": 4},
    ),
    "cpu": SO100Profile(
        name="cpu",
        dataset_repo_id="local/so100_sim",
        record_episodes=20,
        record_frames=90,
        record_cameras=DEFAULT_CAMERAS,
        fps=SO100_FPS,
        steps=600,
        batch_size=16,
        save_freq=200,
        crop_fraction=0.9,
        deploy_fps=10.0,
        deploy_steps=150,
        max_relative_target=10.0,
        task=LOCAL_TASK,
        policy={**_SO100_POLICY, **_TINY, "scheduler_warmup_steps": 30, "scheduler_decay_steps": 600},
    ),
    "full": SO100Profile(
        name="full",
        dataset_repo_id=SO100_DATASET,
        record_episodes=0,
        record_frames=0,
        record_cameras={},
        fps=SO100_FPS,
        steps=30_000,
        batch_size=32,
        save_freq=5_000,
        crop_fraction=0.9,
        deploy_fps=float(SO100_FPS),
        deploy_steps=600,  # 20 s
        max_relative_target=10.0,
        task=None,
        policy={
            **_SO100_POLICY,
            "vlm_model_name": REAL_VLM,
            "dtype": "bfloat16",
            "device": "cuda",
            "optimizer_lr": 5e-5,
            "scheduler_decay_lr": 5e-6,
            "scheduler_warmup_steps": 1_000,
            "scheduler_decay_steps": 30_000,
        },
    ),
}


def so100_profile(name: str) -> SO100Profile:
    if name not in SO100_PROFILES:
        raise ValueError(f"SO100 profile must be one of {tuple(SO100_PROFILES)}, got {name!r}")
    return SO100_PROFILES[name]


# ----------------------------------------------------------------------------- data
def so100_dataset(profile: SO100Profile, data_dir: Path = Path("data"), seed: int = 0) -> tuple[str, Path | None]:
    """``(repo_id, root)`` of the profile's training data (recorded on the simulated arm if local)."""
    if not profile.dataset_repo_id.startswith("local/"):
        return profile.dataset_repo_id, None  # LeRobot downloads it (needs the hub)
    root = Path(data_dir) / f"so100_sim_n{profile.record_episodes}_f{profile.record_frames}_s{seed}"
    repo_id = f"local/{root.name}"
    from .so100_data import record_so100_dataset

    build_once(
        root,
        lambda tmp: record_so100_dataset(
            tmp,
            repo_id,
            episodes=profile.record_episodes,
            frames=profile.record_frames,
            cameras=profile.record_cameras,
            fps=profile.fps,
            task=profile.task or LOCAL_TASK,
            seed=seed,
        ),
    )
    return repo_id, root


def policy_fields(profile: SO100Profile, info: dict, seed: int = 0) -> dict:
    """The profile's policy fields, with the crop sized from the dataset's smallest camera."""
    h = min(s[0] for s in info["cameras"].values())
    w = min(s[1] for s in info["cameras"].values())
    crop = (int(profile.crop_fraction * h), int(profile.crop_fraction * w))
    return {"seed": seed, **profile.policy, "crop_shape": crop, "default_task": profile.task or info["task"]}


def train_so100(profile: SO100Profile, results_dir: Path, dataset, seed: int = 0, wandb: str = "offline") -> Path:
    """Fine-tune with ``lerobot-train`` (resumable); return the last checkpoint's ``pretrained_model``."""
    repo_id, root = dataset
    policy = policy_fields(profile, dataset_info(repo_id, root), seed)
    key = json.dumps({"data": repo_id, "policy": policy, "steps": profile.steps}, sort_keys=True, default=str)
    run_dir = Path(results_dir) / "runs" / f"so100_{hashlib.sha1(key.encode()).hexdigest()[:12]}"
    spec = profile_spec(profile, run_dir, dataset, seed, wandb, policy=policy)
    return run_lerobot_train(spec)


def final_loss(checkpoint: Path) -> float | None:
    """The last logged training loss of a checkpoint's run (None if nothing was logged)."""
    rows = read_metrics(Path(checkpoint).parents[2])
    return rows[-1]["loss"] if rows else None


# ----------------------------------------------------------------------------- deployment
def load_policy(checkpoint: Path, device: str = "cpu", **overrides):
    """A trained policy ready for :func:`vla0_smol.deploy.run_policy` (``overrides``: inference fields)."""
    from .training import load_checkpoint

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

    def stop(self) -> dict:
        """Disconnect (LeRobot disables torque on every servo); returns what the servos report."""
        torque = None
        if self.robot.is_connected:
            self.robot.disconnect()
        if self.sim is not None:
            torque = {str(k): v for k, v in self.sim.bus.torque_enabled().items()}
            self.sim.close()
        return {"connected": self.robot.is_connected, "torque_enabled": torque}


def connect_so100(
    robot: str = "sim",
    cameras: dict | None = None,
    fps: int = SO100_FPS,
    max_relative_target: float | None = 10.0,
    workdir: Path | None = None,
    port: str | None = None,
    robot_id: str | None = None,
) -> SO100Connection:
    """Connect an arm.

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
        from .so100_sim import SimulatedSO100

        work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="so100_sim_"))
        sim = SimulatedSO100(work, cameras=cameras, fps=fps, max_relative_target=max_relative_target)
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
    arm = SO100Follower(config)
    arm.connect(calibrate=False)  # refuses an uncalibrated arm: run lerobot-calibrate first
    return SO100Connection(arm, robot)


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
    """Reload the episode :func:`~vla0_smol.deploy.run_policy` recorded; compare it with the run's log."""
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
    rest of :meth:`~vla0_smol.deploy.DeployResult.summary` is under ``deploy``. ``extra`` (plot
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
