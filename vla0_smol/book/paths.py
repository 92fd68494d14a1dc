"""Where the book reads and writes, whatever folder the kernel started in.

JupyterLab opened on ``recipes/`` starts its kernels there, papermill in the runner's ``cwd``:
every chapter resolves its paths here, from the repository root, so that ``results/<profile>/``
and ``data/`` are the same folders in every case and nothing lands beside the notebooks.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..datasets import DATA_DIR_ENV

_PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # vla0_smol/book/paths.py -> the checkout


def _is_root(path: Path) -> bool:
    return (path / "pyproject.toml").is_file() and (path / "notebooks").is_dir()


def repo_root() -> Path:
    """The repository (the folder holding ``pyproject.toml`` and ``notebooks/``).

    The checkout this package is imported from (an editable install); for an installed copy,
    the first such folder at or above the working directory; otherwise the working directory.
    """
    if _is_root(_PACKAGE_PARENT):
        return _PACKAGE_PARENT
    here = Path.cwd().resolve()
    return next((p for p in (here, *here.parents) if _is_root(p)), here)


def resolve(path: str | Path) -> Path:
    """``path`` if absolute, else relative to the repository root (never to the working directory)."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else repo_root() / path


def results_dir(profile: str, out_dir: str | Path | None = None) -> Path:
    """A chapter's output folder, created: ``out_dir`` if given, else ``results/<profile>``.

    Changing only ``profile`` moves every JSON result and plot to that profile's folder; a
    relative ``out_dir`` is read from the repository root.
    """
    out = resolve(out_dir) if out_dir else repo_root() / "results" / profile
    out.mkdir(parents=True, exist_ok=True)
    return out


def data_dir() -> Path:
    """``data/`` at the repository root: generated demonstrations and datasets, shared by chapters.

    ``$VLA0_SMOL_DATA_DIR`` (:data:`vla0_smol.datasets.DATA_DIR_ENV`), when set, replaces it: a
    kernel started by ``recipes run`` inherits it (the test suite's temporary folder).
    """
    other = os.environ.get(DATA_DIR_ENV)
    return Path(other).resolve() if other else repo_root() / "data"


def shown(path: str | Path | None) -> str:
    """``path`` as a chapter prints it: relative to the repository when inside it, else as given.

    The book is read on other machines: the absolute path of the one that built it says nothing
    there (and :mod:`vla0_smol.book.browser` fails a page that shows one).
    """
    if path is None:
        return "-"
    full = Path(path).expanduser()
    full = full.resolve() if full.is_absolute() else repo_root() / full
    root = repo_root().resolve()
    return str(full.relative_to(root)) if full.is_relative_to(root) else str(path)
