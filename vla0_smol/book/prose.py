"""What a chapter's outputs say, as sentences and small tables computed from the run.

The numbers of a chapter change with the profile (a few training steps at ``smoke``, hours at
``full``), so its reading cannot be typed once: each function here takes what the chapter measured
and says what it shows, what was expected and, where they differ, why. Chapters display the
result right after the output it reads.
"""

from __future__ import annotations

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


def completion_reading(accuracy: dict, choices: int) -> str:
    """What the masked-completion accuracies say against chance (``1 / choices``) and each other."""
    m, u = accuracy["masked"]["accuracy"], accuracy["unmasked"]["accuracy"]
    chance = 1 / choices
    expected = (
        "A policy that has learnt the actions completes a hidden character well above chance (the image, "
        "the state and the characters around the mask say what it hid), and somewhat less often than an "
        "unmasked one, whose own earlier characters are all visible."
    )
    if max(m, u) < 3 * chance:
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
    if rate < 0.5:
        text += (
            "most of that extra work is thrown away, so the saving in passes does not become a saving in time. "
            "The draft is the previous chunk shifted by the steps executed since: it pays off when consecutive "
            "chunks agree, as they do for a trained policy on a smooth motion, and not for a model that writes "
            "near-random digits. Equal chunks from both decoders (asserted above) are what this section proves "
            "at this profile; the time saving needs a trained model."
        )
    else:
        text += "most of the draft is kept, and the fewer passes become a saving in time."
    return text


def ablation_reading(summary: dict, full_episodes: int = 64) -> str:
    """The closing reading of an ablation chapter: how each arm trained and what the run can resolve."""
    from .evidence import difference_interval
    from .report import seed_rows

    arms = summary.get("arms", [])
    if not arms:
        return ""
    falls = []
    for arm in arms:
        loss = seed_rows(arm)[0].get("loss") or []
        if len(loss) >= 2:
            falls.append(f"*{arm['arm']}* {loss[0][1]:.2f} -> {loss[-1][1]:.2f} (step {loss[-1][0]})")
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
        "(blue disc) should reach the T and push it onto the green target."
    )
    return " ".join(parts)
