"""A live panel for the SO100 control loop: cameras, joints, latency, watchdog and clamps, Start / Stop.

:class:`LivePanel` subscribes to the runner's :class:`~vla0_smol.so100.deploy.StepRecord` s. The
subscription only puts the record in a small queue (``put_nowait``; when the panel lags, the oldest
record is dropped and counted in ``dropped``): the control loop never waits for the panel. The
episode runs in a thread (``vla0-runner``) started by the Start button or :meth:`LivePanel.start`, so
the notebook's kernel stays free to deliver the Stop button's click; Stop calls the runner's
``stop()``, which leaves the arm as the library's stop does (goal = present position, then torque as
``on_stop`` says).

Two renderings of the same records:

* **interactive** (a Jupyter frontend looks at the kernel): ipywidgets, refreshed from a thread
  (``vla0-panel``): camera frames, predicted / executed / observed joints (table and plot), decode
  latency against ``1 / fps`` and the pre-flight budgets, watchdog holds, clamp activations, status.
* **headless** (papermill, tests, a script): a text line every ``every`` steps, printed by
  :meth:`LivePanel.wait` in the calling thread; the run itself is the same loop.

A frontend is detected by the kernel's ``allow_stdin``: papermill (nbclient) executes with it off,
since nobody can answer ``input()``; JupyterLab, Notebook and VS Code turn it on.
"""

from __future__ import annotations

import atexit
import io
import queue
import threading
import time
from collections import deque

import numpy as np

from .deploy import StepRecord


def has_frontend() -> bool:
    """True in a Jupyter kernel that a person looks at (see the module docstring)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    kernel = getattr(get_ipython(), "kernel", None)
    return bool(kernel is not None and getattr(kernel, "_allow_stdin", False))


class LivePanel:
    """Live view and Start / Stop of one :class:`~vla0_smol.so100.deploy.PolicyRunner` episode.

    Args:
        runner: the control loop (not yet run).
        interactive: widgets (True) or text lines (False); None: :func:`has_frontend`.
        every: headless: a text line every ``every`` steps.
        budgets_s: decode budgets from the pre-flight report (``1/fps``, ``fresh``, ``hold``), shown next
            to the measured latency.
        window: steps of joint history kept for the plot.
        max_queue: records waiting for the panel before the oldest is dropped.
        refresh_s: interactive refresh period (the joint plot: every ``plot_every_s``).
    """

    def __init__(
        self,
        runner,
        interactive: bool | None = None,
        every: int = 10,
        budgets_s: dict | None = None,
        window: int = 150,
        max_queue: int = 8,
        refresh_s: float = 0.2,
        plot_every_s: float = 1.0,
    ):
        self.runner = runner
        self.interactive = has_frontend() if interactive is None else interactive
        self.every, self.refresh_s, self.plot_every_s = max(1, every), refresh_s, plot_every_s
        self.budgets_s = dict(budgets_s or {"1/fps": 1.0 / runner.cfg.fps})
        self.motors = list(runner.motors)
        self._queue: queue.Queue[StepRecord] = queue.Queue(maxsize=max_queue)
        self.dropped = 0  # records the panel never saw (it lagged; the loop did not wait)
        self.seen = 0
        self.last: StepRecord | None = None
        self.history: deque = deque(maxlen=window)  # (step, predicted, executed, observed)
        self.latencies: list[float] = []
        self.lines: list[str] = []  # headless text lines, as printed
        self.result = None
        self.error: BaseException | None = None
        self.status = "ready: press Start"
        self._thread: threading.Thread | None = None
        self._render_thread: threading.Thread | None = None
        self._poll_lock = threading.Lock()
        self._next_line = 0
        self._plot_t = 0.0
        self.widgets = self._build_widgets()
        runner.subscribe(self._on_record)
        atexit.register(self._at_exit)

    # ------------------------------------------------------------------ the loop's side
    def _on_record(self, record: StepRecord) -> None:
        """In the control loop: hand the record over, never wait."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            try:
                self._queue.get_nowait()  # drop the oldest: the panel shows the newest
                self.dropped += 1
            except queue.Empty:  # pragma: no cover
                pass
            try:
                self._queue.put_nowait(record)
            except queue.Full:  # pragma: no cover
                self.dropped += 1

    # ------------------------------------------------------------------ controls
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, _button=None) -> None:
        """Run the episode in a thread (the Start button). One episode per panel: a second press is ignored."""
        if self._thread is not None:
            self._set_status("one episode per panel: build a new runner and panel for another run")
            return
        self._thread = threading.Thread(target=self._run, name="vla0-runner", daemon=True)
        self._thread.start()
        self._set_status("running")
        if self.interactive:
            self._render_thread = threading.Thread(target=self._render_loop, name="vla0-panel", daemon=True)
            self._render_thread.start()

    def stop(self, _button=None) -> None:
        """Ask the loop to stop (the Stop button): it holds the present position, then ``on_stop``."""
        self.runner.stop()
        if self.running:
            self._set_status("stopping")

    def _run(self) -> None:
        try:
            self.result = self.runner.run()
        except BaseException as e:  # re-raised by wait() / finished() in the notebook's thread
            self.error = e
        self._set_status(self._end_status(), running=False)

    def _end_status(self) -> str:
        if self.error is not None:
            return f"error: {self.error!r} (arm left as on_stop={self.runner.cfg.on_stop!r} says)"
        on_stop = self.runner.cfg.on_stop
        arm = "holds its position, torque on" if on_stop == "hold" else "holds, then torque off (disconnected)"
        if self.result.dry_run:
            arm = "nothing was sent (dry run)"
        return f"finished ({self.result.stopped_by}) after {self.result.steps} steps: the arm {arm}"

    def wait(self, timeout: float | None = None):
        """Block until the episode ends (headless: printing its lines); a kernel interrupt stops it first."""
        if self._thread is None:
            raise RuntimeError("not started: press Start or call start()")
        t_end = None if timeout is None else time.perf_counter() + timeout
        try:
            while self._thread.is_alive():
                if not self.interactive:
                    self.poll()
                if t_end is not None and time.perf_counter() > t_end:
                    raise TimeoutError(f"the episode is still running after {timeout} s")
                self._thread.join(self.refresh_s)
        except KeyboardInterrupt:
            self.stop()
            self._thread.join()
        if self._render_thread is not None:
            self._render_thread.join()
        self.poll()
        return self.finished()

    def finished(self):
        """The episode's :class:`~vla0_smol.so100.deploy.DeployResult`; raises if it is not over."""
        if self._thread is None:
            raise RuntimeError("the episode has not started: press Start")
        if self._thread.is_alive():
            raise RuntimeError("the episode is still running: press Stop (or wait for it), then run this cell again")
        if self.error is not None:
            raise self.error
        return self.result

    def show(self):
        """Interactive: display the panel (Start / Stop drive the run). Headless: run now, print lines, wait."""
        if self.interactive:
            from IPython.display import display

            display(self.widgets["box"])
            return None
        print(f"headless panel: a line every {self.every} steps")
        self.start()
        return self.wait()

    def _at_exit(self) -> None:  # the kernel shuts down mid-run: stop through the safe exit
        if self.running:
            self.runner.stop()
            self._thread.join(10)

    # ------------------------------------------------------------------ rendering
    def poll(self) -> int:
        """Take the records waiting and render them; returns how many (thread-safe)."""
        with self._poll_lock:
            n = 0
            while True:
                try:
                    rec = self._queue.get_nowait()
                except queue.Empty:
                    break
                n += 1
                self._take(rec)
            if n and self.interactive:
                self._render_widgets()
            return n

    def _take(self, rec: StepRecord) -> None:
        self.seen += 1
        self.last = rec
        self.history.append((rec.step, rec.predicted, rec.executed, rec.observed))
        if rec.latency_s is not None:
            self.latencies.append(rec.latency_s)
        last_step = rec.step == rec.max_steps - 1
        if not self.interactive and (rec.step >= self._next_line or last_step):
            line = self.text_line(rec)
            self.lines.append(line)
            print(line, flush=True)
            self._next_line = (rec.step // self.every + 1) * self.every

    def text_line(self, rec: StepRecord) -> str:
        c = rec.counters
        lat = f"{self.latencies[-1] * 1e3:.0f} ms" if self.latencies else "-"
        gap_pe = np.nanmax(np.abs(rec.predicted - rec.executed)) if not rec.held else float("nan")
        return (
            f"step {rec.step + 1:4d}/{rec.max_steps} {rec.time_s:6.1f} s | decode {lat} "
            f"(1/fps {self.budgets_s['1/fps'] * 1e3:.0f} ms) | fresh {c['fresh_steps']} stale {c['stale_steps']} "
            f"holds {c['watchdog_holds']} | clamps {c['clamp_activations']} (joint {c['joint_limit_clamps']}, "
            f"relative {c['relative_clamps']}) | chunks {c['chunks']} late {c['late_chunks']} | "
            f"|pred-exec| {gap_pe:.1f} |exec-obs| {np.abs(rec.executed - rec.observed).max():.1f}"
            + (" | dry run" if rec.dry_run else "")
            + (f" | panel dropped {self.dropped}" if self.dropped else "")
        )

    def _render_loop(self) -> None:
        while self.running:
            self.poll()
            time.sleep(self.refresh_s)
        self.poll()

    def _set_status(self, text: str, running: bool | None = None) -> None:
        self.status = text
        if self.widgets:
            self.widgets["status"].value = f"<b>{text}</b>"
            self.widgets["start"].disabled = self._thread is not None
            self.widgets["stop"].disabled = not (self.running if running is None else running)

    def _build_widgets(self) -> dict | None:
        try:
            import ipywidgets as w
        except ImportError:  # pragma: no cover
            return None
        start = w.Button(description="Start", button_style="success", icon="play")
        stop = w.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        start.on_click(self.start)
        stop.on_click(self.stop)
        cams = {c: w.Image(format="jpeg", layout=w.Layout(width="320px")) for c in self.runner.cams.values()}
        parts = {
            "start": start,
            "stop": stop,
            "status": w.HTML(f"<b>{self.status}</b>"),
            "cameras": cams,
            "counters": w.HTML(),
            "joints": w.HTML(),
            "plot": w.Image(format="png"),
        }
        parts["box"] = w.VBox(
            [
                w.HBox([start, stop, parts["status"]]),
                w.HBox([w.VBox([w.Label(c), img]) for c, img in cams.items()]),
                w.HBox([parts["counters"], parts["joints"]]),
                parts["plot"],
            ]
        )
        return parts

    def _render_widgets(self) -> None:
        import cv2

        rec, wd = self.last, self.widgets
        if rec is None or wd is None:
            return
        for cam, img in wd["cameras"].items():
            if cam in rec.frames:
                ok, buf = cv2.imencode(".jpg", cv2.cvtColor(np.asarray(rec.frames[cam]), cv2.COLOR_RGB2BGR))
                if ok:
                    img.value = buf.tobytes()
        c, b = rec.counters, self.budgets_s
        lat = np.asarray(self.latencies[-20:]) * 1e3
        latency = f"{lat[-1]:.0f} ms (p95 {np.percentile(lat, 95):.0f})" if lat.size else "-"
        slow = lat.size and lat[-1] > b.get("hold", np.inf) * 1e3
        rows = [
            ("step", f"{rec.step + 1} / {rec.max_steps} ({rec.time_s:.1f} s)" + (", dry run" if rec.dry_run else "")),
            ("decode", f"<span style='color:{'red' if slow else 'inherit'}'>{latency}</span>"),
            (
                "1/fps",
                f"{b['1/fps'] * 1e3:.0f} ms" + (f"; holds beyond {b['hold'] * 1e3:.0f} ms" if "hold" in b else ""),
            ),
            ("fresh / stale", f"{c['fresh_steps']} / {c['stale_steps']}"),
            ("watchdog holds", str(c["watchdog_holds"])),
            ("clamps", f"{c['clamp_activations']} (joint {c['joint_limit_clamps']}, relative {c['relative_clamps']})"),
            ("chunks / late", f"{c['chunks']} / {c['late_chunks']}"),
            ("panel dropped", str(self.dropped)),
        ]
        wd["counters"].value = _html_table(["", ""], rows)
        joint_rows = [
            (m, *(f"{v:.1f}" for v in (rec.predicted[i], rec.executed[i], rec.observed[i])))
            for i, m in enumerate(self.motors)
        ]
        wd["joints"].value = _html_table(["joint", "predicted", "executed", "observed"], joint_rows)
        if time.perf_counter() - self._plot_t >= self.plot_every_s:
            self._plot_t = time.perf_counter()
            wd["plot"].value = self._joint_plot_png()

    def _joint_plot_png(self) -> bytes:
        from matplotlib.figure import Figure  # no pyplot: safe off the main thread

        steps = np.array([h[0] for h in self.history])
        fig = Figure(figsize=(9, 3.2), dpi=80)
        axes = fig.subplots(2, 3, sharex=True).flat
        for i, (ax, m) in enumerate(zip(axes, self.motors, strict=False)):  # 6 joints
            for k, (label, style) in enumerate((("predicted", "."), ("executed", "-"), ("observed", "--")), start=1):
                ax.plot(steps, [h[k][i] for h in self.history], style, label=label, ms=3)
            ax.set_title(m, fontsize=8)
            ax.tick_params(labelsize=6)
        fig.axes[0].legend(fontsize=6)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()


def _html_table(header: list[str], rows: list[tuple]) -> str:
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{v}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table style='margin-right:1em'><tr>{head}</tr>{body}</table>"
