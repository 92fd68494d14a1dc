"""Greedy, grammar-constrained decoding of action text: ``generate()`` and a faster loop.

Both decoders return the same tokens: at every position the token with the largest logit
among those the grammar allows (:mod:`~vla0_smol.grammar`).

* ``"hf"``: ``transformers``' ``generate()`` with xgrammar's logits processor, one forward pass
  per token (the authors' path; the baseline).
* ``"fast"``: one prefill, then a loop of our own over the KV cache that spends fewer forward
  passes on the same output (the blog names this as the way out of its "CPU bound" regime):

  - *jump-forward*: when the grammar allows exactly one token (the space after a 3-digit
    integer or after ``0``, or the end-of-turn token), it is appended without a decision and
    fed together with the next forward pass;
  - *speculative verification with a free draft*: consecutive control steps predict
    overlapping chunks, so the caller can pass the integers it expects (the previous chunk,
    shifted). They are fed in one forward pass; the longest prefix that greedy decoding would
    itself have produced is kept, plus the greedy token at the first mismatch. After a mismatch
    the draft is re-aligned at the next integer boundary (integer ``n`` of the output is checked
    against integer ``n`` of the draft) instead of being thrown away;
  - batched: rows have their own prompt lengths, draft lengths and acceptance lengths. The KV
    cache is one rectangular tensor; positions a row did not keep are masked out of attention
    and positions are tracked per row, so no row waits for another's bookkeeping.

Grammar safety: a draft token is accepted only if it *is* the greedy token under the grammar's
bitmask at its position, so an accepted draft can never violate the grammar.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import xgrammar as xgr

from .grammar import ActionGrammar

METHODS = ("fast", "hf")


@dataclass
class DecodeStats:
    """What one batched decode cost."""

    forward_passes: int = 0  # model calls, prefill included
    tokens: list[int] = field(default_factory=list)  # generated tokens per row (end-of-turn included)
    draft_proposed: int = 0
    draft_accepted: int = 0
    forced: int = 0  # tokens appended by jump-forward
    seconds: float = 0.0


def decode(vlm, grammar: ActionGrammar, input_ids, attention_mask, pixel_values, method: str = "fast", drafts=None):
    """Decode one action chunk per row.

    Args:
        vlm: a ``SmolVLMForConditionalGeneration``.
        grammar: the compiled action grammar (its ``eot_id`` ends every output).
        input_ids: ``(B, L)`` left-padded prompts.
        attention_mask: ``(B, L)``.
        pixel_values: ``(B, N, 3, S, S)``.
        method: "fast" or "hf".
        drafts: per row, the integers expected (``H * D`` of them) or None; "fast" only.

    Returns:
        ``(tokens, stats)``: per row, the generated token ids without the end-of-turn token.
    """
    if method == "hf":
        return decode_hf(vlm, grammar, input_ids, attention_mask, pixel_values)
    if method == "fast":
        return FastDecoder(vlm, grammar).run(input_ids, attention_mask, pixel_values, drafts)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def max_new_tokens(grammar: ActionGrammar) -> int:
    """Upper bound of the output length: every integer at full width, separators, end."""
    return grammar.count * (len(str(grammar.num_bins - 1)) + 1) + 1


@torch.no_grad()
def decode_hf(vlm, grammar: ActionGrammar, input_ids, attention_mask, pixel_values):
    """``generate()`` with xgrammar's logits processor, greedy."""
    t0 = time.perf_counter()
    calls = _CallCounter(vlm)
    with calls:
        out = vlm.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            pixel_values=pixel_values,
            max_new_tokens=max_new_tokens(grammar),
            do_sample=False,
            logits_processor=[grammar.logits_processor()],
            eos_token_id=grammar.eot_id,
            pad_token_id=grammar.eot_id,
        )
    new = out[:, input_ids.shape[1] :].tolist()
    tokens = [row[: row.index(grammar.eot_id)] if grammar.eot_id in row else row for row in new]
    stats = DecodeStats(forward_passes=calls.n, tokens=[len(t) + 1 for t in tokens])
    stats.seconds = time.perf_counter() - t0
    return tokens, stats


class _CallCounter:
    """Counts forward passes of a module while active."""

    def __init__(self, module):
        self.module, self.n, self._h = module, 0, None

    def __enter__(self):
        self._h = self.module.register_forward_pre_hook(self._hook)
        return self

    def _hook(self, *_):
        self.n += 1

    def __exit__(self, *exc):
        self._h.remove()


@dataclass
class _Row:
    matcher: xgr.GrammarMatcher
    pending: list[int]  # decided tokens not yet fed to the model
    out: list[int]  # every decided token
    draft: list[int] | None  # expected integers
    number: int = 0  # index of the integer being written
    digits: str = ""  # digits of that integer so far
    pos: int = 0  # position id of the next fed token
    done: bool = False
    budget: int = 1 << 30  # most draft tokens proposed per pass: halved on a miss, doubled on a full hit


class FastDecoder:
    """The fast greedy decoder (see the module docstring).

    Args:
        vlm: a ``SmolVLMForConditionalGeneration``.
        grammar: the compiled action grammar.
        max_draft: most draft tokens fed per row and pass (None: the whole remaining draft).
        min_draft: after misses, a row still proposes this many tokens per pass.
    """

    def __init__(self, vlm, grammar: ActionGrammar, max_draft: int | None = None, min_draft: int = 4):
        self.vlm, self.grammar, self.max_draft, self.min_draft = vlm, grammar, max_draft, min_draft
        vocab = grammar.compiled.tokenizer_info.decoded_vocab
        self._text = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in vocab]
        single = {t: i for i, t in enumerate(self._text) if len(t) == 1 and t.isdigit()}
        self._digit_id = [single[str(d)] for d in range(10)]
        self._sep = self._text.index(" ")
        self._bitmask = None

    # -- token helpers -------------------------------------------------------
    def _number_ids(self, value: int) -> list[int]:
        """Token ids of an integer written digit by digit."""
        return [self._digit_id[int(ch)] for ch in str(value)]

    def _proposal(self, row: _Row) -> list[int]:
        """Draft tokens from the current position, aligned on integer boundaries."""
        if row.draft is None or row.number >= len(row.draft):
            return []
        cur = str(row.draft[row.number])
        if not cur.startswith(row.digits):
            return []  # this integer already left the draft: wait for the next boundary
        ids = [self._digit_id[int(ch)] for ch in cur[len(row.digits) :]]
        for value in row.draft[row.number + 1 : self.grammar.count]:
            ids.append(self._sep)
            ids.extend(self._number_ids(value))
        if len(row.draft) >= self.grammar.count:
            ids.append(self.grammar.eot_id)
        limit = row.budget if self.max_draft is None else min(row.budget, self.max_draft)
        return ids[:limit]

    def _advance(self, row: _Row, token: int) -> None:
        """Accept a token into the row's matcher and integer bookkeeping."""
        if not row.matcher.accept_token(token):
            raise RuntimeError(f"grammar rejected token {token}: decoder bug")
        row.out.append(token)
        if token == self.grammar.eot_id:
            row.done = True
            return
        for ch in self._text[token]:
            if ch == " ":
                row.number, row.digits = row.number + 1, ""
            else:
                row.digits += ch

    def _greedy(self, row: _Row, i: int, logits: torch.Tensor) -> int:
        """Greedy token under the grammar (``logits`` is ``(V,)`` float32, as generate() uses)."""
        row.matcher.fill_next_token_bitmask(self._bitmask, i)
        scores = logits[None].clone()
        xgr.apply_token_bitmask_inplace(scores, self._bitmask[i : i + 1])
        return int(scores.argmax(-1))

    def _jump_forward(self, row: _Row, i: int) -> int:
        """Append tokens while the grammar allows exactly one; return how many."""
        n = 0
        while not row.done:
            row.matcher.fill_next_token_bitmask(self._bitmask, i)
            allowed = np.flatnonzero(np.unpackbits(self._bitmask[i].numpy().view(np.uint8), bitorder="little"))
            if len(allowed) != 1:
                break
            self._advance(row, int(allowed[0]))
            if not row.done:
                row.pending.append(int(allowed[0]))
            n += 1
        return n

    def _block(self, rows: list[_Row], feeds: list[list[int]], mask_dtype, device):
        """Feeds of different lengths as one ``(B, W)`` block: ids, attention mask, positions."""
        width = max(1, max(len(f) for f in feeds))
        block = torch.full((len(rows), width), self.grammar.eot_id, dtype=torch.long, device=device)
        block_mask = torch.zeros((len(rows), width), dtype=mask_dtype, device=device)
        block_pos = torch.zeros((len(rows), width), dtype=torch.long, device=device)
        for i, f in enumerate(feeds):
            if f:
                block[i, : len(f)] = torch.tensor(f, device=device)
                block_mask[i, : len(f)] = 1
                block_pos[i, : len(f)] = torch.arange(rows[i].pos, rows[i].pos + len(f), device=device)
        return block, block_mask, block_pos

    # -- main loop -----------------------------------------------------------
    @torch.no_grad()
    def run(self, input_ids, attention_mask, pixel_values, drafts=None):
        t0 = time.perf_counter()
        b, device = input_ids.shape[0], input_ids.device
        stats = DecodeStats()
        self._bitmask = xgr.allocate_token_bitmask(b, self.grammar.vocab_size)
        drafts = drafts if drafts is not None else [None] * b
        rows = [_Row(self.grammar.matcher(), [], [], None if d is None else [int(x) for x in d]) for d in drafts]
        # prefill: the prompt, followed by each row's draft (if any) in the same pass
        positions = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)  # as generate()
        for row, last in zip(rows, positions[:, -1].tolist(), strict=True):
            row.pos = last + 1
        fed_pending, fed_draft = [0] * b, [self._proposal(r) for r in rows]
        stats.draft_proposed += sum(map(len, fed_draft))
        prompt_len = input_ids.shape[1]
        fed_start = [prompt_len] * b
        ids, mask = input_ids, attention_mask
        if any(fed_draft):
            block, block_mask, block_pos = self._block(rows, fed_draft, attention_mask.dtype, device)
            ids, mask = torch.cat([input_ids, block], dim=1), torch.cat([attention_mask, block_mask], dim=1)
            positions = torch.cat([positions, block_pos], dim=1)
        out = self.vlm.model(
            input_ids=ids, attention_mask=mask, position_ids=positions, pixel_values=pixel_values, use_cache=True
        )
        stats.forward_passes += 1
        cache = out.past_key_values
        # logits after the prompt's last token and after each draft token
        fed_logits = [
            self.vlm.lm_head(out.last_hidden_state[i, prompt_len - 1 : prompt_len + len(d)]).float()
            for i, d in enumerate(fed_draft)
        ]
        while True:
            for i, row in enumerate(rows):
                if row.done:
                    continue
                draft, kept = fed_draft[i], 0
                for j in range(fed_logits[i].shape[0]):  # verify the draft, decide one more token
                    g = self._greedy(row, i, fed_logits[i][j])
                    self._advance(row, g)
                    if j < len(draft) and g == draft[j] and not row.done:
                        kept += 1
                        continue
                    break
                stats.draft_accepted += kept
                if draft:  # adapt how far this row speculates
                    row.budget = 2 * len(draft) if kept == len(draft) else max(self.min_draft, len(draft) // 2)
                row.pos += fed_pending[i] + kept
                if len(draft) > kept:  # rejected draft tokens leave the attention
                    first = fed_start[i] + fed_pending[i] + kept
                    mask[i, first : fed_start[i] + fed_pending[i] + len(draft)] = 0
                row.pending = [] if row.done else [row.out[-1]]
                stats.forced += self._jump_forward(row, i)
            if all(r.done for r in rows):
                break
            feeds = []
            for i, row in enumerate(rows):
                proposal = self._proposal(row) if not row.done else []
                stats.draft_proposed += len(proposal)
                fed_pending[i], fed_draft[i] = len(row.pending), proposal
                feeds.append(row.pending + proposal)
            fed_start = [mask.shape[1]] * b
            block, block_mask, block_pos = self._block(rows, feeds, mask.dtype, device)
            mask = torch.cat([mask, block_mask], dim=1)
            out = self.vlm.model(
                input_ids=block, attention_mask=mask, position_ids=block_pos, past_key_values=cache, use_cache=True
            )
            stats.forward_passes += 1
            cache = out.past_key_values
            for i, f in enumerate(feeds):
                if f:  # logits after the last pending token and after each draft token
                    fed_logits[i] = self.vlm.lm_head(out.last_hidden_state[i, fed_pending[i] - 1 : len(f)]).float()
        tokens = [[t for t in r.out if t != self.grammar.eot_id] for r in rows]
        stats.tokens = [len(r.out) for r in rows]
        stats.seconds = time.perf_counter() - t0
        return tokens, stats
