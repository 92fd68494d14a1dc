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
# # Ablation: state tokens and relative actions
#
# Two switches, four arms: the discretised state in the prompt (`use_state`) and actions
# predicted relative to the current state (`relative_actions`). Relative targets are formed in
# raw units and binned with their own range, measured over the dataset's chunks
# (`vla0_smol.stats`). The blog: 29.7% (neither), 57.8% (relative), 45.3% (state), 70.3% (both).
#
# `profile` sets the sizes (`smoke`: seconds, `cpu`: the tiny preset on a laptop CPU, `full`:
# SmolVLM2-500M on a GPU, the blog's settings); `seeds` trains every arm that many times. Finished
# arms are read back from disk, so re-running continues an interrupted grid.
#
# The evidence below is computed from the run's JSON: the table gives every success rate with its
# 95% interval, next to three references measured on the same episodes (the scripted expert,
# random actions, holding still), and says for each comparison the blog makes whether this run
# agrees; then each arm's training loss and checkpoint curve, and one episode of each arm. First,
# what one bin of an absolute and of a relative action is worth in pixels.

# %% tags=["parameters"]
# Parameters: `vla0-smol recipes run` (papermill) sets them; in Jupyter edit them and run all.
# profile: "smoke" a tiny random-init model and a few steps (CI); "cpu" the tiny preset on a laptop
#   CPU; "full" SmolVLM2-500M and the real datasets on a GPU (the blog's settings).
# Wall time on 2 CPU cores: smoke 88 s; cpu ~80 min (4 training runs).
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
from vla0_smol.book.prose import ablation_reading
from vla0_smol.book.report import plot_ablation, pusht_table
from vla0_smol.book.resolution import plot_action_resolution, pusht_action_resolution, resolution_sentence
from vla0_smol.pusht.profiles import pusht_profile
from vla0_smol.results import save_json

out_dir = results_dir(profile, out_dir)  # absolute, whatever folder the kernel started in
plots = Path(out_dir) / "plots"

arms = blog_grid("ablation_state_action", base_lr=pusht_profile(profile).policy.get("optimizer_lr", 5e-5))
for arm in arms:
    print(arm.describe())

# %% [markdown]
# ## What one bin is worth
#
# The policy cuts each action dimension into `num_bins` equal bins between the smallest and the
# largest value it has to write: the dataset's min/max for absolute targets, and for relative
# ones the min/max of `action[t + k] - state[t]` over every position k of every chunk (the policy
# measures these itself). PushT's actions are targets in pixels of the 512 x 512 workspace, so a
# bin's width is a distance on the table. Relative values crowd around zero, but the bins span
# their extremes, and the last actions of a chunk can lie far from the current position: the
# histograms below are the profile's demonstrations, the widths those of the policy's tokenizer.

# %%
bins = pusht_action_resolution(profile, data_dir(), seed=seed)
save_json({name: rep.summary() for name, rep in bins.items()}, plots / "ablation_state_action_bins.json")
title = f"PushT actions, {profile} profile ({pusht_profile(profile).dataset} demonstrations): values and bin width"
display(Image(filename=str(plot_action_resolution(bins, plots / "ablation_state_action_bins.png", title=title))))
print(resolution_sentence(bins))

# %%
summary = run_grid("ablation_state_action", arms, profile, seed=seed, seeds=seeds, results_dir=Path(out_dir).parent)
display(Markdown(pusht_table(summary)))

# %%
display(Image(filename=str(plot_ablation(summary, plots / "ablation_state_action.png"))))

# %% [markdown]
# ## How each arm trained
#
# Left: the training loss `lerobot-train` logged (cross-entropy on the action tokens, log scale).
# Right: success and coverage of every saved checkpoint on the evaluation episodes, with 95%
# intervals; the star marks the checkpoint the table reports.

# %%
display(Image(filename=str(plot_training(summary, plots / "ablation_state_action_training.png"))))

# %%
display(Image(filename=str(plot_rollouts(summary, plots / "ablation_state_action_rollouts.png"))))
display(Markdown(ablation_reading(summary)))
