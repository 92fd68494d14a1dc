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
# # Quickstart: a VLA-0 policy on PushT, end to end
#
# Three steps, each one library call:
#
# 1. **Demonstrations.** At the `smoke` and `cpu` profiles a scripted expert pushes the T onto
#    its target in `gym-pusht` and its episodes are written as a LeRobotDataset; at `full`, the
#    hub's `lerobot/pusht` is used.
# 2. **Training** with LeRobot's own `lerobot-train` and the `vla0_smol` policy plugin.
# 3. **Evaluation**: seeded episodes, batched grammar-constrained decoding, success rate, and a
#    rollout to watch.
#
# The policy has the switches of the blog's final PushT recipe (state tokens, relative actions,
# whole-action masking, 10-action chunks executed 5 at a time) on this profile's model and
# optimiser: at `smoke` and `cpu` the tiny preset, trained from scratch at its own learning rate,
# so the run shows the pipeline, not the blog's recipe (the sentence under the settings says
# which). Only `full` trains SmolVLM2-500M with the blog's settings.
#
# With `checkpoint` set (a folder or a hub id of a `vla0_smol` checkpoint, or of the authors' own
# LeRobot policy `vla0`, converted once into `<out_dir>/checkpoints/`), steps 1 and 2 are skipped
# and that checkpoint is evaluated.

# %% tags=["parameters"]
# Parameters: `vla0-smol recipes run` (papermill) sets them; in Jupyter edit them and run all.
# profile: "smoke" a tiny random-init model and a few steps (CI); "cpu" the tiny preset on a laptop
#   CPU; "full" SmolVLM2-500M and the real datasets on a GPU (the blog's settings).
# Wall time on 2 CPU cores: smoke 65 s; cpu 12-22 min (the `make demo` run).
# full: GPU, hours (the blog's PushT training).
profile = "smoke"  # only sizes change with it, never the code path
seed = 0  # seeds data generation, training and evaluation
out_dir = None  # JSON results and plots; None: results/<profile> at the repository root
checkpoint = ""  # a folder or hub id (vla0_smol or the authors' vla0) to evaluate; empty: train

# %%
from pathlib import Path

from IPython.display import Markdown, Video, display

from vla0_smol.book.ablation import BLOG_FINAL, run_references
from vla0_smol.book.evidence import reference_sentence, wilson_interval
from vla0_smol.book.paths import data_dir, results_dir, shown
from vla0_smol.book.prose import recipe_sentence, settings_table
from vla0_smol.convert import resolve_checkpoint
from vla0_smol.pusht.pipeline import evaluate_checkpoint, pusht_dataset, run_dir_for, train_pusht
from vla0_smol.pusht.profiles import pusht_profile

out_dir = results_dir(profile, out_dir)  # absolute, whatever folder the kernel started in

prof = pusht_profile(profile).with_policy(**BLOG_FINAL)
display(Markdown(settings_table(prof.to_dict(), f"the `{profile}` profile's PushT settings")))
display(Markdown(recipe_sentence(prof.policy)))

# %% [markdown]
# ## 1. Demonstrations

# %%
if not checkpoint:
    repo_id, root = pusht_dataset(prof, data_dir(), seed=seed)
    print(f"dataset {repo_id} in {shown(root)}")

# %% [markdown]
# ## 2. Training (LeRobot's loop; the run folder resumes if interrupted)

# %%
if checkpoint:
    checkpoint = resolve_checkpoint(checkpoint, Path(out_dir) / "checkpoints")  # no training
else:
    checkpoint = train_pusht(prof, run_dir_for(prof, Path(out_dir), seed), (repo_id, root), seed=seed)
print(shown(checkpoint))

# %% [markdown]
# ## 3. Evaluation
#
# The policy runs on seeded episodes; on the same episodes three reference controllers give the
# scale (measured once per profile and shared with the ablation chapters): the scripted expert
# (what a good policy reaches), random actions and holding still (the agent never moves). Coverage
# is how much of the target the T covers, at its best moment of the episode; an episode succeeds
# above 95%.

# %%
result = evaluate_checkpoint(checkpoint, prof, seed=10_000 + seed, video_dir=Path(out_dir) / "quickstart_videos")
print(
    f"success {100 * result.success_rate:.1f}%  mean max coverage {result.mean_max_coverage:.3f}  "
    f"({len(result.episodes)} episodes, profile {profile})"
)
display(Video(result.videos[0], embed=True, width=320))
refs = run_references(profile, [seed], Path(out_dir).parent, progress=False)
n = len(result.episodes)
lo, hi = wilson_interval(round(result.success_rate * n), n)
row = {"arm": "this policy", "success_rate": result.success_rate, "n_episodes": n}
row["mean_max_coverage"] = result.mean_max_coverage
table = ["| controller | success (95% interval) | mean max coverage |", "|---|---|---|"]
rate = f"{100 * result.success_rate:.1f}% ({100 * lo:.0f}-{100 * hi:.0f})"
table.append(f"| this policy | {rate} | {result.mean_max_coverage:.3f} |")
for r in refs:
    rlo, rhi = wilson_interval(r["successes"], r["n_episodes"])
    table.append(
        f"| *{r['reference']}* | {100 * r['success_rate']:.1f}% ({100 * rlo:.0f}-{100 * rhi:.0f}) "
        f"| {r['mean_max_coverage']:.3f} |"
    )
display(Markdown("\n".join(table)))
display(Markdown(reference_sentence({"arms": [row], "references": refs})))
