"""Actions as text: continuous vectors <-> integer bins <-> text <-> token ids.

VLA-0 (Goyal et al., 2025, "VLA-0: Building State-of-the-Art VLAs with Zero Modification",
Sec. III.A) writes every action value as an integer in ``[0, num_bins - 1]`` and asks the
language model to emit them as plain text. The blog's recipe keeps that, with 512 bins (the
authors' code default) and per-dimension min/max ranges taken from the dataset statistics.

Three objects live here:

* :class:`ActionTokenizer` turns ``(..., D)`` float arrays into bins and back, and bins into
  the text ``"12 345 7 ..."`` and back (strictly: malformed text raises ``ValueError``).
* :class:`NormalizedBins` does the same with the authors' formulas (their LeRobot ``vla0``
  policy), for checkpoints converted from it (:mod:`~vla0_smol.convert`).
* :class:`BinTokenTable` maps bins straight to token ids through a table built once from a
  Hugging Face tokenizer, so the training hot path formats no strings and calls no tokenizer.

Relative actions enter as an ``offset`` subtracted before binning and added back after decoding:
the state in raw units for :class:`ActionTokenizer` (whose range is then the one of
``action - state``, see :mod:`~vla0_smol.stats`), the MIN_MAX-normalised state for
:class:`NormalizedBins` (the authors subtract two normalised spaces).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch

_INT_TEXT = re.compile(r"(0|[1-9]\d*)( (0|[1-9]\d*))*")  # as the grammar writes them
EPS = 1e-6  # the authors' widening of [-1, 1] before binning (their modeling_vla0.py)
MIN_MAX_EPS = 1e-8  # LeRobot's NormalizerProcessorStep: replaces max - min when it is 0


class _IntegerText:
    """Bins <-> text, shared by both binnings (``num_bins``, ``dim`` and ``from_bins`` given)."""

    num_bins: int
    dim: int

    def to_text(self, bins) -> str:
        """Bins of any shape -> ``"12 345 7 ..."`` (row-major, single spaces)."""
        return " ".join(str(int(b)) for b in np.asarray(bins).reshape(-1))

    def text_to_bins(self, text: str, horizon: int) -> np.ndarray:
        """Parse exactly ``horizon * D`` in-range integers -> ``(horizon, D)`` bins.

        Raises:
            ValueError: on anything else (extra spaces, signs, leading zeros, wrong count,
                out of range).
        """
        if not _INT_TEXT.fullmatch(text):
            raise ValueError(f"not a list of space-separated integers: {text[:80]!r}")
        values = np.array([int(t) for t in text.split(" ")], dtype=np.int64)
        if values.size != horizon * self.dim:
            raise ValueError(f"expected {horizon * self.dim} integers ({horizon} x {self.dim}), got {values.size}")
        if values.max() >= self.num_bins:
            raise ValueError(f"integer {values.max()} is out of range [0, {self.num_bins - 1}]")
        return values.reshape(horizon, self.dim)

    def from_text(self, text: str, horizon: int, offset=None) -> np.ndarray:
        """Parse action text -> ``(horizon, D)`` bin centres (see :meth:`text_to_bins`)."""
        return self.from_bins(self.text_to_bins(text, horizon), offset)


class ActionTokenizer(_IntegerText):
    """Uniform per-dimension binning of vectors in ``[low, high]``.

    Args:
        low: Per-dimension lower bound, shape ``(D,)`` (the dataset minimum, or -1 after
            LeRobot's MIN_MAX normalisation).
        high: Per-dimension upper bound, shape ``(D,)``; must exceed ``low`` everywhere.
        num_bins: Number of bins per dimension (the blog's code uses 512).

    Values outside ``[low, high]`` are clipped to the first or last bin (never to ``-1`` or
    ``num_bins``: a target the grammar could not produce). Decoding returns bin centres, so a
    round trip of an in-range value is exact to half a bin width.
    """

    def __init__(self, low, high, num_bins: int = 512):
        low = np.asarray(low, dtype=np.float64).reshape(-1)
        high = np.asarray(high, dtype=np.float64).reshape(-1)
        if low.shape != high.shape:
            raise ValueError(f"low {low.shape} and high {high.shape} must have the same shape")
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise ValueError("low and high must be finite (check the dataset stats 'min'/'max')")
        if not (high > low).all():
            bad = np.flatnonzero(~(high > low)).tolist()
            raise ValueError(f"high must exceed low in every dimension; not in dims {bad}")
        if int(num_bins) < 2:
            raise ValueError(f"num_bins must be >= 2, got {num_bins}")
        self.low, self.high, self.num_bins = low, high, int(num_bins)
        self.dim = low.shape[0]

    @classmethod
    def from_range(cls, low, high, num_bins: int = 512) -> ActionTokenizer:
        """The tokenizer the policy builds from a measured ``min``/``max`` (dataset statistics).

        The range is widened by 0.1% of its width on each side (at least 1e-6), so the extremes
        fall inside the first and last bins and a constant dimension still has a range.
        """
        low = np.asarray(low, dtype=np.float64).reshape(-1)
        high = np.asarray(high, dtype=np.float64).reshape(-1)
        pad = np.maximum((high - low) * 1e-3, 1e-6)
        return cls(low - pad, high + pad, num_bins)

    @property
    def bin_width(self) -> np.ndarray:
        """Width of one bin per dimension, shape ``(D,)``."""
        return (self.high - self.low) / self.num_bins

    def to_bins(self, x, offset=None) -> np.ndarray:
        """``(..., D)`` floats (minus ``offset``, broadcast) -> ``(..., D)`` int64 bins in ``[0, num_bins - 1]``."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape[-1:] != (self.dim,):
            raise ValueError(f"expected last dimension {self.dim}, got shape {x.shape}")
        if offset is not None:
            x = x - np.asarray(offset, dtype=np.float64)
        if not np.isfinite(x).all():
            raise ValueError("cannot bin NaN or inf values")
        unit = (x - self.low) / (self.high - self.low)
        return np.clip(np.floor(unit * self.num_bins), 0, self.num_bins - 1).astype(np.int64)

    def from_bins(self, bins, offset=None) -> np.ndarray:
        """``(..., D)`` bins -> ``(..., D)`` float64 bin centres (plus ``offset``, broadcast)."""
        bins = np.asarray(bins)
        if bins.shape[-1:] != (self.dim,):
            raise ValueError(f"expected last dimension {self.dim}, got shape {bins.shape}")
        if bins.size and (bins.min() < 0 or bins.max() >= self.num_bins):
            raise ValueError(f"bins must lie in [0, {self.num_bins - 1}]")
        out = self.low + (bins.astype(np.float64) + 0.5) * self.bin_width
        return out if offset is None else out + np.asarray(offset, dtype=np.float64)


class NormalizedBins(_IntegerText):
    """The authors' binning (their LeRobot ``vla0`` policy), reproduced operation by operation.

    Their pipeline normalises state and action with LeRobot's MIN_MAX step,
    ``n = 2 * (x - min) / (max - min) - 1`` (a zero ``max - min`` replaced by 1e-8), then writes
    ``bucketize(n, linspace(-1 - EPS, 1 + EPS, num_bins + 1)[:-1]) - 1`` and decodes an integer
    ``k`` to the centre of ``[edge_k, edge_k+1]`` of that linspace, which LeRobot's MIN_MAX step
    unnormalises, ``(c + 1) / 2 * (max - min) + min``. Every step runs here in float32 torch, as
    there, so a converted checkpoint writes the same integers and decodes the same actions.

    Two things differ from :class:`ActionTokenizer`: bins are closed on the right (``k`` for
    ``n`` in ``(edge_k, edge_k+1]``), and relative actions are taken in normalised units (the
    ``offset`` is the normalised state, subtracted from the normalised action). One thing differs
    from the authors' code: a value at or below ``-1 - EPS`` (below the statistics' minimum)
    gets bin 0 here and ``-1`` there, a string the grammar cannot produce and their parser turns
    into an all-zero chunk.

    Args:
        low: Per-dimension minimum of the MIN_MAX statistics, shape ``(D,)``.
        high: Per-dimension maximum, shape ``(D,)``; ``high >= low``.
        num_bins: Number of bins (their ``n_state_bins``, used for state and actions alike).
    """

    def __init__(self, low, high, num_bins: int = 512):
        low = torch.as_tensor(np.asarray(low, dtype=np.float32)).reshape(-1)
        high = torch.as_tensor(np.asarray(high, dtype=np.float32)).reshape(-1)
        if low.shape != high.shape:
            raise ValueError(f"low {tuple(low.shape)} and high {tuple(high.shape)} must have the same shape")
        if not (torch.isfinite(low).all() and torch.isfinite(high).all()):
            raise ValueError("low and high must be finite (check the checkpoint's MIN_MAX statistics)")
        if (high < low).any():
            raise ValueError(f"high must be >= low; not in dims {torch.nonzero(high < low).flatten().tolist()}")
        if int(num_bins) < 2:
            raise ValueError(f"num_bins must be >= 2, got {num_bins}")
        self.low, self.high, self.num_bins, self.dim = low, high, int(num_bins), low.shape[0]
        denom = high - low
        self.denom = torch.where(denom == 0, torch.tensor(MIN_MAX_EPS, dtype=torch.float32), denom)
        edges = torch.linspace(-1.0 - EPS, 1.0 + EPS, self.num_bins + 1)  # float32, as theirs
        self.edges = edges[:-1]  # what they bucketize against
        self.centres = 0.5 * (edges[:-1] + edges[1:])  # (num_bins,)

    def _values(self, x) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(x, dtype=np.float32))
        if x.shape[-1:] != (self.dim,):
            raise ValueError(f"expected last dimension {self.dim}, got shape {tuple(x.shape)}")
        return x

    def normalize(self, x) -> torch.Tensor:
        """``(..., D)`` raw values -> float32 MIN_MAX-normalised values (LeRobot's formula)."""
        return 2 * (self._values(x) - self.low) / self.denom - 1

    def unnormalize(self, n) -> torch.Tensor:
        """``(..., D)`` normalised values -> float32 raw values (LeRobot's inverse formula)."""
        return (self._values(n) + 1) / 2 * self.denom + self.low

    def to_bins(self, x, offset=None) -> np.ndarray:
        """``(..., D)`` raw values -> ``(..., D)`` int64 bins; ``offset`` in normalised units."""
        n = self.normalize(x)
        if offset is not None:
            n = n - torch.as_tensor(np.asarray(offset, dtype=np.float32))
        if not torch.isfinite(n).all():
            raise ValueError("cannot bin NaN or inf values")
        return (torch.bucketize(n, self.edges) - 1).clamp(min=0).numpy().astype(np.int64)

    def from_bins(self, bins, offset=None) -> np.ndarray:
        """``(..., D)`` bins -> ``(..., D)`` raw values (float32 values in a float64 array)."""
        bins = torch.as_tensor(np.asarray(bins, dtype=np.int64))
        if bins.shape[-1:] != (self.dim,):
            raise ValueError(f"expected last dimension {self.dim}, got shape {tuple(bins.shape)}")
        if bins.numel() and (bins.min() < 0 or bins.max() >= self.num_bins):
            raise ValueError(f"bins must lie in [0, {self.num_bins - 1}]")
        n = self.centres[bins]
        if offset is not None:
            n = n + torch.as_tensor(np.asarray(offset, dtype=np.float32))
        return self.unnormalize(n).numpy().astype(np.float64)


@dataclass(frozen=True)
class EncodedNumbers:
    """Token ids of a sequence of integers written as text.

    Attributes:
        ids: ``(T,)`` token ids.
        value_index: ``(T,)`` index of the integer each token belongs to, ``-1`` on separators.
    """

    ids: torch.Tensor
    value_index: torch.Tensor


class BinTokenTable:
    """Precomputed token ids of every integer ``0 .. num_bins - 1`` for one tokenizer.

    Built once per tokenizer; :meth:`encode` then concatenates table rows. The constructor
    checks that this concatenation equals what the tokenizer itself produces for the text, so a
    tokenizer that merges digits or spaces differently fails loudly instead of training on ids
    it would never generate.
    """

    def __init__(self, tokenizer, num_bins: int):
        self.num_bins = int(num_bins)
        sep = tokenizer.encode(" ", add_special_tokens=False)
        if len(sep) != 1:
            raise ValueError(f"the tokenizer must encode a single space as one token, got {sep}")
        self.sep_id = sep[0]
        rows = [tokenizer.encode(str(i), add_special_tokens=False) for i in range(self.num_bins)]
        width = max(len(r) for r in rows)
        self.lengths = torch.tensor([len(r) for r in rows])
        self.table = torch.full((self.num_bins, width), -1, dtype=torch.long)
        for i, r in enumerate(rows):
            self.table[i, : len(r)] = torch.tensor(r)
        probe = np.array([0, 7, self.num_bins - 1, 10 % self.num_bins, 99 % self.num_bins])
        text = " ".join(map(str, probe))
        expected = tokenizer.encode(text, add_special_tokens=False)
        got = self.encode(probe).ids.tolist()
        if expected != got:
            raise ValueError(
                "the tokenizer does not split integers independently of their neighbours "
                f"({text!r}: {expected} != {got}); VLA-0 text actions need digit-level tokens"
            )
        self.digit_ids = sorted({int(t) for r in rows for t in r})

    def encode(self, bins) -> EncodedNumbers:
        """Flattened bins -> token ids ``n0 SEP n1 SEP ... n_last`` with a value index."""
        flat = torch.as_tensor(np.asarray(bins).reshape(-1), dtype=torch.long)
        n = flat.numel()
        lengths = self.lengths[flat]  # (n,)
        pieces = self.table[flat]  # (n, width)
        keep = torch.arange(pieces.shape[1])[None, :] < lengths[:, None]
        # interleave each number with one separator column, then drop the padding and last SEP
        sep = torch.full((n, 1), self.sep_id, dtype=torch.long)
        ids = torch.cat([pieces, sep], dim=1)
        mask = torch.cat([keep, torch.ones(n, 1, dtype=torch.bool)], dim=1)
        vidx = torch.cat([torch.arange(n)[:, None].expand_as(pieces), torch.full((n, 1), -1)], dim=1)
        ids, vidx = ids[mask][:-1], vidx[mask][:-1]
        return EncodedNumbers(ids=ids, value_index=vidx)
