"""The PushT pipeline shared by ``make demo`` and the recipes: data -> train -> evaluate.

Every step caches its output on disk and is skipped when the output is already there, so an
interrupted run picks up where it stopped (training resumes from its last checkpoint).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..datasets import build_once
from ..training import profile_spec, run_lerobot_train
from .evaluation import EvalResult, PolicyController, evaluate_pusht
from .profiles import PushTProfile

HUB_DATASET = "lerobot/pusht"
PUSHT_WORKSPACE_STATS = {k: {"min": [0.0, 0.0], "max": [512.0, 512.0]} for k in ("observation.state", "action")}


def pusht_config(vlm_model_name: str = "tiny", **fields):
    """A ``VLA0SmolConfig`` shaped for PushT (96x96 image, 2-D state and action) on the CPU."""
    from lerobot.configs import FeatureType, PolicyFeature

    from ..configuration_vla0_smol import VLA0SmolConfig
    from .task import PUSHT_TASK

    fields = {"device": "cpu", "relative_actions": False, "crop_shape": (84, 84), "default_task": PUSHT_TASK, **fields}
    return VLA0SmolConfig(
        vlm_model_name=vlm_model_name,
        input_features={
            "observation.image": PolicyFeature(FeatureType.VISUAL, (3, 96, 96)),
            "observation.state": PolicyFeature(FeatureType.STATE, (2,)),
        },
        output_features={"action": PolicyFeature(FeatureType.ACTION, (2,))},
        **fields,
    )


def pusht_policy(vlm_model_name: str = "tiny", **fields):
    """A fresh (untrained) PushT-shaped policy whose ranges are the 512 x 512 workspace.

    For teaching, tests and benchmarks; trained policies come from :func:`train_pusht`.
    """
    from ..modeling_vla0_smol import VLA0SmolPolicy

    return VLA0SmolPolicy(pusht_config(vlm_model_name, **fields), dataset_stats=PUSHT_WORKSPACE_STATS)


class DatasetUnavailableError(RuntimeError):
    """A hub dataset could not be reached."""


def pusht_dataset(profile: PushTProfile, data_dir: Path, seed: int = 0, zarr_path: Path | None = None):
    """``(repo_id, root)`` of the profile's demonstrations, building them if needed.

    Args:
        profile: which data ("expert", "human" or "hub") and how much.
        data_dir: folder for locally built datasets (reused when present).
        seed: seed of the scripted expert's episodes.
        zarr_path: the original PushT zarr store (``dataset="human"`` only).
    """
    data_dir = Path(data_dir)
    if profile.dataset == "expert":
        from .demos import generate_dataset

        root = data_dir / f"pusht_expert_n{profile.expert_episodes}_s{seed}"
        repo_id = f"local/pusht_expert_n{profile.expert_episodes}_s{seed}"
        build_once(root, lambda tmp: generate_dataset(tmp, repo_id, profile.expert_episodes, seed=seed))
        return repo_id, root
    if profile.dataset == "human":
        from .human import convert_pusht_zarr

        if zarr_path is None:
            raise ValueError("dataset='human' needs zarr_path: the original pusht_cchi_v7_replay.zarr folder")
        root = build_once(data_dir / "pusht_human", lambda tmp: convert_pusht_zarr(zarr_path, tmp, "local/pusht_human"))
        return "local/pusht_human", root
    if profile.dataset == "hub":
        check_hub_dataset(HUB_DATASET)
        return HUB_DATASET, None
    raise ValueError(f"profile.dataset must be 'expert', 'human' or 'hub', got {profile.dataset!r}")


def check_hub_dataset(repo_id: str) -> None:
    """Fail fast, with the way out, when a hub dataset cannot be reached."""
    from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata

    try:
        LeRobotDatasetMetadata(repo_id)
    except Exception as err:  # noqa: BLE001 - any failure here means "not reachable"
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        raise DatasetUnavailableError(
            f"could not download the dataset {repo_id!r} from the Hugging Face hub "
            f"({'HF_HUB_OFFLINE=1 is set' if offline else type(err).__name__}). The 'full' profile needs the "
            "hub; offline, use profile 'cpu' or 'smoke' (scripted-expert demonstrations and the tiny preset)."
        ) from err


def run_dir_for(profile: PushTProfile, results_dir: Path, seed: int) -> Path:
    """The training folder of a profile's settings: identical settings share one run."""
    key = json.dumps({"policy": profile.policy, "seed": seed, "steps": profile.steps}, sort_keys=True)
    return Path(results_dir) / "runs" / hashlib.sha1(key.encode()).hexdigest()[:12]


def train_pusht(
    profile: PushTProfile, run_dir: Path, dataset, seed: int = 0, wandb: str = "offline", quiet: bool = True
) -> Path:
    """Train the policy of a profile on ``dataset = (repo_id, root)``; return the checkpoint."""
    spec = profile_spec(profile, run_dir, dataset, seed, wandb, quiet=quiet)
    return run_lerobot_train(spec)


def evaluate_checkpoint(
    checkpoint: Path,
    profile: PushTProfile,
    seed: int = 0,
    video_dir: Path | None = None,
    progress: bool = True,
    keep_frames: int = 0,
    **overrides,
) -> EvalResult:
    """Evaluate a checkpoint on the profile's seeded episodes (inference ``overrides`` allowed).

    ``keep_frames``: the first episodes whose 96 px observations are kept (``EvalResult.frames``).
    """
    controller = PolicyController.from_checkpoint(checkpoint, device=profile.device, **overrides)
    result = evaluate_pusht(
        controller,
        n_episodes=profile.eval_episodes,
        seed=seed,
        batch_size=profile.eval_batch,
        max_steps=profile.eval_max_steps,
        video_dir=video_dir,
        progress=progress,
        desc="eval policy",
        keep_frames=keep_frames,
    )
    policy = controller.policy
    result.extra["invalid_chunks"] = policy.invalid_chunks
    result.extra["config"] = json.loads(json.dumps(policy.config.__dict__, default=str))
    return result
