"""The figures and the token table of the chapter ``inside_the_policy`` (from :mod:`.anatomy`).

* :func:`plot_view`: the 96 px frame with the policy's crop, and the view the vision encoder gets.
* :func:`token_table`: the first actions' tokens: probability, allowed set, alternatives (Markdown).
* :func:`plot_tokens`: the whole chunk as text, one row per action, coloured by probability, and
  the grammar's allowed-set size at every token.
* :func:`plot_path`: the chunk as a path of agent targets on the frame.
* :func:`plot_attention`: the action tokens' attention over the image tokens, on the policy's view,
  and the image's share per layer.
* :func:`plot_drafts`: the fast decoder's accepted and rejected draft tokens per decode call.

Figures are ``matplotlib.figure.Figure`` objects saved to PNG (no pyplot state, no backend change).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .anatomy import ActionAttention, DecodeCall, TokenStep, path_pixels
from .report import _save

SPACE = "\u2423"  # an open box: the separator token, visible


def _cell_text(step: TokenStep) -> str:
    return "eot" if step.integer < 0 else step.text.replace(" ", SPACE)


def plot_view(frame: np.ndarray, view: np.ndarray, crop, path: Path) -> Path:
    """The environment's frame with the crop (left) and the policy's input image (right)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    fig = Figure(figsize=(5.2, 2.7))
    left, right = fig.subplots(1, 2)
    left.imshow(frame)
    h, w = frame.shape[:2]
    if crop is not None:
        ch, cw = crop
        box = Rectangle(((w - cw) // 2 - 0.5, (h - ch) // 2 - 0.5), cw, ch, fill=False, ls="--", ec="C3", lw=1.2)
        left.add_patch(box)
    left.set_title(f"frame {w} x {h}" + (f", centre crop {cw} x {ch}" if crop else ""), fontsize=8)
    right.imshow(view)
    right.set_title(f"what the VLM sees: {view.shape[1]} x {view.shape[0]}", fontsize=8)
    for ax in (left, right):
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    return _save(fig, path)


def token_table(steps: list[TokenStep], dim: int, actions: int = 2, names=("x", "y")) -> str:
    """Markdown: one row per token of the first ``actions`` actions."""
    values = "".join(s.text for s in steps if s.integer >= 0).split()  # the integers written (bins)
    rows = [
        "| # | action, dim | bin | token | p(token) | allowed | p(allowed set) | next best allowed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, s in enumerate(steps):
        if s.integer < 0 or s.integer >= actions * dim:
            break
        d = s.integer % dim
        where = f"{s.integer // dim}, {names[d] if d < len(names) else d}"
        alts = ", ".join(f"`{t.replace(' ', SPACE)}` {p:.3f}" for t, p in s.alternatives) or "(none: forced)"
        cells = [i, where, values[s.integer], f"`{_cell_text(s)}`", f"{s.prob:.3f}", s.allowed, f"{s.allowed_mass:.3f}"]
        rows.append("| " + " | ".join(map(str, [*cells, alts])) + " |")
    return "\n".join(rows)


def _token_grid(steps: list[TokenStep], dim: int, horizon: int) -> list[list[TokenStep]]:
    """Tokens per action: row ``a`` holds the tokens of integers ``a * dim .. a * dim + dim - 1``."""
    rows: list[list[TokenStep]] = [[] for _ in range(horizon)]
    for s in steps:
        rows[horizon - 1 if s.integer < 0 else min(s.integer // dim, horizon - 1)].append(s)
    return rows


def plot_tokens(steps: list[TokenStep], dim: int, horizon: int, path: Path, title: str = "") -> Path:
    """The chunk as text: the chosen token's probability (left) and the allowed-set size (right)."""
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    rows = _token_grid(steps, dim, horizon)
    width = max(len(r) for r in rows)
    prob = np.full((horizon, width), np.nan)
    allowed = np.full((horizon, width), np.nan)
    for a, row in enumerate(rows):
        for j, s in enumerate(row):
            prob[a, j], allowed[a, j] = s.prob, s.allowed
    fig = Figure(figsize=(7.6, 0.28 * horizon + 1.1))
    left, right = fig.subplots(1, 2)
    im = left.imshow(prob, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    fig.colorbar(im, ax=left, fraction=0.05, pad=0.02).ax.tick_params(labelsize=6)
    top = np.nanmax(allowed) if np.isfinite(allowed).any() else 2
    im2 = right.imshow(allowed, cmap="Blues", norm=LogNorm(1, 4 * max(top, 2)), aspect="auto")  # light: text reads
    fig.colorbar(im2, ax=right, fraction=0.05, pad=0.02).ax.tick_params(labelsize=6)
    for a, row in enumerate(rows):
        for j, s in enumerate(row):
            light = s.prob < 0.5
            left.text(j, a, _cell_text(s), ha="center", va="center", fontsize=7, color="w" if light else "k")
            right.text(
                j, a, str(s.allowed), ha="center", va="center", fontsize=7, color="C3" if s.allowed == 1 else "k"
            )
    left.set_title("chosen token (colour: its probability)", fontsize=8)
    right.set_title("tokens the grammar allowed (1: forced)", fontsize=8)
    for ax in (left, right):
        ax.set_yticks(range(horizon), [f"action {a}" for a in range(horizon)], fontsize=6)
        ax.set_xticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def plot_path(frame: np.ndarray, agent_pos, chunk, executed: int, path: Path, crop=None, title: str = "") -> Path:
    """The chunk's targets as a path from the agent on the frame; the first ``executed`` solid."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    xy = path_pixels(agent_pos, chunk, frame=frame.shape[1])  # (H + 1, 2)
    fig = Figure(figsize=(3.4, 3.4))
    ax = fig.subplots()
    ax.imshow(frame)
    if crop is not None:
        h, w = frame.shape[:2]
        ch, cw = crop
        ax.add_patch(Rectangle(((w - cw) // 2 - 0.5, (h - ch) // 2 - 0.5), cw, ch, fill=False, ls="--", ec="0.5"))
    ax.plot(xy[: executed + 1, 0], xy[: executed + 1, 1], "-", color="C3", lw=1.5, label=f"executed ({executed})")
    ax.plot(xy[executed:, 0], xy[executed:, 1], ":", color="C3", lw=1.2, label="predicted, then replaced")
    ax.scatter(xy[1:, 0], xy[1:, 1], c=np.arange(len(xy) - 1), cmap="autumn", s=14, zorder=3, ec="k", lw=0.3)
    ax.plot(*xy[0], "o", mfc="none", mec="k", ms=9, label="agent now")
    lo = np.minimum(xy.min(0) - 3, -0.5)  # targets off the frame stay in view
    hi = np.maximum(xy.max(0) + 3, [frame.shape[1] - 0.5, frame.shape[0] - 0.5])
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(hi[1], lo[1])
    ax.legend(fontsize=6, loc="lower right")
    ax.tick_params(labelsize=6)
    ax.set_title(title or "the chunk as agent targets", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_attention(view: np.ndarray, attention: ActionAttention, path: Path) -> Path:
    """Each image token's attention against an even split over the image (left); image share per layer (right)."""
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.figure import Figure

    heat = attention.image_map()
    ratio = heat / heat.mean()  # 1: the image's share split evenly over its tokens
    share = attention.image_share()
    size = view.shape[0]
    fig = Figure(figsize=(6.4, 2.8))
    left, right = fig.subplots(1, 2, width_ratios=[1.1, 1])
    left.imshow(view)
    extent = (-0.5, size - 0.5, size - 0.5, -0.5)
    norm = TwoSlopeNorm(vcenter=1, vmin=0, vmax=max(2.0, float(ratio.max())))
    im = left.imshow(ratio, cmap="RdBu_r", norm=norm, alpha=0.55, extent=extent, interpolation="nearest")
    bar = fig.colorbar(im, ax=left, fraction=0.046, pad=0.03)
    bar.ax.tick_params(labelsize=6)
    bar.set_label("x an even split (1)", fontsize=6)
    g = attention.grid
    for k in range(1, g):  # the image-token grid
        left.axhline(k * size / g - 0.5, color="0.3", lw=0.3)
        left.axvline(k * size / g - 0.5, color="0.3", lw=0.3)
    if g <= 8:  # each cell's value: a nearly even map is white, and only the numbers say so
        cell = size / g
        for r in range(g):
            for c in range(g):
                x, y = (c + 0.5) * cell - 0.5, (r + 0.5) * cell - 0.5
                box = {"fc": "w", "alpha": 0.6, "lw": 0, "pad": 1}
                left.text(x, y, f"{ratio[r, c]:.2f}", ha="center", va="center", fontsize=7, bbox=box)
    span = f"{ratio.min():.2f}-{ratio.max():.2f}"
    left.set_title(f"attention per image token ({g} x {g}), x an even split: {span}", fontsize=8)
    left.tick_params(labelsize=6)
    layers = np.arange(len(share))
    right.bar(layers, share, color="C0", label="action tokens")
    right.axhline(attention.uniform_share(), color="k", ls="--", lw=1, label="uniform over keys")
    right.set(xlabel="layer", ylabel="share on image tokens", ylim=(0, max(1e-3, 1.3 * max(share.max(), 0.01))))
    right.set_xticks(layers)
    right.legend(fontsize=6, loc="upper right")
    right.set_title("image share of the attention, per layer", fontsize=8)
    right.tick_params(labelsize=6)
    right.xaxis.label.set_size(7)
    right.yaxis.label.set_size(7)
    fig.tight_layout()
    return _save(fig, path)


def plot_drafts(calls: list[DecodeCall], path: Path) -> Path:
    """Per decode call: where the output tokens came from, the draft tokens, the forward passes."""
    from matplotlib.figure import Figure

    x = np.arange(len(calls))
    acc = np.array([c.accepted for c in calls])
    forced = np.array([c.forced for c in calls])
    decided = np.array([c.fast_passes for c in calls])
    proposed = sum(c.proposed for c in calls)
    fig = Figure(figsize=(9.6, 2.7))
    out, draft, passes = fig.subplots(1, 3)
    out.bar(x, acc, color="C2", label="accepted draft")
    out.bar(x, forced, bottom=acc, color="0.6", label="forced")
    out.bar(x, decided, bottom=acc + forced, color="C0", label="decided by a pass")
    out.set(ylabel="output tokens")
    out.set_title("where each output token came from", fontsize=8)
    w = 0.4
    draft.bar(x - w / 2, acc, w, color="C2", label="accepted")
    draft.bar(x + w / 2, [c.rejected for c in calls], w, color="C3", label="rejected")
    rate = acc.sum() / proposed if proposed else float("nan")
    draft.set(ylabel="draft tokens")
    draft.set_title(f"draft tokens: {100 * rate:.0f}% of {proposed} accepted", fontsize=8)
    passes.plot(x, [c.hf_passes for c in calls], "s-", color="0.4", ms=3, label="generate() + grammar")
    passes.plot(x, decided, "o-", color="C0", ms=3, label="fast decoder")
    passes.set(ylabel="forward passes", ylim=(0, None))
    passes.set_title("forward passes per chunk", fontsize=8)
    ticks = x if len(x) <= 12 else x[:: int(np.ceil(len(x) / 12))]
    for ax in (out, draft, passes):
        ax.set_xticks(ticks, [calls[i].step for i in ticks])
        ax.set_xlabel("control step of the decode", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.yaxis.label.set_size(7)
        ax.grid(alpha=0.3, axis="y")
        ax.set_ylim(0, 1.35 * ax.get_ylim()[1])  # room for the legend above the bars
        ax.legend(fontsize=6, loc="upper center", ncol=2)
    fig.tight_layout()
    return _save(fig, path)
