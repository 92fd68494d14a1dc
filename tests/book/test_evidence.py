"""Intervals on success rates and the sentence that compares a run with the blog."""

import pytest

from vla0_smol.book.evidence import BlogFinding, compare_sentence, difference_interval, wilson_interval


@pytest.mark.parametrize(
    ("k", "n", "lower", "upper"),
    [
        # from the formula by hand, z = 1.96: 0/n -> [0, z^2 / (n + z^2)] = [0, 3.8415 / 19.8415]
        (0, 16, 0.0, 0.193608),
        # 8/16: centre 0.5, half = 1.96 * sqrt(1/64 + 3.8415/1024) / (1 + 3.8415/16) = 0.220004
        (8, 16, 0.279996, 0.720004),
        (16, 16, 0.806392, 1.0),  # the mirror of 0/16
        (81, 263, 0.2553, 0.3662),  # Newcombe (1998, single proportion), the score method's worked example
    ],
)
def test_wilson_interval_matches_the_formula(k, n, lower, upper):
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(lower, abs=1e-4) and hi == pytest.approx(upper, abs=1e-4)


def test_wilson_interval_equals_scipys():
    stats = pytest.importorskip("scipy.stats")
    for n in (1, 2, 16, 64):
        for k in range(n + 1):
            ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
            assert wilson_interval(k, n) == pytest.approx((ref.low, ref.high), abs=1e-9), (k, n)


def test_wilson_interval_refuses_impossible_counts():
    with pytest.raises(ValueError, match="successes <= n"):
        wilson_interval(3, 2)
    with pytest.raises(ValueError, match="n >= 1"):
        wilson_interval(0, 0)


def test_difference_interval_matches_newcombe():
    # Newcombe (1998, differences), example (a): 56/70 - 48/80 = 0.2, method 10: 0.0524 to 0.3339
    d, lo, hi = difference_interval((48, 80), (56, 70))
    assert (d, lo, hi) == pytest.approx((0.2, 0.0524, 0.3339), abs=1e-4)
    d, lo, hi = difference_interval((56, 70), (48, 80))  # the other way round: mirrored
    assert (d, lo, hi) == pytest.approx((-0.2, -0.3339, -0.0524), abs=1e-4)


NAMES = ("vision frozen", "vision trained")
BLOG_UP = BlogFinding(direction=1, points=32.8)


def test_sentence_equal_arms_inside_the_interval():
    s = compare_sentence("smoke", NAMES, (1, 2), (1, 2), BLOG_UP)
    assert s.startswith("At smoke, *vision trained* vs *vision frozen*: +0.0 points (95% interval -")
    assert "inside the interval: no evidence either way (blog: +32.8 points)." in s


def test_sentence_agrees_with_the_blog():
    s = compare_sentence("cpu", NAMES, (2, 16), (14, 16), BLOG_UP)
    assert "+75.0 points" in s and "outside the interval: agrees with the blog's direction" in s


def test_sentence_disagrees_with_the_blog():
    s = compare_sentence("cpu", NAMES, (14, 16), (2, 16), BLOG_UP)
    assert "-75.0 points" in s and "the opposite of the blog's direction (blog: +32.8 points)" in s


def test_sentence_against_no_difference():
    same = BlogFinding(direction=0)
    s = compare_sentence("cpu", NAMES, (7, 16), (8, 16), same)
    assert "inside the interval: consistent with the blog, yet" in s and s.endswith("(blog: no difference).")
    s = compare_sentence("cpu", NAMES, (0, 64), (40, 64), same)
    assert "outside the interval: a difference the blog did not find (blog: no difference)." in s


def test_sentence_without_a_blog_figure():
    s = compare_sentence("cpu", NAMES, (12, 16), (3, 16), BlogFinding(direction=-1))
    assert "agrees with the blog's direction (blog: lower, no figure)." in s
