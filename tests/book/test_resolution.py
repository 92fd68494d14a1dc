"""What one bin is worth: ranges and bin widths of absolute and relative actions."""

import numpy as np
import pytest

from vla0_smol import VLA0SmolPolicy
from vla0_smol.book.resolution import action_resolution, plot_action_resolution, resolution_sentence
from vla0_smol.pusht.pipeline import pusht_config
from vla0_smol.stats import load_columns


def _episodes_data(seed=0, lengths=(12, 18)):
    rng = np.random.default_rng(seed)
    episodes = np.concatenate([np.full(n, i) for i, n in enumerate(lengths)])
    return rng.uniform(0, 512, (len(episodes), 2)), rng.uniform(0, 512, (len(episodes), 2)), episodes


def test_bin_width_is_the_widened_range_over_num_bins():
    actions, states, episodes = _episodes_data()
    horizon, num_bins = 4, 64
    reps = action_resolution(actions, states, episodes, horizon, num_bins)
    # relative values written out: action[t + k] - state[t] for k < H inside one episode
    rel = np.array(
        [
            actions[t + k] - states[t]
            for t in range(len(actions))
            for k in range(horizon)
            if t + k < len(actions) and episodes[t + k] == episodes[t]
        ]
    )
    got = reps["relative"].values
    np.testing.assert_allclose(got[np.lexsort(got.T)], rel[np.lexsort(rel.T)])
    for name, values in (("absolute", actions), ("relative", rel)):
        lo, hi = values.min(0), values.max(0)
        pad = np.maximum(1e-3 * (hi - lo), 1e-6)  # the policy's widening, 0.1% per side
        assert reps[name].low == pytest.approx(lo)
        assert reps[name].high == pytest.approx(hi)
        assert reps[name].bin_width == pytest.approx((hi - lo + 2 * pad) / num_bins)
        assert reps[name].tokenizer.num_bins == num_bins


@pytest.mark.parametrize("relative", [False, True])
def test_the_policy_bins_with_the_same_width(synthetic_dataset, relative):
    """A policy built on the dataset uses exactly the bins the chapter reports."""
    from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata

    repo_id, root = synthetic_dataset
    meta = LeRobotDatasetMetadata(repo_id, root=root)
    config = pusht_config("tiny", relative_actions=relative)
    policy = VLA0SmolPolicy(config, dataset_stats=meta.stats, dataset_meta=meta)
    cols = load_columns(root, ["action", "observation.state", "episode_index"])
    cfg = policy.config
    reps = action_resolution(
        cols["action"], cols["observation.state"], cols["episode_index"], cfg.chunk_size, cfg.num_bins
    )
    rep = reps["relative" if relative else "absolute"]
    assert policy.action_tokenizer.bin_width == pytest.approx(rep.bin_width, rel=1e-5)  # buffers are float32


def test_the_sentence_follows_the_numbers(tmp_path):
    actions, states, episodes = _episodes_data(1)
    near = states + np.random.default_rng(2).normal(0, 5, states.shape)  # actions a few px from the state
    reps = action_resolution(near, states, episodes, 1, 512)
    text = resolution_sentence(reps)
    ratio = reps["absolute"].bin_width / reps["relative"].bin_width
    assert "times finer" in text and f"{ratio[0]:.1f} / {ratio[1]:.1f}" in text
    assert f"{reps['relative'].bin_width[0]:.2f} / {reps['relative'].bin_width[1]:.2f} px" in text
    assert "512 bins" in text
    far = action_resolution(actions, states, episodes, 1, 512)  # unrelated targets: twice the range
    assert "times coarser" in resolution_sentence(far)
    assert plot_action_resolution(reps, tmp_path / "r.png").stat().st_size > 0
