"""The blog's claims with their own intervals, this run's beside them, and what the references say."""

import json
import math

from vla0_smol.book.claims import CLAIMS, blog_difference, claims_table
from vla0_smol.book.evidence import reference_sentence
from vla0_smol.book.report import render_blog_tables


def _claim(text):
    return next(c for c in CLAIMS if c.text == text)


def _newcombe(k1, k2, n, z=1.959963984540054):
    """Newcombe's method 10 written out from the Wilson score interval (independently of the library)."""

    def wilson(k):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return p, centre - half, centre + half

    (pa, la, ua), (pb, lb, ub) = wilson(k1), wilson(k2)
    d = pb - pa
    return d, d - math.sqrt((pb - lb) ** 2 + (ua - pa) ** 2), d + math.sqrt((ub - pb) ** 2 + (pa - la) ** 2)


def test_the_blogs_state_token_gains_are_within_its_own_noise_and_masking_is_not():
    for text, (k1, k2) in [
        ("state tokens help absolute actions", (19, 29)),  # 29.7% -> 45.3% of 64
        ("state tokens help relative actions", (37, 45)),  # 57.8% -> 70.3% of 64
    ]:
        d, lo, hi = blog_difference(_claim(text))
        assert lo < 0 < hi
        assert (d, lo, hi) == pytest_approx(_newcombe(k1, k2, 64))
    d, lo, hi = blog_difference(_claim("whole-action masking beats no masking"))
    assert 0 < lo < d == pytest_approx(50 / 64 - 37 / 64)
    assert blog_difference(_claim("a system prompt changes nothing")) is None


def pytest_approx(x):
    import pytest

    return pytest.approx(x, abs=1e-9)


def _ablation(recipe, counts, n, coverage=0.3, references=None):
    rows = [{"success_rate": k / n, "n_episodes": n, "mean_max_coverage": coverage} for k in counts]
    arms = [{"arm": f"arm {i}", **row, "best": row} for i, row in enumerate(rows)]
    return {"recipe": recipe, "profile": "smoke", "model": "tiny", "arms": arms, "references": references or []}


def test_claims_table_sets_this_run_beside_the_blog(tmp_path):
    (tmp_path / "ablation_state_action.json").write_text(
        json.dumps(_ablation("ablation_state_action", [1, 2, 1, 1], 2))
    )
    (tmp_path / "ablation_masking.json").write_text(json.dumps(_ablation("ablation_masking", [10, 0, 60], 64)))
    rows = {line.split(" | ")[0][2:]: line for line in claims_table(tmp_path, "smoke").splitlines() if "|" in line}
    relative = rows["relative actions beat absolute ones (no state)"]
    assert "100.0% (34-100) vs 50.0% (9-91) of 2" in relative and "out of noise" in relative
    assert "this run cannot tell the arms apart" in relative  # 2 episodes: the interval holds 0
    state = rows["state tokens help relative actions"]
    assert "the blog's own difference is within noise" in state
    masking = rows["whole-action masking beats no masking"]
    assert "this run agrees, out of noise" in masking and "+78.1 points" in masking  # 60/64 - 10/64
    assert "(not run at `smoke`)" in rows["training the vision encoder beats freezing it"]


def test_reference_sentence_says_when_no_arm_moved_the_block():
    refs = [
        {"reference": "scripted expert", "success_rate": 0.0, "n_episodes": 2, "mean_max_coverage": 0.373},
        {"reference": "random actions", "success_rate": 0.0, "n_episodes": 2, "mean_max_coverage": 0.327},
        {"reference": "hold still", "success_rate": 0.0, "n_episodes": 2, "mean_max_coverage": 0.317},
    ]
    still = reference_sentence(_ablation("ablation_lr", [0, 0], 2, coverage=0.317, references=refs))
    assert "scripted expert succeeded in none of the 2 episodes" in still
    assert "Every arm's best coverage equals holding still's (0.317)" in still
    moving = reference_sentence(_ablation("ablation_lr", [0, 0], 2, coverage=0.35, references=refs[1:]))
    assert "holding still" not in moving and "Above random actions' coverage (0.327): *arm 0*, *arm 1*." in moving
    assert reference_sentence(_ablation("ablation_lr", [0], 2)) == ""


def test_blog_tables_open_with_the_claims_and_explain_the_columns_once(tmp_path):
    for recipe in ("ablation_vision", "ablation_masking"):
        (tmp_path / f"{recipe}.json").write_text(json.dumps(_ablation(recipe, [1, 1, 1], 2)))
    text = render_blog_tables(tmp_path)
    assert text.index("The blog's claims") < text.index("### Vision encoder")
    assert text.count("95% Wilson intervals") == 1 and text.count("**best** is") == 1


def test_blog_tables_read_the_references_once_for_the_page(tmp_path):
    refs = [
        {"reference": "scripted expert", "success_rate": 0.0, "n_episodes": 2, "mean_max_coverage": 0.373},
        {"reference": "random actions", "success_rate": 0.0, "n_episodes": 2, "mean_max_coverage": 0.327},
        {"reference": "hold still", "success_rate": 0.0, "n_episodes": 2, "mean_max_coverage": 0.317},
    ]
    for recipe in ("ablation_vision", "ablation_masking", "ablation_lr"):
        (tmp_path / f"{recipe}.json").write_text(json.dumps(_ablation(recipe, [0, 0], 2, 0.317, refs)))
    text = render_blog_tables(tmp_path)
    assert text.count("expert succeeded in none") == 1 and text.count("equals holding still") == 1
    overview = text[text.index("### What the reference rows say") :]
    assert "Vision encoder" in overview and "No arm's best coverage beats random" in overview


def test_charts_reading_says_which_differences_the_run_resolves():
    from vla0_smol.book.prose import charts_reading

    tied = {"ablation_lr": _ablation("ablation_lr", [0, 0], 2)}
    assert "All arms tie in" in charts_reading(tied, {}) and "includes zero" in charts_reading(tied, {})
    assert charts_reading(tied, {}).startswith("No arm succeeded in any episode")
    clear = {"ablation_masking": _ablation("ablation_masking", [2, 60], 64)}
    text = charts_reading(clear, {"ablation_masking": "Masking"})
    assert "93.8% (Masking, *arm 1*, of 64 episodes)" in text and "Masking (*arm 1* over *arm 0*)" in text
