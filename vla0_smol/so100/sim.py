"""A no-hardware SO100/SO101: LeRobot's real robot class on an emulated Feetech bus and a video camera.

What is real and what is emulated:

* **Robot**: LeRobot's own ``SO100Follower`` / ``SO101Follower`` (``lerobot.robots.so_follower``),
  its ``FeetechMotorsBus``, the Feetech SDK (``scservo_sdk``) and ``pyserial``, unchanged.
* **Servos**: :class:`FeetechBusEmulator` answers the Feetech protocol-0 byte stream on a
  pseudo-terminal (``mock-serial``'s ``MockSerial``, the package LeRobot's own tests use for their
  Feetech bus). Unlike LeRobot's test stubs (fixed request -> reply pairs), it keeps a control
  table per servo, so writes are remembered, ``Present_Position`` moves towards ``Goal_Position``
  at a bounded speed while torque is on, and ``Torque_Enable`` can be checked after a stop.
  Instructions: PING, READ, WRITE, SYNC_READ, SYNC_WRITE (all LeRobot sends to an SO arm).
* **Camera**: :class:`VideoFileCamera`, LeRobot's ``OpenCVCamera`` reading an mp4 through
  ``cv2.VideoCapture``. Two methods are overridden because a file is not a device: OpenCV cannot
  *set* fps/width/height of a file (LeRobot's camera raises), so they are *checked* against the
  file instead; and a file ends and decodes as fast as the CPU allows, so frames are paced at
  the file's fps and the file loops.

Typical use (tests, notebook)::

    with SimulatedSO100(tmp_dir, cameras={"front": (96, 96)}) as sim:
        robot = sim.robot            # connected SO101Follower
        robot.get_observation()
        sim.bus.torque_enabled()     # {id: bool}
"""

from __future__ import annotations

import os
import select
import threading
import time
from pathlib import Path

import cv2
import numpy as np
from lerobot.cameras.opencv import OpenCVCamera, OpenCVCameraConfig
from lerobot.motors import MotorCalibration
from lerobot.robots.so_follower import SO100Follower, SO100FollowerConfig
from mock_serial import MockSerial

MOTORS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
# Raw (0..4095) calibrated ranges of a plausible SO101: id -> (range_min, range_max).
DEFAULT_RANGES = {1: (750, 3350), 2: (850, 3250), 3: (900, 3100), 4: (850, 3200), 5: (0, 4095), 6: (2000, 3400)}

# Feetech STS3215 control table addresses used here (lerobot.motors.feetech.tables).
FW_MAJOR, FW_MINOR, MODEL_NB, ID_ADDR = 0, 1, 3, 5
MIN_LIMIT, MAX_LIMIT, HOMING_OFFSET = 9, 11, 31
TORQUE_ENABLE, GOAL_POSITION, LOCK, PRESENT_POSITION = 40, 42, 55, 56
PING, READ, WRITE, SYNC_READ, SYNC_WRITE, BROADCAST = 0x01, 0x02, 0x03, 0x82, 0x83, 0xFE


def _u16(mem: bytearray, addr: int) -> int:
    return mem[addr] | (mem[addr + 1] << 8)


def _set_u16(mem: bytearray, addr: int, value: int) -> None:
    mem[addr], mem[addr + 1] = value & 0xFF, (value >> 8) & 0xFF


def _packet(scs_id: int, first: int, params: list[int] | bytes) -> bytes:
    """``FF FF id len first params checksum`` (``first`` = instruction or error byte)."""
    body = [scs_id, len(params) + 2, first, *params]
    return bytes([0xFF, 0xFF, *body, ~sum(body) & 0xFF])


class FeetechBusEmulator(MockSerial):
    """Stateful Feetech STS3215 servos behind a pseudo-terminal (protocol 0).

    Args:
        ranges: servo id -> calibrated ``(range_min, range_max)``, written to the EEPROM limits as a
            calibrated arm has them (homing offset 0), so LeRobot finds the arm calibrated.
        speed: servo speed while torque is on, raw ticks per second (STS3215: ~3400 at 12 V).
        start: servo id -> initial raw position (default: middle of the range).
    """

    def __init__(self, ranges: dict[int, tuple[int, int]] | None = None, speed: float = 3000.0, start=None):
        super().__init__()
        self.ranges = dict(ranges or DEFAULT_RANGES)
        self.speed = speed
        self.mem: dict[int, bytearray] = {}
        self._pos: dict[int, float] = {}  # exact present position (raw ticks)
        for sid, (lo, hi) in self.ranges.items():
            m = bytearray(256)
            m[FW_MAJOR], m[FW_MINOR], m[ID_ADDR] = 3, 10, sid
            _set_u16(m, MODEL_NB, 777)  # sts3215
            _set_u16(m, MIN_LIMIT, lo)
            _set_u16(m, MAX_LIMIT, hi)
            self.mem[sid] = m
            self._pos[sid] = float((start or {}).get(sid, (lo + hi) // 2))
            _set_u16(m, GOAL_POSITION, int(self._pos[sid]))
        self._lock = threading.Lock()
        self._last = time.perf_counter()
        self.goal_writes: list[dict[int, int]] = []  # every Goal_Position SYNC_WRITE, raw ticks
        # Goal_Position SYNC_WRITEs and Present_Position SYNC_READ replies, in bus order: ("goal"|"read", {id: ticks}).
        self.history: list[tuple[str, dict[int, int]]] = []
        self.packets = 0
        self._stop = threading.Event()
        self._MockSerial__thread = threading.Thread(target=self._serve, daemon=True, name="feetech-emulator")

    # ------------------------------------------------------------------ servo state
    def _advance(self) -> None:
        """Move every torqued servo towards its goal at ``speed`` ticks/s."""
        now = time.perf_counter()
        step = self.speed * (now - self._last)
        self._last = now
        for sid, m in self.mem.items():
            if m[TORQUE_ENABLE]:
                goal = _u16(m, GOAL_POSITION) & 0x7FFF  # sign-magnitude, bit 15
                lo, hi = _u16(m, MIN_LIMIT), _u16(m, MAX_LIMIT)
                goal = min(max(goal, lo), hi)  # the servo itself refuses goals outside its limits
                d = goal - self._pos[sid]
                self._pos[sid] += max(-step, min(step, d))
            _set_u16(m, PRESENT_POSITION, int(round(self._pos[sid])))

    def torque_enabled(self) -> dict[int, bool]:
        with self._lock:
            return {sid: bool(m[TORQUE_ENABLE]) for sid, m in self.mem.items()}

    def positions(self) -> dict[int, int]:
        """Present raw positions."""
        with self._lock:
            self._advance()
            return {sid: _u16(m, PRESENT_POSITION) for sid, m in self.mem.items()}

    def goals(self) -> dict[int, int]:
        with self._lock:
            return {sid: _u16(m, GOAL_POSITION) & 0x7FFF for sid, m in self.mem.items()}

    # ------------------------------------------------------------------ protocol
    def _handle(self, sid: int, inst: int, params: bytes) -> bytes:
        self.packets += 1
        self._advance()
        if sid != BROADCAST and sid not in self.mem:
            return b""  # nobody answers
        if inst == PING:
            return b"" if sid == BROADCAST else _packet(sid, 0, [])
        if inst == READ:
            addr, n = params[0], params[1]
            return _packet(sid, 0, self.mem[sid][addr : addr + n])
        if inst == WRITE:
            addr, data = params[0], params[1:]
            self.mem[sid][addr : addr + len(data)] = data
            return _packet(sid, 0, [])
        if inst == SYNC_READ:
            addr, n, ids = params[0], params[1], params[2:]
            if addr == PRESENT_POSITION:
                self.history.append(("read", {i: _u16(self.mem[i], addr) & 0x7FFF for i in ids if i in self.mem}))
            return b"".join(_packet(i, 0, self.mem[i][addr : addr + n]) for i in ids if i in self.mem)
        if inst == SYNC_WRITE:
            addr, n, rest = params[0], params[1], params[2:]
            written = {}
            for k in range(0, len(rest), n + 1):
                i, data = rest[k], rest[k + 1 : k + 1 + n]
                if i in self.mem:
                    self.mem[i][addr : addr + n] = data
                    written[i] = int.from_bytes(data, "little")
            if addr == GOAL_POSITION:
                self.goal_writes.append({i: v & 0x7FFF for i, v in written.items()})
                self.history.append(("goal", self.goal_writes[-1]))
            return b""
        return b""

    def _serve(self) -> None:
        master = self._MockSerial__master
        buf = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                continue
            try:
                buf += os.read(master, 4096)
            except OSError:
                return
            if self.QUIT_SIGNAL in buf:
                return
            while True:
                start = buf.find(b"\xff\xff")
                if start < 0 or len(buf) < start + 4:
                    break
                buf = buf[start:]
                end = 4 + buf[3]  # FF FF id len [inst params.. checksum]
                if len(buf) < end:
                    break
                pkt, buf = buf[:end], buf[end:]
                if (~sum(pkt[2:-1]) & 0xFF) != pkt[-1]:
                    continue  # corrupt: a real servo stays silent
                with self._lock:
                    reply = self._handle(pkt[2], pkt[4], pkt[5:-1])
                if reply:
                    os.write(master, reply)

    def close(self) -> None:
        self._stop.set()
        super().close()


# Extra wait for a reply, on top of the SDK's (34 ms for one servo): the emulator is a Python
# thread, which on a loaded machine (2 cores shared with training and a test run) can be
# scheduled later than a real servo answers; a missed reply then arrives in the next read's
# buffer. A real bus keeps the SDK's timeouts (this is applied to the emulated arm only).
EMULATOR_REPLY_SLACK_MS = 500.0


def _allow_for_a_busy_emulator(port_handler, slack_ms: float = EMULATOR_REPLY_SLACK_MS) -> None:
    """Lengthen every packet timeout of ``port_handler`` (scservo's ``PortHandler``) by ``slack_ms``."""
    by_length, by_millis = port_handler.setPacketTimeout, port_handler.setPacketTimeoutMillis

    def set_packet_timeout(packet_length):
        by_length(packet_length)
        port_handler.packet_timeout += slack_ms

    port_handler.setPacketTimeout = set_packet_timeout
    port_handler.setPacketTimeoutMillis = lambda msec: by_millis(msec + slack_ms)


# ---------------------------------------------------------------------- camera
class VideoFileCamera(OpenCVCamera):
    """LeRobot's ``OpenCVCamera`` on a video file: settings checked (not set), frames paced and looped."""

    def _configure_capture_settings(self) -> None:
        cap = self.videocapture
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = cap.get(cv2.CAP_PROP_FPS)
        if (w, h) != (self.capture_width, self.capture_height) or not np.isclose(fps, self.fps, rtol=1e-3):
            raise RuntimeError(
                f"{self}: the file is {w}x{h} at {fps} fps, the config asks "
                f"{self.capture_width}x{self.capture_height} at {self.fps} fps"
            )
        self._next_frame_t = time.perf_counter()

    def _read_from_hardware(self):
        self._next_frame_t += 1.0 / self.fps
        delay = self._next_frame_t - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        else:
            self._next_frame_t = time.perf_counter()
        ok, frame = self.videocapture.read()
        if not ok:  # end of file: loop
            self.videocapture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self.videocapture.read()
        if not ok:
            raise RuntimeError(f"{self}: cannot read {self.index_or_path}")
        return frame


def write_test_video(path: str | Path, width: int = 96, height: int = 96, fps: int = 30, frames: int = 60) -> Path:
    """Write an mp4 of a coloured square moving on a grey table (mp4v through OpenCV)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for t in range(frames):
        img = np.full((height, width, 3), 90, np.uint8)
        x = int((width - 16) * (0.5 + 0.5 * np.sin(2 * np.pi * t / frames)))
        img[height // 2 - 8 : height // 2 + 8, x : x + 16] = (40, 40, 220)  # BGR red block
        writer.write(img)
    writer.release()
    return path


# ---------------------------------------------------------------------- robot
class SimulatedSO100:
    """A connected ``SO100Follower`` on :class:`FeetechBusEmulator` with :class:`VideoFileCamera` s.

    Args:
        workdir: where the calibration file and camera videos are written.
        robot_type: "so100_follower" or "so101_follower" (same LeRobot class).
        cameras: name -> (height, width) of a generated video, or name -> path of an mp4.
        fps: camera frame rate.
        max_relative_target: LeRobot's per-step clamp (degrees; None = off).
        speed: emulated servo speed, raw ticks/s.
        connect: connect the robot now (torque on); False: later, with ``robot.connect(calibrate=False)``
            (what a pre-flight check before torque needs).
    """

    def __init__(
        self,
        workdir: str | Path,
        robot_type: str = "so101_follower",
        cameras: dict[str, tuple[int, int] | str] | None = None,
        fps: int = 30,
        max_relative_target: float | None = 10.0,
        speed: float = 3000.0,
        robot_id: str = "sim_arm",
        connect: bool = True,
    ):
        self.workdir = Path(workdir)
        self.bus = FeetechBusEmulator(speed=speed)
        self.bus.open()
        cam_cfgs = {}
        for name, spec in (cameras if cameras is not None else {"front": (96, 96)}).items():
            if isinstance(spec, tuple):
                path = write_test_video(self.workdir / f"{name}.mp4", width=spec[1], height=spec[0], fps=fps)
                h, w = spec
            else:
                path = Path(spec)
                cap = cv2.VideoCapture(str(path))
                h, w = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
                cap.release()
            cam_cfgs[name] = OpenCVCameraConfig(index_or_path=path, fps=fps, width=w, height=h, warmup_s=1)
        cal_dir = self.workdir / "calibration"
        self.config = SO100FollowerConfig(
            port=self.bus.port,
            id=robot_id,
            calibration_dir=cal_dir,
            cameras=cam_cfgs,
            max_relative_target=None if max_relative_target is None else float(max_relative_target),
        )
        self.robot_type = robot_type
        self.robot = SO100Follower(self.config)
        _allow_for_a_busy_emulator(self.robot.bus.port_handler)
        if not self.robot.calibration:  # a calibrated arm: file and servo EEPROM agree
            self.robot.calibration = {
                m: MotorCalibration(id=i + 1, drive_mode=0, homing_offset=0, range_min=lo, range_max=hi)
                for i, (m, (lo, hi)) in enumerate(zip(MOTORS, (DEFAULT_RANGES[k] for k in range(1, 7)), strict=True))
            }
            self.robot._save_calibration()
            self.robot.bus.calibration = self.robot.calibration
        for name, cfg in cam_cfgs.items():
            self.robot.cameras[name] = VideoFileCamera(cfg)
        if connect:
            self.robot.connect(calibrate=False)

    def close(self) -> None:
        if self.robot.is_connected:
            self.robot.disconnect()
        self.bus.close()

    def __enter__(self) -> SimulatedSO100:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
