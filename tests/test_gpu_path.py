"""What a GPU user runs, checked on the CPU: mixed precision, devices, per-rank randomness, inputs.

The end-to-end rehearsals through LeRobot's command lines are in ``test_rehearsal.py``.
"""

import torch
from conftest import make_policy, pusht_batch


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
