"""The executed book as a static site: MkDocs with the Material theme and mkdocs-jupyter.

The site is built from the committed book folder (``docs/book/<profile>/``: the chapters with
their outputs, ``media/``, and ``README.md``, which is the site's home page) into ``site/<profile>/``,
a git-ignored folder: it is rebuilt from the committed notebooks in seconds, offline, and the
theme's scripts and search index would only grow the history. Nothing is downloaded while
building (no Google fonts, no privacy plugin, nothing executed). The one request a page makes
outside the site is mkdocs-jupyter's MathJax loader asking jsDelivr for MathJax on chapter pages;
the book has no formula and reads the same without it (:mod:`vla0_smol.book.browser` blocks it).
The theme is overridden by :data:`PAGE_CSS` (a ``main.html`` written to a temporary folder for the
build): a wider content column, code and outputs wrapped instead of scrolled sideways, and compact
tables, so that nothing is cut off in a 1280 px window (:mod:`vla0_smol.book.browser` checks it).
Needs the ``docs`` extra (``pip install -e '.[docs]'``).
"""

from __future__ import annotations

import io
import logging
import tempfile
from pathlib import Path

from .paths import repo_root


def site_dir(profile: str) -> Path:
    """``site/<profile>/`` at the repository root (git-ignored)."""
    return repo_root() / "site" / profile


def missing_tools() -> list[str]:
    """The ``docs`` extra's packages that are not installed."""
    import importlib.util

    wanted = {"mkdocs": "mkdocs", "material": "mkdocs-material", "mkdocs_jupyter": "mkdocs-jupyter"}
    return [dist for module, dist in wanted.items() if importlib.util.find_spec(module) is None]


# Layout for a reader's window: the theme's 61rem column is widened, long lines wrap (code, printed
# output and Markdown code blocks), tables shrink their type and wrap their cells.
PAGE_CSS = """
.md-grid { max-width: 1500px; }
.jupyter-wrapper .highlight-ipynb pre, .jupyter-wrapper .jp-RenderedText pre, .md-typeset pre > code {
  white-space: pre-wrap !important; overflow-wrap: anywhere; }
.md-typeset .jupyter-wrapper .jp-CodeMirrorEditor, .md-typeset .jupyter-wrapper .highlight-ipynb,
.md-typeset pre > code { overflow-x: visible !important; }
.jupyter-wrapper .celltoolbar { box-sizing: border-box; max-width: 100%; }
.md-typeset table:not([class]) { font-size: .64rem; display: table; width: 100%; }
.md-typeset table:not([class]) th, .md-typeset table:not([class]) td {
  padding: .45em .7em; min-width: 0; white-space: normal; overflow-wrap: break-word; }
.jupyter-wrapper .jp-RenderedImage img { max-width: 100%; height: auto; }
.jupyter-wrapper .jp-RenderedHTMLCommon table { font-size: .62rem !important; table-layout: fixed; width: 100%; }
.jupyter-wrapper .jp-RenderedHTMLCommon th, .jupyter-wrapper .jp-RenderedHTMLCommon td {
  white-space: normal !important; max-width: 16em; overflow-wrap: break-word; padding: .3em .5em !important; }
"""
_MAIN_HTML = (
    """{% extends "base.html" %}
{% block extrahead %}<style>"""
    + PAGE_CSS
    + """</style>{% endblock %}
"""
)


def site_config(
    book: Path, site: Path, profile: str, chapters: list[tuple[str, str]], theme_dir: Path | None = None
) -> dict:
    """MkDocs' configuration; ``chapters`` are ``(file name, title)`` in reading order."""
    return {
        "site_name": f"VLA-0-Smol recipe book ({profile} profile)",
        "docs_dir": str(book.resolve()),
        "site_dir": str(site.resolve()),
        "use_directory_urls": False,  # chapter.html beside media/: the notebook's relative links hold
        "theme": {"name": "material", "font": False, "features": ["navigation.top", "toc.integrate"]}
        | ({"custom_dir": str(theme_dir)} if theme_dir else {}),
        "markdown_extensions": ["tables", "admonition"],
        "plugins": [
            "search",  # lunr, bundled with the theme
            {"mkdocs-jupyter": {"include": ["*.ipynb"], "execute": False, "include_source": True, "cache": False}},
        ],
        "nav": [{"Home": "README.md"}, *({title: name} for name, title in chapters)],
    }


def build_site(book: Path, site: Path, profile: str, chapters: list[tuple[str, str]]) -> Path:
    """Build the site of ``book`` into ``site`` (replaced); returns ``site/index.html``."""
    import yaml
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    theme = tempfile.TemporaryDirectory(prefix="vla0-book-theme-")
    (Path(theme.name) / "main.html").write_text(_MAIN_HTML)
    config = site_config(book, site, profile, chapters, theme_dir=Path(theme.name))
    logging.getLogger("mkdocs").setLevel(logging.WARNING)  # one line per page otherwise
    nbconvert_log = logging.getLogger("traitlets")  # "Alternative text is missing" for every figure
    level = nbconvert_log.level
    nbconvert_log.setLevel(logging.ERROR)
    try:  # config_file_path: no such file, the base of no relative path (docs_dir and site_dir are absolute)
        build(load_config(io.StringIO(yaml.safe_dump(config)), config_file_path=str(Path(site).parent / "mkdocs.yml")))
    finally:
        nbconvert_log.setLevel(level)
        theme.cleanup()
    return Path(site) / "index.html"
