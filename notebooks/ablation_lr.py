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
# # Ablation: learning rate
#
# The blog trains SmolVLM2-500M on PushT for 30k steps at four peak learning rates and finds
# that the two smallest never learn (0% success) while 5e-5 works best. Here the same grid is
# run **relative to the profile's own learning rate** (x0.1, x0.2, x1, x2): at the `full` profile
# that is exactly 5e-6, 1e-5, 5e-5, 1e-4; the tiny preset trains from scratch and uses 1e-3 as its
# base. Every other setting follows the blog's ablation base: relative actions, no state tokens,
# no masking, vision encoder trained.
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
# Wall time on 2 CPU cores: smoke 108 s; cpu ~80 min (4 training runs).
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
from vla0_smol.book.report import plot_ablation, plot_lr_curve, pusht_table
from vla0_smol.pusht.profiles import pusht_profile

out_dir = results_dir(profile, out_dir)  # absolute, whatever folder the kernel started in
plots = Path(out_dir) / "plots"

arms = blog_grid("ablation_lr", base_lr=pusht_profile(profile).policy.get("optimizer_lr", 5e-5))
for arm in arms:
    print(arm.describe())

# %%
summary = run_grid("ablation_lr", arms, profile, seed=seed, seeds=seeds, results_dir=Path(out_dir).parent)
display(Markdown(pusht_table(summary)))

# %%
display(Image(filename=str(plot_ablation(summary, plots / "ablation_lr.png"))))
display(Image(filename=str(plot_lr_curve(summary, plots / "lr_curve.png"))))

# %% [markdown]
# ## How each arm trained
#
# Left: the training loss `lerobot-train` logged (cross-entropy on the action tokens, log scale).
# Right: success and coverage of every saved checkpoint on the evaluation episodes, with 95%
# intervals; the star marks the checkpoint the table reports.

# %%
display(Image(filename=str(plot_training(summary, plots / "ablation_lr_training.png"))))

# %%
display(Image(filename=str(plot_rollouts(summary, plots / "ablation_lr_rollouts.png"))))
display(Markdown(ablation_reading(summary)))
