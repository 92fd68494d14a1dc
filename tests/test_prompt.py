"""Prompt token ids equal the processor's own tokenization; labels cover only the actions."""

import numpy as np
import pytest

from vla0_smol import BinTokenTable, PromptBuilder
from vla0_smol.prompt import DEFAULT_SYSTEM_PROMPT, IGNORE_INDEX, collate

TASK = "Push the T-shaped block onto the T-shaped target."


@pytest.fixture(scope="module", params=["tiny", "smolvlm2"])
def processor(request, tiny_processor):
    return tiny_processor if request.param == "tiny" else request.getfixturevalue("smolvlm2_processor")


@pytest.mark.parametrize("num_images", [1, 2])
@pytest.mark.parametrize("use_state", [True, False])
@pytest.mark.parametrize("system", [None, DEFAULT_SYSTEM_PROMPT])
def test_ids_equal_the_processor_on_the_chat_template(processor, num_images, use_state, system):
    """Cached pieces + digit lookup == SmolVLMProcessor(chat template text, images)."""
    table = BinTokenTable(processor.tokenizer, 512)
    pb = PromptBuilder(
        processor, table, num_images=num_images, use_state=use_state, system_prompt=system, horizon=10, action_dim=2
    )
    rng = np.random.default_rng(num_images)
    state, actions = rng.integers(0, 512, 8), rng.integers(0, 512, (10, 2))
    sample = pb.build(TASK, state if use_state else None, table.encode(actions).ids)

    user = f"Task: {TASK}, State: {' '.join(map(str, state))}, Actions:" if use_state else f"Task: {TASK}, Actions:"
    messages = [{"role": "system", "content": [{"type": "text", "text": pb.system_prompt}]}] if system else []
    messages += [
        {"role": "user", "content": [{"type": "image"}] * num_images + [{"type": "text", "text": user}]},
        {"role": "assistant", "content": [{"type": "text", "text": " ".join(map(str, actions.ravel()))}]},
    ]
    text = processor.apply_chat_template(messages)
    images = [[np.full((96, 96, 3), 128, np.uint8)] * num_images]
    want = processor(text=[text], images=images, return_tensors="pt")["input_ids"][0].tolist()
    got = sample.input_ids.tolist()
    assert got == want[: len(got)]
    assert want[len(got) :] == processor.tokenizer.encode("\n", add_special_tokens=False)  # only the newline left
    assert got.count(processor.image_token_id) == num_images * processor.image_seq_len


def test_labels_only_on_actions_and_end_of_turn(tiny_processor):
    table = BinTokenTable(tiny_processor.tokenizer, 512)
    pb = PromptBuilder(tiny_processor, table, num_images=1, use_state=True, system_prompt=None, horizon=3, action_dim=2)
    enc = table.encode(np.array([[1, 22], [333, 4], [5, 6]]))
    s = pb.build(TASK, np.array([7, 8]), enc.ids)
    on = (s.labels != IGNORE_INDEX).nonzero().ravel()
    assert on.tolist() == list(range(s.prompt_len, s.input_ids.numel()))
    assert s.labels[on].tolist() == enc.ids.tolist() + [pb.eot_id]
    assert tiny_processor.tokenizer.decode(s.input_ids[s.prompt_len : -1]) == "1 22 333 4 5 6"
    assert tiny_processor.tokenizer.convert_ids_to_tokens(pb.eot_id) == "<end_of_utterance>"
    # the generation prompt is the training prompt up to the actions
    assert pb.build(TASK, np.array([7, 8])).input_ids.tolist() == s.input_ids[: s.prompt_len].tolist()


def test_state_and_task_errors(tiny_processor):
    table = BinTokenTable(tiny_processor.tokenizer, 512)
    pb = PromptBuilder(tiny_processor, table, num_images=1, use_state=True, system_prompt=None, horizon=1, action_dim=1)
    with pytest.raises(ValueError, match="task"):
        pb.build("  ", np.array([1]))
    with pytest.raises(ValueError, match="state_bins"):
        pb.build(TASK, None)


def test_collate_pads_left_for_generation_and_right_for_training(tiny_processor):
    table = BinTokenTable(tiny_processor.tokenizer, 512)
    pb = PromptBuilder(
        tiny_processor, table, num_images=1, use_state=False, system_prompt=None, horizon=1, action_dim=1
    )
    a, b = pb.build("go", None), pb.build("go to the red block now", None)
    left = collate([a, b], pad_id=0, side="left")
    right = collate([a, b], pad_id=0, side="right")
    n = a.input_ids.numel()
    assert left["attention_mask"][0].tolist() == [0] * (b.input_ids.numel() - n) + [1] * n
    assert left["input_ids"][0, -n:].tolist() == a.input_ids.tolist()
    assert right["input_ids"][0, :n].tolist() == a.input_ids.tolist()
    assert (right["labels"] == IGNORE_INDEX).all()
