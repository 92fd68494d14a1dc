"""Timing tools of ``train_step.py``: phases of a LeRobot training step, FLOPs, the GEMM peak, the machine.

:class:`Phases` wraps, for the length of a run, the functions LeRobot's loop calls (nothing in the
project changes): ``update_policy`` (the whole update), the policy's ``forward`` (its own
preprocessing: bins, prompt tokens, masking, crops) and ``_loss`` (the VLM's forward pass and the
loss), and accelerate's ``backward``. The optimizer's share is the rest of the update (clipping,
AdamW, scheduler). The data phase is LeRobot's own ``dataloading_s`` (loader and preprocessor).
"""

from __future__ import annotations

import os
import platform
import time

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

PHASES = ("data", "preprocessing", "forward", "backward", "optimizer")


class Phases:
    """Per-step phase times (seconds) of LeRobot's training loop in this process."""

    def __init__(self):
        self.rows: list[dict] = []
        self._undo: list = []

    def _wrap(self, owner, name: str, key: str | None = None, after=None):
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            out = original(*args, **kwargs)
            dt = time.perf_counter() - t0
            if key is not None and self.rows:
                self.rows[-1][key] = self.rows[-1].get(key, 0.0) + dt
            if after is not None:
                after(dt, args)
            return out

        setattr(owner, name, timed)
        self._undo.append((owner, name, original))

    def __enter__(self) -> Phases:
        import lerobot.scripts.lerobot_train as lerobot_train
        from accelerate import Accelerator

        from vla0_smol.modeling_vla0_smol import VLA0SmolPolicy

        original_update = lerobot_train.update_policy

        def update_policy(train_metrics, *args, **kwargs):
            self.rows.append({"data": float(train_metrics.dataloading_s.val)})
            t0 = time.perf_counter()
            out = original_update(train_metrics, *args, **kwargs)
            row = self.rows[-1]
            row["update"] = time.perf_counter() - t0
            row["preprocessing"] = row.pop("policy_forward", 0.0) - row.get("forward", 0.0)
            row["optimizer"] = row["update"] - row.get("forward", 0.0) - row["preprocessing"] - row.get("backward", 0.0)
            return out

        lerobot_train.update_policy = update_policy
        self._undo.append((lerobot_train, "update_policy", original_update))
        self._wrap(VLA0SmolPolicy, "forward", "policy_forward")
        self._wrap(VLA0SmolPolicy, "_loss", "forward")
        self._wrap(Accelerator, "backward", "backward")
        return self

    def __exit__(self, *exc) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)


def _attention_shapes(q, k, v):
    """Shapes for torch's SDPA FLOP formulas, with grouped key/value heads expanded to the query's."""
    b, h, sq, d = q
    return (b, h, sq, d), (b, h, k[2], k[3]), (b, h, v[2], v[3])


def _sdpa_forward(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(*_attention_shapes(query, key, value))


def _sdpa_backward(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
    q, k, v = _attention_shapes(query, key, value)
    return sdpa_backward_flop_count(tuple(grad_out), q, k, v)


def count_flops() -> FlopCounterMode:
    """A ``FlopCounterMode`` that also counts the CPU's fused attention (torch 2.11 leaves it out)."""
    aten = torch.ops.aten
    custom = {}
    if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu"):
        custom[aten._scaled_dot_product_flash_attention_for_cpu] = _sdpa_forward
        custom[aten._scaled_dot_product_flash_attention_for_cpu_backward] = _sdpa_backward
    return FlopCounterMode(display=False, custom_mapping=custom)


def gemm_peak(threads: int, n: int = 2048, repeats: int = 5) -> float:
    """Best fp32 ``n x n x n`` matrix product throughput with ``threads`` torch threads, GFLOP/s."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t0)
        return 2 * n**3 / best / 1e9
    finally:
        torch.set_num_threads(before)


def machine() -> dict:
    """The machine and its load right now."""
    model = platform.processor() or platform.machine()
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    flags = line
                    break
    except OSError:
        pass
    return {
        "cpu": model,
        "nproc": os.cpu_count(),
        "avx2": " avx2" in flags,
        "avx512f": " avx512f" in flags,
        "avx512_bf16": " avx512_bf16" in flags,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "time_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }
