"""``vla0-smol book build``: the executed book, as notebooks with outputs and as a static site.

Every chapter is executed at one profile (:func:`vla0_smol.book.recipes.run_recipes`, into
``results/<profile>/executed/``), then exported to the committed folder
``docs/book/<profile>/<chapter>.ipynb`` (GitHub renders it) with a first cell saying the profile
it ran at and what that profile's numbers mean, its outputs made small
(:func:`vla0_smol.book.compact.compact_notebook`: re-encoded figures inline, videos in
``media/``), and a ``README.md`` listing the chapters. The site (:mod:`vla0_smol.book.site`) is
built from that folder into ``site/<profile>/`` and looked at in headless Chromium
(:mod:`vla0_smol.book.browser`) when Playwright and Chromium are installed. Nothing is written
in ``recipes/`` or ``notebooks/``.

The exported chapters are artifacts: their code cells must equal ``notebooks/*.py``
(:func:`stale_chapters`, checked by the tests), so edit the notebooks and build again.
"""

from __future__ import annotations

from pathlib import Path

from .paths import repo_root
from .recipes import RECIPES, run_recipes

BANNER_TAG = "book-banner"
BUDGET_BYTES = 3_000_000  # the whole committed smoke book (notebooks, media, README)

CAVEATS = {
    "smoke": (
        "The `smoke` profile shrinks every size so that the whole book runs in minutes on a CPU "
        "(the tiny preset, a few training steps, two evaluation episodes): **its numbers prove that "
        "the plumbing runs end to end, not results.**"
    ),
    "cpu": "The `cpu` profile trains the embedded tiny preset on a CPU: the tiny preset's numbers, not the blog's.",
    "full": "The `full` profile runs the blog's settings (SmolVLM2-500M, the hub's datasets, a GPU).",
}


def banner(profile: str, name: str) -> str:
    return (
        f"> **Executed at the `{profile}` profile** by `vla0-smol book build --profile {profile}` "
        f"from `notebooks/{name}.py`. {CAVEATS[profile]}"
    )


def code_sources(nb) -> list[str]:
    """The code cells a reader wrote: papermill's injected parameters and the banner left out."""
    skip = {"injected-parameters", BANNER_TAG}
    return [c.source for c in nb.cells if c.cell_type == "code" and not skip & set(c.metadata.get("tags", []))]


def chapter_title(nb, default: str) -> str:
    """The first ``# `` heading of the notebook's markdown, else ``default``."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and BANNER_TAG not in cell.metadata.get("tags", []):
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return default


def export_chapter(executed: Path, dest: Path, profile: str) -> Path:
    """``executed`` (papermill's output) with the banner first and small outputs, written to ``dest``.

    Its videos go to ``<dest's folder>/media/`` (the chapter's earlier ones are removed first).
    """
    import nbformat

    from .compact import compact_notebook

    nb = nbformat.read(executed, as_version=4)
    cell = nbformat.v4.new_markdown_cell(banner(profile, executed.stem))
    cell.metadata["tags"] = [BANNER_TAG]
    cell.id = BANNER_TAG  # not a random id: building twice writes the same file
    nb.cells.insert(0, cell)
    nb.metadata.pop("papermill", None)  # absolute paths and timings of the machine that built it
    for c in nb.cells:
        c.metadata.pop("papermill", None)
        c.metadata.pop("execution", None)
    media = dest.parent / "media"
    for old in media.glob(f"{executed.stem}-*"):
        old.unlink()
    compact_notebook(nb, media, executed.stem, root=repo_root())
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return dest


def chapters_of(book: Path) -> list[tuple[str, str]]:
    """``(file name, title)`` of the chapters in ``book``, in reading order."""
    import nbformat

    present = [name for name in RECIPES if (book / f"{name}.ipynb").exists()]
    return [(f"{n}.ipynb", chapter_title(nbformat.read(book / f"{n}.ipynb", as_version=4), n)) for n in present]


def write_contents(book: Path, profile: str) -> Path:
    """``README.md`` of the book folder: the home page (:mod:`vla0_smol.book.home`), GitHub's and the site's."""
    from .home import home_page

    path = book / "README.md"
    path.write_text(home_page(profile, chapters_of(book), CAVEATS[profile]))
    return path


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


def book_bytes(book: Path) -> int:
    return sum(p.stat().st_size for p in Path(book).rglob("*") if p.is_file())


def build_book(
    profile: str = "smoke",
    out: Path | None = None,
    results_dir: Path | None = None,
    run: bool = True,
    only: list[str] | None = None,
    site: Path | None = None,
    check: bool = True,
    jobs: int = 1,
) -> Path:
    """Execute (unless ``run`` is False: reuse ``results_dir``'s executed copies), export, build the site.

    ``jobs``: chapters executed at once (:func:`~vla0_smol.book.recipes.run_recipes`).

    ``only``: execute and export these chapters (the runner adds ``blog_tables`` to the run; it is
    exported only if named); the book's other chapters keep their pages. ``site`` defaults to
    ``site/<profile>/``; ``check`` looks at it in Chromium when Playwright and Chromium are there.
    Returns ``<out>/<profile>``. A chapter that failed is left out and named.
    """
    from . import browser
    from .site import build_site, missing_tools, site_dir

    out = (Path(out) if out else repo_root() / "docs" / "book") / profile
    results = (Path(results_dir) if results_dir else repo_root() / "results") / profile
    failed = set()
    if run:
        failed = {r.name for r in run_recipes(profile, only, results_dir=results.parent, jobs=jobs) if r.error}
    exported = 0
    for name in [n for n in RECIPES if not only or n in only]:
        executed = results / "executed" / f"{name}.ipynb"
        if name in failed or not executed.exists():
            print(f"left out {name}: {'it failed' if name in failed else 'not executed'}")
            continue
        export_chapter(executed, out / f"{name}.ipynb", profile)
        exported += 1
    write_contents(out, profile)
    size = book_bytes(out)
    print(f"{exported} chapters exported to {out} ({size / 1e6:.2f} MB in all, budget {BUDGET_BYTES / 1e6:.0f} MB)")
    if missing_tools():
        print(f"site not built: {', '.join(missing_tools())} missing (pip install -e '.[docs]')")
    else:
        site = Path(site) if site else site_dir(profile)
        print(f"site {build_site(out, site, profile, chapters_of(out))}")
        reason = browser.unavailable()
        if check and reason:
            print(f"browser check skipped: {reason}")
        elif check:
            browser.main([str(site)])
    stale = stale_chapters(out)
    if stale:
        print(f"executed from an older source (build again): {', '.join(stale)}")
    return out
