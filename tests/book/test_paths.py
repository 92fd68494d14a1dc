"""Chapters resolve their paths from the repository root, whatever folder the kernel starts in."""

import os
from pathlib import Path

import pytest
from testkit import parameterised_notebook

from vla0_smol.book import recipes
from vla0_smol.book.paths import data_dir, repo_root, results_dir

ROOT = Path(__file__).resolve().parents[2]


def test_results_dir_defaults_to_results_profile_at_the_root(tmp_path, monkeypatch):
    from vla0_smol.book import paths
    from vla0_smol.datasets import DATA_DIR_ENV, default_data_dir

    monkeypatch.chdir(tmp_path)  # as a kernel started in another folder
    monkeypatch.delenv(DATA_DIR_ENV)
    assert repo_root() == ROOT and data_dir() == ROOT / "data" and default_data_dir() == Path("data")
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "d"))  # the test suite's: nothing in the checkout
    assert data_dir() == default_data_dir() == tmp_path / "d"
    made = tmp_path / "checkout"
    monkeypatch.setattr(paths, "repo_root", lambda: made)  # results_dir creates its folder: not in ROOT
    assert results_dir("smoke") == made / "results" / "smoke"
    assert results_dir("cpu") == made / "results" / "cpu"  # only the profile changed: its own folder
    assert results_dir("smoke", tmp_path / "x") == tmp_path / "x" and (tmp_path / "x").is_dir()
    assert not list(tmp_path.glob("results*"))


def _files(*folders):
    return {p for f in folders for p in f.rglob("*") if "__pycache__" not in p.parts}


@pytest.mark.slow
def test_a_chapter_run_from_recipes_writes_nothing_beside_the_notebooks(tmp_path):
    """JupyterLab opened on recipes/ starts the kernel there: data and results still go to the root."""
    import papermill as pm

    before = _files(ROOT / "recipes", ROOT / "notebooks")
    rel = f"results/_test_cwd_{os.getpid()}"
    try:
        pm.execute_notebook(
            str(ROOT / "recipes" / "ensembling.ipynb"),
            str(tmp_path / "ensembling.ipynb"),
            parameters={"profile": "smoke", "seed": 0, "out_dir": rel},
            kernel_name=recipes.kernel_name(),
            cwd=str(ROOT / "recipes"),
            progress_bar=False,
        )
        assert (ROOT / rel).is_dir()  # a relative out_dir is read from the root, not from recipes/
    finally:
        if (ROOT / rel).is_dir():
            for p in sorted((ROOT / rel).rglob("*"), reverse=True):
                p.unlink() if p.is_file() else p.rmdir()
            (ROOT / rel).rmdir()
    assert _files(ROOT / "recipes", ROOT / "notebooks") == before


def test_runner_streams_progress_and_keeps_each_log(tmp_path, capsys):
    book = tmp_path / "recipes"
    book.mkdir()
    source = "import sys\nprint('hello from', profile)\nprint('a warning', file=sys.stderr)"
    parameterised_notebook(book / "masking.ipynb", source)
    parameterised_notebook(book / "blog_tables.ipynb", "print('tables')")
    runs = recipes.run_recipes("smoke", only=["masking"], results_dir=tmp_path / "res", recipes_dir=book)
    assert [r.error for r in runs] == [None, None]
    out = capsys.readouterr().out
    assert "[1/2] masking" in out and "[2/2] blog_tables" in out and "elapsed" in out
    log = (tmp_path / "res" / "smoke" / "logs" / "masking.log").read_text()
    assert "hello from smoke" in log and "a warning" in log
    assert "tables" in (tmp_path / "res" / "smoke" / "logs" / "blog_tables.log").read_text()


def test_progress_line_estimates_the_time_left(monkeypatch):
    monkeypatch.setitem(recipes.KNOWN_SECONDS, "cpu", {"masking": 60, "blog_tables": 30})
    line = recipes.progress_line(1, ["masking", "grammar", "blog_tables"], "cpu", 5)
    assert line.startswith("[1/3] masking") and "elapsed 0m05s" in line
    assert "left ~1m30s + 1 recipe(s) never timed at cpu" in line
    assert "left: unknown" in recipes.progress_line(1, ["grammar"], "cpu", 0)
