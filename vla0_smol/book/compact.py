"""An executed chapter made small enough to commit, and readable where widgets do not run.

Papermill's copy of a chapter keeps what the kernel sent: PNG figures at full size, rollout
videos as base64 ``data:`` URLs inside HTML, and progress bars as ipywidgets whose final state
only lives in the notebook's metadata. :func:`compact_notebook` rewrites those outputs in place:

* every figure is re-encoded (at most :data:`MAX_WIDTH` pixels wide; a 256-colour palette PNG or a
  JPEG, whichever is smaller, and only when smaller than the original): figures stay inline, so
  GitHub, Jupyter and the site all show them with no file beside the notebook;
* every embedded video is written to ``media/<chapter>-<n>.<ext>`` beside the notebook and the
  HTML output points to it (with a link, for viewers that drop ``<video>``);
* every widget output becomes the text of its final state (a tqdm bar reads ``100% 2/2 ...``,
  not the ``0%`` its plain-text fallback was created with), and the widget state is dropped;
* consecutive prints of a cell are one stream, with carriage returns applied (a tqdm bar is its
  last line, as Jupyter shows it), and the third-party noise ``make demo`` also filters
  (:mod:`vla0_smol.book.terminal`: torchcodec's five tracebacks where FFmpeg's shared libraries
  are missing, pygame's ``pkg_resources`` warning) is left out. The full output of every run
  stays in ``results/<profile>/logs/<chapter>.log``.
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
NOISE = ("Could not load libtorchcodec", "pkg_resources is deprecated")  # see vla0_smol.book.terminal
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


def merge_streams(outputs: list) -> list:
    """Consecutive stream outputs of one name merged, carriage returns applied, :data:`NOISE` dropped."""
    merged = []
    for output in outputs:
        if output.get("output_type") == "stream":
            if any(n in output.text for n in NOISE):
                continue
            if merged and merged[-1].get("output_type") == "stream" and merged[-1].name == output.name:
                merged[-1].text += output.text
                continue
        merged.append(output)
    for output in merged:
        if output.get("output_type") == "stream":
            text = re.sub(r"\r+\n", "\n", output.text)
            output.text = re.sub(r"[^\n]*\r(?=[^\n])", "", text)  # what a terminal leaves on each line
    return [o for o in merged if o.get("output_type") != "stream" or o.text.strip()]


def compact_notebook(nb, media: Path, stem: str) -> dict:
    """Rewrite ``nb``'s outputs as the module says; returns counts (images, videos, widgets)."""
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    counts = {"images": 0, "videos": 0, "widgets": 0}
    videos = [0]
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
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
    nb.metadata.pop("widgets", None)
    return counts
