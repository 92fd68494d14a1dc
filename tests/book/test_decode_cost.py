"""Decode calls per episode: ceil(steps / n) with chunks, one per step with temporal ensembling."""

import pytest
from testkit import make_policy

from vla0_smol.book.decode_cost import (
    decode_sentence,
    expected_decode_calls,
    measure_decode_cost,
    mode_summary,
    plot_decode_cost,
)
from vla0_smol.pusht.evaluation import PolicyController


def test_expected_calls():
    assert [expected_decode_calls(s, "chunk", 5) for s in (1, 5, 6, 7, 10, 11, 300)] == [1, 1, 2, 2, 2, 3, 60]
    assert [expected_decode_calls(s, "temporal", 5) for s in (1, 7, 300)] == [1, 7, 300]
    with pytest.raises(ValueError, match="execution"):
        expected_decode_calls(3, "ensemble", 5)


def test_counted_through_select_action_on_real_episodes(tmp_path):
    """Two 7-step episodes: 2 decodes each with 5 steps ahead (the queue restarts), 7 ensembled."""
    policies = []

    def controller(fields):
        policies.append(make_policy(**fields))
        return PolicyController(policies[-1])

    cost = measure_decode_cost(controller, n_episodes=2, seed=10_000, max_steps=7)
    chunk, temporal = cost["modes"]["5 steps ahead"], cost["modes"]["temporal ensembling"]
    assert [e["seed"] for e in chunk["episodes"]] == [e["seed"] for e in temporal["episodes"]] == [10_000, 10_001]
    for mode, calls in ((chunk, lambda s: -(-s // 5)), (temporal, lambda s: s)):
        for e in mode["episodes"]:
            assert e["decode_calls"] == calls(e["steps"]) == e["expected_calls"]
            assert e["decode_seconds"] > 0 and e["forward_passes"] >= e["decode_calls"]
    assert chunk["execution"] == "chunk" and temporal["execution"] == "temporal"
    assert all("predict_action_chunk" not in vars(p) for p in policies)  # the counter is removed
    s = mode_summary(temporal)
    assert s["calls"] == pytest.approx(sum(e["decode_calls"] for e in temporal["episodes"]) / 2)
    sentence = decode_sentence(cost)
    assert f"{mode_summary(chunk)['calls']:.1f} times per episode" in sentence
    assert plot_decode_cost(cost, tmp_path / "d.png").stat().st_size > 0
