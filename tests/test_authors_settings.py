"""Settings the blog does not state, taken from the authors' code (see README, "source" column)."""

import numpy as np
import pytest

from vla0_smol import BinTokenTable, MaskingConfig, mask_actions


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
