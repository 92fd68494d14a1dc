"""Character masking seen from the model: what it reads, what carries loss, what it predicts where."""

import json

import numpy as np
import pytest
import torch
from testkit import make_policy, pusht_batch

from vla0_smol import MaskingConfig
from vla0_smol.book.ablation import arm_checkpoint
from vla0_smol.book.masked_completion import completion_accuracy, masked_completion, plot_completion


@pytest.fixture(scope="module")
def policy():
    return make_policy(masking="char").eval()


def test_masks_targets_and_predictions_line_up(policy, tmp_path):
    batch = pusht_batch(1, seed=3)
    c = masked_completion(policy, batch, MaskingConfig("char", 0.5, 0.0), np.random.default_rng(0))
    tok = policy.processor.tokenizer
    # the target row is the action text the policy trains on
    assert "".join(c.target) == policy.action_tokenizer.to_text(policy.target_bins(batch)[0])
    assert c.masked.any() and (~c.masked).any()
    mask_text = tok.decode([policy.mask_id])
    for i, masked in enumerate(c.masked):
        assert c.inputs[i] == (mask_text if masked else c.target[i])
        assert c.loss[i] == (not masked)  # masked characters carry no loss, every other one does
    # probabilities: the model's own forward pass on the masked prompt, read one position earlier
    ids = torch.tensor([tok.convert_tokens_to_ids(tok.tokenize(t))[0] for t in c.inputs])
    sample = policy.prompts.build(policy.config.default_task, policy._state_bins(batch)[0], ids)
    with torch.no_grad():
        logits = policy.vlm(input_ids=sample.input_ids[None], pixel_values=policy._images(batch)).logits[0]
    probs = torch.softmax(logits.float(), -1)
    start, n = sample.prompt_len, len(c.target)
    targets = [tok.convert_tokens_to_ids(tok.tokenize(t))[0] for t in c.target]
    want = probs[torch.arange(start - 1, start - 1 + n), targets].numpy()
    np.testing.assert_allclose(c.p_target, want, rtol=1e-4, atol=1e-7)
    assert set(c.predicted) <= set("0123456789 ")  # completions are digits or the separator
    assert plot_completion(c, tmp_path / "c.png").stat().st_size > 0


def test_accuracy_counts_masked_and_unmasked_positions(policy):
    rng = np.random.default_rng(1)
    cs = [masked_completion(policy, pusht_batch(1, seed=s), MaskingConfig("char", 0.4, 0.0), rng) for s in (0, 1)]
    acc = completion_accuracy(cs)
    assert acc["masked"]["positions"] == sum(int(c.masked.sum()) for c in cs)
    assert acc["unmasked"]["positions"] == sum(int((~c.masked).sum()) for c in cs)
    hits = sum(int(c.correct[c.masked].sum()) for c in cs)
    assert acc["masked"]["accuracy"] == pytest.approx(hits / acc["masked"]["positions"])


def test_whole_value_masking_is_refused(policy):
    with pytest.raises(ValueError, match="character masking"):
        masked_completion(policy, pusht_batch(1), MaskingConfig("whole"), np.random.default_rng(0))


def test_arm_checkpoint_found_only_once_the_arm_has_run(tmp_path):
    assert arm_checkpoint(tmp_path, "smoke", "ablation_masking", "character masking") is None
    ckpt = tmp_path / "run" / "pretrained_model"
    ckpt.mkdir(parents=True)
    arm_file = tmp_path / "smoke" / "arms" / "ablation_masking" / "seed0" / "character_masking.json"
    arm_file.parent.mkdir(parents=True)
    arm_file.write_text(json.dumps({"checkpoint": str(ckpt)}))
    assert arm_checkpoint(tmp_path, "smoke", "ablation_masking", "character masking") == ckpt
