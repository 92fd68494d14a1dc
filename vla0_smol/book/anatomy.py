"""Inside a trained policy: what it reads, what it writes, where it looks, what decoding costs.

The chapter ``inside_the_policy`` opens a PushT checkpoint with these functions:

* :func:`read_observation`: one environment frame as the VLM receives it (crop, resize,
  normalise) with the prompt's token ids and text; :func:`collapse_image_tokens` shortens the text.
* :func:`decode_steps`: greedy, grammar-constrained decoding one token at a time, keeping at each
  step the chosen token's probability, the grammar's allowed set and the best allowed alternatives
  (the same tokens as :func:`~vla0_smol.decoding.decode`, which the chapter asserts).
* :func:`path_pixels`: a chunk of PushT actions (agent targets in the 512 px world) in the pixel
  coordinates of the 96 px frame, or of the policy's cropped and resized view.
* :func:`action_attention`: attention of the positions that choose the action tokens over the
  prompt, per layer and averaged over heads (eager attention for that one forward pass).
* :class:`DraftTracer`: one episode with the fast decoder, each chunk also decoded with
  ``generate()`` on the same inputs: draft tokens proposed, accepted and rejected per call, and
  both decoders' forward passes.
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

PUSHT_WORLD = 512.0  # PushT's workspace side: agent positions and actions are in these units


@dataclass
class PolicyInput:
    """One observation as the policy's VLM receives it.

    Attributes:
        batch: the observation after LeRobot's preprocessor (what ``select_action`` gets).
        pixels: ``(1, N, 3, S, S)`` normalised pixels (crop, resize: ``policy._images``).
        input_ids: ``(1, L)`` the prompt's token ids.
        text: the prompt as text (image placeholders expanded, as tokenised).
        agent_pos: ``(2,)`` the agent's position in world units.
    """

    batch: dict
    pixels: Tensor
    input_ids: Tensor
    text: str
    agent_pos: np.ndarray

    def image(self, policy, index: int = 0) -> np.ndarray:
        """``(S, S, 3)`` camera ``index`` as the vision encoder sees it, back in [0, 1]."""
        x = self.pixels[0, index] * policy.image_std[0, 0] + policy.image_mean[0, 0]  # (3, S, S)
        return x.clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def read_observation(controller, obs: dict) -> PolicyInput:
    """``obs`` of one PushT environment (``pixels`` (96, 96, 3), ``agent_pos`` (2,)) as the policy reads it."""
    from lerobot.envs.utils import preprocess_observation

    policy = controller.policy
    batch = preprocess_observation({"pixels": obs["pixels"][None], "agent_pos": obs["agent_pos"][None]})
    batch["task"] = [controller.task]
    if controller.pre is not None:
        batch = controller.pre(batch)
    state_bins = policy._state_bins(batch)
    state = None if state_bins is None else state_bins[0]
    task = policy._tasks(batch, 1)[0]
    sample = policy.prompts.build(task, state)
    return PolicyInput(
        batch=batch,
        pixels=policy._images(batch),
        input_ids=sample.input_ids[None].to(policy.action_min.device),
        text=policy.prompts.prompt_text(task, state),
        agent_pos=np.asarray(obs["agent_pos"], dtype=np.float64),
    )


def collapse_image_tokens(text: str, image_token: str = "<image>") -> str:
    """Each run of image placeholders as one ``[n x <image>]``."""
    pattern = f"(?:{re.escape(image_token)})+"
    return re.sub(pattern, lambda m: f"[{len(m.group()) // len(image_token)} x {image_token}]", text)


@dataclass
class TokenStep:
    """One decoded token.

    Attributes:
        token: its id; ``text``: its text ("<eot>" for the end-of-turn token).
        prob: the model's probability of it (softmax over the whole vocabulary).
        allowed: how many tokens the grammar allowed at this step (1: forced).
        allowed_mass: the model's probability of the allowed set (<= 1).
        alternatives: the next best allowed tokens, ``(text, prob)``, best first.
        integer: index of the integer it writes (a lone separator counts with the integer before
            it); -1 for the end-of-turn token.
    """

    token: int
    text: str
    prob: float
    allowed: int
    allowed_mass: float
    alternatives: list[tuple[str, float]]
    integer: int


@torch.no_grad()
def decode_steps(policy, inputs: PolicyInput, top: int = 3) -> list[TokenStep]:
    """Greedy decoding under the grammar, one forward pass per token, keeping what each step saw.

    The end-of-turn token is the last step. ``[s.token for s in steps[:-1]]`` equals the tokens of
    ``decode(..., method="hf")``: the highest-logit allowed token at every step.
    """
    grammar, vlm, tokenizer = policy.grammar, policy.vlm, policy.processor.tokenizer

    def text(token: int) -> str:
        return "<eot>" if token == grammar.eot_id else tokenizer.decode([token])

    matcher, bitmask = grammar.matcher(), grammar.allocate_bitmask(1)
    ids, mask = inputs.input_ids, torch.ones_like(inputs.input_ids)
    out = vlm(input_ids=ids, attention_mask=mask, pixel_values=inputs.pixels, use_cache=True)
    steps, integer = [], 0
    while True:
        logits = out.logits[0, -1].float()  # (V,)
        matcher.fill_next_token_bitmask(bitmask, 0)
        bits = np.unpackbits(bitmask[0].numpy().view(np.uint8), bitorder="little")[: logits.shape[0]]
        allowed = torch.from_numpy(bits.astype(bool)).to(logits.device)  # (V,)
        probs = logits.softmax(-1)
        n_allowed = int(allowed.sum())
        ranked = torch.argsort(logits.masked_fill(~allowed, float("-inf")), descending=True)[: min(top + 1, n_allowed)]
        token = int(ranked[0])
        steps.append(
            TokenStep(
                token=token,
                text=text(token),
                prob=float(probs[token]),
                allowed=n_allowed,
                allowed_mass=float(probs[allowed].sum()),
                alternatives=[(text(int(t)), float(probs[t])) for t in ranked[1:]],
                integer=-1 if token == grammar.eot_id else integer + _leading_spaces(text(token)),
            )
        )
        if not matcher.accept_token(token):
            raise RuntimeError(f"grammar rejected its own greedy token {token} ({text(token)!r})")
        if token == grammar.eot_id:
            return steps
        integer += text(token).count(" ")  # a separator closes the integer it follows
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        step_ids = torch.tensor([[token]], device=ids.device)
        out = vlm(input_ids=step_ids, attention_mask=mask, past_key_values=out.past_key_values, use_cache=True)


def _leading_spaces(text: str) -> int:
    """Separators before a token's first digit (a token " 7" writes the next integer); 0 if no digit."""
    stripped = text.lstrip(" ")
    return len(text) - len(stripped) if stripped and stripped[0].isdigit() else 0


def path_pixels(agent_pos, chunk, frame=96, crop=None, size=None, world=PUSHT_WORLD) -> np.ndarray:
    """``(H + 1, 2)`` the agent, then each target of ``chunk`` ``(H, 2)``, as (x, y) pixel coordinates.

    gym-pusht draws its 512 x 512 world (x right, y down) and resizes it to ``frame`` pixels, so a
    world point lands at ``frame / world`` times its coordinates, in units where pixel ``i`` spans
    ``[i, i + 1)``. With ``crop`` (the policy's centre crop, ``(h, w)``) and ``size`` (its resize)
    the coordinates are those of the policy's view. The result is in matplotlib's ``imshow``
    convention (pixel ``i`` centred on ``i``).
    """
    points = np.concatenate([np.asarray(agent_pos, float)[None, :2], np.asarray(chunk, float)[:, :2]])
    xy = points * frame / world
    if crop is not None:
        ch, cw = crop
        xy = xy - [(frame - cw) // 2, (frame - ch) // 2]
        if size is not None:
            xy = xy * [size / cw, size / ch]
    return xy - 0.5


@dataclass
class ActionAttention:
    """Attention of the positions that choose the action tokens, averaged over heads.

    Attributes:
        weights: ``(layers, Q, K)``; row ``q`` is the attention of the position whose output is
            action token ``q`` (the last prompt token for the first one) over the ``K`` positions
            before it. Each row sums to 1 over the keys.
        image_positions: ``(N * n,)`` key positions of the image tokens, camera by camera.
        num_images: cameras in the prompt.
    """

    weights: np.ndarray
    image_positions: np.ndarray
    num_images: int

    @property
    def grid(self) -> int:
        """Side of one camera's square grid of image tokens (the connector's pixel shuffle)."""
        return int(round((len(self.image_positions) // self.num_images) ** 0.5))

    def image_share(self) -> np.ndarray:
        """``(layers,)`` mean share of the action tokens' attention that goes to image tokens."""
        return self.weights[:, :, self.image_positions].sum(-1).mean(-1)

    def uniform_share(self) -> float:
        """The image's share if every query attended uniformly to the keys it can see."""
        q = self.weights.shape[1]
        first = self.weights.shape[2] - q  # position of the first query
        visible = np.arange(first + 1, first + q + 1)  # causal: query at position p sees p + 1 keys
        return float(np.mean(len(self.image_positions) / visible))

    def image_map(self, image: int = 0) -> np.ndarray:
        """``(g, g)`` camera ``image``'s share of the attention per token, over layers and queries.

        Token ``k`` of a camera covers block ``(k // g, k % g)`` of its patch grid, row-major.
        """
        n = len(self.image_positions) // self.num_images
        cols = self.image_positions[image * n : (image + 1) * n]
        return self.weights[:, :, cols].mean((0, 1)).reshape(self.grid, self.grid)


@contextmanager
def eager_text_attention(vlm):
    """The language model with eager attention (sdpa returns no weights), restored on exit."""
    before = vlm.config.text_config._attn_implementation
    vlm.set_attn_implementation({"text_config": "eager"})
    try:
        yield vlm
    finally:
        vlm.set_attn_implementation({"text_config": before})


@torch.no_grad()
def action_attention(policy, inputs: PolicyInput, tokens: list[int]) -> ActionAttention:
    """One forward pass over the prompt and the decoded ``tokens`` with the attention weights kept."""
    ids = torch.cat([inputs.input_ids, torch.tensor([tokens], device=inputs.input_ids.device)], dim=1)  # (1, L + T)
    with eager_text_attention(policy.vlm) as vlm:
        out = vlm(
            input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=inputs.pixels, output_attentions=True
        )
    prompt_len = inputs.input_ids.shape[1]
    queries = slice(prompt_len - 1, prompt_len - 1 + len(tokens))
    keys = prompt_len - 1 + len(tokens)  # a query never sees a later key (causal)
    weights = torch.stack([a[0, :, queries, :keys].double().mean(0) for a in out.attentions])  # (layers, Q, K)
    image = torch.nonzero(inputs.input_ids[0] == policy.vlm.config.image_token_id).flatten()
    return ActionAttention(weights.cpu().numpy(), image.cpu().numpy(), inputs.pixels.shape[1])


@dataclass
class DecodeCall:
    """One chunk of an episode, decoded by both decoders on the same inputs.

    ``proposed = accepted + rejected`` draft tokens; the fast decoder's output tokens are
    ``accepted + forced + fast_passes`` (each pass decides one token after its accepted draft).
    """

    step: int  # control step of the decode
    tokens: int  # output tokens, end-of-turn included
    proposed: int
    accepted: int
    rejected: int
    forced: int  # appended by jump-forward (the grammar allowed one token)
    fast_passes: int
    hf_passes: int
    fast_seconds: float
    hf_seconds: float
    same: bool  # both decoders gave the same chunk


@dataclass
class DraftTracer:
    """A PushT controller (wrapping a ``PolicyController``) that records every decode of one episode.

    Each chunk is decoded with ``decoder="fast"`` (the previous chunk, shifted, as a free draft)
    and then with ``decoder="hf"`` on the same batch; the fast chunk is executed.
    """

    controller: object
    calls: list[DecodeCall] = field(default_factory=list)
    step: int = 0

    def reset(self, env_ids):
        self.controller.reset(env_ids)

    def act(self, obs, infos):
        policy = self.controller.policy
        predict = policy.predict_action_chunk

        def both(batch, **kw):
            fast = predict(batch, **{**kw, "decoder": "fast"})
            f = policy.last_decode
            hf = predict(batch, **{**kw, "decoder": "hf"})  # sets the same memory when equal
            h = policy.last_decode
            call = DecodeCall(
                step=self.step,
                tokens=sum(f.tokens),
                proposed=f.draft_proposed,
                accepted=f.draft_accepted,
                rejected=f.draft_proposed - f.draft_accepted,
                forced=f.forced,
                fast_passes=f.forward_passes,
                hf_passes=h.forward_passes,
                fast_seconds=f.seconds,
                hf_seconds=h.seconds,
                same=bool(torch.equal(fast, hf)),
            )
            self.calls.append(call)
            return fast

        policy.predict_action_chunk = both
        try:
            return self.controller.act(obs, infos)
        finally:
            del policy.predict_action_chunk
            self.step += 1


def trace_episode(controller, seed: int, max_steps: int):
    """One episode (seed ``seed``) traced by :class:`DraftTracer`: ``(calls, EvalResult)``."""
    from ..pusht.evaluation import evaluate_pusht

    tracer = DraftTracer(controller)
    t0 = time.perf_counter()
    result = evaluate_pusht(tracer, n_episodes=1, seed=seed, batch_size=1, max_steps=max_steps, progress=False)
    result.extra["traced_s"] = time.perf_counter() - t0
    return tracer.calls, result


def draft_totals(calls: list[DecodeCall]) -> dict:
    """Sums over an episode's decode calls, the acceptance rate and passes per chunk."""
    keys = ("tokens", "proposed", "accepted", "rejected", "forced")
    keys += ("fast_passes", "hf_passes", "fast_seconds", "hf_seconds")
    total = {k: sum(getattr(c, k) for c in calls) for k in keys}
    total["decode_calls"] = len(calls)
    total["acceptance_rate"] = total["accepted"] / total["proposed"] if total["proposed"] else float("nan")
    total["all_same"] = all(c.same for c in calls)
    return total


def image_token_cells(policy) -> np.ndarray:
    """``(n, 2)`` the (row, column) of the block of vision patches each image token of a camera holds.

    Computed by the connector's own pixel shuffle on patch indices, so it says what the model does:
    :meth:`ActionAttention.image_map` draws token ``k`` at ``(k // g, k % g)``.
    """
    vision, connector = policy.vlm.config.vision_config, policy.vlm.model.connector
    side, scale = vision.image_size // vision.patch_size, connector.scale_factor  # patches per row, block side
    index = torch.arange(side * side, dtype=torch.float32).view(1, side * side, 1)  # (1, P, 1) row-major patches
    held = connector.pixel_shuffle(index, scale)[0].long().numpy()  # (n, scale * scale) patch indices per token
    cells = np.stack([held // side // scale, held % side // scale], axis=-1)  # (n, scale * scale, 2)
    if (cells != cells[:, :1]).any():
        raise ValueError("an image token holds patches of more than one block")
    return cells[:, 0]


def prompt_summary(policy, inputs: PolicyInput) -> dict:
    """Token counts of the prompt: all, image placeholders, the rest."""
    ids = inputs.input_ids[0]
    image = int((ids == policy.vlm.config.image_token_id).sum())
    return {"tokens": int(ids.numel()), "image_tokens": image, "text_tokens": int(ids.numel()) - image}


def decode_reference(policy, inputs: PolicyInput) -> list[int]:
    """The library's ``generate()`` decoding of the same prompt (what :func:`decode_steps` must equal)."""
    from ..decoding import decode

    mask = torch.ones_like(inputs.input_ids)
    tokens, _ = decode(policy.vlm, policy.grammar, inputs.input_ids, mask, inputs.pixels, method="hf")
    return tokens[0]
