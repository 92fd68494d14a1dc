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
# # Actions as text
#
# VLA-0 changes nothing in the vision-language model: the action chunk is written as integers
# in the model's ordinary text output. This notebook follows one PushT sample from raw numbers
# to the token ids the model is trained on.
#
# 1. Each dimension's range `[min, max]` (from the dataset statistics) is cut into
#    `num_bins` equal bins (512 in the blog's code); a value becomes the index of its bin.
# 2. Bins are written as text, `"12 345 7 ..."`: H actions x D dimensions, row-major.
# 3. The prompt is SmolVLM's chat template with the image, the task, the state (also binned)
#    and, in training, the action text as the assistant's answer.

# %% tags=["parameters"]
# Parameters: `vla0-smol recipes run` (papermill) sets them; in Jupyter edit them and run all.
# profile: "smoke" a tiny random-init model and a few steps (CI); "cpu" the tiny preset on a laptop
#   CPU; "full" SmolVLM2-500M and the real datasets on a GPU (the blog's settings).
# Wall time on 2 CPU cores: smoke 29 s; cpu 12 s.
# full: seconds, once SmolVLM2-500M's processor is in the HF cache.
profile = "smoke"  # only sizes change with it, never the code path
seed = 0  # seeds data generation, training and evaluation
out_dir = None  # JSON results and plots; None: results/<profile> at the repository root

# %%
import html

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML, display

from vla0_smol import ActionTokenizer, BinTokenTable, PromptBuilder
from vla0_smol.backbone import load_processor
from vla0_smol.book.paths import data_dir, results_dir
from vla0_smol.pusht.pipeline import pusht_dataset
from vla0_smol.pusht.profiles import pusht_profile
from vla0_smol.stats import load_columns

out_dir = results_dir(profile, out_dir)  # absolute, whatever folder the kernel started in

repo_id, root = pusht_dataset(pusht_profile(profile), data_dir(), seed=seed)
cols = load_columns(root, ["action", "observation.state", "episode_index"])
actions, states = cols["action"], cols["observation.state"]
print(f"{len(actions)} frames; action range {actions.min(0)} .. {actions.max(0)}")

# %% [markdown]
# ## Bins, written out in a few lines
#
# The library's `ActionTokenizer` does this (with input checks); the short version below is
# here to read, and is checked against it.


# %%
def to_bins_simple(x, low, high, num_bins):
    unit = (x - low) / (high - low)  # 0..1 inside the range
    return np.clip(np.floor(unit * num_bins), 0, num_bins - 1).astype(int)


low, high, num_bins = actions.min(0), actions.max(0), 512
tok = ActionTokenizer(low, high, num_bins)
assert np.array_equal(to_bins_simple(actions, low, high, num_bins), tok.to_bins(actions))

chunk = actions[:10]  # H=10 actions of D=2
bins = tok.to_bins(chunk)
text = tok.to_text(bins)
print("chunk (raw):", np.round(chunk[:3].astype(float), 1).tolist(), "...")
print("as text    :", text)
err = np.abs(tok.from_text(text, horizon=10) - chunk)
print(f"round-trip error: max {err.max():.3f} px, half a bin = {tok.bin_width.max() / 2:.3f} px")

# %% [markdown]
# ## Round-trip error against the number of bins
#
# Decoding returns bin centres, so the error is at most half a bin width.

# %%
ks = [16, 64, 256, 512, 1024]
errs = [
    np.abs(ActionTokenizer(low, high, k).from_bins(ActionTokenizer(low, high, k).to_bins(actions)) - actions).max()
    for k in ks
]
plt.figure(figsize=(5, 3))
plt.loglog(ks, errs, "o-", label="max round-trip error")
plt.loglog(ks, (high - low).max() / np.array(ks) / 2, "--", label="half a bin")
plt.xlabel("num_bins")
plt.ylabel("pixels")
plt.legend()
plt.grid(alpha=0.3)
plt.show()
ok = all(e <= h + 1e-6 for e, h in zip(errs, (high - low).max() / np.array(ks) / 2))
print(
    f"Every measured error is {'at most' if ok else 'NOT within'} half a bin; at the blog's 512 bins one bin is "
    f"{(high - low).max() / 512:.2f} px of PushT's 512 px workspace on the wider axis, so the text format costs "
    f"at most {(high - low).max() / 1024:.2f} px of precision: far below what a policy's own error will be."
)

# %% [markdown]
# ## The prompt, coloured by role
#
# Token ids come from cached pieces of the rendered chat template plus a bin -> token-id table:
# no string formatting and no tokenizer call per training sample. Only the action tokens and
# the end-of-turn token carry loss (green).

# %%
processor = load_processor(pusht_profile(profile).policy["vlm_model_name"])
table = BinTokenTable(processor.tokenizer, num_bins)
builder = PromptBuilder(processor, table, num_images=1, use_state=True, system_prompt=None, horizon=10, action_dim=2)
state_bins = ActionTokenizer(states.min(0), states.max(0), num_bins).to_bins(states[0])
sample = builder.build("Push the T-shaped block onto the T-shaped target.", state_bins, table.encode(bins).ids)
tokens = processor.tokenizer.convert_ids_to_tokens(sample.input_ids.tolist())
state_ids = set(table.encode(state_bins).ids.tolist())
colours = []
for i, (t, tid) in enumerate(zip(tokens, sample.input_ids.tolist())):
    if sample.labels[i] != -100:
        c = "#9be59b"  # loss
    elif tid == processor.image_token_id or "image" in t:
        c = "#c9d7ff"  # image placeholders
    elif i < sample.prompt_len and tid in state_ids and t.strip("Ġ").isdigit():
        c = "#ffe08a"  # state
    else:
        c = "#eeeeee"  # template and task
    colours.append(f'<span style="background:{c};margin:1px;padding:1px">{html.escape(t.replace("Ġ", "·"))}</span>')
legend = "blue: image, yellow: state, green: action + end of turn (loss), grey: template and task"
display(HTML(f"<p>{legend}</p><div style='font-family:monospace;line-height:2'>{''.join(colours)}</div>"))
kinds = {c: colours.count(c) for c in set(colours)}
n_loss = int((sample.labels != -100).sum())
n_image = sum(v for k, v in kinds.items() if "#c9d7ff" in k)
n_state = sum(v for k, v in kinds.items() if "#ffe08a" in k)
print(
    f"{len(tokens)} tokens: {n_loss} with loss (the {bins.size} action integers, their separators and the end of "
    f"turn), {n_image} for the image, {n_state} for the state, {len(tokens) - n_loss - n_image - n_state} of "
    f"template and task. The answer is {100 * n_loss / len(tokens):.0f}% of the sample: a training step's cost "
    "grows with the chunk's length and the digits per integer (set by the bin count) as well as with the prompt."
)
