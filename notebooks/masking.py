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
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from vla0_smol import BinTokenTable, MaskingConfig, mask_actions
from vla0_smol.backbone import load_processor
from vla0_smol.book.paths import results_dir
from vla0_smol.book.prose import masking_draw_reading, masking_example_sentence
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
masked, notes = {}, []
for name, cfg in configs.items():
    rng = np.random.default_rng(seed + 3)
    tried, (ids, labels) = 1, mask_actions(enc, enc.ids.clone(), cfg, mask_id, rng)
    while cfg.mode != "none" and not (labels == -100).any() and tried < 50:  # the first draw that masks
        tried, (ids, labels) = tried + 1, mask_actions(enc, enc.ids.clone(), cfg, mask_id, rng)
    masked[name] = (ids, labels)
    print(f"{name:24s} {tok.decode(ids)}")
    if cfg.mode != "none":
        notes.append(masking_example_sentence(name, int((labels == -100).sum()), len(labels), tried))
display(Markdown("\n".join(f"- {n}" for n in notes)))

# %% [markdown]
# ## The loss mask, drawn
#
# One row per scheme, one square per token of the action text (`·` is the space before an
# integer, `_` a mask): green squares carry loss, yellow ones do not. A whole-action mask replaces
# all the tokens of one integer by a single `_`, so that row is shorter.

# %%
fig, axes = plt.subplots(len(masked), 1, figsize=(13, 1.45 * len(masked)))
for ax, (name, (ids, labels)) in zip(axes, masked.items()):
    carries = (labels != -100).numpy()
    ax.imshow(carries[None], cmap="RdYlGn", vmin=-1.2, vmax=1.6, aspect="auto")
    for j, t in enumerate(tok.convert_ids_to_tokens(ids.tolist())):
        ax.text(j, 0, t.replace("Ġ", "·"), ha="center", va="center", fontsize=10, family="monospace")
    ax.set_yticks([])
    ax.set_xticks([])
    ax.set_title(f"{name}: {int((~carries).sum())} of {len(carries)} tokens without loss", fontsize=11, loc="left")
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
    none = 100 * np.mean(np.array(hidden) == 0)
    print(f"{name:14s} tokens out of the loss: mean {100 * np.mean(hidden):.1f}%; samples masking nothing {none:.0f}%")
    if name == "whole action":
        display(Markdown(masking_draw_reading(int(enc.value_index.max()) + 1, cfg.max_fraction, cfg.skip_prob, none)))

# %% [markdown]
# ## A masked chunk, and what the model predicts under the masks
#
# Chunks of the profile's demonstrations, written as the policy writes them and masked as the
# `character masking` arm of `ablation_masking` masks them in training (every sample masked here).
# The model reads the masked string. At every position it predicts the next token from what comes
# before it, so its prediction just before a mask is its completion of the hidden character (taken
# among the digits and the space), made without that character and without whatever earlier masks
# hid. The model is that arm's checkpoint once the chapter has run at this profile, else the
# profile's backbone, not fine-tuned; the line below says which. At `smoke` and `cpu` it is the
# tiny model trained for a few steps at most: the masks, the targets and the loss are the method's,
# the quality of the completions is the tiny model's.

# %%
from IPython.display import Image, display

from vla0_smol.book.masked_completion import (
    completion_accuracy,
    completion_policy,
    completion_sentence,
    dataset_batches,
    masked_completion,
    plot_completion,
)
from vla0_smol.book.paths import data_dir
from vla0_smol.book.prose import completion_reading
from vla0_smol.pusht.pipeline import pusht_dataset
from vla0_smol.results import save_json

policy, source, trained = completion_policy(profile, Path(out_dir).parent, data_dir(), seed=seed)
print("model:", source)
char_masking = MaskingConfig("char", policy.config.mask_max_fraction, 0.0)  # the arm's fraction, no sample skipped
repo_id, root = pusht_dataset(pusht_profile(profile), data_dir(), seed=seed)
batches = dataset_batches(repo_id, root, 8, policy.config.chunk_size)  # 8 frames spread over the demonstrations
rng = np.random.default_rng(seed)
completions = [masked_completion(policy, b, char_masking, rng) for b in batches]
plots = Path(out_dir) / "plots"
title = f"one masked chunk ({profile}): target (green: carries loss), what the model reads, its completion at each mask"
display(Image(filename=str(plot_completion(completions[0], plots / "masking_completion.png", title))))
accuracy = completion_accuracy(completions)
save_json({"model": source, **accuracy}, plots / "masking_completion.json")
print(completion_sentence(accuracy, choices=len(policy.table.digit_ids) + 1))
display(Markdown(completion_reading(accuracy, choices=len(policy.table.digit_ids) + 1, trained=trained)))
