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
