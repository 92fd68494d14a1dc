"""The blog's claims in one table: its numbers with their own 95% intervals, this run's beside them.

The blog reports PushT success over 64 episodes per arm and LIBERO over 50 episodes of each of the
40 tasks (2,000 per protocol). Its differences therefore carry sampling noise of their own: each
claim's difference gets Newcombe's interval from the two Wilson intervals
(:func:`vla0_smol.book.evidence.difference_interval`), computed from the blog's published rates
(``round(rate * n)`` successes). Two of them, the state-token gains of +15.6 and +12.5 points, have
intervals that hold zero: by the blog's own numbers they are within noise. :func:`claims_table`
sets each claim beside this run's difference on the same arms (read from
``results/<profile>/<recipe>.json`` and ``libero.json``) with a verdict that says both what this run
shows and whether the blog's own difference is distinguishable from zero.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .evidence import difference_interval, successes, wilson_interval

BLOG_PUSHT_EPISODES = 64
BLOG_LIBERO_EPISODES = 2000  # 40 tasks x 50 episodes per protocol


@dataclass(frozen=True)
class Claim:
    """One comparison of the blog: arm ``b`` against arm ``a``.

    Attributes:
        text: the claim in words.
        recipe: the chapter whose JSON holds this run's arms (``libero`` for LIBERO).
        a, b: arm indices in that chapter (LIBERO: protocol names).
        blog_a, blog_b: the blog's success rates in % (None where it gives no figure).
        stated: the blog's finding in words where it gives no figure.
        direction: where it gives none, the finding's sign: +1 ``b`` better, -1 worse, 0 no difference.
        n: the blog's episodes per arm.
    """

    text: str
    recipe: str
    a: int | str
    b: int | str
    blog_a: float | None = None
    blog_b: float | None = None
    stated: str = ""
    direction: int = 1
    n: int = BLOG_PUSHT_EPISODES


CLAIMS = [
    Claim("learning rate 5e-5 beats 5e-6 (x0.1 of the profile's rate)", "ablation_lr", 0, 2, 0.0, 57.8),
    Claim("learning rate 5e-5 beats 1e-5 (x0.2)", "ablation_lr", 1, 2, 0.0, 57.8),
    Claim("1e-4 (x2) is slightly below 5e-5", "ablation_lr", 2, 3, stated="slightly lower, no figure", direction=-1),
    Claim("training the vision encoder beats freezing it", "ablation_vision", 0, 1, 25.0, 57.8),
    Claim("relative actions beat absolute ones (no state)", "ablation_state_action", 0, 1, 29.7, 57.8),
    Claim("state tokens help absolute actions", "ablation_state_action", 0, 2, 29.7, 45.3),
    Claim("state tokens help relative actions", "ablation_state_action", 1, 3, 57.8, 70.3),
    Claim("a system prompt changes nothing", "ablation_system_prompt", 0, 1, stated="no difference", direction=0),
    Claim("whole-action masking beats no masking", "ablation_masking", 0, 2, 57.8, 78.1),
    Claim(
        "temporal ensembling changes nothing on PushT",
        "ablation_ensembling",
        0,
        1,
        stated="no significant difference",
        direction=0,
    ),
    Claim(
        "temporal ensembling beats 8 steps ahead on LIBERO (average of 4 suites)",
        "libero",
        "8 steps ahead",
        "temporal ensembling",
        90.7,
        94.1,
        n=BLOG_LIBERO_EPISODES,
    ),
]


def _points(d: tuple[float, float, float]) -> str:
    return f"{100 * d[0]:+.1f} points ({100 * d[1]:+.1f} to {100 * d[2]:+.1f})"


def blog_difference(claim: Claim) -> tuple[float, float, float] | None:
    """The blog's ``b - a`` and its 95% interval (fractions), None where it gives no figure."""
    if claim.blog_a is None or claim.blog_b is None:
        return None
    a, b = (round(claim.blog_a / 100 * claim.n), claim.n), (round(claim.blog_b / 100 * claim.n), claim.n)
    return difference_interval(a, b)


def run_counts(results: Path, claim: Claim) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """This run's (successes, episodes) of arms ``a`` and ``b`` (best checkpoints), None if not measured."""
    path = Path(results) / f"{claim.recipe}.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if claim.recipe == "libero":
        evals = data.get("evaluations", {})
        if claim.a not in evals or claim.b not in evals:
            return None

        def total(mode):
            tasks = evals[mode]["per_task"]
            return sum(sum(t["successes"]) for t in tasks), sum(len(t["successes"]) for t in tasks)

        return total(claim.a), total(claim.b)
    arms = data.get("arms", [])
    if max(claim.a, claim.b) >= len(arms):
        return None
    best = [arms[i].get("best", arms[i]) for i in (claim.a, claim.b)]
    if not all("n_episodes" in r for r in best):
        return None
    return successes(best[0]), successes(best[1])


def _rate(k: int, n: int) -> str:
    lo, hi = wilson_interval(k, n)
    return f"{100 * k / n:.1f}% ({100 * lo:.0f}-{100 * hi:.0f})"


def verdict(claim: Claim, blog: tuple[float, float, float] | None, run: tuple[float, float, float] | None) -> str:
    """Both sides in words: is the blog's difference out of noise, and what does this run say."""
    if blog is None:
        blog_part = f"the blog gives no figure ({claim.stated})"
    elif blog[1] <= 0 <= blog[2]:
        blog_part = "**the blog's own difference is within noise** (its interval holds 0)"
    else:
        blog_part = "the blog's difference is out of noise"
    if run is None:
        return f"{blog_part}; not measured in this run"
    if run[1] <= 0 <= run[2]:
        width = 100 * (run[2] - run[1])
        run_part = f"this run cannot tell the arms apart (its interval, {width:.0f} points wide, holds 0)"
    elif blog is None and claim.direction == 0:
        run_part = "this run finds a difference the blog did not"
    else:
        direction = blog[0] if blog is not None else claim.direction
        same = (run[0] > 0) == (direction > 0)
        run_part = f"this run {'agrees' if same else 'finds the opposite'}, out of noise"
    return f"{blog_part}; {run_part}"


def claims_table(results: Path, profile: str) -> str:
    """Markdown: one row per claim, the blog's number and interval, this run's, and the verdict."""
    lines = [
        "| claim | blog: b vs a, difference (95% interval) | this run: b vs a (95% intervals), difference | verdict |",
        "|---|---|---|---|",
    ]
    for claim in CLAIMS:
        blog = blog_difference(claim)
        if blog is None:
            blog_cell = claim.stated
        else:
            blog_cell = f"{claim.blog_b:.1f}% vs {claim.blog_a:.1f}% of {claim.n}: {_points(blog)}"
        counts = run_counts(results, claim)
        run = difference_interval(*counts) if counts else None
        if counts:
            (ka, na), (kb, nb) = counts
            run_cell = f"{_rate(kb, nb)} vs {_rate(ka, na)} of {na}: {_points(run)}"
        else:
            run_cell = f"(not run at `{profile}`)"
        lines.append(f"| {claim.text} | {blog_cell} | {run_cell} | {verdict(claim, blog, run)} |")
    within = [c.text for c in CLAIMS if (d := blog_difference(c)) is not None and d[1] <= 0 <= d[2]]
    note = (
        f"By the blog's own numbers, {len(within)} of its differences are within noise ({'; '.join(within)}): "
        "64 episodes per arm cannot separate rates this close. "
        if within
        else ""
    )
    return (
        "\n".join(lines)
        + "\n\n"
        + note
        + (
            "Blog intervals are computed from its published rates and episode counts (Wilson per arm, Newcombe "
            "for the difference), this run's from its own episodes at the best checkpoint of each arm."
        )
    )
