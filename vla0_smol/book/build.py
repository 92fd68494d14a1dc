"""``vla0-smol book build``: the executed book, as notebooks with outputs and as a static site.

Every chapter is executed at one profile (:func:`vla0_smol.book.recipes.run_recipes`), then
copied to ``docs/book/<profile>/<chapter>.ipynb`` with a first cell saying the profile it ran
at, and rendered by nbconvert (installed with Jupyter, offline: nothing is downloaded) to
``docs/book/<profile>/html/<chapter>.html`` with an ``index.html`` in reading order. The
executed copies are artifacts: their code cells must equal ``notebooks/*.py``
(:func:`stale_chapters`, checked by the tests), so edit the notebooks and build again.
"""

from __future__ import annotations

import html
from pathlib import Path

from .paths import repo_root
from .recipes import RECIPES, run_recipes

BANNER_TAG = "book-banner"


def banner(profile: str, name: str) -> str:
    return (
        f"> **Executed at the `{profile}` profile** by `vla0-smol book build --profile {profile}`. "
        f"The source is `notebooks/{name}.py`; numbers and plots below are this profile's, not the blog's "
        "unless a table says so."
    )


def code_sources(nb) -> list[str]:
    """The code cells a reader wrote: papermill's injected parameters and the banner left out."""
    skip = {"injected-parameters", BANNER_TAG}
    return [c.source for c in nb.cells if c.cell_type == "code" and not skip & set(c.metadata.get("tags", []))]


def export_chapter(executed: Path, dest: Path, profile: str) -> Path:
    """``executed`` (papermill's output) with the banner cell first, written to ``dest``."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    cell = nbformat.v4.new_markdown_cell(banner(profile, executed.stem))
    cell.metadata["tags"] = [BANNER_TAG]
    nb.cells.insert(0, cell)
    nb.metadata.pop("papermill", None)  # absolute paths and timings of the machine that built it
    for c in nb.cells:
        c.metadata.pop("papermill", None)
        c.metadata.pop("execution", None)
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return dest


def render_site(chapters: list[Path], site: Path, profile: str) -> Path:
    """Nbconvert HTML per chapter and an index page; returns ``index.html``."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    site.mkdir(parents=True, exist_ok=True)
    items = []
    for nb_path in chapters:
        body, _ = exporter.from_filename(str(nb_path))
        (site / f"{nb_path.stem}.html").write_text(body)
        items.append(f'<li><a href="{nb_path.stem}.html">{html.escape(nb_path.stem)}</a></li>')
    index = site / "index.html"
    index.write_text(
        f"<!doctype html><meta charset='utf-8'><title>VLA-0-Smol recipe book ({profile})</title>"
        f"<h1>VLA-0-Smol recipe book</h1><p>Chapters executed at the <code>{profile}</code> profile.</p>"
        f"<ol>{''.join(items)}</ol>\n"
    )
    return index


def stale_chapters(book_dir: Path, notebooks_dir: Path | None = None) -> list[str]:
    """Chapters of ``book_dir`` whose code cells differ from ``notebooks/<chapter>.py``."""
    import jupytext
    import nbformat

    notebooks_dir = notebooks_dir or repo_root() / "notebooks"
    stale = []
    for path in sorted(Path(book_dir).glob("*.ipynb")):
        source = notebooks_dir / f"{path.stem}.py"
        executed = code_sources(nbformat.read(path, as_version=4))
        if not source.exists() or executed != code_sources(jupytext.read(source)):
            stale.append(path.stem)
    return stale


def build_book(
    profile: str = "smoke", out: Path | None = None, results_dir: Path | None = None, run: bool = True
) -> Path:
    """Execute (unless ``run`` is False: reuse ``results_dir``'s executed copies), export, render.

    Returns ``<out>/<profile>``. A chapter that failed is left out and named.
    """
    out = (Path(out) if out else repo_root() / "docs" / "book") / profile
    results = (Path(results_dir) if results_dir else repo_root() / "results") / profile
    failed = set()
    if run:
        failed = {r.name for r in run_recipes(profile, results_dir=results.parent) if r.error}
    chapters = []
    for name in RECIPES:
        executed = results / "executed" / f"{name}.ipynb"
        if name in failed or not executed.exists():
            print(f"left out {name}: {'it failed' if name in failed else 'not executed'}")
            continue
        chapters.append(export_chapter(executed, out / f"{name}.ipynb", profile))
    index = render_site(chapters, out / "html", profile)
    stale = stale_chapters(out)
    print(f"{len(chapters)} chapters in {out}; site {index}")
    if stale:
        print(f"executed from an older source (build again): {', '.join(stale)}")
    return out
