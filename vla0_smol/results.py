"""Results on disk: JSON written atomically, rollout videos (tables and plots are made from these)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def save_json(data: dict, path: Path) -> Path:
    """Write JSON atomically (a crash never leaves half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=float))
    tmp.replace(path)
    return path


def write_video(frames: list[np.ndarray], path: Path, fps: int) -> Path:
    """Frames (H, W, 3) uint8 as an mp4 at ``fps``."""
    import imageio.v2 as imageio

    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimsave(path, frames, fps=fps, macro_block_size=8)
    return path
