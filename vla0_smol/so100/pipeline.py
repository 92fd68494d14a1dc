"""SO100 data and training: the profile's dataset (recorded on the simulated arm if local), ``lerobot-train``.

The run is LeRobot's own ``lerobot-train`` (:mod:`vla0_smol.training`), resumable; identical
settings share one run folder.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..datasets import build_once
from ..training import profile_spec, read_metrics, run_lerobot_train
from .dataset import LOCAL_TASK, dataset_info, record_so100_dataset
from .profiles import SO100Profile


def so100_dataset(profile: SO100Profile, data_dir: Path = Path("data"), seed: int = 0) -> tuple[str, Path | None]:
    """``(repo_id, root)`` of the profile's training data (recorded on the simulated arm if local)."""
    if not profile.dataset_repo_id.startswith("local/"):
        return profile.dataset_repo_id, None  # LeRobot downloads it (needs the hub)
    root = Path(data_dir) / f"so100_sim_n{profile.record_episodes}_f{profile.record_frames}_s{seed}"
    repo_id = f"local/{root.name}"
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


def so100_checkpoint(checkpoint: Path) -> bool:
    """Whether a ``vla0_smol`` checkpoint drives an SO100 arm (6-D state and action), from its ``config.json``."""
    config = json.loads((Path(checkpoint) / "config.json").read_text())
    action = config["output_features"].get("action", {}).get("shape")
    state = config["input_features"].get("observation.state", {}).get("shape")
    return action == [6] and state == [6]


def train_so100(
    profile: SO100Profile,
    results_dir: Path,
    dataset,
    seed: int = 0,
    wandb: str = "offline",
    init: Path | None = None,
) -> Path:
    """Fine-tune with ``lerobot-train`` (resumable); return the last checkpoint's ``pretrained_model``.

    ``init``: a checkpoint to start from (``--policy.path``), e.g. the authors' LIBERO model
    converted; its VLM weights are kept, its ranges and features taken from the dataset when it
    was trained on another robot. None: the profile's backbone.
    """
    repo_id, root = dataset
    policy = policy_fields(profile, dataset_info(repo_id, root), seed)
    if init is not None:  # the architecture and weights are the checkpoint's
        policy = {k: v for k, v in policy.items() if k not in ("vlm_model_name", "load_vlm_weights")}
    run = {"data": repo_id, "policy": policy, "steps": profile.steps}
    if init is not None:
        run["init"] = str(Path(init).resolve())
    key = json.dumps(run, sort_keys=True, default=str)
    run_dir = Path(results_dir) / "runs" / f"so100_{hashlib.sha1(key.encode()).hexdigest()[:12]}"
    spec = profile_spec(profile, run_dir, dataset, seed, wandb, policy=policy)
    spec.policy_path = Path(init) if init is not None else None
    return run_lerobot_train(spec)


def final_loss(checkpoint: Path) -> float | None:
    """The last logged training loss of a checkpoint's run (None if nothing was logged)."""
    rows = read_metrics(Path(checkpoint).parents[2])
    return rows[-1]["loss"] if rows else None
