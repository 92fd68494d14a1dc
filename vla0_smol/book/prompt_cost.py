"""What the system prompt costs: its text, and the tokens of one sample with and without it.

VLA-0 opens its prompt with a system turn that describes the output format
(:data:`~vla0_smol.prompt.DEFAULT_SYSTEM_PROMPT`, filled in by
:class:`~vla0_smol.prompt.PromptBuilder` with the chunk size, the action dimension and the bin
count). It is the same text in every training sample and in every prompt the policy prefills
before decoding a chunk, so its cost is a fixed number of tokens, counted here with the tokenizer
of the backbone that runs (a count depends on the tokenizer: the embedded tiny preset's small
vocabulary spells most words in several pieces).

* :func:`token_roles`: one built sample's tokens counted by role (image, template and task,
  state, actions, system turn).
* :func:`system_prompt_cost`: the same sample built with and without the system turn, and the
  system turn's own text and tokens; :func:`pusht_prompt_cost`: on a PushT profile's data.
* :func:`cost_sentence`, :func:`plot_prompt_cost`: one sentence and a stacked bar chart.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..prompt import DEFAULT_SYSTEM_PROMPT, IGNORE_INDEX, PromptBuilder
from ..tokens import ActionTokenizer, BinTokenTable

ROLES = ("system turn", "image", "template and task", "state", "actions + end of turn")


def image_token_ids(processor) -> set[int]:
    """Ids of every token the processor writes for an image (placeholders, borders, tile tags)."""
    zeros = [[0]]
    text = processor.expand_text_with_image_tokens([processor.image_token], zeros, zeros)[0]
    return set(processor.tokenizer.encode(text, add_special_tokens=False))


def token_roles(builder: PromptBuilder, task: str, state_bins, action_bins, system_tokens: int = 0) -> dict:
    """Tokens of one training sample by role (:data:`ROLES`) plus ``total`` and ``prompt``.

    Args:
        builder: the prompt builder (its processor, state and system-turn settings).
        task: the instruction.
        state_bins: ``(S,)`` state bins (ignored without state).
        action_bins: ``(H, D)`` action bins.
        system_tokens: tokens of the system turn in this builder's prompt (0 without one).
    """
    action_ids = builder.table.encode(action_bins).ids
    sample = builder.build(task, state_bins if builder.use_state else None, action_ids)
    images = image_token_ids(builder.processor)
    n_image = sum(int(t) in images for t in sample.input_ids[: sample.prompt_len].tolist())
    n_state = builder.table.encode(state_bins).ids.numel() if builder.use_state else 0
    n_loss = int((sample.labels != IGNORE_INDEX).sum())  # the action tokens and the end of turn
    total = sample.input_ids.numel()
    return {
        "system turn": system_tokens,
        "image": n_image,
        "template and task": sample.prompt_len - n_image - n_state - system_tokens,
        "state": n_state,
        "actions + end of turn": n_loss,
        "total": total,
        "prompt": sample.prompt_len,
    }


def _system_turn(with_text: str, without_text: str) -> str:
    """The text the system turn adds to a rendered prompt (``with = head + turn + rest``)."""
    head = os.path.commonprefix([with_text, without_text])
    rest = without_text[len(head) :]
    if not with_text.endswith(rest):
        raise ValueError("the system turn is not one contiguous piece of the rendered prompt")
    return with_text[len(head) : len(with_text) - len(rest)]


def system_prompt_cost(
    processor,
    num_bins: int,
    *,
    task: str,
    state_bins,
    action_bins,
    use_state: bool,
    num_images: int = 1,
    system_prompt: str = DEFAULT_SYSTEM_PROMPT,
) -> dict:
    """One sample's tokens with and without the system turn.

    Args:
        processor: the backbone's processor (its tokenizer and chat template are what count).
        num_bins: bins per dimension (fills ``{max_bin}`` of the system prompt).
        task: the instruction.
        state_bins: ``(S,)`` state bins.
        action_bins: ``(H, D)`` action bins; H and D fill the system prompt.
        use_state: state tokens in the prompt.
        num_images: cameras.
        system_prompt: the template of the system text.

    Returns:
        ``text`` (the system prompt as the policy fills it in), ``turn`` (what the chat template
        adds for it), ``text_tokens`` and ``turn_tokens`` (their token counts), ``without`` and
        ``with`` (:func:`token_roles` of the sample), ``vocabulary`` (the tokenizer's size).
    """
    table = BinTokenTable(processor.tokenizer, num_bins)
    horizon, dim = np.asarray(action_bins).shape
    kw = {"num_images": num_images, "use_state": use_state, "horizon": horizon, "action_dim": dim}
    plain = PromptBuilder(processor, table, system_prompt=None, **kw)
    system = PromptBuilder(processor, table, system_prompt=system_prompt, **kw)
    turn = _system_turn(system.prompt_text(task, state_bins), plain.prompt_text(task, state_bins))
    tok = processor.tokenizer
    turn_tokens = len(tok.encode(turn, add_special_tokens=False))
    return {
        "text": system.system_prompt,
        "turn": turn,
        "text_tokens": len(tok.encode(system.system_prompt, add_special_tokens=False)),
        "turn_tokens": turn_tokens,
        "without": token_roles(plain, task, state_bins, action_bins),
        "with": token_roles(system, task, state_bins, action_bins, system_tokens=turn_tokens),
        "vocabulary": len(tok),
    }


def pusht_prompt_cost(profile: str, data_dir: Path, seed: int = 0, index: int = 0, **policy_fields) -> dict:
    """:func:`system_prompt_cost` of frame ``index`` of a PushT profile's demonstrations.

    The frame's state and its chunk of ``chunk_size`` actions (relative to the state when the
    settings say so) are binned over the dataset's ranges as the policy bins them, with the
    profile's backbone and ``policy_fields`` (e.g. an ablation arm's settings) on top of the
    profile's. The result also names the ``backbone`` and the frame.
    """
    from ..backbone import load_processor
    from ..pusht.pipeline import pusht_config
    from ..pusht.profiles import pusht_profile
    from .resolution import action_resolution, pusht_columns

    config = pusht_config(**{**pusht_profile(profile).policy, **policy_fields})
    cols = pusht_columns(profile, data_dir, seed)
    actions, states, episodes = cols["action"], cols["observation.state"], cols["episode_index"]
    h = config.chunk_size
    frames = np.flatnonzero(episodes == episodes[index])
    chunk = actions[np.minimum(np.arange(index, index + h), frames[-1])]  # (H, D), the last action repeated
    reps = action_resolution(actions, states, episodes, h, config.num_bins, config.relative_index())
    if config.relative_actions:
        rel = np.asarray(config.relative_index())
        offset = np.where(rel >= 0, states[index][np.clip(rel, 0, None)], 0.0)  # (D,) 0 where absolute
        action_bins = reps["relative"].tokenizer.to_bins(chunk, offset)
    else:
        action_bins = reps["absolute"].tokenizer.to_bins(chunk)
    state_bins = ActionTokenizer.from_range(states.min(0), states.max(0), config.num_bins).to_bins(states[index])
    cost = system_prompt_cost(
        load_processor(config.vlm_model_name),
        config.num_bins,
        task=config.default_task,
        state_bins=state_bins,
        action_bins=action_bins,
        use_state=config.use_state,
        num_images=len(config.image_keys),
    )
    return {**cost, "backbone": config.vlm_model_name, "frame": int(index)}


def cost_sentence(cost: dict, backbone: str | None = None) -> str:
    """One sentence: what the system turn adds to a training sample and to every decode's prompt."""
    backbone = backbone or cost.get("backbone", "the backbone")
    a, b = cost["without"], cost["with"]
    extra = b["total"] - a["total"]
    return (
        f"With the tokenizer of the backbone '{backbone}' (a vocabulary of {cost['vocabulary']:,} tokens), "
        f"the system turn adds {extra} tokens "
        f"({cost['text_tokens']} for its text, the rest for the chat template's turn markers) to every sample: "
        f"{b['total']} instead of {a['total']} tokens per training sample (+{100 * extra / a['total']:.0f}%), "
        f"and {b['prompt']} instead of {a['prompt']} prompt tokens prefilled before every chunk is decoded."
    )


def plot_prompt_cost(cost: dict, path: Path, title: str = "") -> Path:
    """Two stacked horizontal bars (without / with the system turn), one segment per role."""
    from matplotlib.figure import Figure

    from .report import _save

    fig = Figure(figsize=(10, 2.8))
    ax = fig.subplots()
    rows = [("no system prompt", cost["without"]), ("system prompt", cost["with"])]
    colors = {"system turn": "C3", "image": "C0", "template and task": "0.7", "state": "C1",
              "actions + end of turn": "C2"}  # fmt: skip
    for y, (_, counts) in enumerate(rows):
        left = 0
        for role in ROLES:
            n = counts[role]
            if not n:
                continue
            ax.barh(y, n, left=left, color=colors[role], edgecolor="white", label=role if y == 1 else None)
            ax.text(left + n / 2, y, str(n), ha="center", va="center", fontsize=8)
            left += n
        ax.text(left + 3, y, f"{counts['total']} tokens (prompt {counts['prompt']})", va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [name for name, _ in rows])
    ax.invert_yaxis()  # "no system prompt" on top
    ax.set_xlim(0, cost["with"]["total"] * 1.3)
    ax.set_xlabel("tokens in one training sample")
    ax.legend(fontsize=7, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.3))
    ax.set_title(title or "tokens of one training sample, by role", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
