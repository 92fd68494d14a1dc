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
# **Standing next to a real arm**: set `checkpoint` to your trained SO100 policy (no fine-tuning then),
# `robot`, `port`, `robot_id`, `cameras`, and run the cells. The pre-flight cell refuses to enable
# torque when something is wrong (camera names, calibration, frame sizes, decode speed) and says how
# to fix it; the live panel then shows the cameras, the joints and the safety counters, with Start
# and Stop buttons. The first run on a real arm is a dry run (actions computed and shown, none sent):
# set `dry_run = False` once it looks right.
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
# Parameters: `vla0-smol recipes run` (papermill) sets them; in Jupyter edit them and run all.
# profile: "smoke" a tiny random-init model and a few steps (CI); "cpu" the tiny preset on a laptop
#   CPU; "full" SmolVLM2-500M and the real datasets on a GPU (the blog's settings).
# Wall time on 2 CPU cores: smoke 57 s; cpu not timed yet.
# full: GPU, hours (fine-tuning SmolVLM2-500M).
profile = "smoke"  # only sizes change with it, never the code path
seed = 0  # seeds data generation, training and evaluation
out_dir = None  # JSON results and plots; None: results/<profile> at the repository root
checkpoint = ""  # folder or hub id (vla0_smol, or the authors' vla0: converted once); "": fine-tune first
# an SO100 checkpoint (6-D state and action) is deployed as it is; one of another robot (the authors'
# LIBERO model, olegbalakhnov/libero_vla0_final) is the start of a fine-tune on the profile's dataset
robot = "sim"  # "sim" (emulated bus, no hardware) | "so100_follower" | "so101_follower"
port = "/dev/ttyACM0"  # real arm only (lerobot-find-port)
robot_id = "my_follower"  # real arm only: the id given to lerobot-calibrate
cameras = {"front": (0, (480, 640)), "wrist": (2, (480, 640))}  # real arm only: name -> (OpenCV index, (h, w))
dry_run = None  # None: on for a real arm (actions computed and shown, none sent), off for "sim"
duration_s = None  # seconds of control; None: the profile's deploy_steps at fps
task = None  # the instruction; None: the profile's, else the dataset's or the checkpoint's default_task
fps = None  # control rate; None: the profile's deploy_fps (the pre-flight says what this machine keeps up with)

# %%
import shutil
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from vla0_smol.book.paths import data_dir, results_dir, shown
from vla0_smol.book.prose import settings_table
from vla0_smol.convert import resolve_checkpoint
from vla0_smol.results import save_json
from vla0_smol.so100.arm import (
    calibration_table,
    camera_shapes,
    deploy_summary,
    load_policy,
    make_so100,
    review_recording,
)
from vla0_smol.so100.dataset import dataset_info
from vla0_smol.so100.deploy import DeployConfig, PolicyRunner
from vla0_smol.so100.panel import LivePanel
from vla0_smol.so100.pipeline import so100_checkpoint, so100_dataset, train_so100
from vla0_smol.so100.preflight import preflight
from vla0_smol.so100.profiles import so100_profile
from vla0_smol.so100.replay import filmstrip, load_episode, plot_episode, replay_widget, summary_markdown, summary_rows

out_dir = results_dir(profile, out_dir)  # absolute, whatever folder the kernel started in

t_start = time.perf_counter()
out = Path(out_dir)
prof = so100_profile(profile)
fps = float(fps or prof.deploy_fps)
max_steps = round(duration_s * fps) if duration_s else prof.deploy_steps
dry_run = robot != "sim" if dry_run is None else bool(dry_run)
display(Markdown(settings_table(prof.to_dict(), f"the `{profile}` profile's SO100 settings")))
print(f"control: {fps:g} fps, {max_steps} steps ({max_steps / fps:.1f} s), dry run: {dry_run}")

# %% [markdown]
# ## 1. The policy: an existing checkpoint, or fine-tune one
#
# With `checkpoint` set to an SO100 policy, it is loaded as it is (a folder or a hub id; one of the
# authors' `vla0` checkpoints is converted once, `vla0_smol.convert.resolve_checkpoint`). Without,
# the profile's dataset is fine-tuned with `lerobot-train --policy.type=vla0_smol`; with a checkpoint
# of another robot (the authors' LIBERO model: 7-D actions, 8-D state), with `lerobot-train
# --policy.path=<checkpoint>`: its VLM weights are kept, its state and action ranges and its
# features are re-initialised from the dataset (one logged line says so). Resumable; the README's
# "SO100 / SO101 on a real arm" section has the command lines for your own dataset.

# %%
ckpt = resolve_checkpoint(checkpoint, out / "checkpoints").resolve() if checkpoint else None
if ckpt is not None and so100_checkpoint(ckpt):
    repo_id, root, info = None, None, {}
else:
    repo_id, root = so100_dataset(prof, data_dir(), seed=seed)
    info = dataset_info(repo_id, root)
    cams = ", ".join(f"{k.split('.')[-1]} {h}x{w}" for k, (h, w) in info["cameras"].items())
    print(f"dataset {repo_id}: {info['fps']} fps, cameras {cams}, {len(info['action_names'])} action dimensions")
    print(f"fine-tuning from {shown(ckpt)}" if ckpt else "fine-tuning the profile's backbone")
    ckpt = train_so100(prof, out, (repo_id, root), seed=seed, init=ckpt)
policy = load_policy(ckpt, prof.device, decoder="fast")
task = task or prof.task or info.get("task") or policy.config.default_task
print(f"policy {shown(ckpt)}; cameras {camera_shapes(policy)}; task {task!r}")
t_trained = time.perf_counter()

# %% [markdown]
# ## 2. Pre-flight, before torque
#
# The arm is built but not connected: nothing has been written to a servo yet. The checks
# (`vla0_smol.so100.preflight`): the policy's camera names are the arm's, a calibration file exists
# for `robot_id`, each camera delivers frames of the size the policy was trained on, and one decode
# on this machine fits the control loop's budget. The loop infers asynchronously, so a decode may
# take up to `(n_action_steps - 1) / fps` with every action fresh and up to `(chunk_size - 1) / fps`
# before the watchdog holds the arm (`1 / fps` is shown for reference: what a synchronous loop would
# need). Any fatal problem stops here with its fix, e.g. the `lerobot-calibrate` command line.
# The simulated arm gets one camera per camera of the policy, at the size it was trained on.

# %%
conn = make_so100(
    robot,
    cameras=camera_shapes(policy) if robot == "sim" else cameras,
    fps=prof.fps,
    max_relative_target=prof.max_relative_target,
    workdir=out / "so100_sim" if robot == "sim" else None,
    port=port,
    robot_id=robot_id,
)
report = preflight(
    policy,
    conn.robot,
    fps=fps,
    robot_type=robot if robot != "sim" else "so101_follower",
    port=port,
    latency_fatal=robot != "sim",  # a slow decode only warns on the emulated arm
)
print(report)
_ = report.raise_if_failed()  # PreflightError: torque is not enabled

# %% [markdown]
# ## 3. Connect (torque on) and check the calibration
#
# LeRobot configures the servos and enables torque. The control loop clips every action to these
# limits (the calibrated range of each servo, converted by LeRobot's bus to action units) before
# LeRobot's per-step clamp (`max_relative_target`).

# %%
conn.connect()
calibration = calibration_table(conn.robot)
rows = [f"| {r['motor']} | {r['id']} | {r['range_raw']} | {r['limits']} | {r['unit']} |" for r in calibration]
display(Markdown("\n".join(["| motor | id | raw range | limits | unit |", "|---|---|---|---|---|", *rows])))

# %% [markdown]
# ## 4. Live: the panel
#
# Fast decoder, asynchronous inference, joint-limit and relative clamps, watchdog
# (`vla0_smol.so100.deploy`). In Jupyter the panel shows the cameras, predicted / executed / observed
# joints, the decode latency against `1 / fps`, the watchdog holds and clamp activations; **Start**
# runs the episode in a background thread (the kernel stays free for the buttons), **Stop** ends it
# through the library's safe exit: the arm is commanded to its present position. `on_stop="hold"`
# keeps torque on until the explicit stop in section 6. Run the next cell once the episode is over.
# Under papermill (CI, `vla0-smol recipes`) the same loop runs at once and prints a line every few
# steps. The episode is recorded as a LeRobotDataset.

# %%
recording = out / "so100_recording"
if recording.exists():
    shutil.rmtree(recording)  # this recipe's own artifact, rewritten on every run
runner = PolicyRunner(
    policy,
    conn.robot,
    DeployConfig(
        fps=fps,
        max_steps=max_steps,
        task=task,
        decoder="fast",
        dry_run=dry_run,
        on_stop="hold",
        record_root=str(recording),
    ),
)
panel = LivePanel(runner, every=max(1, max_steps // 10), budgets_s=report.budgets_s)
_ = panel.show()  # headless: runs the episode now (its result is read in the next cell)

# %%
result = panel.finished()  # raises while the episode still runs: press Stop or wait, then run this cell
s = result.summary()
lat = s["inference_latency_ms"] or {"mean": float("nan"), "p95": float("nan")}
print(
    f"{s['steps']} steps at {s['achieved_fps']:.1f} fps (asked {fps:g}), stopped by {s['stopped_by']}; "
    f"{s['chunks']} chunks decoded in {lat['mean']:.0f} ms on average (95th percentile {lat['p95']:.0f} ms), "
    f"{s['late_chunks']} late; {s['fresh_steps']} steps ran a fresh action, {s['stale_steps']} a stale one, "
    f"{s['watchdog_holds']} were held by the watchdog; clamps: {s['joint_limit_clamps']} to the joint limits, "
    f"{s['relative_clamps']} by LeRobot's max_relative_target."
)
cfg = policy.config
if cfg.execution == "temporal":
    how = "In temporal execution the worker decodes back to back and every step averages the chunks that cover it"
else:
    how = (
        f"In chunk execution the next chunk is requested before the {cfg.n_action_steps} actions of the current run out"
    )
print(
    f"{how}, so a decode may take longer than one step ({1000 / fps:.0f} ms here) without the arm waiting: what "
    f"counts is that a fresh action is there when a step starts ({s['fresh_steps']} of {s['steps']} steps were "
    "fresh)."
)

# %% [markdown]
# ## 5. Replay the recorded episode
#
# Reloaded as any LeRobotDataset: the camera frames, and the joints frame by frame (executed actions
# as `action`, the policy's own as `predicted_action`, 0 where the watchdog held, the joints read
# back as `observation.state`). In Jupyter a player steps through the frames with the joints of
# each; headless, a filmstrip.

# %%
review = review_recording(Path(result.dataset_root), result)
print(
    f"recorded {review['episodes']} episode of {review['frames']} frames at {review['fps']} fps in "
    f"{shown(review['root'])}; largest difference between the recorded and the executed actions "
    f"{review['max_abs_diff_action_vs_executed']:.1e}, between the recorded and the logged predictions "
    f"{review['max_abs_diff_predicted_vs_log']:.1e}"
)
episode = load_episode(result.dataset_root)
if panel.interactive:
    display(replay_widget(episode))
else:
    filmstrip(episode)
    plt.show()
fig = plot_episode(episode, f"SO100 deployment ({profile} profile, {conn.kind} arm{', dry run' if dry_run else ''})")
plot = out / "plots" / "so100_trajectories.png"
plot.parent.mkdir(parents=True, exist_ok=True)
fig.savefig(plot, dpi=110)
plt.show()

# %% [markdown]
# ## 6. Stop and summary
#
# Disconnecting disables torque on every servo (LeRobot's default): on a real arm, park it near
# its rest pose first, it goes limp.

# %%
stopped = conn.stop()
torque = stopped["torque_enabled"]
on = "not reported (a real arm)" if torque is None else f"on for {sum(map(bool, torque.values()))} of {len(torque)}"
print(f"disconnected (still connected: {stopped['connected']}); torque {on} servos")
display(Markdown(summary_markdown(summary_rows(result, report, panel))))

stages = {"data_and_train_s": round(t_trained - t_start, 1), "deploy_s": round(time.perf_counter() - t_trained, 1)}
summary = deploy_summary(
    prof,
    conn,
    (repo_id, root),
    task,
    policy,
    ckpt,
    calibration,
    result,
    stopped,
    review,
    seed=seed,
    plot=str(plot),
    stage_seconds=stages,
    wall_s=round(time.perf_counter() - t_start, 1),
    checkpoint_arg=checkpoint or None,
    dry_run=dry_run,
    preflight=report.to_dict(),
    panel={"mode": "widgets" if panel.interactive else "text", "seen": panel.seen, "dropped": panel.dropped},
)
save_json(summary, out / "so100_deploy.json")
gap = float(np.abs(result.executed - result.state).max()) if result.steps else 0.0
limit = prof.max_relative_target
print(
    f"Saved to {shown(out / 'so100_deploy.json')}. The largest gap between an executed joint target and the joint "
    f"position read before it is {gap:.2f} (degrees; 0-100 for the gripper)"
    + (
        f": LeRobot's per-step clamp (max_relative_target = {limit:g}) held every step to it."
        if limit is not None and gap <= limit + 1e-6
        else "."
    )
)
