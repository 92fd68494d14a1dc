"""``make demo``: scripted demonstrations -> train the tiny preset -> evaluate, offline, on a CPU.

Prints a three-row table (scripted expert, random policy, trained tiny policy) measured on the
same seeds, and writes ``results/demo/``: ``summary.json``, ``train_loss.png`` and a rollout video.
The numbers are the tiny model's on this machine, not the blog's. With ``checkpoint`` (``vla0-smol
demo --checkpoint``: a folder or hub id, ``vla0_smol`` or the authors' ``vla0``, converted into
``out/checkpoints/``), the demonstrations and training are skipped and that checkpoint is evaluated.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

from ..pusht.evaluation import ExpertController, RandomController, evaluate_pusht
from ..pusht.pipeline import evaluate_checkpoint, pusht_dataset, train_pusht
from ..pusht.profiles import pusht_profile
from ..results import save_json
from .report import plot_training_loss


def run_demo(
    out: Path = Path("results/demo"),
    profile: str = "cpu",
    seed: int = 0,
    data_dir: Path = Path("data"),
    checkpoint: str | Path = "",
):
    """Run the demo; return the summary that is also written to ``out/summary.json``."""
    from ..convert import resolve_checkpoint

    prof = pusht_profile(profile)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}

    def stage(name, fn):
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        value = fn()
        seconds[name] = round(time.perf_counter() - t0, 1)
        return value

    given = str(checkpoint or "")
    if given:
        dataset = (None, None)
        checkpoint = stage("checkpoint", lambda: resolve_checkpoint(given, out / "checkpoints"))
    else:
        dataset = stage("demonstrations", lambda: pusht_dataset(prof, data_dir, seed=seed))
        checkpoint = stage("training", lambda: train_pusht(prof, out / "train", dataset, seed=seed))
    eval_seed = 10_000 + seed  # evaluation seeds differ from the demonstration seeds
    kw = dict(n_episodes=prof.eval_episodes, seed=eval_seed, batch_size=prof.eval_batch, max_steps=prof.eval_max_steps)
    expert = stage("eval expert", lambda: evaluate_pusht(ExpertController(seed), desc="eval expert", **kw))
    rand = stage("eval random", lambda: evaluate_pusht(RandomController(seed), desc="eval random", **kw))
    trained = stage(
        "eval trained", lambda: evaluate_checkpoint(checkpoint, prof, seed=eval_seed, video_dir=out / "videos")
    )
    if not given:
        plot_training_loss(out / "train", out / "train_loss.png", title=f"tiny VLA-0-Smol on PushT ({profile} profile)")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary = {
        "profile": profile,
        "model": trained.extra["config"]["vlm_model_name"],
        "seed": seed,
        "checkpoint_argument": given or None,
        "eval_seeds": [eval_seed, eval_seed + prof.eval_episodes - 1],
        "dataset": {"repo_id": dataset[0], "root": str(dataset[1]) if dataset[1] else None},
        "checkpoint": str(checkpoint),
        "expert": expert.summary(),
        "random": rand.summary(),
        "trained": trained.summary(),
        "stage_seconds": seconds,
        "peak_rss_mb": round(peak_mb, 1),
    }
    save_json(summary, out / "summary.json")
    print(table(summary))
    return summary


def table(summary: dict) -> str:
    """The demo's three rows as a Markdown table."""
    n = summary["trained"]["n_episodes"]
    rows = [
        f"PushT, {n} episodes, seeds {summary['eval_seeds'][0]}-{summary['eval_seeds'][1]} "
        f"(profile {summary['profile']}, model {summary['model']})",
        "",
        "| controller | success rate | mean max coverage |",
        "|---|---|---|",
    ]
    policy = "given checkpoint" if summary.get("checkpoint_argument") else "trained tiny policy"
    for name, key in [("scripted expert", "expert"), ("random policy", "random"), (policy, "trained")]:
        r = summary[key]
        rows.append(f"| {name} | {100 * r['success_rate']:.1f}% | {r['mean_max_coverage']:.3f} |")
    rows.append("")
    rows.append("stage wall times (s): " + ", ".join(f"{k} {v}" for k, v in summary["stage_seconds"].items()))
    rows.append(f"peak memory: {summary['peak_rss_mb']} MB")
    return "\n".join(rows)
