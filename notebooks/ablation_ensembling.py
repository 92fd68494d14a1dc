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
# # Ablation: temporal ensembling or n steps ahead
#
# One checkpoint (the blog's final PushT recipe: state tokens, relative actions, whole-action
# masking), two ways to execute its chunks: run 5 actions of each 10-action chunk and re-plan, or
# predict at every step and average every prediction made for the current step. The blog found
# no significant difference on PushT (and a clear one on LIBERO).
#
# `profile` sets the sizes (`smoke`: seconds, `cpu`: the tiny preset on a laptop CPU, `full`:
# SmolVLM2-500M on a GPU, the blog's settings); `seeds` trains every arm that many times. Finished
# arms are read back from disk, so re-running continues an interrupted grid.
#
# The evidence below is computed from the run's JSON: the table gives every success rate with its
# 95% interval, next to three references measured on the same episodes (the scripted expert,
# random actions, holding still), and says for each comparison the blog makes whether this run
# agrees; then what each mode costs in decodes and decoding time per episode, each arm's training
# loss and checkpoint curve, and one episode of each arm.

# %% tags=["parameters"]
# Parameters: `vla0-smol recipes run` (papermill) sets them; in Jupyter edit them and run all.
# profile: "smoke" a tiny random-init model and a few steps (CI); "cpu" the tiny preset on a laptop
#   CPU; "full" SmolVLM2-500M and the real datasets on a GPU (the blog's settings).
# Wall time on 2 CPU cores: smoke 79 s (15 s of it timing decodes); cpu 35 min (1 training run, 2 evaluations)
#   plus the decode timing (4 episodes per mode).
# full: GPU, hours (one SmolVLM2-500M training run per arm).
profile = "smoke"  # only sizes change with it, never the code path
seed = 0  # seeds data generation, training and evaluation
seeds = 1  # training seeds per arm (seed, seed + 1, ...): tables pool them and show each
out_dir = None  # JSON results and plots; None: results/<profile> at the repository root

# %%
from pathlib import Path

from IPython.display import Image, Markdown, display

from vla0_smol.book.ablation import blog_grid, run_grid
from vla0_smol.book.decode_cost import decode_sentence, measure_decode_cost, plot_decode_cost
from vla0_smol.book.figures import plot_rollouts, plot_training
from vla0_smol.book.paths import results_dir
from vla0_smol.book.prose import ablation_reading
from vla0_smol.book.report import plot_ablation, pusht_table
from vla0_smol.pusht.evaluation import PolicyController
from vla0_smol.pusht.profiles import pusht_profile
from vla0_smol.results import save_json

out_dir = results_dir(profile, out_dir)  # absolute, whatever folder the kernel started in
plots = Path(out_dir) / "plots"

arms = blog_grid("ablation_ensembling", base_lr=pusht_profile(profile).policy.get("optimizer_lr", 5e-5))
for arm in arms:
    print(arm.describe())

# %%
summary = run_grid("ablation_ensembling", arms, profile, seed=seed, seeds=seeds, results_dir=Path(out_dir).parent)
display(Markdown(pusht_table(summary)))

# %%
display(Image(filename=str(plot_ablation(summary, plots / "ablation_ensembling.png"))))

# %% [markdown]
# ## What each mode costs
#
# The blog kept 5 steps ahead for PushT because ensembling brought no significant gain there and
# needs more inference. That cost, measured here: the run's last checkpoint (both arms share its
# training) on the arms' first evaluation episodes, one environment at a time so that one decode
# is one observation, as on a robot, every decode counted and timed inside the policy's own
# `select_action`. Chunks are decoded ceil(steps / n_action_steps) times per episode, the ensemble
# once per step; the time of one decode depends on the backbone, the machine and its load.

# %%
prof = pusht_profile(profile)
checkpoint = summary["arms"][0]["per_seed"][0]["last"]["checkpoint"]
cost = measure_decode_cost(
    lambda fields: PolicyController.from_checkpoint(checkpoint, device=prof.device, **fields),
    {arm.name: arm.inference for arm in arms},
    n_episodes=min(prof.eval_episodes, 4),  # every step of an ensembled episode is a decode
    seed=summary["eval_seeds"][0][0],
    max_steps=prof.eval_max_steps,
)
save_json({"checkpoint": checkpoint, **cost}, plots / "ablation_ensembling_decode_cost.json")
title = f"decodes and decoding time per episode, one environment ({profile} profile, {summary['model']})"
display(Image(filename=str(plot_decode_cost(cost, plots / "ablation_ensembling_decode_cost.png", title))))
print(decode_sentence(cost))

# %% [markdown]
# ## How each arm trained
#
# Left: the training loss `lerobot-train` logged (cross-entropy on the action tokens, log scale).
# Right: success and coverage of every saved checkpoint on the evaluation episodes, with 95%
# intervals; the star marks the checkpoint the table reports.

# %%
display(Image(filename=str(plot_training(summary, plots / "ablation_ensembling_training.png"))))

# %%
display(Image(filename=str(plot_rollouts(summary, plots / "ablation_ensembling_rollouts.png"))))
display(Markdown(ablation_reading(summary)))
