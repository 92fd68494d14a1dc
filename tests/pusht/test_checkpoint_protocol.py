"""The best-checkpoint protocol: every saved checkpoint on the same seeds, best and last reported."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import imageio.v2 as imageio
import pytest

from vla0_smol.book.report import plot_checkpoint_curve, pusht_table
from vla0_smol.pusht import checkpoints as protocol
from vla0_smol.pusht.profiles import pusht_profile


def _row(step, success, coverage):
    return {"step": step, "success_rate": success, "mean_max_coverage": coverage}


def test_best_is_the_highest_success_then_coverage_and_last_is_the_final_one():
    rows = [_row(3000, 0.25, 0.6), _row(6000, 0.5, 0.7), _row(9000, 0.5, 0.8), _row(12000, 0.25, 0.9)]
    summary = protocol.summarise(rows)
    assert summary["best"]["step"] == 9000 and summary["last"]["step"] == 12000
    assert protocol.summarise(rows[:2] + [_row(9000, 0.5, 0.7)])["best"]["step"] == 9000  # full tie: later


def test_every_checkpoint_is_evaluated_on_the_same_seeds(tiny_run, tmp_path, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, symlinks=True)  # checkpoints at steps 2 and 4
    prof = replace(pusht_profile("smoke"), eval_episodes=2, eval_batch=2, eval_max_steps=5)
    sweep = protocol.evaluate_every_checkpoint(run, prof, 10_000, progress=False)
    assert [r["step"] for r in sweep["checkpoints"]] == [2, 4] and sweep["last"]["step"] == 4
    assert sweep["best"] in sweep["checkpoints"]
    seeds = [[e["seed"] for e in protocol.load_evaluation(r)["episodes"]] for r in sweep["checkpoints"]]
    assert seeds == [[10_000, 10_001]] * 2
    assert all(protocol.load_evaluation(r)["step"] == r["step"] for r in sweep["checkpoints"])
    # each checkpoint keeps a strip of its first episode: 6 frames of 96 px (5 steps: all 6 frames)
    for r in sweep["checkpoints"]:
        strip = imageio.imread(r["rollout"]["png"])
        assert strip.shape == (96, 6 * 96, 3) and r["rollout"]["seed"] == 10_000
        assert r["rollout"]["steps"] == [0, 1, 2, 3, 4, 5]

    # a second sweep with the same settings reads the cached evaluations back
    monkeypatch.setattr(protocol, "evaluate_checkpoint", lambda *a, **k: pytest.fail("evaluated again"))
    assert protocol.evaluate_every_checkpoint(run, prof, 10_000, progress=False) == sweep

    # an evaluation cached before frames were kept: its first episode is re-run once, alone
    row = dict(sweep["checkpoints"][0], rollout=None)
    full = protocol.load_evaluation(row)
    Path(full["rollout"]["png"]).unlink()
    del full["rollout"]
    Path(row["file"]).write_text(json.dumps(full))
    monkeypatch.undo()
    again = protocol.rollout(row, prof, 10_000)
    assert again["rerun"] and again["seed"] == 10_000 and Path(again["png"]).is_file()
    assert protocol.load_evaluation(row)["rollout"] == again

    # only the last checkpoint keeps the optimizer state lerobot-train resumes from
    removed = protocol.prune_training_states(run)
    assert removed == [run / "checkpoints/000002/training_state"]
    assert (run / "checkpoints/000004/training_state").is_dir()
    assert (run / "checkpoints/000002/pretrained_model/model.safetensors").is_file()

    assert plot_checkpoint_curve(sweep["checkpoints"], tmp_path / "curve.png", "t").stat().st_size > 0
    summary = {
        "recipe": "ablation_vision",
        "profile": "smoke",
        "model": "tiny",
        "arms": [{"arm": "a", "n_episodes": 2, **sweep, "success_rate": 0, "mean_max_coverage": 0}],
    }
    table = pusht_table(json.loads(json.dumps(summary)))
    assert "success, best (smoke) [step]" in table and "success, last (smoke)" in table
    assert f"[{sweep['best']['step']}]" in table and "steps 2, 4" in table
