"""The committed book's site in headless Chromium: figures loaded, tables present (opt-in).

Skipped where Chromium or Playwright is missing, which is the case in CI (``make test``): Chromium
is ~400 MB of Debian packages. To run it: ``apt-get install --no-install-recommends chromium``,
``pip install -e '.[docs]'``, then this file, or ``make book-check`` on the built site.
"""

import shutil
from pathlib import Path

import pytest

from vla0_smol.book.browser import CHAPTER, check_site, unavailable
from vla0_smol.book.build import chapters_of
from vla0_smol.book.site import build_site, missing_tools

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "docs" / "book" / "smoke"

pytestmark = [
    pytest.mark.skipif(bool(unavailable()), reason=f"browser check not possible: {unavailable()}"),
    pytest.mark.skipif(bool(missing_tools()), reason=f"{missing_tools()} missing: pip install -e '.[docs]'"),
    pytest.mark.skipif(not (BOOK / f"{CHAPTER}.ipynb").exists(), reason=f"{BOOK} has no {CHAPTER} chapter"),
]


@pytest.mark.slow
def test_site_index_and_a_chapter_show_figures_and_tables(tmp_path):
    book = tmp_path / "book"  # the home page and the chapter checked, as committed
    book.mkdir()
    for name in ("README.md", f"{CHAPTER}.ipynb"):
        shutil.copy(BOOK / name, book / name)
    build_site(book, tmp_path / "site", "smoke", chapters_of(book))
    report = check_site(tmp_path / "site")
    assert {name: facts["problems"] for name, facts in report.items()} == {"index": [], CHAPTER: []}
    assert report[CHAPTER]["images_loaded"] >= 1 and report[CHAPTER]["tables"] >= 1
    assert report["index"]["tables"] == 1 and report["index"]["chapter_links"] >= 1
    assert all(Path(facts["screenshot"]).stat().st_size > 10_000 for facts in report.values())
