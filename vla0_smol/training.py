"""Training through LeRobot's own ``lerobot-train`` (in this process), resumable, with a local log.

:func:`train_args` writes the command line a user would type; :func:`run_lerobot_train` runs
LeRobot's training entry point with it. The only extension is a log handler that appends every
metrics line LeRobot logs to ``<output_dir>/metrics.jsonl`` (LeRobot keeps metrics only in its
console log and in wandb, and wandb is optional), installed right after LeRobot configures logging.

Checkpoints are LeRobot's: each one is written into a new ``checkpoints/<step>/`` folder and
``checkpoints/last`` is pointed at it afterwards, so a crash or Ctrl-C mid-write leaves ``last`` on
the previous complete checkpoint. Running the same output folder again resumes from ``last``
(model, optimizer, scheduler, RNG and data order), up to the requested number of steps.
:func:`load_checkpoint` loads one back as a policy, for evaluation or deployment.

``TrainSpec.processes > 1`` runs the same entry point in that many processes through
``torch.distributed.run`` (data-parallel: gloo on the CPU, the multi-GPU path of LeRobot and
accelerate), each with ``TrainSpec.threads`` torch threads; ``batch_size`` is per process. On 2
CPU cores two single-threaded processes train faster than one process with two threads
(``benchmarks/train_step.py``). A run resumes with the number of processes and the batch it was
started with, so that it stays equal to an uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lerobot.utils.logging_utils import MetricsTracker

from .results import exclusive

LAST_CONFIG = Path("checkpoints/last/pretrained_model/train_config.json")
LAST_STEP = Path("checkpoints/last/training_state/training_step.json")


@dataclass
class TrainSpec:
    """One training run.

    Attributes:
        dataset_repo_id: LeRobot dataset id (``lerobot/pusht``, or a local id with ``dataset_root``).
        output_dir: run folder (checkpoints, metrics.jsonl); re-using it resumes the run.
        steps: optimizer steps in total.
        batch_size: samples per step, per process (the step's batch is ``batch_size * processes``).
        dataset_root: local folder of the dataset (None: the hub cache).
        policy: ``--policy.*`` overrides, e.g. ``{"vlm_model_name": "tiny", "chunk_size": 10}``.
        save_freq: steps between checkpoints.
        log_freq: steps between metrics lines.
        num_workers: dataloader worker processes.
        seed: global seed.
        wandb: "offline" (default, no account needed), "online" or "disabled".
        extra: more ``--key=value`` arguments for lerobot-train.
        quiet: show LeRobot's warnings and progress bar only (its INFO lines go to metrics.jsonl).
        policy_path: a checkpoint to fine-tune (``--policy.path``) instead of a new policy; one
            of another robot keeps its VLM weights and takes its ranges and features from the
            dataset (``VLA0SmolPolicy.from_pretrained``).
    """

    dataset_repo_id: str
    output_dir: Path
    steps: int
    batch_size: int
    dataset_root: Path | None = None
    policy: dict = field(default_factory=dict)
    save_freq: int = 1000
    log_freq: int = 50
    num_workers: int = 0
    seed: int = 1000
    wandb: str = "offline"
    extra: list[str] = field(default_factory=list)
    quiet: bool = False
    policy_path: Path | None = None
    processes: int = 1
    threads: int = 0

    def __post_init__(self):
        self.output_dir = Path(self.output_dir)
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.processes < 1:
            raise ValueError(f"processes must be >= 1, got {self.processes}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0 (0: torch's default), got {self.threads}")
        if self.wandb not in ("offline", "online", "disabled"):
            raise ValueError(f"wandb must be 'offline', 'online' or 'disabled', got {self.wandb!r}")


def _flag(key: str, value) -> str:
    if value is None:
        value = "null"
    elif isinstance(value, bool):
        value = str(value).lower()
    elif isinstance(value, list | tuple):
        value = "[" + ",".join(str(v) for v in value) + "]"
    return f"--{key}={value}"


def profile_spec(
    profile,
    output_dir: Path,
    dataset: tuple[str, Path | None],
    seed: int = 0,
    wandb: str = "offline",
    policy: dict | None = None,
    quiet: bool = True,
) -> TrainSpec:
    """The run of a profile (PushT, LIBERO or SO100) on ``dataset = (repo_id, root)``.

    Args:
        profile: any profile with ``steps``, ``batch_size``, ``save_freq``, ``device`` and ``policy``.
        output_dir: run folder (re-using it resumes).
        dataset: LeRobot dataset id and local root (None: the hub).
        seed: training seed (also the policy's).
        wandb: "offline", "online" or "disabled".
        policy: policy fields (default: the profile's, with the seed).
        quiet: keep LeRobot's per-step console log out of the notebook.

    The loss is logged every 50 steps, or 20 times per run if that is more often. Off the CPU the
    dataloader gets up to 8 worker processes, one per core; on the CPU none (2 cores train).
    A profile's ``train_processes`` and ``train_threads`` (if it has them) say how the training
    runs; ``profile.batch_size`` is the step's batch, split evenly over the processes.
    """
    repo_id, root = dataset
    processes = getattr(profile, "train_processes", 1)
    if profile.batch_size % processes:
        raise ValueError(f"batch_size {profile.batch_size} does not split over train_processes={processes}")
    return TrainSpec(
        dataset_repo_id=repo_id,
        dataset_root=root,
        output_dir=Path(output_dir),
        steps=profile.steps,
        batch_size=profile.batch_size // processes,
        processes=processes,
        threads=getattr(profile, "train_threads", 0),
        policy=policy if policy is not None else {"seed": seed, **profile.policy},
        save_freq=profile.save_freq,
        log_freq=max(1, min(50, profile.steps // 20)),
        num_workers=0 if profile.device == "cpu" else min(8, os.cpu_count() or 1),
        seed=seed,
        wandb=wandb,
        quiet=quiet,
    )


def train_args(spec: TrainSpec) -> list[str]:
    """``lerobot-train`` arguments for a spec (resuming if the output folder has a checkpoint)."""
    resume = (spec.output_dir / LAST_CONFIG).exists()
    if spec.policy_path is not None and not resume:  # a resumed run loads its own last checkpoint
        source = _flag("policy.path", spec.policy_path)
    else:
        source = _flag("policy.type", "vla0_smol")
    args = [
        _flag("dataset.repo_id", spec.dataset_repo_id),
        _flag("output_dir", spec.output_dir),
        _flag("steps", spec.steps),
        _flag("batch_size", spec.batch_size),
        _flag("save_freq", spec.save_freq),
        _flag("log_freq", spec.log_freq),
        _flag("num_workers", spec.num_workers),
        _flag("seed", spec.seed),
        _flag("env_eval_freq", 0),
        _flag("wandb.enable", spec.wandb != "disabled"),
        source,
        _flag("policy.push_to_hub", False),
    ]
    if spec.wandb != "disabled":
        args += [_flag("wandb.mode", spec.wandb), _flag("wandb.project", "vla0-smol")]
    if spec.num_workers == 0:
        args += [_flag("persistent_workers", False), _flag("prefetch_factor", "null")]
        args += [_flag("dataloader_multiprocessing_context", "null")]
    if spec.dataset_root is not None:
        args.append(_flag("dataset.root", spec.dataset_root))
    args += [_flag(f"policy.{k}", v) for k, v in spec.policy.items()]
    args += list(spec.extra)
    if resume:
        args += [_flag("resume", True), _flag("config_path", spec.output_dir / LAST_CONFIG)]
    return args


class MetricsFileHandler(logging.Handler):
    """Appends each LeRobot metrics line (a logged ``MetricsTracker``) to a JSON-lines file."""

    def __init__(self, path: Path):
        super().__init__(logging.INFO)
        self.path = Path(path)

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, MetricsTracker):
            row = {k: (float(v) if not isinstance(v, int) else v) for k, v in record.msg.to_dict().items()}
            with self.path.open("a") as f:
                f.write(json.dumps(row) + "\n")


def read_metrics(output_dir: Path) -> list[dict]:
    """Rows of ``metrics.jsonl`` (one per logged step window)."""
    path = Path(output_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _truncate_metrics(output_dir: Path, step: int) -> None:
    path = Path(output_dir) / "metrics.jsonl"
    rows = [r for r in read_metrics(output_dir) if r["steps"] <= step]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(path)


def run_lerobot_train(spec: TrainSpec) -> Path:
    """Run ``lerobot-train`` for a spec; return the last checkpoint's ``pretrained_model`` folder.

    Two processes given the same ``output_dir`` at once (chapters sharing a run, run in parallel)
    take turns (``<output_dir>.lock``): the second resumes or reuses what the first trained.
    """
    with exclusive(spec.output_dir):
        return _run_lerobot_train(spec)


def _run_lerobot_train(spec: TrainSpec) -> Path:
    if (spec.output_dir / "checkpoints" / "last").exists():
        done = json.loads((spec.output_dir / LAST_STEP).read_text())
        if done.get("step", 0) >= spec.steps:
            logging.getLogger(__name__).info("%s already trained for %d steps", spec.output_dir, spec.steps)
            return spec.output_dir / "checkpoints" / "last" / "pretrained_model"
        _truncate_metrics(spec.output_dir, done["step"])  # rows logged after the checkpoint are redone
        spec = _as_started(spec, done)
    elif spec.output_dir.exists() and any(spec.output_dir.iterdir()):
        raise FileExistsError(f"output_dir {spec.output_dir} exists but holds no checkpoint to resume")
    elif spec.output_dir.exists():
        spec.output_dir.rmdir()  # lerobot-train refuses an existing folder unless resuming
    if spec.processes == 1:
        _train_here(train_args(spec), spec.output_dir, spec.quiet, spec.threads)
    else:
        _train_processes(spec)
    return spec.output_dir / "checkpoints" / "last" / "pretrained_model"


def _as_started(spec: TrainSpec, done: dict) -> TrainSpec:
    """The spec with the processes and per-process batch its checkpoint was written with.

    LeRobot's data order resumes exactly only with the same world size and batch; a run started
    before the profile changed them finishes as it started (one line says so).
    """
    processes, batch = done.get("num_processes") or spec.processes, done.get("batch_size") or spec.batch_size
    if (processes, batch) == (spec.processes, spec.batch_size):
        return spec
    logging.getLogger(__name__).warning(
        "%s was started with %d process(es) of batch %d: resuming it so (the spec asks for %d of %d)",
        spec.output_dir, processes, batch, spec.processes, spec.batch_size,
    )  # fmt: skip
    return TrainSpec(**{**asdict(spec), "processes": processes, "batch_size": batch})


def _train_processes(spec: TrainSpec) -> None:
    """``lerobot-train`` in ``spec.processes`` data-parallel processes (``torch.distributed.run``)."""
    job = {"args": train_args(spec), "output_dir": str(spec.output_dir), "quiet": spec.quiet, "threads": spec.threads}
    env = dict(os.environ)
    if spec.threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(spec.threads)
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="vla0_train_", delete=False) as f:
        json.dump(job, f)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={spec.processes}"]
    cmd += ["-m", __name__, f.name]
    proc = subprocess.Popen(cmd, env=env)
    try:
        code = proc.wait()
    except KeyboardInterrupt:  # the launcher passes the signal on to its workers
        proc.terminate()
        proc.wait(timeout=60)
        raise
    finally:
        Path(f.name).unlink(missing_ok=True)
    if code != 0:
        raise RuntimeError(
            f"lerobot-train in {spec.processes} processes failed (exit code {code}); its output is above. "
            f"Command: {' '.join(cmd)}"
        )


def _train_here(args: list[str], output_dir: Path, quiet: bool, threads: int = 0) -> None:
    """LeRobot's training entry point in this process, metrics appended to ``metrics.jsonl``."""
    import lerobot.scripts.lerobot_train as lerobot_train
    import torch

    from .lerobot_train import exit_after_training_on_gloo

    output_dir = Path(output_dir)
    rank0 = os.environ.get("RANK", "0") == "0"  # in a multi-process run only rank 0 logs metrics
    metrics = MetricsFileHandler(output_dir / "metrics.jsonl")
    original_init_logging = lerobot_train.init_logging

    def init_logging_with_metrics(*args, **kwargs):
        if quiet:
            kwargs["console_level"] = "WARNING"
        original_init_logging(*args, **kwargs)
        if rank0:
            output_dir.mkdir(parents=True, exist_ok=True)
            logging.getLogger().addHandler(metrics)

    argv, torch_threads = sys.argv, torch.get_num_threads()
    sys.argv = ["lerobot-train", *args]
    lerobot_train.init_logging = init_logging_with_metrics
    if threads:
        torch.set_num_threads(threads)
    try:
        with exit_after_training_on_gloo():  # a data-parallel worker on CPUs: see vla0_smol.lerobot_train
            lerobot_train.main()
    finally:
        sys.argv = argv
        lerobot_train.init_logging = original_init_logging
        logging.getLogger().removeHandler(metrics)
        torch.set_num_threads(torch_threads)


def load_checkpoint(path: Path, device: str = "cpu", processors: bool = False, **overrides):
    """A trained policy from ``<run>/checkpoints/<step>/pretrained_model``, in eval mode.

    Args:
        path: the checkpoint folder.
        device: where the policy runs.
        processors: also return LeRobot's pre- and post-processors saved with it.
        overrides: inference fields of the config, e.g. ``decoder="hf"``, ``execution="temporal"``.

    Returns:
        The policy, or ``(policy, preprocessor, postprocessor)`` with ``processors``.
    """
    from .configuration_vla0_smol import VLA0SmolConfig
    from .modeling_vla0_smol import VLA0SmolPolicy

    config = VLA0SmolConfig.from_pretrained(path)
    config.device = device
    for k, v in overrides.items():
        if not hasattr(config, k):
            raise ValueError(f"unknown config field {k!r}")
        setattr(config, k, v)
    policy = VLA0SmolPolicy.from_pretrained(path, config=config).eval()
    if not processors:
        return policy
    from lerobot.policies.factory import make_pre_post_processors

    pre, post = make_pre_post_processors(
        config, pretrained_path=str(path), preprocessor_overrides={"device_processor": {"device": device}}
    )
    return policy, pre, post


if __name__ == "__main__":  # one process of a multi-process run (see _train_processes)
    _job = json.loads(Path(sys.argv[1]).read_text())
    _train_here(_job["args"], Path(_job["output_dir"]), _job["quiet"], _job["threads"])
