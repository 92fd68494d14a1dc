"""The LIBERO recipe: data, training with ``lerobot-train``, then evaluation of every suite.

At ``full`` this is the blog's headline run (its "LIBERO" section): SmolVLM2-500M fine-tuned on
``HuggingFaceVLA/libero`` (two cameras, 8-D state, 7-D absolute actions) with chunks of 8, peak
learning rate 5e-5 on a cosine schedule over 100k steps, global batch 192, bf16, whole-action
masking and a 230 px random crop of the 256 px frames; then every task of the four suites over
LIBERO's 50 fixed initial states, with temporal ensembling over the 8 overlapping chunks and with
8 steps ahead. At ``smoke`` / ``cpu`` the same code trains the tiny preset for a few steps on
a LIBERO-format dataset recorded here (:mod:`vla0_smol.libero.dataset`) and evaluates a few
short episodes: it tests the pipeline on official LIBERO tasks, its numbers are not the blog's.

:func:`run_libero` does it all and writes ``<out_dir>/libero.json``; the settings are the
profiles of :mod:`vla0_smol.libero.profiles`.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from ..datasets import build_once, default_data_dir
from ..results import save_json
from ..training import (
    LAST_CONFIG,
    TrainSpec,
    load_checkpoint,
    profile_spec,
    read_metrics,
    run_lerobot_train,
    train_args,
)
from .env import LIBERO_DATASET, setup_libero
from .evaluation import LiberoEvalResult, LiberoPolicyController, evaluate_libero
from .profiles import EVAL_MODES, LiberoProfile, libero_profile


class LiberoDataUnavailable(FileNotFoundError):
    """The LIBERO dataset would have to be downloaded, and downloads are off."""


# ----------------------------------------------------------------------------- data
def require_libero_dataset(repo_id: str = LIBERO_DATASET, root: Path | None = None) -> Path | None:
    """The dataset's local folder, or None when LeRobot may download it; fails fast otherwise.

    Raises:
        LiberoDataUnavailable: no local copy and ``HF_HUB_OFFLINE`` is set (no download possible).
    """
    from lerobot.utils.constants import HF_LEROBOT_HOME

    local = Path(root) if root else Path(HF_LEROBOT_HOME) / repo_id
    if (local / "meta" / "info.json").is_file():
        return local
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise LiberoDataUnavailable(
            f"the LIBERO dataset {repo_id!r} is not at {local} and HF_HUB_OFFLINE is set: it must be "
            f"downloaded from the Hugging Face hub on a machine with internet "
            f"(unset HF_HUB_OFFLINE) or given as a local copy (dataset root). Offline, use the "
            f"'smoke' or 'cpu' profile (a LIBERO-format dataset generated here)."
        )
    return None


def libero_dataset(profile: LiberoProfile, data_dir: Path | None = None) -> tuple[str, Path | None]:
    """``(repo_id, root)`` of the profile's training data, recording the local dataset if missing.

    ``data_dir`` defaults to :func:`~vla0_smol.datasets.default_data_dir`.
    """
    if not profile.dataset_repo_id.startswith("local/"):
        return profile.dataset_repo_id, require_libero_dataset(profile.dataset_repo_id)
    from .dataset import make_libero_dataset

    tasks = "-".join(map(str, profile.scripted_task_ids))
    name = f"libero_{profile.scripted_suite}_t{tasks}_n{profile.scripted_episodes}_f{profile.scripted_frames}"
    root = Path(data_dir or default_data_dir()) / f"{name}_{profile.image_size}px"
    repo_id = f"local/{root.name}"
    sizes = (profile.scripted_task_ids, profile.scripted_episodes, profile.scripted_frames, profile.image_size)
    build_once(root, lambda tmp: make_libero_dataset(tmp, profile.scripted_suite, *sizes, repo_id))
    return repo_id, root


# ----------------------------------------------------------------------------- training
def run_dir_for(profile: LiberoProfile, results_dir: Path, seed: int) -> Path:
    """The training folder of a profile's settings (identical settings share one run)."""
    key = json.dumps({"policy": profile.policy, "seed": seed, "steps": profile.steps}, sort_keys=True, default=str)
    return Path(results_dir) / "runs" / f"libero_{hashlib.sha1(key.encode()).hexdigest()[:12]}"


def train_spec(profile: LiberoProfile, run_dir: Path, dataset, seed: int = 0, wandb: str = "offline") -> TrainSpec:
    """The ``lerobot-train`` run of a profile on ``dataset = (repo_id, root)``."""
    return profile_spec(profile, run_dir, dataset, seed, wandb)


def launch_command(spec: TrainSpec, num_processes: int) -> list[str]:
    """The shell command of a run on ``num_processes`` GPUs (accelerate + LeRobot's own lerobot-train).

    This is what a user types (``accelerate launch ...``); :func:`train_libero` runs the same
    arguments through :func:`interpreter_command`. The module is :mod:`vla0_smol.lerobot_train`:
    LeRobot's entry point, which on GPUs is ``-m lerobot.scripts.lerobot_train`` unchanged and in a
    CPU rehearsal (gloo) exits once training has ended instead of hanging in gloo's teardown.
    """
    return [
        "accelerate",
        "launch",
        "--multi_gpu",
        f"--num_processes={num_processes}",
        "--mixed_precision=bf16" if spec.policy.get("dtype") == "bfloat16" else "--mixed_precision=no",
        "-m",
        "vla0_smol.lerobot_train",  # LeRobot's lerobot-train; a CPU (gloo) run exits without hanging
        *train_args(spec),
    ]


def interpreter_command(command: list[str]) -> list[str]:
    """``command`` (``accelerate launch ...``) run by this interpreter's accelerate.

    A bare ``accelerate`` is looked up on ``PATH``, which holds the environment's scripts only
    when it is activated: ``.venv/bin/vla0-smol recipes run --profile full --only libero`` would
    fail with ``FileNotFoundError: 'accelerate'`` after the dataset download. accelerate's
    launcher then starts the processes with ``sys.executable`` too (``torch.distributed.run``).
    """
    if command[:2] != ["accelerate", "launch"]:
        raise ValueError(f"not an 'accelerate launch' command: {command[:2]}")
    return [sys.executable, "-m", "accelerate.commands.launch", *command[2:]]


def train_libero(profile: LiberoProfile, run_dir: Path, dataset, seed: int = 0, wandb: str = "offline") -> Path:
    """Train (or resume) the profile's run; return the last checkpoint's ``pretrained_model``.

    One process runs ``lerobot-train`` in this interpreter (:func:`~vla0_smol.training.run_lerobot_train`,
    with a local ``metrics.jsonl``); several (``num_processes > 1``, the blog's global batch) run it
    under ``accelerate launch`` (:func:`launch_command`, run by :func:`interpreter_command`; metrics
    then go to LeRobot's log and wandb).
    """
    spec = train_spec(profile, run_dir, dataset, seed, wandb)
    if profile.num_processes == 1:
        return run_lerobot_train(spec)
    last = spec.output_dir / "checkpoints" / "last"
    step_file = last / "training_state" / "training_step.json"
    if not (step_file.exists() and json.loads(step_file.read_text()).get("step", 0) >= spec.steps):
        if spec.output_dir.is_dir() and not any(spec.output_dir.iterdir()):
            spec.output_dir.rmdir()  # lerobot-train refuses an existing folder unless resuming
        subprocess.run(interpreter_command(launch_command(spec, profile.num_processes)), check=True)
    if not (spec.output_dir / LAST_CONFIG).exists():
        raise FileNotFoundError(f"training finished without a checkpoint in {last}")
    return last / "pretrained_model"


# ----------------------------------------------------------------------------- evaluation
def load_controller(checkpoint: Path, device: str = "cpu", **overrides) -> LiberoPolicyController:
    """A checkpoint with its LeRobot processors; ``overrides`` set inference fields (e.g. ``execution``)."""
    return LiberoPolicyController(*load_checkpoint(checkpoint, device, processors=True, **overrides))


def evaluate_checkpoint(
    checkpoint: Path,
    profile: LiberoProfile,
    mode: str,
    video_dir: Path | None = None,
    snapshot: Path | None = None,
    results_dir: Path | None = None,
) -> LiberoEvalResult:
    """Evaluate a checkpoint on the profile's tasks under one inference protocol of :data:`EVAL_MODES`.

    With ``results_dir``, every finished task is appended to a file there named after the
    checkpoint, the protocol and the sizes (:func:`eval_results_file`); a rerun skips those tasks.
    """
    if mode not in EVAL_MODES:
        raise ValueError(f"unknown evaluation mode {mode!r}; known: {list(EVAL_MODES)}")
    controller = load_controller(checkpoint, profile.device, **EVAL_MODES[mode])
    with _torch_threads(1 if profile.device == "cpu" else None):
        result = evaluate_libero(
            controller,
            suites=profile.eval_suites,
            task_ids=None if profile.eval_task_ids is None else list(profile.eval_task_ids),
            n_episodes=profile.eval_episodes,
            batch_size=profile.eval_batch,
            max_steps=profile.eval_max_steps,
            size=profile.image_size,
            video_dir=video_dir,
            n_videos=1,
            snapshot=snapshot,
            results_file=None if results_dir is None else eval_results_file(results_dir, checkpoint, profile, mode),
            desc=f"LIBERO ({mode})",
        )
    result.timings["invalid_chunks"] = controller.policy.invalid_chunks
    return result


def eval_results_file(results_dir: Path, checkpoint: Path, profile: LiberoProfile, mode: str) -> Path:
    """``<results_dir>/<protocol>_<key>.jsonl``: the key changes with the checkpoint's files and the sizes."""
    weights = Path(checkpoint) / "model.safetensors"
    stat = weights.stat() if weights.exists() else None
    key = {
        "checkpoint": str(Path(checkpoint).resolve()),
        "weights": None if stat is None else [stat.st_size, stat.st_mtime_ns],
        "mode": EVAL_MODES[mode],
        "episodes": profile.eval_episodes,
        "max_steps": profile.eval_max_steps,
        "size": profile.image_size,
    }
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    return Path(results_dir) / f"{mode.replace(' ', '_')}_{digest}.jsonl"


@contextmanager
def _torch_threads(n: int | None):
    """Run with ``n`` intra-op CPU threads (None: unchanged), then restore.

    Measured on a 2-core machine with a LIBERO environment alive (MuJoCo rendering with Mesa): one
    decode of the tiny preset took 7-11 s with torch's 2 threads and 0.25-0.3 s with 1, the
    threads' synchronisation losing against the simulator and other processes for the cores.
    """
    import torch

    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_libero(
    profile: str | LiberoProfile,
    out_dir: Path,
    seed: int = 0,
    data_dir: Path | None = None,
    wandb: str = "offline",
    checkpoint: str | Path = "",
) -> dict:
    """Data -> ``lerobot-train`` -> evaluation per protocol; writes and returns ``<out_dir>/libero.json``.

    The JSON holds the profile and its settings, the checkpoint's resolved config, the success
    rate per suite and protocol, one row per episode (suite, task id, LIBERO initial state,
    success, steps) and wall times. ``out_dir`` is ``results/<profile>``; the training run goes to
    ``<out_dir>/runs/`` and resumes if interrupted; evaluation resumes task by task
    (``<out_dir>/libero_eval/``).

    ``checkpoint`` (a folder or hub id, e.g. the authors' ``olegbalakhnov/libero_vla0_final``):
    no data and no training, that checkpoint is evaluated with the profile's protocols and tasks;
    one of the authors' ``vla0`` policy is converted first into ``<out_dir>/checkpoints/``
    (:func:`~vla0_smol.convert.resolve_checkpoint`). Empty: train as the profile says.
    """
    from ..configuration_vla0_smol import VLA0SmolConfig
    from ..convert import resolve_checkpoint

    t_start = time.perf_counter()
    prof = libero_profile(profile) if isinstance(profile, str) else profile
    out_dir = Path(out_dir)
    stages = {}
    t = time.perf_counter()
    paths = setup_libero(offline=prof.offline_assets)
    stages["setup_s"] = time.perf_counter() - t
    given = str(checkpoint or "")
    if given:
        t = time.perf_counter()
        repo_id, root, metrics = None, None, []
        checkpoint = resolve_checkpoint(given, out_dir / "checkpoints")
        stages["checkpoint_s"] = time.perf_counter() - t
    else:
        t = time.perf_counter()
        repo_id, root = libero_dataset(prof, data_dir)
        stages["dataset_s"] = time.perf_counter() - t
        t = time.perf_counter()
        run_dir = run_dir_for(prof, out_dir, seed)
        checkpoint = train_libero(prof, run_dir, (repo_id, root), seed, wandb)
        stages["train_s"] = time.perf_counter() - t
        metrics = read_metrics(run_dir)
    resolved = VLA0SmolConfig.from_pretrained(checkpoint)
    snapshot = out_dir / "plots" / "libero_cameras.png"
    success, average, evaluations, episodes = {}, {}, {}, []
    for i, mode in enumerate(prof.eval_modes):
        t = time.perf_counter()
        video_dir = out_dir / "libero_videos" / mode.replace(" ", "_")
        result = evaluate_checkpoint(
            checkpoint, prof, mode, video_dir, snapshot if i == 0 else None, results_dir=out_dir / "libero_eval"
        )
        stages[f"eval_s ({mode})"] = time.perf_counter() - t
        s = result.summary()
        success[mode], average[mode] = s["per_suite"], s["average"]
        evaluations[mode] = {**s, "inference_overrides": EVAL_MODES[mode]}
        episodes += [{**row, "mode": mode} for row in result.episodes()]
    converted = (Path(checkpoint) / "vla0_conversion.json").is_file()
    source = {"argument": given, "folder": str(checkpoint), "converted_from_vla0": converted} if given else None
    train = {"steps": prof.steps, "global_batch": prof.global_batch, "checkpoint": str(checkpoint)}
    train = None if given else {**train, "final_loss": metrics[-1]["loss"] if metrics else None}
    summary = {
        "recipe": "libero",
        "profile": prof.name,
        "model": resolved.vlm_model_name,
        "seed": seed,
        "checkpoint": source,
        "benchmark": {
            "tasks": "official LIBERO suites (hf-libero's task files and fixed initial states, LeRobot's LiberoEnv)",
            "offline_assets": prof.offline_assets,
            "assets": None if paths is None else str(paths.source),
            "asset_files_verified": None if paths is None else paths.n_files,
        },
        "dataset": repo_id,
        "dataset_root": None if root is None else str(root),
        "profile_settings": prof.to_dict(),
        "resolved_config": json.loads(json.dumps(resolved.__dict__, default=str)),
        "train": train,
        "episodes_per_task": prof.eval_episodes,
        "success": success,
        "average": average,
        "episodes": episodes,
        "evaluations": evaluations,
        "camera_snapshot": str(snapshot) if snapshot.exists() else None,
        "stage_seconds": {k: round(v, 1) for k, v in stages.items()},
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    save_json(summary, out_dir / "libero.json")
    return summary
