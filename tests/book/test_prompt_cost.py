"""The system prompt's cost: the tokens it adds are its own turn's tokens, with the real tokenizers."""

import numpy as np
import pytest

from vla0_smol.book.prompt_cost import ROLES, cost_sentence, plot_prompt_cost, system_prompt_cost
from vla0_smol.prompt import DEFAULT_SYSTEM_PROMPT

TASK = "Push the T-shaped block onto the T-shaped target."


@pytest.fixture(scope="module", params=["tiny", "smolvlm2"])
def processor(request, tiny_processor):
    return tiny_processor if request.param == "tiny" else request.getfixturevalue("smolvlm2_processor")


@pytest.mark.parametrize("use_state", [True, False])
def test_the_extra_tokens_are_the_system_turn(processor, use_state, tmp_path):
    tok = processor.tokenizer
    state, actions = np.array([3, 400]), np.random.default_rng(0).integers(0, 512, (10, 2))
    cost = system_prompt_cost(processor, 512, task=TASK, state_bins=state, action_bins=actions, use_state=use_state)
    text = DEFAULT_SYSTEM_PROMPT.format(horizon=10, dim=2, count=20, max_bin=511)
    assert cost["text"] == text
    # SmolVLM's chat template writes the system turn as "System: <text><end_of_utterance>\n"
    turn = tok.encode(f"System: {text}<end_of_utterance>\n", add_special_tokens=False)
    with_, without = cost["with"], cost["without"]
    assert with_["total"] - without["total"] == len(turn) == cost["turn_tokens"]
    assert with_["prompt"] - without["prompt"] == len(turn)  # every decode prefills it too
    assert cost["text_tokens"] == len(tok.encode(text, add_special_tokens=False)) < len(turn)
    for counts in (with_, without):
        assert sum(counts[r] for r in ROLES) == counts["total"]
        assert counts["state"] == (len(tok.encode("3 400", add_special_tokens=False)) if use_state else 0)
        actions_text = " ".join(map(str, actions.ravel()))
        assert counts["actions + end of turn"] == len(tok.encode(actions_text, add_special_tokens=False)) + 1
        # one image, not split: its placeholders, two borders and the global-image tag
        assert counts["image"] == processor.image_seq_len + 3
    assert without["system turn"] == 0 and with_["system turn"] == len(turn)
    sentence = cost_sentence(cost, "the backbone")
    assert f"adds {len(turn)} tokens" in sentence and f"{with_['total']} instead of {without['total']}" in sentence
    assert plot_prompt_cost(cost, tmp_path / "c.png").stat().st_size > 0
