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
# # LIBERO: the blog's headline run
#
# The blog takes its best PushT recipe to **LIBERO**, a Franka Panda in 3D kitchen and tabletop
# scenes seen through two cameras (agent view and wrist), and reports success rates on four
# suites: Object, Spatial, Goal and Long (`libero_10`). At the `full` profile this notebook is that
# run:
#
# | setting | value |
# |---|---|
# | model | SmolVLM2-500M (`HuggingFaceTB/SmolVLM2-500M-Video-Instruct`) |
# | data | `HuggingFaceVLA/libero`: 2 cameras (256 px), 8-D state, 7-D actions |
# | actions | absolute (the blog found relative actions hard to apply on LIBERO), chunks of 8 |
# | training | lr 5e-5, cosine to 5e-6 over 100k steps, global batch 192 (8 GPUs x 24), bf16 |
# | augmentation | whole-action masking, random 230 px crop of the 256 px frames |
# | evaluation | every task of the 4 suites x LIBERO's 50 initial states; temporal ensembling (8), and 8 steps ahead |
#
# The environments are LeRobot's own `LiberoEnv` (hf-libero, robosuite, MuJoCo) on the **official**
# LIBERO tasks and initial states; observations go through LeRobot's LIBERO processing, as at
# training time.
#
# **What the `smoke` and `cpu` profiles show.** No GPU and no hub here: the same code trains the
# embedded *tiny* preset (a few million parameters, from scratch) for a few steps on a small
# LIBERO-format dataset recorded on the spot with a scripted reach motion (pipeline-test data,
# not demonstrations), then runs a few short episodes on official LIBERO tasks. Their success
# rates are the tiny model's on that data: they test the pipeline end to end and say nothing about
# the blog's numbers, which only the `full` profile reproduces.
#
# **Evaluating a checkpoint instead of training.** Set `checkpoint` to a folder or a hub id: the
# recipe skips data and training and evaluates it with this profile's tasks and protocols. The
# authors' released weights, `olegbalakhnov/libero_vla0_final`, are a checkpoint of their own
# LeRobot policy `vla0`; they are converted once into `<out_dir>/checkpoints/`
# (`vla0_smol.convert.resolve_checkpoint`, the same conversion as `vla0-smol convert`), then
# evaluated. At `full` that is every task of the four suites with both protocols: the rows
# "this run" then sit next to the blog's 94.1 (temporal ensembling) and 90.7 (8 steps ahead).

# %% tags=["parameters"]
# Parameters: `vla0-smol recipes run` (papermill) sets them; in Jupyter edit them and run all.
# profile: "smoke" a tiny random-init model and a few steps (CI); "cpu" the tiny preset on a laptop
#   CPU; "full" SmolVLM2-500M and the real datasets on a GPU (the blog's settings).
# Wall time on 2 CPU cores: smoke 117 s; cpu not timed yet.
# full: GPU, hours (the blog's LIBERO training).
profile = "smoke"  # only sizes change with it, never the code path
seed = 0  # seeds data generation, training and evaluation
out_dir = None  # JSON results and plots; None: results/<profile> at the repository root
checkpoint = ""  # a folder or hub id (vla0_smol or the authors' vla0) to evaluate; empty: train

# %%
import shlex
from pathlib import Path

from IPython.display import Image, Markdown, Video, display

from vla0_smol.book.paths import results_dir, shown
from vla0_smol.book.prose import settings_table
from vla0_smol.book.report import libero_table
from vla0_smol.libero.pipeline import launch_command, run_dir_for, run_libero, train_spec
from vla0_smol.libero.profiles import libero_policy_config, libero_profile

out_dir = results_dir(profile, out_dir)  # absolute, whatever folder the kernel started in

prof = libero_profile(profile)
display(Markdown(settings_table(prof.to_dict(), f"the `{profile}` profile's LIBERO settings")))
config = libero_policy_config(prof)
print(
    f"policy: chunk {config.chunk_size}, execution {config.execution}, relative actions {config.relative_actions}, "
    f"masking {config.masking}, crop {config.crop_shape} of {prof.image_size} px, global batch {prof.global_batch}"
)

# %% [markdown]
# ## Reproducing the blog's numbers on GPUs
#
# On a machine with 8 GPUs (about 24 GB each is enough for batch 24 of SmolVLM2-500M in bf16) and
# access to the Hugging Face hub:
#
# ```bash
# pip install -e .          # the library and its LeRobot plugin (lerobot[libero] included)
# vla0-smol recipes run --profile full --only libero
# ```
#
# That downloads `HuggingFaceVLA/libero`, SmolVLM2-500M and LIBERO's scene assets (hf-libero's own
# download), trains with the command printed below (LeRobot's `lerobot-train` under `accelerate`,
# resumable: run it again after an interruption), evaluates every task of the four suites with
# both protocols and writes `results/full/libero.json`. Evaluation steps 10 environments side by
# side (about 2.2 GB of RAM each); budget a few GPU-days in all. The training command, for those
# who launch it themselves (the recipe then finds the finished run and only evaluates):
#
# To evaluate the authors' released weights instead (one GPU is enough; no training, no dataset):
#
# ```bash
# vla0-smol recipes run --profile full --only libero -p checkpoint olegbalakhnov/libero_vla0_final
# ```
#
# Evaluation appends every finished task to `results/full/libero_eval/<protocol>_<key>.jsonl` and
# prints one line per task; run the command again after an interruption and it goes on with the
# next unfinished task.

# %%
full = libero_profile("full")
gpu_run = run_dir_for(full, Path("results/full"), seed)
print(shlex.join(launch_command(train_spec(full, gpu_run, (full.dataset_repo_id, None), seed), full.num_processes)))

# %% [markdown]
# ## Data, training and evaluation at this profile
#
# One call: the dataset (recorded offline at `smoke`/`cpu`, the hub's at `full`), `lerobot-train`,
# then the episodes of every evaluation protocol. The training run resumes if interrupted, and so
# does the evaluation, task by task. With a `checkpoint`, only the evaluation runs.

# %%
summary = run_libero(profile, Path(out_dir), seed=seed, checkpoint=checkpoint)
if summary["checkpoint"]:
    print(
        f"evaluated {summary['checkpoint']['argument']} -> {shown(summary['checkpoint']['folder'])} (not trained here)"
    )
print(f"wall time {summary['wall_s']} s: " + ", ".join(f"{k} {v} s" for k, v in summary["stage_seconds"].items()))

# %% [markdown]
# ## What the policy sees
#
# The first observation of the evaluation: agent view (left) and wrist camera (right), after
# LeRobot's LIBERO processing (rotated 180 degrees, as in `HuggingFaceVLA/libero`).

# %%
display(Image(filename=summary["camera_snapshot"], width=512))

# %% [markdown]
# ## Success per suite, beside the blog's table
#
# The blog's rows are its published numbers; the last rows are this run, labelled with the profile.

# %%
display(Markdown(libero_table(summary)))

# %%
header = ["| protocol | suite | task | successes | mean steps |", "|---|---|---|---|---|"]
rows = [
    f"| {mode} | {t['suite']} | {t['task_id']}: {t['task']} | {sum(t['successes'])}/{len(t['successes'])} "
    f"| {sum(t['lengths']) / len(t['lengths']):.0f} |"
    for mode, evaluation in summary["evaluations"].items()
    for t in evaluation["per_task"]
]
display(Markdown("\n".join(header + rows)))
first = summary["evaluations"][next(iter(summary["evaluations"]))]["videos"]
if first:
    display(Video(first[0], embed=True, width=256))
done = [(sum(t["successes"]), len(t["successes"])) for e in summary["evaluations"].values() for t in e["per_task"]]
k, n = sum(d[0] for d in done), sum(d[1] for d in done)
if summary["checkpoint"]:
    how = "a given checkpoint, not trained here"
else:
    how = f"a `{summary['model']}` model trained for {summary['train']['steps']} steps"
print(
    f"{k} of {n} episodes succeeded ({how}). The blog's SmolVLM2-500M succeeds in 94.1% of its 2,000 episodes "
    "(50 per task, 40 tasks) with temporal ensembling; "
    + (
        "a few training steps of the tiny preset are not expected to succeed: this run shows the pipeline "
        f"(data, lerobot-train, LIBERO's simulator, evaluated with {' and '.join(summary['evaluations'])}) "
        "end to end, not a success rate."
        if profile != "full"
        else "this run's rows in the table above are the comparison."
    )
)
