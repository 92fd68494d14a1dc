"""SO100 recipe helpers: the dataset recorded on the simulated arm, the settings derived from it, the arm's stop.

The control loop itself is tested in ``test_so100_deploy.py``; training and deployment end to end run in
the ``so100_deploy`` recipe (``tests/book/test_recipes.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

from vla0_smol.so100.arm import calibration_table, connect_so100
from vla0_smol.so100.dataset import dataset_info, record_so100_dataset
from vla0_smol.so100.pipeline import policy_fields
from vla0_smol.so100.profiles import SO100_DATASET, so100_profile
from vla0_smol.so100.sim import DEFAULT_RANGES, MOTORS


def test_recorded_dataset_has_the_arms_features_and_sets_the_crop(tmp_path):
    cams = {"front": (96, 96), "wrist": (64, 80)}
    ds = record_so100_dataset(tmp_path / "ds", "local/so100_test", episodes=2, frames=6, cameras=cams, task="Reach.")
    assert ds.num_episodes == 2 and len(ds) == 12
    info = dataset_info("local/so100_test", tmp_path / "ds")
    assert info["cameras"] == {"observation.images.front": (96, 96), "observation.images.wrist": (64, 80)}
    assert info["task"] == "Reach." and info["fps"] == 30
    assert info["action_names"] == [f"{m}.pos" for m in MOTORS]  # what lerobot-record writes for a real arm
    frame = ds[3]
    assert frame["observation.state"].shape == frame["action"].shape == (6,)
    assert frame["observation.images.wrist"].shape == (3, 64, 80) and frame["task"] == "Reach."
    actions = np.stack([ds[i]["action"].numpy() for i in range(len(ds))])
    assert np.isfinite(actions).all() and np.ptp(actions[:, :5], axis=0).min() > 0  # every joint moves
    fields = policy_fields(so100_profile("smoke"), info)
    assert fields["crop_shape"] == (57, 72)  # 90 % of the smallest camera, per side
    assert fields["relative_actions"] is False and fields["chunk_size"] == 10


def test_full_profile_points_at_a_public_so100_dataset_with_the_blogs_settings():
    full = so100_profile("full")
    assert full.dataset_repo_id == SO100_DATASET == "lerobot/svla_so100_pickplace"
    assert full.fps == 30 and full.policy["dtype"] == "bfloat16" and full.policy["optimizer_lr"] == 5e-5
    assert full.policy["relative_actions"] is False and full.policy["vlm_model_name"].startswith("HuggingFaceTB/")


def test_calibration_and_stop_of_the_simulated_arm(tmp_path):
    conn = connect_so100("sim", cameras={"front": (48, 64)}, workdir=tmp_path)
    rows = calibration_table(conn.robot)
    assert [r["motor"] for r in rows] == MOTORS
    assert [tuple(r["range_raw"]) for r in rows] == [DEFAULT_RANGES[i] for i in range(1, 7)]
    assert all(r["limits"][0] < r["limits"][1] for r in rows) and rows[-1]["unit"] == "0..100"
    assert conn.robot.get_observation()["front"].shape == (48, 64, 3)
    stopped = conn.stop()
    assert stopped["connected"] is False and not any(stopped["torque_enabled"].values())


def test_a_real_arm_needs_its_port_and_calibration_id():
    with pytest.raises(ValueError, match="port"):
        connect_so100("so101_follower", cameras={})
    with pytest.raises(ValueError, match="robot must be"):
        connect_so100("koch_follower")
