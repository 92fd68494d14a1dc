"""Pre-flight checks before torque goes on: what would make a live run on the arm fail or misbehave.

LeRobot's ``SO100Follower.connect()`` configures the servos and enables torque; everything here runs
before it and never writes to a servo (the bus is not opened; cameras are opened, read, closed).
Each check returns :class:`Problem` s naming what is wrong and how to fix it; :func:`preflight` runs
them all and :meth:`PreflightReport.raise_if_failed` raises one :class:`PreflightError` listing every
fatal one.

* **cameras**: the policy's camera names (``observation.images.<name>``) are cameras of the arm.
* **motors**: the policy's action and state sizes are the arm's motor count.
* **calibration**: a calibration file exists for the arm's id (``lerobot-calibrate`` writes it); when
  the arm is already connected, the servos' EEPROM agrees with it.
* **frames**: each camera delivers a frame, of the size the policy was trained on (same aspect ratio
  at another size: resized every step, reported; another aspect ratio: the policy refuses it).
* **latency**: one decode on this machine, against the control period. The control loop infers
  asynchronously (:mod:`vla0_smol.so100.deploy`): the next chunk is requested at most
  ``n_action_steps - 1`` steps before the current chunk's executed actions run out, so a decode up to
  ``(n_action_steps - 1) / fps`` keeps every action fresh, and up to ``(chunk_size - 1) / fps`` the loop
  uses the chunk's later (stale) actions; beyond, the chunk runs out before the next arrives and the
  watchdog holds the arm (fatal). ``1 / fps`` is shown for reference: one decode per step is what a
  synchronous loop would need.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .arm import camera_shapes


@dataclass(frozen=True)
class Problem:
    check: str  # "cameras" | "motors" | "calibration" | "frames" | "latency"
    message: str  # what is wrong
    fix: str  # how to fix it
    fatal: bool = True  # False: reported, the run may go on

    def __str__(self) -> str:
        return f"[{self.check}] {self.message}\n    fix: {self.fix}"


class PreflightError(RuntimeError):
    """Torque refused: every fatal :class:`Problem`, with its fix, in one message."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        lines = "\n".join(f"- {p}" for p in problems)
        super().__init__(f"pre-flight failed, torque not enabled ({len(problems)} problem(s)):\n{lines}")


@dataclass
class PreflightReport:
    problems: list[Problem] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)  # checks that found nothing
    frames: dict[str, np.ndarray] = field(default_factory=dict)  # camera -> (H, W, 3) uint8 read here
    latency_s: float | None = None  # one decode (median of the timed ones)
    budgets_s: dict[str, float] = field(default_factory=dict)  # "1/fps", "fresh", "hold"

    @property
    def ok(self) -> bool:
        return not any(p.fatal for p in self.problems)

    def raise_if_failed(self) -> PreflightReport:
        fatal = [p for p in self.problems if p.fatal]
        if fatal:
            raise PreflightError(fatal)
        return self

    def __str__(self) -> str:
        lines = [f"pre-flight: {'OK' if self.ok else 'FAILED'} (passed: {', '.join(self.passed) or 'none'})"]
        if self.latency_s is not None:
            b = {k: f"{v * 1e3:.0f} ms" for k, v in self.budgets_s.items()}
            lines.append(
                f"one decode {self.latency_s * 1e3:.0f} ms; 1/fps {b['1/fps']}, "
                f"fresh actions up to {b['fresh']}, watchdog holds beyond {b['hold']}"
            )
        lines += [("ERROR " if p.fatal else "warning ") + str(p) for p in self.problems]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "passed": self.passed,
            "problems": [asdict(p) for p in self.problems],
            "latency_s": self.latency_s,
            "budgets_s": self.budgets_s,
            "frames": {k: list(v.shape) for k, v in self.frames.items()},
        }


def check_cameras(policy, robot) -> list[Problem]:
    want, have = camera_shapes(policy), list(robot.cameras)
    missing = [c for c in want if c not in have]
    problems = []
    if missing:
        spec = ", ".join(f"'{c}': (<index or path>, {want[c]})" for c in want)
        problems.append(
            Problem(
                "cameras",
                f"the policy was trained with cameras {list(want)} (observation.images.<name>), "
                f"the arm has {have}: {missing} missing",
                f"name the arm's cameras as the policy's: cameras={{{spec}}}",
            )
        )
    extra = [c for c in have if c not in want]
    if extra:
        problems.append(
            Problem("cameras", f"cameras {extra} are read every step but not used", "leave them out", fatal=False)
        )
    return problems


def check_motors(policy, robot) -> list[Problem]:
    n = len(robot.bus.motors)
    state = policy.config.robot_state_feature
    sizes = {"action": policy.config.action_dim, "state": state.shape[0] if state is not None else n}
    return [
        Problem("motors", f"the policy's {k} has {d} values, the arm has {n} motors", "a checkpoint of this arm")
        for k, d in sizes.items()
        if d != n
    ]


def calibrate_command(robot, robot_type: str = "so101_follower", port: str | None = None) -> str:
    return f"lerobot-calibrate --robot.type={robot_type} --robot.port={port or robot.config.port} --robot.id={robot.id}"


def check_calibration(robot, robot_type: str = "so101_follower", port: str | None = None) -> list[Problem]:
    fix = f"calibrate the arm: {calibrate_command(robot, robot_type, port)} (or pass the robot_id it was saved under)"
    path = robot.calibration_fpath
    if not path.is_file():
        return [Problem("calibration", f"no calibration file for robot_id {robot.id!r} ({path})", fix)]
    missing = [m for m in robot.bus.motors if m not in robot.calibration]
    if missing:
        return [Problem("calibration", f"{path} has no entry for motors {missing}", fix)]
    if robot.is_connected and not robot.is_calibrated:
        return [Problem("calibration", f"the servos' EEPROM does not match {path}", fix)]
    return []


def read_frames(robot, names) -> tuple[dict[str, np.ndarray], list[Problem]]:
    """One frame per camera in ``names`` (a closed camera is opened and closed again)."""
    frames, problems = {}, []
    for name in names:
        cam = robot.cameras[name]
        opened = not cam.is_connected
        try:
            if opened:
                cam.connect()
            frames[name] = np.asarray(cam.read())
        except Exception as e:
            problems.append(
                Problem(
                    "frames",
                    f"camera {name!r} ({getattr(cam.config, 'index_or_path', '?')}) gave no frame: {e}",
                    "check its index or path (lerobot-find-cameras opencv), its cable, that no other program uses it",
                )
            )
        finally:
            if opened and cam.is_connected:
                cam.disconnect()
    return frames, problems


def check_frames(policy, frames: dict[str, np.ndarray]) -> list[Problem]:
    problems = []
    for name, (th, tw) in camera_shapes(policy).items():
        if name not in frames:
            continue
        h, w = frames[name].shape[:2]
        if (h, w) == (th, tw):
            continue
        fix = f"set camera {name!r} to width={tw}, height={th} (the dataset's size)"
        if abs(h * tw - w * th) > 0.01 * th * tw:
            msg = f"camera {name!r} gives {h}x{w} frames, the policy was trained on {th}x{tw} (another aspect ratio)"
            problems.append(Problem("frames", msg + ": refused", fix))
        else:
            msg = f"camera {name!r} gives {h}x{w} frames, the policy was trained on {th}x{tw}: resized every step"
            problems.append(Problem("frames", msg, fix, fatal=False))
    return problems


def latency_budgets(policy, fps: float) -> dict[str, float]:
    """Decode budgets at ``fps`` (module docstring): ``1/fps``, fresh actions only, before watchdog holds."""
    h, n = policy.config.chunk_size, policy.config.n_action_steps
    return {"1/fps": 1.0 / fps, "fresh": max(n - 1, 1) / fps, "hold": max(h - 1, 1) / fps}


def measure_latency(policy, frames: dict[str, np.ndarray], decoder: str = "fast", repeats: int = 2) -> float:
    """Seconds per decode: one warm-up, then the median of ``repeats`` (black frames where none fits)."""
    dev, d = policy.config.device, policy.config.action_dim
    state = policy.config.robot_state_feature
    batch = {
        "observation.state": torch.zeros(1, state.shape[0] if state is not None else d, device=dev),
        "task": [policy.config.default_task or ""],
    }
    for name, (h, w) in camera_shapes(policy).items():
        img = frames.get(name)
        if img is None or img.shape[:2] != (h, w):
            img = np.zeros((h, w, 3), np.uint8)
        batch[f"observation.images.{name}"] = (
            torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].to(dev, torch.float32) / 255.0
        )  # (1, 3, H, W)
    times = []
    policy.reset()
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        policy.predict_action_chunk(batch, decoder=decoder)
        times.append(time.perf_counter() - t0)
    policy.reset()
    return float(np.median(times[1:]))


def check_latency(policy, latency_s: float, fps: float, fatal: bool = True) -> list[Problem]:
    """A decode too slow for the control period: fatal on a real arm (the watchdog holds it)."""
    b = latency_budgets(policy, fps)
    h, n = policy.config.chunk_size, policy.config.n_action_steps
    ms = f"one decode takes {latency_s * 1e3:.0f} ms"
    if latency_s > b["hold"]:
        return [
            Problem(
                "latency",
                f"{ms}; at {fps:g} fps a chunk of {h} runs out after {b['hold'] * 1e3:.0f} ms: "
                "the watchdog would hold the arm between chunks",
                f"fps <= {(h - 1) / latency_s:.1f} (fresh actions only: <= {max(n - 1, 1) / latency_s:.1f}), "
                "decoder='fast', or a GPU",
                fatal=fatal,
            )
        ]
    if latency_s > b["fresh"]:
        return [
            Problem(
                "latency",
                f"{ms} > {b['fresh'] * 1e3:.0f} ms: actions past n_action_steps={n} of a chunk are used (stale)",
                f"fps <= {max(n - 1, 1) / latency_s:.1f} for fresh actions only",
                fatal=False,
            )
        ]
    return []


def preflight(
    policy,
    robot,
    fps: float,
    decoder: str = "fast",
    robot_type: str = "so101_follower",
    port: str | None = None,
    latency_s: float | None = None,
    latency_fatal: bool = True,
) -> PreflightReport:
    """Every check, before torque (the bus is not opened).

    ``latency_s``: skip the measurement (tests). ``latency_fatal=False`` reports a decode slower than
    the watchdog allows as a warning: for the emulated arm, where a held step harms nothing and the
    decode time depends only on how busy this machine is.
    """
    report = PreflightReport(budgets_s=latency_budgets(policy, fps))

    def run(name, problems):
        report.problems += problems
        if not problems:
            report.passed.append(name)

    run("cameras", check_cameras(policy, robot))
    run("motors", check_motors(policy, robot))
    run("calibration", check_calibration(robot, robot_type, port))
    report.frames, unread = read_frames(robot, [c for c in camera_shapes(policy) if c in robot.cameras])
    run("frames", unread + check_frames(policy, report.frames))
    report.latency_s = latency_s if latency_s is not None else measure_latency(policy, report.frames, decoder)
    run("latency", check_latency(policy, report.latency_s, fps, fatal=latency_fatal))
    return report
