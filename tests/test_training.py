"""Training through LeRobot's loop: checkpoints, exact resume, local metrics, datasets built once."""

import json
import shutil

import pytest
import torch
from conftest import tiny_train_spec
from safetensors.torch import load_file

from vla0_smol.datasets import build_once
from vla0_smol.training import TrainSpec, read_metrics, run_lerobot_train, train_args


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
