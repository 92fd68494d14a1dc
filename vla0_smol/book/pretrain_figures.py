"""The pretrain chapter's evidence: the staged run's curves, and what its weights can do.

Everything here reads the files a run of ``vla0-smol pretrain`` writes (``provenance.json`` and
``metrics/<stage>.jsonl`` beside the weights), so the chapter draws the shipped run and a rerun
the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..presets.recipe import STAGES
from .evidence import mean_interval

# the skills a PushT policy leans on, and how the chapter names them
NAMES = {
    "copy": "copy the state",
    "offset": "offset between two points",
    "interpolate": "10-step path",
    "pusht_block": "where is the T block",
    "pusht_angle": "which way the T is turned",
    "pusht_agent": "where is the agent",
    "pusht_offset": "half-offset agent -> block",
    "shapes_where": "where is a coloured shape",
}


def stage_rows(preset: Path) -> dict[str, list[dict]]:
    """Each stage's metric lines (``metrics/<stage>.jsonl``), in recipe order; missing stages are empty."""
    out = {}
    for name in STAGES:
        path = Path(preset) / "metrics" / f"{name}.jsonl"
        out[name] = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    return out


def plot_curves(preset: Path, provenance: dict, path: Path | None = None):
    """Per-skill answer error on fresh questions through the four stages, and the image spread.

    The x axis is the run's cumulative step; each stage is a shaded band. The vision stage asks no
    questions (it regresses positions with a linear head): its panel shows the block's position
    error of that head instead.
    """
    import matplotlib.pyplot as plt

    rows = stage_rows(preset)
    fig, (ax, sx) = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [2, 1]})
    offset, colours = 0, plt.rcParams["axes.prop_cycle"].by_key()["color"]
    lines: dict[str, tuple[list, list]] = {}
    spread_x, spread_y = [], []
    for i, name in enumerate(STAGES):
        stage = rows[name]
        end = max((r["step"] for r in stage), default=0)
        ax.axvspan(offset, offset + end, color=colours[i % len(colours)], alpha=0.07, lw=0)
        ax.text(offset + end / 2, 1.02, name, transform=ax.get_xaxis_transform(), ha="center", fontsize=9)
        for r in stage:
            if "image_spread" in r:
                spread_x.append(offset + r["step"])
                spread_y.append(r["image_spread"])
            ev = r.get("eval")
            if not ev:
                continue
            if name == "vision":
                lines.setdefault("vision head: block position", ([], []))
                lines["vision head: block position"][0].append(offset + r["step"])
                lines["vision head: block position"][1].append(ev["block"])
                continue
            for skill, m in ev.items():
                if skill in NAMES:
                    lines.setdefault(NAMES[skill], ([], []))
                    lines[NAMES[skill]][0].append(offset + r["step"])
                    lines[NAMES[skill]][1].append(m["mae"])
        offset += end
    for label, (xs, ys) in lines.items():
        ax.plot(xs, ys, marker="o", ms=3, label=label, ls="--" if label.startswith("vision") else "-")
    ax.set(xlabel="step (cumulative over the stages)", ylabel="mean absolute error (units of 512)", yscale="log")
    ax.legend(fontsize=7, ncol=2, loc="upper right")
    ax.set_title("answer error on fresh questions", pad=18)
    sx.plot(spread_x, spread_y, marker="o", ms=3, color="k")
    sx.axhline(0.154, color="grey", ls=":", lw=1)
    sx.text(0, 0.16, "random init 0.154", fontsize=8, color="grey")
    sx.set(xlabel="step (cumulative)", ylabel="image spread (std across frames / RMS)", ylim=(0, None))
    sx.set_title("image tokens: alive or collapsed", pad=18)
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=110)
    return fig


def skills_table(measured: dict, provenance: dict) -> list[dict]:
    """Rows: skill, the run's recorded error, this measurement's error, the constant predictor's."""
    rows = []
    for skill, m in measured["skills"].items():
        rec = provenance.get("final_metrics", {}).get(skill, {})
        rows.append(
            {
                "skill": NAMES.get(skill, skill),
                "recorded MAE": None if rec.get("mae") is None else round(rec["mae"], 1),
                "measured MAE": round(m["mae"], 1),
                "exact": round(m["exact"], 2),
                "constant predictor MAE": m["constant_mae"],
                "error / constant": round(m["mae"] / m["constant_mae"], 2) if m["constant_mae"] else None,
            }
        )
    return rows


def skills_sentence(rows: list[dict]) -> str:
    """What the weights can and cannot do, from the measured ratios to the constant predictor."""
    good = [r["skill"] for r in rows if r["error / constant"] is not None and r["error / constant"] <= 0.3]
    partial = [r["skill"] for r in rows if r["error / constant"] is not None and 0.3 < r["error / constant"] <= 0.7]
    none = [r["skill"] for r in rows if r["error / constant"] is None or r["error / constant"] > 0.7]
    parts = []
    if good:
        parts.append(f"answered well (error at most 30% of a constant guess): {', '.join(good)}")
    if partial:
        parts.append(f"partly learnt (30-70%): {', '.join(partial)}")
    if none:
        parts.append(f"not learnt (error above 70% of a constant guess): {', '.join(none)}")
    return "; ".join(parts) + "." if parts else "no skill measured."


def stage_table(configs: dict) -> list[dict]:
    """One row per stage of :func:`~vla0_smol.presets.recipe.stage_configs`: cap, rate, vision side, stop rule, data."""
    rows = []
    for name, c in configs.items():
        if name == "vision":
            vision, stop, data = (
                "trained alone",
                f"block <= {c.stop_block_error:g}, agent <= {c.stop_agent_error:g}, "
                f"angle <= {c.stop_angle_error:g} deg",
                "frames (T block, agent, shape)",
            )
        else:
            vision = "frozen" if c.vision_lr_scale == 0 else f"rate x{c.vision_lr_scale:g}"
            rules = [f"{k} {m} {'<=' if m == 'mae' else '>='} {v:g}" for k, (m, v) in c.stop_when.items()]
            stop, data = ", ".join(rules) or "never", ", ".join(f"{k} {w:g}" for k, w in c.mixture.items())
        rows.append(
            {
                "stage": name,
                "step cap": c.steps,
                "learning rate": c.lr,
                "vision side": vision,
                "stops early when": stop,
                "data (skill weight)": data,
            }
        )
    return rows


def example_table(examples) -> list[dict]:
    """The questions as the policy reads them: skill, task, state and answer integers."""
    return [
        {
            "skill": e.skill,
            "task": e.task,
            "state": " ".join(map(str, e.state or [])),
            "answer": " ".join(map(str, e.answer)),
        }
        for e in examples
    ]


def compare_runs(shipped: dict, rerun: dict, tolerance: float) -> dict[str, dict]:
    """Two presets measured on the same questions, skill by skill, with 95% intervals.

    ``shipped`` and ``rerun`` are :func:`~vla0_smol.presets.recipe.measure` results taken with
    ``keep_errors`` on the same ``(seed, size)``. The difference (rerun - shipped) is paired
    question by question, so its interval is that of the evaluation set; ``within_noise`` when it
    holds 0 or comes within ``tolerance`` (world units) of it.
    """
    rows = {}
    for skill, a in shipped["skills"].items():
        b = rerun["skills"][skill]
        ea, eb = np.array(a["errors"]), np.array(b["errors"])
        if ea.shape != eb.shape:
            raise ValueError(f"{skill}: {ea.size} and {eb.size} questions; measure both on the same set")
        d, lo, hi = mean_interval(eb - ea)
        rows[skill] = {
            "constant_mae": a["constant_mae"],
            "shipped": _mae_interval(ea),
            "rerun": _mae_interval(eb),
            "difference": [round(v, 2) for v in (d, lo, hi)],
            "shipped_exact": a["exact"],
            "rerun_exact": b["exact"],
            "within_noise": bool(lo <= tolerance and hi >= -tolerance),
        }
    return rows


def _mae_interval(errors) -> list[float]:
    """An MAE and its 95% t interval, the lower end clipped at 0 (no error is negative)."""
    mae, lo, hi = mean_interval(errors)
    return [round(mae, 2), round(max(0.0, lo), 2), round(hi, 2)]


def rerun_rows(comparison: dict) -> list[dict]:
    """The table of a rerun against the shipped weights (``comparison.json`` of ``pretrain_rerun.py``)."""

    def span(v):
        return f"{v[0]:.1f} ({v[1]:.1f} to {v[2]:.1f})"

    return [
        {
            "skill": NAMES.get(skill, skill),
            "constant predictor MAE": r["constant_mae"],
            "shipped MAE (95%)": span(r["shipped"]),
            "rerun MAE (95%)": span(r["rerun"]),
            "rerun - shipped (95%)": "{:+.1f} ({:+.1f} to {:+.1f})".format(*r["difference"]),
            "within noise": r["within_noise"],
        }
        for skill, r in comparison["skills"].items()
    ]
