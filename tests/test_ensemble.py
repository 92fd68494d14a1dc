"""Temporal ensembling and chunk queues, batched over environments that reset independently."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vla0_smol import ChunkQueue, TemporalEnsembler, ensemble_offline


def test_hand_computed_two_envs_resetting_at_different_steps():
    """H=3, D=1. Env 0 resets before step 2, env 1 before step 1. Chunks: value = 10*step + k."""
    ens = TemporalEnsembler(chunk_size=3, batch_size=2, weighting="uniform")
    outs = []
    for step in range(4):
        if step == 1:
            ens.reset([1])
        if step == 2:
            ens.reset([0])
        k = torch.arange(3, dtype=torch.float64)
        chunks = torch.stack([10 * step + k, 100 + 10 * step + k])[..., None]  # (2, 3, 1)
        outs.append(ens.update(chunks)[:, 0].tolist())
    # env 0: step0 [0] -> 0; step1 mean(10, 1) = 5.5; step2 (reset) 20; step3 mean(30, 21) = 25.5
    # env 1: step0 100; step1 (reset) 110; step2 mean(120, 111) = 115.5; step3 mean(130, 121, 112) = 121
    assert outs == [[0.0, 100.0], [5.5, 110.0], [20.0, 115.5], [25.5, 121.0]]


def test_vla0_and_exp_weightings_by_hand():
    ens = TemporalEnsembler(chunk_size=2, batch_size=1, weighting="vla0")
    ens.update(torch.tensor([[[0.0], [4.0]]]))
    # step 1: newest chunk's first action 8 (w 1.0), previous chunk's second 4 (w 0.5)
    assert ens.update(torch.tensor([[[8.0], [9.0]]])).item() == pytest.approx((8 + 0.5 * 4) / 1.5)
    ens = TemporalEnsembler(chunk_size=2, batch_size=1, weighting="exp", exp_base=0.25)
    ens.update(torch.tensor([[[0.0], [4.0]]]))
    assert ens.update(torch.tensor([[[8.0], [9.0]]])).item() == pytest.approx((8 + 0.25 * 4) / 1.25)


@settings(max_examples=100, deadline=None)
@given(
    chunks=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 15), st.integers(1, 6), st.integers(1, 3)),
        elements=st.floats(-100, 100),
    ),
    weighting=st.sampled_from(["uniform", "vla0", "exp"]),
    base=st.floats(0.1, 2.0),
)
def test_online_equals_offline_weighted_mean(chunks, weighting, base):
    t_len, horizon, _ = chunks.shape
    ens = TemporalEnsembler(horizon, 1, weighting, base)
    online = np.stack([ens.update(torch.from_numpy(chunks[t][None]))[0].numpy() for t in range(t_len)])
    np.testing.assert_allclose(online, ensemble_offline(chunks, weighting, base), rtol=1e-9, atol=1e-9)


def test_chunk_queue_runs_n_steps_then_replans_per_env():
    q = ChunkQueue(n_action_steps=2, batch_size=2)
    assert q.needs_prediction().tolist() == [True, True]
    chunk = torch.arange(2 * 4, dtype=torch.float32).view(2, 4, 1)  # env0: 0..3, env1: 4..7
    assert q.update(chunk)[:, 0].tolist() == [0, 4]
    assert q.needs_prediction().tolist() == [False, False]
    q.reset([1])
    assert q.needs_prediction().tolist() == [False, True]
    # only env 1 is refilled; env 0's row is ignored
    fresh = torch.full((2, 4, 1), -1.0)
    fresh[1] = 50 + torch.arange(4.0)[:, None]
    assert q.update(fresh, q.needs_prediction())[:, 0].tolist() == [1, 50]
    assert q.needs_prediction().tolist() == [True, False]


def test_bad_arguments():
    with pytest.raises(ValueError, match="weighting"):
        TemporalEnsembler(4, 1, "median")
    with pytest.raises(ValueError, match="chunks must be"):
        TemporalEnsembler(4, 2).update(torch.zeros(2, 3, 1))
    with pytest.raises(ValueError, match="every environment"):
        TemporalEnsembler(4, 2).update(torch.zeros(2, 4, 1), mask=np.array([True, False]))
    with pytest.raises(ValueError, match="chunks must be"):
        ChunkQueue(3, 1).update(torch.zeros(1, 2, 1))
