"""``vla0-smol book build``: executed chapters with a banner and small outputs, a site, never stale."""

import base64
import io
from pathlib import Path

import jupytext
import nbformat
import pytest

from vla0_smol.book.build import (
    BANNER_TAG,
    BUDGET_BYTES,
    book_bytes,
    build_book,
    chapters_of,
    code_sources,
    export_chapter,
    stale_chapters,
    write_contents,
)
from vla0_smol.book.site import build_site, missing_tools

ROOT = Path(__file__).resolve().parents[2]
BOOKS = sorted(p for p in (ROOT / "docs" / "book").glob("*") if p.is_dir())
BUILT = sorted((ROOT / "docs" / "book").glob("*/*.ipynb"))
needs_mkdocs = pytest.mark.skipif(bool(missing_tools()), reason=f"{missing_tools()} missing: pip install -e '.[docs]'")


def _png(width: int = 1200) -> str:
    """A matplotlib figure as papermill stores it (base64 PNG, RGBA)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width / 100, 3), dpi=100)
    ax = fig.subplots()
    ax.plot(range(50), [i**0.5 for i in range(50)], label="loss")
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode()


def _executed(tmp_path: Path, name: str, edit: str = "", rich: bool = False) -> Path:
    """What papermill writes: the recipe's cells, an injected-parameters cell, outputs."""
    nb = jupytext.read(ROOT / "notebooks" / f"{name}.py")
    injected = nbformat.v4.new_code_cell('profile = "smoke"')
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(1, injected)
    code = [c for c in nb.cells if c.cell_type == "code"]
    code[-1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="done\n")]
    code[-1].source += edit
    if rich:  # a figure, a table, an embedded video and a tqdm widget, as the kernel sends them
        video = base64.b64encode(b"\x00\x00\x00\x20ftypisom" + bytes(2000)).decode()
        video_html = f'<video controls><source src="data:video/mp4;base64,{video}"></video>'
        code[-1].outputs += [
            *(nbformat.v4.new_output("stream", name="stderr", text=t) for t in ["\rTraining: 0%", "\rTraining: 100%"]),
            nbformat.v4.new_output("stream", name="stderr", text="\n"),
            nbformat.v4.new_output("stream", name="stderr", text="WARNING: Could not load libtorchcodec.\n  (trace)\n"),
            nbformat.v4.new_output(
                "stream",
                name="stderr",
                text="\x1b[1m\x1b[33m[robosuite WARNING] \x1b[0mNo private macro file found! (__init__.py:7)\n"
                "eval: 100%|##########| 2/2 [00:01<00:00]\n",
            ),
            nbformat.v4.new_output(
                "stream",
                name="stderr",
                text="WARNING:root:Relative goal position magnitude had to be clamped to be safe.\n"
                "{   'gripper': {   'original goal_pos': 5.1,\n                   'safe goal_pos': 40.0}}\n",
            ),
            nbformat.v4.new_output("stream", name="stdout", text="[info] using task orders [0, 1, 2]\n"),  # LIBERO
            nbformat.v4.new_output("stream", name="stdout", text=f"saved {ROOT}/results/smoke/x.json\n"),
            nbformat.v4.new_output("display_data", data={"image/png": _png(), "text/plain": "<Figure>"}),
            nbformat.v4.new_output("display_data", data={"text/markdown": "| a | b |\n|---|---|\n| 1 | 2 |"}),
            nbformat.v4.new_output("display_data", data={"text/html": video_html}),
            nbformat.v4.new_output(
                "display_data",
                data={"application/vnd.jupyter.widget-view+json": {"model_id": "box"}, "text/plain": "eval: 0%"},
            ),
        ]
        models = {
            "box": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_a", "IPY_MODEL_bar", "IPY_MODEL_b"]}},
            "a": {"model_name": "HTMLModel", "state": {"value": "eval policy: 100%"}},
            "bar": {"model_name": "FloatProgressModel", "state": {"value": 2, "max": 2}},
            "b": {"model_name": "HTMLModel", "state": {"value": "\u20072/2 [00:01&lt;00:00]"}},
        }
        nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": models}}
    path = tmp_path / "executed" / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_export_adds_the_banner_and_keeps_the_code(tmp_path):
    executed = _executed(tmp_path, "grammar")
    chapter = export_chapter(executed, tmp_path / "book" / "grammar.ipynb", "smoke")
    nb = nbformat.read(chapter, as_version=4)
    assert nb.cells[0].metadata["tags"] == [BANNER_TAG] and "`smoke` profile" in nb.cells[0].source
    assert "plumbing" in nb.cells[0].source and "not results" in nb.cells[0].source
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert stale_chapters(tmp_path / "book") == []
    first = chapter.read_bytes()
    assert export_chapter(executed, chapter, "smoke").read_bytes() == first  # building twice: the same file
    contents = write_contents(tmp_path / "book", "smoke").read_text()
    assert "](grammar.ipynb)" in contents and "not results" in contents


def test_export_makes_outputs_small_and_readable(tmp_path):
    executed = _executed(tmp_path, "quickstart", rich=True)
    chapter = export_chapter(executed, tmp_path / "book" / "quickstart.ipynb", "smoke")
    outputs = [o for c in nbformat.read(chapter, as_version=4).cells for o in c.get("outputs", [])]
    streams = [o.text for o in outputs if o.output_type == "stream"]
    # one stderr stream, as a terminal shows it: no noise, no colour codes, no progress bar; the
    # clamp warnings as one sentence; the repository's own path cut
    assert streams == [
        "done\n",
        "Training: 100%\n",
        "saved results/smoke/x.json\n",
        "(LeRobot warned 1 time(s) during this cell that a relative goal position had to be clamped "
        "(max_relative_target); the run's own clamp counters count these steps.)\n",
    ]
    figure = next(o for o in outputs if {"image/png", "image/jpeg"} & set(o.get("data", {})))
    assert len(next(v for k, v in figure.data.items() if k.startswith("image/"))) < len(_png()) / 2
    video = next(o for o in outputs if "<video" in o.get("data", {}).get("text/html", ""))
    assert 'src="media/quickstart-1.mp4"' in video.data["text/html"] and "base64" not in chapter.read_text()
    assert (tmp_path / "book" / "media" / "quickstart-1.mp4").read_bytes()[4:11] == b"ftypiso"
    # the tqdm widget is left out: a progress bar says nothing once the run is over
    assert not [o for o in outputs if "eval" in str(o.get("data", {}))]
    assert "widgets" not in nbformat.read(chapter, as_version=4).metadata
    export_chapter(_executed(tmp_path, "quickstart"), chapter, "smoke")  # again, without the video
    assert not list((tmp_path / "book" / "media").glob("quickstart-*"))


def test_a_chapter_executed_from_an_older_source_is_stale(tmp_path):
    export_chapter(_executed(tmp_path, "masking", edit="\nx = 1"), tmp_path / "book" / "masking.ipynb", "smoke")
    assert stale_chapters(tmp_path / "book") == ["masking"]


@needs_mkdocs
def test_the_site_has_the_contents_and_every_chapter_with_its_figure(tmp_path):
    book = tmp_path / "book"
    for name in ("quickstart", "grammar"):
        export_chapter(_executed(tmp_path, name, rich=name == "quickstart"), book / f"{name}.ipynb", "smoke")
    write_contents(book, "smoke")
    index = build_site(book, tmp_path / "site", "smoke", chapters_of(book))
    home = index.read_text()
    assert 'href="quickstart.html"' in home and 'href="grammar.html"' in home and "not results" in home
    page = (tmp_path / "site" / "quickstart.html").read_text()
    assert "Executed at the" in page and "data:image/png;base64," in page and "<table" in page
    assert (tmp_path / "site" / "media" / "quickstart-1.mp4").exists() and 'src="media/quickstart-1.mp4"' in page
    assert not (book / ".cache").exists() and not (ROOT / ".cache" / "mkdocs-jupyter").exists()


@pytest.mark.slow
def test_book_build_writes_nothing_in_recipes_or_notebooks(smoke_book, tmp_path):
    """Executing every chapter (the session's smoke book, run as ``book build`` runs it) leaves
    ``recipes/`` and ``notebooks/`` as they were; exporting one chapter and building the site from
    those results writes the book and the site where asked."""
    assert smoke_book.sources_changed == []
    book = build_book(
        "smoke", out=tmp_path / "book", results_dir=smoke_book.out.parent, run=False, only=["grammar"],
        site=tmp_path / "site", check=False,
    )  # fmt: skip
    assert sorted(p.name for p in book.iterdir()) == ["README.md", "grammar.ipynb"]
    assert stale_chapters(book) == []
    assert missing_tools() or (tmp_path / "site" / "grammar.html").exists()


@pytest.mark.parametrize("chapter", BUILT, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_committed_chapters_match_the_notebooks(chapter):
    """docs/book/<profile>/ is an artifact: rebuild it (vla0-smol book build) after editing a notebook."""
    nb = nbformat.read(chapter, as_version=4)
    executed = code_sources(nb)
    assert executed == code_sources(jupytext.read(ROOT / "notebooks" / f"{chapter.stem}.py")), (
        f"{chapter} is stale: run `vla0-smol book build --profile {chapter.parent.name}`"
    )
    assert BANNER_TAG in nb.cells[0].metadata.get("tags", []), f"{chapter} has no banner naming its profile"
    assert f"`{chapter.parent.name}` profile" in nb.cells[0].source


@pytest.mark.parametrize("book", BOOKS, ids=lambda p: p.name)
def test_committed_book_is_small_and_listed(book):
    assert book_bytes(book) < BUDGET_BYTES, f"{book} is {book_bytes(book) / 1e6:.1f} MB"
    for chapter in book.glob("*.ipynb"):
        assert "data:video/" not in chapter.read_text(), f"{chapter} embeds a video: export it again"
    contents = (book / "README.md").read_text()
    assert all(f"]({chapter.name})" in contents for chapter in book.glob("*.ipynb"))
