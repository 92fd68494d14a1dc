"""Turning predicted chunks into one action per control step, per environment in a batch.

Two executors with one interface (``reset``, ``needs_prediction``, ``update``):

* :class:`TemporalEnsembler`: predict a chunk of H actions at *every* step and execute the
  weighted mean of all predictions made for the current step (up to H of them: the newest
  chunk's first action, the previous chunk's second, ...). This is VLA-0's inference
  (Goyal et al., 2025, Sec. III.C), itself after ACT's temporal ensembling (Zhao et al., 2023).
* :class:`ChunkQueue`: "n steps ahead": predict a chunk, execute its first ``n_action_steps``
  actions open loop, then predict again (the blog's PushT setting: H=10, n=5).

Weightings of the temporal ensemble (``weighting``):

* ``"uniform"``: plain mean over the available predictions (the blog authors' code).
* ``"vla0"``: the newest prediction weighs 1.0, every older one 0.5 (original VLA-0).
* ``"exp"``: weight ``w ** age`` (age 0 = newest); ``w < 1`` favours recent predictions.

Vectorised environments end episodes at different steps: ``reset(env_ids)`` clears only
those environments. Online use::

    ens = TemporalEnsembler(chunk_size=8, batch_size=num_envs)
    for step in range(T):
        chunks = policy.predict_action_chunk(obs)  # (B, H, D)
        action = ens.update(chunks)                # (B, D)
        obs, done = env.step(action)
        ens.reset(np.flatnonzero(done))

Offline (one trajectory of chunks already predicted): :func:`ensemble_offline`.
"""

from __future__ import annotations

import numpy as np
import torch

WEIGHTINGS = ("uniform", "vla0", "exp")


def _age_weights(weighting: str, horizon: int, exp_base: float) -> torch.Tensor:
    """``(H,)`` weight of a prediction made ``age`` steps ago, age 0 = newest."""
    age = torch.arange(horizon, dtype=torch.float64)
    if weighting == "uniform":
        return torch.ones(horizon, dtype=torch.float64)
    if weighting == "vla0":
        return torch.where(age == 0, 1.0, 0.5).to(torch.float64)
    if weighting == "exp":
        return torch.tensor(exp_base, dtype=torch.float64) ** age
    raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")


class TemporalEnsembler:
    """Temporal ensembling over every overlapping chunk, batched over environments.

    Args:
        chunk_size: H, actions per predicted chunk (the ensembling window).
        batch_size: number of environments.
        weighting: "uniform", "vla0" or "exp" (see the module docstring).
        exp_base: ``w`` of the "exp" weighting.
    """

    def __init__(self, chunk_size: int, batch_size: int = 1, weighting: str = "uniform", exp_base: float = 0.5):
        if chunk_size < 1 or batch_size < 1:
            raise ValueError("chunk_size and batch_size must be >= 1")
        if weighting == "exp" and not exp_base > 0:
            raise ValueError(f"exp_base must be > 0, got {exp_base}")
        self.chunk_size, self.batch_size = chunk_size, batch_size
        self.weights = _age_weights(weighting, chunk_size, exp_base)
        self._hist: torch.Tensor | None = None  # (B, H_age, H, D): chunk predicted `age` steps ago
        self._valid = torch.zeros(batch_size, chunk_size, dtype=torch.bool)  # (B, H_age)

    def reset(self, env_ids=None) -> None:
        """Forget the predictions of ``env_ids`` (all environments if None)."""
        if env_ids is None:
            self._valid.zero_()
        else:
            self._valid[torch.as_tensor(np.asarray(env_ids), dtype=torch.long)] = False

    def needs_prediction(self) -> np.ndarray:
        """``(B,)`` bool: every environment needs a new chunk at every step."""
        return np.ones(self.batch_size, dtype=bool)

    def update(self, chunks: torch.Tensor, mask=None) -> torch.Tensor:
        """Add this step's chunks ``(B, H, D)`` and return the actions to execute ``(B, D)``."""
        if chunks.ndim != 3 or chunks.shape[:2] != (self.batch_size, self.chunk_size):
            raise ValueError(f"chunks must be ({self.batch_size}, {self.chunk_size}, D), got {tuple(chunks.shape)}")
        if mask is not None and not np.all(mask):
            raise ValueError("TemporalEnsembler needs a new chunk for every environment at every step")
        if self._hist is None or self._hist.shape[-1] != chunks.shape[-1]:
            self._hist = torch.zeros(self.batch_size, self.chunk_size, self.chunk_size, chunks.shape[-1])
            self._hist = self._hist.to(dtype=torch.float64)
            self._valid.zero_()
        self._hist = torch.roll(self._hist, 1, dims=1)
        self._valid = torch.roll(self._valid, 1, dims=1)
        self._hist[:, 0] = chunks.detach().to("cpu", torch.float64)
        self._valid[:, 0] = True
        ages = torch.arange(self.chunk_size)
        current = self._hist[:, ages, ages]  # (B, H_age, D): element `age` of the chunk of that age
        w = self.weights[None, :] * self._valid  # (B, H_age)
        action = (current * w[..., None]).sum(1) / w.sum(1, keepdim=True)
        return action.to(chunks.dtype)


class ChunkQueue:
    """n-steps-ahead execution: run ``n_action_steps`` actions of each chunk, then re-plan.

    Args:
        n_action_steps: actions executed per predicted chunk (n <= H).
        batch_size: number of environments.
    """

    def __init__(self, n_action_steps: int, batch_size: int = 1):
        if n_action_steps < 1 or batch_size < 1:
            raise ValueError("n_action_steps and batch_size must be >= 1")
        self.n_action_steps, self.batch_size = n_action_steps, batch_size
        self._queue: torch.Tensor | None = None  # (B, n, D)
        self._left = np.zeros(batch_size, dtype=np.int64)  # actions left per env

    def reset(self, env_ids=None) -> None:
        if env_ids is None:
            self._left[:] = 0
        else:
            self._left[np.asarray(env_ids, dtype=np.int64)] = 0

    def needs_prediction(self) -> np.ndarray:
        """``(B,)`` bool: environments whose queue is empty."""
        return self._left == 0

    def update(self, chunks: torch.Tensor | None, mask=None) -> torch.Tensor:
        """Refill the queues of ``mask`` (default: the empty ones) and pop one action each.

        ``chunks`` is ``(B, H, D)``; rows of environments outside ``mask`` are ignored (they
        may be anything, e.g. zeros, when only a subset was decoded).
        """
        mask = self.needs_prediction() if mask is None else np.asarray(mask, dtype=bool)
        if mask.any():
            if chunks is None or chunks.shape[0] != self.batch_size or chunks.shape[1] < self.n_action_steps:
                raise ValueError(f"chunks must be ({self.batch_size}, >={self.n_action_steps}, D)")
            if self._queue is None or self._queue.shape[-1] != chunks.shape[-1]:
                self._queue = torch.zeros(self.batch_size, self.n_action_steps, chunks.shape[-1], dtype=chunks.dtype)
            idx = torch.from_numpy(np.flatnonzero(mask))
            self._queue[idx] = chunks[idx, : self.n_action_steps].detach().to("cpu", self._queue.dtype)
            self._left[mask] = self.n_action_steps
        if (self._left == 0).any():
            raise RuntimeError(f"no queued action for environments {np.flatnonzero(self._left == 0).tolist()}")
        pos = torch.from_numpy(self.n_action_steps - self._left)
        action = self._queue[torch.arange(self.batch_size), pos]
        self._left -= 1
        return action


def ensemble_offline(chunks, weighting: str = "uniform", exp_base: float = 0.5) -> np.ndarray:
    """Temporal ensemble of one trajectory, written as the plain weighted mean.

    Args:
        chunks: ``(T, H, D)``, the chunk predicted at each step t.
        weighting: "uniform", "vla0" or "exp".
        exp_base: ``w`` of the "exp" weighting.

    Returns:
        ``(T, D)``: at step t, ``sum_a w(a) * chunks[t - a, a] / sum_a w(a)`` over ages
        ``a = 0 .. min(t, H - 1)``.
    """
    chunks = np.asarray(chunks, dtype=np.float64)
    t_len, horizon, _ = chunks.shape
    w = _age_weights(weighting, horizon, exp_base).numpy()
    out = np.zeros((t_len, chunks.shape[2]))
    for t in range(t_len):
        ages = range(min(t, horizon - 1) + 1)
        out[t] = sum(w[a] * chunks[t - a, a] for a in ages) / sum(w[a] for a in ages)
    return out
