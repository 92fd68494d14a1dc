"""The LIBERO recipe with a ``checkpoint``: the authors' format converted, evaluated, never trained.

The checkpoint is fabricated in the authors' ``vla0`` format (``vla0_checkpoints``) with the
LIBERO smoke profile's cameras (128 px, crop 116) and chunk 8; evaluation resumes task by task.
"""

from __future__ import annotations

import json

import pytest
from vla0_checkpoints import fabricate_vla0_checkpoint

from vla0_smol.book.report import libero_table
from vla0_smol.libero import evaluation
from vla0_smol.libero.assets import AssetError
from vla0_smol.libero.env import setup_libero
from vla0_smol.libero.evaluation import evaluate_libero

TASKS = [("libero_object", 0), ("libero_object", 1)]


def _row(suite, tid, successes):
    return {"suite": suite, "task_id": tid, "task": f"task {tid}", "successes": successes, "lengths": [5] * 2}


def test_evaluation_skips_the_tasks_of_its_results_file(tmp_path, monkeypatch):
    """Finished tasks are read back, not run; a torn line (an interruption) runs its task again."""
    results = tmp_path / "eval.jsonl"
    results.write_text(json.dumps(_row(*TASKS[0], [True, False])) + "\n" + '{"suite": "libero_obj')
    ran = []

    def fake_task(controller, suite, tid, n, *args):
        ran.append((suite, tid))
        return evaluation.TaskResult(suite, tid, f"task {tid}", [True] * n, [3] * n), [], 3 * n

    monkeypatch.setattr(evaluation, "_run_task", fake_task)
    out = evaluate_libero(None, suites=("libero_object",), task_ids=[0, 1], n_episodes=2, results_file=results)
    assert ran == [TASKS[1]]
    assert [t.successes for t in out.tasks] == [[True, False], [True, True]]
    assert out.per_suite() == {"libero_object": 0.75} and out.timings["tasks_resumed"] == 1
    again = evaluate_libero(None, suites=("libero_object",), task_ids=[0, 1], n_episodes=2, results_file=results)
    assert ran == [TASKS[1]] and again.per_suite() == out.per_suite()  # nothing left to run
    ran.clear()
    evaluate_libero(None, suites=("libero_object",), task_ids=[0, 1], n_episodes=3, results_file=results)
    assert ran == TASKS  # other sizes: rows of 2 episodes do not count


@pytest.mark.slow
def test_libero_recipe_evaluates_a_converted_checkpoint_without_training(tmp_path):
    """Done-when of issue #18: ``recipes run --profile smoke --only libero -p checkpoint <theirs>``."""
    try:
        setup_libero(offline=True)
    except AssetError as e:
        pytest.skip(f"LIBERO assets unavailable offline: {e}")
    from vla0_smol.book.cli import main

    src = fabricate_vla0_checkpoint(tmp_path / "theirs", chunk=8, image_size=128, crop=116)
    argv = ["recipes", "run", "--profile", "smoke", "--only", "libero", "--results-dir", str(tmp_path / "results")]
    assert main([*argv, "-p", "checkpoint", str(src)]) == 0
    out = tmp_path / "results" / "smoke"
    summary = json.loads((out / "libero.json").read_text())
    assert summary["train"] is None and summary["dataset"] is None and not (out / "runs").exists()
    assert summary["checkpoint"]["argument"] == str(src) and summary["checkpoint"]["converted_from_vla0"]
    converted = summary["checkpoint"]["folder"]
    assert converted.startswith(str(out / "checkpoints")) and summary["resolved_config"]["binning"] == "vla0"
    assert [(e["suite"], e["task_id"], e["init_state"]) for e in summary["episodes"]] == [("libero_object", 0, 0)]
    assert summary["model"] == summary["resolved_config"]["vlm_model_name"]
    assert len(list((out / "libero_eval").glob("*.jsonl"))) == 1
    assert "not trained here" in libero_table(summary)
    assert main([*argv, "-p", "checkpont", str(src)]) == 2  # a typo is named, nothing runs
