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
        f"{policy.get('masking', 'no')} masking"
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
            f"*{name}*: the first {tried - 1} draw(s) masked nothing (a fraction drawn up to the maximum, "
            f"times {total} values, rounds down to 0), so the example shows draw {tried}: {hidden} of "
            f"{total} tokens hidden."
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
        "largest one in the demonstrations. The environment drives the agent towards such a target until "
        "it meets the wall. A trained policy writes offsets near those of the demonstrations; a policy "
        "that writes the same low bin everywhere has learnt no more than the token's frequency."
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
