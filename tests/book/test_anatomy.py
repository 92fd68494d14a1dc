"""book/anatomy.py: what the chapter inside_the_policy computes from a policy (an untrained tiny one here)."""

import numpy as np
import pytest
import torch
from testkit import make_policy

from vla0_smol.book import anatomy
from vla0_smol.book import anatomy_figures as figs
from vla0_smol.pusht.evaluation import PolicyController, make_pusht_env


@pytest.fixture(scope="module")
def controller():
    return PolicyController(make_policy(seed=3))


def _reset(seed: int) -> dict:
    env = make_pusht_env(20)
    obs, _ = env.reset(seed=seed)
    env.close()
    return obs


@pytest.fixture(scope="module")
def inputs(controller):
    return anatomy.read_observation(controller, _reset(10_000))


def _agent_centroid(image: np.ndarray) -> np.ndarray:
    """(x, y) centre of the RoyalBlue agent disc in an RGB image (pixel i centred on i)."""
    rgb = np.asarray(image, dtype=float) * (255 if np.asarray(image).max() <= 1 else 1)
    blue = np.clip((rgb[..., 2] - rgb[..., 0] - 60) / 100, 0, 1)  # RoyalBlue: b - r = 160; grey block: 34
    ys, xs = np.indices(blue.shape)
    return np.array([(xs * blue).sum(), (ys * blue).sum()]) / blue.sum()


def test_prompt_counts_and_collapsed_placeholders(controller, inputs):
    policy = controller.policy
    counts = anatomy.prompt_summary(policy, inputs)
    n = counts["image_tokens"]
    assert n == 9 and counts["tokens"] == inputs.input_ids.shape[1] == n + counts["text_tokens"]  # tiny: 3 x 3
    short = anatomy.collapse_image_tokens(inputs.text, policy.processor.image_token)
    assert "<image><image>" not in short and f"[{n} x <image>]" in short
    assert short.replace(f"[{n} x <image>]", "<image>" * n) == inputs.text


def test_decode_steps_are_the_library_decoding_with_probabilities_of_allowed_tokens(controller, inputs):
    policy = controller.policy
    steps = anatomy.decode_steps(policy, inputs)
    tokens = [s.token for s in steps[:-1]]
    assert tokens == anatomy.decode_reference(policy, inputs)
    assert steps[-1].token == policy.grammar.eot_id and steps[-1].integer == -1
    matcher = policy.grammar.matcher()
    for s in steps:
        assert matcher.accept_token(s.token), "the chosen token must be allowed"
        assert 0 < s.prob <= s.allowed_mass <= 1 + 1e-6
        assert s.allowed >= 1 and len(s.alternatives) == min(3, s.allowed - 1)
        assert all(p <= s.prob for _, p in s.alternatives), "greedy: nothing allowed is more probable"
    assert matcher.is_terminated()
    assert steps[0].allowed == 10  # an integer starts with one of the ten digits
    values = [int(v) for v in policy.processor.tokenizer.decode(tokens).split()]
    assert len(values) == policy.config.chunk_size * policy.config.action_dim
    assert max(s.integer for s in steps) == len(values) - 1
    table = figs.token_table(steps, policy.config.action_dim, actions=2)
    assert len(table.splitlines()) == 2 + sum(0 <= s.integer < 4 for s in steps)


def test_attention_rows_sum_to_one_over_the_keys(controller, inputs):
    policy = controller.policy
    tokens = anatomy.decode_reference(policy, inputs)
    before = policy.vlm.config.text_config._attn_implementation
    att = anatomy.action_attention(policy, inputs, tokens)
    assert policy.vlm.config.text_config._attn_implementation == before  # eager only for that pass
    layers = policy.vlm.config.text_config.num_hidden_layers
    assert att.weights.shape == (layers, len(tokens), inputs.input_ids.shape[1] - 1 + len(tokens))
    np.testing.assert_allclose(att.weights.sum(-1), 1, atol=1e-5)
    assert np.all(np.triu(att.weights[0, :, -len(tokens) :], 1) == 0)  # causal: no query sees a later key
    share = att.image_share()
    assert np.all((share > 0) & (share < 1)) and 0 < att.uniform_share() < 1
    assert att.grid == 3 and att.image_map().sum() == pytest.approx(share.mean())


def test_image_token_k_holds_the_kth_block_row_by_row(controller):
    cells = anatomy.image_token_cells(controller.policy)
    assert cells.tolist() == [[k // 3, k % 3] for k in range(9)]


@pytest.mark.parametrize("seed", [10_000, 10_001, 10_002])
def test_the_paths_first_point_is_the_agent_in_the_frame_and_in_the_policy_view(controller, seed):
    obs = _reset(seed)
    chunk = np.full((10, 2), 256.0)
    first = anatomy.path_pixels(obs["agent_pos"], chunk, frame=96)[0]
    assert np.abs(first - _agent_centroid(obs["pixels"])).max() < 0.25  # measured: < 0.07
    policy = controller.policy
    view = anatomy.read_observation(controller, obs).image(policy)
    crop = policy.config.crop_shape
    first = anatomy.path_pixels(obs["agent_pos"], chunk, frame=96, crop=crop, size=view.shape[0])[0]
    assert np.abs(first - _agent_centroid(view)).max() < 0.25  # measured: < 0.12
    np.testing.assert_allclose(anatomy.path_pixels([0, 0], [[512, 512]], frame=96)[1], [95.5, 95.5])


def test_draft_statistics_add_up_over_an_episode(controller):
    policy = controller.policy
    calls, result = anatomy.trace_episode(controller, seed=10_000, max_steps=10)
    assert "predict_action_chunk" not in vars(policy)  # the tracer leaves the policy as it was
    assert result.env_steps == 10 and [c.step for c in calls] == [0, 5]
    for c in calls:
        assert c.same, "fast decoder and generate() must write the same chunk"
        assert c.accepted + c.rejected == c.proposed and c.rejected >= 0
        assert c.accepted + c.forced + c.fast_passes == c.tokens  # a pass decides one token after its draft
        assert c.hf_passes == c.tokens  # generate(): one pass per token
    totals = anatomy.draft_totals(calls)
    assert totals["decode_calls"] == 2 and totals["accepted"] + totals["rejected"] == totals["proposed"]
    assert totals["all_same"] and 0 <= totals["acceptance_rate"] <= 1


def test_the_figures_are_written(controller, inputs, tmp_path):
    policy = controller.policy
    steps = anatomy.decode_steps(policy, inputs)
    tokens = [s.token for s in steps[:-1]]
    view = inputs.image(policy)
    frame = (view * 255).astype(np.uint8)
    chunk = policy.predict_action_chunk(inputs.batch, decoder="hf")[0].numpy()
    calls, _ = anatomy.trace_episode(controller, seed=10_000, max_steps=6)
    written = [
        figs.plot_view(frame, view, policy.config.crop_shape, tmp_path / "view.png"),
        figs.plot_tokens(steps, 2, policy.config.chunk_size, tmp_path / "tokens.png"),
        figs.plot_path(frame, inputs.agent_pos, chunk, 5, tmp_path / "path.png", crop=policy.config.crop_shape),
        figs.plot_attention(view, anatomy.action_attention(policy, inputs, tokens), tmp_path / "attention.png"),
        figs.plot_drafts(calls, tmp_path / "drafts.png"),
    ]
    assert all(p.stat().st_size > 1000 for p in written)
    assert torch.is_tensor(inputs.pixels) and inputs.pixels.shape[-1] == view.shape[0]
