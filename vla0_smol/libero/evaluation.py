"""LIBERO evaluation: a policy on official tasks from LIBERO's fixed initial states, per suite.

The standard protocol (the blog's): every task of the four suites, 50 episodes per task, episode
``k`` starting from LIBERO's fixed initial state ``k``; an episode succeeds when the environment
reports ``is_success`` within the suite's step limit. Episodes of one task run side by side (one
batched policy call per step) in the environments of :mod:`vla0_smol.libero.env`. A results file
with one line per finished task makes a long evaluation (the blog's: 40 tasks x 50 episodes x 2
protocols) resumable task by task.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..results import write_video
from .env import EPISODES_PER_TASK, IMAGE_KEYS, IMAGE_SIZE, SUITES, episode_length, make_libero_env, reset_to, to_batch


class LiberoPolicyController:
    """A LeRobot policy (with optional pre/post-processors) acting on LIBERO batches.

    LIBERO's actions are end-effector deltas and a gripper command: a ``vla0_smol`` policy given
    here holds with a zero action when a chunk cannot be parsed (``hold_action="zero"``), whatever
    its checkpoint says (e.g. one converted from the authors' format).
    """

    def __init__(self, policy, preprocessor=None, postprocessor=None):
        got = policy.config.output_features["action"].shape[0]
        if got != 7:
            raise ValueError(f"the policy's action dimension is {got}; LIBERO's Panda takes 7")
        if getattr(policy.config, "hold_action", None) == "state" and not policy.config.relative_actions:
            policy.config.hold_action = "zero"
        self.policy, self.pre, self.post = policy, preprocessor, postprocessor
        self.policy.eval()

    def reset(self, env_ids: list[int]) -> None:
        self.policy.reset(env_ids=env_ids)

    @torch.no_grad()
    def act(self, batch: dict) -> np.ndarray:
        if self.pre is not None:
            batch = self.pre(batch)
        action = self.policy.select_action(batch)
        if self.post is not None:
            action = self.post(action)
        return action.detach().cpu().numpy()  # (B, 7)


@dataclass
class TaskResult:
    suite: str
    task_id: int
    task: str
    successes: list[bool]
    lengths: list[int]

    @property
    def success_rate(self) -> float:
        return float(np.mean(self.successes)) if self.successes else 0.0


@dataclass
class LiberoEvalResult:
    tasks: list[TaskResult]
    wall_s: float
    env_steps: int
    timings: dict = field(default_factory=dict)
    videos: list[str] = field(default_factory=list)

    def per_suite(self) -> dict[str, float]:
        out: dict[str, list[bool]] = {}
        for t in self.tasks:
            out.setdefault(t.suite, []).extend(t.successes)
        return {s: float(np.mean(v)) for s, v in out.items()}

    def episodes(self) -> list[dict]:
        """One row per episode: suite, task id, LIBERO initial state, success and steps run."""
        return [
            {"suite": t.suite, "task_id": t.task_id, "task": t.task, "init_state": k, "success": s, "steps": n}
            for t in self.tasks
            for k, (s, n) in enumerate(zip(t.successes, t.lengths, strict=True))
        ]

    def summary(self) -> dict:
        suites = self.per_suite()
        return {
            "per_suite": suites,
            "average": float(np.mean(list(suites.values()))) if suites else 0.0,
            "per_task": [{**asdict(t), "success_rate": t.success_rate} for t in self.tasks],
            "n_episodes": sum(len(t.successes) for t in self.tasks),
            "wall_s": self.wall_s,
            "env_steps": self.env_steps,
            "timings": self.timings,
            "videos": self.videos,
        }


def evaluate_libero(
    controller,
    suites: tuple[str, ...] | list[str] = SUITES,
    task_ids: list[int] | None = None,
    n_episodes: int = EPISODES_PER_TASK,
    batch_size: int = 1,
    max_steps: int | None = None,
    size: int = IMAGE_SIZE,
    video_dir: Path | None = None,
    n_videos: int = 1,
    snapshot: Path | None = None,
    results_file: Path | None = None,
    desc: str = "LIBERO",
) -> LiberoEvalResult:
    """Run ``n_episodes`` per task (fixed initial states ``0 .. n-1``) over tasks of suites.

    Args:
        controller: ``reset(env_ids)`` and ``act(batch) -> (B, 7)`` (:class:`LiberoPolicyController`).
        suites: LIBERO suites.
        task_ids: tasks per suite (None: every task).
        n_episodes: episodes per task (LIBERO: 50 fixed initial states).
        batch_size: environments of one task stepped side by side (one policy call per step).
        max_steps: episode limit (None: LeRobot's per-suite limit).
        size: camera side in pixels.
        video_dir: where agent-view videos go (None: no videos).
        n_videos: episodes recorded per task (the first ones).
        snapshot: a PNG written here of both cameras' first frame, side by side, as the policy
            sees them (after LeRobot's LIBERO processing); None: no picture.
        results_file: a JSON-lines file with one line per finished task; tasks already in it
            are not run again (resume after an interruption). The caller keys its name on
            what the results depend on (checkpoint, protocol, sizes). None: no file.
        desc: the progress bar's label (one line per finished task is printed too).
    """
    from lerobot.envs.libero import _get_suite
    from tqdm.auto import tqdm

    done = _finished_tasks(results_file, n_episodes)
    todo = [
        (suite, tid)
        for suite in suites
        for tid in (task_ids if task_ids is not None else range(len(_get_suite(suite).tasks)))
    ]
    results, videos, env_steps, timings = [], [], 0, {"create_s": [], "reset_s": [], "step_s": []}
    t0 = time.perf_counter()
    bar = tqdm(todo, desc=desc, unit="task")
    for i, (suite, tid) in enumerate(bar):
        if (suite, tid) in done:
            row = done[(suite, tid)]
            results.append(TaskResult(**{k: row[k] for k in ("suite", "task_id", "task", "successes", "lengths")}))
            videos += row.get("videos", [])
            env_steps += row.get("env_steps", 0)
            continue
        t_task = time.perf_counter()
        result, task_videos, steps = _run_task(
            controller, suite, tid, n_episodes, batch_size, max_steps or episode_length(suite), size,
            video_dir, n_videos, snapshot if not results else None, timings,
        )  # fmt: skip
        results.append(result)
        videos += task_videos
        env_steps += steps
        seconds = time.perf_counter() - t_task
        if results_file is not None:
            row = {**asdict(result), "videos": task_videos, "env_steps": steps, "wall_s": round(seconds, 1)}
            _append_line(Path(results_file), json.dumps(row))
        bar.write(
            f"[{i + 1}/{len(todo)}] {suite} task {tid}: {sum(result.successes)}/{len(result.successes)} "
            f"successes ({100 * result.success_rate:.0f}%), {seconds:.0f} s"
        )
    timings = {k: float(np.mean(v)) if v else None for k, v in timings.items()}
    timings["tasks_resumed"] = len([t for t in todo if t in done])
    return LiberoEvalResult(results, time.perf_counter() - t0, env_steps, timings, videos)


def _append_line(path: Path, line: str) -> None:
    """Append a line, after ending a line torn by an interruption."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torn = path.is_file() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
    with open(path, "a") as f:
        f.write(("\n" if torn else "") + line + "\n")


def _finished_tasks(results_file: Path | None, n_episodes: int) -> dict[tuple[str, int], dict]:
    """The tasks of a results file with all their episodes (a torn last line is ignored)."""
    if results_file is None or not Path(results_file).is_file():
        return {}
    done = {}
    for line in Path(results_file).read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by an interruption: that task runs again
        if len(row.get("successes", [])) == n_episodes:
            done[(row["suite"], row["task_id"])] = row
    return done


def _run_task(
    controller, suite, tid, n_episodes, batch_size, limit, size, video_dir, n_videos, snapshot, timings
) -> tuple[TaskResult, list[str], int]:
    """The episodes of one task, ``batch_size`` environments side by side: (result, videos, env steps)."""
    videos, env_steps = [], 0
    b = min(batch_size, n_episodes)
    t = time.perf_counter()
    envs = [make_libero_env(suite, tid, size=size, max_steps=limit) for _ in range(b)]
    timings["create_s"].append(time.perf_counter() - t)
    result = TaskResult(suite, tid, envs[0].task_description, [], [])
    try:
        for first in range(0, n_episodes, b):
            eps = list(range(first, min(first + b, n_episodes)))
            t = time.perf_counter()
            obs = [reset_to(envs[i], ep) for i, ep in enumerate(eps)]
            timings["reset_s"].append((time.perf_counter() - t) / len(eps))
            controller.reset(list(range(len(eps))))
            done, success = np.zeros(len(eps), bool), np.zeros(len(eps), bool)
            length = np.zeros(len(eps), int)
            frames = {i: [] for i, ep in enumerate(eps) if video_dir is not None and ep < n_videos}
            for _ in range(limit):
                batch = to_batch(obs, [result.task] * len(eps))
                if snapshot is not None:
                    _write_snapshot(batch, Path(snapshot))
                    snapshot = None  # the first frame only
                actions = controller.act(batch)
                t = time.perf_counter()
                for i in np.flatnonzero(~done):
                    obs[i], _, term, _, info = envs[i].step(np.asarray(actions[i], dtype=np.float64))
                    length[i] += 1
                    env_steps += 1
                    if i in frames:
                        frames[i].append(obs[i]["pixels"]["image"][::-1, ::-1].copy())
                    if term:
                        done[i], success[i] = True, bool(info["is_success"])
                timings["step_s"].append((time.perf_counter() - t) / max(1, len(eps)))
                if done.all():
                    break
            result.successes += success.tolist()
            result.lengths += length.tolist()
            for i, f in frames.items():
                if f:
                    path = Path(video_dir) / f"{suite}_task{tid}_ep{eps[i]}.mp4"
                    videos.append(str(write_video(f, path, fps=20)))
    finally:
        for env in envs:
            env.close()
    return result, videos, env_steps


def _write_snapshot(batch: dict, path: Path) -> Path:
    """Both cameras of the batch's first row, side by side, as an RGB PNG."""
    import imageio.v2 as imageio

    views = [(batch[k][0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for k in IMAGE_KEYS]
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.imwrite(path, np.concatenate(views, axis=1))
    return path
