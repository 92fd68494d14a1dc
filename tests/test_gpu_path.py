"""What a GPU user runs, checked on the CPU: mixed precision, devices, per-rank randomness, inputs.

The end-to-end rehearsals through LeRobot's command lines are in ``test_rehearsal.py``.
"""

import torch
from conftest import make_policy, pusht_batch

import vla0_smol.modeling_vla0_smol as modeling


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
