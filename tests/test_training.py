"""Training through LeRobot's loop (checkpoint, exact resume, local metrics) and PushT evaluation."""

import json
import shutil

import pytest
import torch
from conftest import synthetic_pusht_dataset
from safetensors.torch import load_file

from vla0_smol.datasets import build_once
from vla0_smol.evaluation import PolicyController, RandomController, evaluate_pusht
from vla0_smol.training import TrainSpec, read_metrics, run_lerobot_train, train_args

POLICY = {"vlm_model_name": "tiny", "device": "cpu", "crop_shape": [80, 80]}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "synthetic"
    synthetic_pusht_dataset(root, episodes=2, frames=12)
    return "local/synthetic_pusht", root


def _spec(dataset, out, steps):
    return TrainSpec(
        dataset[0],
        out,
        steps=steps,
        batch_size=4,
        dataset_root=dataset[1],
        policy=POLICY,
        save_freq=2,
        log_freq=1,
        wandb="disabled",
    )


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    """4 steps in one go; and 4 steps that crash after the step-2 checkpoint, then resume."""
    straight = tmp_path_factory.mktemp("straight")
    resumed = tmp_path_factory.mktemp("resumed")
    run_lerobot_train(_spec(dataset, straight, 4))
    run_lerobot_train(_spec(dataset, resumed, 4))
    # the crash: step 4 never reached the disk, `last` still points at step 2
    ckpts = resumed / "checkpoints"
    shutil.rmtree(ckpts / "000004")
    (ckpts / "last").unlink()
    (ckpts / "last").symlink_to("000002")
    assert "--resume=true" in train_args(_spec(dataset, resumed, 4))
    run_lerobot_train(_spec(dataset, resumed, 4))
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


def test_finished_run_is_not_retrained(trained, dataset):
    straight, _ = trained
    before = (straight / "metrics.jsonl").read_text()
    run_lerobot_train(_spec(dataset, straight, 4))
    assert (straight / "metrics.jsonl").read_text() == before


@pytest.mark.parametrize("execution", ["chunk", "temporal"])
def test_two_env_evaluation_batches_the_decoding(trained, execution):
    straight, _ = trained
    controller = PolicyController.from_checkpoint(straight / "checkpoints/last/pretrained_model", execution=execution)
    sizes = []
    real = controller.policy.predict_action_chunk

    def spy(batch, **kw):
        sizes.append(batch["observation.image"].shape[0])
        return real(batch, **kw)

    controller.policy.predict_action_chunk = spy
    result = evaluate_pusht(controller, n_episodes=3, batch_size=2, max_steps=6, progress=False)
    assert len(result.episodes) == 3 and result.env_steps == 18
    if execution == "temporal":
        # one batched decode per control step: 6 steps x 2 envs, then the third episode's 6 steps
        # (its idle neighbour rides along in the batch)
        assert sizes == [2] * 12
    else:
        # chunks at steps 0 and 5 for both envs, then for env 0 alone (its third episode)
        assert sizes[:4] == [2, 2, 1, 1]


def test_evaluation_refuses_a_policy_for_another_robot(trained):
    straight, _ = trained
    controller = PolicyController.from_checkpoint(straight / "checkpoints/last/pretrained_model")
    with pytest.raises(ValueError, match="action dimension is 2 but the environment's is 7"):
        PolicyController(controller.policy, action_dim=7)


def test_random_controller_same_seeds_same_episodes():
    a = evaluate_pusht(RandomController(1), n_episodes=2, batch_size=2, max_steps=5, progress=False)
    b = evaluate_pusht(RandomController(1), n_episodes=2, batch_size=1, max_steps=5, progress=False)
    assert [e.max_coverage for e in a.episodes] == [e.max_coverage for e in b.episodes]


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
