"""PushT evaluation: batched, seeded rollouts of a trained checkpoint and of the reference controllers."""

import pytest

from vla0_smol.pusht.evaluation import PolicyController, RandomController, evaluate_pusht


@pytest.mark.parametrize("execution", ["chunk", "temporal"])
def test_two_env_evaluation_batches_the_decoding(tiny_run, execution):
    controller = PolicyController.from_checkpoint(tiny_run / "checkpoints/last/pretrained_model", execution=execution)
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


def test_evaluation_refuses_a_policy_for_another_robot(tiny_run):
    controller = PolicyController.from_checkpoint(tiny_run / "checkpoints/last/pretrained_model")
    with pytest.raises(ValueError, match="action dimension is 2 but the environment's is 7"):
        PolicyController(controller.policy, action_dim=7)


def test_random_controller_same_seeds_same_episodes():
    a = evaluate_pusht(RandomController(1), n_episodes=2, batch_size=2, max_steps=5, progress=False)
    b = evaluate_pusht(RandomController(1), n_episodes=2, batch_size=1, max_steps=5, progress=False)
    assert [e.max_coverage for e in a.episodes] == [e.max_coverage for e in b.episodes]


def test_hold_still_keeps_the_agent_where_it_started():
    from vla0_smol.pusht.evaluation import HoldStillController, make_pusht_env

    env = make_pusht_env(max_steps=30)
    try:
        obs, info = env.reset(seed=10_000)
        start, block = obs["agent_pos"].copy(), info["block_pose"].copy()
        controller = HoldStillController()
        controller.reset([0])
        for _ in range(30):
            obs, _, _, _, info = env.step(controller.act({k: v[None] for k, v in obs.items()}, [info])[0])
            assert abs(obs["agent_pos"] - start).max() < 1e-6
        assert abs(info["block_pose"] - block).max() < 1e-6  # nothing touched the block
    finally:
        env.close()


def test_kept_frames_are_the_first_episodes_observations():
    result = evaluate_pusht(RandomController(3), n_episodes=3, batch_size=2, max_steps=4, progress=False, keep_frames=2)
    assert sorted(result.frames) == [0, 1]  # seeds of the first two episodes
    for seed, frames in result.frames.items():
        steps = next(e.steps for e in result.episodes if e.seed == seed)
        assert frames.shape == (steps + 1, 96, 96, 3) and frames.dtype == "uint8"  # reset + one per step
        assert (frames[0] != frames[-1]).any()  # the random agent moved
    assert "frames" not in result.summary()


def test_the_expert_as_a_controller_is_counted_a_success_on_every_episode():
    """Success counting seen succeeding: the scripted expert, acting through evaluate_pusht's loop,
    solves seeds 0-3 (the benchmark's 50/50 seeds) and each episode ends on gym-pusht's success,
    before the step limit; the agent holding still on the same seeds is counted a failure."""
    from vla0_smol.pusht.evaluation import ExpertController, HoldStillController

    expert = evaluate_pusht(ExpertController(0), n_episodes=4, seed=0, batch_size=2, max_steps=300, progress=False)
    assert [e.seed for e in expert.episodes] == [0, 1, 2, 3]
    assert [e.success for e in expert.episodes] == [True] * 4 and expert.success_rate == 1.0
    assert all(e.steps < 300 and e.max_coverage > 0.95 for e in expert.episodes), expert.episodes
    still = evaluate_pusht(HoldStillController(), n_episodes=2, seed=0, batch_size=2, max_steps=20, progress=False)
    assert still.success_rate == 0.0 and [e.steps for e in still.episodes] == [20, 20]
    assert still.summary()["success_rate"] == 0.0 and expert.summary()["success_rate"] == 1.0
