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
# # Ablation: freeze the vision encoder?
#
# Freezing the vision encoder would make training cheaper, but its features were learned on
# natural images. The blog measures 25% success frozen against 57.8% trained. This recipe trains
# both arms from the same base (relative actions, no state, no masking). For the tiny preset the
# encoder starts from random weights, so freezing it leaves the policy random features to act
# from: if the tiny policy learnt PushT at all, freezing would cost more than in the blog, for a
# different reason. Whether this run can show any gap is for its references to say (below the
# table): at `smoke`, and at `cpu` where the tiny policy does not beat random actions, it cannot.
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
# Wall time on 2 CPU cores: smoke 71 s; cpu ~40 min (2 training runs).
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

arms = blog_grid("ablation_vision", base_lr=pusht_profile(profile).policy.get("optimizer_lr", 5e-5))
for arm in arms:
    print(arm.describe())

# %%
summary = run_grid("ablation_vision", arms, profile, seed=seed, seeds=seeds, results_dir=Path(out_dir).parent)
display(Markdown(pusht_table(summary)))

# %%
display(Image(filename=str(plot_ablation(summary, plots / "ablation_vision.png"))))

# %% [markdown]
# ## How each arm trained
#
# Left: the training loss `lerobot-train` logged (cross-entropy on the action tokens, log scale).
# Right: success and coverage of every saved checkpoint on the evaluation episodes, with 95%
# intervals; the star marks the checkpoint the table reports.

# %%
display(Image(filename=str(plot_training(summary, plots / "ablation_vision_training.png"))))

# %%
display(Image(filename=str(plot_rollouts(summary, plots / "ablation_vision_rollouts.png"))))
display(Markdown(ablation_reading(summary)))
