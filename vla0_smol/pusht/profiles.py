"""Profiles: the same PushT pipeline at three sizes.

* ``smoke``: tiny preset, a handful of demonstrations and steps; seconds (CI).
* ``cpu``: tiny preset, scripted-expert demonstrations, minutes on a laptop CPU (the embedded
  default, what ``make demo`` runs).
* ``full``: SmolVLM2-500M and ``lerobot/pusht`` on a GPU with the blog's settings.

Only sizes change between profiles, never code paths. Every result is labelled with the profile
that produced it: a tiny model's numbers are the tiny model's, not the blog's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from ..configuration_vla0_smol import REAL_VLM

PROFILES = ("smoke", "cpu", "full")


@dataclass(frozen=True)
class PushTProfile:
    """Sizes of one PushT run.

    Attributes:
        name: "smoke", "cpu" or "full".
        dataset: "expert" (scripted demonstrations made here), "human" (the original 206 human
            demonstrations, converted from a local zarr copy) or "hub" (``lerobot/pusht``).
        expert_episodes: demonstrations generated when ``dataset="expert"``.
        steps: training steps.
        batch_size: training batch.
        eval_episodes: evaluation episodes (the blog: 64).
        eval_batch: environments evaluated side by side.
        eval_max_steps: episode limit (gym-pusht: 300).
        save_freq: steps between checkpoints.
        device: "cpu" or "cuda".
        policy: ``VLA0SmolConfig`` fields of this profile.
        train_processes: training processes (data-parallel, ``batch_size`` split over them).
        train_threads: torch threads per training process (0: torch's default).
    """

    name: str
    dataset: str
    expert_episodes: int
    steps: int
    batch_size: int
    eval_episodes: int
    eval_batch: int
    eval_max_steps: int
    save_freq: int
    device: str
    policy: dict = field(default_factory=dict)
    train_processes: int = 1
    train_threads: int = 0

    def with_policy(self, **fields) -> PushTProfile:
        """This profile with some policy fields changed (an ablation arm)."""
        return replace(self, policy={**self.policy, **fields})

    def to_dict(self) -> dict:
        return asdict(self)


# PushT's settings of the blog (authors' config vla0.json): an 84 x 84 random crop of the 96 x 96
# frames, relative actions. The config's defaults leave both off (they depend on the dataset).
_PUSHT = {"crop_shape": (84, 84), "relative_actions": True}
# The tiny model learns from scratch: a larger learning rate and a short warm-up suit it.
_TINY = {
    **_PUSHT,
    "vlm_model_name": "tiny",
    "optimizer_lr": 1e-3,
    "scheduler_decay_lr": 1e-4,
    "scheduler_warmup_steps": 50,
    "device": "cpu",
}

PUSHT = {
    "smoke": PushTProfile(
        name="smoke",
        dataset="expert",
        expert_episodes=3,
        steps=6,
        batch_size=4,
        eval_episodes=2,
        eval_batch=2,
        eval_max_steps=20,
        save_freq=3,
        device="cpu",
        policy={**_TINY, "scheduler_decay_steps": 6},
    ),
    "cpu": PushTProfile(
        name="cpu",
        dataset="expert",
        expert_episodes=60,
        steps=1200,
        batch_size=32,
        eval_episodes=16,
        eval_batch=16,
        eval_max_steps=300,
        save_freq=400,
        device="cpu",
        policy={**_TINY, "scheduler_decay_steps": 1200},
        # Two single-threaded data-parallel processes of 16 samples: on 2 cores the step is faster
        # than one process with two threads (benchmarks/train_step.py); the step's batch stays 32.
        train_processes=2,
        train_threads=1,
    ),
    "full": PushTProfile(
        name="full",
        dataset="hub",
        expert_episodes=0,
        steps=30_000,
        batch_size=16,
        eval_episodes=64,
        eval_batch=16,
        eval_max_steps=300,
        save_freq=3_000,  # every checkpoint is evaluated; the authors evaluate every 3,000 steps
        device="cuda",
        policy={**_PUSHT, "vlm_model_name": REAL_VLM, "dtype": "bfloat16", "device": "cuda"},
    ),
}


def pusht_profile(name: str) -> PushTProfile:
    if name not in PUSHT:
        raise ValueError(f"profile must be one of {PROFILES}, got {name!r}")
    return PUSHT[name]


# `vla0-smol demo --long` (issue #27): the `cpu` profile trained three times as long and evaluated
# on 64 episodes, the run that has to show a success (the demo's 15 minutes are for coverage).
# 3,600 steps of batch 32 are about 55 minutes of training on an idle 2-core machine at the 0.9 s
# per step of benchmarks/train_step.py; six checkpoints, every one evaluated.
LONG_STEPS = 3600
LONG_EPISODES = 64


def long_profile(prof: PushTProfile, steps: int = LONG_STEPS, episodes: int = LONG_EPISODES) -> PushTProfile:
    """``prof`` (the `cpu` profile) trained ``steps`` steps, its schedule stretched, on ``episodes``."""
    if prof.name != "cpu":
        raise ValueError(f"--long extends the cpu profile, got profile {prof.name!r}")
    longer = replace(prof, steps=steps, save_freq=steps // 6, eval_episodes=episodes)
    return longer.with_policy(scheduler_decay_steps=steps)
