"""Every page of the built site, looked at in headless Chromium as a reader's 1280 px window shows it.

``python -m vla0_smol.book.browser site/smoke`` (or ``vla0-smol book check``) serves the site on a
local port and opens each of its pages (the home page and every chapter) with Playwright driving
the system's Chromium (Debian: ``apt-get install chromium``; no browser is downloaded). For each
page it keeps a full-page screenshot in ``<site>/screenshots/`` for a person to look at, and
collects what :func:`problems` fails on:

* an ``<img>`` that did not load (``naturalWidth == 0``) or a ``<video>`` that cannot play;
* an element wider than the page: one that reaches past the window's right edge, or one whose
  content is clipped and scrolls sideways (a table's last column, a long line of code);
* a stderr block (a pink output: a warning or a log line that reached the reader raw) or an error;
* an absolute path of a machine (``/home/...``, ``/work/...``, ``/tmp/...``, the repository's own
  folder): the book is read elsewhere;
* a Python repr dump (``array([...``, ``<object at 0x...>``, a dataclass's ``Name(field=...``
  spilled over many lines): a result should be a table or a figure;
* on the home page, no link to a chapter.

Requests that leave the machine are aborted (the site must read without a network) and listed.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import sys
import threading
from pathlib import Path

WIDTH, HEIGHT = 1280, 900  # the window: a laptop's browser
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# A path on the machine that built the book: a home, a work or temporary folder, an installed package.
ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~-])/(?:home|root|Users|work|tmp|private|mnt|opt|var|usr|srv|scratch)/[\w.-]+")
REPR_DUMP = re.compile(r"array\(\[|<[\w.]+ object at 0x[0-9a-f]+>|\bdtype=(?:uint8|float32|float64|int64)\b")

_PAGE_FACTS = """() => {
  const root = document.querySelector("article") || document.body;
  const imgs = [...root.querySelectorAll("img")];
  const page = document.documentElement.clientWidth;
  const describe = el => {
    const cls = (el.className && typeof el.className === "string") ? "." + el.className.trim().split(/\\s+/)[0] : "";
    const text = (el.innerText || el.getAttribute("src") || "").trim().replace(/\\s+/g, " ").slice(0, 60);
    return `<${el.tagName.toLowerCase()}${cls}> ${text}`;
  };
  const wide = [];
  for (const el of root.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height) continue;
    const style = getComputedStyle(el);
    if (style.visibility === "hidden" || style.display === "none") continue;
    const scrolls = ["auto", "scroll", "hidden"].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 2;
    const beyond = box.right > page + 1;
    if (!scrolls && !beyond) continue;
    if (wide.some(w => w.el.contains(el))) continue;  // the outermost one names the problem
    wide.push({el, what: `${describe(el)} (${scrolls ? `content ${el.scrollWidth} px in ${el.clientWidth} px` :
      `right edge at ${Math.round(box.right)} px of ${page}`})`});
  }
  const mime = m => root.querySelectorAll(`[data-mime-type="${m}"]`);
  return {
    title: document.title,
    images_loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    images_broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 80)),
    tables: root.querySelectorAll("table").length,
    videos: root.querySelectorAll("video").length,
    videos_broken: [...root.querySelectorAll("video")].filter(v => v.error || !v.videoWidth).map(v => v.currentSrc),
    chapter_links: [...root.querySelectorAll("a[href$='.html']")].length,
    too_wide: wide.map(w => w.what),
    stderr: [...mime("application/vnd.jupyter.stderr")].map(e => e.innerText.trim().slice(0, 120)),
    errors: [...mime("application/vnd.jupyter.error")].map(e => e.innerText.trim().slice(0, 120)),
    text: root.innerText,
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


def site_pages(site: Path) -> list[str]:
    """The site's pages, home first: every ``*.html`` at its top level except MkDocs' 404 page."""
    names = sorted(p.stem for p in Path(site).glob("*.html") if p.stem != "404")
    return sorted(names, key=lambda n: n != "index")


def text_findings(text: str, root: Path | None = None) -> dict[str, list[str]]:
    """Absolute paths and repr dumps in a page's visible text (each listed once, in order)."""
    paths = [m.group(0) for m in ABSOLUTE_PATH.finditer(text)]
    if root is not None and str(root) in text:
        paths.append(str(root))
    dumps = [text[max(0, m.start() - 30) : m.end() + 30].replace("\n", " ") for m in REPR_DUMP.finditer(text)]
    return {"absolute_paths": list(dict.fromkeys(paths)), "repr_dumps": list(dict.fromkeys(dumps))}


def check_site(site: Path, pages: list[str] | None = None, shots: Path | None = None) -> dict[str, dict]:
    """Facts of each page (default: :func:`site_pages`) with their ``problems``; screenshots kept."""
    from playwright.sync_api import sync_playwright

    from .paths import repo_root

    site = Path(site)
    pages = pages or site_pages(site)
    shots = Path(shots) if shots else site / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    server = _serve(site)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    report = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=find_chromium(), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            external = []

            def route(r):
                if r.request.url.startswith(base) or r.request.url.startswith("data:"):
                    return r.continue_()
                external.append(r.request.url)
                return r.abort()

            page.route("**/*", route)
            for name in pages:
                external.clear()
                page.goto(f"{base}/{name}.html", wait_until="load")
                page.wait_for_timeout(300)  # layout settles; videos load their first frame
                page.wait_for_function(_VIDEOS_READY, timeout=10_000)
                facts = page.evaluate(_PAGE_FACTS)
                facts |= text_findings(facts.pop("text"), repo_root())
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
    found += [f"wider than the page: {w}" for w in facts.get("too_wide", [])]
    found += [f"stderr block: {s!r}" for s in facts.get("stderr", [])]
    found += [f"error output: {s!r}" for s in facts.get("errors", [])]
    found += [f"absolute path: {p}" for p in facts.get("absolute_paths", [])]
    found += [f"repr dump: {d!r}" for d in facts.get("repr_dumps", [])]
    if is_index and not facts["chapter_links"]:
        found.append("the home page links to no chapter")
    return found


def main(argv: list[str] | None = None) -> int:
    """Check every page of the site ``argv[0]`` (default ``site/smoke``); 1 if a page has a problem."""
    argv = sys.argv[1:] if argv is None else argv
    site = Path(argv[0]) if argv else Path("site/smoke")
    reason = unavailable()
    if reason:
        print(f"browser check not possible: {reason}", file=sys.stderr)
        return 2
    if not (site / "index.html").is_file():
        print(f"no site at {site}: build it first (vla0-smol book build)", file=sys.stderr)
        return 2
    report = check_site(site)
    for name, facts in report.items():
        print(
            f"{name}.html: {facts['images_loaded']} images, {facts['tables']} tables, {facts['videos']} videos"
            + (f", {facts['chapter_links']} chapter links" if name == "index" else "")
            + (f"; blocked {facts['external']}" if facts["external"] else "")
            + ("" if facts["problems"] else ": ok")
        )
        for problem in facts["problems"]:
            print(f"  FAILED: {problem}")
    failed = [n for n, f in report.items() if f["problems"]]
    shots = Path(next(iter(report.values()))["screenshot"]).parent if report else site
    print(f"{len(report)} pages, {len(failed)} with problems; screenshots in {shots}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
