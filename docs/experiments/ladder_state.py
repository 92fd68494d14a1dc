"""Rung (a) of issue #27's ladder: the pretrained VLA given the block's pose as state tokens.

The sixth round of ``docs/tiny-learning.md`` fine-tuned ``tiny-pretrained`` on pixels and stayed at
the random policy's level. This rung removes perception: the demo's expert episodes are re-run
(same seeds, expert and step limit as ``make demo``'s dataset) and written as a LeRobotDataset
whose ``observation.state`` is the agent x, y **and the block x, y, angle** (radians wrapped to
[0, 2 pi)), written as integers in the prompt as VLA-0 writes any state. The image stays in the
prompt. The policy is the ``cpu`` profile's, fine-tuned from ``--backbone``; in closed loop a
controller appends ``info["block_pose"]`` to the agent position before every decision. Every
saved checkpoint is evaluated on the validation seeds of ``finetune_select.py`` (40000+), next to
the random policy on the same seeds.

If this rung beats random where the pixel policy does not, the policy cannot read the block in
the image; if it does not either, turning a known pose into a push is what 1,200 steps of batch
32 do not teach the tiny model (compare the privileged MLP of the fourth round, same samples).

    OMP_NUM_THREADS=1 .venv/bin/python docs/experiments/ladder_state.py --lr 3e-3 --out outputs/ladder_a
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from vla0_smol.presets.recipe import weights_record
from vla0_smol.pusht.evaluation import PolicyController, RandomController, evaluate_pusht

VALIDATION_SEED = 40_000
STATE_NAMES = ["x", "y", "block_x", "block_y", "block_angle"]


def with_block(agent: np.ndarray, block: np.ndarray) -> np.ndarray:
    """(N, 5) float32: agent x, y, block x, y and its angle wrapped to [0, 2 pi)."""
    block = np.array(block, dtype=np.float64, copy=True)
    block[:, 2] = np.mod(block[:, 2], 2 * np.pi)
    return np.concatenate([np.asarray(agent, np.float64), block], axis=1).astype(np.float32)


def build_dataset(root: Path, repo_id: str, episodes: int, seed: int, max_steps: int = 300) -> dict:
    """The demo's expert episodes (failed ones dropped, as ``generate_dataset`` does) with the block pose."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from vla0_smol.pusht.demos import make_env
    from vla0_smol.pusht.expert import PushTExpert, read_state
    from vla0_smol.pusht.task import PUSHT_FEATURES, PUSHT_FPS, PUSHT_ROBOT_TYPE, PUSHT_TASK

    features = dict(PUSHT_FEATURES)
    features["observation.state"] = {"dtype": "float32", "shape": (5,), "names": {"motors": STATE_NAMES}}
    ds = LeRobotDataset.create(
        repo_id, fps=PUSHT_FPS, root=root, robot_type=PUSHT_ROBOT_TYPE, features=features, use_videos=False
    )
    env, expert = make_env(pixels=True), PushTExpert(None)
    kept = []
    try:
        for s in range(seed, seed + episodes):
            obs, info = env.reset(seed=s)
            expert.reset(s)
            frames, agent, block, actions, rewards, done_ok = [], [], [], [], [], []
            for _ in range(max_steps):
                action = expert.act(obs, info)
                a, b = read_state(obs, info)
                frames.append(obs["pixels"])
                agent.append(a)
                block.append(b)
                actions.append(np.asarray(action, np.float32))
                obs, reward, terminated, truncated, info = env.step(action)
                rewards.append(reward)
                done_ok.append(bool(info["is_success"]))
                if terminated or truncated:
                    break
            if not any(done_ok):
                continue
            state = with_block(np.stack(agent), np.stack(block))
            for t in range(len(actions)):
                ds.add_frame(
                    {
                        "observation.image": frames[t],
                        "observation.state": state[t],
                        "action": actions[t],
                        "next.reward": np.array([rewards[t]], np.float32),
                        "next.done": np.array([t == len(actions) - 1]),
                        "next.success": np.array([done_ok[t]]),
                        "task": PUSHT_TASK,
                    }
                )
            ds.save_episode()
            kept.append(s)
    finally:
        env.close()
    ds.finalize()
    return {"kept_seeds": kept, "episodes": episodes}


class StateWithBlock(PolicyController):
    """A policy controller whose state is the agent position and the block pose (``info["block_pose"]``)."""

    def act(self, obs, infos):
        block = np.stack([np.asarray(i["block_pose"], np.float64) for i in infos])
        return super().act({**obs, "agent_pos": with_block(obs["agent_pos"], block)}, infos)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="tiny-pretrained")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--vision-lr-scale", type=float, default=0.0)
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--checkpoints", type=int, default=3)
    parser.add_argument("--demos", type=int, default=None, help="expert episodes (default: the cpu profile's 60)")
    parser.add_argument("--episodes", type=int, default=16, help="validation episodes per checkpoint")
    parser.add_argument("--max-steps", type=int, default=300, help="evaluation episode limit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--eval-seed",
        type=int,
        default=VALIDATION_SEED,
        help="first evaluation seed (default: the validation seeds; 10000 is the demo's, select_seed10000.json)",
    )
    parser.add_argument("--processes", type=int, default=None, help="training processes (default: the profile's 2)")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from vla0_smol.datasets import build_once
    from vla0_smol.pusht.checkpoints import saved_checkpoints
    from vla0_smol.pusht.pipeline import train_pusht
    from vla0_smol.pusht.profiles import pusht_profile

    prof = pusht_profile("cpu")
    demos = args.demos or prof.expert_episodes
    fields = {"vlm_model_name": args.backbone, "optimizer_lr": args.lr, "vision_lr_scale": args.vision_lr_scale}
    prof = replace(prof, steps=args.steps, save_freq=max(1, args.steps // args.checkpoints), expert_episodes=demos)
    if args.processes:  # e.g. 1 when another job holds the other core; the batch stays the profile's
        prof = replace(prof, train_processes=args.processes, train_threads=1)
    # actions stay relative to the agent (state dims 0, 1), not to the block
    prof = prof.with_policy(**fields, scheduler_decay_steps=args.steps, relative_state_index=[0, 1])
    repo_id = f"local/pusht_expert_block_n{demos}_s{args.seed}"
    root = args.data_dir / repo_id.split("/")[1]
    t0 = time.time()
    build_once(root, lambda tmp: build_dataset(tmp, repo_id, demos, args.seed))
    train_pusht(prof, args.out / "train", (repo_id, root), seed=args.seed)
    train_s = time.time() - t0
    kw = dict(n_episodes=args.episodes, seed=args.eval_seed, batch_size=min(16, args.episodes))
    rows = []
    for step, model in saved_checkpoints(args.out / "train"):
        result = evaluate_pusht(StateWithBlock.from_checkpoint(model), max_steps=args.max_steps, **kw).summary()
        rows.append({"step": step, **{k: result[k] for k in ("success_rate", "mean_max_coverage")}})
        print(json.dumps(rows[-1]), flush=True)
    rand = evaluate_pusht(RandomController(args.seed), max_steps=args.max_steps, **kw).summary()
    record = {
        "rung": "a: block pose as state tokens",
        "arm": {"lr": args.lr, "vision_lr_scale": args.vision_lr_scale, "steps": args.steps},
        "backbone": args.backbone,
        "backbone_weights": weights_record(args.backbone),
        "validation_seeds": [args.eval_seed, args.eval_seed + args.episodes - 1],
        "train_seconds": round(train_s, 1),
        "random": {k: rand[k] for k in ("success_rate", "mean_max_coverage")},
        "checkpoints": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    name = "select.json" if args.eval_seed == VALIDATION_SEED else f"select_seed{args.eval_seed}.json"
    (args.out / name).write_text(json.dumps(record, indent=2))
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
