"""An upper bound for ``make demo``: a policy *given* the block's pose, trained on the demo's data and budget.

The demo (profile ``cpu``) trains the tiny VLA on 60 scripted-expert episodes for 1,200 steps of
batch 32 (38,400 samples) and must reach random + 0.10 mean max coverage with success > 0. The
VLA has to learn perception too; a small MLP that reads the block's pose exactly does not. What the
MLP reaches with the same data and the same number of samples bounds what the demo can show.

What it does, in order:

1. Builds (or reuses) the demo's dataset exactly as ``make demo`` does
   (:func:`vla0_smol.pusht.pipeline.pusht_dataset`: the scripted expert, seeds 0-59, failed episodes
   dropped). The LeRobot dataset stores no block pose, so the same expert episodes are run again
   (same environment, expert and seeds as :func:`vla0_smol.pusht.demos.generate_dataset`), recording
   the agent x, y and the block x, y, angle before every action; the re-run's states and actions
   are checked against the dataset's, value for value.
2. Forms the policy's training pairs as ``lerobot-train`` does for the profile: every frame but the
   last ``drop_n_last_frames`` of each episode, a chunk of ``chunk_size`` actions (past the episode's
   end: padded with the last action and left out of the loss), relative to the current agent
   position when the profile sets ``relative_actions``; targets scaled to [-1, 1] by the min/max
   of those relative actions over the dataset (the range the policy bins them in,
   :func:`vla0_smol.stats.relative_action_stats`).
3. Trains an MLP (agent x, y, block x, y scaled by the 512 px workspace; cos, sin of the angle)
   with MSE and the policy's optimiser (AdamW, betas, eps, weight decay, gradient clipping of the
   config; LeRobot's cosine schedule with the profile's warm-up, decaying to lr / 10 at the last
   step), batches drawn as LeRobot's episode-aware sampler does (a fresh permutation per epoch, the
   epoch's last batch smaller). Budgets: the profile's steps x batch and multiples of it; a sweep
   over learning rates and training seeds.
4. Evaluates in closed loop with :func:`vla0_smol.pusht.evaluation.evaluate_pusht`, executing the
   first ``n_action_steps`` actions of each chunk (the policy's ``execution="chunk"``), on the
   demo's seeds (``10000 + seed``, the profile's episode count) and on further seeds; random,
   hold-still and the scripted expert on the same seeds for reference.

Prints a Markdown table and writes ``<out>/results.json``. Run from the repository root::

    OMP_NUM_THREADS=1 .venv/bin/python docs/experiments/privileged_bound.py
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn


# ----------------------------------------------------------------------------- statistics
def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion k / n."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def mean_ci(x, z: float = 1.96) -> tuple[float, float]:
    """Normal-approximation 95% interval of a mean coverage, clipped to [0, 1] (not a proportion: no Wilson)."""
    x = np.asarray(x, float)
    half = z * x.std(ddof=1) / math.sqrt(len(x)) if len(x) > 1 else math.nan
    return (max(0.0, float(x.mean() - half)), min(1.0, float(x.mean() + half)))


def summarise(result) -> dict:
    """Coverage and success of an ``EvalResult`` with their intervals, and the per-episode values."""
    cov = [e.max_coverage for e in result.episodes]
    suc = [bool(e.success) for e in result.episodes]
    n, k = len(suc), int(sum(suc))
    return {
        "n_episodes": n,
        "seeds": [result.episodes[0].seed, result.episodes[-1].seed],
        "mean_max_coverage": float(np.mean(cov)),
        "coverage_ci95": mean_ci(cov),
        "successes": k,
        "success_rate": k / n,
        "success_wilson95": wilson(k, n),
        "eval_wall_s": round(result.wall_s, 1),
        "max_coverage": [round(float(c), 4) for c in cov],
        "success": suc,
    }


# ----------------------------------------------------------------------------- data
def expert_episodes_with_block(profile, data_seed: int, max_steps: int = 300) -> list[dict]:
    """The demo's expert episodes re-run, with the block pose before every action.

    Same environment, expert, seeds, step limit and drop rule as ``generate_dataset`` (which
    ``pusht_dataset`` calls with these defaults).
    """
    from vla0_smol.pusht.demos import make_env
    from vla0_smol.pusht.expert import PushTExpert, read_state

    env, expert = make_env(pixels=True), PushTExpert(None)
    episodes = []
    try:
        for s in range(data_seed, data_seed + profile.expert_episodes):
            obs, info = env.reset(seed=s)
            expert.reset(s)
            agent, block, actions, success = [], [], [], False
            for _ in range(max_steps):
                action = expert.act(obs, info)
                a, b = read_state(obs, info)
                agent.append(a.astype(np.float32))
                block.append(b.astype(np.float64))
                actions.append(action)
                obs, _, terminated, truncated, info = env.step(action)
                success = success or bool(info["is_success"])
                if terminated or truncated:
                    break
            if success:  # generate_dataset drops failed episodes (keep_failed=False)
                episodes.append(
                    {
                        "seed": s,
                        "agent": np.stack(agent),
                        "block": np.stack(block),
                        "action": np.stack(actions).astype(np.float32),
                    }
                )
    finally:
        env.close()
    return episodes


def check_against_dataset(episodes: list[dict], root: Path) -> dict:
    """Compare the re-run with the LeRobot dataset: same episodes, lengths, states and actions."""
    from vla0_smol.stats import load_columns

    cols = load_columns(root, ["action", "observation.state", "episode_index"])
    ep_idx = cols["episode_index"]
    n_ds = int(ep_idx.max()) + 1
    if n_ds != len(episodes):
        raise RuntimeError(f"dataset has {n_ds} episodes, the re-run kept {len(episodes)}")
    max_state, max_action = 0.0, 0.0
    for i, ep in enumerate(episodes):
        sel = ep_idx == i
        if sel.sum() != len(ep["action"]):
            raise RuntimeError(
                f"episode {i} (seed {ep['seed']}): {sel.sum()} frames in the dataset, {len(ep['action'])}"
            )
        max_state = max(max_state, float(np.abs(cols["observation.state"][sel] - ep["agent"]).max()))
        max_action = max(max_action, float(np.abs(cols["action"][sel] - ep["action"]).max()))
    if max_state > 1e-4 or max_action > 1e-4:
        raise RuntimeError(f"re-run differs from the dataset: states by {max_state}, actions by {max_action} px")
    return {
        "episodes": n_ds,
        "frames": int(len(ep_idx)),
        "max_abs_state_diff_px": max_state,
        "max_abs_action_diff_px": max_action,
    }


def features(agent: np.ndarray, block: np.ndarray) -> np.ndarray:
    """(N, 6): agent x, y and block x, y scaled from [0, 512] to [-1, 1]; cos, sin of the angle."""
    agent, block = np.asarray(agent, np.float64), np.asarray(block, np.float64)
    return np.concatenate(
        [agent / 256.0 - 1.0, block[:, :2] / 256.0 - 1.0, np.cos(block[:, 2:3]), np.sin(block[:, 2:3])], axis=1
    ).astype(np.float32)


def training_pairs(episodes: list[dict], horizon: int, drop_last: int, relative: bool):
    """Inputs (N, 6), raw target chunks (N, H, 2) and their padding mask (N, H), as lerobot-train samples them."""
    xs, ys, pads = [], [], []
    for ep in episodes:
        n = len(ep["action"])
        t = np.arange(max(0, n - drop_last))
        idx = t[:, None] + np.arange(horizon)[None, :]
        pads.append(idx > n - 1)
        chunk = ep["action"][np.minimum(idx, n - 1)].astype(np.float64)  # padded with the last action
        if relative:
            chunk = chunk - ep["agent"][t][:, None, :]
        xs.append(features(ep["agent"][t], ep["block"][t]))
        ys.append(chunk)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(pads)


# ----------------------------------------------------------------------------- model
class MLP(nn.Module):
    def __init__(self, n_in: int, n_out: int, hidden: int, depth: int):
        super().__init__()
        layers, width = [], n_in
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, n_out))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def train_mlp(x, y, pad, lo, hi, steps, batch, lr, seed, cfg, hidden, depth) -> tuple[MLP, list[float]]:
    """MSE on targets scaled to [-1, 1]; the policy's optimiser and LeRobot's cosine schedule."""
    from lerobot.optim.schedulers import CosineDecayWithWarmupSchedulerConfig

    torch.manual_seed(seed)
    h, d = y.shape[1], y.shape[2]
    model = MLP(x.shape[1], h * d, hidden, depth)
    opt = torch.optim.AdamW(
        model.parameters(),
        lr=lr,
        betas=cfg.optimizer_betas,
        eps=cfg.optimizer_eps,
        weight_decay=cfg.optimizer_weight_decay,
    )
    sched = CosineDecayWithWarmupSchedulerConfig(
        num_warmup_steps=cfg.scheduler_warmup_steps, num_decay_steps=steps, peak_lr=lr, decay_lr=lr / 10
    ).build(opt, steps)
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(((y - lo) / (hi - lo) * 2 - 1).reshape(len(y), -1).astype(np.float32))
    wt = torch.from_numpy(np.repeat(~pad, d, axis=1).astype(np.float32))  # (N, H*D) 1 = in the loss
    gen = torch.Generator().manual_seed(seed)
    order, pos, losses = torch.randperm(len(x), generator=gen), 0, []
    model.train()
    for _ in range(steps):
        if pos >= len(order):  # a new epoch (the previous one's last batch may have been smaller)
            order, pos = torch.randperm(len(x), generator=gen), 0
        idx = order[pos : pos + batch]
        pos += batch
        err = (model(xt[idx]) - yt[idx]) ** 2 * wt[idx]
        loss = err.sum() / wt[idx].sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optimizer_grad_clip_norm)
        opt.step()
        sched.step()
        losses.append(float(loss))
    model.eval()
    return model, losses


class PrivilegedChunkController:
    """The MLP in closed loop: reads ``agent_pos`` and ``info["block_pose"]``, runs ``n_action_steps`` of each chunk.

    Relative chunks are clipped to the range the policy's bins cover, then the agent position at
    prediction time is added (as ``VLA0SmolPolicy`` does with ``execution="chunk"``).
    """

    def __init__(self, model: MLP, lo, hi, horizon: int, n_action_steps: int, relative: bool):
        self.model, self.lo, self.hi = model, np.asarray(lo), np.asarray(hi)
        self.h, self.n, self.relative = horizon, n_action_steps, relative
        self.queues: dict[int, list[np.ndarray]] = {}

    def reset(self, env_ids):
        for i in env_ids:
            self.queues[i] = []

    @torch.no_grad()
    def act(self, obs, infos):
        agent = np.asarray(obs["agent_pos"], np.float64)
        need = [i for i in range(len(infos)) if not self.queues.get(i)]
        if need:
            block = np.stack([np.asarray(infos[i]["block_pose"], np.float64) for i in need])
            out = self.model(torch.from_numpy(features(agent[need], block))).numpy().astype(np.float64)
            chunk = (out.reshape(len(need), self.h, -1) + 1) / 2 * (self.hi - self.lo) + self.lo
            chunk = np.clip(chunk, self.lo, self.hi)
            if self.relative:
                chunk = chunk + agent[need][:, None, :]
            for j, i in enumerate(need):
                self.queues[i] = list(chunk[j, : self.n])
        return np.stack([self.queues[i].pop(0) for i in range(len(infos))])


class HoldStillController:
    """Target = the agent's current position."""

    def reset(self, env_ids):
        pass

    def act(self, obs, infos):
        return np.asarray(obs["agent_pos"], np.float64)


# ----------------------------------------------------------------------------- report
def fmt_cov(s: dict) -> str:
    lo, hi = s["coverage_ci95"]
    return f"{s['mean_max_coverage']:.3f} [{lo:.3f}, {hi:.3f}]"


def fmt_suc(s: dict) -> str:
    lo, hi = s["success_wilson95"]
    return f"{s['successes']}/{s['n_episodes']} [{100 * lo:.0f}-{100 * hi:.0f}%]"


def table(res: dict) -> str:
    demo, other = res["eval_sets"]["demo"], res["eval_sets"]["other"]
    rows = [
        f"Demo seeds {demo['seed']}-{demo['seed'] + demo['n'] - 1} ({demo['n']} episodes), other seeds "
        f"{other['seed']}-{other['seed'] + other['n'] - 1} ({other['n']} episodes). Coverage: mean max coverage "
        "[95% normal interval]; success: successes/episodes [95% Wilson interval].",
        "",
        "| controller | steps x batch (samples) | lr | train seed | final loss | demo seeds: coverage | "
        "demo seeds: success | other seeds: coverage | other seeds: success |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, key in (("scripted expert", "expert"), ("random", "random"), ("hold still", "hold")):
        if key in res["references"]:
            r = res["references"][key]
            rows.append(
                f"| {name} | - | - | - | - | {fmt_cov(r['demo'])} | {fmt_suc(r['demo'])} | "
                f"{fmt_cov(r['other'])} | {fmt_suc(r['other'])} |"
            )
    for r in res["runs"]:
        rows.append(
            f"| privileged MLP | {r['steps']:,} x {r['batch']} ({r['steps'] * r['batch']:,}) | {r['lr']:g} | "
            f"{r['train_seed']} | {r['final_loss']:.4f} | {fmt_cov(r['demo'])} | {fmt_suc(r['demo'])} | "
            f"{fmt_cov(r['other'])} | {fmt_suc(r['other'])} |"
        )
    rows += ["", "Mean over training seeds (coverage: mean of the runs; success: pooled episodes):", ""]
    rows += [
        "| steps x batch (samples) | lr | demo seeds: coverage | demo seeds: success | other seeds: coverage "
        "| other seeds: success |",
        "|---|---|---|---|---|---|",
    ]
    for g in res["groups"]:
        rows.append(
            f"| {g['steps']:,} x {g['batch']} ({g['steps'] * g['batch']:,}) | {g['lr']:g} | "
            f"{g['demo_coverage']:.3f} | {g['demo_successes']}/{g['demo_episodes']} | "
            f"{g['other_coverage']:.3f} | {g['other_successes']}/{g['other_episodes']} |"
        )
    return "\n".join(rows)


# ----------------------------------------------------------------------------- main
def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="cpu", help="PushT profile whose data, budget and evaluation are used")
    p.add_argument("--data-seed", type=int, default=0, help="the demo's --seed (expert seeds, eval seeds 10000+seed)")
    p.add_argument("--data-dir", type=Path, default=Path("data"), help="where make demo keeps its datasets")
    p.add_argument("--out", type=Path, default=Path("outputs/privileged_bound"))
    p.add_argument("--lrs", type=float, nargs="+", default=[3e-4, 1e-3, 3e-3])
    p.add_argument("--train-seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--multipliers", type=int, nargs="+", default=[1, 4, 16], help="budgets: x profile steps")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--depth", type=int, default=3, help="hidden layers")
    p.add_argument("--other-seed", type=int, default=10016, help="first of the further evaluation seeds")
    p.add_argument("--other-episodes", type=int, default=64)
    p.add_argument(
        "--references",
        nargs="*",
        default=["random", "hold", "expert"],
        choices=["random", "hold", "expert"],
        help="reference controllers evaluated on the same seeds (none: only the MLP runs)",
    )
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    from vla0_smol.pusht.evaluation import ExpertController, RandomController, evaluate_pusht
    from vla0_smol.pusht.pipeline import pusht_config, pusht_dataset
    from vla0_smol.pusht.profiles import pusht_profile
    from vla0_smol.stats import relative_deltas

    t_start = time.perf_counter()
    prof = pusht_profile(args.profile)
    cfg = pusht_config(**prof.policy)
    if cfg.execution != "chunk":
        raise SystemExit(f"profile {args.profile} executes chunks with {cfg.execution!r}; only 'chunk' is mirrored")
    relative, horizon, n_exec = cfg.relative_actions, cfg.chunk_size, cfg.n_action_steps
    args.out.mkdir(parents=True, exist_ok=True)
    print(
        f"profile {prof.name}: {prof.expert_episodes} expert episodes (seed {args.data_seed}), {prof.steps} steps x "
        f"batch {prof.batch_size}; chunk_size {horizon}, n_action_steps {n_exec}, relative_actions {relative}, "
        f"drop_n_last_frames {cfg.drop_n_last_frames}; eval {prof.eval_episodes} episodes from seed "
        f"{10_000 + args.data_seed}",
        flush=True,
    )

    # 1. data
    t0 = time.perf_counter()
    _, root = pusht_dataset(prof, args.data_dir, seed=args.data_seed)
    t_dataset = time.perf_counter() - t0
    t0 = time.perf_counter()
    episodes = expert_episodes_with_block(prof, args.data_seed)
    check = check_against_dataset(episodes, root)
    t_rerun = time.perf_counter() - t0
    print(f"dataset {root}: {check} (build {t_dataset:.0f} s, re-run {t_rerun:.0f} s)", flush=True)

    # 2. pairs, and the range the policy bins relative actions in
    x, y, pad = training_pairs(episodes, horizon, cfg.drop_n_last_frames, relative)
    all_act = np.concatenate([e["action"] for e in episodes]).astype(np.float64)
    all_state = np.concatenate([e["agent"] for e in episodes]).astype(np.float64)
    all_ep = np.concatenate([np.full(len(e["action"]), i) for i, e in enumerate(episodes)])
    if relative:
        deltas = relative_deltas(all_act, all_state, all_ep, horizon, cfg.relative_index())
    else:
        deltas = all_act
    lo, hi = deltas.min(0), deltas.max(0)
    print(f"{len(x)} training pairs; target range {lo.round(1).tolist()} .. {hi.round(1).tolist()} px", flush=True)

    # 3-4. references and runs
    demo_seed = 10_000 + args.data_seed
    sets = {
        "demo": {"seed": demo_seed, "n": prof.eval_episodes},
        "other": {"seed": args.other_seed, "n": args.other_episodes},
    }
    overlap = set(range(demo_seed, demo_seed + prof.eval_episodes)) & set(
        range(args.other_seed, args.other_seed + args.other_episodes)
    )
    if overlap:
        raise SystemExit(f"the further seeds overlap the demo's: {sorted(overlap)[:5]}...")

    def evaluate(make, desc):
        out = {}
        for name, s in sets.items():
            res = evaluate_pusht(
                make(),
                n_episodes=s["n"],
                seed=s["seed"],
                batch_size=prof.eval_batch,
                max_steps=prof.eval_max_steps,
                progress=False,
                desc=desc,
            )
            out[name] = summarise(res)
        return out

    results = {
        "profile": prof.to_dict(),
        "command": "OMP_NUM_THREADS=1 .venv/bin/python docs/experiments/privileged_bound.py "
        + " ".join(argv if argv is not None else __import__("sys").argv[1:]),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "policy": {
            "chunk_size": horizon,
            "n_action_steps": n_exec,
            "relative_actions": relative,
            "drop_n_last_frames": cfg.drop_n_last_frames,
            "execution": cfg.execution,
        },
        "dataset": {
            "root": str(root),
            **check,
            "training_pairs": int(len(x)),
            "target_min": lo.tolist(),
            "target_max": hi.tolist(),
        },
        "eval_sets": sets,
        "references": {},
        "runs": [],
    }
    save = lambda: (args.out / "results.json").write_text(json.dumps(results, indent=1))  # noqa: E731
    refs = {
        "random": lambda: RandomController(args.data_seed),
        "hold": HoldStillController,
        "expert": lambda: ExpertController(args.data_seed),
    }
    for key, make in ((k, refs[k]) for k in args.references):
        t0 = time.perf_counter()
        results["references"][key] = evaluate(make, key)
        r = results["references"][key]
        print(
            f"{key:>6}: demo {fmt_cov(r['demo'])} {fmt_suc(r['demo'])}; other {fmt_cov(r['other'])} "
            f"{fmt_suc(r['other'])} ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
        save()

    for mult in args.multipliers:
        steps = prof.steps * mult
        for lr in args.lrs:
            for seed in args.train_seeds:
                t0 = time.perf_counter()
                model, losses = train_mlp(
                    x, y, pad, lo, hi, steps, prof.batch_size, lr, seed, cfg, args.hidden, args.depth
                )
                t_train = time.perf_counter() - t0
                ev = evaluate(lambda: PrivilegedChunkController(model, lo, hi, horizon, n_exec, relative), "mlp")  # noqa: B023
                run = {
                    "steps": steps,
                    "batch": prof.batch_size,
                    "lr": lr,
                    "train_seed": seed,
                    "final_loss": float(np.mean(losses[-50:])),
                    "loss_curve": [round(float(np.mean(losses[i : i + 50])), 5) for i in range(0, steps, 50)],
                    "train_s": round(t_train, 1),
                    **ev,
                }
                results["runs"].append(run)
                print(
                    f"steps {steps:>6} lr {lr:g} seed {seed}: loss {run['final_loss']:.4f} ({t_train:.0f} s); "
                    f"demo {fmt_cov(ev['demo'])} {fmt_suc(ev['demo'])}; other {fmt_cov(ev['other'])} "
                    f"{fmt_suc(ev['other'])} ({time.perf_counter() - t0 - t_train:.0f} s eval)",
                    flush=True,
                )
                save()

    groups = []
    for mult in args.multipliers:
        for lr in args.lrs:
            rs = [r for r in results["runs"] if r["steps"] == prof.steps * mult and r["lr"] == lr]
            groups.append(
                {
                    "steps": prof.steps * mult,
                    "batch": prof.batch_size,
                    "lr": lr,
                    "demo_coverage": float(np.mean([r["demo"]["mean_max_coverage"] for r in rs])),
                    "demo_successes": sum(r["demo"]["successes"] for r in rs),
                    "demo_episodes": sum(r["demo"]["n_episodes"] for r in rs),
                    "other_coverage": float(np.mean([r["other"]["mean_max_coverage"] for r in rs])),
                    "other_successes": sum(r["other"]["successes"] for r in rs),
                    "other_episodes": sum(r["other"]["n_episodes"] for r in rs),
                }
            )
    results["groups"] = groups
    results["wall_s"] = round(time.perf_counter() - t_start, 1)
    save()
    print()
    print(table(results))
    print(f"\nwall time {results['wall_s'] / 60:.1f} min; {args.out / 'results.json'}")
    return results


if __name__ == "__main__":
    main()
