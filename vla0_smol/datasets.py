"""Local LeRobotDatasets, written safely: built once into a temporary folder, quietly.

Every benchmark builds its offline datasets (PushT expert and human demonstrations, the scripted
LIBERO dataset, the SO100 recording on the emulated arm) through :func:`build_once`, so a crash
or Ctrl-C mid-way never leaves a dataset that looks finished, and a finished one is reused.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from .results import exclusive

DATA_DIR_ENV = "VLA0_SMOL_DATA_DIR"


def default_data_dir() -> Path:
    """Where generated datasets go when the caller names no folder: ``$VLA0_SMOL_DATA_DIR``, else ``data``.

    The variable moves every generated dataset elsewhere (the test suite points it at a temporary
    folder, so that nothing lands in the checkout and no data built by older code is reused); the
    book's chapters read it through :func:`vla0_smol.book.paths.data_dir`.
    """
    return Path(os.environ.get(DATA_DIR_ENV) or "data")


def build_once(root: Path, build: Callable[[Path], object]) -> Path:
    """A local LeRobotDataset at ``root``, built by ``build(folder)`` unless already finished.

    ``build`` writes into ``<root>.partial``, renamed to ``root`` only when it returns, so a crash
    or Ctrl-C mid-way never leaves a dataset that looks finished (the next call starts over). Two
    processes asking for the same dataset at once take turns (``<root>.lock``): one builds it.
    """
    root = Path(root)
    with exclusive(root):  # a second process building the same dataset waits, then reuses it
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
