"""SO100/SO101 profiles: the blog's recipe adapted to the arm, at three sizes (only sizes change).

* **Data.** ``full``: ``lerobot/svla_so100_pickplace``, the SO100 pick-and-place dataset LeRobot
  released with SmolVLA (30 fps, 6-D joint positions: five joints in degrees and the gripper in
  0..100, as LeRobot's ``SO100Follower`` reads and commands them). ``smoke`` / ``cpu``: a dataset of
  the same shape recorded here on the simulated arm (:mod:`vla0_smol.so100.dataset`), a scripted
  joint-space reach-and-close motion seen by video-file cameras: pipeline-test data, not
  demonstrations.
* **Settings adapted from the blog** (PushT, LIBERO) to the arm: actions are the 6-D **absolute**
  joint targets the arm's position controller takes (LeRobot records what was commanded), state
  tokens on, whole-action masking, chunks of 10 actions executed 5 at a time at the data's 30 fps
  (1/3 s predicted, 1/6 s executed per chunk), a random crop of 90 % of each camera frame
  (the blog's 84/96 and 230/256) sized from the dataset's own camera shapes
  (:func:`vla0_smol.so100.pipeline.policy_fields`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..configuration_vla0_smol import REAL_VLM
from .dataset import DEFAULT_CAMERAS, LOCAL_TASK, SO100_FPS

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
    "n_action_steps": 5,  # a new chunk every 1/6 s (asynchronous inference in so100/deploy.py)
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
