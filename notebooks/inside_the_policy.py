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
# # Inside the policy: one observation, one chunk, one episode
#
# **At the `smoke` and `cpu` profiles the model is the tiny preset** (a SmolVLM of a few million
# parameters, trained here from random weights: 6 steps at `smoke`), so every probability,
# attention weight and acceptance rate below is the tiny model's, not SmolVLM2-500M's. At
# `smoke` the figures show the machinery working, not a skill.
#
# The earlier chapters build the pieces: `action_as_text` (bins and the prompt), `grammar`
# (constrained decoding), `ensembling` (how chunks are executed), `quickstart` (training and
# evaluation). This one opens a trained checkpoint and follows it through one PushT frame:
#
# 1. the frame as the vision encoder receives it, and the prompt it reads;
# 2. the integers it writes, token by token: each token's probability, how many tokens the
#    grammar allowed there, and the runners-up;
# 3. the chunk drawn as a path of agent targets on the frame;
# 4. where the positions that choose the action tokens attend in the image;
# 5. over one episode, what the fast decoder's drafts save against plain grammar decoding.
#
# The checkpoint is the `quickstart` chapter's (the profile's final PushT recipe), trained here if
# that run is not on disk yet and reused otherwise. Set `checkpoint` to open another PushT one.

# %% tags=["parameters"]
# Parameters: `vla0-smol recipes run` (papermill) sets them; in Jupyter edit them and run all.
# profile: "smoke" a tiny random-init model and a few steps (CI); "cpu" the tiny preset on a laptop
#   CPU; "full" SmolVLM2-500M and the real datasets on a GPU (the blog's settings).
# Wall time on 2 CPU cores: smoke 25-41 s with quickstart's run on disk; cpu: quickstart's training
#   (12-22 min) if it has not run, then one 300-step episode decoded twice (not timed yet).
# full: minutes on a GPU once the PushT run exists (the blog's training otherwise).
profile = "smoke"  # only sizes change with it, never the code path
seed = 0  # seeds data generation, training and the evaluation episode (10000 + seed)
out_dir = None  # JSON results and plots; None: results/<profile> at the repository root
checkpoint = ""  # a PushT checkpoint folder or hub id (vla0_smol or the authors' vla0); empty: quickstart's

# %%
import json
from pathlib import Path

import numpy as np
from IPython.display import Image, Markdown, display

from vla0_smol.book import anatomy
from vla0_smol.book import anatomy_figures as figs
from vla0_smol.book.ablation import BLOG_FINAL
from vla0_smol.book.paths import data_dir, results_dir, shown
from vla0_smol.book.prose import attention_reading, drafts_reading, off_world, token_reading
from vla0_smol.convert import resolve_checkpoint
from vla0_smol.pusht.evaluation import PolicyController, make_pusht_env
from vla0_smol.pusht.pipeline import pusht_dataset, run_dir_for, train_pusht
from vla0_smol.pusht.profiles import pusht_profile
from vla0_smol.results import save_json

out_dir = results_dir(profile, out_dir)  # absolute, whatever folder the kernel started in
plots = Path(out_dir) / "plots" / "inside_the_policy"
prof = pusht_profile(profile).with_policy(**BLOG_FINAL)  # quickstart's settings: its run is reused

if checkpoint:
    checkpoint = resolve_checkpoint(checkpoint, Path(out_dir) / "checkpoints")
else:  # quickstart's run folder: returns at once when it is already trained
    checkpoint = train_pusht(prof, run_dir_for(prof, Path(out_dir), seed), pusht_dataset(prof, data_dir(), seed=seed))
controller = PolicyController.from_checkpoint(checkpoint, device=prof.device)
policy, config = controller.policy, controller.policy.config
n_params = sum(p.numel() for p in policy.vlm.parameters())
print(f"{shown(checkpoint)}\n{config.vlm_model_name}: {n_params / 1e6:.1f} M parameters, profile {profile}")

# %% [markdown]
# ## 1. What the policy sees and reads
#
# The first frame of evaluation episode `10000 + seed`. The environment renders 96 x 96 pixels;
# the policy cuts the centre crop it was trained with (84 x 84 for PushT) and resizes it to the
# side the vision encoder takes, then normalises it. The right image is that input turned back
# into colours.

# %%
env = make_pusht_env(prof.eval_max_steps)
obs, _ = env.reset(seed=10_000 + seed)
env.close()
inputs = anatomy.read_observation(controller, obs)
view = inputs.image(policy)
display(Image(filename=str(figs.plot_view(obs["pixels"], view, config.crop_shape, plots / "view.png"))))

# %% [markdown]
# The prompt, with the run of image placeholders collapsed: each `<image>` position receives one
# output vector of the vision encoder and connector. The state is the agent's position, binned
# like the actions; the assistant's answer starts after the last token.

# %%
counts = anatomy.prompt_summary(policy, inputs)
print(anatomy.collapse_image_tokens(inputs.text, policy.processor.image_token))
print(
    f"\n{counts['tokens']} prompt tokens: {counts['image_tokens']} image placeholders, {counts['text_tokens']} text"
    f"\nagent at {obs['agent_pos'].round(1)} (world units, 512 x 512)"
)

# %% [markdown]
# ## 2. What it writes, token by token
#
# Greedy decoding under the grammar, one forward pass per token, keeping what each step saw:
# `p(token)` is the model's own probability of the token it wrote (softmax over the whole
# vocabulary), `allowed` the number of tokens the grammar permitted at that position (10 digits at
# the start of an integer, 1 where a separator or the end is forced), `p(allowed set)` how much of
# the model's probability fell on those. The loop is the library's decoding written out: its
# tokens are asserted equal to `decode(..., method="hf")`.

# %%
steps = anatomy.decode_steps(policy, inputs)
tokens = [s.token for s in steps[:-1]]  # the end-of-turn token closes the chunk
assert tokens == anatomy.decode_reference(policy, inputs), "the step-by-step loop left the library's decoding"
text = policy.processor.tokenizer.decode(tokens)
print(f"{len(steps)} tokens (end of turn included): {text!r}")
dim, horizon = config.action_dim, config.chunk_size
display(Markdown(figs.token_table(steps, dim, actions=2)))

# %%
title = f"{len(steps)} tokens, mean p(token) {np.mean([s.prob for s in steps]):.3f} ({profile} profile)"
display(Image(filename=str(figs.plot_tokens(steps, dim, horizon, plots / "tokens.png", title))))
vocab = len(policy.processor.tokenizer)
display(Markdown(token_reading([s.prob for s in steps], [s.allowed_mass for s in steps], vocab)))

# %% [markdown]
# ## 3. The chunk as a path
#
# The integers become bins, the bins become relative actions, and the agent's position is added
# back: PushT's actions are targets for the agent in the 512 x 512 world, which the 96 px frame
# shows at 96/512 scale. The policy executes the first `n_action_steps` targets, then predicts
# again; the dotted rest of the chunk is replaced before it runs.

# %%
policy.reset()
chunk = policy.predict_action_chunk(inputs.batch, decoder="hf")[0].numpy()  # (H, 2) world units
assert policy.last_decode.tokens == [len(steps)], "predict_action_chunk decoded another chunk"
executed = config.n_action_steps
print("targets (x, y):", np.round(chunk.astype(float), 1).tolist())
fig_path = figs.plot_path(
    obs["pixels"],
    obs["agent_pos"],
    chunk,
    executed,
    plots / "path.png",
    crop=config.crop_shape,
    title=f"chunk of {horizon} targets, first {executed} executed",
)
display(Image(filename=str(fig_path)))
display(Markdown(off_world(chunk)))

# %% [markdown]
# ## 4. Where the action tokens look
#
# One more forward pass over the prompt and the chunk, with eager attention so the weights come
# back. For each action token, the attention row of the position that chose it (the position just
# before it), averaged over heads; each row sums to 1 over every earlier position. The heat map is
# the mean over layers and action tokens of the weight on each image token, drawn where that token
# sits: the connector's pixel shuffle gives each image token one square block of vision patches,
# row by row (checked below against the connector itself). The bars compare each layer's total
# weight on the image with what attending uniformly to every visible position would give.

# %%
att = anatomy.action_attention(policy, inputs, tokens)
assert np.allclose(att.weights.sum(-1), 1, atol=1e-4), "attention rows must sum to 1 over the keys"
g = att.grid
cells = anatomy.image_token_cells(policy)  # (g * g, 2): the block of vision patches of each image token
assert (cells == [(k // g, k % g) for k in range(g * g)]).all(), "image token k holds block (k // g, k % g)"
share = att.image_share()
print(f"{len(tokens)} action tokens x {att.weights.shape[2]} positions, {att.weights.shape[0]} layers")
print(f"share on the {len(att.image_positions)} image tokens per layer: {np.round(share, 3).tolist()}")
print(f"uniform attention would give {att.uniform_share():.3f}")
display(Image(filename=str(figs.plot_attention(view, att, plots / "attention.png"))))
heat = att.image_map()
display(Markdown(attention_reading(heat / heat.mean(), share, att.uniform_share())))

# %% [markdown]
# ## 5. The fast decoder over one episode
#
# The policy's default decoder feeds the previous chunk, shifted by the steps executed since, as a
# free draft: the draft tokens that greedy decoding would have written anyway are kept in one
# forward pass, the rest are rejected (dropped from attention), and tokens the grammar forces are
# appended without a pass. Here episode `10000 + seed` runs with it, and every chunk is decoded a
# second time with `generate()` and the grammar on the same inputs: the two chunks must be equal.
# Left: where each output token came from (a pass decides one token after its accepted draft), and
# the rejected draft tokens below zero. Right: forward passes per chunk of both decoders.

# %%
calls, episode = anatomy.trace_episode(controller, seed=10_000 + seed, max_steps=prof.eval_max_steps)
assert all(c.same for c in calls), "the fast decoder and generate() disagreed"
assert all(c.accepted + c.rejected == c.proposed and c.accepted + c.forced + c.fast_passes == c.tokens for c in calls)
totals = anatomy.draft_totals(calls)
t = totals
print(f"{t['decode_calls']} decode calls over {episode.env_steps} steps")
print(f"draft tokens: {t['proposed']} proposed, {t['accepted']} accepted ({100 * t['acceptance_rate']:.0f}%), "
      f"{t['rejected']} rejected; {t['forced']} tokens forced by the grammar")  # fmt: skip
print(
    f"forward passes: fast {t['fast_passes']}, generate() {t['hf_passes']} ({t['hf_passes'] / t['fast_passes']:.2f}x)"
)
print(f"decode time: fast {t['fast_seconds']:.2f} s, generate() {t['hf_seconds']:.2f} s (2 shared CPU cores: rough)")
display(Image(filename=str(figs.plot_drafts(calls, plots / "drafts.png"))))
display(Markdown(drafts_reading(totals)))

# %%
record = {
    "kind": "inside the policy",
    "profile": profile,
    "seed": seed,
    "checkpoint": shown(checkpoint),
    "vlm": config.vlm_model_name,
    "parameters": n_params,
    "episode_seed": 10_000 + seed,
    "prompt": counts,
    "tokens": [{"text": s.text, "p": s.prob, "allowed": s.allowed, "p_allowed": s.allowed_mass} for s in steps],
    "chunk": chunk.tolist(),
    "attention_image_share": share.tolist(),
    "attention_uniform_share": att.uniform_share(),
    "decode_calls": [vars(c) for c in calls],
    "draft_totals": totals,
    "episode": episode.summary(),
    "config": json.loads(json.dumps(config.__dict__, default=str)),
}
print("saved", shown(save_json(record, Path(out_dir) / "inside_the_policy.json")))
