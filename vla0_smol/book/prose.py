"""What a chapter's outputs say, as sentences and small tables computed from the run.

The numbers of a chapter change with the profile (a few training steps at ``smoke``, hours at
``full``), so its reading cannot be typed once: each function here takes what the chapter measured
and says what it shows, what was expected and, where they differ, why. Chapters display the
result right after the output it reads.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def settings_table(settings: dict, caption: str = "") -> str:
    """A profile's settings as a two-column Markdown table (nested keys joined with a dot)."""

    def flat(d: dict, prefix: str = ""):
        for key, value in d.items():
            if isinstance(value, dict) and value and all(not isinstance(v, dict) for v in value.values()):
                if len(str(value)) <= 60:
                    yield f"{prefix}{key}", ", ".join(f"{k}: {v}" for k, v in value.items())
                    continue
            if isinstance(value, dict):
                yield from flat(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", value

    rows = [f"| `{k}` | {', '.join(map(str, v)) if isinstance(v, (list, tuple)) else v} |" for k, v in flat(settings)]
    head = [f"**{caption}**", ""] if caption else []
    return "\n".join([*head, "| setting | value |", "|---|---|", *rows])


def recipe_sentence(policy: dict, blog_lr: float = 5e-5) -> str:
    """What the quickstart trains: the blog's final switches, on this profile's model and optimiser."""
    lr = policy.get("optimizer_lr", blog_lr)
    model = policy.get("vlm_model_name", "SmolVLM2-500M")
    switches = (
        f"state tokens {'on' if policy.get('use_state') else 'off'}, "
        f"{'relative' if policy.get('relative_actions') else 'absolute'} actions, "
        f"{ {'whole': 'whole-action', 'char': 'character', 'none': 'no'}.get(policy.get('masking'), 'no') } masking"
    )
    if model == "tiny" or lr != blog_lr:
        return (
            f"The switches are those of the blog's final PushT recipe ({switches}); the model and the "
            f"optimiser are this profile's: the `{model}` backbone at a peak learning rate of {lr:g} with "
            f"{policy.get('scheduler_warmup_steps', '?')} warm-up steps (the blog: SmolVLM2-500M at {blog_lr:g}). "
            "Only the `full` profile trains the blog's recipe itself."
        )
    return f"The blog's final PushT recipe: {switches}, `{model}` at a peak learning rate of {lr:g}."


def masking_example_sentence(name: str, hidden: int, total: int, tried: int) -> str:
    """Why the drawn example of a masking scheme masks what it masks."""
    if tried > 1:
        return (
            f"*{name}*: the first {tried - 1} draw(s) masked nothing (the fraction drawn, up to the maximum, "
            f"times the chunk's number of integers rounds down to 0), so the example shows draw {tried}: "
            f"{hidden} of {total} action tokens hidden."
        )
    return f"*{name}*: {hidden} of {total} action tokens hidden in this draw."


def off_world(chunk: np.ndarray, size: float = 512.0) -> str:
    """Where a chunk's targets fall against PushT's ``size`` x ``size`` world, in one sentence."""
    chunk = np.asarray(chunk, dtype=float)
    outside = ((chunk < 0) | (chunk > size)).any(axis=1)
    if not outside.any():
        return f"All {len(chunk)} targets lie inside the {size:.0f} x {size:.0f} world."
    lo, hi = chunk.min(0), chunk.max(0)
    return (
        f"{int(outside.sum())} of {len(chunk)} targets lie outside the {size:.0f} x {size:.0f} world "
        f"(x from {lo[0]:.0f} to {hi[0]:.0f}, y from {lo[1]:.0f} to {hi[1]:.0f}); the figure widens its "
        "frame to show them. A target outside the world is not an error of the decoding: a relative action "
        "is added to the agent's position, and a bin near the end of the range is an offset of up to the "
        "largest one in the demonstrations. The environment steers the agent towards such a target and the "
        "workspace's walls stop it. A trained policy writes offsets like those of its demonstrations, which "
        "keep the agent in the world."
    )


def completion_reading(accuracy: dict, choices: int, trained: bool = True) -> str:
    """What the masked-completion accuracies say against chance (``1 / choices``) and each other.

    ``trained``: the model was fine-tuned on the actions (an ablation checkpoint), not the bare backbone.
    """
    m, u = accuracy["masked"]["accuracy"], accuracy["unmasked"]["accuracy"]
    chance = 1 / choices
    expected = (
        "A policy that has learnt the actions completes a hidden character well above chance (the image, "
        "the state and the characters around the mask say what it hid), and somewhat less often than an "
        "unmasked one, whose own earlier characters are all visible."
    )
    if not trained:
        seen = (
            f"This model was never trained on actions, so chance ({100 * chance:.0f}%) is all it can reach: "
            f"{100 * m:.0f}% masked, {100 * u:.0f}% unmasked. The figure shows the mechanism (what is hidden, what "
            "is predicted where); the ablation's checkpoint, once its chapter has run, shows the skill."
        )
    elif max(m, u) < 3 * chance:
        seen = (
            f"Here both accuracies ({100 * m:.0f}% masked, {100 * u:.0f}% unmasked) are within three times "
            f"chance ({100 * chance:.0f}%): this model has learnt little more than which characters are "
            "frequent, as expected of a few training steps; the figure shows the mechanism, not a skill."
        )
    else:
        seen = (
            f"Here the masked accuracy is {100 * m:.0f}% against {100 * chance:.0f}% by chance and "
            f"{100 * u:.0f}% at unmasked positions ({100 * (m - u):+.0f} points)."
        )
    return f"{expected} {seen}"


def token_reading(probs: list[float], allowed_mass: list[float], vocab: int) -> str:
    """How sure the model is of the tokens it wrote, against a uniform guess over its vocabulary."""
    p, mass = float(np.mean(probs)), float(np.mean(allowed_mass))
    uniform = 1 / vocab
    if p < 5 * uniform:
        state = (
            f"within a few times a uniform guess over the {vocab} tokens of the vocabulary ({uniform:.4f}): "
            "this model is close to untrained, and the grammar, not the model, makes the output a valid chunk"
        )
    else:
        state = f"{p / uniform:.0f} times a uniform guess over the {vocab} tokens ({uniform:.4f})"
    return (
        f"Mean probability of the written token: {p:.3f}, {state}. On average {100 * mass:.0f}% of the model's "
        "probability fell on the tokens the grammar allowed; a trained policy puts nearly all of it there "
        "and writes most tokens with a probability near 1."
    )


def attention_reading(ratio: np.ndarray, share: np.ndarray, uniform: float) -> str:
    """What the attention figure shows: how uneven the map is, and the image's share against uniform."""
    lo, hi = float(ratio.min()), float(ratio.max())
    flat = hi - lo < 0.25
    map_part = f"Each image token receives between {lo:.2f} and {hi:.2f} times an even split of the image's share" + (
        ": the map is nearly flat (white), i.e. the action tokens look at every part of the frame about "
        "equally. A flat map is the finding, not a missing figure: nothing in the image draws this model's "
        "attention yet. A policy that has learnt PushT concentrates it on the T and the agent."
        if flat
        else "; the darker red cells are where the action tokens look most."
    )
    ratio_share = share / uniform
    return (
        f"{map_part} Per layer the image takes {', '.join(f'{s:.3f}' for s in share)} of the attention, "
        f"{ratio_share.min():.2f} to {ratio_share.max():.2f} times what attending uniformly to every visible "
        f"position would give ({uniform:.3f})."
    )


def drafts_reading(t: dict) -> str:
    """Why the fast decoder was (or was not) faster than ``generate()`` in one episode."""
    rate, passes = t["acceptance_rate"], t["hf_passes"] / max(1, t["fast_passes"])
    time_ratio = t["hf_seconds"] / t["fast_seconds"] if t["fast_seconds"] else float("nan")
    per_pass = t["proposed"] / max(1, t["fast_passes"])
    text = (
        f"The fast decoder made {passes:.2f}x fewer forward passes than generate() and took "
        f"{'less' if time_ratio > 1 else 'more'} time (generate() took {time_ratio:.2f}x as long). Fewer passes are "
        f"not free: every pass also feeds a fresh draft proposal through the model ({per_pass:.0f} tokens on "
        "average here), and rejected draft tokens stay in the cache, masked out. With "
        f"{100 * rate:.0f}% of the draft accepted, "
    )
    faster = time_ratio > 1
    if rate < 0.5 and not faster:
        text += "most of that extra work is thrown away, so the saving in passes does not become a saving in time. "
    elif rate < 0.5:
        text += (
            "most of that extra work is thrown away; the saving in passes still outweighed it here, so at this "
            "size a pass's cost depends more on its being a pass than on the few extra tokens it carries. "
        )
    elif faster:
        text += "most of the draft is kept, and the fewer passes became a saving in time. "
    else:
        text += (
            "most of the draft is kept, yet the time did not fall: at this size a pass's fixed cost is small "
            "next to the extra tokens it carries. "
        )
    if rate < 0.5:
        text += (
            "The draft is the previous chunk shifted by the steps executed since: it pays off when consecutive "
            "chunks agree, as they do for a trained policy on a smooth motion, and not for a model that writes "
            "near-random digits. Equal chunks from both decoders (asserted above) are what this section proves "
            "at this profile; a dependable saving needs a trained model."
        )
    return text


def ablation_reading(summary: dict, full_episodes: int = 64) -> str:
    """The closing reading of an ablation chapter: how each arm trained and what the run can resolve."""
    from .evidence import difference_interval
    from .report import seed_rows

    arms = summary.get("arms", [])
    if not arms:
        return ""
    runs: dict[str, tuple[list, list[str]]] = {}  # one training run can serve several arms (evaluations)
    for arm in arms:
        loss = seed_rows(arm)[0].get("loss") or []
        if len(loss) >= 2:
            runs.setdefault(repr(loss), (loss, []))[1].append(arm["arm"])
    falls = []
    for loss, names in runs.values():
        who = f"*{names[0]}*" if len(names) == 1 else " and ".join(f"*{n}*" for n in names) + " (one training run)"
        falls.append(f"{who} {loss[0][1]:.2f} -> {loss[-1][1]:.2f} (step {loss[-1][0]})")
    n = int(arms[0].get("best", arms[0]).get("n_episodes", 0))
    parts = []
    if falls:
        parts.append("Training loss per arm, first to last logged step: " + "; ".join(falls) + ".")
    if n:
        _, lo, hi = difference_interval((n // 2, n), (n // 2, n))
        _, flo, fhi = difference_interval((full_episodes // 2, full_episodes), (full_episodes // 2, full_episodes))
        parts.append(
            f"With {n} episodes per arm, two arms at 50% success differ by anything from {100 * lo:+.0f} to "
            f"{100 * hi:+.0f} points at 95%, so only a difference larger than that can show; with the blog's "
            f"{full_episodes} episodes (the `full` profile) the same interval is {100 * flo:+.0f} to "
            f"{100 * fhi:+.0f} points."
        )
    parts.append(
        "The rollout strips show what each arm's best checkpoint did in its first evaluation episode: the agent "
        "(blue disc) should reach the T and push it onto the green target. A strip's title gives that one "
        "episode's max coverage; the tables give the mean over all the arm's episodes."
    )
    return " ".join(parts)


def rerun_reading(mine: dict, shipped: dict, profile: str, steps: int) -> str:
    """This run's final errors against the shipped weights' (``{skill: mae}`` each)."""
    if profile == "smoke":
        return (
            f"Every stage ran {steps} steps here, so these errors are those of barely trained weights: the table "
            "shows that the recipe runs and exports, not what it learns. A `cpu` run is the one to compare "
            "with the shipped weights."
        )
    shared = [k for k in mine if k in shipped]
    if not shared:
        return "The shipped weights' provenance has no final metrics to compare with."
    close = [k for k in shared if abs(mine[k] - shipped[k]) <= max(3.0, 0.15 * shipped[k])]
    far = [f"{k} ({mine[k]:.1f} against {shipped[k]:.1f})" for k in shared if k not in close]
    text = f"{len(close)} of {len(shared)} skills end within 15% (or 3 units) of the shipped run's error."
    if far:
        text += (
            " Further apart: " + ", ".join(far) + ". Each is measured on 64 questions, so a few units of"
            " difference are noise; a larger gap on a skill the policy needs (copy, pusht_block, pusht_angle)"
            " means this rerun did not reproduce the shipped weights."
        )
    return text


def reproduction_reading(comparison: dict, budget_min: float) -> str:
    """Whether a from-scratch rerun rebuilt the shipped weights (``comparison.json`` of ``pretrain_rerun.py``).

    Wall time against ``budget_min`` and the shipped run's, the skills within noise, the ones that
    are not (named with their difference), and whether the weights themselves are the same.
    """
    rerun, shipped = comparison["rerun"], comparison["shipped"]
    skills = comparison["skills"]
    same = [k for k, r in skills.items() if r["within_noise"]]
    apart = [f"{k} ({r['difference'][0]:+.1f})" for k, r in skills.items() if not r["within_noise"]]
    minutes = rerun["wall_time_min"]
    text = (
        f"Rerun from scratch with `{rerun['command']}` (commit {rerun['commit'][:7]}): "
        f"{minutes:.0f} min of wall time, "
        + (
            f"within the {budget_min:.0f}-minute budget"
            if minutes <= budget_min
            else f"over the {budget_min:.0f}-minute budget"
        )
        + f" (the shipped run: {shipped['wall_time_min']:.0f} min). "
        f"On {comparison['questions']}, {len(same)} of {len(skills)} skills are within noise of the shipped weights"
    )
    text += "." if not apart else "; not: " + ", ".join(apart) + " (rerun - shipped, world units)."
    w = comparison.get("weights")
    if w and w["identical"] == w["tensors"]:
        text += (
            f" Its weights are the shipped ones bit for bit ({w['tensors']} tensors): with the same seed, CPU and torch"
            " build the run is deterministic, the shipped run's stops and resumes included."
        )
    elif w:
        text += (
            f" Its weights differ from the shipped ones ({w['identical']} of {w['tensors']} tensors identical, largest"
            f" difference {w['max_abs_difference']:.2g})."
        )
    return text


def arm_setting(record: dict) -> str:
    """How a fine-tuning arm (its ``select.json``) differs from the `cpu` profile's policy, in words."""
    parts = ["block pose as state"] if record.get("rung", "").startswith("a") else []
    parts += [] if record["arm"].get("relative_actions", True) else ["absolute targets"]
    parts += ["whole frames"] if "crop_shape" in record["arm"] else []
    return ", ".join(parts) or "pixels, relative targets"


def finetune_reading(select_files: list, weights: dict | None = None) -> str:
    """What fine-tuning the shipped weights into a PushT policy measured (``select.json`` of each arm).

    ``weights``: the shipped preset's ``provenance.json``. An arm records the weights it started
    from (``backbone_weights``: their provenance's commit and block error); when those are not the
    shipped ones the reading says so, and that the shipped weights have not been fine-tuned.
    """
    import json

    rows = []
    for f in select_files:
        r = json.loads(Path(f).read_text())
        last = r["checkpoints"][-1]
        rows.append((r, last))
    if not rows:
        return "No PushT policy has been fine-tuned from these weights yet."
    random = rows[0][0]["random"]["mean_max_coverage"]
    first, end = rows[0][0]["validation_seeds"]

    arms = "; ".join(
        f"{arm_setting(r)}, lr {r['arm']['lr']:g}, {last['step']} steps: {last['mean_max_coverage']:.3f}"
        for r, last in rows
    )
    won = sum(last["mean_max_coverage"] > random for _, last in rows)
    succeeded = sum(last.get("success_rate", 0) > 0 for _, last in rows)
    text = (
        f"Fine-tuned into a PushT policy with the `cpu` profile's data and batch (vision side frozen), mean max "
        f"coverage of the last checkpoint on validation seeds {first}-{end}: {arms}; the random policy scores "
        f"{random:.3f} there. {won} of {len(rows)} arms end above it; {succeeded} succeeded in any episode. "
        "The `cpu` profile and `make demo` start from the random-init `tiny` preset "
        "(`docs/tiny-learning.md`, sixth and seventh rounds, has the runs)."
    )
    started = {json.dumps(r.get("backbone_weights"), sort_keys=True) for r, _ in rows}
    older = [json.loads(w) for w in started if w != "null"]
    if weights and older and all(w["provenance_commit"] != weights.get("commit") for w in older):
        errors = " and ".join(f"{w['pusht_block_mae']:.0f}" for w in older)
        now = weights.get("final_metrics", {}).get("pusht_block", {}).get("mae")
        text += (
            f" These arms started from an earlier run of this recipe (block error {errors}); the weights shipped now"
            + (f" (block error {now:.0f})" if now is not None else "")
            + " have not been fine-tuned into a policy yet."
        )
    return text


def charts_reading(summaries: dict[str, dict], titles: dict[str, str]) -> str:
    """The closing reading of ``blog_tables``' charts: which ablation this run can resolve, if any."""
    from .evidence import difference_interval, successes

    if not summaries:
        return "No ablation has run at this profile yet: run the ablation recipes, then this page again."
    resolved, flat = [], []
    top = None
    for recipe, summary in summaries.items():
        rows = [(a["arm"], a.get("best", a)) for a in summary.get("arms", [])]
        if len(rows) < 2:
            continue
        rows.sort(key=lambda r: r[1]["success_rate"])
        (low_name, low), (high_name, high) = rows[0], rows[-1]
        if top is None or high["success_rate"] > top[2]["success_rate"]:
            top = (titles.get(recipe, recipe), high_name, high)
        _, lo, _ = difference_interval(successes(low), successes(high))
        if lo > 0:
            resolved.append(f"{titles.get(recipe, recipe)} (*{high_name}* over *{low_name}*)")
        elif high["success_rate"] == low["success_rate"]:
            flat.append(titles.get(recipe, recipe))
    text = []
    if top and top[2]["success_rate"] == 0:
        text.append("No arm succeeded in any episode on this page.")
    elif top:
        name, arm, row = top
        text.append(
            f"The highest best-checkpoint success on this page is {100 * row['success_rate']:.1f}% "
            f"({name}, *{arm}*, of {successes(row)[1]} episodes)."
        )
    if resolved:
        text.append(
            "Differences this run resolves (the 95% interval of the difference excludes zero): "
            + "; ".join(resolved)
            + "."
        )
    else:
        text.append(
            "In no ablation does this run separate its best arm from its worst (every 95% interval of the "
            "difference includes zero): the bars show where the arms landed, not which switch matters."
        )
    if flat:
        text.append(f"All arms tie in {', '.join(flat)}.")
    return " ".join(text)


def masking_draw_reading(n_values: int, max_fraction: float, skip: float, observed_none: float) -> str:
    """Why whole-action masking leaves many samples unmasked (the authors' draw: ``int(n * f)`` values)."""
    m = n_values * max_fraction  # int(n f) for f uniform in [0, max_fraction] is floor(U m), U uniform in [0, 1]
    whole = int(m)
    mean_floor = (sum(range(whole)) + whole * (m - whole)) / m if m else 0.0
    expected_none = 100 * (skip + (1 - skip) * min(1.0, 1 / m if m else 1.0))
    return (
        f"Whole-action masking hides int({n_values} f) of the chunk's {n_values} integers, with f drawn up to "
        f"{max_fraction:g}: any f below {1 / n_values:.3g} hides none, and {100 * skip:.0f}% of samples are skipped "
        f"first, so {expected_none:.0f}% of samples should mask nothing (measured: {observed_none:.0f}%). A sample "
        f"hides {(1 - skip) * mean_floor:.2f} integers on average, at most {math.ceil(m) - 1 if m else 0}. It is a "
        "light augmentation, as in the authors' code; character masking, drawn per token, leaves few samples "
        "untouched beyond the skipped ones."
    )
