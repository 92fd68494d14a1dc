"""The smoke book and the smoke demo, each run once per test session and shared by the tests that read them.

Both write into temporary folders only (results, executed notebooks, logs; generated datasets go
to the session's ``$VLA0_SMOL_DATA_DIR``, see ``tests/conftest.py``). A per-cell timeout bounds
the book: a hung cell fails its recipe (named in the test) instead of hanging the run.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

CELL_TIMEOUT_S = 900  # one cell of a smoke chapter; the slowest (ablation_lr's grid) takes ~100 s on 2 cores
BOOK_TIMEOUT_S = 3600  # the first test to use the book pays for all 16 recipes (~4-7 min on 2 cores)
# two chapters at once, one thread each (tests/conftest.py): the pytest process only waits meanwhile,
# so one kernel alone would leave a core idle (the book took 416 s one at a time on an idle machine)
BOOK_JOBS = 2


@dataclass
class SmokeBook:
    out: Path  # results/<profile>: JSON, tables.md, executed/, logs/
    errors: dict[str, str | None]  # recipe -> error (None: ran)
    order: list[str]  # recipes in the order they ran
    sources_changed: list[str]  # files of recipes/ and notebooks/ that running the book added or changed


def source_tree() -> dict[str, str]:
    """Every file of ``recipes/`` and ``notebooks/`` with its hash."""
    root = Path(__file__).resolve().parents[2]
    files = sorted(p for d in ("recipes", "notebooks") for p in (root / d).rglob("*") if p.is_file())
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory) -> SmokeBook:
    """Every recipe executed once at the smoke profile (``vla0-smol recipes run --profile smoke``)."""
    from vla0_smol.book.recipes import run_recipes

    results = tmp_path_factory.mktemp("smoke_book")
    before = source_tree()
    runs = run_recipes("smoke", results_dir=results, timeout=CELL_TIMEOUT_S, jobs=BOOK_JOBS)
    after = source_tree()
    changed = sorted(k for k in after if before.get(k) != after[k])
    return SmokeBook(results / "smoke", {r.name: r.error for r in runs}, [r.name for r in runs], changed)


@dataclass
class DemoRun:
    out: Path  # the demo's --out folder (summary.json, train/, plots)
    data: Path  # its --data-dir
    command: list[str]
    proc: subprocess.CompletedProcess


@pytest.fixture(scope="session")
def smoke_demo(tmp_path_factory) -> DemoRun:
    """``vla0-smol demo --profile smoke`` run once, as a user runs it (a subprocess)."""
    root = tmp_path_factory.mktemp("smoke_demo")
    cmd = [sys.executable, "-m", "vla0_smol.book.cli", "demo", "--profile", "smoke"]
    cmd += ["--out", str(root / "demo"), "--data-dir", str(root / "data")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    return DemoRun(root / "demo", root / "data", cmd, proc)
