"""An ablation's figures beyond its bar chart: how each arm trained, and what it does.

* :func:`plot_training`: per arm, the training loss ``lerobot-train`` logged (``metrics.jsonl``,
  kept in the arm's JSON) and success and coverage at every saved checkpoint, pooled over the
  training seeds with 95% Wilson intervals; a star marks the checkpoint the table reports (best).
* :func:`plot_rollouts`: per arm, 6 frames (96 px, as the policy sees them) of its best
  checkpoint's first evaluation episode, with the episode's outcome.

Both read only the summary :func:`vla0_smol.book.ablation.run_grid` returns (and the strip PNGs
it names), so they redraw from ``results/<profile>/<recipe>.json`` without running anything.
"""

from __future__ import annotations

from pathlib import Path

from .evidence import wilson_interval
from .report import TITLES, _save, seed_rows


def _pooled_curve(rows: list[dict]) -> tuple[list[int], list[float], list[tuple[float, float]], list[float]]:
    """Per checkpoint step, over seeds: steps, success, its (down, up) interval distances, coverage."""
    by_step: dict[int, list[dict]] = {}
    for row in rows:
        for c in row.get("checkpoints", []):
            by_step.setdefault(c["step"], []).append(c)
    steps, success, err, coverage = sorted(by_step), [], [], []
    for step in steps:
        cs = by_step[step]
        k = sum(round(c["success_rate"] * c["n_episodes"]) for c in cs)
        n = sum(c["n_episodes"] for c in cs)
        lo, hi = wilson_interval(k, n)
        success.append(k / n)
        err.append((k / n - lo, hi - k / n))
        coverage.append(sum(c["mean_max_coverage"] * c["n_episodes"] for c in cs) / n)
    return steps, success, err, coverage


def plot_training(summary: dict, path: Path) -> Path:
    """Loss per logged step (left) and success and coverage per checkpoint (right), one colour per arm."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 3.8))
    loss_ax, ckpt_ax = fig.subplots(1, 2)
    arms = summary["arms"]
    all_steps = [c["step"] for a in arms for r in seed_rows(a) for c in r.get("checkpoints", [])] or [0]
    dodge = 0.012 * ((max(all_steps) - min(all_steps)) or 1)  # arms side by side where their points coincide
    drawn: dict[str, list[str]] = {}  # a loss curve -> the arms that share it (one training run, several evaluations)
    for arm in arms:
        for j, row in enumerate(seed_rows(arm)):
            if row.get("loss"):
                drawn.setdefault(repr((j, row["loss"])), []).append(arm["arm"])
    for i, arm in enumerate(arms):
        color = f"C{i % 10}"
        rows = seed_rows(arm)
        for j, row in enumerate(rows):
            loss = row.get("loss") or []
            sharing = drawn.get(repr((j, loss)), [])
            if loss and sharing[0] == arm["arm"]:
                label = None
                if j == 0:
                    label = arm["arm"] if len(sharing) == 1 else " = ".join(sharing) + " (one training run)"
                loss_ax.plot(
                    [s for s, _ in loss], [v for _, v in loss], color=color, alpha=1 if j == 0 else 0.5, label=label
                )
        steps, success, err, coverage = _pooled_curve(rows)
        if not steps:
            continue
        x = [s + (i - (len(arms) - 1) / 2) * dodge for s in steps]
        label = arm["arm"]
        ckpt_ax.errorbar(x, success, yerr=list(zip(*err)), fmt="o-", color=color, capsize=3, label=f"{label}: success")
        ckpt_ax.plot(x, coverage, "s--", color=color, alpha=0.7, label=f"{label}: coverage")
        best = {r["best"]["step"] for r in rows if "best" in r}
        marks = [(xi, v) for xi, s, v in zip(x, steps, success) if s in best]
        ckpt_ax.plot([m[0] for m in marks], [m[1] for m in marks], "*", color=color, ms=14)
    title = TITLES.get(summary["recipe"], summary["recipe"])
    seeds = len(summary.get("seeds", [0]))
    pooled = f", {seeds} seeds pooled" if seeds > 1 else ""
    lighter = " (lighter: further seeds)" if seeds > 1 else ""
    loss_ax.set(
        xlabel="training step", ylabel="cross-entropy on action tokens", yscale="log", title=f"training loss{lighter}"
    )
    ckpt_ax.set(
        xlabel="training step (checkpoint)",
        ylabel="success rate, mean max coverage",
        ylim=(0, 1.05),
        title=f"every checkpoint, 95% intervals{pooled} (star: best)",
    )
    for ax in (loss_ax, ckpt_ax):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle(f"{title}: training ({summary['profile']} profile)")
    fig.tight_layout()
    return _save(fig, path)


def plot_rollouts(summary: dict, path: Path) -> Path:
    """One row per arm: the frame strip of its best checkpoint's first evaluation episode (first seed)."""
    import imageio.v2 as imageio
    from matplotlib.figure import Figure

    arms = [(a["arm"], seed_rows(a)[0]) for a in summary["arms"]]
    fig = Figure(figsize=(6.4, 1.6 * len(arms) + 0.4))
    axes = fig.subplots(len(arms), 1, squeeze=False)[:, 0]
    for ax, (name, row) in zip(axes, arms):
        ax.set_xticks([])
        ax.set_yticks([])
        shot = row.get("rollout")
        if not shot or not Path(shot["png"]).is_file():
            ax.set_title(f"{name}: no frames recorded", fontsize=8, loc="left")
            continue
        strip = imageio.imread(shot["png"])
        width = strip.shape[0]  # square frames side by side
        ax.imshow(strip)
        ticks = [width * (i + 0.5) for i in range(len(shot["steps"]))]
        ax.set_xticks(ticks, [f"step {t}" for t in shot["steps"]], fontsize=7)
        ax.tick_params(length=0, pad=2)
        outcome = ("success" if shot["success"] else "no success") + (", re-run alone" if shot.get("rerun") else "")
        ax.set_title(
            f"{name}: episode {shot['seed']}, best checkpoint (step {row['best']['step']}): "
            f"{outcome}, max coverage {shot['max_coverage']:.2f}",
            fontsize=8,
            loc="left",
        )
    fig.suptitle(
        f"{TITLES.get(summary['recipe'], summary['recipe'])}: one episode per arm ({summary['profile']})", fontsize=9
    )
    fig.tight_layout()
    return _save(fig, path)
