"""Running the policy live on an SO100/SO101 arm: an asynchronous, clamped, stoppable control loop.

The robot and cameras are LeRobot's own (``lerobot.robots.so_follower``, ``lerobot.cameras``); this
module only schedules inference and enforces safety. One control step at ``fps``:

1. ``robot.get_observation()`` -> batch (``observation.images.<cam>`` (1, 3, H, W) in [0, 1],
   ``observation.state`` (1, 6) in the robot's units, ``task``).
2. **Asynchronous inference** (a background thread): a chunk of H actions is requested from the
   observation of step ``s`` and, when it arrives, its action ``k`` is used at step ``s + k``. In
   ``"chunk"`` execution the next request is sent ``request_ahead`` steps before the current chunk's
   ``n_action_steps`` are used up, so the next chunk is computed while this one executes. In
   ``"temporal"`` execution the worker runs back to back and every step averages all chunks that
   cover it (VLA-0, Goyal et al. 2025, Sec. III.C; ACT's temporal ensembling), weighted as the
   policy's ``ensemble_weighting``. A step is **stale** when its action comes from index
   ``>= n_action_steps`` of the newest chunk (the next chunk was late).
3. **Watchdog**: when no chunk covers the step, or the request in flight is older than
   ``deadline_s``, the arm **holds** the last commanded position (counted in ``watchdog_holds``).
4. **Joint-limit clamp**: each action is clipped to the calibrated range (``range_min`` /
   ``range_max`` of ``robot.bus.calibration`` converted by the bus's own normalisation to the
   action units: degrees, or 0..100 for the gripper), minus ``joint_margin``.
5. ``robot.send_action`` applies LeRobot's ``max_relative_target`` clamp (robot config) and returns
   what it sent; a difference counts as a relative clamp. ``dry_run`` sends nothing and applies the
   same LeRobot function (``ensure_safe_goal_position``) to log what would have been sent.

**Stop and torque policy.** ``stop()`` (from another thread or a notebook button), ``KeyboardInterrupt``
(the notebook's interrupt), an exception or the end of the run all lead to the same exit: the
present position is commanded as the goal (the arm stops where it is, torque on), then with
``on_stop="disconnect"`` (default) ``robot.disconnect()`` runs, which disables torque on every
servo when ``disable_torque_on_disconnect=True`` (LeRobot's default): the arm goes limp and sags
under gravity, so park it near its rest pose first. ``on_stop="hold"`` keeps torque on and the robot
connected (the arm stays put; disconnect later).

Episodes are recorded with LeRobot's ``LeRobotDataset`` writer (executed actions as ``action``,
the policy's raw actions as ``predicted_action``).

**Live displays** subscribe to a :class:`StepRecord` per step (:meth:`PolicyRunner.subscribe`): the
callback runs in the control loop, so it must only hand the record over (``queue.put_nowait``, as
:class:`vla0_smol.so100.panel.LivePanel` does); a callback that raises is logged and unsubscribed.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from lerobot.robots.utils import ensure_safe_goal_position

from ..ensemble import _age_weights

log = logging.getLogger(__name__)


@dataclass
class DeployConfig:
    fps: float = 30.0  # control rate (the dataset's fps)
    max_steps: int = 300  # steps per episode
    task: str | None = None  # None: the policy's default_task
    execution: str | None = None  # "chunk" | "temporal"; None: the policy's config.execution
    decoder: str = "fast"  # "fast" | "hf"
    request_ahead: int | None = None  # chunk mode: steps of look-ahead; None: from the warm-up latency
    deadline_s: float | None = None  # watchdog: max age of a request in flight; None: when the chunk runs out
    joint_margin: float = 0.0  # shrink the calibrated range by this much (action units)
    dry_run: bool = False  # compute and log actions, send nothing
    on_stop: str = "disconnect"  # "disconnect" (hold, then torque off) | "hold" (torque on, stay connected)
    record_root: str | None = None  # write the episode as a LeRobotDataset here (None: no recording)
    record_repo_id: str = "local/so100_eval"
    record_videos: bool = False  # video (needs ffmpeg) or PNG frames

    def __post_init__(self):
        if self.fps <= 0 or self.max_steps < 1:
            raise ValueError("fps must be > 0 and max_steps >= 1")
        if self.execution not in (None, "chunk", "temporal"):
            raise ValueError(f"execution must be 'chunk' or 'temporal', got {self.execution!r}")
        if self.on_stop not in ("disconnect", "hold"):
            raise ValueError(f"on_stop must be 'disconnect' or 'hold', got {self.on_stop!r}")


@dataclass
class DeployResult:
    steps: int = 0
    clamp_activations: int = 0  # steps where any clamp changed the action
    joint_limit_clamps: int = 0  # steps clipped to the calibrated range
    relative_clamps: int = 0  # steps clipped by LeRobot's max_relative_target
    watchdog_holds: int = 0  # steps that held the last command (no usable chunk)
    stale_steps: int = 0  # steps acting on index >= n_action_steps of the newest chunk (the next one was late)
    fresh_steps: int = 0  # steps acting on index < n_action_steps; fresh + stale + holds = steps
    chunks: int = 0  # chunks received
    late_chunks: int = 0  # chunks that arrived with nothing left to execute
    stopped_by: str = "max_steps"  # "max_steps" | "stop" | "interrupt" | "error"
    dry_run: bool = False
    achieved_fps: float = 0.0
    step_period_s: list[float] = field(default_factory=list)
    inference_latency_s: list[float] = field(default_factory=list)
    predicted: np.ndarray | None = None  # (T, D) policy action (nan: held)
    commanded: np.ndarray | None = None  # (T, D) after the joint-limit clamp
    executed: np.ndarray | None = None  # (T, D) what was sent (or would have been, in dry run)
    state: np.ndarray | None = None  # (T, D) observed joint positions
    joint_limits: np.ndarray | None = None  # (2, D) lower / upper bound used
    motor_names: list[str] = field(default_factory=list)
    dataset_root: str | None = None

    def summary(self) -> dict:
        """JSON-able counters and timings (no trajectories)."""
        out = {k: v for k, v in asdict(self).items() if not isinstance(v, (np.ndarray, list)) or k == "motor_names"}
        lat, per = np.asarray(self.inference_latency_s), np.asarray(self.step_period_s)
        out["inference_latency_ms"] = (
            {"mean": _ms(lat.mean()), "p95": _ms(np.percentile(lat, 95))} if lat.size else None
        )
        out["step_period_ms"] = {"mean": _ms(per.mean()), "max": _ms(per.max())} if per.size else None
        return out


@dataclass
class StepRecord:
    """One control step as the loop saw it, for live displays (:meth:`PolicyRunner.subscribe`)."""

    step: int
    time_s: float  # since the first step
    predicted: np.ndarray  # (D,) the policy's action (nan: held)
    executed: np.ndarray  # (D,) sent (or, in a dry run, what would have been)
    observed: np.ndarray  # (D,) joint positions read at this step
    frames: dict  # camera name -> (H, W, 3) uint8: the observation's own arrays, read-only
    held: bool  # watchdog hold
    joint_clamped: bool
    relative_clamped: bool
    latency_s: float | None  # decode latency of a chunk received at this step
    late_chunk: bool  # that chunk arrived with nothing left to execute
    counters: dict  # cumulative: steps, watchdog_holds, clamp_activations, joint_limit_clamps, ...
    max_steps: int = 0
    fps: float = 0.0
    dry_run: bool = False


_COUNTERS = (
    "steps",
    "fresh_steps",
    "stale_steps",
    "watchdog_holds",
    "clamp_activations",
    "joint_limit_clamps",
    "relative_clamps",
    "chunks",
    "late_chunks",
)


def _ms(x) -> float:
    return round(float(x) * 1e3, 2)


def joint_limits(robot, margin: float = 0.0) -> tuple[list[str], np.ndarray]:
    """Motor names and ``(2, D)`` bounds in action units from the robot's calibration."""
    bus = robot.bus
    names = list(bus.motors)
    ids = {m: bus.motors[m].id for m in names}
    lo = bus._normalize({ids[m]: bus.calibration[m].range_min for m in names})  # the bus's own units
    hi = bus._normalize({ids[m]: bus.calibration[m].range_max for m in names})
    a, b = np.array([lo[ids[m]] for m in names]), np.array([hi[ids[m]] for m in names])
    bounds = np.stack([np.minimum(a, b) + margin, np.maximum(a, b) - margin])
    return names, bounds


class _InferenceWorker:
    """Background thread: ``submit(batch, step)``, then ``poll()`` -> ``(step, chunk (H, D), latency)``."""

    def __init__(self, policy, decoder: str):
        self.policy, self.decoder = policy, decoder
        self._req: queue.Queue = queue.Queue(maxsize=1)
        self._res: queue.Queue = queue.Queue()
        self.in_flight_since: float | None = None
        self.error: BaseException | None = None
        self._last_step: int | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="vla0-inference")
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._req.get()
            if item is None:
                return
            batch, step = item
            t0 = time.perf_counter()
            memory = getattr(self.policy, "_memory", {})
            if 0 in memory and self._last_step is not None:  # fast decoder's draft: the last chunk, shifted
                memory[0] = (memory[0][0], step - self._last_step)
            self._last_step = step
            try:
                chunk = self.policy.predict_action_chunk(batch, decoder=self.decoder)[0]  # (H, D)
            except BaseException as e:  # surfaced to the control loop
                self.error = e
                return
            self._res.put((step, chunk.double().cpu().numpy(), time.perf_counter() - t0))

    @property
    def busy(self) -> bool:
        return self.in_flight_since is not None

    def submit(self, batch: dict, step: int) -> None:
        self.in_flight_since = time.perf_counter()
        self._req.put((batch, step))

    def poll(self):
        if self.error is not None:
            raise RuntimeError("inference failed") from self.error
        try:
            res = self._res.get_nowait()
        except queue.Empty:
            return None
        self.in_flight_since = None
        return res

    def close(self) -> None:
        self._req.put(None)
        self._thread.join(timeout=5)  # a daemon thread: a decode still running cannot block exit


class PolicyRunner:
    """Runs a VLA-0-Smol policy on a connected LeRobot SO100/SO101 robot.

    Args:
        policy: a ``VLA0SmolPolicy`` whose image features are ``observation.images.<camera name>``.
        robot: a connected LeRobot robot (``SO100Follower`` / ``SO101Follower``).
        config: loop, safety and recording settings.
    """

    def __init__(self, policy, robot, config: DeployConfig | None = None):
        self.policy, self.robot, self.cfg = policy, robot, config or DeployConfig()
        pc = policy.config
        self.execution = self.cfg.execution or pc.execution
        self.h, self.n = pc.chunk_size, pc.n_action_steps
        self.cams = {k: k.removeprefix("observation.images.") for k in pc.image_keys}
        missing = [c for c in self.cams.values() if c not in robot.cameras]
        if missing:
            raise ValueError(f"policy expects cameras {missing}, robot has {list(robot.cameras)}: rename them")
        self.motors, self.limits = joint_limits(robot, self.cfg.joint_margin)
        if pc.action_dim != len(self.motors):
            raise ValueError(f"policy action has {pc.action_dim} dims, robot has {len(self.motors)} motors")
        self.weights = _age_weights(pc.ensemble_weighting, self.h, pc.ensemble_exp_base).numpy()
        self._stop = threading.Event()
        self._listeners: list[Callable[[StepRecord], None]] = []

    def stop(self) -> None:
        """Ask the loop to stop at the next step (thread-safe; e.g. from a notebook button)."""
        self._stop.set()

    def subscribe(self, callback: Callable[[StepRecord], None]) -> None:
        """Call ``callback(record)`` after every step, in the control loop: it must return at once."""
        self._listeners.append(callback)

    def _emit(self, record: StepRecord) -> None:
        for fn in list(self._listeners):
            try:
                fn(record)
            except Exception:  # a display never stops the arm's loop
                log.exception("step listener %r failed: unsubscribed", fn)
                self._listeners.remove(fn)

    # ------------------------------------------------------------------ helpers
    def _batch(self, obs: dict) -> dict:
        dev = self.policy.config.device
        state = torch.tensor([[obs[f"{m}.pos"] for m in self.motors]], dtype=torch.float32)  # (1, D)
        batch = {"observation.state": state.to(dev), "task": [self.cfg.task or self.policy.config.default_task or ""]}
        for key, cam in self.cams.items():
            img = torch.from_numpy(np.ascontiguousarray(obs[cam])).permute(2, 0, 1)[None]  # (1, 3, H, W) uint8
            batch[key] = (img.float() / 255.0).to(dev)
        return batch

    def _action_for(self, t: int, chunks: dict[int, np.ndarray]) -> tuple[np.ndarray | None, int]:
        """Action for step ``t`` from the chunks covering it, and its index in the newest chunk."""
        live = sorted((s for s in chunks if 0 <= t - s < self.h), reverse=True)  # newest first
        if not live:
            return None, self.h
        if self.execution == "chunk":
            return chunks[live[0]][t - live[0]], t - live[0]
        w = self.weights[: len(live)]
        acts = np.stack([chunks[s][t - s] for s in live])  # (K, D)
        return (w[:, None] * acts).sum(0) / w.sum(), t - live[0]

    def _send(self, action: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, bool]:
        goal = {f"{m}.pos": float(v) for m, v in zip(self.motors, action, strict=True)}
        if self.cfg.dry_run:
            mrt = self.robot.config.max_relative_target
            if mrt is not None:
                pairs = {m: (float(a), float(p)) for m, a, p in zip(self.motors, action, present, strict=True)}
                safe = ensure_safe_goal_position(pairs, mrt if isinstance(mrt, dict) else float(mrt))
                goal = {f"{m}.pos": safe[m] for m in self.motors}
            sent = goal
        else:
            sent = self.robot.send_action(goal)
        out = np.array([sent[f"{m}.pos"] for m in self.motors])
        return out, bool(np.any(np.abs(out - action) > 1e-4))

    def _open_dataset(self):
        from lerobot.datasets.lerobot_dataset import LeRobotDataset
        from lerobot.utils.feature_utils import hw_to_dataset_features

        features = hw_to_dataset_features(self.robot.observation_features, "observation", self.cfg.record_videos)
        features.update(hw_to_dataset_features(self.robot.action_features, "action", self.cfg.record_videos))
        features["predicted_action"] = {"dtype": "float32", "shape": (len(self.motors),), "names": self.motors}
        root = Path(self.cfg.record_root)
        if (root / "meta" / "info.json").is_file():
            return LeRobotDataset.resume(self.cfg.record_repo_id, root=root)  # pragma: no cover
        return LeRobotDataset.create(
            self.cfg.record_repo_id,
            fps=int(round(self.cfg.fps)),
            root=root,
            robot_type=getattr(self.robot, "name", None),
            features=features,
            use_videos=self.cfg.record_videos,
            image_writer_threads=2,
        )

    # ------------------------------------------------------------------ loop
    def run(self) -> DeployResult:
        """Run one episode; always leaves the arm in the safe state described in the module docstring."""
        cfg, res = self.cfg, DeployResult(dry_run=self.cfg.dry_run, motor_names=self.motors)
        res.joint_limits = self.limits
        period = 1.0 / cfg.fps
        self._stop.clear()
        self.policy.reset()
        pred, cmd, exe, states = [], [], [], []
        ds = self._open_dataset() if cfg.record_root else None
        worker = _InferenceWorker(self.policy, cfg.decoder)
        last_cmd = None
        try:
            # Warm-up (synchronous): the first chunk, and the latency that sets the look-ahead.
            obs = self.robot.get_observation()
            worker.submit(self._batch(obs), 0)
            while (first := worker.poll()) is None:
                time.sleep(0.001)
            chunks = {0: first[1]}  # step of the observation -> (H, D) chunk
            res.chunks, res.inference_latency_s = 1, [first[2]]
            ahead = (
                cfg.request_ahead
                if cfg.request_ahead is not None
                else min(self.n - 1, math.ceil(first[2] / period) + 1)
            )
            deadline = cfg.deadline_s if cfg.deadline_s is not None else (self.h - self.n + ahead) / cfg.fps
            t_start = t_next = time.perf_counter()
            for t in range(cfg.max_steps):
                if self._stop.is_set():
                    res.stopped_by = "stop"
                    break
                t_step = time.perf_counter()
                if t > 0:
                    obs = self.robot.get_observation()
                present = np.array([obs[f"{m}.pos"] for m in self.motors])
                got_latency, late = None, False
                if (got := worker.poll()) is not None:
                    s, chunk, got_latency = got
                    res.chunks += 1
                    res.inference_latency_s.append(got_latency)
                    late = t - s >= self.h
                    res.late_chunks += int(late)
                    chunks[s] = chunk
                chunks = {s: c for s, c in chunks.items() if t - s < self.h}
                newest = max(chunks, default=None)
                age = t - newest if newest is not None else self.h
                if not worker.busy and (self.execution == "temporal" or age >= self.n - ahead):
                    worker.submit(self._batch(obs), t)
                action, idx = self._action_for(t, chunks)
                overdue = worker.busy and time.perf_counter() - worker.in_flight_since > deadline
                if action is None or (overdue and idx >= self.n):
                    res.watchdog_holds += 1
                    action = last_cmd if last_cmd is not None else present
                    pred.append(np.full(len(self.motors), np.nan))
                    joint_clamped = False
                else:
                    res.stale_steps += int(idx >= self.n)
                    res.fresh_steps += int(idx < self.n)
                    pred.append(action)
                    clipped = np.clip(action, self.limits[0], self.limits[1])
                    joint_clamped = bool(np.any(clipped != action))
                    action = clipped
                sent, rel_clamped = self._send(action, present)
                last_cmd = action
                res.joint_limit_clamps += int(joint_clamped)
                res.relative_clamps += int(rel_clamped)
                res.clamp_activations += int(joint_clamped or rel_clamped)
                cmd.append(action)
                exe.append(sent)
                states.append(present)
                res.steps += 1
                if ds is not None:
                    frame = {"observation.state": present.astype(np.float32), "action": sent.astype(np.float32)}
                    frame["predicted_action"] = np.nan_to_num(pred[-1], nan=0.0).astype(np.float32)
                    frame.update({f"observation.images.{c}": obs[c] for c in self.robot.cameras})
                    ds.add_frame({**frame, "task": self._batch_task()})
                log.debug("step %d: action %s sent %s", t, np.round(action, 2), np.round(sent, 2))
                if self._listeners:
                    self._emit(
                        StepRecord(
                            step=t,
                            time_s=t_step - t_start,
                            predicted=pred[-1],
                            executed=sent,
                            observed=present,
                            frames={c: obs[c] for c in self.robot.cameras if c in obs},
                            held=bool(np.isnan(pred[-1]).any()),
                            joint_clamped=joint_clamped,
                            relative_clamped=rel_clamped,
                            latency_s=got_latency,
                            late_chunk=late,
                            counters={k: getattr(res, k) for k in _COUNTERS},
                            max_steps=cfg.max_steps,
                            fps=cfg.fps,
                            dry_run=cfg.dry_run,
                        )
                    )
                t_next += period
                time.sleep(max(0.0, t_next - time.perf_counter()))
                res.step_period_s.append(time.perf_counter() - t_step)
            res.achieved_fps = res.steps / max(time.perf_counter() - t_start, 1e-9)
        except KeyboardInterrupt:
            res.stopped_by = "interrupt"
        except BaseException:
            res.stopped_by = "error"
            raise
        finally:
            self._safe_stop()  # first: the arm must not wait for an inference still running
            worker.close()
            if ds is not None:
                if res.steps:
                    ds.save_episode()
                ds.finalize()
                res.dataset_root = str(ds.root)
            d = len(self.motors)
            res.predicted, res.commanded = np.array(pred).reshape(-1, d), np.array(cmd).reshape(-1, d)
            res.executed, res.state = np.array(exe).reshape(-1, d), np.array(states).reshape(-1, d)
        return res

    def _batch_task(self) -> str:
        return self.cfg.task or self.policy.config.default_task or ""

    def _safe_stop(self) -> None:
        """Hold the present position (torque on), then disconnect (torque off) if ``on_stop="disconnect"``."""
        robot = self.robot
        if not robot.is_connected:
            return
        if not self.cfg.dry_run:
            try:
                present = robot.bus.sync_read("Present_Position", num_retry=3)
                robot.bus.sync_write("Goal_Position", present)  # no max_relative_target: the goal is where it is
            except Exception:  # the disconnect below still disables torque
                log.exception("could not command the hold position")
        if self.cfg.on_stop == "disconnect":
            robot.disconnect()


def run_policy(policy, robot, **kwargs) -> DeployResult:
    """One episode with :class:`DeployConfig` ``kwargs``: ``run_policy(policy, robot, fps=30, max_steps=200)``."""
    return PolicyRunner(policy, robot, DeployConfig(**kwargs)).run()
