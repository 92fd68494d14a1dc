"""What each way of executing chunks costs: decode calls and decoding time per episode.

With n steps ahead (:class:`~vla0_smol.ensemble.ChunkQueue`) the policy decodes a chunk, runs
``n_action_steps`` of its actions and decodes again: ``ceil(steps / n)`` decodes per episode.
Temporal ensembling (:class:`~vla0_smol.ensemble.TemporalEnsembler`) decodes a chunk at every
step: ``steps`` decodes. The blog kept 5 steps ahead for PushT because ensembling did not raise
its success rate there and costs more inference; this module measures that cost on real episodes:
the same policy, the same seeded episodes, one environment (so that one decode is one
observation, as on a robot), each mode counted and timed through the policy's own
``select_action``.

* :func:`expected_decode_calls`: the counts above.
* :func:`measure_decode_cost`: per mode and episode: steps, decode calls, seconds spent decoding,
  forward passes of the model.
* :func:`decode_sentence`, :func:`plot_decode_cost`: one sentence and a bar chart.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

# The two arms of the blog's comparison, as inference fields of the config.
MODES = {
    "5 steps ahead": {"execution": "chunk", "n_action_steps": 5},
    "temporal ensembling": {"execution": "temporal"},
}


def expected_decode_calls(steps: int, execution: str, n_action_steps: int) -> int:
    """Decodes in an episode of ``steps`` control steps: ``ceil(steps / n)`` for chunks, ``steps`` ensembled."""
    if execution == "chunk":
        return math.ceil(steps / n_action_steps)
    if execution == "temporal":
        return steps
    raise ValueError(f"execution must be 'chunk' or 'temporal', got {execution!r}")


class _DecodeCounter:
    """A controller that counts and times its policy's chunk predictions, per episode (one environment)."""

    def __init__(self, controller):
        self.controller, self.episodes = controller, []
        policy = controller.policy
        self._real = policy.predict_action_chunk

        def timed(batch, **kwargs):
            t0 = time.perf_counter()
            out = self._real(batch, **kwargs)
            ep = self.episodes[-1]
            ep["decode_calls"] += 1
            ep["decode_seconds"] += time.perf_counter() - t0
            stats = getattr(policy, "last_decode", None)
            ep["forward_passes"] += stats.forward_passes if stats is not None else 0
            return out

        policy.predict_action_chunk = timed  # select_action looks it up on the instance

    def reset(self, env_ids):
        self.episodes.append({"decode_calls": 0, "decode_seconds": 0.0, "forward_passes": 0})
        self.controller.reset(env_ids)

    def act(self, obs, infos):
        return self.controller.act(obs, infos)

    def close(self):
        del self.controller.policy.predict_action_chunk  # the class's method again


def measure_decode_cost(
    make_controller: Callable[[dict], object],
    modes: dict[str, dict] | None = None,
    n_episodes: int = 4,
    seed: int = 0,
    max_steps: int = 300,
) -> dict:
    """Run every mode on the same seeded PushT episodes, one environment, and count its decodes.

    Args:
        make_controller: inference fields (one entry of ``modes``) -> a
            :class:`~vla0_smol.pusht.evaluation.PolicyController` of the policy under test.
        modes: name -> inference fields (default :data:`MODES`).
        n_episodes: episodes per mode (seeds ``seed .. seed + n_episodes - 1``).
        seed: first episode seed.
        max_steps: episode limit.

    Returns:
        ``{"modes": {name: {"inference": ..., "n_action_steps": n, "episodes": [{seed, steps,
        decode_calls, expected_calls, decode_seconds, forward_passes}]}}, ...}``.
    """
    from ..pusht.evaluation import evaluate_pusht

    out = {"n_episodes": n_episodes, "seed": seed, "max_steps": max_steps, "modes": {}}
    for name, fields in (modes or MODES).items():
        counter = _DecodeCounter(make_controller(fields))
        try:
            result = evaluate_pusht(counter, n_episodes, seed=seed, batch_size=1, max_steps=max_steps, progress=False)
        finally:
            counter.close()
        config = counter.controller.policy.config
        episodes = []
        for ep, counts in zip(result.episodes, counter.episodes):  # one environment: episodes in seed order
            expected = expected_decode_calls(ep.steps, config.execution, config.n_action_steps)
            episodes.append({"seed": ep.seed, "steps": ep.steps, **counts, "expected_calls": expected})
        out["modes"][name] = {
            "inference": fields,
            "execution": config.execution,
            "n_action_steps": config.n_action_steps,
            "episodes": episodes,
        }
    return out


def mode_summary(mode: dict) -> dict:
    """Means per episode and the median time of one decode."""
    eps = mode["episodes"]
    calls = np.array([e["decode_calls"] for e in eps])
    seconds = np.array([e["decode_seconds"] for e in eps])
    return {
        "steps": float(np.mean([e["steps"] for e in eps])),
        "calls": float(calls.mean()),
        "seconds": float(seconds.mean()),
        "ms_per_call": float(1000 * np.median(seconds / np.maximum(calls, 1))),
        "forward_passes_per_call": float(sum(e["forward_passes"] for e in eps) / max(calls.sum(), 1)),
    }


def decode_sentence(cost: dict) -> str:
    """One sentence comparing the modes' decodes and decoding time per episode."""
    names = list(cost["modes"])
    s = {n: mode_summary(cost["modes"][n]) for n in names}
    a, b = names[0], names[-1]
    n = cost["modes"][a]["n_action_steps"]
    return (
        f"On the same {cost['n_episodes']} episodes ({s[a]['steps']:.0f} steps on average), {a} decoded "
        f"{s[a]['calls']:.1f} times per episode (ceil(steps / {n})) and {b} {s[b]['calls']:.1f} times (once per step): "
        f"{s[b]['calls'] / s[a]['calls']:.1f}x as many decodes; at a median of {s[a]['ms_per_call']:.0f} ms and "
        f"{s[b]['ms_per_call']:.0f} ms per decode, decoding took {s[a]['seconds']:.2f} s and {s[b]['seconds']:.2f} s "
        f"per episode ({s[b]['seconds'] / s[a]['seconds']:.1f}x)."
    )


def plot_decode_cost(cost: dict, path: Path, title: str = "") -> Path:
    """Two bar charts: decode calls per episode (expected count marked) and seconds spent decoding."""
    from matplotlib.figure import Figure

    from .report import _save

    fig = Figure(figsize=(10, 3.6))
    calls_ax, time_ax = fig.subplots(1, 2)
    names = list(cost["modes"])
    for i, name in enumerate(names):
        mode, s = cost["modes"][name], mode_summary(cost["modes"][name])
        eps = mode["episodes"]
        jitter = np.linspace(-0.15, 0.15, len(eps)) if len(eps) > 1 else np.zeros(1)
        calls_ax.bar(i, s["calls"], color=f"C{i}", alpha=0.8)
        calls_ax.plot(i + jitter, [e["decode_calls"] for e in eps], "k.", ms=4)
        calls_ax.plot(i, np.mean([e["expected_calls"] for e in eps]), "_", color="k", ms=30, mew=2)
        top = max(s["calls"], max(e["decode_calls"] for e in eps))
        calls_ax.text(i, top * 1.03, f"{s['calls']:.1f}", ha="center", va="bottom", fontsize=8)
        time_ax.bar(i, s["seconds"], color=f"C{i}", alpha=0.8)
        time_ax.plot(i + jitter, [e["decode_seconds"] for e in eps], "k.", ms=4)
        top = max(s["seconds"], max(e["decode_seconds"] for e in eps))
        time_ax.text(
            i, top * 1.03, f"{s['seconds']:.2f} s\n{s['ms_per_call']:.0f} ms / decode\n"
            f"{s['forward_passes_per_call']:.1f} forward passes / decode", ha="center", va="bottom", fontsize=7,
        )  # fmt: skip
    for ax in (calls_ax, time_ax):
        ax.set_xticks(range(len(names)), names)
        ax.grid(alpha=0.3, axis="y")
        ax.margins(y=0.3)
    calls_ax.set(ylabel="decodes per episode", title="decode calls (dots: episodes; line: ceil(steps / n) or steps)")
    time_ax.set(ylabel="seconds decoding per episode", title="decoding time per episode (dots: episodes)")
    fig.suptitle(title or "cost of executing chunks", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
