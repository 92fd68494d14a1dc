"""Settings the blog does not state, taken from the authors' code (see README, "source" column)."""

import numpy as np
import pytest

from vla0_smol import BinTokenTable, MaskingConfig, VLA0SmolConfig, mask_actions


@pytest.fixture(scope="module")
def table(tiny_processor):
    return BinTokenTable(tiny_processor.tokenizer, 512)


def test_whole_masking_masks_exactly_int_n_times_f_values(table):
    """Authors' ``apply_action_masking``: f ~ U(0, max), then exactly int(n * f) values, no repeats.

    PushT: n = 20 values (10 x 2), max 0.15 -> int(20 f) in {0, 1, 2}, 1 on average (5%), never
    more than 2. Masking each value with probability f instead averages 7.5% and sometimes masks 5.
    """
    mask = table.sep_id + 1000  # any id that is neither a digit nor the separator
    enc = table.encode(np.random.default_rng(0).integers(0, 512, (10, 2)))
    cfg = MaskingConfig("whole", max_fraction=0.15, skip_prob=0.0)
    rng = np.random.default_rng(1)
    counts = np.array([int((mask_actions(enc, enc.ids.clone(), cfg, mask, rng)[0] == mask).sum()) for _ in range(3000)])
    assert counts.max() == 2
    assert abs(counts.mean() / 20 - 0.05) < 0.005, counts.mean() / 20
    # the count follows the drawn fraction exactly
    for seed in range(50):
        probe = np.random.default_rng(seed)
        probe.random()  # the skip draw
        expected = int(20 * probe.uniform(0.0, 0.15))
        ids, _ = mask_actions(enc, enc.ids.clone(), cfg, mask, np.random.default_rng(seed))
        assert int((ids == mask).sum()) == expected


def test_libero_full_profile_takes_the_authors_settings():
    """configs/vla0_libero.json: mask fraction 0.1 (their default), 1,000 warm-up steps."""
    from vla0_smol.libero.profiles import libero_policy_config

    config = libero_policy_config("full")
    assert config.mask_max_fraction == 0.1
    assert config.scheduler_warmup_steps == 1_000 and config.scheduler_decay_steps == 100_000
    assert config.drop_n_last_frames == 1


def test_lerobot_train_drops_the_last_frame_of_each_episode():
    """lerobot-train builds its sampler with the policy config's ``drop_n_last_frames`` (authors: 1)."""
    from lerobot.datasets.sampler import EpisodeAwareSampler

    config = VLA0SmolConfig()
    assert config.drop_n_last_frames == 1
    # what lerobot_train.py does with it: two episodes of 5 frames -> 8 samples
    sampler = EpisodeAwareSampler([0, 5], [5, 10], drop_n_last_frames=getattr(config, "drop_n_last_frames", 0))
    assert len(sampler) == 8


def test_defaults_do_not_assume_pusht():
    """A plain ``--policy.type=vla0_smol`` on LIBERO (256 px, 7-D deltas, 8-D state) must neither crop
    84 px of 256 nor subtract the end-effector pose from delta actions."""
    from vla0_smol.libero.env import policy_features

    inputs, outputs = policy_features(256)
    config = VLA0SmolConfig(input_features=inputs, output_features=outputs)
    config.validate_features()
    assert config.crop_shape is None and config.relative_index() == [-1] * 7
    from vla0_smol.pusht.profiles import pusht_profile

    for name in ("smoke", "cpu", "full"):  # PushT's profiles set both explicitly
        assert pusht_profile(name).policy["crop_shape"] == (84, 84)
        assert pusht_profile(name).policy["relative_actions"] is True
