"""The built site, looked at in headless Chromium: figures loaded, tables present, screenshots.

``python -m vla0_smol.book.browser site/smoke`` (or ``vla0-smol book check``) serves the site on
a local port, opens its home page and one chapter (:data:`CHAPTER`: tables and plots) with
Playwright driving the system's Chromium (Debian: ``apt-get install chromium``; no browser is
downloaded), and for each page counts the ``<img>`` elements that loaded (``naturalWidth > 0``),
those that did not, the tables and the ``<video>`` elements (and those that cannot play), and
keeps a full-page screenshot in ``<site>/screenshots/``. A page fails when an image or a video is
broken, when the home page links to no chapter, or when the chapter has no loaded figure or no table.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import sys
import threading
from pathlib import Path

CHAPTER = "blog_tables"  # the blog's tables and its plots
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

_PAGE_FACTS = """() => {
  const root = document.querySelector("article") || document.body;
  const imgs = [...root.querySelectorAll("img")];
  return {
    title: document.title,
    images_loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    images_broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 80)),
    tables: root.querySelectorAll("table").length,
    videos: root.querySelectorAll("video").length,
    videos_broken: [...root.querySelectorAll("video")].filter(v => v.error || !v.videoWidth).map(v => v.currentSrc),
    chapter_links: [...root.querySelectorAll("a[href$='.html']")].length,
  };
}"""


_VIDEOS_READY = "() => [...document.querySelectorAll('video')].every(v => v.error || v.readyState >= 1)"


def find_chromium() -> str | None:
    """``$CHROMIUM``, else the first Chromium or Chrome on ``PATH``."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])  # None when it is not an executable
    return next((path for name in _CANDIDATES if (path := shutil.which(name))), None)


def unavailable() -> str | None:
    """Why the check cannot run here (no Playwright, no Chromium), or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed: pip install -e '.[docs]'"
    if find_chromium() is None:
        return "no Chromium ($CHROMIUM or on PATH; Debian: apt-get install --no-install-recommends chromium)"
    return None


def _serve(root: Path) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no line per request
        pass


def check_site(site: Path, chapter: str = CHAPTER, shots: Path | None = None) -> dict[str, dict]:
    """Facts of ``index.html`` and ``<chapter>.html`` with their ``problems``; screenshots kept.

    Requests that leave the machine are aborted (the site must read without a network) and
    listed as ``external``.
    """
    from playwright.sync_api import sync_playwright

    site = Path(site)
    shots = Path(shots) if shots else site / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    server = _serve(site)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    report = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=find_chromium(), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            external = []

            def route(r):
                if r.request.url.startswith(base) or r.request.url.startswith("data:"):
                    return r.continue_()
                external.append(r.request.url)
                return r.abort()

            page.route("**/*", route)
            for name in ("index", chapter):
                external.clear()
                page.goto(f"{base}/{name}.html", wait_until="load")
                page.wait_for_timeout(500)  # layout settles; videos load their first frame
                page.wait_for_function(_VIDEOS_READY, timeout=10_000)
                facts = page.evaluate(_PAGE_FACTS)
                facts["external"] = sorted(set(external))
                facts["screenshot"] = str(shots / f"{name}.png")
                page.screenshot(path=facts["screenshot"], full_page=True)
                facts["problems"] = problems(name == "index", facts)
                report[name] = facts
            browser.close()
    finally:
        server.shutdown()
    return report


def problems(is_index: bool, facts: dict) -> list[str]:
    """What is wrong with a page, from its facts."""
    found = [f"broken image {src}" for src in facts["images_broken"]]
    found += [f"broken video {src}" for src in facts["videos_broken"]]
    if is_index and not facts["chapter_links"]:
        found.append("the home page links to no chapter")
    if not is_index and not facts["images_loaded"]:
        found.append("no figure loaded")
    if not is_index and not facts["tables"]:
        found.append("no table")
    return found


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    site = Path(argv[0]) if argv else Path("site/smoke")
    reason = unavailable()
    if reason:
        print(f"browser check not possible: {reason}", file=sys.stderr)
        return 2
    report = check_site(site, *argv[1:2])
    for name, facts in report.items():
        print(
            f"{name}.html: {facts['images_loaded']} images loaded, {len(facts['images_broken'])} broken, "
            f"{facts['tables']} tables, {facts['videos']} videos, {facts['chapter_links']} chapter links; "
            f"screenshot {facts['screenshot']}" + (f"; blocked {facts['external']}" if facts["external"] else "")
        )
        for problem in facts["problems"]:
            print(f"  FAILED: {problem}")
    return 1 if any(f["problems"] for f in report.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
