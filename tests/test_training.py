"""Training through LeRobot's loop: checkpoints, exact resume, local metrics, datasets built once."""

import json
import shutil
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file
from testkit import tiny_train_spec

from vla0_smol.datasets import build_once
from vla0_smol.training import (
    LAST_STEP,
    TrainSpec,
    _as_started,
    profile_spec,
    read_metrics,
    run_lerobot_train,
    train_args,
)


@pytest.fixture(scope="module")
def trained(synthetic_dataset, tiny_run, tmp_path_factory):
    """4 steps in one go (``tiny_run``); and 4 steps that crash after the step-2 checkpoint, then resume."""
    straight = tiny_run
    resumed = tmp_path_factory.mktemp("resumed")
    run_lerobot_train(tiny_train_spec(synthetic_dataset, resumed, 4))
    # the crash: step 4 never reached the disk, `last` still points at step 2
    ckpts = resumed / "checkpoints"
    shutil.rmtree(ckpts / "000004")
    (ckpts / "last").unlink()
    (ckpts / "last").symlink_to("000002")
    assert "--resume=true" in train_args(tiny_train_spec(synthetic_dataset, resumed, 4))
    run_lerobot_train(tiny_train_spec(synthetic_dataset, resumed, 4))
    return straight, resumed


def test_checkpoint_layout_and_metrics_log(trained):
    straight, resumed = trained
    ckpt = straight / "checkpoints" / "last" / "pretrained_model"
    for name in ("model.safetensors", "config.json", "train_config.json", "backbone/tokenizer.json"):
        assert (ckpt / name).exists(), name
    assert json.loads((straight / "checkpoints/last/training_state/training_step.json").read_text())["step"] == 4
    assert [r["steps"] for r in read_metrics(straight)] == [1, 2, 3, 4]
    assert [r["steps"] for r in read_metrics(resumed)] == [1, 2, 3, 4]  # rows 3-4 redone once, not twice
    assert all(r["loss"] > 0 for r in read_metrics(straight))


def test_resume_is_exact(trained):
    """Model, optimizer, scheduler, RNG (masking, crops) and data order all resume."""
    straight, resumed = trained
    a = load_file(straight / "checkpoints/last/pretrained_model/model.safetensors")
    b = load_file(resumed / "checkpoints/last/pretrained_model/model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    oa = load_file(straight / "checkpoints/last/training_state/optimizer_state.safetensors")
    ob = load_file(resumed / "checkpoints/last/training_state/optimizer_state.safetensors")
    for k in oa:
        torch.testing.assert_close(oa[k], ob[k], rtol=1e-5, atol=1e-6)


def test_finished_run_is_not_retrained(trained, synthetic_dataset):
    straight, _ = trained
    before = (straight / "metrics.jsonl").read_text()
    run_lerobot_train(tiny_train_spec(synthetic_dataset, straight, 4))
    assert (straight / "metrics.jsonl").read_text() == before


def test_bad_train_spec():
    with pytest.raises(ValueError, match="steps"):
        TrainSpec("x", "/tmp/x", steps=0, batch_size=1)
    with pytest.raises(ValueError, match="wandb"):
        TrainSpec("x", "/tmp/x", steps=1, batch_size=1, wandb="cloud")


def test_interrupted_dataset_build_is_redone(tmp_path):
    """A build that dies half-way leaves nothing under the final name; the next call starts over."""
    calls = []

    def dies(folder):
        (folder / "meta").mkdir(parents=True)
        (folder / "half.parquet").write_text("x")
        raise KeyboardInterrupt

    def builds(folder):
        calls.append(folder)
        (folder / "meta").mkdir(parents=True)
        (folder / "meta" / "info.json").write_text("{}")

    root = tmp_path / "ds"
    with pytest.raises(KeyboardInterrupt):
        build_once(root, dies)
    assert not root.exists()
    assert build_once(root, builds) == root and (root / "meta" / "info.json").exists()
    assert not (root / "half.parquet").exists() and not root.with_name("ds.partial").exists()
    build_once(root, builds)  # finished: not built again
    assert len(calls) == 1


def _crash_after_step_2(run_dir):
    """Make a finished 4-step run look as if it died before the step-4 checkpoint reached the disk."""
    ckpts = run_dir / "checkpoints"
    shutil.rmtree(ckpts / "000004")
    (ckpts / "last").unlink()
    (ckpts / "last").symlink_to("000002")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_two_processes_train_and_resume_exactly(synthetic_dataset, tmp_path):
    """Data-parallel training (two single-threaded processes, gloo) checkpoints and resumes exactly.

    Two launches: 4 steps straight; then a copy of that run, cut back to its step-2 checkpoint
    (as a crash before step 4 reached the disk leaves it), resumed to step 4.
    """
    spec = lambda out: replace(tiny_train_spec(synthetic_dataset, out, 4), processes=2, threads=1, batch_size=2)  # noqa: E731
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    run_lerobot_train(spec(straight))
    state = json.loads((straight / LAST_STEP).read_text())
    assert (state["step"], state["num_processes"], state["batch_size"]) == (4, 2, 2)
    assert [r["steps"] for r in read_metrics(straight)] == [1, 2, 3, 4]
    assert [r["samples"] for r in read_metrics(straight)] == [4, 8, 12, 16]  # 2 processes x 2 samples per step
    shutil.copytree(straight, resumed, symlinks=True)
    _crash_after_step_2(resumed)
    run_lerobot_train(spec(resumed))
    assert [r["steps"] for r in read_metrics(resumed)] == [1, 2, 3, 4]
    assert json.loads((resumed / LAST_STEP).read_text())["step"] == 4
    a = load_file(straight / "checkpoints/last/pretrained_model/model.safetensors")
    b = load_file(resumed / "checkpoints/last/pretrained_model/model.safetensors")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


def test_a_run_resumes_as_it_was_started(tmp_path):
    """A checkpoint of one process of batch 4 resumes so, whatever the spec asks now (exact data order)."""
    spec = TrainSpec("x", tmp_path / "run", steps=8, batch_size=2, processes=2, threads=1)
    done = {"step": 2, "num_processes": 1, "batch_size": 4}
    again = _as_started(spec, done)
    assert (again.processes, again.batch_size, again.threads) == (1, 4, 1)
    assert _as_started(spec, {"step": 2, "num_processes": 2, "batch_size": 2}) is spec
    assert _as_started(spec, {"step": 2}) is spec  # checkpoints that do not record them


def test_profile_splits_the_step_batch_over_its_processes():
    from vla0_smol.pusht.profiles import pusht_profile

    prof = pusht_profile("cpu")
    spec = profile_spec(prof, "/tmp/x", ("local/x", None))
    assert spec.processes == prof.train_processes and spec.threads == prof.train_threads
    assert spec.batch_size * spec.processes == prof.batch_size
    with pytest.raises(ValueError, match="train_processes"):
        profile_spec(replace(prof, batch_size=33, train_processes=2), "/tmp/x", ("local/x", None))
    with pytest.raises(ValueError, match="processes"):
        TrainSpec("x", "/tmp/x", steps=1, batch_size=1, processes=0)


GLOO_WORKER = """
import logging, logging.handlers, sys
from accelerate import Accelerator
from vla0_smol.lerobot_train import exit_after_training_on_gloo

log = logging.getLogger("run")
target = logging.FileHandler(sys.argv[1] + f".{Accelerator(cpu=True).process_index}")
log.addHandler(logging.handlers.MemoryHandler(capacity=100, target=target))  # written at shutdown only

def train():  # the end of LeRobot's train(), whose teardown can hang a gloo worker
    accelerator = Accelerator(cpu=True)
    log.warning("trained on backend %s", __import__("torch").distributed.get_backend())
    accelerator.wait_for_everyone()
    accelerator.end_training()
    print("teardown reached", flush=True)

with exit_after_training_on_gloo():
    train()
"""


@pytest.mark.slow
def test_a_gloo_worker_exits_after_end_training_with_its_logs_flushed(tmp_path):
    """Two data-parallel CPU processes leave right after ``end_training``: nothing of train()'s frame
    teardown runs (there, gloo's destructor deadlocked one worker of the two-process LIBERO rehearsal
    under load: ``~ProcessGroupGloo`` joining a thread that waits for the GIL), and each process's
    buffered log still reaches its file."""
    import subprocess
    import sys

    script = tmp_path / "worker.py"
    script.write_text(GLOO_WORKER)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)]
    proc = subprocess.run([*cmd, str(tmp_path / "log")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "teardown reached" not in proc.stdout
    for rank in (0, 1):
        assert "trained on backend gloo" in (tmp_path / f"log.{rank}").read_text()


def test_one_process_is_left_to_end_as_usual():
    """Without a process group nothing changes: the code after ``end_training`` runs."""
    from accelerate import Accelerator

    from vla0_smol.lerobot_train import exit_after_training_on_gloo

    reached = []
    with exit_after_training_on_gloo():
        Accelerator(cpu=True).end_training()
        reached.append(True)
    assert reached == [True]
    assert Accelerator.end_training.__name__ == "end_training" and Accelerator.end_training.__module__.startswith(
        "accelerate"
    )  # restored


BUILD_SLOWLY = """
import sys, time
from pathlib import Path
from vla0_smol.datasets import build_once

root, log = Path(sys.argv[1]), Path(sys.argv[2])

def build(folder):
    folder.mkdir(parents=True)
    with open(log, "a") as f:
        f.write("built\\n")
    for _ in range(600):  # build only once both processes have asked for the dataset
        if len(list(log.parent.glob("arrived.*"))) == 2:
            break
        time.sleep(0.1)
    (folder / "meta").mkdir()
    (folder / "meta" / "info.json").write_text("{}")

(log.parent / f"arrived.{sys.argv[3]}").touch()
build_once(root, build)
"""


def test_two_processes_asking_for_one_dataset_build_it_once(tmp_path):
    """Two chapters run side by side (``recipes run --jobs 2``) need the same dataset: one builds it,
    the other waits and reuses it. Without the lock both build into the same ``.partial`` folder."""
    import subprocess
    import sys

    script, log, root = tmp_path / "build.py", tmp_path / "builds.log", tmp_path / "data" / "ds"
    script.write_text(BUILD_SLOWLY)
    cmd = [sys.executable, str(script), str(root), str(log)]
    procs = [subprocess.Popen([*cmd, name], stderr=subprocess.PIPE) for name in "ab"]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    assert log.read_text() == "built\n" and (root / "meta" / "info.json").exists()


def test_a_run_folder_is_trained_by_one_caller_at_a_time(tmp_path, monkeypatch):
    """``run_lerobot_train`` waits while another holds its run folder (a chapter training the run
    two chapters share); once released it goes on, and then finds the run trained."""
    import threading

    import vla0_smol.training as training
    from vla0_smol.results import exclusive

    calls = []
    monkeypatch.setattr(training, "_run_lerobot_train", lambda spec: calls.append(spec.output_dir))
    held, release = threading.Event(), threading.Event()

    def other_chapter():
        with exclusive(tmp_path / "run"):
            held.set()
            release.wait(60)

    holder = threading.Thread(target=other_chapter)
    holder.start()
    held.wait(60)
    caller = threading.Thread(
        target=training.run_lerobot_train, args=(TrainSpec("x", tmp_path / "run", steps=1, batch_size=1),)
    )
    caller.start()
    caller.join(1.0)
    assert caller.is_alive() and calls == []  # waiting for the lock, not training beside the other
    release.set()
    caller.join(60)
    holder.join(60)
    assert calls == [tmp_path / "run"]
