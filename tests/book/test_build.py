"""``vla0-smol book build``: executed chapters with a banner, a static site, and never stale."""

from pathlib import Path

import jupytext
import nbformat
import pytest

from vla0_smol.book.build import BANNER_TAG, code_sources, export_chapter, render_site, stale_chapters

ROOT = Path(__file__).resolve().parents[2]
BUILT = sorted((ROOT / "docs" / "book").glob("*/*.ipynb"))


def _executed(tmp_path: Path, name: str, edit: str = "") -> Path:
    """What papermill writes: the recipe's cells, an injected-parameters cell, outputs."""
    nb = jupytext.read(ROOT / "notebooks" / f"{name}.py")
    injected = nbformat.v4.new_code_cell('profile = "smoke"')
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(1, injected)
    code = [c for c in nb.cells if c.cell_type == "code"]
    code[-1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="done\n")]
    code[-1].source += edit
    path = tmp_path / "executed" / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_export_adds_the_banner_and_keeps_the_code(tmp_path):
    chapter = export_chapter(_executed(tmp_path, "grammar"), tmp_path / "book" / "grammar.ipynb", "smoke")
    nb = nbformat.read(chapter, as_version=4)
    assert nb.cells[0].metadata["tags"] == [BANNER_TAG] and "`smoke` profile" in nb.cells[0].source
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert stale_chapters(tmp_path / "book") == []
    index = render_site([chapter], tmp_path / "book" / "html", "smoke")
    assert 'href="grammar.html"' in index.read_text()
    assert "Executed at the" in (tmp_path / "book" / "html" / "grammar.html").read_text()


def test_a_chapter_executed_from_an_older_source_is_stale(tmp_path):
    export_chapter(_executed(tmp_path, "masking", edit="\nx = 1"), tmp_path / "book" / "masking.ipynb", "smoke")
    assert stale_chapters(tmp_path / "book") == ["masking"]


@pytest.mark.parametrize("chapter", BUILT, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_committed_chapters_match_the_notebooks(chapter):
    """docs/book/<profile>/ is an artifact: rebuild it (vla0-smol book build) after editing a notebook."""
    executed = code_sources(nbformat.read(chapter, as_version=4))
    assert executed == code_sources(jupytext.read(ROOT / "notebooks" / f"{chapter.stem}.py")), (
        f"{chapter} is stale: run `vla0-smol book build --profile {chapter.parent.name}`"
    )
