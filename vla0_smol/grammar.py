"""Grammar-constrained decoding: exactly ``count`` integers in ``[0, num_bins - 1]``.

The blog enforces the output format with a grammar so that a small policy trained on a small
dataset can never emit a chunk of the wrong length. The authors' grammar accepted any digit
string (and a minus sign) and turned failures into zeros; this one makes a wrong output
impossible: each integer is written without leading zeros and bounded by ``num_bins - 1``,
integers are separated by exactly one space, and after the last one only the end-of-turn token
is allowed. Compiled with xgrammar (the authors' choice) against the model's tokenizer.
"""

from __future__ import annotations

from functools import lru_cache

import xgrammar as xgr


def int_range_ebnf(max_value: int) -> str:
    """EBNF alternatives matching the decimal integers ``0 .. max_value``, no leading zeros."""
    if max_value < 0:
        raise ValueError("max_value must be >= 0")
    top = str(max_value)
    alts = []
    for length in range(1, len(top)):
        alts.append("[0-9]" if length == 1 else "[1-9]" + "[0-9]" * (length - 1))
    # same length as max_value: digit by digit below its prefix, then max_value itself
    for i, d in enumerate(top):
        lo = 1 if (i == 0 and len(top) > 1) else 0
        hi = int(d) - 1
        if hi >= lo:
            prefix = f'"{top[:i]}" ' if i else ""
            first = f'"{lo}"' if lo == hi else f"[{lo}-{hi}]"
            alts.append(f"{prefix}{first}" + "".join(" [0-9]" for _ in range(len(top) - i - 1)))
    alts.append(f'"{top}"')
    return " | ".join(f"({a})" for a in alts)


def action_ebnf(count: int, num_bins: int) -> str:
    """EBNF of ``count`` space-separated integers in ``[0, num_bins - 1]``."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    body = ' " " '.join(["num"] * count)
    return f"root ::= {body}\nnum ::= {int_range_ebnf(num_bins - 1)}\n"


class ActionGrammar:
    """The compiled action grammar for one tokenizer, chunk size and bin count.

    Args:
        tokenizer: the Hugging Face tokenizer of the model.
        vocab_size: rows of the model's output layer (can exceed ``len(tokenizer)``).
        count: integers per chunk, ``H * D``.
        num_bins: bins per dimension.
        eot_id: the end-of-turn token that must follow the last integer.
    """

    def __init__(self, tokenizer, vocab_size: int, count: int, num_bins: int, eot_id: int):
        self.count, self.num_bins, self.eot_id, self.vocab_size = count, num_bins, eot_id, vocab_size
        info = _tokenizer_info(tokenizer, vocab_size, eot_id)
        self.compiled = xgr.GrammarCompiler(info, max_threads=1).compile_grammar(action_ebnf(count, num_bins))

    def matcher(self, max_rollback_tokens: int = -1) -> xgr.GrammarMatcher:
        """A fresh matcher at the start of the action text."""
        return xgr.GrammarMatcher(self.compiled, max_rollback_tokens=max_rollback_tokens)

    def logits_processor(self) -> xgr.contrib.hf.LogitsProcessor:
        """A one-shot logits processor for ``generate()`` (a new one per call)."""
        return xgr.contrib.hf.LogitsProcessor(self.compiled)

    def allocate_bitmask(self, batch: int):
        return xgr.allocate_token_bitmask(batch, self.vocab_size)


@lru_cache(maxsize=8)
def _tokenizer_info(tokenizer, vocab_size: int, eot_id: int) -> xgr.TokenizerInfo:
    return xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=[eot_id])
