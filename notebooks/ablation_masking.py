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
# # Ablation: masked action augmentation
#
# Masking hides parts of the target action text from the model's input (and takes them out of
# the loss), so that it cannot finish a number from its first digits and has to look at the
# image. Three arms: no masking, VLA-0's character masking (up to 40% of characters), and the
# blog's whole-action masking (up to 15% of values, each replaced by one mask token). The blog:
# 57.8% without masking, 78.1% with whole-action masking.
#
# `profile` sets the sizes (`smoke`: seconds, `cpu`: the tiny preset on a laptop CPU, `full`:
# SmolVLM2-500M on a GPU, the blog's settings); `seeds` trains every arm that many times. Finished
# arms are read back from disk, so re-running continues an interrupted grid.
#
# The evidence below is computed from the run's JSON: the table gives every success rate with its
# 95% interval, next to three references measured on the same episodes (the scripted expert,
# random actions, holding still), and says for each comparison the blog makes whether this run
# agrees; then each arm's training loss and checkpoint curve, and one episode of each arm.

# %% tags=["parameters"]
# Parameters: `vla0-smol recipes run` (papermill) sets them; in Jupyter edit them and run all.
# profile: "smoke" a tiny random-init model and a few steps (CI); "cpu" the tiny preset on a laptop
#   CPU; "full" SmolVLM2-500M and the real datasets on a GPU (the blog's settings).
# Wall time on 2 CPU cores: smoke 84 s; cpu ~60 min (3 training runs).
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
from vla0_smol.book.paths import results_dir
from vla0_smol.book.prose import ablation_reading
from vla0_smol.book.report import plot_ablation, pusht_table
from vla0_smol.pusht.profiles import pusht_profile

out_dir = results_dir(profile, out_dir)  # absolute, whatever folder the kernel started in
plots = Path(out_dir) / "plots"

arms = blog_grid("ablation_masking", base_lr=pusht_profile(profile).policy.get("optimizer_lr", 5e-5))
for arm in arms:
    print(arm.describe())

# %%
summary = run_grid("ablation_masking", arms, profile, seed=seed, seeds=seeds, results_dir=Path(out_dir).parent)
display(Markdown(pusht_table(summary)))

# %%
display(Image(filename=str(plot_ablation(summary, plots / "ablation_masking.png"))))

# %% [markdown]
# ## How each arm trained
#
# Left: the training loss `lerobot-train` logged (cross-entropy on the action tokens, log scale).
# Right: success and coverage of every saved checkpoint on the evaluation episodes, with 95%
# intervals; the star marks the checkpoint the table reports.

# %%
display(Image(filename=str(plot_training(summary, plots / "ablation_masking_training.png"))))

# %%
display(Image(filename=str(plot_rollouts(summary, plots / "ablation_masking_rollouts.png"))))
display(Markdown(ablation_reading(summary)))
