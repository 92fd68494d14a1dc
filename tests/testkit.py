"""Builders the tests share: a tiny PushT policy, a batch, a synthetic LeRobot dataset, a train spec.

A plain module, imported as ``from testkit import ...``: helpers never live in a ``conftest.py``,
because with two of them (``tests/`` and ``tests/book/``) ``import conftest`` finds whichever
pytest put first on ``sys.path`` and the collection of a whole run fails.
"""

from __future__ import annotations

import numpy as np
import torch

from vla0_smol import VLA0SmolPolicy
from vla0_smol.pusht.pipeline import PUSHT_WORKSPACE_STATS as PUSHT_STATS  # noqa: F401 (re-exported)
from vla0_smol.pusht.pipeline import pusht_config, pusht_policy  # noqa: F401 (re-exported)

PUSHT_TASK = "Push the T-shaped block onto the T-shaped target."


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


def parameterised_notebook(path, source: str) -> None:
    """A two-cell notebook at ``path``: the book's ``parameters`` cell, then ``source``."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "smoke"\nseed = 0\nout_dir = None')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
