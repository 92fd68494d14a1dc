"""The SO100/SO101 control loop on LeRobot's real robot class, an emulated Feetech bus and a video camera.

No hardware: ``vla0_smol.so100_sim`` runs ``SO100Follower`` -> ``FeetechMotorsBus`` -> ``scservo_sdk`` ->
``pyserial`` on a pseudo-terminal answered by an emulated servo bus, and LeRobot's ``OpenCVCamera`` on mp4s.
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest
import torch
from lerobot.configs import FeatureType, PolicyFeature

from vla0_smol import VLA0SmolConfig, VLA0SmolPolicy
from vla0_smol.deploy import DeployConfig, PolicyRunner, joint_limits, run_policy
from vla0_smol.so100_sim import DEFAULT_RANGES, SimulatedSO100

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


def assert_safe_state(sim, torque_off: bool = True):
    """Goal == present on every servo (the arm was told to stay), torque off after disconnect."""
    pos, goal = sim.bus.positions(), sim.bus.goals()
    # 10 ticks (0.9 deg): the servo moves for the ~1 ms between the hold's read and write.
    assert all(abs(pos[i] - goal[i]) <= 10 for i in pos), (pos, goal)
    if torque_off:
        assert not any(sim.bus.torque_enabled().values())
        assert not sim.robot.is_connected


def test_50_steps_at_target_fps_within_clamps(policy, sim, tmp_path):
    fps = 10.0  # SO100 datasets run at 30 fps; the tiny preset on 2 shared CPU cores takes ~0.3 s per chunk
    names, limits = joint_limits(sim.robot)
    res = run_policy(policy, sim.robot, fps=fps, max_steps=50, record_root=str(tmp_path / "rec"))
    print(res.summary())
    assert res.steps == 50 and res.stopped_by == "max_steps"
    assert res.achieved_fps == pytest.approx(fps, rel=0.1)
    assert res.chunks >= 50 // policy.config.n_action_steps - 1  # async: one chunk per n_action_steps
    # Every executed command respects the calibrated joint limits and LeRobot's relative clamp.
    assert np.all(res.executed >= limits[0] - 1e-6) and np.all(res.executed <= limits[1] + 1e-6)
    assert np.all(np.abs(res.executed - res.state) <= MAX_REL + 1.0)  # +1: servo motion between reads
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
    calls = []

    def slow(batch, **kw):
        calls.append(1)
        if len(calls) > 1:  # the warm-up chunk is fast, every later one misses its deadline
            time.sleep(1.0)
        return fast(batch, **kw)

    policy.predict_action_chunk = slow
    try:
        res = PolicyRunner(policy, sim.robot, DeployConfig(fps=30, max_steps=30, execution="chunk")).run()
    finally:
        del policy.predict_action_chunk
    assert res.watchdog_holds > 0 and res.steps == 30
    held = np.isnan(res.predicted).any(1)
    assert held[-1] and not held[0]
    first = int(np.argmax(held))
    # Holding = re-commanding the last command, never a new target.
    np.testing.assert_allclose(res.commanded[first:], np.repeat(res.commanded[first - 1 : first], 30 - first, 0))
    assert_safe_state(sim)


def test_stop_from_another_thread_leaves_bus_safe(policy, sim):
    runner = PolicyRunner(policy, sim.robot, DeployConfig(fps=30, max_steps=10_000))
    threading.Timer(1.0, runner.stop).start()
    res = runner.run()
    assert res.stopped_by == "stop" and 0 < res.steps < 10_000
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
