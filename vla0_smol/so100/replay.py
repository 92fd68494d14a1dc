"""After a live run: replay the recorded episode (frames and joints) and summarise it in one table.

The episode is the LeRobotDataset :func:`~vla0_smol.so100.deploy.run_policy` wrote (``action``: what
was sent, ``predicted_action``: the policy's own, 0 where the watchdog held, ``observation.state``:
the joints read back), reloaded as any LeRobot dataset.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def load_episode(root: str | Path, repo_id: str = "local/so100_eval", max_frames: int = 120) -> dict:
    """Joints of every frame and the camera frames of at most ``max_frames`` evenly spaced ones."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ds = LeRobotDataset(repo_id, root=root)
    cols = ds.hf_dataset.select_columns(["action", "predicted_action", "observation.state"])[:]  # no decoding
    joints = {k: np.stack([np.asarray(v) for v in cols[k]]) for k in cols}  # (T, D) each
    index = np.unique(np.linspace(0, len(ds) - 1, min(len(ds), max_frames)).round().astype(int))
    cams = [k for k in ds.features if k.startswith("observation.images.")]
    frames = {k.removeprefix("observation.images."): [] for k in cams}
    for i in index:
        item = ds[int(i)]
        for k in cams:  # (3, H, W) float in [0, 1] -> (H, W, 3) uint8
            frames[k.removeprefix("observation.images.")].append(
                (item[k].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            )
    return {
        "fps": ds.fps,
        "motors": [n.removesuffix(".pos") for n in ds.features["action"]["names"]],
        "executed": joints["action"],
        "predicted": joints["predicted_action"],
        "observed": joints["observation.state"],
        "frame_index": index,
        "frames": {c: np.stack(f) for c, f in frames.items()},
    }


def plot_episode(ep: dict, title: str = ""):
    """Predicted, executed and observed joints of the recording over time (a matplotlib figure)."""
    import matplotlib.pyplot as plt

    t = np.arange(len(ep["executed"])) / ep["fps"]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6), sharex=True)
    for i, (ax, motor) in enumerate(zip(axes.flat, ep["motors"], strict=True)):
        ax.plot(t, ep["predicted"][:, i], ".", label="predicted (0: held)", alpha=0.7)
        ax.plot(t, ep["executed"][:, i], "-", label="executed")
        ax.plot(t, ep["observed"][:, i], "--", label="observed")
        ax.set_title(motor)
    axes[0, 0].legend(fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("time (s)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def filmstrip(ep: dict, n: int = 6):
    """``n`` frames per camera across the episode (a matplotlib figure): the headless replay."""
    import matplotlib.pyplot as plt

    cams, idx = list(ep["frames"]), np.linspace(0, len(ep["frame_index"]) - 1, n).round().astype(int)
    fig, axes = plt.subplots(len(cams), n, figsize=(2 * n, 2 * len(cams)), squeeze=False)
    for r, cam in enumerate(cams):
        for c, k in enumerate(idx):
            axes[r, c].imshow(ep["frames"][cam][k])
            axes[r, c].set_title(f"{cam} t={ep['frame_index'][k] / ep['fps']:.1f} s", fontsize=8)
            axes[r, c].axis("off")
    fig.tight_layout()
    return fig


def replay_widget(ep: dict):
    """Play / slider over the recorded frames, with the joints of the frame shown (ipywidgets)."""
    import cv2
    import ipywidgets as w

    n = len(ep["frame_index"])
    play = w.Play(min=0, max=n - 1, interval=int(1000 * (ep["frame_index"][-1] + 1) / ep["fps"] / n))
    slider = w.IntSlider(min=0, max=n - 1, description="frame")
    w.jslink((play, "value"), (slider, "value"))
    images = {c: w.Image(format="jpeg", layout=w.Layout(width="320px")) for c in ep["frames"]}
    joints = w.HTML()

    def show(change=None):
        k = slider.value
        for c, img in images.items():
            img.value = cv2.imencode(".jpg", cv2.cvtColor(ep["frames"][c][k], cv2.COLOR_RGB2BGR))[1].tobytes()
        f = ep["frame_index"][k]
        rows = "".join(
            f"<tr><td>{m}</td>"
            + "".join(f"<td>{ep[key][f, i]:.1f}</td>" for key in ("predicted", "executed", "observed"))
            for i, m in enumerate(ep["motors"])
        )
        joints.value = (
            f"<b>t = {f / ep['fps']:.2f} s</b><table><tr><th>joint</th><th>predicted</th><th>executed</th>"
            f"<th>observed</th></tr>{rows}</table>"
        )

    slider.observe(show, names="value")
    show()
    return w.VBox([w.HBox([play, slider]), w.HBox([*images.values(), joints])])


def summary_rows(result, preflight=None, panel=None) -> list[tuple[str, str]]:
    """(quantity, value) rows of one live run: what to read after standing next to the arm."""
    s = result.summary()
    lat, per = s["inference_latency_ms"] or {}, s["step_period_ms"] or {}
    rows = [
        ("stopped by", s["stopped_by"] + (" (dry run: nothing sent)" if result.dry_run else "")),
        ("steps", str(result.steps)),
        ("achieved fps", f"{result.achieved_fps:.1f}"),
        ("step period (mean / max)", f"{per.get('mean', '-')} / {per.get('max', '-')} ms"),
        ("decode latency (mean / p95)", f"{lat.get('mean', '-')} / {lat.get('p95', '-')} ms"),
        ("fresh / stale / held steps", f"{result.fresh_steps} / {result.stale_steps} / {result.watchdog_holds}"),
        (
            "clamp activations (joint, relative)",
            f"{result.clamp_activations} ({result.joint_limit_clamps}, {result.relative_clamps})",
        ),
        ("chunks (late)", f"{result.chunks} ({result.late_chunks})"),
    ]
    if result.steps:
        rows.append(("max abs(executed - observed)", f"{np.abs(result.executed - result.state).max():.2f}"))
    if preflight is not None:
        rows.append(("pre-flight", ("OK" if preflight.ok else "FAILED") + f", {len(preflight.problems)} note(s)"))
        if preflight.latency_s is not None:
            rows.append(("pre-flight decode", f"{preflight.latency_s * 1e3:.0f} ms"))
    if panel is not None:
        rows.append(("panel records seen (dropped)", f"{panel.seen} ({panel.dropped})"))
    return rows


def summary_markdown(rows: list[tuple[str, str]]) -> str:
    return "\n".join(["| quantity | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])
