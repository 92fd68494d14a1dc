"""Character masking, seen from the model: a masked action string and what the model puts there.

Character masking (VLA-0, Sec. III.B; :mod:`vla0_smol.masking`) replaces single tokens of the
target action text (a digit or a separating space) in the model's *input* by a mask token and
takes them out of the loss. The model reads the masked string; at every position it still
predicts the next token from everything before it, so what it predicts just before a mask is its
completion of the hidden character, made without the character and, after an earlier mask,
without the characters that mask hid.

* :func:`dataset_batches`: training samples of a LeRobotDataset (an image, the state, a chunk each).
* :func:`completion_policy`: the policy to look at: the profile's character-masking checkpoint when
  its ablation has run, else the profile's backbone not fine-tuned.
* :func:`masked_completion`: one sample masked as in training, and the model's prediction and
  probabilities at every action position (:class:`Completion`).
* :func:`completion_accuracy`, :func:`completion_sentence`, :func:`plot_completion`: the summary,
  one sentence and the picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..masking import MaskingConfig, mask_actions
from ..prompt import IGNORE_INDEX


@dataclass
class Completion:
    """One masked action string and the model's predictions along it (``T`` action tokens).

    Attributes:
        target: ``(T,)`` text of the true token at each position.
        inputs: ``(T,)`` text the model reads there (the mask token where masked).
        masked: ``(T,)`` bool, masked positions.
        loss: ``(T,)`` bool, positions that carry loss in training.
        predicted: ``(T,)`` the model's top token among digits and the space, given what precedes.
        p_predicted: ``(T,)`` its probability (softmax over the whole vocabulary).
        p_target: ``(T,)`` probability of the true token.
    """

    target: list[str]
    inputs: list[str]
    masked: np.ndarray
    loss: np.ndarray
    predicted: list[str]
    p_predicted: np.ndarray
    p_target: np.ndarray

    @property
    def correct(self) -> np.ndarray:
        """``(T,)`` bool: the top prediction is the true token."""
        return np.array([p == t for p, t in zip(self.predicted, self.target)])


def dataset_batches(repo_id: str, root: Path | None, indices: list[int] | int, chunk_size: int) -> list[dict]:
    """Frames of a dataset, each with its chunk of ``chunk_size`` actions, as batches of one.

    ``indices``: the frames, or their number (spread evenly over the dataset, first and last included).
    """
    import logging

    from lerobot.datasets.lerobot_dataset import LeRobotDataset, LeRobotDatasetMetadata

    quiet = logging.getLogger("lerobot.utils.import_utils")  # its video-decoder warning: PushT's frames are PNG
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        fps = LeRobotDatasetMetadata(repo_id, root=root).fps
        ds = LeRobotDataset(repo_id, root=root, delta_timestamps={"action": [k / fps for k in range(chunk_size)]})
        if isinstance(indices, int):
            indices = np.linspace(0, len(ds) - 1, indices).round().astype(int).tolist()
        items = [ds[i] for i in indices]
    finally:
        quiet.setLevel(level)
    return [{k: (v[None] if torch.is_tensor(v) else [v]) for k, v in item.items()} for item in items]


def completion_policy(profile: str, results_dir: Path, data_dir: Path, seed: int = 0):
    """``(policy, label, trained)``: the character-masking arm's checkpoint, else the backbone not fine-tuned.

    The checkpoint is the best one of ``ablation_masking``'s character-masking arm at ``seed``
    (found under ``results/<profile>/arms/``); before that chapter has run, a fresh policy of the
    profile with the dataset's ranges and the same masking settings.
    """
    from ..modeling_vla0_smol import VLA0SmolPolicy
    from ..pusht.pipeline import pusht_config, pusht_dataset
    from ..pusht.profiles import pusht_profile
    from ..training import load_checkpoint
    from .ablation import arm_checkpoint, blog_grid
    from .paths import shown

    prof = pusht_profile(profile)
    arm = next(a for a in blog_grid("ablation_masking", 1.0) if a.policy.get("masking") == "char")
    ckpt = arm_checkpoint(Path(results_dir), profile, "ablation_masking", arm.name, seed)
    if ckpt is not None:
        return (
            load_checkpoint(ckpt, prof.device),
            f"'{arm.name}' arm of ablation_masking, checkpoint {shown(ckpt)}",
            True,
        )
    from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata

    repo_id, root = pusht_dataset(prof, data_dir, seed=seed)
    meta = LeRobotDatasetMetadata(repo_id, root=root)
    torch.manual_seed(seed)
    config = pusht_config(**{**prof.policy, **arm.policy})
    policy = VLA0SmolPolicy(config, dataset_stats=meta.stats, dataset_meta=meta).eval()
    note = f"no ablation_masking checkpoint at {profile} yet: that chapter runs later in the book"
    return policy, f"{config.vlm_model_name}, not fine-tuned ({note})", False


@torch.no_grad()
def masked_completion(policy, batch: dict, masking: MaskingConfig, rng: np.random.Generator) -> Completion:
    """Mask the sample's action text as training does and read the model's predictions along it.

    Args:
        policy: a ``VLA0SmolPolicy`` (evaluation mode: the centre crop).
        batch: one sample (:func:`dataset_batches`).
        masking: a "char" or "none" masking (whole-value masking changes the length of the text).
        rng: the masking draw.
    """
    if masking.mode not in ("char", "none"):
        raise ValueError(f"masked_completion shows character masking; got mode {masking.mode!r}")
    tok = policy.processor.tokenizer
    enc = policy.table.encode(policy.target_bins(batch)[0])
    ids, labels = mask_actions(enc, enc.ids.clone(), masking, policy.mask_id, rng)
    state_bins = policy._state_bins(batch)
    task = policy._tasks(batch, 1)[0]
    sample = policy.prompts.build(task, None if state_bins is None else state_bins[0], ids, labels)
    device = policy.action_min.device
    out = policy.vlm.model(
        input_ids=sample.input_ids[None].to(device),
        attention_mask=torch.ones(1, sample.input_ids.numel(), dtype=torch.long, device=device),
        pixel_values=policy._images(batch),
        use_cache=False,
    )
    n, start = enc.ids.numel(), sample.prompt_len
    hidden = out.last_hidden_state[0, start - 1 : start - 1 + n]  # (T, E): position i-1 predicts token i
    probs = torch.softmax(policy.vlm.lm_head(hidden).float(), dim=-1).cpu()  # (T, V)
    allowed = torch.tensor(policy.table.digit_ids + [policy.table.sep_id])
    top = allowed[probs[:, allowed].argmax(-1)]  # (T,) best digit or space
    rows = torch.arange(n)

    def text(i) -> list[str]:
        return [tok.decode([t]) for t in i.tolist()]

    return Completion(
        target=text(enc.ids),
        inputs=text(ids),
        masked=(ids == policy.mask_id).numpy(),
        loss=(labels != IGNORE_INDEX).numpy(),
        predicted=text(top),
        p_predicted=probs[rows, top].numpy(),
        p_target=probs[rows, enc.ids].numpy(),
    )


def completion_accuracy(completions: list[Completion]) -> dict:
    """Top-1 accuracy and mean probability of the true token, at masked and at unmasked positions."""
    out = {}
    for name, pick in (("masked", lambda c: c.masked), ("unmasked", lambda c: ~c.masked)):
        correct = np.concatenate([c.correct[pick(c)] for c in completions])
        p_true = np.concatenate([c.p_target[pick(c)] for c in completions])
        out[name] = {
            "positions": int(correct.size),
            "accuracy": float(correct.mean()) if correct.size else float("nan"),
            "p_target": float(p_true.mean()) if p_true.size else float("nan"),
        }
    return out


def completion_sentence(acc: dict, choices: int) -> str:
    """One sentence from :func:`completion_accuracy`; ``choices``: tokens a prediction is taken among."""
    m, u = acc["masked"], acc["unmasked"]
    return (
        f"At the {m['positions']} masked positions the model's top completion is the hidden character "
        f"{100 * m['accuracy']:.0f}% of the time (mean probability of the true character {m['p_target']:.3f}); "
        f"at the {u['positions']} unmasked positions, predicted the same way from what precedes them, "
        f"{100 * u['accuracy']:.0f}% ({u['p_target']:.3f}); a uniform guess among the {choices} tokens (digits and "
        f"the space) is right {100 / choices:.0f}% of the time."
    )


def plot_completion(c: Completion, path: Path, title: str = "", per_line: int = 42) -> Path:
    """Three rows of cells: the true text, what the model reads (masks orange), its completion at the masks.

    A long chunk is cut into bands of ``per_line`` characters, one under the other, so that the
    characters stay legible at page width.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    from .report import _save

    n = len(c.target)
    bands = max(1, -(-n // per_line))
    width = min(n, per_line)
    fig = Figure(figsize=(0.25 * width + 1.8, 1.25 * bands + 0.7))
    ax = fig.subplots()
    rows = [("target", c.target), ("model reads", c.inputs), ("model predicts", c.predicted)]
    ticks, labels = [], []
    for b in range(bands):
        top = -4.0 * b
        for y, (name, cells) in enumerate(rows):
            ticks.append(top - y)
            labels.append(name)
            for x in range(b * per_line, min(n, (b + 1) * per_line)):
                t, col = cells[x], x - b * per_line
                face = "white"
                if y == 0 and c.loss[x]:
                    face = "#d9f2d9"  # carries loss
                if y == 1 and c.masked[x]:
                    face = "#ffc38a"  # masked
                if y == 2:
                    if not c.masked[x]:
                        continue
                    face = "#9be59b" if c.correct[x] else "#f4a6a6"
                ax.add_patch(Rectangle((col, top - y - 0.45), 0.95, 0.9, facecolor=face, edgecolor="0.75", lw=0.5))
                ax.text(col + 0.47, top - y, t.replace(" ", "·"), ha="center", va="center", fontsize=10,
                        family="monospace")  # fmt: skip
                if y == 2:
                    ax.text(col + 0.47, top - y - 0.75, f"{c.p_predicted[x]:.2f}", ha="center", va="center", fontsize=7)
    ax.set_xlim(-0.2, width + 0.2)
    ax.set_ylim(-4.0 * (bands - 1) - 3.1, 0.6)
    ax.set_yticks(ticks, labels, fontsize=9)
    ax.set_xticks([])
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title(
        title
        or "character masking: green target cells carry loss; orange: masked; "
        "bottom: top prediction at each mask (green right, red wrong) and its probability",
        fontsize=10,
        loc="left",
    )
    fig.tight_layout()
    return _save(fig, path)
