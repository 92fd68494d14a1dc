"""Statistics of relative actions, computed in raw units over a dataset's action chunks.

With relative actions the model predicts ``action[t + k] - state[t]`` for ``k < H``. Their
range is not the range of the actions, nor a difference of two normalised spaces (a defect of the
authors' code): it is measured here over every (t, k) pair inside an episode.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from lerobot.utils.constants import ACTION, OBS_STATE


def load_columns(root: Path, columns: list[str]) -> dict[str, np.ndarray]:
    """Read columns of a local LeRobotDataset's parquet files (all episodes, in order)."""
    files = sorted((Path(root) / "data").glob("*/*.parquet"))
    if not files:
        raise FileNotFoundError(f"no parquet files under {Path(root) / 'data'}")
    frames = pd.concat([pd.read_parquet(f, columns=columns + ["index"]) for f in files]).sort_values("index")
    return {c: np.stack(frames[c].to_numpy()) for c in columns}


def relative_deltas(
    actions: np.ndarray, states: np.ndarray, episodes: np.ndarray, horizon: int, rel_index
) -> np.ndarray:
    """All ``action[t + k] - state[t]`` (k < horizon, same episode), ``(N, D)``.

    Args:
        actions: ``(T, D)`` raw actions.
        states: ``(T, S)`` raw states.
        episodes: ``(T,)`` episode index of each frame.
        horizon: chunk length H.
        rel_index: per action dim, the state index subtracted (-1: left absolute).
    """
    rel = np.asarray(rel_index)
    offset = np.where(rel >= 0, states[:, np.clip(rel, 0, None)], 0.0)  # (T, D)
    out = []
    for k in range(horizon):
        same = episodes[k:] == episodes[: len(episodes) - k]
        out.append((actions[k:] - offset[: len(actions) - k])[same])
    return np.concatenate(out)


def relative_action_stats(dataset_meta, horizon: int, rel_index) -> dict[str, np.ndarray]:
    """``min``/``max``/``mean``/``std`` of relative actions over a LeRobotDataset."""
    cols = load_columns(dataset_meta.root, [ACTION, OBS_STATE, "episode_index"])
    deltas = relative_deltas(cols[ACTION], cols[OBS_STATE], cols["episode_index"], horizon, rel_index)
    return {"min": deltas.min(0), "max": deltas.max(0), "mean": deltas.mean(0), "std": deltas.std(0)}
