"""The VLA-0 prompt on SmolVLM's chat template, as token ids, with its loss mask.

One training sample is rendered by the processor's own chat template::

    [system turn (optional, for the ablation)]
    User:<image>...<image>Task: {task}, State: {state ints}, Actions:<end_of_utterance>
    Assistant: {action ints}<end_of_utterance>

``prompt_format="vla0"`` writes the prompt as the authors' LeRobot ``vla0`` code does, for
checkpoints converted from it: the task lower-cased, stripped, underscores as spaces, and
``"Actions: "`` with a trailing space. (They generate the space after ``Assistant:``; it is the
last prompt token here, the same token sequence.)

The template is rendered once with sentinel strings in place of the state and the actions;
splitting the rendered text on them gives the fixed pieces around the numbers and the
assistant turn's closing token. Only those pieces go through the tokenizer (once per task
string, cached); numbers come from :class:`~vla0_smol.tokens.BinTokenTable`. Labels carry loss
on the action tokens and on the end-of-turn token, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from .tokens import BinTokenTable

IGNORE_INDEX = -100
_STATE = "<<VLA0_STATE>>"
_ACTIONS = "<<VLA0_ACTIONS>>"
PROMPT_FORMATS = ("vla0_smol", "vla0")

DEFAULT_SYSTEM_PROMPT = (
    "Analyze the input image and predict robot actions for the next {horizon} timesteps. "
    "Each action has {dim} dimensions. Output a single sequence of {count} integers "
    "(0-{max_bin} each), representing the {horizon} timesteps sequentially. "
    "Provide only space separated numbers. Nothing else."
)


@dataclass
class Sample:
    """Token ids of one prompt.

    Attributes:
        input_ids: ``(L,)`` prompt (and, in training, the action text and end-of-turn token).
        labels: ``(L,)`` target ids on the action tokens and end-of-turn token, else -100.
        prompt_len: number of leading tokens that form the generation prompt.
    """

    input_ids: torch.Tensor
    labels: torch.Tensor
    prompt_len: int


class PromptBuilder:
    """Builds VLA-0 prompts for one processor, camera count and prompt style.

    Args:
        processor: a ``SmolVLMProcessor`` (``AutoProcessor.from_pretrained``).
        table: digit lookup for the processor's tokenizer.
        num_images: cameras per prompt.
        use_state: put the discretised state in the prompt.
        system_prompt: text of an optional system turn; ``{horizon}``, ``{dim}``, ``{count}``
            and ``{max_bin}`` are filled in from ``horizon`` and ``action_dim``.
        horizon: action chunk length H.
        action_dim: action dimension D.
        prompt_format: ``"vla0_smol"`` (this project's) or ``"vla0"`` (the authors' LeRobot code).
    """

    def __init__(
        self,
        processor,
        table: BinTokenTable,
        *,
        num_images: int,
        use_state: bool,
        system_prompt: str | None,
        horizon: int,
        action_dim: int,
        prompt_format: str = "vla0_smol",
    ):
        if prompt_format not in PROMPT_FORMATS:
            raise ValueError(f"prompt_format must be one of {PROMPT_FORMATS}, got {prompt_format!r}")
        self.prompt_format = prompt_format
        self.processor, self.tokenizer, self.table = processor, processor.tokenizer, table
        self.num_images, self.use_state = num_images, use_state
        if system_prompt:
            system_prompt = system_prompt.format(
                horizon=horizon, dim=action_dim, count=horizon * action_dim, max_bin=table.num_bins - 1
            )
        self.system_prompt = system_prompt
        self._segments = lru_cache(maxsize=4096)(self._render_segments)
        # the assistant turn ends with the template's end-of-turn token (whatever its id)
        _, _, suffix = self._render_text("")
        suffix_ids = self.tokenizer.encode(suffix, add_special_tokens=False)
        if not suffix_ids or suffix_ids[0] not in self.tokenizer.all_special_ids:
            raise ValueError(f"chat template's assistant turn does not end with a special token: {suffix!r}")
        self.eot_id = suffix_ids[0]

    def _render_text(self, task: str) -> tuple[str, str, str]:
        """Render the template; return (text before the numbers, text between, suffix)."""
        actions = "Actions:"
        if self.prompt_format == "vla0":
            task, actions = task.lower().strip().replace("_", " "), "Actions: "
        user_text = f"Task: {task}, State: {_STATE}, {actions}" if self.use_state else f"Task: {task}, {actions}"
        messages = []
        if self.system_prompt:
            messages.append({"role": "system", "content": [{"type": "text", "text": self.system_prompt}]})
        content = [{"type": "image"} for _ in range(self.num_images)] + [{"type": "text", "text": user_text}]
        messages.append({"role": "user", "content": content})
        messages.append({"role": "assistant", "content": [{"type": "text", "text": _ACTIONS}]})
        text = self.tokenizer.apply_chat_template(messages, chat_template=self.processor.chat_template, tokenize=False)
        if text.count(_ACTIONS) != 1:
            raise ValueError("the chat template must render the assistant content exactly once")
        head, suffix = text.split(_ACTIONS)
        if self.use_state:
            before, between = head.split(_STATE)
        else:
            before, between = head, ""
        if self.num_images:
            zeros = [[0] * self.num_images]
            before = self.processor.expand_text_with_image_tokens([before], zeros, zeros)[0]
        return before, between, suffix

    def _render_segments(self, task: str) -> tuple[torch.Tensor, torch.Tensor]:
        before, between, _ = self._render_text(task)
        a = torch.tensor(self.tokenizer.encode(before, add_special_tokens=True), dtype=torch.long)
        b = torch.tensor(self.tokenizer.encode(between, add_special_tokens=False), dtype=torch.long)
        return a, b

    def prompt_text(self, task: str, state_bins: np.ndarray | None, action_bins: np.ndarray | None = None) -> str:
        """The full prompt as text (for display and for checking the token path)."""
        before, between, suffix = self._render_text(task)
        state = " ".join(map(str, np.asarray(state_bins).reshape(-1))) if self.use_state else ""
        actions = "" if action_bins is None else " ".join(map(str, np.asarray(action_bins).reshape(-1)))
        return before + state + between + actions + (suffix if action_bins is not None else "")

    def build(
        self,
        task: str,
        state_bins: np.ndarray | None = None,
        action_ids: torch.Tensor | None = None,
        action_labels: torch.Tensor | None = None,
    ) -> Sample:
        """Token ids of one prompt.

        Args:
            task: the language instruction (must be non-empty).
            state_bins: ``(S,)`` state bins; required when ``use_state``.
            action_ids: ``(T,)`` action token ids (after masking, if any); None at inference.
            action_labels: ``(T,)`` labels for ``action_ids``; defaults to ``action_ids``.
        """
        if not task or not task.strip():
            raise ValueError("task is empty: every VLA-0 prompt needs a task string")
        before, between = self._segments(task)
        parts = [before]
        if self.use_state:
            if state_bins is None:
                raise ValueError("state_bins is required when use_state=True")
            parts += [self.table.encode(state_bins).ids, between]
        prompt = torch.cat(parts)
        if action_ids is None:
            return Sample(prompt, torch.full_like(prompt, IGNORE_INDEX), prompt.numel())
        labels = action_ids if action_labels is None else action_labels
        eot = torch.tensor([self.eot_id])
        ids = torch.cat([prompt, action_ids, eot])
        lab = torch.cat([torch.full_like(prompt, IGNORE_INDEX), labels, eot])
        return Sample(ids, lab, prompt.numel())


def collate(samples: list[Sample], pad_id: int, side: str = "right") -> dict[str, torch.Tensor]:
    """Pad samples to one batch: ``input_ids``, ``attention_mask``, ``labels``, ``(B, L)``.

    Use ``side="right"`` for training and ``side="left"`` for generation.
    """
    length = max(s.input_ids.numel() for s in samples)
    b = len(samples)
    ids = torch.full((b, length), pad_id, dtype=torch.long)
    labels = torch.full((b, length), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((b, length), dtype=torch.long)
    for i, s in enumerate(samples):
        n = s.input_ids.numel()
        sl = slice(0, n) if side == "right" else slice(length - n, length)
        ids[i, sl], labels[i, sl], mask[i, sl] = s.input_ids, s.labels, 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}
