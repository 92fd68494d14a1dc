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
# # Masked action augmentation
#
# A language model is very good at finishing numbers from context; a policy should finish them
# from the image. Masking hides parts of the target from the model's *input* during training:
#
# * **character masking** (VLA-0): single characters of the action text are replaced;
# * **whole-action masking** (the blog): a whole integer is replaced by one mask token.
#
# Masked positions get no loss (label -100): the model is never asked to predict a mask, and the
# tokens after a mask must be predicted without seeing what it hid.

# %% tags=["parameters"]
# Parameters: `vla0-smol recipes run` (papermill) sets them; in Jupyter edit them and run all.
# profile: "smoke" a tiny random-init model and a few steps (CI); "cpu" the tiny preset on a laptop
#   CPU; "full" SmolVLM2-500M and the real datasets on a GPU (the blog's settings).
# Wall time on 2 CPU cores: smoke 28 s; cpu 12 s.
# full: seconds, once SmolVLM2-500M's processor is in the HF cache.
profile = "smoke"  # only sizes change with it, never the code path
seed = 0  # seeds data generation, training and evaluation
out_dir = None  # JSON results and plots; None: results/<profile> at the repository root

# %%
import matplotlib.pyplot as plt
import numpy as np

from vla0_smol import BinTokenTable, MaskingConfig, mask_actions
from vla0_smol.backbone import load_processor
from vla0_smol.book.paths import results_dir
from vla0_smol.pusht.profiles import pusht_profile

out_dir = results_dir(profile, out_dir)  # absolute, whatever folder the kernel started in

processor = load_processor(pusht_profile(profile).policy["vlm_model_name"])  # the profile's backbone
tok = processor.tokenizer
table = BinTokenTable(tok, 512)
mask_id = tok.encode("_", add_special_tokens=False)[0]
bins = np.random.default_rng(seed).integers(0, 512, (10, 2))
enc = table.encode(bins)

configs = {
    "none": MaskingConfig("none"),
    "character (max 0.4)": MaskingConfig("char", 0.4, 0.0),
    "whole action (max 0.15)": MaskingConfig("whole", 0.15, 0.0),
}
masked = {}
for name, cfg in configs.items():
    rng = np.random.default_rng(seed + 3)
    ids, labels = mask_actions(enc, enc.ids.clone(), cfg, mask_id, rng)
    masked[name] = (ids, labels)
    print(f"{name:24s} {tok.decode(ids)}")

# %% [markdown]
# ## The loss mask, drawn
#
# Each square is one token of the action text; dark squares carry loss.

# %%
fig, axes = plt.subplots(len(masked), 1, figsize=(12, 1.1 * len(masked)))
for ax, (name, (ids, labels)) in zip(axes, masked.items()):
    ax.imshow((labels != -100).numpy()[None], cmap="Greens", vmin=-0.3, vmax=1, aspect="auto")
    for j, t in enumerate(tok.convert_ids_to_tokens(ids.tolist())):
        ax.text(j, 0, t.replace("Ġ", "·"), ha="center", va="center", fontsize=7)
    ax.set_yticks([])
    ax.set_xticks([])
    ax.set_title(name, fontsize=9, loc="left")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## How much is masked, on average
#
# Per sample a fraction is drawn uniformly up to the maximum, and some samples are skipped
# (10% in the authors' code). Over many samples:

# %%
for name, cfg in [("character", MaskingConfig("char", 0.4, 0.1)), ("whole action", MaskingConfig("whole", 0.15, 0.1))]:
    rng = np.random.default_rng(seed)
    hidden = [
        (mask_actions(enc, enc.ids.clone(), cfg, mask_id, rng)[1] == -100).float().mean().item() for _ in range(2000)
    ]
    print(f"{name:14s} tokens out of the loss: mean {100 * np.mean(hidden):.1f}%")
