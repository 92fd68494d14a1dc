"""The action grammar: exactly H*D integers in range; random models can only produce valid text."""

import numpy as np
import pytest
import torch
import xgrammar as xgr
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoConfig, AutoModelForImageTextToText

from vla0_smol import ActionGrammar, ActionTokenizer
from vla0_smol.backbone import PRESETS
from vla0_smol.decoding import decode


def _accepts(grammar: ActionGrammar, text: str) -> bool:
    m = grammar.matcher()
    return m.accept_string(text) and m.accept_token(grammar.eot_id) and m.is_terminated()


@pytest.mark.parametrize("num_bins", [1 + 1, 10, 11, 100, 101, 512, 1000, 1001])
def test_integer_range_is_exact(tiny_processor, num_bins):
    tok = tiny_processor.tokenizer
    eot = tok.convert_tokens_to_ids("<end_of_utterance>")
    g = ActionGrammar(tok, len(tok), count=1, num_bins=num_bins, eot_id=eot)
    for n in range(0, num_bins + 120):
        assert _accepts(g, str(n)) == (n < num_bins), n
    for bad in ["", "01", "-1", "00", " 1", "1 ", "+3", "1.0"]:
        assert not _accepts(g, bad), bad


def test_count_and_separators_are_exact(tiny_processor):
    tok = tiny_processor.tokenizer
    eot = tok.convert_tokens_to_ids("<end_of_utterance>")
    g = ActionGrammar(tok, len(tok), count=3, num_bins=512, eot_id=eot)
    assert _accepts(g, "0 511 42")
    for bad in ["0 511", "0 511 42 1", "0  511 42", "0 511 42 ", "0,511,42", "0 512 42"]:
        assert not _accepts(g, bad), bad


def _random_greedy(grammar, rng, steps_max=400):
    """Greedy decoding under the grammar with random logits (a stand-in for any model)."""
    m = grammar.matcher()
    mask = xgr.allocate_token_bitmask(1, grammar.vocab_size)
    out = []
    for _ in range(steps_max):
        m.fill_next_token_bitmask(mask)
        logits = torch.from_numpy(rng.standard_normal((1, grammar.vocab_size)).astype(np.float32))
        xgr.apply_token_bitmask_inplace(logits, mask)
        t = int(logits.argmax())
        assert m.accept_token(t)
        if t == grammar.eot_id:
            return out
        out.append(t)
    raise AssertionError("no end of turn")


@pytest.mark.parametrize("which", ["tiny", "smolvlm2"])
def test_random_logits_always_parse(which, tiny_processor, request):
    proc = tiny_processor if which == "tiny" else request.getfixturevalue("smolvlm2_processor")
    tok = proc.tokenizer
    eot = tok.convert_tokens_to_ids("<end_of_utterance>")
    vocab = len(tok) if which == "tiny" else 49280
    rng = np.random.default_rng(0)
    n = 0
    for num_bins, horizon, dim in [(512, 10, 2), (256, 8, 7), (1000, 3, 3), (7, 5, 1)]:
        g = ActionGrammar(tok, vocab, horizon * dim, num_bins, eot)
        at = ActionTokenizer(np.zeros(dim), np.ones(dim), num_bins)
        for _ in range(150 if which == "tiny" else 25):
            text = tok.decode(_random_greedy(g, rng))
            bins = at.text_to_bins(text, horizon)  # raises on anything malformed
            assert bins.shape == (horizon, dim)
            n += 1
    assert n >= 100


def _random_tiny_vlm(seed: int):
    torch.manual_seed(seed)
    cfg = AutoConfig.from_pretrained(PRESETS["tiny"])
    cfg.text_config.num_hidden_layers = 1 + seed % 2
    cfg.vision_config.num_hidden_layers = 1
    return AutoModelForImageTextToText.from_config(cfg).eval()


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    num_bins=st.sampled_from([16, 256, 512, 1000]),
    horizon=st.integers(1, 10),
    dim=st.integers(1, 7),
)
def test_random_models_always_produce_valid_chunks(tiny_processor, seed, num_bins, horizon, dim):
    """Random tiny SmolVLMs, random prompts of mixed lengths: every output parses (32 per example)."""
    tok = tiny_processor.tokenizer
    vlm = _random_tiny_vlm(seed)
    eot = tok.convert_tokens_to_ids("<end_of_utterance>")
    g = ActionGrammar(tok, vlm.config.text_config.vocab_size, horizon * dim, num_bins, eot)
    rng = np.random.default_rng(seed)
    b = 32
    image = [tiny_processor.image_token_id] * tiny_processor.image_seq_len
    rows = [rng.integers(10, 400, rng.integers(3, 30)).tolist() for _ in range(b)]
    rows = [r[:2] + image + r[2:] for r in rows]
    width = max(map(len, rows))
    ids = torch.zeros(b, width, dtype=torch.long)
    mask = torch.zeros(b, width, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r) :], mask[i, width - len(r) :] = torch.tensor(r), 1
    pixels = torch.randn(b, 1, 3, 96, 96)
    with torch.no_grad():
        tokens, _ = decode(vlm, g, ids, mask, pixels, method="fast")
    at = ActionTokenizer(np.zeros(dim), np.ones(dim), num_bins)
    for t in tokens:
        assert at.text_to_bins(tok.decode(t), horizon).shape == (horizon, dim)
