"""Masked action augmentation (training only).

VLA-0 (Sec. III.B) replaces random *characters* of the target action string so the model cannot
finish a number by auto-completion and must look at the image. The blog's variant masks
*whole action values*: every token of a chosen integer is replaced by one mask token. In both,
the masked input positions carry no loss (their label is -100): the model is never asked to
predict a mask, and the tokens after a mask are predicted without seeing what it hid.

Both work on token ids (digits and the separating space are one token each in SmolLM2's
tokenizer and in the tiny preset's), so no string is built per sample.

The draw follows the authors' code (``apply_action_masking`` in their ``modeling_vla0.py``; the
blog does not say): a sample is left unmasked with probability ``skip_prob``; otherwise a
fraction f is drawn uniformly in ``[0, max_fraction]`` and exactly ``int(n * f)`` of its n values
are masked, chosen without replacement. (Masking each value with probability f instead masks
1.5-1.8x more at PushT's 20 values and 0.15.) Character masking, which the authors' code does
not have, masks each character token with probability f.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .prompt import IGNORE_INDEX
from .tokens import EncodedNumbers

MASK_MODES = ("none", "whole", "char")


@dataclass
class MaskingConfig:
    """How action text is masked in training.

    Attributes:
        mode: "none", "whole" (the blog's whole-action masking) or "char" (VLA-0's).
        max_fraction: per-sample masking fraction f is drawn uniformly in [0, max_fraction];
            "whole" masks exactly int(n_values * f) values, "char" each token with probability f.
        skip_prob: probability that a sample is left unmasked.
    """

    mode: str = "whole"
    max_fraction: float = 0.15
    skip_prob: float = 0.1

    def __post_init__(self):
        if self.mode not in MASK_MODES:
            raise ValueError(f"masking mode must be one of {MASK_MODES}, got {self.mode!r}")
        if not 0.0 <= self.max_fraction <= 1.0:
            raise ValueError(f"max_fraction must be in [0, 1], got {self.max_fraction}")
        if not 0.0 <= self.skip_prob <= 1.0:
            raise ValueError(f"skip_prob must be in [0, 1], got {self.skip_prob}")


def mask_actions(
    enc: EncodedNumbers, labels: torch.Tensor, cfg: MaskingConfig, mask_id: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask one sample's action tokens.

    Args:
        enc: the action tokens and the integer each belongs to (-1 for separators).
        labels: ``(T,)`` labels before masking (``enc.ids``, with -100 where already excluded).
        cfg: masking settings.
        mask_id: token id that replaces masked content.
        rng: the caller's generator (seeded for reproducibility).

    Returns:
        ``(ids, labels)``: input ids after masking and their labels (-100 at masks). In
        "whole" mode a masked integer of k tokens becomes a single mask token.
    """
    ids = enc.ids
    if cfg.mode == "none" or rng.random() < cfg.skip_prob:
        return ids, labels
    fraction = rng.uniform(0.0, cfg.max_fraction)
    if cfg.mode == "char":
        hit = torch.from_numpy(rng.random(ids.numel()) < fraction)
        ids = ids.masked_fill(hit, mask_id)
        return ids, labels.masked_fill(hit, IGNORE_INDEX)
    n_values = int(enc.value_index.max()) + 1 if enc.value_index.numel() else 0
    chosen = torch.zeros(n_values, dtype=torch.bool)
    chosen[rng.choice(n_values, int(n_values * fraction), replace=False)] = True
    vidx = enc.value_index
    hit = (vidx >= 0) & chosen[vidx.clamp(min=0)]
    # keep the first token of each masked value (turned into the mask) and drop the rest
    first = hit & torch.cat([torch.ones(1, dtype=torch.bool), vidx[1:] != vidx[:-1]])
    keep = ~hit | first
    ids = ids.masked_fill(first, mask_id)[keep]
    labels = labels.masked_fill(first, IGNORE_INDEX)[keep]
    return ids, labels
