"""ActionTokenizer and BinTokenTable: round trips, clipping, strict parsing, token lookup."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vla0_smol import ActionTokenizer, BinTokenTable


@st.composite
def tokenizer_and_values(draw):
    dim = draw(st.integers(1, 7))
    low = draw(hnp.arrays(np.float64, dim, elements=st.floats(-1e3, 1e3)))
    width = draw(hnp.arrays(np.float64, dim, elements=st.floats(1e-2, 1e3)))
    bins = draw(st.integers(2, 2048))
    unit = draw(hnp.arrays(np.float64, (draw(st.integers(1, 12)), dim), elements=st.floats(0, 1)))
    return ActionTokenizer(low, low + width, bins), low + unit * width


@settings(max_examples=300, deadline=None)
@given(tokenizer_and_values())
def test_round_trip_within_half_a_bin(case):
    tok, x = case
    err = np.abs(tok.from_bins(tok.to_bins(x)) - x)
    assert (err <= tok.bin_width / 2 + 1e-9 * np.maximum(1, np.abs(x))).all()


@settings(max_examples=200, deadline=None)
@given(tokenizer_and_values(), st.floats(1e-3, 1e6))
def test_out_of_range_clips_to_edge_bins(case, beyond):
    tok, x = case
    below = tok.to_bins(tok.low - beyond + 0 * x)
    above = tok.to_bins(tok.high + beyond + 0 * x)
    assert (below == 0).all() and (above == tok.num_bins - 1).all()


@settings(max_examples=200, deadline=None)
@given(tokenizer_and_values())
def test_text_round_trip(case):
    tok, x = case
    bins = tok.to_bins(x)
    text = tok.to_text(bins)
    assert (tok.text_to_bins(text, len(x)) == bins).all()
    np.testing.assert_allclose(tok.from_text(text, len(x)), tok.from_bins(bins))


@pytest.mark.parametrize(
    "text",
    ["", "1  2 3 4", "1 2 3", "1 2 3 4 5", "-1 2 3 4", "1 2 3 512", "01 2 3 4", "1,2,3,4", " 1 2 3 4", "1 2 3 4 "],
)
def test_from_text_rejects_malformed(text):
    tok = ActionTokenizer([0, 0], [1, 1], 512)
    with pytest.raises(ValueError):
        tok.from_text(text, horizon=2)


def test_bad_construction_and_inputs_are_named():
    with pytest.raises(ValueError, match="high must exceed low"):
        ActionTokenizer([0, 1], [1, 1], 8)
    with pytest.raises(ValueError, match="finite"):
        ActionTokenizer([np.nan], [1], 8)
    tok = ActionTokenizer([0], [1], 8)
    with pytest.raises(ValueError, match="NaN"):
        tok.to_bins([[np.inf]])
    with pytest.raises(ValueError, match="last dimension"):
        tok.to_bins(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="must lie in"):
        tok.from_bins([[8]])


def test_bins_are_uniform_and_cover_the_range():
    tok = ActionTokenizer([-1.0], [1.0], 4)
    x = np.array([[-1.0], [-0.51], [-0.49], [0.0], [0.99], [1.0]])
    assert tok.to_bins(x).ravel().tolist() == [0, 0, 1, 2, 3, 3]
    assert tok.from_bins([[0], [3]]).ravel().tolist() == [-0.75, 0.75]


@pytest.fixture(scope="module", params=["tiny", "smolvlm2"])
def any_tokenizer(request, tiny_processor):
    if request.param == "tiny":
        return tiny_processor.tokenizer
    return request.getfixturevalue("smolvlm2_processor").tokenizer


def test_table_matches_the_tokenizer(any_tokenizer):
    """The lookup gives exactly the tokenizer's ids for the action text, for random chunks."""
    table = BinTokenTable(any_tokenizer, 512)
    rng = np.random.default_rng(0)
    for _ in range(200):
        bins = rng.integers(0, 512, size=(rng.integers(1, 9), rng.integers(1, 8)))
        text = " ".join(map(str, bins.ravel()))
        enc = table.encode(bins)
        assert enc.ids.tolist() == any_tokenizer.encode(text, add_special_tokens=False)
        # value_index names the integer each token belongs to, -1 on separators
        digits = [i for i, v in zip(enc.ids.tolist(), enc.value_index.tolist()) if v >= 0]
        assert len(digits) == sum(len(str(b)) for b in bins.ravel())
        assert enc.value_index.max().item() == bins.size - 1


def test_table_rejects_a_tokenizer_that_merges_digits(tiny_processor):
    class Merging:
        all_special_ids = []

        def encode(self, text, add_special_tokens=False):
            return [hash(t) % 1000 for t in text.split(" ")] if text != " " else [5]

    with pytest.raises(ValueError, match="independently"):
        BinTokenTable(Merging(), 16)
