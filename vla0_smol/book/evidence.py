"""How sure a success rate is, and what a difference between two arms says about the blog's.

A success rate over ``n`` episodes is a binomial proportion. With the 2 to 64 episodes the
profiles evaluate, the normal ("Wald") interval is useless near 0% and 100% (it collapses to a
point), so every rate gets the **Wilson score interval** (Wilson 1927, recommended by Brown, Cai
and DasGupta 2001, "Interval estimation for a binomial proportion"):

    centre = (p + z^2 / 2n) / (1 + z^2 / n)
    half   = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2)

A difference between two arms (``b - a``) gets **Newcombe's hybrid score interval** (Newcombe
1998, "Interval estimation for the difference between independent proportions", method 10), built
from the two Wilson intervals ``[l, u]``:

    lower = d - sqrt((p_b - l_b)^2 + (u_a - p_a)^2)
    upper = d + sqrt((u_b - p_b)^2 + (p_a - l_a)^2)

:func:`compare_sentence` turns one comparison into a sentence: the difference this run measured,
its interval, and a verdict against the blog's finding. "Inside the interval" means the interval
of the difference holds 0: these episodes cannot tell the arms apart. Episodes pooled over
training seeds are counted as one sample (seed-to-seed variation is shown, not modelled), and the
best checkpoint is chosen on the same episodes, so its intervals are optimistic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile: two-sided 95%


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``successes`` out of ``n`` (fractions in [0, 1])."""
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got {successes} of {n}")
    p = successes / n
    shrink = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / shrink
    half = z / shrink * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def difference_interval(a: tuple[int, int], b: tuple[int, int], z: float = Z95) -> tuple[float, float, float]:
    """``p_b - p_a`` and its interval (Newcombe's method 10); ``a`` and ``b`` are (successes, n)."""
    pa, pb = a[0] / a[1], b[0] / b[1]
    la, ua = wilson_interval(*a, z=z)
    lb, ub = wilson_interval(*b, z=z)
    d = pb - pa
    return d, d - math.hypot(pb - lb, ua - pa), d + math.hypot(ub - pb, pa - la)


def successes(row: dict) -> tuple[int, int]:
    """``(successes, episodes)`` of a result row (``success_rate`` and ``n_episodes``)."""
    n = int(row["n_episodes"])
    return round(row["success_rate"] * n), n


@dataclass(frozen=True)
class BlogFinding:
    """What the blog reports for one comparison ``b`` against ``a``.

    Attributes:
        direction: +1 (``b`` better), -1 (``b`` worse) or 0 (no difference).
        points: the blog's ``b - a`` in percentage points (None where it gives no figure).
    """

    direction: int
    points: float | None = None

    def __str__(self) -> str:
        if self.points is not None:
            return f"{self.points:+.1f} points"
        return {0: "no difference", 1: "higher, no figure", -1: "lower, no figure"}[self.direction]


def compare_sentence(
    profile: str, names: tuple[str, str], a: tuple[int, int], b: tuple[int, int], blog: BlogFinding
) -> str:
    """One comparison, measured here, against the blog's finding.

    Args:
        profile: the profile that produced the counts (named in the sentence).
        names: labels of arms ``a`` and ``b``.
        a: (successes, episodes) of arm ``a``.
        b: (successes, episodes) of arm ``b``.
        blog: the blog's finding for ``b`` against ``a``.

    Returns:
        e.g. "At smoke, *vision trained* vs *vision frozen*: +0.0 points (95% interval -84.2 to
        +84.2), inside the interval: no evidence either way (blog: +32.8 points)."
    """
    d, lo, hi = difference_interval(a, b)
    measured = (
        f"At {profile}, *{names[1]}* vs *{names[0]}*: {100 * d:+.1f} points "
        f"(95% interval {100 * lo:+.1f} to {100 * hi:+.1f}), "
    )
    if lo <= 0 <= hi:
        if blog.direction == 0:
            widest = 100 * max(-lo, hi)
            verdict = f"inside the interval: consistent with the blog, yet {widest:.0f} points are not ruled out"
        else:
            verdict = "inside the interval: no evidence either way"
    elif blog.direction == 0:
        verdict = "outside the interval: a difference the blog did not find"
    elif (d > 0) == (blog.direction > 0):
        verdict = "outside the interval: agrees with the blog's direction"
    else:
        verdict = "outside the interval: the opposite of the blog's direction"
    return f"{measured}{verdict} (blog: {blog})."


def mean_interval(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of per-episode values (e.g. max coverage) and its Student-t interval.

    Coverage is bounded and skewed, so with 16 episodes this is approximate; it is what tells a
    policy apart from the random one on the same seeds, not a precise bound.
    """
    from scipy import stats

    x = [float(v) for v in values]
    n = len(x)
    if n < 2:
        raise ValueError(f"need at least 2 values for an interval, got {n}")
    mean = sum(x) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in x) / (n - 1))
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def _reference_facts(summary: dict, tol: float = 1e-3) -> dict | None:
    """What an ablation's reference controllers show about its arms (None when they were not measured).

    ``expert_failed``: the scripted expert succeeded in none of the episodes; ``still``: the arms whose
    best coverage equals holding still's; ``above``: the arms whose best coverage beats random actions'.
    """
    refs = {r["reference"]: r for r in summary.get("references", [])}
    arms = [(a["arm"], a.get("best", a)) for a in summary.get("arms", [])]
    if not refs or not arms:
        return None
    expert, hold, random = refs.get("scripted expert"), refs.get("hold still"), refs.get("random actions")
    return {
        "arms": [name for name, _ in arms],
        "expert": expert,
        "expert_failed": bool(expert and "n_episodes" in expert and successes(expert)[0] == 0),
        "hold": hold,
        "still": [n for n, r in arms if hold and abs(r["mean_max_coverage"] - hold["mean_max_coverage"]) <= tol],
        "random": random,
        "above": [n for n, r in arms if random and r["mean_max_coverage"] > random["mean_max_coverage"] + tol],
    }


def reference_sentence(summary: dict, tol: float = 1e-3) -> str:
    """What the reference controllers, measured on the arms' episodes, say about an ablation's numbers.

    The scripted expert is the ceiling (if it cannot succeed on these episodes, no arm can), holding
    still the floor: an arm whose best coverage equals holding still's never pushed the T further onto
    its target than where the episode started it. Returns "" when the references were not measured.
    """
    f = _reference_facts(summary, tol)
    if f is None:
        return ""
    out = []
    expert, hold, still = f["expert"], f["hold"], f["still"]
    if f["expert_failed"]:
        out.append(
            f"The scripted expert succeeded in none of the {expert['n_episodes']} episodes (coverage "
            f"{expert['mean_max_coverage']:.3f}): these episodes are too short or too few for a policy to "
            "succeed, so success cannot tell policies apart here and coverage is the only signal."
        )
    if hold and len(still) == len(f["arms"]) == 1:
        out.append(
            f"*{still[0]}* has exactly holding still's coverage ({hold['mean_max_coverage']:.3f}): it did "
            "not push the T further onto its target than where the episodes started it."
        )
    elif hold and len(still) == len(f["arms"]):
        out.append(
            f"Every arm's best coverage equals holding still's ({hold['mean_max_coverage']:.3f}): no "
            "policy pushed the T further onto its target than where the episodes started it, so the arms "
            "look identical because none of them acts on the block yet, not because the switch they "
            "test makes no difference."
        )
    elif still:
        out.append(
            f"{', '.join(f'*{n}*' for n in still)}: the same coverage as holding still "
            f"({hold['mean_max_coverage']:.3f}), i.e. the block was not moved onto its target."
        )
    if f["above"]:
        out.append(
            f"Above random actions' coverage ({f['random']['mean_max_coverage']:.3f}): "
            + ", ".join(f"*{n}*" for n in f["above"])
            + "."
        )
    return " ".join(out)


def references_overview(summaries: dict[str, dict], titles: dict[str, str]) -> str:
    """What the reference controllers say across a page of ablations, each fact said once.

    ``summaries``: recipe -> ablation summary. The expert failing, every arm holding still and the
    arms above random are gathered over the ablations instead of repeated under each table.
    """
    failed, still, above, moved = [], [], [], []
    for recipe, summary in summaries.items():
        f = _reference_facts(summary)
        if f is None:
            continue
        name = titles.get(recipe, recipe)
        if f["expert_failed"]:
            failed.append(name)
        if f["hold"]:
            (still if len(f["still"]) == len(f["arms"]) else moved).append(name)
        if f["above"]:
            above.append(f"{name} ({', '.join(f'*{n}*' for n in f['above'])})")
    if not (failed or still or above or moved):
        return ""
    out = ["Every table closes with three reference controllers measured on its arms' episodes: the scripted "
           "expert (the ceiling), random actions and holding still (the floor)."]  # fmt: skip
    if failed:
        out.append(
            f"The expert succeeded in none of the episodes of {_listing(failed)}: those episodes are too short or "
            "too few for any policy to succeed, so there coverage is the only signal."
        )
    if still:
        out.append(
            f"In {_listing(still)} every arm's best coverage equals holding still's: no policy moved the T onto "
            "its target, so the arms look alike because none acts on the block yet, not because the switch "
            "they test makes no difference."
        )
    if above:
        out.append("Arms whose best coverage beats random actions': " + "; ".join(above) + ".")
    elif failed or still or moved:
        out.append("No arm's best coverage beats random actions' in any table.")
    return " ".join(out)


def _listing(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
