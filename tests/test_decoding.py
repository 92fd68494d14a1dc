"""The fast decoder returns exactly generate()'s tokens, with fewer forward passes."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import AutoConfig, AutoModelForImageTextToText

from vla0_smol import ActionGrammar
from vla0_smol.backbone import PRESETS
from vla0_smol.decoding import FastDecoder, decode


def _vlm(seed: int, layers: int):
    torch.manual_seed(seed)
    cfg = AutoConfig.from_pretrained(PRESETS["tiny"])
    cfg.text_config.num_hidden_layers = layers
    cfg.vision_config.num_hidden_layers = 1
    # float64 so that feeding tokens one by one or several at once cannot flip an argmax by rounding
    return AutoModelForImageTextToText.from_config(cfg).to(torch.float64).eval()


def _prompts(proc, rng, b):
    image = [proc.image_token_id] * proc.image_seq_len
    rows = [rng.integers(10, 400, rng.integers(2, 25)).tolist() for _ in range(b)]
    rows = [r[:1] + image + r[1:] for r in rows]
    width = max(map(len, rows))
    ids = torch.zeros(b, width, dtype=torch.long)
    mask = torch.zeros(b, width, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r) :], mask[i, width - len(r) :] = torch.tensor(r), 1
    return ids, mask, torch.randn(b, 1, 3, 96, 96, dtype=torch.float64, generator=torch.Generator().manual_seed(0))


def _numbers(proc, tokens):
    return [int(x) for x in proc.tokenizer.decode(tokens).split(" ")]


def _perturb(numbers, kind, rng, num_bins):
    if kind == "none":
        return None
    if kind == "right":
        return list(numbers)
    if kind == "wrong":
        return rng.integers(0, num_bins, len(numbers)).tolist()
    if kind == "short":
        return list(numbers[: max(1, len(numbers) // 2)])
    out = list(numbers)  # partly right
    for j in rng.choice(len(out), size=max(1, len(out) // 4), replace=False):
        out[j] = int(rng.integers(0, num_bins))
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 10_000),
    b=st.integers(1, 4),
    num_bins=st.sampled_from([10, 100, 512]),
    count=st.integers(1, 24),
    kinds=st.lists(st.sampled_from(["none", "right", "wrong", "short", "partly"]), min_size=4, max_size=4),
)
def test_fast_equals_generate_token_for_token(tiny_processor, seed, b, num_bins, count, kinds):
    tok = tiny_processor.tokenizer
    vlm = _vlm(seed, layers=1 + seed % 2)
    eot = tok.convert_tokens_to_ids("<end_of_utterance>")
    g = ActionGrammar(tok, vlm.config.text_config.vocab_size, count, num_bins, eot)
    rng = np.random.default_rng(seed)
    ids, mask, pixels = _prompts(tiny_processor, rng, b)
    with torch.no_grad():
        ref, ref_stats = decode(vlm, g, ids, mask, pixels, method="hf")
        plain, _ = decode(vlm, g, ids, mask, pixels, method="fast")
        drafts = [_perturb(_numbers(tiny_processor, t), kinds[i], rng, num_bins) for i, t in enumerate(ref)]
        fast, stats = decode(vlm, g, ids, mask, pixels, method="fast", drafts=drafts)
    assert plain == ref
    assert fast == ref
    assert stats.forward_passes <= ref_stats.forward_passes
    if all(k == "right" for k in kinds[:b]):
        assert stats.forward_passes == 1  # the draft rides along with the prompt


def test_a_right_draft_costs_one_pass_and_wrong_drafts_are_never_accepted(tiny_processor):
    tok = tiny_processor.tokenizer
    vlm = _vlm(7, layers=2)
    eot = tok.convert_tokens_to_ids("<end_of_utterance>")
    g = ActionGrammar(tok, vlm.config.text_config.vocab_size, 20, 512, eot)
    ids, mask, pixels = _prompts(tiny_processor, np.random.default_rng(1), 2)
    with torch.no_grad():
        ref, hf_stats = decode(vlm, g, ids, mask, pixels, method="hf")
        right = [_numbers(tiny_processor, t) for t in ref]
        _, stats = decode(vlm, g, ids, mask, pixels, method="fast", drafts=right)
        assert stats.forward_passes == 1 and stats.draft_accepted == sum(len(t) for t in ref)
        # drafts that break the grammar (out of range, too many digits) are proposed but never kept
        bad = [[9999] * 20, [512] * 20]
        out, bad_stats = decode(vlm, g, ids, mask, pixels, method="fast", drafts=bad)
    assert out == ref
    assert hf_stats.forward_passes == max(len(t) for t in ref) + 1


def test_jump_forward_skips_forced_tokens(tiny_processor):
    """With 1000 bins every 3-digit integer forces the following separator."""
    tok = tiny_processor.tokenizer
    vlm = _vlm(3, layers=1)
    eot = tok.convert_tokens_to_ids("<end_of_utterance>")
    g = ActionGrammar(tok, vlm.config.text_config.vocab_size, 12, 1000, eot)
    ids, mask, pixels = _prompts(tiny_processor, np.random.default_rng(2), 1)
    with torch.no_grad():
        ref, _ = decode(vlm, g, ids, mask, pixels, method="hf")
        out, stats = FastDecoder(vlm, g).run(ids, mask, pixels)
    assert out == ref
    text = tok.decode(ref[0]).split(" ")
    # forced: the separator after each 3-digit or "0" integer, and the end of turn after a full last one
    forced = sum(len(n) == 3 or n == "0" for n in text[:-1]) + (len(text[-1]) == 3 or text[-1] == "0")
    assert stats.forced == forced
    n_tokens = len(ref[0]) + 1  # with the end of turn
    assert stats.forward_passes == n_tokens - forced  # one pass per decided token, none per forced one


def test_unknown_method():
    with pytest.raises(ValueError, match="method"):
        decode(None, None, None, None, None, method="beam")
