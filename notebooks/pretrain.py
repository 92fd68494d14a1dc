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
# VLA-0 leaves the model as it is and fine-tunes a vision-language model to write its actions
# as integers. That only works because the VLM arrives knowing two things: how to read and write
# numbers as digit strings, and where things are in an image. SmolVLM2-500M learnt both in its
# own pretraining. The embedded `tiny` architecture (3.5 M parameters, small enough for a CPU)
# starts from random weights, and within the `cpu` profile's budget it learns neither
# (`docs/tiny-learning.md` has the measurements).
#
# This chapter is the small-scale stand-in for that pretraining: `vla0-smol pretrain`. It uses the
# same model class, tokenizer, prompt layout and grammar-constrained decoder as the policy, and
# trains on questions generated on the fly. None of them contains a PushT action, a trajectory or
# an episode of an evaluation seed, so fine-tuning must still be what learns the policy. The
# result is the `tiny-pretrained` preset, loaded by the same `from_pretrained` call as SmolVLM2.

# %% tags=["parameters"]
# Parameters: `vla0-smol recipes run` (papermill) sets them; in Jupyter edit them and run all.
# profile: "smoke" runs every stage for 2 steps (the plumbing, ~1 min) and draws the shipped run;
#   "cpu" reruns the whole recipe into results/cpu/pretrain (the shipped weights' budget: see
#   their provenance below); "full" the same (SmolVLM2 arrives pretrained: nothing to do for it).
profile = "smoke"
seed = 0  # seeds the generated questions and the initial weights
out_dir = None  # stage folders and the exported preset; None: results/<profile> at the repository root

# %%
import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from vla0_smol.book.paths import repo_root, results_dir, shown
from vla0_smol.book.pretrain_figures import (
    example_table,
    plot_curves,
    rerun_rows,
    skills_sentence,
    skills_table,
    stage_table,
)
from vla0_smol.book.prose import finetune_reading, reproduction_reading, rerun_reading
from vla0_smol.presets import pretrain_data as data
from vla0_smol.presets.pretrain import PRETRAINED_DIR
from vla0_smol.presets.recipe import BUDGET_MIN, RecipeConfig, measure, run_recipe, stage_configs

out = results_dir(profile, out_dir)
gen = data.Generator(seed)
shipped = (
    json.loads((PRETRAINED_DIR / "provenance.json").read_text())
    if (PRETRAINED_DIR / "provenance.json").exists()
    else None
)

# %% [markdown]
# ## Why the order matters: the image tokens collapse
#
# Trained all at once from random init, the tiny model learnt to copy numbers but never to say
# where the block is. The cause is measurable. `image_spread` is the standard deviation of the
# image tokens (the connector's output) across frames, divided by their size. It is 0.154 at
# random init. In every run that trained the vision side together with the language model it fell
# to 0.0002-0.009 within a few hundred steps: the vision side stopped telling frames apart, so
# there was nothing left for the language model to read. The PushT policy trained from random init
# collapses the same way within its first 100 steps.
#
# SmolVLM2 avoids this by construction. Its vision encoder (SigLIP) is pretrained alone before it
# meets the language model. The recipe follows the same order, in four stages:
#
# 1. **numbers**: the language model learns the policy's integer format (copy the state, offsets,
#    10-step paths, adding a constant). The vision side stays frozen: it is replaced next.
# 2. **vision**: the encoder and connector alone, with a linear head, regress the T block's
#    position and angle, the agent's position, and one coloured shape's position, from random
#    frames.
# 3. **reading**: the numbers-trained language model learns to answer questions about the image
#    ("where is the T block", "which way is it turned", "where is the agent") through the frozen
#    stage-2 vision side, while it keeps copying.
# 4. **mixture**: every skill, at a lower rate, so that none is forgotten.
#
# Each stage stops at its step cap, or earlier once its evaluation on fresh questions reaches the
# stage's thresholds. The settings of each stage:

# %%
pd.DataFrame(stage_table(stage_configs(RecipeConfig(seed=seed))))

# %% [markdown]
# ## The questions
#
# Every question is written the way the policy writes its prompt: an image, a task, optionally a
# `State:` with integers, and an answer of integers in `[0, 511]` (the policy's 512 bins). The
# number skills use the image only as a distractor. The grounding skills ask where things are, in
# the 512-wide frame of PushT's world; the block's angle is in 512ths of a turn. PushT frames come
# from `gym-pusht`'s own renderer at random poses, with the policy's random crop. The shape scenes
# keep the skill about images in general, not about one picture.

# %%
rng = np.random.default_rng(seed)
examples = [gen.example(skill, rng) for skill in gen.names]
fig, axes = plt.subplots(2, 6, figsize=(15, 6))
for ax, ex in zip(axes.ravel(), examples, strict=True):
    ax.imshow(ex.image)
    ax.set_title(ex.skill, fontsize=9)
    ax.axis("off")
fig.tight_layout()
plt.show()
pd.DataFrame(example_table(examples))

# %% [markdown]
# ## The run behind the shipped weights
#
# `vla0_smol/presets/tiny_pretrained/provenance.json` records the command, the commit, the seed,
# and for each stage its steps, why it stopped, its wall time and its data. The learning curves
# beside it (`metrics/<stage>.jsonl`) are drawn below. Left: the answer error of each skill on
# fresh questions through the stages (log scale), with the vision head's own block error during
# stage 2. Right: the image spread, which the vision stage must raise and the reading stage, with
# the vision side frozen, keeps.

# %%
if shipped:
    display(pd.DataFrame(shipped["stages"]).drop(columns=["data", "final_metrics"]))
    print(
        f"total {shipped['wall_time_min']:.0f} min on {shipped['recipe']['threads']} thread(s);",
        f"command: {shipped['command']}",
    )
    plot_curves(PRETRAINED_DIR, shipped)
    plt.show()
else:
    print("No weights are shipped in this checkout: run `vla0-smol pretrain` to build them.")

# %% [markdown]
# ## Rebuilt from scratch
#
# A recipe is only a recipe if it rebuilds its weights. The default command was rerun from a fresh
# clone on an otherwise idle 2-core machine, and `docs/experiments/pretrain_rerun.py` measured the
# rerun and the shipped weights on the same fresh questions (a seed neither run saw), question by
# question. The difference is paired, so its interval is the evaluation set's; "within noise" means
# the interval holds 0 or comes within 2 units of it. Both runs use seed 0, so they see the same
# batches; what can differ is the order of floating-point sums across threads, and the shipped
# run's stop and resume between sessions.

# %%
rerun_file = repo_root() / "docs/experiments/results/pretrain_rerun/comparison.json"
if rerun_file.exists():
    comparison = json.loads(rerun_file.read_text())
    display(pd.DataFrame(rerun_rows(comparison)))
    walls = {who: {s["stage"]: s["wall_time_min"] for s in comparison[who]["stages"]} for who in ("shipped", "rerun")}
    display(pd.DataFrame(walls).rename_axis("wall time (min)"))
    display(Markdown(reproduction_reading(comparison, BUDGET_MIN)))
else:
    print("No rerun is recorded in this checkout (docs/experiments/results/pretrain_rerun/).")

# %% [markdown]
# ## What the shipped weights can do
#
# The weights are measured again here, on questions from a seed the run never used, against the
# best constant answer (what a model that ignores the question and the image would score). The
# PushT policy needs the first rows: reading and writing its own integers, and the block's
# position and angle. A skill near the constant predictor has not been learnt.

# %%
if shipped:
    size = 8 if profile == "smoke" else 64
    now = measure(str(PRETRAINED_DIR), seed=12_345, size=size)
    rows = skills_table(now, shipped)
    display(pd.DataFrame(rows))
    print(f"measured on {size} fresh questions per skill (seed 12345); image spread {now['image_spread']:.3f}")
    print("The shipped weights: " + skills_sentence(rows))

# %% [markdown]
# ## What the weights do for a PushT policy (so far)
#
# The reason to pretrain is a policy that learns faster. Fine-tuning `tiny-pretrained` weights into a
# PushT policy was measured (`docs/experiments/finetune_select.py` and `ladder_state.py`, results
# committed in `docs/experiments/results/finetune_select/`), on validation seeds no table of the
# book reports:

# %%
arms = sorted((repo_root() / "docs/experiments/results/finetune_select").glob("*/select.json"))
display(Markdown(finetune_reading(arms, shipped)))

# %% [markdown]
# ## Running the recipe
#
# `vla0-smol pretrain` runs the four stages in order. Each stage writes its folder under
# `outputs/pretrain/`, with a checkpoint every 250 steps and on Ctrl-C or `kill`. A finished stage
# is skipped, so running the same command again resumes the run wherever it stopped. Batch `k` of a
# stage depends only on `(seed, k)`. At `smoke` this cell runs every stage for 2 steps of batch 2
# (plumbing, not a result); at `cpu` it reruns the whole recipe into this profile's results
# folder. The shipped preset is never overwritten from here.

# %%
small = profile == "smoke"
caps = dict(numbers_steps=2, vision_steps=2, reading_steps=2, mixture_steps=2) if small else {}
sizes = dict(batch_size=2, eval_every=2, eval_size=2, final_eval_size=2) if small else {}
cfg = RecipeConfig(
    out_dir=str(out / "pretrain"), export_dir=str(out / "pretrain" / "preset"), seed=seed, **caps, **sizes
)
record = run_recipe(cfg)
pd.DataFrame(record["stages"]).drop(columns=["data", "final_metrics"])

# %% [markdown]
# At `smoke` these stages ran 2 steps each: the table only shows that every stage ran and exported.
# At `cpu` the run's final metrics should agree with the shipped ones within the noise of
# the evaluation sets. (The skills test, `tests/test_pretrain_recipe.py`, measures the shipped
# weights on fresh questions against their provenance; it does not rerun the recipe.)

# %%
mine = {k: v["mae"] for k, v in record["final_metrics"].items()}
theirs = {k: v["mae"] for k, v in (shipped or {}).get("final_metrics", {}).items()}
display(pd.DataFrame({"this run MAE": mine, "shipped MAE": theirs}).round(1))
display(Markdown(rerun_reading(mine, theirs, profile, steps=caps.get("numbers_steps", 0))))

# %%
(out / "pretrain.json").write_text(json.dumps({"kind": "pretrain", "profile": profile, **record}, indent=2))
print(f"stage table and final metrics saved to {shown(out / 'pretrain.json')}")
