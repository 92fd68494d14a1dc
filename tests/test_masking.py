"""Masked action augmentation: no masked token is ever in the loss; modes do what they say."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vla0_smol import BinTokenTable, MaskingConfig, mask_actions
from vla0_smol.prompt import IGNORE_INDEX

MASK = 69  # "_" in the tiny tokenizer (checked below); any non-digit, non-separator id works


@pytest.fixture(scope="module")
def table(tiny_processor):
    assert tiny_processor.tokenizer.encode("_", add_special_tokens=False) == [MASK]
    return BinTokenTable(tiny_processor.tokenizer, 512)


@settings(max_examples=300, deadline=None)
@given(
    mode=st.sampled_from(["whole", "char", "none"]),
    max_fraction=st.floats(0, 1),
    skip=st.floats(0, 1),
    seed=st.integers(0, 2**31),
    shape=st.tuples(st.integers(1, 10), st.integers(1, 7)),
)
def test_masked_tokens_never_carry_loss(table, mode, max_fraction, skip, seed, shape):
    rng = np.random.default_rng(seed)
    bins = rng.integers(0, 512, shape)
    enc = table.encode(bins)
    cfg = MaskingConfig(mode, max_fraction, skip)
    ids, labels = mask_actions(enc, enc.ids.clone(), cfg, MASK, np.random.default_rng(seed))
    assert ids.shape == labels.shape
    assert (labels[ids == MASK] == IGNORE_INDEX).all()
    assert not (labels == MASK).any()
    # every label that remains is the true token at that position
    kept = labels != IGNORE_INDEX
    assert (labels[kept] == ids[kept]).all()
    if mode != "whole":
        assert ids.numel() == enc.ids.numel()


def test_whole_masking_replaces_each_chosen_value_by_one_mask(table):
    bins = np.array([[123, 4], [56, 7], [8, 90]])
    enc = table.encode(bins)
    cfg = MaskingConfig("whole", max_fraction=1.0, skip_prob=0.0)
    for seed in range(20):
        ids, labels = mask_actions(enc, enc.ids.clone(), cfg, MASK, np.random.default_rng(seed))
        pieces = []
        cur = []
        for t in ids.tolist():
            if t == table.sep_id:
                pieces.append(cur)
                cur = []
            else:
                cur.append(t)
        pieces.append(cur)
        assert len(pieces) == bins.size  # separators are never masked
        for piece, value in zip(pieces, bins.ravel()):
            assert piece == [MASK] or piece == table.encode(np.array([value])).ids.tolist()


def test_char_masking_hits_single_tokens(table):
    enc = table.encode(np.arange(100, 140))
    cfg = MaskingConfig("char", max_fraction=0.4, skip_prob=0.0)
    ids, _ = mask_actions(enc, enc.ids.clone(), cfg, MASK, np.random.default_rng(3))
    hit = ids == MASK
    assert 0 < hit.sum() < ids.numel()
    assert (ids[~hit] == enc.ids[~hit]).all()


def test_seeded_and_reproducible(table):
    enc = table.encode(np.arange(0, 200, 7))
    cfg = MaskingConfig("whole", 0.5, 0.0)
    a = mask_actions(enc, enc.ids.clone(), cfg, MASK, np.random.default_rng(1))
    b = mask_actions(enc, enc.ids.clone(), cfg, MASK, np.random.default_rng(1))
    c = mask_actions(enc, enc.ids.clone(), cfg, MASK, np.random.default_rng(2))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_skip_probability_and_defaults(table):
    enc = table.encode(np.arange(50))
    never = MaskingConfig("whole", 1.0, skip_prob=1.0)
    ids, labels = mask_actions(enc, enc.ids.clone(), never, MASK, np.random.default_rng(0))
    assert torch.equal(ids, enc.ids) and torch.equal(labels, enc.ids)
    d = MaskingConfig()
    assert (d.mode, d.max_fraction, d.skip_prob) == ("whole", 0.15, 0.1)
    # untouched: skipped (0.1) or no value drawn: E[(1-f)^50], f ~ U(0, 0.15), ~0.13 -> ~0.22 in all
    rng = np.random.default_rng(0)
    untouched = sum(torch.equal(mask_actions(enc, enc.ids.clone(), d, MASK, rng)[0], enc.ids) for _ in range(2000))
    assert 0.18 < untouched / 2000 < 0.26


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="mode"):
        MaskingConfig("word")
    with pytest.raises(ValueError, match="max_fraction"):
        MaskingConfig("whole", 1.5)
    with pytest.raises(ValueError, match="skip_prob"):
        MaskingConfig("whole", 0.1, -0.1)
