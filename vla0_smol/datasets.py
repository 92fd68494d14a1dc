"""Local LeRobotDatasets, written safely: built once into a temporary folder, quietly.

Every benchmark builds its offline datasets (PushT expert and human demonstrations, the scripted
LIBERO dataset, the SO100 recording on the emulated arm) through :func:`build_once`, so a crash
or Ctrl-C mid-way never leaves a dataset that looks finished, and a finished one is reused.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path


def build_once(root: Path, build: Callable[[Path], object]) -> Path:
    """A local LeRobotDataset at ``root``, built by ``build(folder)`` unless already finished.

    ``build`` writes into ``<root>.partial``, renamed to ``root`` only when it returns, so a crash
    or Ctrl-C mid-way never leaves a dataset that looks finished (the next call starts over).
    """
    root = Path(root)
    if not (root / "meta" / "info.json").exists():
        tmp = root.with_name(root.name + ".partial")
        if tmp.exists():
            shutil.rmtree(tmp)
        build(tmp)
        tmp.rename(root)
    return root


@contextmanager
def quiet_datasets():
    """Silence the ``datasets`` library's per-episode "Map" bars while a dataset is written."""
    from datasets.utils import logging as ds_logging

    was_enabled = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            ds_logging.enable_progress_bar()
