"""What one bin is worth: the ranges of absolute and relative actions, and the width of a bin.

The policy cuts each action dimension's measured range into ``num_bins`` equal bins
(:meth:`~vla0_smol.tokens.ActionTokenizer.from_range`). For absolute targets the range is the
dataset's min/max of the action; for relative ones (the blog's PushT setting) it is the min/max
of ``action[t + k] - state[t]`` over every chunk position ``k < H`` of every episode
(:func:`~vla0_smol.stats.relative_deltas`), the statistics the policy computes itself. With the
same number of bins, the narrower range gives the finer bin: on PushT, whose actions are targets
in pixels of the 512 x 512 workspace, a bin's width is a distance on the table.

* :func:`action_resolution`: both representations' values, ranges and bin widths, from arrays.
* :func:`pusht_action_resolution`: the same from a PushT profile's dataset (:func:`pusht_columns`)
  and policy config.
* :func:`resolution_sentence`: one sentence generated from those numbers.
* :func:`plot_action_resolution`: histograms of both, one bin's width written on each.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..stats import load_columns, relative_deltas
from ..tokens import ActionTokenizer

AXES = ("x", "y")  # PushT's action dimensions


@dataclass
class Representation:
    """One way of writing the actions: the values binned and the tokenizer that bins them.

    Attributes:
        name: "absolute" or "relative".
        values: ``(N, D)`` every value the policy bins (actions, or action - state per chunk position).
        tokenizer: the policy's tokenizer for them (range widened as the policy widens it).
    """

    name: str
    values: np.ndarray
    tokenizer: ActionTokenizer

    @property
    def low(self) -> np.ndarray:
        """``(D,)`` measured minimum (before the policy's widening)."""
        return self.values.min(0)

    @property
    def high(self) -> np.ndarray:
        """``(D,)`` measured maximum."""
        return self.values.max(0)

    @property
    def bin_width(self) -> np.ndarray:
        """``(D,)`` width of one bin, in the actions' units."""
        return self.tokenizer.bin_width

    def summary(self) -> dict:
        return {
            "name": self.name,
            "n_values": int(len(self.values)),
            "low": self.low.tolist(),
            "high": self.high.tolist(),
            "bin_width": self.bin_width.tolist(),
            "num_bins": self.tokenizer.num_bins,
        }


def action_resolution(
    actions: np.ndarray, states: np.ndarray, episodes: np.ndarray, horizon: int, num_bins: int, rel_index=None
) -> dict[str, Representation]:
    """Absolute and relative actions of a dataset, with the policy's bins for each.

    Args:
        actions: ``(T, D)`` raw actions of every frame.
        states: ``(T, S)`` raw states.
        episodes: ``(T,)`` episode index of each frame.
        horizon: chunk length H (relative values are formed for every chunk position).
        num_bins: bins per dimension (the config's ``num_bins``).
        rel_index: per action dimension, the state index subtracted; default: dimension i of both.
    """
    actions = np.asarray(actions, dtype=np.float64)
    rel_index = list(range(actions.shape[1])) if rel_index is None else list(rel_index)
    relative = relative_deltas(actions, np.asarray(states, dtype=np.float64), np.asarray(episodes), horizon, rel_index)
    out = {}
    for name, values in (("absolute", actions), ("relative", relative)):
        out[name] = Representation(name, values, ActionTokenizer.from_range(values.min(0), values.max(0), num_bins))
    return out


def pusht_columns(profile: str, data_dir: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """``action``, ``observation.state`` and ``episode_index`` of every frame of a PushT profile's dataset."""
    from ..pusht.pipeline import pusht_dataset
    from ..pusht.profiles import pusht_profile

    repo_id, root = pusht_dataset(pusht_profile(profile), data_dir, seed=seed)
    if root is None:  # a hub dataset: its frames (not its videos) into the HF cache
        from lerobot.datasets.lerobot_dataset import LeRobotDataset

        root = LeRobotDataset(repo_id, download_videos=False).root
    return load_columns(root, ["action", "observation.state", "episode_index"])


def pusht_action_resolution(profile: str, data_dir: Path, seed: int = 0) -> dict[str, Representation]:
    """:func:`action_resolution` on a PushT profile's demonstrations, with its config's H and bins."""
    from ..pusht.pipeline import pusht_config
    from ..pusht.profiles import pusht_profile

    config = pusht_config(**{**pusht_profile(profile).policy, "relative_actions": True})
    cols = pusht_columns(profile, data_dir, seed)
    return action_resolution(
        cols["action"],
        cols["observation.state"],
        cols["episode_index"],
        config.chunk_size,
        config.num_bins,
        config.relative_index(),
    )


def _dims(values: np.ndarray, fmt: str) -> str:
    return " / ".join(format(float(v), fmt) for v in values)


def resolution_sentence(reps: dict[str, Representation], unit: str = "px", same: float = 0.1) -> str:
    """One sentence: both ranges, both bin widths, and whether a relative bin is finer.

    Args:
        reps: what :func:`action_resolution` returns.
        unit: the actions' unit.
        same: relative bins within this fraction of the absolute width count as equally fine.
    """
    a, r = reps["absolute"], reps["relative"]
    names = " / ".join(AXES[: len(a.low)])
    ratio = r.bin_width / a.bin_width  # (D,) < 1: the relative bin is finer

    def span(rep: Representation) -> str:
        return " and ".join(f"{lo:.1f} to {hi:.1f} {unit} in {n}" for lo, hi, n in zip(rep.low, rep.high, AXES))

    if (ratio < 1 - same).all():
        verdict = f"a relative bin is {_dims(1 / ratio, '.1f')} times finer"
    elif (ratio > 1 + same).all():
        verdict = f"a relative bin is {_dims(ratio, '.1f')} times coarser"
    else:
        verdict = (
            f"a relative bin is {_dims(ratio, '.2f')} times as wide as an absolute one, about as fine: "
            "binned over their full min/max range, relative actions gain no resolution on these demonstrations"
        )
    return (
        f"With {a.tokenizer.num_bins} bins per dimension, absolute targets span {span(a)}, so one bin is "
        f"{_dims(a.bin_width, '.2f')} {unit} ({names}); relative targets span {span(r)}, so one bin is "
        f"{_dims(r.bin_width, '.2f')} {unit}: {verdict}."
    )


def plot_action_resolution(reps: dict[str, Representation], path: Path, title: str = "", unit: str = "px") -> Path:
    """Histograms of absolute and relative values (one panel each, both dimensions), bin width written on each."""
    from matplotlib.figure import Figure

    from .report import _save

    fig = Figure(figsize=(11, 3.6))
    axes = fig.subplots(1, 2)
    for ax, rep in zip(axes, (reps["absolute"], reps["relative"])):
        for d in range(rep.values.shape[1]):
            ax.hist(rep.values[:, d], bins=60, alpha=0.55, color=f"C{d}", label=f"{AXES[d]}")
        central = np.percentile(rep.values, [2.5, 97.5], axis=0)  # (2, D)
        lines = [
            f"{AXES[d]}: {rep.low[d]:.1f} .. {rep.high[d]:.1f} {unit}, 1 bin = {rep.bin_width[d]:.2f} {unit}"
            f"\n   (95% of values in {central[0, d]:.1f} .. {central[1, d]:.1f})"
            for d in range(len(rep.low))
        ]
        ax.text(0.02, 0.97, "\n".join(lines), transform=ax.transAxes, va="top", fontsize=8,
                bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none"})  # fmt: skip
        what = "action" if rep.name == "absolute" else "action[t+k] - state[t], every k < H"
        head = f"{rep.name}: {what} ({len(rep.values)} values)"
        ax.set(xlabel=f"{rep.name} value ({unit})", ylabel="count", title=head)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    fig.suptitle(title or f"action values and one bin of {reps['absolute'].tokenizer.num_bins}", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
