"""LIBERO on the CPU, offline: official task, prompt, grammar-decoded chunk, evaluation, success path.

The scene assets come from the PyPI asset wheels, verified against ``vla0_smol/libero/data/libero_manifest.tsv``
(:mod:`vla0_smol.libero.assets`); without them every simulator test is skipped with the reason.
Cameras are 128 px here to keep the module under a few minutes (the profiles' ``full`` uses 256).
At most one LIBERO environment is alive at a time (~2 GB each).
"""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
import torch

from vla0_smol import VLA0SmolPolicy
from vla0_smol.decoding import decode
from vla0_smol.libero.assets import AssetError, git_blob_sha1, verify_assets
from vla0_smol.libero.env import (
    IMAGE_KEYS,
    LIBERO_DATASET,
    make_libero_env,
    reset_to,
    setup_libero,
    success_path_check,
    to_batch,
)
from vla0_smol.libero.evaluation import LiberoPolicyController, evaluate_libero
from vla0_smol.libero.pipeline import (
    LiberoDataUnavailable,
    interpreter_command,
    launch_command,
    require_libero_dataset,
    run_dir_for,
    train_spec,
)
from vla0_smol.libero.profiles import libero_policy_config, libero_profile
from vla0_smol.prompt import collate

SIZE = 128
# Made-up ranges: LIBERO's state (eef position, axis-angle, gripper) and delta-OSC actions in [-1, 1].
STATS = {
    "observation.state": {
        "min": np.array([-0.5, -0.5, 0.0, -3.2, -3.2, -3.2, -0.05, -0.05]),
        "max": np.array([0.5, 0.5, 1.5, 3.2, 3.2, 3.2, 0.05, 0.05]),
    },
    "action": {"min": -np.ones(7), "max": np.ones(7)},
}


@pytest.fixture(scope="module")
def libero_env():
    try:
        setup_libero(offline=True)
    except AssetError as e:
        pytest.skip(f"LIBERO assets unavailable offline: {e}")
    env = make_libero_env("libero_object", 0, size=SIZE)
    yield env
    env.close()


def tiny_policy(**overrides) -> VLA0SmolPolicy:
    torch.manual_seed(0)
    config = libero_policy_config("smoke", **overrides)  # the smoke profile's cameras are 128 px
    assert config.input_features[IMAGE_KEYS[0]].shape == (3, SIZE, SIZE)
    return VLA0SmolPolicy(config, dataset_stats=STATS)


@pytest.fixture(scope="module")
def policy():
    return tiny_policy()


def test_official_task_steps_with_both_cameras_and_prompts_two_images_and_8_numbers(libero_env, policy):
    obs = reset_to(libero_env, 0)
    obs, _, _, _, info = libero_env.step(np.zeros(7))
    assert set(obs["pixels"]) == {"image", "image2"}
    batch = to_batch([obs], [libero_env.task_description])
    for key in IMAGE_KEYS:
        assert batch[key].shape == (1, 3, SIZE, SIZE) and 0 <= batch[key].min() <= batch[key].max() <= 1
    assert not torch.equal(batch[IMAGE_KEYS[0]], batch[IMAGE_KEYS[1]])  # two different cameras
    assert batch["observation.state"].shape == (1, 8)
    state_bins = policy.state_tokenizer.to_bins(batch["observation.state"].double().numpy())[0]
    sample = policy.prompts.build(batch["task"][0], state_bins)
    proc = policy.processor
    assert int((sample.input_ids == proc.image_token_id).sum()) == 2 * proc.image_seq_len
    text = policy.prompts.prompt_text(batch["task"][0], state_bins)
    numbers = re.search(r"State: ([0-9 ]+), Actions:", text).group(1).split()
    assert len(numbers) == 8 and "alphabet soup" in text


def test_tiny_policy_decodes_56_integers_under_the_grammar(libero_env, policy):
    batch = to_batch([reset_to(libero_env, 1)], [libero_env.task_description])
    state_bins = policy.state_tokenizer.to_bins(batch["observation.state"].double().numpy())[0]
    inputs = collate([policy.prompts.build(batch["task"][0], state_bins)], policy.pad_id, "left")
    tokens, _ = decode(
        policy.vlm, policy.grammar, inputs["input_ids"], inputs["attention_mask"], policy._images(batch), method="fast"
    )
    ints = policy.processor.tokenizer.decode(tokens[0], skip_special_tokens=True).split()
    assert len(ints) == 56 and all(0 <= int(x) < policy.config.num_bins for x in ints)
    policy.reset()
    chunk = policy.predict_action_chunk(batch)
    assert chunk.shape == (1, 8, 7) and torch.isfinite(chunk).all() and chunk.abs().max() <= 1.01
    assert policy.invalid_chunks == 0


def test_evaluation_loop_completes_an_episode_with_temporal_ensembling(libero_env, tmp_path):
    libero_env.close()  # one LIBERO env at a time; the fixture's env rebuilds on its next reset
    policy = tiny_policy(execution="temporal")
    result = evaluate_libero(
        LiberoPolicyController(policy),
        suites=("libero_object",),
        task_ids=[0],
        n_episodes=1,
        max_steps=10,
        size=SIZE,
        video_dir=tmp_path,
        n_videos=1,
    )
    summary = result.summary()
    assert summary["n_episodes"] == 1 and result.env_steps == 10
    assert summary["per_task"][0]["lengths"] == [10]
    assert set(summary["per_suite"]) == {"libero_object"}
    assert len(result.videos) == 1 and (tmp_path / "libero_object_task0_ep0.mp4").is_file()
    assert policy.invalid_chunks == 0


def test_success_path_places_the_object_and_check_success_is_true(libero_env):
    assert success_path_check(env=libero_env) is True
    reset_to(libero_env, 0)
    assert not libero_env._env.check_success()  # the initial state is not a success


class _Still:
    """A controller that sends LIBERO's no-op (arm and gripper held) to every environment."""

    def reset(self, env_ids):
        pass

    def act(self, batch):
        from lerobot.envs.libero import get_libero_dummy_action

        return np.tile(np.asarray(get_libero_dummy_action(), dtype=np.float64), (len(batch["task"]), 1))


def test_evaluation_counts_a_scripted_success_and_a_failure(libero_env, monkeypatch):
    """Success counting seen succeeding: in episode 0 the goal objects are placed where the goal
    holds (a scripted success), episode 1 is left as LIBERO starts it; the evaluation, through its
    own environments and step loop, counts 1 of 2 and ends episode 0 on LIBERO's success."""
    import vla0_smol.libero.evaluation as evaluation
    from vla0_smol.libero.env import place_goal_objects

    libero_env.close()  # one LIBERO env at a time
    real_reset = evaluation.reset_to

    def reset_scripted(env, init_state):
        obs = real_reset(env, init_state)
        if init_state == 0:
            place_goal_objects(env)
        return obs

    monkeypatch.setattr(evaluation, "reset_to", reset_scripted)
    result = evaluate_libero(_Still(), suites=("libero_object",), task_ids=[0], n_episodes=2, max_steps=30, size=64)
    (task,) = result.tasks
    assert task.successes == [True, False] and task.lengths[1] == 30 and task.lengths[0] < 30
    assert result.per_suite() == {"libero_object": 0.5} and result.summary()["average"] == 0.5
    assert [e["success"] for e in result.episodes()] == [True, False]


def test_full_config_resolves_offline_and_fails_fast_on_download(tmp_path, monkeypatch):
    full = libero_profile("full")
    assert full.dataset_repo_id == LIBERO_DATASET == "HuggingFaceVLA/libero"
    assert full.global_batch == 192 and full.policy["chunk_size"] == 8
    config = libero_policy_config(full)
    assert config.image_keys == list(IMAGE_KEYS)
    assert config.input_features[IMAGE_KEYS[0]].shape == (3, 256, 256)
    assert config.robot_state_feature.shape == (8,) and config.action_dim == 7
    assert config.chunk_size == 8 and config.execution == "temporal" and not config.relative_actions
    assert config.crop_shape == (230, 230) and config.scheduler_decay_steps == 100_000
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(LiberoDataUnavailable, match="HuggingFaceVLA/libero.*downloaded"):
        require_libero_dataset(LIBERO_DATASET, root=tmp_path / "missing")


def test_full_training_is_the_blogs_command_on_eight_gpus(tmp_path):
    """The blog's run as a GPU user launches it: accelerate, 8 x 24 = 192, bf16, 100k steps of lerobot-train."""
    full = libero_profile("full")
    run_dir = run_dir_for(full, tmp_path, seed=0)
    cmd = launch_command(train_spec(full, run_dir, (LIBERO_DATASET, None)), full.num_processes)
    assert cmd[:2] == ["accelerate", "launch"] and "vla0_smol.lerobot_train" in cmd
    for flag in (
        "--num_processes=8",
        "--mixed_precision=bf16",
        "--batch_size=24",
        "--steps=100000",
        "--dataset.repo_id=HuggingFaceVLA/libero",
        "--policy.type=vla0_smol",
        "--policy.vlm_model_name=HuggingFaceTB/SmolVLM2-500M-Video-Instruct",
        "--policy.chunk_size=8",
        "--policy.relative_actions=false",
        "--policy.masking=whole",
        "--policy.crop_shape=[230,230]",
        "--policy.optimizer_lr=5e-05",
        "--policy.scheduler_decay_steps=100000",
        "--policy.dtype=bfloat16",
    ):
        assert flag in cmd, flag
    assert not any(a.startswith("--dataset.root") for a in cmd)  # the hub's copy
    # run by this interpreter's accelerate: the venv need not be activated (no bare `accelerate` on PATH)
    assert interpreter_command(cmd) == [sys.executable, "-m", "accelerate.commands.launch", *cmd[2:]]


def test_asset_verification_refuses_a_changed_or_missing_file_by_name(tmp_path):
    root = tmp_path / "assets"
    (root / "scenes").mkdir(parents=True)
    good, bad = root / "scenes" / "a.xml", root / "scenes" / "b.xml"
    good.write_bytes(b"<mujoco/>")
    bad.write_bytes(b"<mujoco>changed</mujoco>")
    manifest = tmp_path / "manifest.tsv"
    rows = [("scenes/a.xml", "9", git_blob_sha1(good)), ("scenes/b.xml", "BAD", "0" * 40)]
    manifest.write_text("# test\npath\tsize\tgit_blob_sha1\n" + "".join("\t".join(r) + "\n" for r in rows))
    with pytest.raises(AssetError, match="scenes/b.xml"):
        verify_assets(root, manifest)
    bad.unlink()
    with pytest.raises(AssetError, match="missing: scenes/b.xml"):
        verify_assets(root, manifest)
    manifest.write_text("path\tsize\tgit_blob_sha1\n" + "\t".join(rows[0]) + "\n")
    assert verify_assets(root, manifest) == 1
