"""Sentences computed from a chapter's results: they follow the numbers, and never overclaim."""

import json

import numpy as np
import pytest

from vla0_smol.book import prose
from vla0_smol.book.paths import repo_root, shown


def test_settings_table_flattens_nested_settings():
    policy = {"lr": 0.001, "crop": [84, 84], "vlm_model_name": "HuggingFaceTB/SmolVLM2-500M-Video-Instruct"}
    text = prose.settings_table({"steps": 6, "policy": policy, "cams": {"a": 1}}, "x")
    assert "| `steps` | 6 |" in text and "| `policy.lr` | 0.001 |" in text and "| `policy.crop` | 84, 84 |" in text
    assert "| `cams` | a: 1 |" in text and text.startswith("**x**")  # a short dict stays on one row


def test_recipe_sentence_never_calls_the_tiny_settings_the_blogs_recipe():
    tiny = prose.recipe_sentence({"vlm_model_name": "tiny", "optimizer_lr": 1e-3, "scheduler_warmup_steps": 50,
                                  "use_state": True, "relative_actions": True, "masking": "whole"})  # fmt: skip
    assert "the `tiny` backbone at a peak learning rate of 0.001 with 50 warm-up steps" in tiny
    assert "Only the `full` profile trains the blog's recipe itself" in tiny
    full = prose.recipe_sentence({"vlm_model_name": "HuggingFaceTB/SmolVLM2-500M-Video-Instruct",
                                  "optimizer_lr": 5e-5, "use_state": True, "masking": "whole"})  # fmt: skip
    assert full.startswith("The blog's final PushT recipe") and "Only" not in full


def test_off_world_counts_targets_outside_the_512_world():
    inside = np.array([[10.0, 20.0], [500.0, 3.0]])
    assert prose.off_world(inside).startswith("All 2 targets lie inside")
    chunk = np.array([[-103.0, 87.5]] * 9 + [[-103.0, 216.1]])
    text = prose.off_world(chunk)
    assert text.startswith("10 of 10 targets lie outside the 512 x 512 world (x from -103 to -103, y from 88 to 216)")


def test_masking_example_says_when_draws_masked_nothing():
    assert "the first 2 draw(s) masked nothing" in prose.masking_example_sentence("whole", 1, 61, tried=3)
    assert (
        prose.masking_example_sentence("char", 9, 59, tried=1) == "*char*: 9 of 59 action tokens hidden in this draw."
    )


def test_token_reading_tells_an_untrained_model_from_a_sure_one():
    near_uniform = prose.token_reading([0.003, 0.004], [0.05, 0.06], vocab=444)
    assert "close to untrained" in near_uniform and "6% of the model's probability" in near_uniform
    sure = prose.token_reading([0.9, 0.95], [0.99, 1.0], vocab=444)
    assert "close to untrained" not in sure and "411 times a uniform guess" in sure


def test_attention_reading_calls_a_flat_map_flat():
    share = np.array([0.12, 0.14])
    flat = prose.attention_reading(np.array([[0.95, 1.05], [1.0, 1.0]]), share, uniform=0.13)
    assert "nearly flat" in flat and "between 0.95 and 1.05" in flat
    peaked = prose.attention_reading(np.array([[0.2, 3.0], [0.4, 0.4]]), share, uniform=0.13)
    assert "nearly flat" not in peaked and "0.92 to 1.08 times" in peaked


def test_drafts_reading_explains_a_slower_fast_decoder():
    slow = {"acceptance_rate": 0.07, "hf_passes": 168, "fast_passes": 102, "fast_seconds": 9.84, "hf_seconds": 9.46,
            "proposed": 860}  # fmt: skip
    text = prose.drafts_reading(slow)
    assert "1.65x fewer forward passes" in text and "took more time" in text and "needs a trained model" in text
    assert "does not become a saving in time" in text
    # the committed smoke book's case: few drafts kept, yet faster; the reading must not deny the saving
    quicker = slow | {"hf_seconds": 12.0}
    text = prose.drafts_reading(quicker)
    assert "took less time" in text and "does not become a saving" not in text and "outweighed" in text
    fast = slow | {"acceptance_rate": 0.9, "hf_seconds": 30.0}
    assert "took less time" in prose.drafts_reading(fast) and "trained model" not in prose.drafts_reading(fast)


def test_completion_reading_of_an_untrained_model_claims_no_learning():
    text = prose.completion_reading({"masked": {"accuracy": 0.07}, "unmasked": {"accuracy": 0.10}}, 11, trained=False)
    assert "never trained on actions" in text and "this model has learnt" not in text


def test_completion_reading_against_chance():
    weak = {"masked": {"accuracy": 0.22}, "unmasked": {"accuracy": 0.25}}
    assert "learnt little more than which characters are frequent" in prose.completion_reading(weak, choices=11)
    strong = {"masked": {"accuracy": 0.8}, "unmasked": {"accuracy": 0.9}}
    assert "80% against 9% by chance and 90% at unmasked positions (-10 points)" in prose.completion_reading(
        strong, choices=11
    )


def test_ablation_reading_gives_the_resolution_of_the_run():
    arm = {"arm": "a", "best": {"n_episodes": 2}, "loss": [[1, 5.0], [6, 4.2]]}
    text = prose.ablation_reading({"arms": [arm]})
    assert "*a* 5.00 -> 4.20 (step 6)" in text
    assert "With 2 episodes per arm" in text and "with the blog's 64 episodes" in text


def test_ablation_reading_gives_a_shared_training_run_once():
    loss = [[1, 5.0], [6, 4.2]]
    arms = [
        {"arm": "ensemble", "loss": loss},
        {"arm": "no ensemble", "loss": loss},
        {"arm": "c", "loss": [[1, 3.0], [6, 2.0]]},
    ]
    text = prose.ablation_reading({"arms": arms})
    assert text.count("5.00 -> 4.20") == 1 and "*ensemble* and *no ensemble* (one training run)" in text
    assert "*c* 3.00 -> 2.00" in text


def test_shown_paths_are_relative_to_the_repository():
    assert shown(repo_root() / "results" / "smoke" / "x.json") == "results/smoke/x.json"
    assert shown("results/smoke") == "results/smoke"
    assert shown("/elsewhere/x") == "/elsewhere/x" and shown(None) == "-"


def test_rerun_reading_says_smoke_weights_are_not_comparable_and_names_far_skills():
    assert "barely trained" in prose.rerun_reading({"copy": 90.0}, {"copy": 4.0}, "smoke", steps=2)
    text = prose.rerun_reading({"copy": 4.5, "pusht_block": 40.0}, {"copy": 4.0, "pusht_block": 24.0}, "cpu", steps=0)
    assert text.startswith("1 of 2 skills") and "pusht_block (40.0 against 24.0)" in text and "copy (" not in text


def test_finetune_reading_reads_the_committed_arms(tmp_path):
    def arm(name, lr, coverage, rung=None):
        record = {"arm": {"lr": lr}, "validation_seeds": [40000, 40015], "random": {"mean_max_coverage": 0.097},
                  "checkpoints": [{"step": 1200, "mean_max_coverage": coverage}]}  # fmt: skip
        if rung:
            record["rung"] = rung
        (tmp_path / name).mkdir()
        (tmp_path / name / "select.json").write_text(json.dumps(record))
        return tmp_path / name / "select.json"

    files = [arm("a", 1e-3, 0.084), arm("b", 3e-3, 0.078, rung="a: block pose as state tokens")]
    text = prose.finetune_reading(files)
    assert "pixels, relative targets, lr 0.001, 1200 steps: 0.084" in text and "block pose as state, lr 0.003" in text
    assert "0 of 2 arms end above it; 0 succeeded" in text and "0.097" in text and "40000-40015" in text
    assert "1 of 3 arms end above it" in prose.finetune_reading(files + [arm("c", 1e-2, 0.2)])
    absolute = arm("d", 3e-3, 0.07)
    record = json.loads(absolute.read_text())
    record["arm"] |= {"relative_actions": False, "crop_shape": None}
    absolute.write_text(json.dumps(record))
    assert "absolute targets, whole frames, lr 0.003, 1200 steps: 0.070" in prose.finetune_reading([absolute])
    assert prose.finetune_reading([]).startswith("No PushT policy")


def test_finetune_reading_says_when_the_arms_started_from_other_weights(tmp_path):
    record = {"arm": {"lr": 1e-3}, "validation_seeds": [40000, 40015], "random": {"mean_max_coverage": 0.097},
              "checkpoints": [{"step": 1200, "mean_max_coverage": 0.084}],
              "backbone_weights": {"provenance_commit": "aaa", "pusht_block_mae": 23.98}}  # fmt: skip
    (tmp_path / "select.json").write_text(json.dumps(record))
    files = [tmp_path / "select.json"]
    later = {"commit": "bbb", "final_metrics": {"pusht_block": {"mae": 17.4}}}
    text = prose.finetune_reading(files, later)
    assert "earlier run of this recipe (block error 24)" in text and "shipped now (block error 17)" in text
    assert "earlier run" not in prose.finetune_reading(files, {"commit": "aaa"})  # the same weights
    assert "earlier run" not in prose.finetune_reading(files)  # nothing to compare with


def test_masking_draw_reading_derives_the_unmasked_share():
    text = prose.masking_draw_reading(20, 0.15, 0.1, observed_none=40)
    # f < 1/20 hides nothing: a third of the drawn samples, plus the 10% skipped: 0.1 + 0.9 / 3 = 40%
    assert "so 40% of samples should mask nothing" in text and "any f below 0.05" in text
    assert "0.90 integers on average, at most 2" in text  # 0.9 * mean(floor(3 U)) = 0.9 * 1


def test_reproduction_reading_names_the_budget_and_the_skills_apart():
    comparison = {
        "questions": "256 fresh questions per skill (seed 777000)",
        "shipped": {"wall_time_min": 196.4, "command": "x", "commit": "aaa"},
        "rerun": {"wall_time_min": 104.6, "command": "vla0-smol pretrain --seed 0", "commit": "83c706c0000"},
        "skills": {
            "copy": {"within_noise": True, "difference": [0.0, -0.1, 0.1]},
            "pusht_block": {"within_noise": False, "difference": [6.25, 4.0, 8.5]},
        },  # fmt: skip
    }
    text = prose.reproduction_reading(comparison, budget_min=120)
    assert "105 min of wall time, within the 120-minute budget" in text and "(commit 83c706c)" in text
    assert "1 of 2 skills are within noise" in text and "not: pusht_block (+6.2)" in text
    comparison["skills"]["pusht_block"]["within_noise"] = True
    assert prose.reproduction_reading(comparison, budget_min=100).count("over the 100-minute budget") == 1
    assert "not:" not in prose.reproduction_reading(comparison, budget_min=120)
    assert "bit for bit" not in prose.reproduction_reading(comparison, budget_min=120)  # not measured
    comparison["weights"] = {"tensors": 77, "identical": 77, "max_abs_difference": 0.0}
    assert "the shipped ones bit for bit (77 tensors)" in prose.reproduction_reading(comparison, budget_min=120)
    comparison["weights"] = {"tensors": 77, "identical": 3, "max_abs_difference": 0.0125}
    text = prose.reproduction_reading(comparison, budget_min=120)
    assert "bit for bit" not in text and "(3 of 77 tensors identical, largest difference 0.013)" in text


def test_compare_runs_pairs_the_questions_and_judges_the_difference():
    from vla0_smol.book.pretrain_figures import compare_runs, rerun_rows

    rng = np.random.default_rng(0)
    base = rng.uniform(0, 200, 256)  # very different questions: a wide interval for each model's MAE

    def measured(errors):
        return {"skills": {"pusht_block": {"errors": list(errors), "mae": float(np.mean(errors)), "exact": 0.0,
                                           "constant_mae": 83.0}}}  # fmt: skip

    same = compare_runs(measured(base), measured(base + rng.normal(0, 0.5, 256)), tolerance=2.0)["pusht_block"]
    assert same["within_noise"] and same["difference"][1] < 0.2 and same["difference"][2] > -0.2
    # 5 units worse on every question: outside the tolerance, although each MAE's own interval is wider than 5
    worse = compare_runs(measured(base), measured(base + 5), tolerance=2.0)["pusht_block"]
    assert not worse["within_noise"] and worse["difference"][0] == 5.0
    assert worse["shipped"][2] - worse["shipped"][1] > 5
    assert compare_runs(measured(base), measured(base + 2.5), tolerance=3.0)["pusht_block"]["within_noise"]
    row = rerun_rows({"skills": {"pusht_block": worse}})[0]
    assert row["skill"] == "where is the T block" and row["rerun - shipped (95%)"].startswith("+5.0 (+5.0 to +5.0)")
    with pytest.raises(ValueError, match="pusht_block: 256 and 10 questions"):
        compare_runs(measured(base), measured(base[:10]), tolerance=2.0)


def test_an_mae_interval_never_goes_below_zero():
    from vla0_smol.book.pretrain_figures import compare_runs

    errors = [0.0] * 254 + [10.0] * 2  # almost always exact: the t interval alone would start below 0
    row = compare_runs(*[{"skills": {"copy": {"errors": errors, "exact": 0.98, "constant_mae": 127.0}}}] * 2, 2.0)
    assert row["copy"]["shipped"][1] == 0.0 and row["copy"]["shipped"][2] > row["copy"]["shipped"][0] > 0
