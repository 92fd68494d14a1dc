"""An executed chapter made small enough to commit, and readable where widgets do not run.

Papermill's copy of a chapter keeps what the kernel sent: PNG figures at full size, rollout
videos as base64 ``data:`` URLs inside HTML, and progress bars as ipywidgets whose final state
only lives in the notebook's metadata. :func:`compact_notebook` rewrites those outputs in place:

* every figure is re-encoded (at most :data:`MAX_WIDTH` pixels wide; a 256-colour palette PNG or a
  JPEG, whichever is smaller, and only when smaller than the original): figures stay inline, so
  GitHub, Jupyter and the site all show them with no file beside the notebook;
* every embedded video is written to ``media/<chapter>-<n>.<ext>`` beside the notebook and the
  HTML output points to it (with a link, for viewers that drop ``<video>``);
* a progress bar (a tqdm widget, or a tqdm line in a stream) is left out: once the run is over it
  says nothing, and a bar closed early (``leave=False``) would show its last state, e.g. ``50%``;
  every other widget output becomes the text of its final state, and the widget state is dropped;
* consecutive prints of a cell are one stream, with carriage returns applied and terminal colour
  codes removed, and the third-party noise ``make demo`` also filters (:data:`NOISE`:
  torchcodec's tracebacks where FFmpeg's shared libraries are missing, pygame's ``pkg_resources``
  warning, robosuite's advice to write a private macro file, LeRobot's "Loading weights" line, a
  Python warning raised inside an installed package) is left out, line by line; LeRobot's warnings
  that a relative goal position was clamped (one block per clamped step, with a dict of joint
  targets) become one sentence at the end of the cell, since the chapter counts those clamps itself;
* the repository's absolute path is cut from every text output (``/work/x/results/smoke`` reads
  ``results/smoke``): the book is read on other machines.

The full output of every run stays in ``results/<profile>/logs/<chapter>.log``.
:mod:`vla0_smol.book.browser` fails a page that still shows a stderr block or an absolute path.
"""

from __future__ import annotations

import base64
import binascii
import html
import io
import re
from pathlib import Path

MAX_WIDTH = 900  # px: wider figures are scaled down (a page column is ~800 px)
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# Third-party noise (see vla0_smol.book.terminal). A stream output as the kernel sent it that holds one
# of NOISE_OUTPUTS is dropped whole (a traceback follows the message); NOISE lines are dropped one by one.
NOISE_OUTPUTS = ("Could not load libtorchcodec", "pkg_resources is deprecated")
NOISE = (
    *NOISE_OUTPUTS,
    "No private macro file found",  # robosuite, at import: three warnings, each logged twice
    "It is recommended to use a private macro file",
    "robosuite/scripts/setup_macros.py",
    "Loading weights from local directory",  # LeRobot's from_pretrained
    "[info] using task orders",  # LIBERO's benchmark, printed on every suite lookup
)
CLAMP_WARNING = "Relative goal position magnitude had to be clamped to be safe."  # LeRobot, once per clamped step
# A Python warning raised inside an installed package (wandb's, LeRobot's dependencies'): its line and the
# indented source line Python prints under it. The chapter's own warnings are kept.
_PACKAGE_WARNING = re.compile(r"^[^\n]*site-packages/[^\n]*: \w*Warning: [^\n]*(\n[ \t]+[^\n]*)?", re.M)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_TQDM_LINE = re.compile(r"^.*\b\d{1,3}%\|.*\|\s*\d+/\d+.*$|^.*:\s+\d{1,3}%\s+\d+/\d+\s+\[.*$", re.M)
_VIDEO_DATA = re.compile(r"data:video/(?P<ext>[a-z0-9]+);base64,(?P<data>[A-Za-z0-9+/=\s]+)")


def shrink_image(data: str, max_width: int = MAX_WIDTH) -> tuple[str, str] | None:
    """A base64 PNG -> ``(mime, base64)`` of a smaller encoding, or None if none is smaller."""
    from PIL import Image

    try:
        raw = base64.b64decode(data)
        img = Image.open(io.BytesIO(raw))
        img.load()
    except (binascii.Error, OSError, ValueError):
        return None  # not an image Pillow reads: left as it is
    if img.mode in ("RGBA", "LA", "P"):  # transparency onto white, as the page shows it
        rgba = img.convert("RGBA")
        img = Image.new("RGB", rgba.size, "white")
        img.paste(rgba, mask=rgba.getchannel("A"))
    img = img.convert("RGB")
    if img.width > max_width:
        img = img.resize((max_width, round(img.height * max_width / img.width)), Image.Resampling.LANCZOS)
    candidates = []
    palette = img.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    for mime, image, options in [
        ("image/png", palette, {"format": "PNG", "optimize": True}),
        ("image/jpeg", img, {"format": "JPEG", "quality": 85, "optimize": True}),
    ]:
        buf = io.BytesIO()
        image.save(buf, **options)
        candidates.append((len(buf.getvalue()), mime, buf.getvalue()))
    size, mime, best = min(candidates)
    if size >= len(raw):
        return None
    return mime, base64.b64encode(best).decode("ascii")


def is_progress_bar(state: dict, model_id: str) -> bool:
    """Whether a widget is a progress bar (tqdm's: a box holding a ``FloatProgress``/``IntProgress``)."""
    model = state.get(model_id, {})
    if model.get("model_name") in ("FloatProgressModel", "IntProgressModel"):
        return True
    children = model.get("state", {}).get("children", [])
    return any(is_progress_bar(state, str(c).removeprefix("IPY_MODEL_")) for c in children)


def widget_text(state: dict, model_id: str) -> str | None:
    """The final text of a widget from the notebook's saved state (labels, values, progress)."""
    model = state.get(model_id)
    if model is None:
        return None
    fields = model.get("state", {})
    if "children" in fields:  # a box: its children's texts (a tqdm bar: description, bar, counts)
        parts = [widget_text(state, str(c).removeprefix("IPY_MODEL_")) for c in fields["children"]]
        return " ".join(p for p in parts if p)
    value = fields.get("value")
    if isinstance(value, str):  # HTML, Label, Text; a progress bar's number is in tqdm's text already
        text = html.unescape(re.sub(r"<[^>]+>", "", value))
        return re.sub(r"\s+", " ", text.replace("\u2007", " ")).strip()
    return None


def extract_videos(html_text: str, media: Path, stem: str, counter: list[int]) -> str:
    """``html_text`` with each ``data:video/...`` URL written to ``media/`` and replaced by its path."""

    def write(match: re.Match) -> str:
        counter[0] += 1
        name = f"{stem}-{counter[0]}.{match['ext']}"
        media.mkdir(parents=True, exist_ok=True)
        (media / name).write_bytes(base64.b64decode(re.sub(r"\s", "", match["data"])))
        return f"{media.name}/{name}"

    out = _VIDEO_DATA.sub(write, html_text)
    for path in re.findall(rf'src="({re.escape(media.name)}/{re.escape(stem)}-\d+\.\w+)"', out):
        out += f'\n<p><a href="{path}">{path}</a></p>'
    return out


def drop_clamp_warnings(text: str) -> tuple[str, int]:
    """``text`` without LeRobot's clamp warnings (the line and the dict of targets after it), and their count."""
    kept, count, in_dict = [], 0, False
    for line in text.split("\n"):
        if CLAMP_WARNING in line:
            count, in_dict = count + 1, True
            continue
        if in_dict and (line.startswith(("{", " ")) and line.strip()):
            continue  # pformat's dict: its first line opens with "{", the rest are indented
        in_dict = False
        kept.append(line)
    return "\n".join(kept), count


def clean_stream(text: str) -> str:
    """A stream's text as a terminal would leave it, without colour codes, noise or progress bars."""
    text = _ANSI.sub("", re.sub(r"\r+\n", "\n", text))
    text = re.sub(r"[^\n]*\r(?=[^\n])", "", text)  # what a terminal leaves on each line
    text = _PACKAGE_WARNING.sub("", _TQDM_LINE.sub("", text))
    lines = [line for line in text.split("\n") if not any(n in line for n in NOISE)]
    return re.sub(r"\n{2,}$", "\n", re.sub(r"\n{3,}", "\n\n", "\n".join(lines))).lstrip("\n")


def merge_streams(outputs: list) -> list:
    """A cell's stream outputs cleaned (:func:`clean_stream`), emptied ones dropped, consecutive ones merged.

    LeRobot's clamp warnings, wherever they were in the cell, become one stdout sentence at its end.
    """
    kept, clamps = [], 0
    for output in outputs:
        if output.get("output_type") == "stream":
            if any(n in output.text for n in NOISE_OUTPUTS):
                continue
            text, n = drop_clamp_warnings(output.text)
            clamps += n
            output.text = text
        kept.append(output)
    merged = []
    for output in kept:
        if output.get("output_type") == "stream":
            if merged and merged[-1].get("output_type") == "stream" and merged[-1].name == output.name:
                merged[-1].text += output.text
                continue
            if not output.text.strip():  # nothing left once the clamp warnings are out: no break in the stream
                continue
        merged.append(output)
    for output in merged:
        if output.get("output_type") == "stream":
            output.text = clean_stream(output.text)
    if clamps:
        note = (
            f"(LeRobot warned {clamps} time(s) during this cell that a relative goal position had to be clamped "
            "(max_relative_target); the run's own clamp counters count these steps.)\n"
        )
        merged.append(_stream("stdout", note))
    return [o for o in merged if o.get("output_type") != "stream" or o.text.strip()]


def _stream(name: str, text: str):
    import nbformat

    return nbformat.v4.new_output("stream", name=name, text=text)


def relative_paths(nb, root: Path) -> int:
    """Cut ``root/`` (and ``root`` itself) from every text output of ``nb``; returns how many were cut."""
    prefix = str(Path(root).resolve())
    pattern = re.compile(re.escape(prefix) + r"(/|(?![\w.-]))")
    count = 0

    def cut(text: str) -> str:
        nonlocal count
        new, n = pattern.subn(lambda m: "" if m.group(1) == "/" else ".", text)
        count += n
        return new

    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.source = cut(cell.source)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                output.text = cut(output.text)
            for mime, value in output.get("data", {}).items():
                if mime.startswith("text/") and isinstance(value, str):
                    output.data[mime] = cut(value)
    return count


def compact_notebook(nb, media: Path, stem: str, root: Path | None = None) -> dict:
    """Rewrite ``nb``'s outputs as the module says; returns counts (images, videos, widgets, ...).

    ``root``: the repository, whose absolute path is cut from the outputs (None: left as it is).
    """
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    counts = {"images": 0, "videos": 0, "widgets": 0, "progress_bars": 0}
    videos = [0]
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_MIME in data and is_progress_bar(state, data[WIDGET_MIME].get("model_id", "")):
                output["_drop"] = True
                counts["progress_bars"] += 1
                continue
            if WIDGET_MIME in data:
                text = widget_text(state, data[WIDGET_MIME].get("model_id", ""))
                data.pop(WIDGET_MIME)
                data["text/plain"] = text or data.get("text/plain", "")
                counts["widgets"] += 1
            for mime in [m for m in ("image/png", "image/jpeg") if m in data]:  # as the kernel sent them
                if shrunk := shrink_image(data[mime]):
                    data.pop(mime)
                    data[shrunk[0]] = shrunk[1]
                    meta = output.get("metadata", {})
                    if mime in meta:
                        meta[shrunk[0]] = meta.pop(mime)
                    counts["images"] += 1
            if "data:video/" in data.get("text/html", ""):
                before = videos[0]
                data["text/html"] = extract_videos(data["text/html"], media, stem, videos)
                counts["videos"] += videos[0] - before
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not o.get("_drop")]
    nb.metadata.pop("widgets", None)
    if root is not None:
        counts["paths"] = relative_paths(nb, root)
    return counts
