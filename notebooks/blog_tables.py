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
# # The blog's tables, regenerated
#
# Reads every `results/<profile>/<recipe>.json` written by the other recipes and renders the
# blog's tables with its published numbers side by side (the PushT ablations, and LIBERO from
# `libero.json`), plus a bar chart per ablation and the learning-rate curve. Nothing here is
# typed by hand: re-run the recipes and this page changes. The profile is named in every table;
# `smoke` and `cpu` numbers are the tiny preset's.
#
# The page opens with one table of the blog's claims. Each carries **the blog's own 95% interval**:
# the blog scores 64 PushT episodes per arm, and a difference between two rates measured on 64
# episodes each is uncertain by 11 to 17 points either way (Newcombe's interval, as the ablation
# chapters compute it for this run). Beside it, this run's rates and difference on the same arms,
# and a verdict on both: whether the blog's difference is out of noise, and whether this run can
# tell the arms apart. At `smoke` (2 episodes per arm) it never can: an interval over 2 episodes
# spans most of 0-100%, which is the point of showing it.

# %% tags=["parameters"]
# Parameters: `vla0-smol recipes run` (papermill) sets them; in Jupyter edit them and run all.
# profile: "smoke" a tiny random-init model and a few steps (CI); "cpu" the tiny preset on a laptop
#   CPU; "full" SmolVLM2-500M and the real datasets on a GPU (the blog's settings).
# Wall time on 2 CPU cores: smoke 34 s; cpu 12 s.
# full: seconds.
profile = "smoke"  # only sizes change with it, never the code path
seed = 0  # seeds data generation, training and evaluation
out_dir = None  # JSON results and plots; None: results/<profile> at the repository root

# %%
import json
from pathlib import Path

from IPython.display import Image, Markdown, display

from vla0_smol.book.paths import results_dir
from vla0_smol.book.prose import charts_reading
from vla0_smol.book.report import BLOG_PUSHT, TITLES, plot_ablation, plot_lr_curve, render_blog_tables

out_dir = results_dir(profile, out_dir)  # absolute, whatever folder the kernel started in

out = Path(out_dir)
tables = render_blog_tables(out)
(out / "tables.md").write_text(tables)
display(Markdown(tables))

# %% [markdown]
# ## The ablations as charts
#
# One chart per ablation: each arm's success at its best checkpoint (with its 95% Wilson interval)
# and mean max coverage, then the reference controllers (hatched); the learning-rate ablation also
# as a curve over the rate. The blog's numbers are in the tables above. The reading after the
# charts says which differences this run can resolve.

# %%
summaries = {}
for recipe in BLOG_PUSHT:
    path = out / f"{recipe}.json"
    if not path.exists():
        continue
    summaries[recipe] = summary = json.loads(path.read_text())
    display(Image(filename=str(plot_ablation(summary, out / "plots" / f"{recipe}.png"))))
    if recipe == "ablation_lr":
        display(Image(filename=str(plot_lr_curve(summary, out / "plots" / "lr_curve.png"))))
display(Markdown(charts_reading(summaries, TITLES)))
