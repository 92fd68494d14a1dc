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
# # Ablation: system prompt
#
# VLA-0 opens its prompt with a system turn that describes the output format. After
# fine-tuning, the format is learned from the data; the blog saw no difference in success. The
# system turn used here (`system_prompt="default"`) is filled in with the chunk size, dimension
# and bin count; the grammar enforces the format in both arms anyway.
#
# `profile` sets the sizes (`smoke`: seconds, `cpu`: the tiny preset on a laptop CPU, `full`:
# SmolVLM2-500M on a GPU, the blog's settings); `seeds` trains every arm that many times. Finished
# arms are read back from disk, so re-running continues an interrupted grid.
#
# The evidence below is computed from the run's JSON: the table gives every success rate with its
# 95% interval, next to three references measured on the same episodes (the scripted expert,
# random actions, holding still), and says for each comparison the blog makes whether this run
# agrees; then each arm's training loss and checkpoint curve, and one episode of each arm. First,
# the system turn itself and the tokens it adds to every sample.

# %% tags=["parameters"]
# Parameters: `vla0-smol recipes run` (papermill) sets them; in Jupyter edit them and run all.
# profile: "smoke" a tiny random-init model and a few steps (CI); "cpu" the tiny preset on a laptop
#   CPU; "full" SmolVLM2-500M and the real datasets on a GPU (the blog's settings).
# Wall time on 2 CPU cores: smoke 68 s; cpu ~40 min (2 training runs).
# full: GPU, hours (one SmolVLM2-500M training run per arm).
profile = "smoke"  # only sizes change with it, never the code path
seed = 0  # seeds data generation, training and evaluation
seeds = 1  # training seeds per arm (seed, seed + 1, ...): tables pool them and show each
out_dir = None  # JSON results and plots; None: results/<profile> at the repository root

# %%
from pathlib import Path

from IPython.display import Image, Markdown, display

from vla0_smol.book.ablation import blog_grid, run_grid
from vla0_smol.book.figures import plot_rollouts, plot_training
from vla0_smol.book.paths import data_dir, results_dir
from vla0_smol.book.prompt_cost import cost_sentence, plot_prompt_cost, pusht_prompt_cost
from vla0_smol.book.prose import ablation_reading
from vla0_smol.book.report import plot_ablation, pusht_table
from vla0_smol.pusht.profiles import pusht_profile
from vla0_smol.results import save_json

out_dir = results_dir(profile, out_dir)  # absolute, whatever folder the kernel started in
plots = Path(out_dir) / "plots"

arms = blog_grid("ablation_system_prompt", base_lr=pusht_profile(profile).policy.get("optimizer_lr", 5e-5))
for arm in arms:
    print(arm.describe())

# %% [markdown]
# ## The system turn, and what it costs
#
# Below is the system turn of the `system prompt` arm, filled in as the policy fills it (chunk
# size, action dimension, number of bins), then one training sample of the profile's
# demonstrations built as the arms build it, with and without that turn, its tokens counted by
# role with the tokenizer of the profile's backbone. The turn is the same in every sample, and in
# every prompt the policy prefills before it decodes a chunk.

# %%
with_system = next(arm for arm in arms if arm.policy.get("system_prompt"))
cost = pusht_prompt_cost(profile, data_dir(), seed=seed, **with_system.policy)
save_json(cost, plots / "ablation_system_prompt_cost.json")
display(Markdown("> " + cost["text"]))
title = f"one training sample of the {profile} profile, tokens by role (backbone '{cost['backbone']}')"
display(Image(filename=str(plot_prompt_cost(cost, plots / "ablation_system_prompt_cost.png", title=title))))
print(cost_sentence(cost))

# %%
summary = run_grid("ablation_system_prompt", arms, profile, seed=seed, seeds=seeds, results_dir=Path(out_dir).parent)
display(Markdown(pusht_table(summary)))

# %%
display(Image(filename=str(plot_ablation(summary, plots / "ablation_system_prompt.png"))))

# %% [markdown]
# ## How each arm trained
#
# Left: the training loss `lerobot-train` logged (cross-entropy on the action tokens, log scale).
# Right: success and coverage of every saved checkpoint on the evaluation episodes, with 95%
# intervals; the star marks the checkpoint the table reports.

# %%
display(Image(filename=str(plot_training(summary, plots / "ablation_system_prompt_training.png"))))

# %%
display(Image(filename=str(plot_rollouts(summary, plots / "ablation_system_prompt_rollouts.png"))))
display(Markdown(ablation_reading(summary)))
