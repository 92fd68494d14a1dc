"""The staged pretraining recipe (``vla0-smol pretrain``) and the weights it ships."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from vla0_smol.backbone import PRESETS, is_vision
from vla0_smol.presets import recipe
from vla0_smol.presets.pretrain import PretrainConfig, pretrain, thresholds_met
from vla0_smol.presets.recipe import STAGES, RecipeConfig, measure, run_recipe
from vla0_smol.presets.vision_stage import VisionConfig, train_vision

QUIET = dict(progress=lambda s: None)


def small(tmp_path, **kw) -> RecipeConfig:
    steps = dict(numbers_steps=2, vision_steps=2, reading_steps=2, mixture_steps=2)
    return RecipeConfig(
        out_dir=str(tmp_path / "run"),
        export_dir=str(tmp_path / "preset"),
        batch_size=2,
        eval_every=2,
        eval_size=2,
        final_eval_size=2,
        **(steps | kw),
    )


def test_thresholds_are_met_only_when_every_one_is():
    skills = {"copy": {"mae": 3.0, "exact": 0.9}, "pusht_block": {"mae": 20.0, "exact": 0.0}}
    assert thresholds_met({"copy": ("exact", 0.9), "pusht_block": ("mae", 20.0)}, skills)
    assert not thresholds_met({"copy": ("exact", 0.95), "pusht_block": ("mae", 20.0)}, skills)
    assert not thresholds_met({"copy": ("exact", 0.9), "pusht_block": ("mae", 19.9)}, skills)
    assert not thresholds_met({}, skills)


def test_a_threshold_on_a_skill_not_trained_is_refused_by_name():
    with pytest.raises(ValueError, match="pusht_block"):
        PretrainConfig(mixture={"copy": 1.0}, stop_when={"pusht_block": ("mae", 10.0)})
    with pytest.raises(ValueError, match="metric"):
        PretrainConfig(mixture={"copy": 1.0}, stop_when={"copy": ("accuracy", 0.9)})
    with pytest.raises(ValueError, match="vision_steps"):
        RecipeConfig(vision_steps=0)


def test_a_stage_that_reaches_its_thresholds_stops_and_stays_stopped(tmp_path):
    """Reached thresholds end the stage at that evaluation; the same command run again does not
    train further (a step cap, in contrast, can be raised and resumed)."""
    cfg = PretrainConfig(
        out_dir=str(tmp_path / "run"),
        export_dir=str(tmp_path / "preset"),
        steps=50,
        batch_size=2,
        eval_every=2,
        eval_size=2,
        mixture={"copy": 1.0},
        first_steps=0,
        stop_when={"copy": ("mae", 1e9)},  # met at the first evaluation
    )
    record = pretrain(cfg, **QUIET)
    assert record["steps"] == 2 and record["stopped"].startswith("thresholds")
    before = load_file(tmp_path / "run" / "checkpoint" / "model.safetensors")
    again = pretrain(cfg, **QUIET)
    assert again["steps"] == 2
    after = load_file(tmp_path / "run" / "checkpoint" / "model.safetensors")
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_the_vision_stage_trains_the_vision_side_only(tmp_path):
    """The language model leaves the stage bit for bit as it came; the vision side does not."""
    base = tmp_path / "base"
    pretrain(
        PretrainConfig(out_dir=str(tmp_path / "b"), export_dir=str(base), steps=1, batch_size=2, eval_size=1), **QUIET
    )
    common = dict(base=str(base), batch_size=4, eval_every=3, eval_size=4, save_every=2)
    straight = train_vision(VisionConfig(out_dir=str(tmp_path / "straight"), steps=4, **common), **QUIET)
    assert straight["steps"] == 4 and straight["stopped"].startswith("step cap")
    assert set(straight["final_metrics"]) == {"block", "angle_deg", "agent", "shape", "image_spread"}
    a = load_file(tmp_path / "straight" / "preset" / "model.safetensors")
    base_w = load_file(base / "model.safetensors")
    assert all(torch.equal(a[k], base_w[k]) for k in a if not is_vision(k.removeprefix("model.")))
    assert any(not torch.equal(a[k], base_w[k]) for k in a if is_vision(k.removeprefix("model.")))


def test_the_vision_stage_resumed_after_an_interruption_equals_an_uninterrupted_one(tmp_path, monkeypatch):
    """Ctrl-C at step 2 of 4 checkpoints; the same command then ends with the weights of a stage
    never interrupted."""
    base = tmp_path / "base"
    pretrain(
        PretrainConfig(out_dir=str(tmp_path / "b"), export_dir=str(base), steps=1, batch_size=2, eval_size=1), **QUIET
    )
    common = dict(base=str(base), batch_size=4, steps=4, eval_every=100, eval_size=4, save_every=2)
    train_vision(VisionConfig(out_dir=str(tmp_path / "straight"), **common), **QUIET)

    import vla0_smol.presets.vision_stage as vs

    real, calls = vs.frames, {"n": 0}

    def interrupt_at_step_3(*args, **kw):  # the 4th call is step 3's batch (1st: the evaluation set)
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(vs, "frames", interrupt_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        train_vision(VisionConfig(out_dir=str(tmp_path / "resumed"), **common), **QUIET)
    state = json.loads((tmp_path / "resumed" / "checkpoint" / "state.json").read_text())
    assert state["step"] == 2
    monkeypatch.setattr(vs, "frames", real)
    train_vision(VisionConfig(out_dir=str(tmp_path / "resumed"), **common), **QUIET)
    a = load_file(tmp_path / "straight" / "preset" / "model.safetensors")
    b = load_file(tmp_path / "resumed" / "preset" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_recipe_runs_every_stage_in_order_and_skips_finished_ones(tmp_path):
    record = run_recipe(small(tmp_path), **QUIET)
    assert [s["stage"] for s in record["stages"]] == list(STAGES)
    assert all(s["steps"] == 2 and s["stopped"] for s in record["stages"])
    assert set(record["final_metrics"]) == set(recipe.MEASURED)
    assert all("constant_mae" in v for v in record["final_metrics"].values())
    shipped = json.loads((tmp_path / "preset" / "provenance.json").read_text())
    assert shipped["stages"] == record["stages"]
    for name in STAGES:  # the learning curves are shipped beside the weights
        rows = (tmp_path / "preset" / "metrics" / f"{name}.jsonl").read_text().splitlines()
        assert json.loads(rows[-1])["step"] == 2
    # each stage reads the preset the stage before it exported
    configs = recipe.stage_configs(small(tmp_path))
    assert configs["vision"].base == configs["numbers"].export_dir
    assert configs["mixture"].base == configs["reading"].export_dir
    seen = []
    run_recipe(small(tmp_path), progress=seen.append)
    assert sum("skipped" in s for s in seen) == len(STAGES)
    # the table `vla0-smol pretrain` prints at the end: a row per stage, the export, the budget
    table = recipe.summary(record).splitlines()
    assert [row.split(" | ")[0] for row in table[2:6]] == [f"| {s}" for s in STAGES]
    assert "| vision | 2 |" in table[3] and "image_spread" in table[3] and "copy exact" in table[2]
    assert "pusht_block" in table[7] and "(constant " in table[7]
    assert table[-1].startswith(f"Wall time {record['wall_time_min']:.1f} min (within the 120-minute budget")
    assert "(over the 120-minute budget" in recipe.summary(record | {"wall_time_min": 121.0})


def test_constant_predictor_of_the_angle_goes_the_short_way_round():
    from vla0_smol.presets.pretrain_data import Generator

    gen = Generator(0, {"pusht_angle": 1.0})
    # angles are uniform on the circle: the best constant is off by a quarter turn on average
    assert 100 < recipe.constant_mae("pusht_angle", gen, 64, 5) < 150


SHIPPED = PRESETS["tiny-pretrained"] / "model.safetensors"


@pytest.mark.skipif(not SHIPPED.exists(), reason="the pretrained tiny preset is not built")
def test_the_shipped_weights_have_the_skills_their_provenance_records():
    """Fresh questions from a seed the pretraining never used: each skill within noise of what
    ``provenance.json`` records and far from the constant predictor, and image tokens alive.
    Replacing the file by random weights (``tiny``) fails every skill."""
    provenance = json.loads((SHIPPED.parent / "provenance.json").read_text())
    assert SHIPPED.stat().st_size < 25 * 2**20
    got = measure("tiny-pretrained", seed=12345, size=32)
    learnt = {k: v for k, v in provenance["final_metrics"].items() if v["mae"] < 0.6 * v["constant_mae"]}
    assert {"copy", "pusht_block", "pusht_angle"} <= set(learnt)  # what the policy needs most
    for skill, claimed in learnt.items():
        mae, const = got["skills"][skill]["mae"], got["skills"][skill]["constant_mae"]
        assert mae <= max(1.5 * claimed["mae"], claimed["mae"] + 5), (skill, got["skills"][skill], claimed)
        assert mae < 0.7 * const, (skill, mae, const)
    copy = got["skills"]["copy"]["exact"]
    assert copy >= provenance["final_metrics"]["copy"]["exact"] - 0.15, copy
    assert got["image_spread"] > 0.05, got["image_spread"]


def test_the_provenance_command_names_every_setting_that_differs_from_the_defaults(monkeypatch):
    """A run with a raised step cap must record it: the command alone then reruns it (the second
    shipped run raised ``reading_steps``; its first provenance would have read as a default run)."""
    cfg = RecipeConfig(out_dir="outputs/r2", export_dir="outputs/r2/preset", reading_steps=7000, threads=1)
    line = recipe.command_line(cfg)
    assert line.startswith("vla0-smol pretrain --seed 0 --out-dir outputs/r2")
    assert "--reading-steps 7000" in line and "--threads 1" in line and "--export-dir outputs/r2/preset" in line
    assert "--vision-steps" not in line  # defaults stay out
    parsed = []  # the CLI parses the recorded command back into the same configuration
    monkeypatch.setattr(recipe, "run_recipe", lambda c, progress: parsed.append(c) or {})
    monkeypatch.setattr(recipe, "summary", lambda record: "")
    recipe.main(line.split()[2:])
    assert parsed == [cfg]
