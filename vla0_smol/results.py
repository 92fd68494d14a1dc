"""Results on disk: JSON written atomically, rollout videos (tables and plots are made from these)."""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def exclusive(path: Path):
    """Hold an exclusive lock on ``<path>.lock`` (another process asking for it waits).

    Two chapters or notebooks that build the same dataset or train the same run folder at once
    (``vla0-smol recipes run --jobs 2``, two Jupyter tabs) take turns: the second then finds the
    work done. The lock is released when the holder exits, even when it crashes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def save_json(data: dict, path: Path) -> Path:
    """Write JSON atomically (a crash never leaves half a file; two writers never share a temporary)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f"{path.suffix}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=float))
    tmp.replace(path)
    return path


def write_video(frames: list[np.ndarray], path: Path, fps: int) -> Path:
    """Frames (H, W, 3) uint8 as an mp4 at ``fps``."""
    import imageio.v2 as imageio

    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimsave(path, frames, fps=fps, macro_block_size=8)
    return path


def write_strip(frames: np.ndarray, path: Path, n: int = 6) -> tuple[Path, list[int]]:
    """``n`` frames of an episode, evenly spaced from the first to the last, side by side as a PNG.

    Args:
        frames: (T, H, W, 3) uint8, one per step (the reset frame first).
        path: the PNG to write, (H, n * W, 3).
        n: frames in the strip (all of them when the episode has fewer).

    Returns:
        The path and the indices (steps) of the frames shown.
    """
    import imageio.v2 as imageio

    steps = sorted({int(round(i)) for i in np.linspace(0, len(frames) - 1, min(n, len(frames)))})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.imwrite(path, np.concatenate([frames[i] for i in steps], axis=1))
    return path, steps
