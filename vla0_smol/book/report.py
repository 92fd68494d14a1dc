"""Results -> tables and plots (always computed from saved JSON, never typed)."""

from __future__ import annotations

import re
from pathlib import Path

from ..training import read_metrics
from .evidence import (
    BlogFinding,
    compare_sentence,
    reference_sentence,
    references_overview,
    successes,
    wilson_interval,
)


def _figure(figsize: tuple[float, float]):
    """A figure and its axes outside pyplot: no backend is chosen and nothing is left open.

    A ``matplotlib.figure.Figure`` renders itself to PNG without a GUI, so the caller's backend
    (``inline`` in Jupyter, a window in a script) is never changed.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def plot_training_loss(run_dir: Path, path: Path, title: str = "training loss") -> Path | None:
    """Loss per logged step from ``metrics.jsonl`` as a PNG (None if nothing was logged)."""
    rows = read_metrics(run_dir)
    if not rows:
        return None
    fig, ax = _figure(figsize=(6, 3.5))
    ax.plot([r["steps"] for r in rows], [r["loss"] for r in rows], marker=".")
    ax.set(xlabel="step", ylabel="cross-entropy on action tokens", title=title, yscale="log")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


# The blog's published numbers (PushT: success rate over 64 episodes, in %; text where the blog
# gives no figure). Listed in the order of each recipe's arms.
BLOG_PUSHT = {
    # the grid is the blog's scaled to the profile's own learning rate: the blog's lr is named
    "ablation_lr": ["0.0% at 5e-6", "0.0% at 1e-5", "57.8% at 5e-5", "slightly below 57.8% at 1e-4 (no figure)"],
    "ablation_vision": ["25.0", "57.8"],
    "ablation_state_action": ["29.7", "57.8", "45.3", "70.3"],
    "ablation_system_prompt": ["no difference", "no difference"],
    "ablation_masking": ["57.8", "not reported", "78.1"],
    "ablation_ensembling": ["no significant difference", "no significant difference"],
}
TITLES = {
    "ablation_lr": "Learning rate",
    "ablation_vision": "Vision encoder frozen vs trained",
    "ablation_state_action": "State and action representation",
    "ablation_system_prompt": "System prompt",
    "ablation_masking": "Masked action augmentation",
    "ablation_ensembling": "Temporal ensembling vs 5 steps ahead",
}
# The comparisons the blog draws in each ablation, as (from, to) indices into the recipe's arms. The
# blog's difference is computed from BLOG_PUSHT; where it gives no figure for one of the two arms,
# its stated finding is named instead ("same": no difference, "lower": worse, no figure).
BLOG_PAIRS: dict[str, list[tuple]] = {
    "ablation_lr": [(2, 0), (2, 1), (2, 3, "lower")],  # the blog's best rate against the others
    "ablation_vision": [(0, 1)],  # trained against frozen
    "ablation_state_action": [(0, 1), (0, 2), (1, 3)],  # relative actions, state, state on top of relative
    "ablation_system_prompt": [(0, 1, "same")],
    "ablation_masking": [(0, 2)],  # whole-action masking against none (character masking: no figure)
    "ablation_ensembling": [(0, 1, "same")],
}


def _blog_figure(text: str) -> float | None:
    """The blog's success (%) in one BLOG_PUSHT entry ("57.8", "0.0% at 5e-6"), None if it gives none."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(%.*)?", text)
    return float(match.group(1)) if match else None


def blog_findings(recipe: str) -> list[tuple[int, int, BlogFinding]]:
    """``(a, b, finding)`` for each comparison the blog makes in a recipe (arm indices)."""
    found = []
    for a, b, *stated in BLOG_PAIRS.get(recipe, []):
        if stated:
            found.append((a, b, BlogFinding({"same": 0, "lower": -1, "higher": 1}[stated[0]])))
            continue
        points = _blog_figure(BLOG_PUSHT[recipe][b]) - _blog_figure(BLOG_PUSHT[recipe][a])
        found.append((a, b, BlogFinding((points > 0) - (points < 0), round(points, 1))))
    return found


def comparison_sentences(summary: dict) -> list[str]:
    """One sentence per comparison the blog makes: this run's difference, interval, verdict."""
    arms = summary["arms"]
    return [
        compare_sentence(summary["profile"], (arms[a]["arm"], arms[b]["arm"]), _counts(arms[a]), _counts(arms[b]), f)
        for a, b, f in blog_findings(summary["recipe"])
        if max(a, b) < len(arms) and _counts(arms[a]) and _counts(arms[b])
    ]


# LIBERO (success %, Object / Spatial / Goal / Long / Avg), as published in the blog.
BLOG_LIBERO = [
    ("Diffusion Policy", "0.15B", 78.3, 92.5, 68.3, 50.5, 72.4),
    ("pi0-FAST", "3B", 87.0, 63.0, 89.0, 48.0, 71.8),
    ("SmolVLA", "0.25B", 87.0, 93.0, 88.0, 63.0, 82.8),
    ("SmolVLA", "2.25B", 93.0, 94.0, 91.0, 77.0, 88.8),
    ("OpenVLA-OFT", "7B", 94.3, 95.2, 91.7, 86.5, 91.9),
    ("pi0.5 - KI", "3.3B", 96.6, 97.2, 94.6, 85.8, 93.3),
    ("VLA0", "3B", 97.0, 97.8, 96.2, 87.6, 94.7),
    ("VLA-0-Smol (blog)", "0.5B", 97.2, 92.2, 95.6, 91.2, 94.1),
]
BLOG_LIBERO_NO_ENSEMBLE_AVG = 90.7
LIBERO_SUITES = ["libero_object", "libero_spatial", "libero_goal", "libero_10"]


def _counts(row: dict) -> tuple[int, int] | None:
    """(successes, episodes) of a row's best checkpoint(s), None for rows without episode counts."""
    best = row.get("best", row)
    return successes(best) if "n_episodes" in best else None


def _rate(row: dict) -> str:
    """``50.0% (21.5-78.5)``: a success rate and its 95% Wilson interval, in %."""
    if "n_episodes" not in row:
        return f"{100 * row['success_rate']:.1f}%"
    lo, hi = wilson_interval(*successes(row))
    return f"{100 * row['success_rate']:.1f}% ({100 * lo:.1f}-{100 * hi:.1f})"


def seed_rows(arm: dict) -> list[dict]:
    """An arm's rows, one per training seed (a row written before seeds were kept is its own)."""
    return arm.get("per_seed") or [arm]


def pusht_table(summary: dict, explain: bool = True, references: bool = True) -> str:
    """One ablation: this run's best and last checkpoints beside the blog's (best) figure.

    Success rates carry their 95% Wilson interval; the reference controllers, measured on the same
    episodes, close the table; one sentence per comparison the blog makes and what the references
    say about this run (:func:`vla0_smol.book.evidence.reference_sentence`) follow it. ``explain``:
    say what best, last and the brackets mean (once per page). ``references``: the references'
    reading under the table (a page of several tables says it once, :func:`references_overview`).
    """
    recipe, ref = summary["recipe"], BLOG_PUSHT.get(summary["recipe"], [])
    arms = summary["arms"]
    first = seed_rows(arms[0])[0] if arms else {}
    n = first.get("n_episodes", 0)
    steps = [c["step"] for c in first.get("checkpoints", [])]
    seeds = summary.get("seeds", [summary.get("seed", 0)])
    several = len(seeds) > 1
    p = summary["profile"]
    lines = [
        f"### {TITLES.get(recipe, recipe)}",
        "",
        f"This run: profile **{p}**, model `{summary['model']}`, {n} episodes per arm"
        + (f" and training seed ({len(seeds)} seeds: {', '.join(map(str, seeds))}; pooled)" if several else "")
        + f", every saved checkpoint evaluated on the same episodes (steps {', '.join(map(str, steps)) or '?'})"
        + (
            "; **best** is chosen on those episodes, as the blog does, **last** is the final checkpoint. "
            "In brackets: 95% Wilson intervals. Blog: SmolVLM2-500M, 64 episodes, best."
            if explain
            else "."
        ),
        "",
        f"| arm | success, best ({p}) [step] | success, last ({p}) | coverage, best ({p}) | coverage, last ({p}) "
        + ("| success per seed, best " if several else "")
        + "| blog success (best) |",
        "|---|---|---|---|---|" + ("---|" if several else "") + "---|",
    ]
    for i, r in enumerate(arms):
        blog = ref[i] if i < len(ref) else "-"
        blog = f"{blog}%" if blog.replace(".", "").isdigit() else blog
        best, last = r.get("best", r), r.get("last", r)
        at = ", ".join(map(str, best.get("steps", [best.get("step", "?")])))
        per_seed = ", ".join(f"{100 * s['best']['success_rate']:.1f}%" for s in seed_rows(r)) if several else None
        lines.append(
            f"| {r['arm']} | {_rate(best)} [{at}] | {_rate(last)} | {best['mean_max_coverage']:.3f} "
            f"| {last['mean_max_coverage']:.3f} |" + (f" {per_seed} |" if several else "") + f" {blog} |"
        )
    for r in summary.get("references", []):
        per_seed = ", ".join(f"{100 * s['success_rate']:.1f}%" for s in r.get("per_seed", []))
        lines.append(
            f"| *reference: {r['reference']}* | {_rate(r)} | | {r['mean_max_coverage']:.3f} | |"
            + (f" {per_seed} |" if several else "")
            + " |"
        )
    sentences = comparison_sentences(summary)
    if sentences:
        lines += ["", "Against the blog (best checkpoints):", ""] + [f"- {x}" for x in sentences]
    reading = reference_sentence(summary) if references else ""
    if reading:
        lines += ["", reading]
    return "\n".join(lines)


def libero_table(summary: dict | None) -> str:
    """The blog's LIBERO table, with this run's rows (one per protocol) labelled with its profile.

    ``summary`` is ``results/<profile>/libero.json`` (:func:`vla0_smol.libero.pipeline.run_libero`);
    None renders the blog's rows and a note that the recipe has not run.
    """
    lines = ["### LIBERO", ""]
    if summary:
        tasks: dict[str, set] = {}
        for e in summary.get("episodes", []):
            tasks.setdefault(e["suite"], set()).add(e["task_id"])
        scope = ", ".join(f"{len(ids)} task(s) of {suite}" for suite, ids in tasks.items()) or "no episodes"
        given = summary.get("checkpoint")
        if given:
            origin = " (the authors' vla0 checkpoint, converted)" if given["converted_from_vla0"] else ""
            how = f"the checkpoint `{given['argument']}`{origin}, not trained here"
        else:
            how = f"trained on `{summary['dataset']}` for {summary['train']['steps']} steps"
        lines += [
            f"This run: profile **{summary['profile']}**, model `{summary['model']}`, {how}, evaluated on "
            f"{scope}, {summary['episodes_per_task']} episode(s) per task. Blog: SmolVLM2-500M trained on "
            "`HuggingFaceVLA/libero`, every task of the four suites, 50 episodes per task.",
            "",
        ]
    else:
        lines += ["(no result: run the `libero` recipe)", ""]
    lines += ["| model | params | Object | Spatial | Goal | Long | Avg |", "|---|---|---|---|---|---|---|"]
    for row in BLOG_LIBERO:
        lines.append("| " + " | ".join(str(x) for x in row) + " |")
    lines.append(f"| VLA-0-Smol (blog), no ensembling | 0.5B | | | | | {BLOG_LIBERO_NO_ENSEMBLE_AVG} |")
    if summary:
        for mode, per_suite in summary.get("success", {}).items():
            cells = [f"{100 * per_suite[s]:.1f}" if s in per_suite else "-" for s in LIBERO_SUITES]
            done = [per_suite[s] for s in LIBERO_SUITES if s in per_suite]
            # the blog's Avg is over the four suites: a run of fewer has none to set beside it
            avg = f"{100 * sum(done) / len(done):.1f}" if len(done) == len(LIBERO_SUITES) else "-"
            label = (
                f"this run ({summary['profile']}, `{summary['model']}`, {mode}, {summary['episodes_per_task']} ep/task)"
            )
            lines.append(f"| {label} | | " + " | ".join(cells) + f" | {avg} |")
    return "\n".join(lines)


def render_blog_tables(profile_dir: Path) -> str:
    """``tables.md`` content from every result JSON present under ``results/<profile>/``."""
    import json

    profile_dir = Path(profile_dir)
    from .claims import claims_table

    parts = [
        f"# VLA-0-Smol: the blog's tables regenerated (profile `{profile_dir.name}`)",
        "",
        "Generated by the `blog_tables` recipe from the JSON results in this folder. Numbers of the "
        "`smoke` and `cpu` profiles come from the tiny preset (a few million parameters trained from "
        "scratch on a CPU): they exercise the recipe, they do not reproduce the blog's figures.",
        "",
        "## The blog's claims, with intervals on both sides",
        "",
        claims_table(profile_dir, profile_dir.name),
        "",
        "## Every arm",
        "",
        "Each PushT ablation below evaluates every saved checkpoint of every arm on the same episodes; "
        "**best** is the checkpoint with the highest success on those episodes, as the blog reports "
        "(optimistic: chosen on the episodes it is scored on), **last** is the final one. In brackets: "
        "95% Wilson intervals. Blog: SmolVLM2-500M, 64 episodes per arm, best checkpoint.",
        "",
    ]
    summaries = {}
    for recipe in BLOG_PUSHT:
        path = profile_dir / f"{recipe}.json"
        if path.exists():
            summaries[recipe] = json.loads(path.read_text())
            parts += [pusht_table(summaries[recipe], explain=False, references=False), ""]
        else:
            parts += [f"### {TITLES[recipe]}", "", f"(no result: run the `{recipe}` recipe)", ""]
    overview = references_overview(summaries, TITLES)
    if overview:
        parts += ["### What the reference rows say", "", overview, ""]
    libero = profile_dir / "libero.json"
    parts.append(libero_table(json.loads(libero.read_text()) if libero.exists() else None))
    return "\n".join(parts) + "\n"


def plot_checkpoint_curve(rows: list[dict], path: Path, title: str, label: str = "") -> Path:
    """Success rate and mean max coverage against the training step of each saved checkpoint."""
    fig, ax = _figure(figsize=(6, 3.5))
    _checkpoint_lines(ax, rows, label)
    ax.set(xlabel="training step (checkpoint)", ylim=(0, 1.02), title=title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def _checkpoint_lines(ax, rows: list[dict], label: str = "", color=None) -> None:
    steps = [r["step"] for r in rows]
    prefix = f"{label}: " if label else ""
    (line,) = ax.plot(steps, [r["success_rate"] for r in rows], "o-", color=color, label=f"{prefix}success rate")
    ax.plot(steps, [r["mean_max_coverage"] for r in rows], "s--", color=line.get_color(), label=f"{prefix}coverage")


def plot_checkpoint_curves(summary: dict, path: Path) -> Path | None:
    """One ablation: each arm's success and coverage at every checkpoint (None without checkpoints)."""
    rows = [(a["arm"], r) for a in summary["arms"] for r in seed_rows(a) if r.get("checkpoints")]
    if not rows:
        return None
    several = len(summary.get("seeds", [0])) > 1
    fig, ax = _figure(figsize=(7, 4))
    for name, r in rows:
        _checkpoint_lines(ax, r["checkpoints"], f"{name} (seed {r.get('seed')})" if several else name)
    title = f"{TITLES.get(summary['recipe'], summary['recipe'])}: every checkpoint ({summary['profile']} profile)"
    ax.set(xlabel="training step (checkpoint)", ylim=(0, 1.02), title=title)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def _error(row: dict) -> tuple[float, float]:
    """Distances from a success rate down and up to its 95% Wilson interval ((0, 0) without counts)."""
    if "n_episodes" not in row:
        return 0.0, 0.0
    lo, hi = wilson_interval(*successes(row))
    return row["success_rate"] - lo, hi - row["success_rate"]


def plot_ablation(summary: dict, path: Path) -> Path:
    """Success (95% Wilson error bars) and coverage per arm at the best checkpoint, then the references.

    With several training seeds, each seed's success is a dot on its arm's bar.
    """
    arms, refs = summary["arms"], summary.get("references", [])
    rows = [a.get("best", a) for a in arms] + refs
    names = [a["arm"] for a in arms] + [f"{r['reference']}\n(reference)" for r in refs]
    x = [float(i) for i in range(len(arms))] + [len(arms) + 0.5 + i for i in range(len(refs))]
    fig, ax = _figure(figsize=(1.5 * len(rows) + 2, 3.8))
    left = [i - 0.2 for i in x]
    bars = ax.bar(left, [r["success_rate"] for r in rows], width=0.4, label="success rate (95% interval)")
    ax.errorbar(
        left, [r["success_rate"] for r in rows], yerr=list(zip(*map(_error, rows))), fmt="none", ecolor="k", capsize=3
    )
    cover = ax.bar([i + 0.2 for i in x], [r["mean_max_coverage"] for r in rows], width=0.4, label="mean max coverage")
    ax.bar_label(bars, [f"{100 * r['success_rate']:.0f}%" for r in rows], fontsize=8, padding=2)
    for xi, r in zip(left, rows):  # a 0% bar has no height: a thick stub keeps it visible
        if r["success_rate"] == 0:
            ax.hlines(0.004, xi - 0.2, xi + 0.2, color="C0", lw=3)
    for bar in list(bars)[len(arms) :] + list(cover)[len(arms) :]:  # references: hatched, paler
        bar.set(alpha=0.45, hatch="//")
    for i, a in enumerate(arms):
        if len(seed_rows(a)) > 1:
            seeds = [s["best"]["success_rate"] for s in seed_rows(a)]
            ax.plot([left[i]] * len(seeds), seeds, "k.", label="one training seed" if i == 0 else None)
    if refs:
        ax.axvline(len(arms) - 0.25, color="grey", lw=0.8, ls=":")
    ax.set_xticks(x, names, rotation=15, fontsize=9)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success rate, mean max coverage\n(fraction of episodes / of the target)", fontsize=9)
    ax.set_title(f"{TITLES.get(summary['recipe'], summary['recipe'])} ({summary['profile']} profile)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def plot_lr_curve(summary: dict, path: Path) -> Path:
    """Success (95% Wilson error bars) and coverage against learning rate (log scale)."""
    arms = summary["arms"]
    lrs = [a["policy_overrides"]["optimizer_lr"] for a in arms]
    best = [a.get("best", a) for a in arms]
    fig, ax = _figure(figsize=(5, 3.5))
    yerr = list(zip(*map(_error, best)))
    ax.errorbar(lrs, [a["success_rate"] for a in arms], yerr=yerr, fmt="o-", capsize=3, label="success rate")
    ax.plot(lrs, [a["mean_max_coverage"] for a in arms], "s--", label="mean max coverage")
    ax.set(
        xscale="log",
        xlabel="peak learning rate",
        ylabel="success rate, mean max coverage",
        ylim=(0, 1.05),
        title=f"Learning rate ({summary['profile']} profile)",
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)
