"""``make demo``: scripted demonstrations -> train the tiny preset -> evaluate, offline, on a CPU.

Prints a table (scripted expert, random policy, the trained tiny policy's last and best
checkpoints: every saved checkpoint is evaluated, :mod:`vla0_smol.pusht.checkpoints`) measured on
the same seeds, and writes ``results/demo/``: ``summary.json``, ``train_loss.png``,
``checkpoints.png`` (success and coverage at each checkpoint) and a rollout video.
The numbers are the tiny model's on this machine, not the blog's. With ``checkpoint`` (``vla0-smol
demo --checkpoint``: a folder or hub id, ``vla0_smol`` or the authors' ``vla0``, converted into
``out/checkpoints/``), the demonstrations and training are skipped and that checkpoint is evaluated.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

from ..pusht.checkpoints import evaluate_every_checkpoint, load_evaluation, prune_training_states
from ..pusht.evaluation import ExpertController, HoldStillController, RandomController, evaluate_pusht
from ..pusht.pipeline import evaluate_checkpoint, pusht_dataset, train_pusht
from ..pusht.profiles import long_profile, pusht_profile
from ..results import save_json
from .evidence import mean_interval, wilson_interval
from .report import plot_checkpoint_curve, plot_training_loss


def run_demo(
    out: Path = Path("results/demo"),
    profile: str = "cpu",
    seed: int = 0,
    data_dir: Path = Path("data"),
    checkpoint: str | Path = "",
    long: bool = False,
):
    """Run the demo; return the summary that is also written to ``out/summary.json``.

    ``long``: the `cpu` profile's longer run (:func:`~vla0_smol.pusht.profiles.long_profile`).
    """
    from ..convert import resolve_checkpoint

    prof = long_profile(pusht_profile(profile)) if long else pusht_profile(profile)
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
    hold = stage("eval hold still", lambda: evaluate_pusht(HoldStillController(), desc="eval hold still", **kw))
    sweep = None
    if given:
        trained = stage(
            "eval trained", lambda: evaluate_checkpoint(checkpoint, prof, seed=eval_seed, video_dir=out / "videos")
        ).summary()
    else:
        prune_training_states(out / "train")
        sweep = stage(
            "eval trained",
            lambda: evaluate_every_checkpoint(out / "train", prof, eval_seed, video_dir=out / "videos"),
        )
        trained = load_evaluation(sweep["last"])
        title = f"tiny VLA-0-Smol on PushT ({profile} profile{', long run' if long else ''})"
        plot_training_loss(out / "train", out / "train_loss.png", title=title)
        plot_checkpoint_curve(sweep["checkpoints"], out / "checkpoints.png", title=f"{title}: every checkpoint")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary = {
        "profile": profile,
        "long": long,
        "train_steps": None if given else prof.steps,
        "model": trained["config"]["vlm_model_name"],
        "seed": seed,
        "checkpoint_argument": given or None,
        "eval_seeds": [eval_seed, eval_seed + prof.eval_episodes - 1],
        "dataset": {"repo_id": dataset[0], "root": str(dataset[1]) if dataset[1] else None},
        "checkpoint": str(checkpoint),
        "expert": expert.summary(),
        "random": rand.summary(),
        "hold_still": hold.summary(),
        "trained": trained,  # the last checkpoint (or the given one)
        "trained_best": load_evaluation(sweep["best"]) if sweep else None,
        "checkpoints": sweep["checkpoints"] if sweep else None,
        "selection": sweep["selection"] if sweep else None,
        "lerobot_eval": lerobot_eval_command(sweep["last"]["checkpoint"] if sweep else checkpoint, eval_seed),
        "stage_seconds": seconds,
        "peak_rss_mb": round(peak_mb, 1),
    }
    save_json(summary, out / "summary.json")
    print(table(summary))
    return summary


def lerobot_eval_command(checkpoint, eval_seed: int, n_episodes: int = 50) -> str:
    """LeRobot's own evaluation of a checkpoint, on seeds after the demo's (none of them reported by it)."""
    path = Path(checkpoint)
    model = path / "pretrained_model" if (path / "pretrained_model").is_dir() else path
    return (
        f"lerobot-eval --policy.path={model} --env.type=pusht --eval.n_episodes={n_episodes} "
        f"--eval.batch_size=10 --eval.use_async_envs=false --seed={eval_seed + 10_000} --policy.device=cpu"
    )


def _row(name: str, r: dict) -> str:
    n = r["n_episodes"]
    k = round(r["success_rate"] * n)
    lo, hi = wilson_interval(k, n)
    cov = [e["max_coverage"] for e in r["episodes"]]
    mean, clo, chi = mean_interval(cov) if n > 1 else (cov[0], cov[0], cov[0])
    rate = f"{100 * r['success_rate']:.1f}% [{100 * lo:.0f}-{100 * hi:.0f}%]"
    return f"| {name} | {rate} | {mean:.3f} [{clo:.3f}-{chi:.3f}] |"


def table(summary: dict) -> str:
    """The demo's rows (expert, random, the policy's last and best checkpoints) as a Markdown table."""
    n = summary["trained"]["n_episodes"]
    rows = [
        f"PushT, {n} episodes, seeds {summary['eval_seeds'][0]}-{summary['eval_seeds'][1]} "
        f"(profile {summary['profile']}{', long run' if summary.get('long') else ''}, model {summary['model']})",
        "",
        "| controller | success rate [95% Wilson] | mean max coverage [95% t] |",
        "|---|---|---|",
    ]
    named = [("scripted expert", "expert"), ("random policy", "random")]
    if "hold_still" in summary:
        named.append(("holding still", "hold_still"))
    if summary.get("checkpoint_argument"):
        named.append(("given checkpoint", "trained"))
    else:
        steps = [c["step"] for c in summary["checkpoints"]]
        best = summary["trained_best"]["step"]
        named.append((f"trained tiny policy, last checkpoint (step {steps[-1]})", "trained"))
        named.append((f"trained tiny policy, best of {len(steps)} checkpoints (step {best})", "trained_best"))
    for name, key in named:
        rows.append(_row(name, summary[key]))
    rows.append("")
    if summary.get("lerobot_eval"):
        rows.append("the same checkpoint through LeRobot's own evaluation, on other seeds:")
        rows.append("  " + summary["lerobot_eval"])
    rows.append("stage wall times (s): " + ", ".join(f"{k} {v}" for k, v in summary["stage_seconds"].items()))
    rows.append(f"peak memory: {summary['peak_rss_mb']} MB")
    return "\n".join(rows)
