"""`vla0-smol demo` end to end at the smoke profile: the summary other tools read."""

import json
import subprocess

import pytest


@pytest.mark.timeout(1200)
def test_demo_smoke_writes_the_summary(smoke_demo, tmp_path):
    proc, out = smoke_demo.proc, smoke_demo.out
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    for key in ("expert", "random", "trained"):
        assert 0.0 <= summary[key]["success_rate"] <= 1.0
        assert 0.0 <= summary[key]["mean_max_coverage"] <= 1.0
        assert summary[key]["n_episodes"] == 2
    # the three controllers saw the same seeds
    seeds = [[e["seed"] for e in summary[k]["episodes"]] for k in ("expert", "random", "trained")]
    assert seeds[0] == seeds[1] == seeds[2]
    assert (out / "train_loss.png").exists() and summary["trained"]["videos"]
    # every saved checkpoint (smoke: steps 3 and 6) on the same seeds; the last and the best reported
    assert [c["step"] for c in summary["checkpoints"]] == [3, 6] and summary["trained"]["step"] == 6
    assert summary["trained_best"]["step"] in (3, 6) and (out / "checkpoints.png").exists()
    assert [e["seed"] for e in summary["trained_best"]["episodes"]] == seeds[0]
    assert "| trained tiny policy, last checkpoint (step 6) |" in proc.stdout
    # holding still on the same seeds, and intervals: Wilson on successes, t on coverage
    assert [e["seed"] for e in summary["hold_still"]["episodes"]] == seeds[0]
    assert "| holding still | 0.0% [0-66%] |" in proc.stdout  # Wilson's upper bound for 0 of 2
    # LeRobot's own evaluation of the last checkpoint, on seeds the demo does not report
    last = summary["checkpoints"][-1]["checkpoint"]
    assert f"lerobot-eval --policy.path={last}" in proc.stdout and "--seed=20000" in summary["lerobot_eval"]
    assert "| trained tiny policy, best of 2 checkpoints (step " in proc.stdout
    # lerobot-train resumes from the last checkpoint only: the others keep their weights alone
    assert not (out / "train/checkpoints/000003/training_state").exists()
    assert (out / "train/checkpoints/000006/training_state").is_dir()

    # --checkpoint: the run just trained (its folder; resolved to checkpoints/last/pretrained_model)
    # is evaluated on the same seeds, without demonstrations or training
    again = tmp_path / "again"
    cmd = smoke_demo.command
    cmd = [*cmd[: cmd.index("--out")], "--out", str(again), "--checkpoint", str(out / "train")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    given = json.loads((again / "summary.json").read_text())
    assert given["checkpoint"] == str(out / "train" / "checkpoints" / "last" / "pretrained_model")
    assert set(given["stage_seconds"]) == {
        "checkpoint",
        "eval expert",
        "eval random",
        "eval hold still",
        "eval trained",
    }
    assert given["trained"]["episodes"] == summary["trained"]["episodes"]  # same weights, same seeds
    assert not (again / "train").exists() and "| given checkpoint |" in proc.stdout
