"""The live chapter's library: pre-flight checks before torque, and the live panel driving the control loop.

Everything runs on the emulated arm (``vla0_smol.so100.sim``: LeRobot's ``SO100Follower`` on an emulated
Feetech bus). The panel's buttons are ipywidgets ``Button`` s clicked from the test (no frontend needed).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from test_so100_deploy import MAX_REL, assert_safe_state, so100_policy

from vla0_smol.so100.arm import make_so100
from vla0_smol.so100.deploy import DeployConfig, PolicyRunner
from vla0_smol.so100.panel import LivePanel
from vla0_smol.so100.preflight import PreflightError, check_latency, preflight
from vla0_smol.so100.replay import load_episode, summary_markdown, summary_rows
from vla0_smol.so100.sim import SimulatedSO100

CAMS = {"front": (96, 96), "wrist": (96, 96)}


@pytest.fixture(scope="module")
def policy():
    return so100_policy(("front", "wrist"))


@pytest.fixture
def sim(tmp_path):
    s = SimulatedSO100(tmp_path, cameras=CAMS, fps=30, max_relative_target=MAX_REL)
    yield s
    s.close()


@pytest.fixture(autouse=True)
def no_thread_left_running():
    yield
    for thread in threading.enumerate():
        if thread.name in ("vla0-inference", "vla0-runner", "vla0-panel"):
            thread.join(120)


def untouched(conn) -> bool:
    """Nothing was written to the servos: torque off everywhere, no goal ever sent, bus closed."""
    return not any(conn.sim.bus.torque_enabled().values()) and not conn.sim.bus.goal_writes


# ---------------------------------------------------------------------- pre-flight
def test_preflight_passes_before_torque_and_measures_a_decode(policy, tmp_path):
    conn = make_so100("sim", cameras=CAMS, workdir=tmp_path)
    try:
        report = preflight(policy, conn.robot, fps=1.0)  # a real decode; 1 fps: any machine keeps up
        print(report)
        assert report.ok and report.passed == ["cameras", "motors", "calibration", "frames", "latency"]
        assert report.frames["front"].shape == (96, 96, 3) and report.latency_s > 0
        assert report.budgets_s == {"1/fps": 1.0, "fresh": 4.0, "hold": 9.0}  # chunk 10, 5 executed
        assert untouched(conn) and not conn.robot.is_connected
        report.raise_if_failed()
        conn.connect()  # only now: LeRobot configures the servos and enables torque
        assert all(conn.sim.bus.torque_enabled().values())
    finally:
        conn.stop()


def test_preflight_refuses_a_camera_name_mismatch(policy, tmp_path):
    conn = make_so100("sim", cameras={"top": (96, 96), "wrist": (96, 96)}, workdir=tmp_path)
    try:
        report = preflight(policy, conn.robot, fps=10, latency_s=0.01)
        with pytest.raises(PreflightError) as err:
            report.raise_if_failed()
        assert [p.check for p in err.value.problems] == ["cameras"]
        msg = str(err.value)
        assert "['front'] missing" in msg and "cameras={'front': (<index or path>, (96, 96))" in msg
        assert any(not p.fatal and "'top'" in p.message for p in report.problems)  # extra camera: a note
        assert "frames" in report.passed  # the camera that matches was still read
        assert untouched(conn)
    finally:
        conn.stop()


def test_preflight_refuses_a_missing_calibration(policy, tmp_path):
    conn = make_so100("sim", cameras=CAMS, workdir=tmp_path)
    try:
        conn.robot.calibration_fpath.unlink()
        with pytest.raises(PreflightError, match="no calibration file for robot_id 'sim_arm'") as err:
            preflight(policy, conn.robot, fps=10, latency_s=0.01).raise_if_failed()
        assert f"lerobot-calibrate --robot.type=so101_follower --robot.port={conn.robot.config.port} " in str(err.value)
        assert "--robot.id=sim_arm" in str(err.value)
        assert untouched(conn)
    finally:
        conn.stop()


def test_preflight_frame_sizes_and_decode_budget(policy, tmp_path):
    conn = make_so100("sim", cameras={"front": (48, 48), "wrist": (96, 128)}, workdir=tmp_path)
    try:
        report = preflight(policy, conn.robot, fps=10, latency_s=0.01)
    finally:
        conn.stop()
    frames = {p.message.split("'")[1]: p for p in report.problems if p.check == "frames"}
    assert not frames["front"].fatal and "resized" in frames["front"].message  # same aspect ratio
    assert frames["wrist"].fatal and "another aspect ratio" in frames["wrist"].message
    assert "width=96, height=96" in frames["wrist"].fix
    # Budgets at 10 fps, chunk 10 executed 5 at a time: fresh actions up to 0.4 s, holds beyond 0.9 s.
    assert check_latency(policy, 0.3, 10) == []
    (stale,) = check_latency(policy, 0.5, 10)
    assert not stale.fatal and "fps <= 8.0" in stale.fix
    (hold,) = check_latency(policy, 2.0, 10)
    assert hold.fatal and "watchdog would hold" in hold.message and "fps <= 4.5" in hold.fix


# ---------------------------------------------------------------------- live panel
@pytest.mark.parametrize("on_stop", ["disconnect", "hold"])
def test_stop_button_from_another_thread_leaves_the_bus_safe(policy, sim, on_stop, capsys):
    runner = PolicyRunner(policy, sim.robot, DeployConfig(fps=30, max_steps=300, on_stop=on_stop))  # 10 s
    running = threading.Event()
    runner.subscribe(lambda rec: rec.step >= 5 and running.set())
    panel = LivePanel(runner, interactive=False, every=5)
    panel.widgets["start"].click()
    assert panel.running and panel.widgets["start"].disabled and not panel.widgets["stop"].disabled
    stopper = threading.Thread(target=lambda: running.wait(60) and panel.widgets["stop"].click(), name="stopper")
    stopper.start()
    res = panel.wait(timeout=180)
    stopper.join(5)
    assert res.stopped_by == "stop" and 5 <= res.steps < 300
    assert_safe_state(sim, torque_off=on_stop == "disconnect")  # goal = present position
    if on_stop == "hold":
        assert sim.robot.is_connected and all(sim.bus.torque_enabled().values())
    assert panel.status.startswith("finished (stop)") and panel.widgets["stop"].disabled
    out = capsys.readouterr().out
    assert panel.lines and panel.lines[0].startswith("step    1/300") and panel.lines[0] in out
    panel.start()  # a second Start: ignored, one episode per panel
    assert "one episode per panel" in panel.status and panel.finished() is res


def test_panel_shows_a_late_chunk_holds_and_clamps(policy, sim):
    h = policy.config.chunk_size
    real = policy.predict_action_chunk
    first, overdue = [], threading.Event()

    def scripted(batch, **kw):  # the first chunk is decoded; the later ones repeat it at once
        if not first:
            first.append(real(batch, **kw).clone())
            first[0][..., 0] = 500.0  # far past shoulder_pan's calibrated range: every action is clamped
        elif len(first) == 1:  # the second chunk: held back until the first one has run out
            first.append(None)
            overdue.wait(60)
        return first[0].clone()

    runner = PolicyRunner(policy, sim.robot, DeployConfig(fps=30, max_steps=2 * h + 10, execution="chunk"))
    records = []
    runner.subscribe(records.append)
    runner.subscribe(lambda rec: rec.step >= 2 * h and overdue.set())
    runner.subscribe(lambda rec: 1 / 0)  # a broken display: logged and unsubscribed, the loop goes on
    panel = LivePanel(runner, interactive=False, every=1, max_queue=1000)
    policy.predict_action_chunk = scripted
    try:
        panel.start()
        res = panel.wait(timeout=180)
    finally:
        del policy.predict_action_chunk
        overdue.set()
    assert res.steps == 2 * h + 10 and res.late_chunks >= 1 and res.watchdog_holds > 0
    assert res.joint_limit_clamps == res.steps - res.watchdog_holds  # every action that was not a hold
    # The records are the run, step by step.
    assert [r.step for r in records] == list(range(res.steps))
    np.testing.assert_allclose(np.stack([r.executed for r in records]), res.executed)
    assert [r.held for r in records] == list(np.isnan(res.predicted).any(1))
    assert any(r.late_chunk for r in records) and all(r.joint_clamped for r in records if not r.held)
    # The panel saw every record and its last line carries the run's counters.
    assert panel.seen == res.steps and panel.dropped == 0 and len(panel.lines) == res.steps
    last = panel.lines[-1]
    assert f"holds {res.watchdog_holds}" in last and f"late {res.late_chunks}" in last
    assert f"clamps {res.clamp_activations} (joint {res.joint_limit_clamps}" in last
    assert_safe_state(sim)


def test_a_stuck_panel_never_blocks_the_loop(policy, sim):
    runner = PolicyRunner(policy, sim.robot, DeployConfig(fps=30, max_steps=40))
    panel = LivePanel(runner, interactive=False, max_queue=2)
    release, take = threading.Event(), panel._take
    panel._take = lambda rec: (release.wait(120), take(rec))  # the renderer hangs on the first record
    panel.start()
    poller = threading.Thread(target=panel.poll, name="stuck-poller")
    poller.start()
    panel._thread.join(120)
    assert not panel._thread.is_alive()  # the episode ended while the panel was stuck
    release.set()
    poller.join(10)
    res = panel.wait(timeout=10)
    assert res.steps == 40 and res.stopped_by == "max_steps"
    assert panel.dropped > 0 and panel.seen + panel.dropped == 40 and panel.last.step == 39  # newest kept


def test_interactive_panel_renders_widgets_and_the_replay(policy, sim, tmp_path):
    rec = tmp_path / "rec"
    runner = PolicyRunner(policy, sim.robot, DeployConfig(fps=30, max_steps=15, record_root=str(rec)))
    panel = LivePanel(runner, interactive=True, refresh_s=0.05, plot_every_s=0.0)
    panel.widgets["start"].click()
    res = panel.wait(timeout=180)
    w = panel.widgets
    assert res.steps == 15 and panel.seen + panel.dropped == 15
    assert w["cameras"]["front"].value[:2] == b"\xff\xd8"  # a JPEG frame
    assert w["plot"].value[:4] == b"\x89PNG"
    assert "watchdog holds" in w["counters"].value and "shoulder_pan" in w["joints"].value
    assert "finished (max_steps) after 15 steps" in w["status"].value
    ep = load_episode(rec)
    np.testing.assert_allclose(ep["executed"], res.executed, atol=1e-4)
    assert ep["frames"]["wrist"].shape == (15, 96, 96, 3) and ep["motors"][0] == "shoulder_pan"
    table = summary_markdown(summary_rows(res, panel=panel))
    assert "| steps | 15 |" in table and "| stopped by | max_steps |" in table


def test_a_slow_decode_only_warns_on_the_emulated_arm(policy, tmp_path):
    """The smoke chapter must not fail because this machine is busy: on the emulated arm a decode
    slower than the watchdog is a warning; on a real arm (the default) it refuses torque."""
    conn = make_so100("sim", cameras=CAMS, workdir=tmp_path)
    try:
        real = preflight(policy, conn.robot, fps=10, latency_s=2.0)
        emulated = preflight(policy, conn.robot, fps=10, latency_s=2.0, latency_fatal=False)
    finally:
        conn.stop()
    assert not real.ok and [p.check for p in real.problems if p.fatal] == ["latency"]
    assert emulated.ok and [p.check for p in emulated.problems] == ["latency"]
    emulated.raise_if_failed()
