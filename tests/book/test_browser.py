"""``vla0-smol book check``: every page of the site in headless Chromium, and what makes a page fail.

The browser tests need Chromium and Playwright. CI installs both (``.ci/run``: Debian's chromium,
the ``docs`` extra) and sets ``VLA0_REQUIRE_BROWSER=1``, so there a missing browser fails instead of
skipping; elsewhere they are skipped with the command that installs it.
"""

import os
from pathlib import Path

import nbformat
import pytest

from vla0_smol.book.browser import check_site, problems, site_pages, text_findings, unavailable
from vla0_smol.book.build import chapters_of
from vla0_smol.book.site import build_site, missing_tools

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "docs" / "book" / "smoke"
_REASON = unavailable() or (f"{missing_tools()} missing: pip install -e '.[docs]'" if missing_tools() else None)

if _REASON and os.environ.get("VLA0_REQUIRE_BROWSER"):
    raise RuntimeError(f"VLA0_REQUIRE_BROWSER is set but the browser check cannot run: {_REASON}")
needs_browser = pytest.mark.skipif(bool(_REASON), reason=f"browser check not possible: {_REASON}")


def test_text_findings_name_machine_paths_and_repr_dumps():
    text = (
        "results/smoke/runs/x ok; https://huggingface.co/lerobot/pusht ok; port /dev/ttyACM0 ok; 3/4 ok\n"
        "saved /home/ana/vla0/results/smoke/a.json and /tmp/pytest-1/x\n"
        "Report(frames={'front': array([[[87, 89, 86]]], dtype=uint8)}) <vla0_smol.X object at 0x7f3a2c>"
    )
    found = text_findings(text, root=Path("/srv/checkout"))
    assert found["absolute_paths"] == ["/home/ana", "/tmp/pytest-1"]
    assert len(found["repr_dumps"]) == 3  # array([, dtype=uint8, object at 0x
    assert text_findings("the repository /srv/checkout/results", root=Path("/srv/checkout"))["absolute_paths"] == [
        "/srv/checkout"
    ]
    clean = text_findings("results/smoke; lerobot/pusht; 1/2 [00:01<00:01]; x / y", root=Path("/srv/checkout"))
    assert clean == {"absolute_paths": [], "repr_dumps": []}


def test_problems_lists_every_kind():
    facts = {
        "images_broken": ["http://x/a.png"],
        "videos_broken": [],
        "too_wide": ["<table> (content 900 px in 800 px)"],
        "stderr": ["WARNING: x"],
        "errors": [],
        "absolute_paths": ["/home/ana"],
        "repr_dumps": ["array(["],
        "chapter_links": 0,
    }
    found = problems(True, facts)
    assert [p.split(":")[0] for p in found] == [
        "broken image http",
        "wider than the page",
        "stderr block",
        "absolute path",
        "repr dump",
        "the home page links to no chapter",
    ]
    assert problems(False, facts | {"images_broken": [], "too_wide": [], "stderr": [], "absolute_paths": [],
                                    "repr_dumps": []}) == []  # fmt: skip


def _bad_book(folder: Path) -> Path:
    """A home page and one chapter with every defect the check must see."""
    folder.mkdir()
    (folder / "README.md").write_text("# Home\n\n[the chapter](bad.ipynb)\n")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell("run()")
    wide = "<div style='width:2400px;background:#ddd'>a results strip wider than any window</div>"
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="WARNING:root:something the reader should not see\n"),
        nbformat.v4.new_output("stream", name="stdout", text="saved /home/builder/vla0/results/smoke/x.json\n"),
        nbformat.v4.new_output("display_data", data={"text/html": wide + "<img src='media/missing.png'>"}),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("# A bad chapter"), cell]
    nbformat.write(nb, folder / "bad.ipynb")
    return folder


@needs_browser
@pytest.mark.slow
def test_the_check_fails_a_page_with_each_defect(tmp_path):
    book = _bad_book(tmp_path / "book")
    site = tmp_path / "site"
    build_site(book, site, "smoke", chapters_of(book) or [("bad.ipynb", "A bad chapter")])
    report = check_site(site, shots=tmp_path / "shots")
    assert report["index"]["problems"] == []
    found = report["bad"]["problems"]
    for kind in ("broken image", "wider than the page", "stderr block", "absolute path: /home/builder"):
        assert any(p.startswith(kind) for p in found), (kind, found)
    assert (tmp_path / "shots" / "bad.png").stat().st_size > 5_000


@needs_browser
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_every_page_of_the_committed_book_passes(tmp_path):
    """The committed smoke book's site, every page, as ``vla0-smol book check`` sees it."""
    site = tmp_path / "site"
    build_site(BOOK, site, "smoke", chapters_of(BOOK))
    report = check_site(site, shots=tmp_path / "shots")
    assert sorted(report) == sorted(site_pages(site)) and len(report) == len(chapters_of(BOOK)) + 1
    assert {name: facts["problems"] for name, facts in report.items() if facts["problems"]} == {}
    assert report["index"]["chapter_links"] >= len(chapters_of(BOOK))
    assert all(Path(facts["screenshot"]).stat().st_size > 10_000 for facts in report.values())
