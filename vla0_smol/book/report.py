"""Results -> tables and plots (always computed from saved JSON, never typed)."""

from __future__ import annotations

from pathlib import Path

from ..training import read_metrics


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


def pusht_table(summary: dict) -> str:
    """One ablation: this run's best and last checkpoints beside the blog's (best) figure."""
    recipe, ref = summary["recipe"], BLOG_PUSHT.get(summary["recipe"], [])
    arms = summary["arms"]
    n = arms[0]["n_episodes"] if arms else 0
    steps = [c["step"] for c in arms[0].get("checkpoints", [])] if arms else []
    p = summary["profile"]
    lines = [
        f"### {TITLES.get(recipe, recipe)}",
        "",
        f"This run: profile **{p}**, model `{summary['model']}`, {n} episodes per arm, every saved checkpoint "
        f"evaluated on the same seeds (steps {', '.join(map(str, steps)) or '?'}); **best** is chosen on those "
        "episodes, as the blog does, **last** is the final checkpoint. Blog: SmolVLM2-500M, 64 episodes, best.",
        "",
        f"| arm | success, best ({p}) [step] | success, last ({p}) | coverage, best ({p}) | coverage, last ({p}) "
        "| blog success (best) |",
        "|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(arms):
        blog = ref[i] if i < len(ref) else "-"
        blog = f"{blog}%" if blog.replace(".", "").isdigit() else blog
        best, last = r.get("best", r), r.get("last", r)
        lines.append(
            f"| {r['arm']} | {100 * best['success_rate']:.1f}% [{best.get('step', '?')}] | "
            f"{100 * last['success_rate']:.1f}% | {best['mean_max_coverage']:.3f} | {last['mean_max_coverage']:.3f} "
            f"| {blog} |"
        )
    if steps:
        lines += ["", f"Curves: `{recipe}_checkpoints.png` (success and coverage at every checkpoint)."]
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
            avg = f"{100 * sum(done) / len(done):.1f}" if done else "-"
            label = (
                f"this run ({summary['profile']}, `{summary['model']}`, {mode}, {summary['episodes_per_task']} ep/task)"
            )
            lines.append(f"| {label} | | " + " | ".join(cells) + f" | {avg} |")
    return "\n".join(lines)


def render_blog_tables(profile_dir: Path) -> str:
    """``tables.md`` content from every result JSON present under ``results/<profile>/``."""
    import json

    profile_dir = Path(profile_dir)
    parts = [
        f"# VLA-0-Smol: the blog's tables regenerated (profile `{profile_dir.name}`)",
        "",
        "Generated by the `blog_tables` recipe from the JSON results in this folder. Numbers of the "
        "`smoke` and `cpu` profiles come from the tiny preset (a few million parameters trained from "
        "scratch on a CPU): they exercise the recipe, they do not reproduce the blog's figures.",
        "",
    ]
    for recipe in BLOG_PUSHT:
        path = profile_dir / f"{recipe}.json"
        if path.exists():
            parts += [pusht_table(json.loads(path.read_text())), ""]
        else:
            parts += [f"### {TITLES[recipe]}", "", f"(no result: run the `{recipe}` recipe)", ""]
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
    arms = [a for a in summary["arms"] if a.get("checkpoints")]
    if not arms:
        return None
    fig, ax = _figure(figsize=(7, 4))
    for arm in arms:
        _checkpoint_lines(ax, arm["checkpoints"], arm["arm"])
    title = f"{TITLES.get(summary['recipe'], summary['recipe'])}: every checkpoint ({summary['profile']} profile)"
    ax.set(xlabel="training step (checkpoint)", ylim=(0, 1.02), title=title)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def plot_ablation(summary: dict, path: Path) -> Path:
    """Bar chart of success and coverage per arm (at the best checkpoint)."""
    arms = summary["arms"]
    names = [a["arm"] for a in arms]
    x = range(len(arms))
    fig, ax = _figure(figsize=(1.6 * len(arms) + 2, 3.5))
    ax.bar([i - 0.2 for i in x], [a["success_rate"] for a in arms], width=0.4, label="success rate")
    ax.bar([i + 0.2 for i in x], [a["mean_max_coverage"] for a in arms], width=0.4, label="mean max coverage")
    ax.set_xticks(list(x), names, rotation=15)
    ax.set_ylim(0, 1)
    ax.set_title(f"{TITLES.get(summary['recipe'], summary['recipe'])} ({summary['profile']} profile)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_lr_curve(summary: dict, path: Path) -> Path:
    """Success and coverage against learning rate (log scale)."""
    arms = summary["arms"]
    lrs = [a["policy_overrides"]["optimizer_lr"] for a in arms]
    fig, ax = _figure(figsize=(5, 3.5))
    ax.plot(lrs, [a["success_rate"] for a in arms], "o-", label="success rate")
    ax.plot(lrs, [a["mean_max_coverage"] for a in arms], "s--", label="mean max coverage")
    ax.set(
        xscale="log", xlabel="peak learning rate", ylim=(0, 1), title=f"Learning rate ({summary['profile']} profile)"
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)
