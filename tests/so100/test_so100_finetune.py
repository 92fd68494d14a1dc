"""Fine-tuning a converted checkpoint of another robot (the authors' LIBERO format) on an SO100 dataset (issue #18).

LeRobot's ``make_policy`` (what ``lerobot-train --policy.path=... --dataset.repo_id=...`` calls)
keeps the checkpoint's input features, takes the output features from the dataset and passes the
dataset's stats and metadata to ``from_pretrained``. A checkpoint of another embodiment (7-D
actions, 8-D state, LIBERO's cameras) then loads its VLM weights and re-initialises the ranges and
features from the dataset; one of the same embodiment keeps its own ranges bit for bit.
"""

from __future__ import annotations

import dataclasses
import logging

import pytest
import torch
from lerobot.configs import FeatureType, PolicyFeature
from lerobot.configs.policies import PreTrainedConfig
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from lerobot.policies.factory import make_policy
from safetensors.torch import load_file
from vla0_checkpoints import fabricate_vla0_checkpoint

from vla0_smol import VLA0SmolPolicy
from vla0_smol.convert import convert_vla0_checkpoint
from vla0_smol.so100.dataset import record_so100_dataset
from vla0_smol.so100.pipeline import final_loss, so100_checkpoint, train_so100
from vla0_smol.so100.profiles import so100_profile
from vla0_smol.training import load_checkpoint

CAMERAS = {"front": (96, 96), "wrist": (96, 96)}  # the fabricated checkpoint's crop (86) fits
RENAME = {
    "observation.images.front": "observation.images.image",
    "observation.images.wrist": "observation.images.image2",
}


@pytest.fixture(scope="module")
def so100(tmp_path_factory):
    root = tmp_path_factory.mktemp("so100") / "ds"
    record_so100_dataset(root, "local/so100_ft", episodes=1, frames=12, cameras=CAMERAS)
    return LeRobotDataset("local/so100_ft", root=root)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Converted checkpoints: LIBERO's shapes (7-D action, 8-D state), and an SO100 arm's (6, 6)."""
    base = tmp_path_factory.mktemp("ckpt")
    out = {}
    for name, dims in (("libero", {}), ("so100", {"state_dim": 6, "action_dim": 6})):
        src = fabricate_vla0_checkpoint(base / f"{name}_theirs", **dims)
        out[name] = convert_vla0_checkpoint(src, base / name)
    return out


def lerobot_make_policy(path, meta, rename_map=None):
    """What lerobot-train does with --policy.path=path --dataset.repo_id=<meta's>."""
    cfg = PreTrainedConfig.from_pretrained(path)
    cfg.pretrained_path = path
    cfg.device = "cpu"
    return make_policy(cfg, ds_meta=meta, rename_map=rename_map)


def test_libero_checkpoint_fine_tunes_on_an_so100_dataset(checkpoints, so100, caplog):
    path = checkpoints["libero"]
    with caplog.at_level(logging.WARNING, logger="vla0_smol.modeling_vla0_smol"):
        policy = lerobot_make_policy(path, so100.meta)
    cfg = policy.config
    assert cfg.action_dim == 6 and cfg.robot_state_feature.shape == (6,)
    assert cfg.image_keys == ["observation.images.front", "observation.images.wrist"]
    stats = so100.meta.stats
    for buf, key in (("action", "action"), ("state", "observation.state")):
        for stat in ("min", "max"):
            want = torch.as_tensor(stats[key][stat], dtype=torch.float32)
            assert torch.equal(getattr(policy, f"{buf}_{stat}"), want), (buf, stat)
    ours = policy.state_dict()
    for key, value in load_file(str(path / "model.safetensors")).items():
        if key.startswith("vlm."):
            assert torch.equal(ours[key], value), key  # the VLM is the checkpoint's
    lines = [r.getMessage() for r in caplog.records if "re-initialised" in r.getMessage()]
    assert len(lines) == 1, caplog.text
    assert "7-D actions" in lines[0] and "6-D actions" in lines[0] and "8-D state" in lines[0]

    frames = [so100[i] for i in range(2)]
    batch = {k: torch.stack([f[k] for f in frames]) for k in frames[0] if torch.is_tensor(frames[0][k])}
    batch["task"] = [f["task"] for f in frames]
    chunk = cfg.chunk_size
    batch["action"] = batch["action"][:, None].expand(-1, chunk, -1).contiguous()
    policy.train()
    loss, _ = policy.forward(batch)
    assert torch.isfinite(loss)


def test_same_robot_checkpoint_keeps_its_ranges_bit_exact(checkpoints, so100, caplog):
    path = checkpoints["so100"]
    saved = load_file(str(path / "model.safetensors"))
    with caplog.at_level(logging.WARNING, logger="vla0_smol.modeling_vla0_smol"):
        policy = lerobot_make_policy(path, so100.meta, rename_map=RENAME)
    stats = so100.meta.stats
    for name in ("action_min", "action_max", "state_min", "state_max"):
        assert torch.equal(getattr(policy, name), saved[name]), name
        key = "action" if name.startswith("action") else "observation.state"
        dataset = torch.as_tensor(stats[key][name.split("_")[1]], dtype=torch.float32)
        assert not torch.equal(saved[name], dataset)  # the test means something: the dataset's differ
    assert policy.config.image_keys == ["observation.images.image", "observation.images.image2"]
    assert "re-initialised" not in caplog.text


def test_other_robot_checkpoint_without_dataset_stats_names_the_field(checkpoints):
    path = checkpoints["libero"]
    cfg = PreTrainedConfig.from_pretrained(path)
    cfg.output_features = {"action": PolicyFeature(FeatureType.ACTION, (6,))}  # the dataset's, no stats
    with pytest.raises(ValueError, match=r"'action'.*7-D.*6-D.*dataset_stats"):
        VLA0SmolPolicy.from_pretrained(path, config=cfg)


def test_recipe_fine_tunes_a_libero_checkpoint_through_lerobot_train(checkpoints, so100, tmp_path, capsys):
    """The so100_deploy recipe's ``checkpoint`` of another robot: ``lerobot-train --policy.path``, 2 steps."""
    libero = checkpoints["libero"]
    assert not so100_checkpoint(libero) and so100_checkpoint(checkpoints["so100"])
    profile = dataclasses.replace(so100_profile("smoke"), steps=2, batch_size=2, save_freq=2)
    dataset = ("local/so100_ft", so100.root)
    ckpt = train_so100(profile, tmp_path, dataset, init=libero, wandb="disabled")
    err = capsys.readouterr().err  # LeRobot's console log (lerobot-train replaces the logging handlers)
    assert "7-D actions" in err and "re-initialised" in err
    assert so100_checkpoint(ckpt)
    policy = load_checkpoint(ckpt)
    assert policy.config.image_keys == ["observation.images.front", "observation.images.wrist"]
    assert policy.config.chunk_size == profile.policy["chunk_size"] and policy.config.binning == "vla0"
    want = torch.as_tensor(so100.meta.stats["action"]["max"], dtype=torch.float32)
    assert torch.equal(policy.action_max, want)
    assert final_loss(ckpt) is not None
