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
# # Executing chunks: n steps ahead or temporal ensembling
#
# The policy predicts H future actions at once. Two ways to turn chunks into motion:
#
# * **n steps ahead** (`ChunkQueue`): execute the first n actions, then predict again
#   (the blog's PushT setting, H=10, n=5). Cheap: one prediction every n steps.
# * **temporal ensembling** (`TemporalEnsembler`, VLA-0 after ACT): predict at every step and
#   execute the weighted mean of all the predictions made for this step (up to H of them).
#
# Here both run on one demonstration, with noisy "predictions" (the true future plus noise that
# grows with the horizon), so the smoothing is visible without training anything.

# %% tags=["parameters"]
# Parameters: `vla0-smol recipes run` (papermill) sets them; in Jupyter edit them and run all.
# profile: "smoke" a tiny random-init model and a few steps (CI); "cpu" the tiny preset on a laptop
#   CPU; "full" SmolVLM2-500M and the real datasets on a GPU (the blog's settings).
# Wall time on 2 CPU cores: smoke 26 s; cpu 11 s.
# full: seconds.
profile = "smoke"  # only sizes change with it, never the code path
seed = 0  # seeds data generation, training and evaluation
out_dir = None  # JSON results and plots; None: results/<profile> at the repository root

# %%

import matplotlib.pyplot as plt
import numpy as np
import torch

from vla0_smol import ChunkQueue, TemporalEnsembler, ensemble_offline
from vla0_smol.book.paths import data_dir, results_dir
from vla0_smol.pusht.pipeline import pusht_dataset
from vla0_smol.pusht.profiles import pusht_profile
from vla0_smol.stats import load_columns

out_dir = results_dir(profile, out_dir)  # absolute, whatever folder the kernel started in

_, root = pusht_dataset(pusht_profile(profile), data_dir(), seed=seed)
cols = load_columns(root, ["action", "episode_index"])
traj = cols["action"][cols["episode_index"] == 0]  # (T, 2)
H, n, T = 10, 5, len(traj)
rng = np.random.default_rng(seed)
future = np.stack([traj[np.minimum(np.arange(t, t + H), T - 1)] for t in range(T)])  # (T, H, 2)
chunks = future + rng.normal(0, 1, future.shape) * (2 + 1.5 * np.arange(H))[None, :, None]

# %%
ens = TemporalEnsembler(H, batch_size=1, weighting="uniform")
temporal = np.stack([ens.update(torch.from_numpy(chunks[t][None]))[0].numpy() for t in range(T)])
queue = ChunkQueue(n, batch_size=1)
ahead = []
for t in range(T):
    need = queue.needs_prediction()
    ahead.append(queue.update(torch.from_numpy(chunks[t][None]), need)[0].numpy())
ahead = np.stack(ahead)
# the online ensembler is the plain weighted mean written out in `ensemble_offline`
assert np.allclose(temporal, ensemble_offline(chunks, "uniform"))

fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
for d, ax in enumerate(axes):
    ax.plot(traj[:, d], "k-", lw=2, label="demonstration")
    ax.plot(ahead[:, d], ".-", label=f"{n} steps ahead")
    ax.plot(temporal[:, d], ".-", label="temporal ensembling")
    ax.set(xlabel="step", ylabel=["target x (px)", "target y (px)"][d])
axes[0].legend(fontsize=8)
plt.tight_layout()
plt.show()
stats = {}
for name, x in [("n steps ahead", ahead), ("temporal", temporal)]:
    jump = np.abs(np.diff(x, axis=0)).mean()
    stats[name] = (np.abs(x - traj).mean(), jump)
    print(f"{name:14s} mean error {stats[name][0]:.2f} px, mean step-to-step jump {jump:.2f} px")
(e_a, j_a), (e_t, j_t) = stats["n steps ahead"], stats["temporal"]
print(
    f"\nExpected: averaging up to {H} predictions of each step shrinks independent noise, and n steps ahead "
    f"jumps where a new chunk starts. Observed: temporal ensembling's error is {e_t / e_a:.2f}x and its "
    f"step-to-step jump {j_t / j_a:.2f}x those of {n} steps ahead. The noise here is independent between "
    "predictions, the best case for averaging; a real policy's errors are correlated from one step to the next, "
    "so its gain is smaller (the blog found none on PushT, and one on LIBERO)."
)

# %% [markdown]
# ## Weightings
#
# Uniform (the blog authors' code), VLA-0's (newest 1.0, older 0.5) and exponential `w**age`.

# %%
errors = {}
for weighting, base in [("uniform", 0.5), ("vla0", 0.5), ("exp", 0.5), ("exp", 0.9)]:
    x = ensemble_offline(chunks, weighting, base)
    errors[f"{weighting} w={base}"] = np.abs(x - traj).mean()
    print(f"{weighting:8s} w={base}: mean error {errors[f'{weighting} w={base}']:.2f} px")
# the best weights for this noise: inverse variance, 1 / (2 + 1.5 age)^2
inv = 1 / (2 + 1.5 * np.arange(H)) ** 2
best = np.stack(
    [
        sum(inv[a] * chunks[t - a, a] for a in range(min(t, H - 1) + 1)) / inv[: min(t, H - 1) + 1].sum()
        for t in range(T)
    ]
)
winner = min(errors, key=errors.get)
print(
    f"\nExpected: the simulated noise grows with how far ahead a prediction was made (std 2 + 1.5 x age px), so "
    f"the weighting that trusts young predictions most should win; inverse-variance weights, the best any "
    f"weighting of these chunks can do, give {np.abs(best - traj).mean():.2f} px. Observed: {winner} is closest "
    f"({errors[winner]:.2f} px); uniform ({errors['uniform w=0.5']:.2f} px) lets the oldest, noisiest predictions "
    "count as much as the newest. A trained policy's errors also grow with the horizon, which is why VLA-0 and "
    "ACT weight recent predictions more; how much more is a setting to measure on the policy, not on this toy."
)
