"""The executed book as a static site: MkDocs with the Material theme and mkdocs-jupyter.

The site is built from the committed book folder (``docs/book/<profile>/``: the chapters with
their outputs, ``media/``, and ``README.md``, which is the site's home page) into ``site/<profile>/``,
a git-ignored folder: it is rebuilt from the committed notebooks in seconds, offline, and the
theme's scripts and search index would only grow the history. Nothing is downloaded while
building (no Google fonts, no privacy plugin, nothing executed). The one request a page makes
outside the site is mkdocs-jupyter's MathJax loader asking jsDelivr for MathJax on chapter pages;
the book has no formula and reads the same without it (:mod:`vla0_smol.book.browser` blocks it).
Needs the ``docs`` extra (``pip install -e '.[docs]'``).
"""

from __future__ import annotations

import io
import logging
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


def site_config(book: Path, site: Path, profile: str, chapters: list[tuple[str, str]]) -> dict:
    """MkDocs' configuration; ``chapters`` are ``(file name, title)`` in reading order."""
    return {
        "site_name": f"VLA-0-Smol recipe book ({profile} profile)",
        "docs_dir": str(book.resolve()),
        "site_dir": str(site.resolve()),
        "use_directory_urls": False,  # chapter.html beside media/: the notebook's relative links hold
        "theme": {"name": "material", "font": False, "features": ["navigation.top", "toc.integrate"]},
        "markdown_extensions": ["tables", "admonition"],
        "plugins": [
            "search",  # lunr, bundled with the theme
            {"mkdocs-jupyter": {"include": ["*.ipynb"], "execute": False, "include_source": True, "cache": False}},
        ],
        "nav": [{"Contents": "README.md"}, *({title: name} for name, title in chapters)],
    }


def build_site(book: Path, site: Path, profile: str, chapters: list[tuple[str, str]]) -> Path:
    """Build the site of ``book`` into ``site`` (replaced); returns ``site/index.html``."""
    import yaml
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    config = site_config(book, site, profile, chapters)
    logging.getLogger("mkdocs").setLevel(logging.WARNING)  # one line per page otherwise
    nbconvert_log = logging.getLogger("traitlets")  # "Alternative text is missing" for every figure
    level = nbconvert_log.level
    nbconvert_log.setLevel(logging.ERROR)
    try:  # config_file_path: no such file, the base of no relative path (docs_dir and site_dir are absolute)
        build(load_config(io.StringIO(yaml.safe_dump(config)), config_file_path=str(Path(site).parent / "mkdocs.yml")))
    finally:
        nbconvert_log.setLevel(level)
    return Path(site) / "index.html"
