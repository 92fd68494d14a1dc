"""The recipe book: notebooks and recipes stay paired, and every recipe runs at the smoke profile."""

import json
from pathlib import Path

import jupytext
import nbformat
import pytest
from testkit import parameterised_notebook

from vla0_smol.book.recipes import RECIPES, run_recipes

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))


def test_every_recipe_has_a_notebook_and_back():
    assert sorted(p.stem for p in NOTEBOOKS) == sorted(RECIPES)
    assert sorted(p.stem for p in (ROOT / "recipes").glob("*.ipynb")) == sorted(RECIPES)


@pytest.mark.parametrize("script", NOTEBOOKS, ids=lambda p: p.stem)
def test_pair_in_sync_and_outputs_stripped(script):
    paired = ROOT / "recipes" / f"{script.stem}.ipynb"
    from_py = jupytext.read(script)
    from_ipynb = nbformat.read(paired, as_version=4)
    assert [c.source for c in from_py.cells] == [c.source for c in from_ipynb.cells], (
        f"{paired.name} is out of sync with {script.name}: run `jupytext --sync notebooks/{script.name}`"
    )
    for cell in from_ipynb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{paired.name} has outputs committed"
    params = [c for c in from_py.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    for name in ("profile", "seed", "out_dir"):
        assert f"{name} = " in params[0].source


TUTORIALS = ["quickstart", "action_as_text", "masking", "grammar", "ensembling", "blog_tables"]


def _ablation(out: Path, recipe: str) -> None:
    summary = json.loads((out / f"{recipe}.json").read_text())
    assert summary["profile"] == "smoke" and summary["arms"]
    assert all(0 <= a["success_rate"] <= 1 for a in summary["arms"])


def _libero(out: Path, recipe: str) -> None:
    libero = json.loads((out / "libero.json").read_text())
    assert libero["profile"] == "smoke" and libero["episodes"] and libero["wall_s"] > 0
    assert all({"suite", "task_id", "init_state", "success", "steps"} <= set(e) for e in libero["episodes"])
    assert libero["benchmark"]["offline_assets"] and libero["benchmark"]["asset_files_verified"] > 500


def _so100(out: Path, recipe: str) -> None:
    so100 = json.loads((out / "so100_deploy.json").read_text())
    assert so100["profile"] == "smoke" and so100["steps"] == so100["deploy"]["steps"] > 0
    assert {"clamp_activations", "watchdog_holds"} <= set(so100)
    assert so100["preflight"]["ok"] and so100["panel"]["mode"] == "text"  # headless: the panel's text lines
    assert so100["panel"]["seen"] + so100["panel"]["dropped"] == so100["steps"] and so100["dry_run"] is False


def _tables(out: Path, recipe: str) -> None:
    tables = (out / "tables.md").read_text()
    assert "(no result" not in tables
    assert tables.count("profile **smoke**") == 7  # the six PushT ablations and LIBERO


def _record(out: Path, recipe: str) -> None:
    record = json.loads((out / f"{recipe}.json").read_text())
    assert record["kind"] == "run record" and record["ok"] and record["seconds"] > 0


CHECKS = {"libero": [_libero], "so100_deploy": [_so100], "blog_tables": [_record, _tables]}
CHECKS |= {r: [_ablation] for r in RECIPES if r.startswith("ablation_")}
CHECKS |= {r: [_record] for r in TUTORIALS if r not in CHECKS}


@pytest.mark.slow
@pytest.mark.timeout(3600)  # the first of these runs the whole book (the session's smoke_book)
@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_runs_at_the_smoke_profile(smoke_book, recipe):
    """Each recipe of the book, executed once per session by ``recipes run --profile smoke``."""
    assert smoke_book.order == RECIPES  # every recipe ran, blog_tables last
    assert smoke_book.errors[recipe] is None, (
        f"{recipe}: {smoke_book.errors[recipe]} (log: {smoke_book.out / 'logs' / (recipe + '.log')})"
    )
    for check in CHECKS.get(recipe, []):
        check(smoke_book.out, recipe)


def test_unknown_recipe_is_named():
    with pytest.raises(ValueError, match="nonexistent"):
        run_recipes("smoke", only=["nonexistent"])


WAIT_FOR = """
import pathlib, time
here = pathlib.Path(out_dir)
(here / "{me}.started").touch()
for _ in range(1200):  # 120 s: a runner that executes one recipe at a time never gets past this
    if (here / "{other}.started").exists():
        break
    time.sleep(0.1)
else:
    raise TimeoutError("{other} never started beside {me}")
(here / "{me}.done").write_text(str(time.time()))
"""


@pytest.mark.slow
def test_jobs_run_chapters_side_by_side_and_blog_tables_after_them(tmp_path):
    """``jobs=2``: two chapters that each wait for the other to start both finish (they ran at
    once, each in its own kernel); ``blog_tables`` starts only once both are done; the runs come
    back in the book's order."""
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    parameterised_notebook(recipes / "action_as_text.ipynb", WAIT_FOR.format(me="a", other="b"))
    parameterised_notebook(recipes / "masking.ipynb", WAIT_FOR.format(me="b", other="a"))
    parameterised_notebook(
        recipes / "blog_tables.ipynb",
        "import pathlib, time\nhere = pathlib.Path(out_dir)\n"
        "assert (here / 'a.done').exists() and (here / 'b.done').exists()\n",
    )
    runs = run_recipes("smoke", only=["masking", "action_as_text"], results_dir=tmp_path / "results",
                       recipes_dir=recipes, timeout=300, jobs=2)  # fmt: skip
    assert [r.name for r in runs] == ["action_as_text", "masking", "blog_tables"]
    assert all(r.error is None for r in runs), [(r.name, r.error) for r in runs]
    with pytest.raises(ValueError, match="jobs"):
        run_recipes("smoke", jobs=0)
