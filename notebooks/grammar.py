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
# # Grammar-constrained decoding
#
# A policy trained on a small dataset can still write the wrong number of integers, or one out
# of range, and one such chunk can ruin an episode. The grammar (xgrammar, compiled against the
# model's tokenizer) allows exactly `H x D` integers in `[0, num_bins - 1]`, single spaces, then
# the end-of-turn token. Greedy decoding then picks the best *allowed* token at every step.
#
# The starkest test: an **untrained** model. Without the grammar it writes anything; with it,
# every output parses.

# %% tags=["parameters"]
# Parameters: `vla0-smol recipes run` (papermill) sets them; in Jupyter edit them and run all.
# profile: "smoke" a tiny random-init model and a few steps (CI); "cpu" the tiny preset on a laptop
#   CPU; "full" SmolVLM2-500M and the real datasets on a GPU (the blog's settings).
# Wall time on 2 CPU cores: smoke 33 s; cpu 52 s.
# full: minutes on a GPU (SmolVLM2-500M weights from the HF cache).
profile = "smoke"  # only sizes change with it, never the code path
seed = 0  # seeds data generation, training and evaluation
out_dir = None  # JSON results and plots; None: results/<profile> at the repository root

# %%
import numpy as np
import torch

from vla0_smol import ActionTokenizer
from vla0_smol.book.paths import results_dir
from vla0_smol.grammar import action_ebnf
from vla0_smol.pusht.profiles import pusht_profile

out_dir = results_dir(profile, out_dir)  # absolute, whatever folder the kernel started in

print(action_ebnf(count=3, num_bins=512))
print(
    "\nRead: exactly 3 integers, each 0-511 written without leading zeros, one space between them and nothing "
    "else; the last alternatives spell out 500-511 digit by digit, which is how the grammar caps any bin count."
)

# %%
from vla0_smol.decoding import decode
from vla0_smol.prompt import collate
from vla0_smol.pusht.pipeline import pusht_policy

n_samples = {"smoke": 8, "cpu": 64, "full": 64}[profile]
torch.manual_seed(seed)
policy = pusht_policy(pusht_profile(profile).policy["vlm_model_name"]).eval()  # not fine-tuned: untrained
config = policy.config
tok = policy.processor.tokenizer
act_tok = ActionTokenizer(np.zeros(2), np.full(2, 512.0), config.num_bins)


def parses(text):
    try:
        act_tok.text_to_bins(text, config.chunk_size)
        return True
    except ValueError:
        return False


rng = np.random.default_rng(seed)
free_ok, constrained_ok = 0, 0
for i in range(n_samples):
    state = torch.tensor(rng.uniform(0, 512, (1, 2)), dtype=torch.float32)
    batch = {"observation.image": torch.rand(1, 3, 96, 96), "observation.state": state, "task": [config.default_task]}
    inputs = collate([policy.prompts.build(config.default_task, policy._state_bins(batch)[0])], policy.pad_id, "left")
    ids, mask, pixels = inputs["input_ids"], inputs["attention_mask"], policy._images(batch)
    with torch.no_grad():
        free = policy.vlm.generate(
            input_ids=ids,
            attention_mask=mask,
            pixel_values=pixels,
            max_new_tokens=81,
            do_sample=False,
            eos_token_id=policy.prompts.eot_id,
            pad_token_id=policy.pad_id,
        )
        constrained, _ = decode(policy.vlm, policy.grammar, ids, mask, pixels, method="hf")
    free_text = tok.decode(free[0, ids.shape[1] :], skip_special_tokens=True)
    constrained_text = tok.decode(constrained[0])
    free_ok += parses(free_text)
    constrained_ok += parses(constrained_text)
    if i < 3:
        # the whole constrained chunk; the free text cut, its unprintable characters shown as "·"
        cut = "".join(c if c.isprintable() else "·" for c in free_text[:70]) + ("..." if len(free_text) > 70 else "")
        print(f"free:        {cut!r}\nconstrained: {constrained_text!r}\n")
print(f"valid chunks without the grammar: {free_ok}/{n_samples}")
print(f"valid chunks with the grammar:    {constrained_ok}/{n_samples}")
assert constrained_ok == n_samples
print(
    f"\nExpected: an untrained model writes no valid chunk by itself, and every constrained output parses, by "
    f"construction. Observed: {free_ok} of {n_samples} without the grammar, {constrained_ok} of {n_samples} with it. "
    "The grammar guarantees the format, not the values: the constrained chunks are this untrained model's most "
    "probable allowed digits, not sensible actions. How often a trained model needs the grammar is not measured here."
)
