"""Does ``torch.compile`` speed up the tiny policy's training step on the CPU? (issue #25)

Forward and backward of the ``cpu`` profile's policy (tiny preset, the demo's dataset, one
process's half-batch of 16, one thread) on 12 fixed batches, eager and then with the language
model compiled (inductor, ``dynamic=True``: batches differ in length), in one process. Each mode
runs twice over the batches; the median of the second pass (first two batches left out) counts.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/compile_probe.py
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch


def main() -> None:
    from train_step import profile_policy  # beside this script

    torch.set_num_threads(1)
    dataset, policy, pre = profile_policy("cpu", Path("data"))
    loader = iter(torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=True))
    batches = [pre(next(loader)) for _ in range(12)]

    def timed(tag: str) -> float:
        seconds = []
        for batch in batches:
            t = time.perf_counter()
            loss, _ = policy.forward(batch)
            loss.backward()
            policy.zero_grad(set_to_none=True)
            seconds.append(time.perf_counter() - t)
        print(f"{tag}: first batch {seconds[0]:.2f} s, median {statistics.median(seconds[2:]):.3f} s", flush=True)
        return statistics.median(seconds[2:])

    timed("eager (warm-up pass)")
    eager = timed("eager")
    text = policy.vlm.model
    text.text_model = torch.compile(text.text_model, dynamic=True)
    timed("compiled (first pass compiles)")
    compiled = timed("compiled")
    print(f"compiled vs eager: {eager / compiled:.3f}x")


if __name__ == "__main__":
    main()
