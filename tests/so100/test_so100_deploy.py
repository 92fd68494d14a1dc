"""The SO100/SO101 control loop on LeRobot's real robot class, an emulated Feetech bus and a video camera.

No hardware: ``vla0_smol.so100.sim`` runs ``SO100Follower`` -> ``FeetechMotorsBus`` -> ``scservo_sdk`` ->
``pyserial`` on a pseudo-terminal answered by an emulated servo bus, and LeRobot's ``OpenCVCamera`` on mp4s.
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
import torch
from lerobot.configs import FeatureType, PolicyFeature

from vla0_smol import VLA0SmolConfig, VLA0SmolPolicy
from vla0_smol.so100.deploy import DeployConfig, PolicyRunner, joint_limits, run_policy
from vla0_smol.so100.sim import DEFAULT_RANGES, SimulatedSO100

TASK = "Pick up the red cube."
LO = np.array([-150.0, -150.0, -150.0, -150.0, -150.0, 0.0])  # wider than the calibrated ranges
HI = np.array([150.0, 150.0, 150.0, 150.0, 150.0, 100.0])
MAX_REL = 10.0  # degrees per step (LeRobot's max_relative_target)


def so100_policy(cameras=("front",), seed: int = 0) -> VLA0SmolPolicy:
    torch.manual_seed(seed)
    feats = {f"observation.images.{c}": PolicyFeature(FeatureType.VISUAL, (3, 96, 96)) for c in cameras}
    feats["observation.state"] = PolicyFeature(FeatureType.STATE, (6,))
    cfg = VLA0SmolConfig(
        vlm_model_name="tiny",
        device="cpu",
        relative_actions=False,
        default_task=TASK,
        input_features=feats,
        output_features={"action": PolicyFeature(FeatureType.ACTION, (6,))},
    )
    stats = {"observation.state": {"min": LO, "max": HI}, "action": {"min": LO, "max": HI}}
    return VLA0SmolPolicy(cfg, dataset_stats=stats).eval()


@pytest.fixture(scope="module")
def policy():
    return so100_policy(("front", "wrist"))


@pytest.fixture
def sim(tmp_path):
    s = SimulatedSO100(tmp_path, cameras={"front": (96, 96), "wrist": (96, 96)}, fps=30, max_relative_target=MAX_REL)
    yield s
    s.close()


@pytest.fixture(autouse=True)
def no_inference_left_running():
    """Each test waits for the decode its run left in flight (the runner's daemon thread).

    A stray decode would compete for the CPU with the next test's control loop, and one still
    running when the interpreter exits aborts it.
    """
    yield
    for thread in threading.enumerate():
        if thread.name == "vla0-inference":
            thread.join(120)


def assert_safe_state(sim, torque_off: bool = True):
    """The last command told the arm to stay where it was; torque off and disconnected after a disconnect.

    Timing-free: the last Goal_Position write must equal the Present_Position read just before it on
    the bus (1 tick: LeRobot's ticks -> degrees -> ticks round trip), however long the step between the
    two took, and nothing may be commanded after it.
    """
    history = sim.bus.history
    last_goal = max(i for i, (kind, _) in enumerate(history) if kind == "goal")
    assert last_goal > 0 and history[last_goal - 1][0] == "read", history[-3:]
    read, goal = history[last_goal - 1][1], history[last_goal][1]
    assert goal.keys() == read.keys() and all(abs(goal[i] - read[i]) <= 1 for i in goal), (read, goal)
    assert sim.bus.goals() == goal  # the servos' goal registers hold it
    if torque_off:
        assert not any(sim.bus.torque_enabled().values())
        assert not sim.robot.is_connected


def assert_relative_clamp_on_the_bus(sim):
    """Every Goal_Position packet is within MAX_REL of the Present_Position read just before it, in
    ticks: degrees for the five joints (4095 ticks per turn), 0..100 of the calibrated range for the
    gripper (1 tick of rounding)."""
    history = sim.bus.history
    pairs = [(history[i - 1][1], goal) for i, (kind, goal) in enumerate(history) if kind == "goal" and i > 0]
    assert pairs and all(history[i - 1][0] == "read" for i, (k, _) in enumerate(history) if k == "goal" and i > 0)
    lo, hi = DEFAULT_RANGES[6]
    limit = {i: MAX_REL * 4095 / 360 + 1 for i in range(1, 6)} | {6: MAX_REL / 100 * (hi - lo) + 1}
    for read, goal in pairs:
        for sid, v in goal.items():
            assert abs(v - read[sid]) <= limit[sid], (sid, v, read[sid])


def test_50_steps_at_target_fps_within_clamps(policy, sim, tmp_path):
    fps = 10.0  # SO100 datasets run at 30 fps; the tiny preset on 2 shared CPU cores takes ~0.3 s per chunk
    names, limits = joint_limits(sim.robot)
    res = run_policy(policy, sim.robot, fps=fps, max_steps=50, record_root=str(tmp_path / "rec"))
    print(res.summary())
    assert res.steps == 50 and res.stopped_by == "max_steps"
    # Paced: never faster than the target. How much slower depends on the machine: never asserted.
    assert res.achieved_fps <= fps * 1.01
    # Accounting, whatever the inference speed: every step is exactly one of a fresh action (index <
    # n_action_steps of the newest chunk), a stale one (a later index: the next chunk was late) or a
    # watchdog hold, and the holds are exactly the NaN rows of `predicted`.
    h, n = policy.config.chunk_size, policy.config.n_action_steps
    held = np.isnan(res.predicted).any(1)
    assert res.fresh_steps + res.stale_steps + res.watchdog_holds == res.steps
    assert held.sum() == res.watchdog_holds and np.isnan(res.predicted[held]).all()
    assert not held[0] and res.fresh_steps >= 1  # the warm-up chunk drives step 0
    assert 1 <= res.chunks == len(res.inference_latency_s)
    assert res.fresh_steps <= n * res.chunks and res.stale_steps <= (h - n) * res.chunks  # no action from nowhere
    assert res.steps - res.watchdog_holds >= res.chunks - res.late_chunks  # every timely chunk is used
    # Every executed command respects the calibrated joint limits and LeRobot's relative clamp.
    assert np.all(res.executed >= limits[0] - 1e-6) and np.all(res.executed <= limits[1] + 1e-6)
    # LeRobot's relative clamp is taken against the Present_Position it reads just before each
    # Goal_Position write (the servos move between that read and the step's observation, the more
    # the slower the step: not asserted against `res.state`, which would depend on the load).
    assert_relative_clamp_on_the_bus(sim)
    # ... and so does every Goal_Position packet the emulated servos received (raw ticks).
    writes = sim.bus.goal_writes
    assert len(writes) >= 50
    for w in writes:
        for sid, v in w.items():
            lo, hi = DEFAULT_RANGES[sid]
            assert lo - 1 <= v <= hi + 1, (sid, v)
    assert res.joint_limit_clamps > 0 and res.relative_clamps > 0  # the random policy overshoots both
    assert res.clamp_activations >= max(res.joint_limit_clamps, res.relative_clamps)
    assert res.predicted.shape == res.executed.shape == (50, 6)
    assert_safe_state(sim)
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ds = LeRobotDataset("local/so100_eval", root=tmp_path / "rec")
    assert len(ds) == 50 and ds.num_episodes == 1
    np.testing.assert_allclose(ds[10]["action"].numpy(), res.executed[10], atol=1e-4)
    assert ds[0]["observation.images.front"].shape == (3, 96, 96)


def test_slow_inference_triggers_watchdog_hold(policy, sim):
    fast = policy.predict_action_chunk
    warm, run_over = [], threading.Event()

    def slow(batch, **kw):
        if not warm:  # the warm-up chunk is computed; every later one arrives only after the run ended
            warm.append(fast(batch, **kw))
            return warm[0]
        run_over.wait(30)  # (not a fixed sleep: a loaded machine could run 30 steps slower than any delay)
        return warm[0].clone()

    real_disconnect = sim.robot.disconnect

    def disconnect():  # the safe stop disconnects before it waits for the inference thread
        run_over.set()
        real_disconnect()

    policy.predict_action_chunk = slow
    sim.robot.disconnect = disconnect
    try:
        res = PolicyRunner(policy, sim.robot, DeployConfig(fps=30, max_steps=30, execution="chunk")).run()
    finally:
        del policy.predict_action_chunk
        run_over.set()
    assert res.watchdog_holds > 0 and res.steps == 30 and res.chunks == 1
    held = np.isnan(res.predicted).any(1)
    assert held[-1] and not held[0]
    first = int(np.argmax(held))
    # Holding = re-commanding the last command, never a new target.
    np.testing.assert_allclose(res.commanded[first:], np.repeat(res.commanded[first - 1 : first], 30 - first, 0))
    assert_safe_state(sim)


def test_stop_from_another_thread_leaves_bus_safe(policy, sim):
    # The other thread stops the loop once it is known to run (5 actions sent), not after a fixed
    # delay: a warm-up slower than any delay on a loaded machine would stop it before its first step.
    robot, sent, running = sim.robot, [0], threading.Event()
    real_send = robot.send_action

    def counting_send(action):
        sent[0] += 1
        if sent[0] == 5:
            running.set()
        return real_send(action)

    robot.send_action = counting_send
    runner = PolicyRunner(policy, robot, DeployConfig(fps=30, max_steps=300))  # 10 s: ends the test if stop() fails
    stopper = threading.Thread(target=lambda: running.wait(60) and runner.stop(), name="stopper")
    stopper.start()
    res = runner.run()
    stopper.join(5)
    assert res.stopped_by == "stop" and 5 <= res.steps < 300
    assert_safe_state(sim)


def test_keyboard_interrupt_leaves_bus_safe(policy, sim):
    robot, n = sim.robot, [0]
    real = robot.get_observation

    def interrupted():
        n[0] += 1
        if n[0] == 12:
            raise KeyboardInterrupt  # what the notebook's "interrupt kernel" delivers to the main thread
        return real()

    robot.get_observation = interrupted
    res = run_policy(policy, robot, fps=30, max_steps=100)
    assert res.stopped_by == "interrupt" and res.steps == 11
    assert_safe_state(sim)


def test_an_error_in_inference_ends_in_the_safe_state(policy, sim):
    """A decode that raises (here the second: the loop is running) stops the loop with the error,
    after the hold-and-disconnect exit."""
    real, calls = policy.predict_action_chunk, [0]

    def failing(batch, **kw):
        calls[0] += 1
        if calls[0] == 2:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return real(batch, **kw)

    policy.predict_action_chunk = failing
    try:
        with pytest.raises(RuntimeError, match="inference failed") as err:
            run_policy(policy, sim.robot, fps=30, max_steps=300)
    finally:
        del policy.predict_action_chunk
    assert "illegal memory access" in str(err.value.__cause__)
    assert calls[0] == 2 and len(sim.bus.goal_writes) >= 1  # it was running when inference failed
    assert_safe_state(sim)


def test_an_error_writing_to_the_arm_ends_in_the_safe_state(policy, sim):
    """A failed Goal_Position write (a bus error under motor current) stops the loop with the
    error, after the hold-and-disconnect exit (which writes to the bus directly)."""
    robot, sent = sim.robot, [0]
    real_send = robot.send_action

    def failing_send(action):
        sent[0] += 1
        if sent[0] == 6:
            raise ConnectionError("Failed to sync write 'Goal_Position': [TxRxResult] There is no status packet!")
        return real_send(action)

    robot.send_action = failing_send
    with pytest.raises(ConnectionError, match="no status packet"):
        run_policy(policy, robot, fps=30, max_steps=300)
    assert sent[0] == 6
    assert_safe_state(sim)


def test_hold_on_stop_keeps_torque_and_dry_run_sends_nothing(policy, sim):
    before = len(sim.bus.goal_writes)
    res = run_policy(policy, sim.robot, fps=30, max_steps=15, dry_run=True, on_stop="hold")
    assert res.steps == 15 and len(sim.bus.goal_writes) == before  # nothing sent, not even the hold
    assert np.all(np.abs(res.executed - res.state) <= MAX_REL + 1e-6)  # LeRobot's clamp applied in the log
    assert sim.robot.is_connected and all(sim.bus.torque_enabled().values())


def test_lerobot_rollout_parses_our_policy(tmp_path, monkeypatch):
    from lerobot.configs import parser
    from lerobot.robots.so_follower import SO101FollowerConfig
    from lerobot.rollout import RolloutConfig
    from lerobot.utils.import_utils import register_third_party_plugins

    register_third_party_plugins()
    ckpt = tmp_path / "ckpt"
    so100_policy(("front",)).save_pretrained(ckpt)
    argv = [
        "lerobot-rollout",
        "--strategy.type=base",
        f"--policy.path={ckpt}",
        "--robot.type=so101_follower",
        "--robot.port=/dev/ttyACM0",
        "--robot.id=my_arm",
        "--robot.max_relative_target=10.0",
        "--robot.cameras={front: {type: opencv, index_or_path: 0, width: 640, height: 480, fps: 30}}",
        f"--task={TASK}",
        "--fps=30",
        "--duration=20",
    ]
    monkeypatch.setattr(sys, "argv", argv)
    parsed = {}

    def capture(cfg: RolloutConfig):  # stands in for lerobot_rollout.rollout: parse, do not run
        parsed["cfg"] = cfg

    capture.__annotations__["cfg"] = RolloutConfig  # a class, not the string `from __future__` leaves
    parser.wrap()(capture)()
    cfg = parsed["cfg"]
    assert cfg.policy.type == "vla0_smol" and isinstance(cfg.policy, VLA0SmolConfig)
    # so100_follower and so101_follower are one LeRobot config class (its .type reports the first name).
    assert isinstance(cfg.robot, SO101FollowerConfig) and cfg.robot.max_relative_target == 10.0
    assert cfg.robot.cameras["front"].width == 640 and cfg.task == TASK
    assert str(cfg.policy.pretrained_path) == str(ckpt)
