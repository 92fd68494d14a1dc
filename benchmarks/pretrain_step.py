"""The pretraining step of ``vla0-smol pretrain`` timed as ``train_step.py`` times the policy's.

The step is :func:`vla0_smol.presets.pretrain.pretrain`'s loop body, rebuilt here from the
module's own pieces (``Questions``, ``per_sample_loss``, ``Generator``, ``param_groups``,
``lr_at``; the module is not changed): a batch of 16 questions, two length-sorted micro-batches,
clipping and AdamW. Variants:

* ``pretrain_baseline``: the module's defaults (one process, ``threads=1``);
* ``pretrain_2threads``: the same with two torch threads;
* ``pretrain_2proc``: a proposal, two single-threaded processes (``torch.distributed``, gloo),
  rank ``r`` computing micro-batch ``r`` and the gradients summed by one all-reduce. The sum of
  the two micro-batches' gradients is what the one-process loop accumulates, so the update is
  the same up to the order of floating-point additions.

Batches are drawn from step 600 on (after the numbers-only steps), from a random-init model.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from step_timing import count_flops

VARIANTS = {"pretrain_baseline": (1, 1), "pretrain_2threads": (1, 2), "pretrain_2proc": (2, 1)}  # processes, threads
FIRST = 600  # FIRST_STEPS of pretrain_data: the main mixture from here on


def pretrain_child(name: str, steps: int, out_json: str) -> None:
    """Time ``steps`` pretraining steps of a variant in this process (one rank if distributed)."""
    from vla0_smol.backbone import load_processor, load_vlm
    from vla0_smol.presets.pretrain import Generator, PretrainConfig, Questions, lr_at, param_groups, per_sample_loss
    from vla0_smol.prompt import collate

    processes, threads = VARIANTS[name]
    rank = 0
    if processes > 1:
        torch.distributed.init_process_group("gloo")
        rank = torch.distributed.get_rank()
    cfg = PretrainConfig(threads=threads)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    processor = load_processor(cfg.base)
    vlm = load_vlm(cfg.base)
    questions = Questions(processor)
    gen = Generator(cfg.seed, cfg.mixture, cfg.first_mixture, cfg.first_steps)
    opt = torch.optim.AdamW(param_groups(vlm, cfg), lr=cfg.lr, betas=(0.9, 0.95))
    params = [p for p in vlm.parameters() if p.requires_grad]
    vlm.train()
    rows, flops = [], None
    for i in range(steps + 1):
        step = FIRST + i
        row = {}
        t0 = time.perf_counter()
        examples = gen.batch(step, cfg.batch_size)
        samples = [questions.sample(e) for e in examples]
        order = sorted(range(len(samples)), key=lambda j: samples[j].input_ids.numel())
        parts = np.array_split(order, min(cfg.micro_batches, len(order)))
        if processes > 1:
            parts = parts[rank::processes]
        batches = [[samples[j] for j in part] for part in parts]
        pixels = [questions.pixels([examples[j] for j in part]) for part in parts]
        work = [(collate(b, questions.pad_id, "right"), x) for b, x in zip(batches, pixels, strict=True)]
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg) * group["scale"]
        opt.zero_grad(set_to_none=True)
        row["data"] = time.perf_counter() - t0
        row["forward"] = row["backward"] = 0.0
        counter = count_flops() if i == steps else None
        if counter is not None:
            counter.__enter__()
        for inputs, pixels in work:
            t0 = time.perf_counter()
            losses = per_sample_loss(vlm, inputs, pixels)
            t1 = time.perf_counter()
            (losses.sum() / len(samples)).backward()
            row["forward"] += t1 - t0
            row["backward"] += time.perf_counter() - t1
        if counter is not None:
            counter.__exit__(None, None, None)
            flops = counter.get_total_flops() * processes  # every rank does its share
        t0 = time.perf_counter()
        if processes > 1:
            flat = torch.cat([p.grad.flatten() if p.grad is not None else torch.zeros(p.numel()) for p in params])
            torch.distributed.all_reduce(flat)
            offset = 0
            for p in params:
                p.grad = flat[offset : offset + p.numel()].view_as(p).clone()
                offset += p.numel()
        row["all_reduce"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(vlm.parameters(), cfg.grad_clip)
        opt.step()
        row["optimizer"] = time.perf_counter() - t0
        if i < steps:
            rows.append(row)
    if rank == 0:
        Path(out_json).write_text(json.dumps({"rows": rows, "flops": flops, "threads": torch.get_num_threads()}))
    if processes > 1:
        torch.distributed.destroy_process_group()


def run(name: str, steps: int, warmup: int) -> dict:
    processes, threads = VARIANTS[name]
    with tempfile.TemporaryDirectory(prefix=f"{name}_") as tmp:
        out = Path(tmp) / "rows.json"
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        launch = [sys.executable]
        if processes > 1:
            launch += ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
        cmd = [*launch, __file__, name, str(steps), str(out)]
        log = Path(tmp) / "log.txt"
        with log.open("w") as f:
            done = subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT)
        if done.returncode:
            raise RuntimeError(f"{name} failed:\n" + "\n".join(log.read_text().splitlines()[-30:]))
        data = json.loads(out.read_text())
    rows = data["rows"][warmup:]
    for r in rows:
        r["step"] = sum(r.values())
    return {"rows": rows, "flops": data["flops"], "threads": data["threads"], "processes": processes}


def pretrain_benchmark(steps: int, reps: int, warmup: int = 2, names=tuple(VARIANTS)) -> dict:
    """Alternating repetitions of the pretraining variants; median step time and breakdown."""
    got: dict[str, list] = {n: [] for n in names}
    for rep in range(reps):
        for name in names if rep % 2 == 0 else names[::-1]:
            got[name].append(run(name, steps + warmup, warmup))
            print(f"rep {rep} {name}: median step {statistics.median(r['step'] for r in got[name][-1]['rows']):.3f} s")
    results = {}
    for name, reps_ in got.items():
        rows = [r for rep in reps_ for r in rep["rows"]]
        keys = ("data", "forward", "backward", "all_reduce", "optimizer")
        results[name] = {
            "median_step_s": statistics.median(r["step"] for r in rows),
            "rep_median_step_s": [statistics.median(r["step"] for r in rep["rows"]) for rep in reps_],
            "breakdown_s": {k: statistics.median(r[k] for r in rows) for k in keys},
            "flops_per_step": reps_[0]["flops"],
            "processes": reps_[0]["processes"],
            "threads_per_process": reps_[0]["threads"],
        }
    base = results.get("pretrain_baseline")
    for r in results.values():
        r["speedup_vs_baseline"] = base["median_step_s"] / r["median_step_s"] if base else None
    return {"batch": 16, "results": results}


if __name__ == "__main__":
    pretrain_child(sys.argv[1], int(sys.argv[2]), sys.argv[3])
