"""An ablation's evidence: tables with intervals and references, the blog's comparisons, figures."""

import json

import numpy as np
import pytest

from vla0_smol.book import ablation
from vla0_smol.book.figures import plot_rollouts, plot_training
from vla0_smol.book.report import BLOG_PAIRS, BLOG_PUSHT, blog_findings, plot_ablation, pusht_table
from vla0_smol.results import write_strip


def test_blog_findings_come_from_the_blogs_numbers():
    (a, b, vision), *_ = blog_findings("ablation_vision")
    assert (a, b, vision.direction, vision.points) == (0, 1, 1, 32.8)  # 57.8 - 25.0
    assert [(f.direction, f.points) for *_, f in blog_findings("ablation_state_action")] == [
        (1, 28.1),  # relative actions: 29.7 -> 57.8
        (1, 15.6),  # state: 29.7 -> 45.3
        (1, 12.5),  # state on top of relative actions: 57.8 -> 70.3
    ]
    lr = blog_findings("ablation_lr")
    assert [(f.direction, f.points) for *_, f in lr] == [(-1, -57.8), (-1, -57.8), (-1, None)]
    assert [str(f) for *_, f in blog_findings("ablation_system_prompt")] == ["no difference"]
    assert set(BLOG_PAIRS) == set(BLOG_PUSHT)


def _seed_row(seed, k, n, tmp_path, steps=(3, 6)):
    ckpts = [{"step": s, "success_rate": k / n, "mean_max_coverage": 0.5, "n_episodes": n} for s in steps]
    frames = np.zeros((11, 96, 96, 3), np.uint8)
    png, shown = write_strip(frames, tmp_path / f"strip_{seed}_{k}.png")
    return {
        "seed": seed,
        "success_rate": k / n,
        "mean_max_coverage": 0.5,
        "n_episodes": n,
        "best": ckpts[-1],
        "last": ckpts[-1],
        "checkpoints": ckpts,
        "loss": [[1, 6.0], [2, 5.0], [3, 4.5]],
        "rollout": {"png": str(png), "seed": 10_000 + seed, "steps": shown, "success": k > 0, "max_coverage": 0.7},
    }


def _summary(tmp_path, counts_a, counts_b, n=16):
    arms = []
    for name, counts in (("vision frozen", counts_a), ("vision trained", counts_b)):
        per_seed = [_seed_row(s, k, n, tmp_path) for s, k in enumerate(counts)]
        best = ablation._pooled([r["best"] for r in per_seed]) | {"steps": [6] * len(counts)}
        arms.append({"arm": name, **best, "best": best, "last": best, "per_seed": per_seed})
    refs = [{"reference": "hold still", "success_rate": 0.0, "mean_max_coverage": 0.1, "n_episodes": n * len(counts_a)}]
    summary = {"recipe": "ablation_vision", "profile": "cpu", "model": "tiny", "seeds": list(range(len(counts_a)))}
    return summary | {"arms": arms, "references": refs}


def test_table_has_intervals_references_per_seed_and_the_blogs_comparison(tmp_path):
    table = pusht_table(_summary(tmp_path, counts_a=[0, 2], counts_b=[14, 12]))
    # pooled: 2/32 and 26/32; Wilson 95% intervals from the formula
    assert "| vision frozen | 6.2% (1.7-20.1) [6, 6] |" in table
    assert "| vision trained | 81.2% (64.7-91.1) [6, 6] |" in table
    assert "0.0%, 12.5%" in table and "87.5%, 75.0%" in table  # each seed's success
    assert "| *reference: hold still* | 0.0% (0.0-10.7) |" in table
    assert "*vision trained* vs *vision frozen*: +75.0 points" in table
    assert "agrees with the blog's direction (blog: +32.8 points)." in table


def test_one_seed_table_keeps_its_columns(tmp_path):
    table = pusht_table(_summary(tmp_path, counts_a=[8], counts_b=[8]))
    assert "success per seed" not in table and "| vision frozen | 50.0% (28.0-72.0) [6] |" in table
    assert "+0.0 points" in table and "inside the interval: no evidence either way" in table


def test_figures_draw_from_the_summary(tmp_path):
    summary = json.loads(json.dumps(_summary(tmp_path, counts_a=[0, 2], counts_b=[14, 12])))
    for plot, name in ((plot_ablation, "bars"), (plot_training, "training"), (plot_rollouts, "rollouts")):
        assert plot(summary, tmp_path / f"{name}.png").stat().st_size > 0
    del summary["arms"][0]["per_seed"][0]["rollout"]  # an arm without frames gets a titled empty row
    assert plot_rollouts(summary, tmp_path / "rollouts.png").stat().st_size > 0


def test_references_share_the_arms_episodes_and_are_cached(tmp_path, monkeypatch):
    rows = ablation.run_references("smoke", [0], tmp_path, progress=False)
    assert [r["reference"] for r in rows] == list(ablation.REFERENCES)
    files = sorted((tmp_path / "smoke" / "references").glob("*.json"))
    assert len(files) == 3
    for f in files:  # the arms' evaluation episodes at seed 0: 10_000, 10_001 (smoke: 2 episodes)
        assert [e["seed"] for e in json.loads(f.read_text())["episodes"]] == [10_000, 10_001]
    monkeypatch.setattr(ablation, "evaluate_pusht", lambda *a, **k: pytest.fail("evaluated again"))
    assert ablation.run_references("smoke", [0], tmp_path, progress=False) == rows
