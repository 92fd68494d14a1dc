"""Benchmark: the tiny policy's training step against ``--baseline`` and against the machine's peak.

One run, on this machine, side by side (repetitions alternate, so both see the same load):

* ``default``: the ``cpu`` PushT profile's training step as ``make demo`` runs it (batch 32 per
  step; the profile's ``train_processes`` and ``train_threads``);
* ``--baseline``: the same profile with the settings before issue #25 (one process, torch's
  default threads: one per core);
* ``one_thread``: one process with one thread (what the thread count alone does).

Each is ``lerobot-train`` on the demo's 60 scripted demonstrations for ``--steps`` steps; the step
time is LeRobot's own ``update_s + dataloading_s`` (the slowest rank's), the first ``--warmup``
steps left out. A multi-process variant is launched as ``training.run_lerobot_train`` launches it
(``torch.distributed.run``, ``training._train_here`` in each rank), so that the phases can be timed
inside each rank (:mod:`step_timing`). The floor is the step's FLOPs (counted with torch's FLOP
counter on real batches) over the throughput of a large fp32 matrix product timed in the same run.
The pretraining step (:mod:`vla0_smol.presets.pretrain`, imported, unchanged) gets the same
treatment in ``pretrain_step.py``. Prints a table; writes ``results/bench/train_step.json``.

    python benchmarks/train_step.py [--steps 24] [--reps 2] [--copy benchmarks/results/train_step.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
sys.path.insert(0, str(Path(__file__).parent))
import torch  # noqa: E402
from step_timing import PHASES, Phases, count_flops, gemm_peak, machine  # noqa: E402

from vla0_smol.pusht.pipeline import pusht_dataset, train_pusht  # noqa: E402
from vla0_smol.pusht.profiles import pusht_profile  # noqa: E402
from vla0_smol.results import save_json  # noqa: E402
from vla0_smol.training import _train_here, profile_spec, read_metrics, train_args  # noqa: E402

VARIANTS = {
    "baseline": {"train_processes": 1, "train_threads": 0},  # the settings before issue #25
    "one_thread": {"train_processes": 1, "train_threads": 1},
    "default": {},  # the profile as it is
}


def variant_profile(name: str, profile: str, steps: int):
    return replace(pusht_profile(profile), steps=steps, save_freq=10**9, **VARIANTS[name])


def child(args) -> None:
    """One training run of a variant (in this process, or as one rank of a multi-process run)."""
    prof = variant_profile(args.child, args.profile, args.steps)
    dataset = pusht_dataset(prof, args.data_dir, seed=0)
    rank = int(os.environ.get("RANK", "0"))
    with Phases() as phases:
        if prof.train_processes == 1:
            train_pusht(prof, args.run_dir, dataset, seed=0, wandb="disabled")  # make demo's call
        else:  # what run_lerobot_train's launcher runs in each rank
            spec = profile_spec(prof, args.run_dir, dataset, seed=0, wandb="disabled")
            _train_here(train_args(spec), spec.output_dir, spec.quiet, spec.threads)
    if rank == 0:
        Path(args.out_json).write_text(json.dumps({"phases": phases.rows, "threads": torch.get_num_threads()}))


def run_variant(name: str, args) -> dict:
    """Launch one repetition of a variant; its per-step times after the warm-up."""
    prof = variant_profile(name, args.profile, args.steps)
    with tempfile.TemporaryDirectory(prefix=f"train_step_{name}_") as tmp:
        out_json, run_dir = Path(tmp) / "phases.json", Path(tmp) / "run"
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        if prof.train_threads:
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(prof.train_threads)
        launch = [sys.executable]
        if prof.train_processes > 1:
            launch += ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={prof.train_processes}"]
        cmd = [*launch, __file__, "--child", name, "--out-json", str(out_json), "--run-dir", str(run_dir)]
        cmd += ["--steps", str(args.steps), "--profile", args.profile, "--data-dir", str(args.data_dir)]
        log = Path(tmp) / "log.txt"
        with log.open("w") as f:
            done = subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT)
        if done.returncode:
            raise RuntimeError(f"{name} failed:\n" + "\n".join(log.read_text().splitlines()[-30:]))
        rows = read_metrics(run_dir)[args.warmup :]
        phases = json.loads(out_json.read_text())
    steps = [r["update_s"] + r["dataloading_s"] for r in rows]
    return {
        "step_s": steps,
        "phases": phases["phases"][args.warmup :],
        "threads_per_process": phases["threads"],
        "processes": prof.train_processes,
        "batch_per_process": prof.batch_size // prof.train_processes,
    }


def profile_policy(profile: str, data_dir: Path):
    """The profile's dataset, its freshly initialised policy (train mode, seed 0) and its preprocessor,
    built by LeRobot's factories from the arguments ``lerobot-train`` would get."""
    import draccus
    from lerobot.configs.train import TrainPipelineConfig
    from lerobot.datasets.factory import make_dataset
    from lerobot.policies.factory import make_policy, make_pre_post_processors
    from lerobot.utils.import_utils import register_third_party_plugins

    register_third_party_plugins()
    prof = pusht_profile(profile)
    spec = profile_spec(prof, Path(tempfile.mkdtemp()) / "run", pusht_dataset(prof, data_dir, seed=0), wandb="disabled")
    cfg = draccus.parse(TrainPipelineConfig, args=train_args(spec))
    cfg.validate()
    torch.manual_seed(0)
    dataset = make_dataset(cfg)
    policy = make_policy(cfg.policy, ds_meta=dataset.meta).train()
    pre, _ = make_pre_post_processors(cfg.policy, dataset_stats=dataset.meta.stats)
    return dataset, policy, pre


def flops_and_tokens(profile: str, data_dir: Path, batches: int = 3) -> dict:
    """FLOPs of forward + backward per step and the token layout, on real batches of the profile."""
    prof = pusht_profile(profile)
    dataset, policy, pre = profile_policy(profile, data_dir)
    loader = iter(torch.utils.data.DataLoader(dataset, batch_size=prof.batch_size, shuffle=True))
    seen, loss_of = [], policy._loss

    def spy(inputs, pixels):
        seen.append({k: v.clone() for k, v in inputs.items()})
        return loss_of(inputs, pixels)

    policy._loss = spy
    totals, attention = [], []
    for _ in range(batches):
        batch = pre(next(loader))
        with count_flops() as counter:
            loss, _ = policy.forward(batch)
            loss.backward()
        policy.zero_grad(set_to_none=True)
        totals.append(counter.get_total_flops())
        ops = counter.get_flop_counts().get("Global", {})
        attention.append(sum(v for k, v in ops.items() if "attention" in str(k)))
    mask = torch.cat([s["attention_mask"].flatten() for s in seen]).float()
    labelled = sum(int((s["labels"] != -100).sum()) for s in seen)
    text = policy.vlm.config.text_config
    all_positions = sum(s["input_ids"].numel() for s in seen)
    lm_head = 3 * 2 * text.hidden_size * text.vocab_size  # forward + backward FLOPs per position
    return {
        "flops_per_step": statistics.mean(totals),
        "attention_share": sum(attention) / sum(totals),
        "tokens_per_sample": float(mask.sum()) / (batches * prof.batch_size),
        "padded_length_mean": statistics.mean(s["input_ids"].shape[1] for s in seen),
        "padding_fraction": 1 - float(mask.mean()),
        "labelled_fraction": labelled / float(mask.sum()),
        "lm_head_share_labelled_only": lm_head * labelled / sum(totals),
        "lm_head_share_if_all_positions": lm_head * all_positions / sum(totals),
        "parameters": sum(p.numel() for p in policy.parameters()),
    }


def summarize(reps: list[dict], batch: int) -> dict:
    steps = [s for r in reps for s in r["step_s"]]
    phases = [p for r in reps for p in r["phases"]]
    median = statistics.median(steps)
    return {
        "median_step_s": median,
        "samples_per_s": batch / median,
        "step_s_quartiles": statistics.quantiles(steps, n=4) if len(steps) > 1 else [median] * 3,
        "rep_median_step_s": [statistics.median(r["step_s"]) for r in reps],
        "breakdown_s": {k: statistics.median(p.get(k, 0.0) for p in phases) for k in PHASES},
        "processes": reps[0]["processes"],
        "threads_per_process": reps[0]["threads_per_process"],
        "batch_per_process": reps[0]["batch_per_process"],
        "steps_timed": len(steps),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=24, help="training steps per repetition")
    ap.add_argument("--warmup", type=int, default=4, help="first steps of each repetition left out")
    ap.add_argument("--reps", type=int, default=2, help="repetitions of each variant (alternating)")
    ap.add_argument("--variants", default="baseline,default,one_thread")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--data-dir", type=Path, default=Path("data"))
    ap.add_argument("--pretrain-steps", type=int, default=12, help="pretraining steps per repetition (0: skip)")
    ap.add_argument("--out", type=Path, default=Path("results/bench/train_step.json"))
    ap.add_argument("--copy", type=Path, default=None, help="also write the JSON here (a committed copy)")
    ap.add_argument("--child", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    ap.add_argument("--baseline", action="store_true", help="measure only the baseline")
    ap.add_argument("--out-json", help=argparse.SUPPRESS)
    ap.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    start = machine()
    pusht_dataset(pusht_profile(args.profile), args.data_dir, seed=0)  # built once, outside the timing
    peak_start = {t: gemm_peak(t) for t in (1, 2)}
    flops = flops_and_tokens(args.profile, args.data_dir)
    names = ["baseline"] if args.baseline else args.variants.split(",")
    reps: dict[str, list] = {n: [] for n in names}
    for rep in range(args.reps):
        for name in names if rep % 2 == 0 else names[::-1]:
            reps[name].append(run_variant(name, args))
            print(f"rep {rep} {name}: median step {statistics.median(reps[name][-1]['step_s']):.3f} s", flush=True)
    batch = pusht_profile(args.profile).batch_size
    results = {n: summarize(r, batch) for n, r in reps.items()}
    pretrain = None
    if args.pretrain_steps:
        from pretrain_step import pretrain_benchmark

        pretrain = pretrain_benchmark(args.pretrain_steps, args.reps)
    peak_end = {t: gemm_peak(t) for t in (1, 2)}
    peak = max(peak_start[2], peak_end[2], peak_start[1], peak_end[1])
    floor_s = flops["flops_per_step"] / (peak * 1e9)
    for r in results.values():
        r["fraction_of_peak"] = floor_s / r["median_step_s"]
    for r in (pretrain or {}).get("results", {}).values():
        r["fraction_of_peak"] = (r["flops_per_step"] or 0) / (peak * 1e9) / r["median_step_s"]
    end = machine()
    base = results.get("baseline")
    speedup = base["median_step_s"] / results["default"]["median_step_s"] if base and "default" in results else None
    per_rep = []
    if base and "default" in results:
        per_rep = [b / d for b, d in zip(base["rep_median_step_s"], results["default"]["rep_median_step_s"])]
    result = {
        "speedup": speedup,
        "speedup_per_repetition": per_rep,
        "fraction_of_peak": results.get("default", base)["fraction_of_peak"],
        "floor_s": floor_s,
        "peak_gflops": {"used": peak, "start": peak_start, "end": peak_end},
        "profile": args.profile,
        "batch": batch,
        "steps_per_repetition": args.steps,
        "warmup": args.warmup,
        "variants": {n: {**VARIANTS[n]} for n in names},
        "results": results,
        "model": flops,
        "pretrain": pretrain,
        "machine": {**start, "load_average_start": start.pop("load_average"), "load_average_end": end["load_average"]},
        "command": " ".join(["python", "benchmarks/train_step.py", *sys.argv[1:]]),
    }
    print_table(result)
    save_json(result, args.out)
    if args.copy:
        args.copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.out, args.copy)


def print_table(r: dict) -> None:
    m = r["machine"]
    load = f"load average {m['load_average_start']} -> {m['load_average_end']}"
    print(f"\nmachine: {m['cpu']}, {m['nproc']} cores; {load}")
    print(f"peak fp32 GEMM {r['peak_gflops']['used']:.0f} GFLOP/s; step {r['model']['flops_per_step'] / 1e9:.1f} GFLOP")
    print(f"floor {r['floor_s']:.3f} s/step ({r['batch'] / r['floor_s']:.0f} samples/s)\n")
    print("| variant | processes x threads | step s (median) | samples/s | vs baseline | fraction of peak | "
          + " | ".join(PHASES) + " |")  # fmt: skip
    print("|---" * (6 + len(PHASES)) + "|")
    base = r["results"].get("baseline")
    for name, v in r["results"].items():
        ratio = f"{base['median_step_s'] / v['median_step_s']:.2f}x" if base else ""
        parts = " | ".join(f"{v['breakdown_s'][k]:.3f}" for k in PHASES)
        print(
            f"| {name} | {v['processes']} x {v['threads_per_process']} | {v['median_step_s']:.3f} | "
            f"{v['samples_per_s']:.1f} | {ratio} | {v['fraction_of_peak']:.2f} | {parts} |"
        )
    if r["speedup"]:
        each = ", ".join(f"{x:.2f}" for x in r["speedup_per_repetition"])
        print(f"\nspeedup {r['speedup']:.2f}x (per repetition: {each})")
    if r["pretrain"]:
        print("\npretraining step (batch 16):")
        for name, v in r["pretrain"]["results"].items():
            parts = ", ".join(f"{k} {s:.3f}" for k, s in v["breakdown_s"].items())
            frac = v.get("fraction_of_peak", 0)
            ratio = v["speedup_vs_baseline"]
            print(f"  {name}: {v['median_step_s']:.3f} s/step, {ratio:.2f}x, fraction of peak {frac:.2f} ({parts})")


if __name__ == "__main__":
    main()
