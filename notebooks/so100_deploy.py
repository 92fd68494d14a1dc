# ---
# jupyter:
#   jupytext:
#     formats: notebooks///py:percent,recipes///ipynb
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # On the arm: fine-tune for an SO100 and run it live
#
# The blog ends where a robot begins: a policy small enough to run next to an SO100 arm. This
# chapter fine-tunes VLA-0-Smol on SO100 data, then runs it on an arm through LeRobot's own robot
# classes, with the safety the library adds (`vla0_smol.so100.deploy`): asynchronous inference (the next
# chunk is computed while the current one executes), a watchdog that holds position when a chunk
# is late, joint limits from the arm's calibration, LeRobot's per-step clamp
# (`max_relative_target`), a stop that leaves the arm holding where it is, and the episode recorded
# as a LeRobotDataset.
#
# **The arm is simulated by default**: LeRobot's real `SO100Follower` class talks the Feetech
# protocol to an emulated servo bus on a pseudo-terminal, and LeRobot's OpenCV camera reads video
# files (`vla0_smol.so100.sim`). Set `robot = "so101_follower"` (or `"so100_follower"`) with your
# `port`, `robot_id` and `cameras` to run the same cells on a real, calibrated arm.
#
# | profile | fine-tuning data | model | deployment |
# |---|---|---|---|
# | `smoke`, `cpu` | recorded on the simulated arm, scripted motion (test data) | tiny preset | simulated, 10 Hz |
# | `full` | `lerobot/svla_so100_pickplace` (SmolVLA's, 30 fps) | SmolVLM2-500M, GPU | simulated at 30 Hz, or real |
#
# Settings adapted from the blog to the arm: 6-D **absolute** joint targets (five joints in
# degrees, the gripper in 0..100: what LeRobot records and the position controller takes), state
# tokens, whole-action masking, chunks of 10 actions executed 5 at a time at the data's 30 fps,
# a random crop of 90 % of each camera frame. The tiny preset's behaviour on the simulated arm
# says nothing about a real task: it shows the pipeline and the safety machinery at work.

# %% tags=["parameters"]
profile = "smoke"
seed = 0
out_dir = "results/smoke"
robot = "sim"  # "sim" | "so100_follower" | "so101_follower"
port = "/dev/ttyACM0"  # real arm only (lerobot-find-port)
robot_id = "my_follower"  # real arm only: the id given to lerobot-calibrate
cameras = {"front": (0, (480, 640)), "wrist": (2, (480, 640))}  # real arm only: name -> (OpenCV index, (h, w))

# %%
import json
import shutil
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from vla0_smol.results import save_json
from vla0_smol.so100.arm import (
    calibration_table,
    camera_shapes,
    connect_so100,
    deploy_summary,
    load_policy,
    review_recording,
)
from vla0_smol.so100.dataset import dataset_info
from vla0_smol.so100.deploy import DeployConfig, PolicyRunner
from vla0_smol.so100.pipeline import so100_dataset, train_so100
from vla0_smol.so100.profiles import so100_profile

t_start = time.perf_counter()
out = Path(out_dir)
prof = so100_profile(profile)
print(json.dumps(prof.to_dict(), indent=1, default=str))

# %% [markdown]
# ## 1. Fine-tuning data and training
#
# `lerobot-train --policy.type=vla0_smol` on the profile's dataset (resumable; the README's
# "SO100 / SO101 on a real arm" section has the command line for your own dataset).

# %%
repo_id, root = so100_dataset(prof, Path("data"), seed=seed)
info = dataset_info(repo_id, root)
print(repo_id, info)
checkpoint = train_so100(prof, out, (repo_id, root), seed=seed)
policy = load_policy(checkpoint, prof.device, decoder="fast")
task = prof.task or info["task"]
print(checkpoint, f"cameras {camera_shapes(policy)}", f"task {task!r}")
t_trained = time.perf_counter()

# %% [markdown]
# ## 2. Connect
#
# The simulated arm gets one camera per camera of the policy, at the size it was trained on.

# %%
sim_cameras = camera_shapes(policy)
conn = connect_so100(
    robot,
    cameras=sim_cameras if robot == "sim" else cameras,
    fps=prof.fps,
    max_relative_target=prof.max_relative_target,
    workdir=out / "so100_sim" if robot == "sim" else None,
    port=port,
    robot_id=robot_id,
)
print(conn.kind, type(conn.robot).__name__, "connected:", conn.robot.is_connected)

# %% [markdown]
# ## 3. Check the calibration
#
# The control loop clips every action to these limits (the calibrated range of each servo,
# converted by LeRobot's bus to action units) before LeRobot's per-step clamp.

# %%
calibration = calibration_table(conn.robot)
rows = [f"| {r['motor']} | {r['id']} | {r['range_raw']} | {r['limits']} | {r['unit']} |" for r in calibration]
display(Markdown("\n".join(["| motor | id | raw range | limits | unit |", "|---|---|---|---|---|", *rows])))

# %% [markdown]
# ## 4. A camera frame

# %%
obs = conn.robot.get_observation()
names = list(sim_cameras if robot == "sim" else cameras)
fig, axes = plt.subplots(1, len(names), figsize=(3 * len(names), 3), squeeze=False)
for ax, name in zip(axes[0], names, strict=True):
    ax.imshow(obs[name])
    ax.set_title(name)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 5. Run the policy
#
# Fast decoder, asynchronous inference, joint-limit and relative clamps, watchdog. `runner.stop()`
# (for instance from a button) or interrupting the kernel ends the run early through the same
# safe exit. `on_stop="hold"` leaves the arm holding its last position with torque on until the
# explicit stop below.

# %%
recording = out / "so100_recording"
if recording.exists():
    shutil.rmtree(recording)  # this recipe's own artifact, rewritten on every run
runner = PolicyRunner(
    policy,
    conn.robot,
    DeployConfig(
        fps=prof.deploy_fps,
        max_steps=prof.deploy_steps,
        task=task,
        decoder="fast",
        on_stop="hold",
        record_root=str(recording),
    ),
)
result = runner.run()
print(json.dumps(result.summary(), indent=1))

# %% [markdown]
# ## 6. Predicted and executed trajectories
#
# Predicted: the policy's action (gaps: watchdog holds). Executed: what was sent after both
# clamps. Observed: the joint positions read back from the servos.

# %%
t = np.arange(result.steps) / prof.deploy_fps
fig, axes = plt.subplots(2, 3, figsize=(12, 6), sharex=True)
for i, (ax, motor) in enumerate(zip(axes.flat, result.motor_names, strict=True)):
    ax.plot(t, result.predicted[:, i], ".", label="predicted", alpha=0.7)
    ax.plot(t, result.executed[:, i], "-", label="executed")
    ax.plot(t, result.state[:, i], "--", label="observed")
    ax.axhline(result.joint_limits[0, i], color="grey", lw=0.5)
    ax.axhline(result.joint_limits[1, i], color="grey", lw=0.5)
    ax.set_title(motor)
axes[0, 0].legend(fontsize=8)
for ax in axes[1]:
    ax.set_xlabel("time (s)")
fig.suptitle(f"SO100 deployment ({profile} profile, {conn.kind} arm)")
fig.tight_layout()
plot = out / "plots" / "so100_trajectories.png"
plot.parent.mkdir(parents=True, exist_ok=True)
fig.savefig(plot, dpi=110)
plt.show()

# %% [markdown]
# ## 7. Stop
#
# Disconnecting disables torque on every servo (LeRobot's default): on a real arm, park it near
# its rest pose first, it goes limp.

# %%
stopped = conn.stop()
print(stopped)

# %% [markdown]
# ## 8. Reload and review the recorded episode
#
# The control loop wrote the episode with LeRobot's dataset writer: executed actions as `action`,
# the policy's own as `predicted_action`. Reloaded here as any LeRobotDataset.

# %%
review = review_recording(Path(result.dataset_root), result)
print(json.dumps(review, indent=1))

stages = {"data_and_train_s": round(t_trained - t_start, 1), "deploy_s": round(time.perf_counter() - t_trained, 1)}
summary = deploy_summary(
    prof,
    conn,
    (repo_id, root),
    task,
    policy,
    checkpoint,
    calibration,
    result,
    stopped,
    review,
    seed=seed,
    plot=str(plot),
    stage_seconds=stages,
    wall_s=round(time.perf_counter() - t_start, 1),
)
save_json(summary, out / "so100_deploy.json")
print(f"steps {result.steps}, clamp activations {result.clamp_activations}, watchdog holds {result.watchdog_holds}")
