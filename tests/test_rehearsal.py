"""A CPU rehearsal of what GPU users run, through LeRobot's own command lines.

Each test runs the real entry point in a subprocess (``lerobot-train``, ``accelerate launch``,
``lerobot-eval``) as a user would, with only the data (a local dataset), the backbone (``tiny``),
the sizes and the device changed. The README's commands are parsed out of README.md, so a change
there is what gets tested.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from testkit import synthetic_pusht_dataset

BIN = Path(sys.executable).parent
README = Path(__file__).resolve().parents[1] / "README.md"
PUSHT_ID = "local/synthetic_pusht"


def _env() -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", WANDB_MODE="disabled", TOKENIZERS_PARALLELISM="false")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MUJOCO_GL", "egl")
    return env


def run(argv: list[str], cwd: Path, timeout: int = 600) -> str:
    """Run a command; return its combined output, or fail the test with the output's tail."""
    proc = subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        pytest.fail(f"{shlex.join(argv[:3])} ... exited {proc.returncode}:\n{out[-4000:]}")
    return out


def readme_command(prefix: str) -> list[str]:
    """The README command starting with ``prefix`` (continuation lines joined), as argv."""
    text = README.read_text()
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for command in block.replace("\\\n", " ").splitlines():
            if command.strip().startswith(prefix):
                return shlex.split(command, comments=True)  # a trailing "# ..." is a comment
    raise AssertionError(f"README.md has no command starting with {prefix!r}")


def override(argv: list[str], values: dict[str, str]) -> list[str]:
    """``argv`` with ``--key=value`` flags replaced, and added where missing."""
    keys = {a.split("=", 1)[0] for a in argv}
    out = [f"{a.split('=', 1)[0]}={values[a.split('=', 1)[0]]}" if a.split("=", 1)[0] in values else a for a in argv]
    return out + [f"{k}={v}" for k, v in values.items() if k not in keys]


def checkpoint_step(run_dir: Path) -> int:
    return json.loads((run_dir / "checkpoints/last/training_state/training_step.json").read_text())["step"]


@pytest.fixture(scope="module")
def pusht_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "synthetic_pusht"
    synthetic_pusht_dataset(root, episodes=2, frames=12, repo_id=PUSHT_ID)
    return root


# ----------------------------------------------------------------- lerobot-train, bf16, resume
@pytest.mark.slow
@pytest.mark.timeout(1500)  # subprocesses with their own limits
def test_lerobot_train_bf16_then_resume(pusht_data, tmp_path):
    """``--policy.dtype=bfloat16``: LeRobot trains under bf16 autocast (on the CPU too); it used
    to crash on the first forward. Two steps, a checkpoint, then a resumed run to four."""
    args = [
        str(BIN / "lerobot-train"),
        "--policy.type=vla0_smol",
        f"--dataset.repo_id={PUSHT_ID}",
        f"--dataset.root={pusht_data}",
        "--policy.vlm_model_name=tiny",
        "--policy.device=cpu",
        "--policy.crop_shape=[84,84]",
        "--policy.dtype=bfloat16",
        "--policy.push_to_hub=false",
        "--batch_size=2",
        "--save_freq=2",
        "--num_workers=0",
        "--output_dir=run",
    ]
    run([*args, "--steps=2"], tmp_path)
    assert checkpoint_step(tmp_path / "run") == 2
    config = "run/checkpoints/last/pretrained_model/train_config.json"
    run([*args, "--steps=4", "--resume=true", f"--config_path={config}"], tmp_path)
    assert checkpoint_step(tmp_path / "run") == 4
    assert (tmp_path / "run/checkpoints/000002").is_dir() and (tmp_path / "run/checkpoints/000004").is_dir()
    saved = json.loads((tmp_path / "run/checkpoints/last/pretrained_model/config.json").read_text())
    assert saved["dtype"] == "bfloat16"


# ----------------------------------------------------------------- multi-process (the LIBERO full recipe's launch)
def libero_dataset(root: Path, size: int, repo_id: str, episodes: int = 2, frames: int = 8) -> Path:
    """A LeRobotDataset with ``HuggingFaceVLA/libero``'s features (random frames: nothing is learnt)."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from vla0_smol.libero.env import libero_features

    ds = LeRobotDataset.create(repo_id, fps=10, root=root, features=libero_features(size), use_videos=False)
    rng = np.random.default_rng(0)
    for _ in range(episodes):
        for _ in range(frames):
            ds.add_frame(
                {
                    "observation.images.image": rng.integers(0, 255, (size, size, 3), dtype=np.uint8),
                    "observation.images.image2": rng.integers(0, 255, (size, size, 3), dtype=np.uint8),
                    "observation.state": rng.normal(size=8).astype(np.float32),
                    "action": rng.uniform(-1, 1, 7).astype(np.float32),
                    "task": "pick up the alphabet soup and place it in the basket",
                }
            )
        ds.save_episode()
    ds.finalize()
    return root


def without_this_environment_on_path(monkeypatch) -> None:
    """``PATH`` as in a shell where the venv is not activated (its ``bin/`` removed)."""
    kept = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p).resolve() != BIN.resolve()]
    monkeypatch.setenv("PATH", os.pathsep.join(kept or ["/usr/bin", "/bin"]))


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_train_libero_on_two_processes_then_resumes_without_the_venv_activated(tmp_path, monkeypatch, capfd):
    """``train_libero``'s multi-process branch, the ``full`` profile's path, with the venv not activated.

    It used to run a bare ``accelerate`` (``FileNotFoundError`` unless the venv's ``bin/`` is on
    ``PATH``). Here: the smoke profile with 2 processes (``accelerate launch --multi_gpu``; with
    ``--policy.device=cpu`` LeRobot's ``Accelerator(cpu=True)`` uses gloo), 2 steps, then the same
    run resumed to 4. ``accelerate launch --cpu --num_processes 2`` would start one process: ``--cpu``
    selects accelerate's single-process launcher (multi-CPU there needs an MPI hostfile).
    """
    import dataclasses

    from vla0_smol.libero.pipeline import launch_command, train_libero, train_spec
    from vla0_smol.libero.profiles import libero_profile

    size, repo_id = 64, "local/libero64"
    root = libero_dataset(tmp_path / "libero64", size, repo_id)
    smoke = libero_profile("smoke")
    policy = {**smoke.policy, "crop_shape": (58, 58)}
    prof = dataclasses.replace(smoke, num_processes=2, steps=2, save_freq=2, image_size=size, policy=policy)
    run_dir = tmp_path / "run"
    assert launch_command(train_spec(prof, run_dir, (repo_id, root)), 2)[:3] == ["accelerate", "launch", "--multi_gpu"]
    without_this_environment_on_path(monkeypatch)
    monkeypatch.chdir(tmp_path)
    checkpoint = train_libero(prof, run_dir, (repo_id, root), wandb="disabled")
    out = capfd.readouterr()
    assert "Effective batch size: 2 x 2 = 4" in out.out + out.err, (out.out + out.err)[-3000:]
    assert checkpoint == run_dir / "checkpoints/last/pretrained_model" and checkpoint_step(run_dir) == 2
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["crop_shape"] == [58, 58] and config["device"] == "cpu"

    longer = dataclasses.replace(prof, steps=4)
    train_libero(longer, run_dir, (repo_id, root), wandb="disabled")
    out = capfd.readouterr()
    assert checkpoint_step(run_dir) == 4, (out.out + out.err)[-3000:]
    assert (run_dir / "checkpoints/000002").is_dir() and (run_dir / "checkpoints/000004").is_dir()
    assert "Resum" in out.out + out.err  # resumed from step 2, not trained again from scratch
    assert train_libero(longer, run_dir, (repo_id, root), wandb="disabled") == checkpoint  # done: nothing run


# ----------------------------------------------------------------- the README's commands
@pytest.mark.slow
@pytest.mark.timeout(1500)  # subprocesses with their own limits
def test_readme_lerobot_train_and_eval_commands(pusht_data, tmp_path):
    """The README's PushT ``lerobot-train`` then ``lerobot-eval``, as written except data, backbone,
    sizes and device. The checkpoint must evaluate without a ``--policy.default_task`` flag
    (gym-pusht passes an empty task string)."""
    train = readme_command("lerobot-train --policy.type=vla0_smol --dataset.repo_id=lerobot/pusht")
    train = override(
        train,
        {
            "--dataset.repo_id": PUSHT_ID,
            "--dataset.root": str(pusht_data),
            "--policy.vlm_model_name": "tiny",
            "--policy.device": "cpu",
            "--steps": "2",
            "--batch_size": "2",
            "--save_freq": "2",
            "--num_workers": "0",
        },
    )
    run([str(BIN / train[0]), *train[1:]], tmp_path)
    evaluate = readme_command("lerobot-eval --policy.path=outputs/pusht_vla0_smol")
    sizes = {"--eval.n_episodes": "2", "--eval.batch_size": "2", "--env.episode_length": "10"}
    evaluate = override(evaluate, {**sizes, "--policy.device": "cpu", "--output_dir": "eval"})
    run([str(BIN / evaluate[0]), *evaluate[1:]], tmp_path)
    info = json.loads((tmp_path / "eval" / "eval_info.json").read_text())
    assert info["overall"]["n_episodes"] == 2


# ----------------------------------------------------------------- lerobot-eval on LIBERO
@pytest.mark.slow
@pytest.mark.timeout(1500)  # subprocesses with their own limits
def test_lerobot_eval_libero_sees_the_trained_image_size(tmp_path):
    """A checkpoint trained at 256 px (HuggingFaceVLA/libero's size), evaluated by ``lerobot-eval
    --env.type=libero`` on one official task. LeRobot renders 360 px by default: the policy resizes
    the frames to 256 px (and says so) so that its 230 px crop keeps the trained 90% of the view."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from vla0_smol.libero.env import libero_features, setup_libero

    setup_libero(offline=True)
    root = tmp_path / "libero256"
    ds = LeRobotDataset.create("local/libero256", fps=10, root=root, features=libero_features(256), use_videos=False)
    rng = np.random.default_rng(0)
    task = "pick up the alphabet soup and place it in the basket"
    for _ in range(8):
        ds.add_frame(
            {
                "observation.images.image": rng.integers(0, 255, (256, 256, 3), dtype=np.uint8),
                "observation.images.image2": rng.integers(0, 255, (256, 256, 3), dtype=np.uint8),
                "observation.state": rng.normal(size=8).astype(np.float32),
                "action": rng.uniform(-1, 1, 7).astype(np.float32),
                "task": task,
            }
        )
    ds.save_episode()
    ds.finalize()
    train = [
        str(BIN / "lerobot-train"),
        "--policy.type=vla0_smol",
        "--dataset.repo_id=local/libero256",
        f"--dataset.root={root}",
        "--policy.vlm_model_name=tiny",
        "--policy.device=cpu",
        "--policy.chunk_size=8",
        "--policy.n_action_steps=8",
        "--policy.crop_shape=[230,230]",
        "--policy.push_to_hub=false",
        "--batch_size=2",
        "--steps=1",
        "--num_workers=0",
        "--output_dir=run",
    ]
    run(train, tmp_path)
    evaluate = [
        str(BIN / "lerobot-eval"),
        "--policy.path=run/checkpoints/last/pretrained_model",
        "--policy.device=cpu",
        "--env.type=libero",
        "--env.task=libero_object",
        "--env.task_ids=[0]",
        "--env.episode_length=4",
        "--eval.n_episodes=1",
        "--eval.batch_size=1",
        "--output_dir=eval",
    ]
    out = run(evaluate, tmp_path, timeout=900)
    assert "is 360x360, the policy was trained on 256x256: resizing" in out
    info = json.loads((tmp_path / "eval" / "eval_info.json").read_text())
    assert info["overall"]["n_episodes"] == 1


# ----------------------------------------------------------------- the README's LIBERO `full` command
@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_readme_full_libero_command_reaches_lerobot_train_under_accelerate(tmp_path):
    """``.venv/bin/vla0-smol recipes run --profile full --only libero`` as the README writes it, with the
    venv not activated, on a machine with neither GPUs nor the hub: the recipe finds a local copy of
    ``HuggingFaceVLA/libero`` (random frames here) and launches accelerate's 8 processes of
    lerobot-train, which then stop where this machine differs from the GPU one (SmolVLM2 is not
    cached offline). Before the launch went through this interpreter, it stopped earlier, on
    ``FileNotFoundError: 'accelerate'``."""
    command = readme_command(".venv/bin/vla0-smol recipes run --profile full --only libero")
    assert command[0] == ".venv/bin/vla0-smol"
    home = tmp_path / "lerobot_home"
    libero_dataset(home / "HuggingFaceVLA" / "libero", 256, "HuggingFaceVLA/libero", episodes=1, frames=4)
    kept = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p).resolve() != BIN.resolve()]
    env = dict(_env(), HF_LEROBOT_HOME=str(home), PATH=os.pathsep.join(kept or ["/usr/bin", "/bin"]))
    argv = [str(BIN / "vla0-smol"), *command[1:], "--results-dir", str(tmp_path / "results")]
    proc = subprocess.run(argv, cwd=README.parent, env=env, capture_output=True, text=True, timeout=1100)
    log_file = tmp_path / "results" / "full" / "logs" / "libero.log"
    assert log_file.is_file(), (proc.stdout + proc.stderr)[-3000:]
    log = log_file.read_text()
    out = proc.stdout + proc.stderr + log
    assert "No such file or directory: 'accelerate'" not in out, out[-3000:]
    assert proc.returncode == 1 and "libero: " in proc.stdout  # the recipe fails on this machine, named
    # accelerate's launcher (torch.distributed.run) ran lerobot-train's module in 8 worker processes
    assert "lerobot.scripts.lerobot_train" in out or "lerobot_train" in out, out[-3000:]
    assert "ChildFailedError" in out and "local_rank: 7" in out, out[-3000:]
