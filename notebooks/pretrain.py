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
# # Pretraining the tiny VLM: what SmolVLM2 brings, in miniature
#
# VLA-0 does not change the model: it fine-tunes a vision-language model to write its actions
# as integers. That works because the VLM arrives knowing two things: how to read and write
# numbers as digit strings, and where things are in an image. SmolVLM2-500M learned both in
# its own pretraining; the embedded `tiny` architecture (3.5 M parameters, so that a CPU can
# train it) starts from random weights and, in the `cpu` profile's budget, learns neither
# (`docs/tiny-learning.md` has the measurements).
#
# This chapter builds the small-scale stand-in: the same model class, tokenizer, prompt layout
# and decoder as the policy, trained on questions generated on the fly. None of them contains a
# PushT action, a trajectory or an episode of an evaluation seed: the fine-tuning must still be
# what learns the policy. The result is the `tiny-pretrained` preset that the `cpu` profile
# fine-tunes.

# %% tags=["parameters"]
# Parameters: `vla0-smol recipes run` (papermill) sets them; in Jupyter edit them and run all.
# profile: "smoke" 6 steps of batch 4 (the plumbing, ~40 s); "cpu" the whole pretraining run
#   (4,000 steps of batch 16: ~40 min on 2 idle cores, longer on a loaded machine); "full" the same
#   run (SmolVLM2 needs no pretraining here: it arrives pretrained).
profile = "smoke"
seed = 0  # seeds the generated questions and the initial weights
out_dir = None  # checkpoints, metrics and the exported preset; None: results/<profile> at the repository root

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from vla0_smol.book.paths import results_dir
from vla0_smol.presets import pretrain_data as pd
from vla0_smol.presets.pretrain import PRETRAINED_DIR, PretrainConfig, pretrain

out = results_dir(profile, out_dir)
gen = pd.Generator(seed)

# %% [markdown]
# ## The questions
#
# Every question is written the way the policy writes its prompt: an image, a task, optionally
# a `State:` with integers, and an answer of integers in `[0, 511]` (the policy's 512 bins).
# Number skills use the image only as a distractor; grounding skills ask where things are, in
# the 512-wide frame of PushT's world. PushT frames come from `gym-pusht`'s own renderer at
# random poses, with the policy's random crop; the shape scenes make sure the skill is about
# images in general, not one picture.

# %%
rng = np.random.default_rng(seed)
shown = [gen.example(skill, rng) for skill in gen.names]
fig, axes = plt.subplots(2, 6, figsize=(15, 6))
for ax, ex in zip(axes.ravel(), shown, strict=True):
    ax.imshow(ex.image)
    ax.set_title(ex.skill, fontsize=9)
    ax.axis("off")
fig.tight_layout()
plt.show()
for ex in shown:
    state = "" if ex.state is None else f" State: {' '.join(map(str, ex.state))}"
    print(f"{ex.skill:13s} Task: {ex.task}{state}\n{'':13s} -> {' '.join(map(str, ex.answer))}")

# %% [markdown]
# The mixture weights grounding more heavily: it is the slow skill (the language model has to
# learn to route image tokens into digit tokens).

# %%
print(json.dumps(gen.mixture, indent=1))

# %% [markdown]
# ## The run
#
# Batch `k` depends only on `(seed, k)`, a checkpoint is written every 250 steps and on
# Ctrl-C, and running the same cell again resumes. At `smoke` it runs 6 steps; at `cpu` it is
# the run that built the shipped preset, written to this profile's results folder (the shipped
# preset is never overwritten by the notebook).

# %%
steps = {"smoke": 6, "cpu": PretrainConfig().steps, "full": PretrainConfig().steps}[profile]
small = profile == "smoke"
cfg = PretrainConfig(
    out_dir=str(out / "pretrain"),
    export_dir=str(out / "pretrain" / "preset"),
    seed=seed,
    steps=steps,
    batch_size=4 if small else PretrainConfig().batch_size,
    warmup=2 if small else PretrainConfig().warmup,
    log_every=2 if small else 25,
    eval_every=steps if small else 500,
    eval_size=2 if small else 16,
)
record = pretrain(cfg)

# %% [markdown]
# ## Per-skill learning curves
#
# Training loss per skill (mean cross-entropy per answer token), and the evaluation on fresh
# questions: the mean absolute error of greedy, grammar-constrained answers.

# %%
def curves(metrics_path):
    rows = [json.loads(x) for x in Path(metrics_path).read_text().splitlines()]
    return [r for r in rows if "loss" in r], [r for r in rows if "eval" in r]


train_rows, eval_rows = curves(out / "pretrain" / "metrics.jsonl")
fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4))
for skill in gen.names:
    xs = [r["step"] for r in train_rows if skill in r["loss"]]
    a.plot(xs, [r["loss"][skill] for r in train_rows if skill in r["loss"]], label=skill)
    b.plot([r["step"] for r in eval_rows], [r["eval"][skill]["mae"] for r in eval_rows], marker="o", label=skill)
a.set(xlabel="step", ylabel="loss per answer token", yscale="log", title="training loss")
b.set(xlabel="step", ylabel="mean absolute error", yscale="log", title="fresh questions")
b.legend(fontsize=7, ncol=2)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The shipped preset
#
# `vla0_smol/presets/tiny_pretrained/provenance.json` records the command, commit, seed, wall
# time, mixture and final metrics of the run that produced the shipped weights. At `cpu` this
# notebook's run is that run again: its final metrics should agree within noise (16 questions
# per skill).

# %%
shipped_path = PRETRAINED_DIR / "provenance.json"
if shipped_path.exists():
    shipped = json.loads(shipped_path.read_text())
    print(f"shipped: {shipped['steps']} steps, {shipped['wall_time_s'] / 60:.0f} min, commit {shipped['commit'][:10]}")
    print(f"{'skill':14s} {'shipped MAE':>12s} {'this run MAE':>13s}")
    for skill, m in shipped["final_metrics"].items():
        mine = (record["final_metrics"] or {}).get(skill, {}).get("mae", float("nan"))
        print(f"{skill:14s} {m['mae']:12.1f} {mine:13.1f}")
else:
    print("no shipped preset yet: run `vla0-smol pretrain` to build it")
(out / "pretrain.json").write_text(json.dumps({"kind": "pretrain", "profile": profile, **record}, indent=2))
