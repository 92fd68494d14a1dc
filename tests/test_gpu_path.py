"""What a GPU user runs, checked on the CPU: mixed precision, devices, per-rank randomness, inputs.

The end-to-end rehearsals through LeRobot's command lines are in ``test_rehearsal.py``.
"""

import pytest
import torch
from lerobot.configs import FeatureType, PolicyFeature
from testkit import PUSHT_STATS, PUSHT_TASK, make_policy, pusht_batch, pusht_config, synthetic_pusht_dataset

import vla0_smol.modeling_vla0_smol as modeling
from vla0_smol import VLA0SmolConfig, VLA0SmolPolicy


def test_bf16_autocast_trains_and_decodes():
    """``policy.dtype=bfloat16`` makes lerobot-train run the forward under bf16 autocast.

    The connector then returns bf16 image features that transformers' ``inputs_merger`` writes
    into the float32 embeddings; without the cast this raised "Index put requires the source and
    destination dtypes match" on the first step.
    """
    policy = make_policy(seed=0, crop_shape=None)
    policy.train()
    batch = pusht_batch(2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = policy.forward(batch)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in policy.parameters())
    policy.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        chunk = policy.predict_action_chunk(batch)
    assert chunk.shape == (2, 10, 2) and torch.isfinite(chunk).all()


def test_no_float64_tensor_so_the_policy_moves_to_mps():
    """Apple's MPS has no float64: every parameter and buffer must be a dtype it supports."""
    policy = make_policy(seed=0)
    dtypes = {t.dtype for t in [*policy.parameters(), *policy.buffers()]}
    assert torch.float64 not in dtypes, dtypes
    # a checkpoint written with float64 ranges (before this change) still loads, values intact
    state = {k: (v.double() if k.endswith(("_min", "_max")) else v) for k, v in policy.state_dict().items()}
    fresh = make_policy(seed=1)
    fresh.load_state_dict(state)
    assert fresh.action_max.dtype == torch.float32
    torch.testing.assert_close(fresh.action_max, policy.action_max)


def _augmentation(policy, batch):
    """The crops and masked input ids of one training forward."""
    crops, ids = [], []
    real_crop, real_build = policy._crop, policy.prompts.build
    policy._crop = lambda img, key: crops.append(real_crop(img, key)) or crops[-1]
    policy.prompts.build = lambda *a, **k: ids.append(a[2]) or real_build(*a, **k)
    policy.forward(batch)
    return torch.cat(crops), ids


def test_each_rank_draws_its_own_crops_and_masks(monkeypatch):
    """Under DDP every rank must not augment its (different) samples identically."""
    batch = pusht_batch(8)
    runs = {}
    for rank in (0, 1, 0):
        monkeypatch.setattr(modeling, "process_rank", lambda rank=rank: rank)
        policy = make_policy(seed=0, crop_shape=[80, 80], mask_max_fraction=1.0, mask_skip_prob=0.0).train()
        runs.setdefault(rank, []).append(_augmentation(policy, batch))
    (crops0, ids0), (again0, again_ids0) = runs[0]
    crops1, ids1 = runs[1][0]
    assert torch.equal(crops0, again0) and all(torch.equal(a, b) for a, b in zip(ids0, again_ids0))
    assert not torch.equal(crops0, crops1)
    assert not all(a.shape == b.shape and torch.equal(a, b) for a, b in zip(ids0, ids1))


def test_rank_comes_from_torch_distributed(monkeypatch):
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_rank", lambda: 3)
    assert modeling.process_rank() == 3


# ----------------------------------------------------------------- observations vs trained features
def test_frames_at_another_resolution_show_the_trained_view():
    """LeRobot renders LIBERO at 360 px, its dataset is 256 px: the crop must keep the trained view.

    Here: trained on 96 px frames with an 84 px centre crop; the same scene rendered at 144 px
    must give the vision encoder (nearly) the same pixels, not a 84/144 = 58% crop of it.
    """
    policy = make_policy(seed=0, crop_shape=[84, 84]).eval()
    scene = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(0))  # smooth at both sizes
    small = torch.nn.functional.interpolate(scene, size=(96, 96), mode="bilinear")
    large = torch.nn.functional.interpolate(scene, size=(144, 144), mode="bilinear")
    a = policy._images({"observation.image": small})
    b = policy._images({"observation.image": large})
    # measured: 0.002 against a pixel std of 0.39; cropping 84 px of the 144 px frame gives 0.40
    assert (a - b).abs().mean() < 0.05 * a.std(), ((a - b).abs().mean(), a.std())
    with pytest.raises(ValueError, match=r"120x144 but the policy was trained on 96x96"):
        policy._images({"observation.image": torch.rand(1, 3, 120, 144)})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"crop_shape": [100, 90]}, r"larger than 'observation.image' \(96x96\).*\[86,86\]"),
        ({"crop_shape": [84, 40]}, r"under half of each side"),
        ({"relative_actions": True, "relative_state_index": [0, 2]}, r"state indices in \[0, 2\)"),
        ({"relative_actions": True, "relative_state_index": [0]}, r"1 entries, action has 2"),
    ],
)
def test_config_that_does_not_fit_the_features_is_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        pusht_config(**fields).validate_features()


def test_implicit_relative_index_needs_matching_dims():
    """LIBERO: 7-D delta actions, 8-D state; subtracting the end-effector pose would be nonsense."""
    cfg = pusht_config(relative_actions=True)
    cfg.output_features = {"action": PolicyFeature(FeatureType.ACTION, (7,))}
    cfg.input_features["observation.state"] = PolicyFeature(FeatureType.STATE, (8,))
    with pytest.raises(ValueError, match="action has 7 dims and the state 8.*relative_actions=false"):
        cfg.validate_features()
    cfg.relative_state_index = [0, 1, 2, -1, -1, -1, -1]
    cfg.validate_features()
    assert cfg.relative_index() == [0, 1, 2, -1, -1, -1, -1]


# ----------------------------------------------------------------- the task of a task-less env
def test_single_task_dataset_becomes_the_default_task(tmp_path):
    """gym-pusht has no task string (lerobot-eval passes ""): the trained task goes into the config."""
    from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata

    synthetic_pusht_dataset(tmp_path / "ds", episodes=1, frames=3)
    meta = LeRobotDatasetMetadata("local/synthetic_pusht", root=tmp_path / "ds")
    policy = VLA0SmolPolicy(pusht_config(default_task=None), dataset_stats=PUSHT_STATS, dataset_meta=meta)
    assert policy.config.default_task == PUSHT_TASK
    assert policy._tasks({"task": [""]}, 1) == [PUSHT_TASK]
    policy.save_pretrained(tmp_path / "ckpt")
    assert VLA0SmolConfig.from_pretrained(tmp_path / "ckpt").default_task == PUSHT_TASK
    # several tasks (LIBERO): no default, the environment names the task
    meta.tasks = meta.tasks.reindex([PUSHT_TASK, "another task"])
    assert modeling.single_task(meta) is None
