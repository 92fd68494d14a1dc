"""The VLA-0-Smol policy: SmolVLM that reads an observation and writes its actions as text.

Training (``forward``): raw state and action chunk -> relative actions in raw units (optional)
-> per-dimension min/max bins (:class:`~vla0_smol.tokens.ActionTokenizer`) -> prompt token ids
(:class:`~vla0_smol.prompt.PromptBuilder`) -> masking -> SmolVLM -> cross-entropy on the action
tokens, with logits computed only where there is a label and upcast to float32 (the blog's fix
for mixed-precision loss).

Inference (``select_action``): prompt -> grammar-constrained greedy decoding
(:mod:`~vla0_smol.decoding`) -> bins -> raw absolute actions -> chunk queue or temporal ensemble.
Actions leave the policy in raw units, so ensembling and queues never mix a relative action with
the state of another step.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from lerobot.configs import FeatureType
from lerobot.policies.pretrained import PreTrainedPolicy
from lerobot.utils.constants import ACTION, OBS_STATE
from lerobot.utils.feature_utils import dataset_to_policy_features
from torch import Tensor

from .backbone import is_vision, load_processor, load_vlm
from .configuration_vla0_smol import VLA0SmolConfig
from .decoding import DecodeStats, decode
from .ensemble import ChunkQueue, TemporalEnsembler
from .grammar import ActionGrammar
from .masking import MaskingConfig, mask_actions
from .prompt import DEFAULT_SYSTEM_PROMPT, IGNORE_INDEX, PromptBuilder, collate
from .stats import relative_action_stats
from .tokens import ActionTokenizer, BinTokenTable, NormalizedBins

log = logging.getLogger(__name__)
BACKBONE_DIR = "backbone"
RANGES = ("action_min", "action_max", "state_min", "state_max")  # buffers tied to one robot's state and action


class VLA0SmolPolicy(PreTrainedPolicy):
    """VLA-0 on SmolVLM2 as a LeRobot policy.

    Args:
        config: the policy configuration.
        dataset_stats: LeRobot dataset statistics (``min``/``max`` of state and action).
        dataset_meta: LeRobot dataset metadata; needed with relative actions to compute the
            statistics of ``action - state`` over the dataset's chunks.
        backbone_path: folder of a checkpoint's saved backbone config and processor (set by
            :meth:`from_pretrained`; the weights then come from the checkpoint).
        dataset_ranges: keep the ranges of ``dataset_stats`` when the checkpoint's weights are
            loaded (set by :meth:`from_pretrained` for a checkpoint of another robot).
    """

    config_class = VLA0SmolConfig
    name = "vla0_smol"

    def __init__(
        self,
        config: VLA0SmolConfig,
        dataset_stats=None,
        dataset_meta=None,
        backbone_path=None,
        dataset_ranges: bool = False,
        **kwargs,
    ):
        super().__init__(config)
        self._dataset_ranges = dataset_ranges
        config.validate_features()
        self.config = config
        source = str(backbone_path) if backbone_path else config.vlm_model_name
        self.processor = load_processor(source)
        self.vlm = load_vlm(source, load_weights=config.load_vlm_weights and backbone_path is None)
        if self.vlm.config.image_token_id != self.processor.image_token_id:
            raise ValueError(
                f"backbone {source!r}: model image_token_id {self.vlm.config.image_token_id} != "
                f"tokenizer's {self.processor.image_token_id}"
            )
        if config.freeze_vision_encoder:
            self.vlm.model.vision_model.requires_grad_(False)
        # Under bf16 autocast the connector returns bf16 image features, which transformers'
        # SmolVLMModel.inputs_merger writes into the float32 text embeddings (a dtype-mismatch
        # error). Cast them to the embeddings' dtype, as the authors' code does (their
        # monkey_patch.py patches the class; a hook on this instance leaves other models alone).
        embeddings = self.vlm.model.text_model.get_input_embeddings()
        self.vlm.model.connector.register_forward_hook(partial(_cast_like, embeddings))
        tokenizer = self.processor.tokenizer
        self.table = BinTokenTable(tokenizer, config.num_bins)
        system = DEFAULT_SYSTEM_PROMPT if config.system_prompt == "default" else config.system_prompt
        self.prompts = PromptBuilder(
            self.processor,
            self.table,
            num_images=len(config.image_keys),
            use_state=config.use_state,
            system_prompt=system,
            horizon=config.chunk_size,
            action_dim=config.action_dim,
            prompt_format=config.prompt_format,
        )
        mask_ids = tokenizer.encode(config.mask_token, add_special_tokens=False)
        if len(mask_ids) != 1 or mask_ids[0] in self.table.digit_ids + [self.table.sep_id]:
            raise ValueError(f"mask_token {config.mask_token!r} must be one non-digit token, got ids {mask_ids}")
        self.mask_id = mask_ids[0]
        self.masking = MaskingConfig(config.masking, config.mask_max_fraction, config.mask_skip_prob)
        self.grammar = ActionGrammar(
            tokenizer,
            self.vlm.config.text_config.vocab_size,
            config.chunk_size * config.action_dim,
            config.num_bins,
            self.prompts.eot_id,
        )
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.prompts.eot_id
        vision = self.vlm.config.vision_config
        self.image_size = config.image_size or vision.image_size
        image_proc = self.processor.image_processor
        self.register_buffer("image_mean", torch.tensor(image_proc.image_mean).view(1, 1, 3, 1, 1), persistent=False)
        self.register_buffer("image_std", torch.tensor(image_proc.image_std).view(1, 1, 3, 1, 1), persistent=False)

        # Ranges of state and (relative) action, saved with the weights. float32, not float64:
        # Apple's MPS has no float64, and policy.to("mps") moves buffers too (older float64
        # checkpoints load into them unchanged: load_state_dict casts).
        d, s = config.action_dim, config.robot_state_feature.shape[0] if config.robot_state_feature else 0
        for name, n in (("action_min", d), ("action_max", d), ("state_min", s), ("state_max", s)):
            self.register_buffer(name, torch.full((n,), float("nan"), dtype=torch.float32))
        if dataset_stats is not None:
            self.set_stats(dataset_stats, dataset_meta)
        if dataset_meta is not None and not config.default_task:
            # saved with the config, so that lerobot-eval on an env without a task string
            # (gym-pusht passes "") prompts with the task the policy was trained on
            config.default_task = single_task(dataset_meta)
        self.rng = np.random.default_rng(config.seed)
        self.register_buffer("train_batches", torch.zeros((), dtype=torch.long))  # training forwards so far
        self.invalid_chunks = 0  # chunks that could not be parsed (impossible under the grammar)
        self._resized_keys: set[str] = set()  # cameras whose frames arrive at another size (warned once)
        self.last_decode: DecodeStats | None = None
        self.reset()

    # ----------------------------------------------------------------- statistics
    def set_stats(self, dataset_stats: dict, dataset_meta=None) -> None:
        """Take state/action ranges from LeRobot dataset stats (relative ones if configured)."""
        for key, buf in ((ACTION, self.action_min), (OBS_STATE, self.state_min)):
            if key == OBS_STATE and not self.config.robot_state_feature:
                continue
            if key not in dataset_stats or "min" not in dataset_stats[key] or "max" not in dataset_stats[key]:
                raise ValueError(f"dataset stats lack '{key}' min/max (recompute the dataset's stats)")
            if np.shape(dataset_stats[key]["min"]) != tuple(buf.shape):
                shape = np.shape(dataset_stats[key]["min"])
                raise ValueError(f"dataset stats of '{key}' have shape {shape}, the policy's {tuple(buf.shape)}")
        if self.config.robot_state_feature:
            self.state_min.copy_(torch.as_tensor(np.asarray(dataset_stats[OBS_STATE]["min"])))
            self.state_max.copy_(torch.as_tensor(np.asarray(dataset_stats[OBS_STATE]["max"])))
        if self.config.relative_actions:
            if dataset_meta is None:
                raise ValueError("relative_actions=True needs dataset_meta to compute relative action stats")
            stats = relative_action_stats(dataset_meta, self.config.chunk_size, self.config.relative_index())
        else:
            stats = dataset_stats[ACTION]
        self.action_min.copy_(torch.as_tensor(np.asarray(stats["min"])))
        self.action_max.copy_(torch.as_tensor(np.asarray(stats["max"])))

    def _range(self, lo: Tensor, hi: Tensor, what: str) -> ActionTokenizer | NormalizedBins:
        if not (torch.isfinite(lo).all() and torch.isfinite(hi).all()):
            raise ValueError(f"{what} statistics are missing: build the policy with dataset_stats or load a checkpoint")
        if self.config.binning == "vla0":  # a converted checkpoint: the authors' MIN_MAX statistics and bins
            return NormalizedBins(lo.cpu().numpy(), hi.cpu().numpy(), self.config.num_bins)
        return ActionTokenizer.from_range(lo.cpu().double().numpy(), hi.cpu().double().numpy(), self.config.num_bins)

    @property
    def action_tokenizer(self) -> ActionTokenizer | NormalizedBins:
        return self._range(self.action_min, self.action_max, "action")

    @property
    def state_tokenizer(self) -> ActionTokenizer | NormalizedBins:
        return self._range(self.state_min, self.state_max, "state")

    # ----------------------------------------------------------------- inputs
    def _relative_offset(self, state: Tensor, binned: bool = True) -> Tensor:
        """``(B, D)`` the state value subtracted from each action dim (0 where absolute).

        In raw units; normalised with ``binning="vla0"`` (the authors subtract the normalised
        state from the normalised action) unless ``binned=False``.
        """
        if binned and self.config.binning == "vla0":
            state = self.state_tokenizer.normalize(state.detach().cpu()).to(state.device)
        idx = torch.tensor(self.config.relative_index(), device=state.device)
        offset = state[:, idx.clamp(min=0)]
        return torch.where(idx >= 0, offset, torch.zeros_like(offset))

    def _check(self, batch: dict, key: str, ndim: int) -> Tensor:
        if key not in batch:
            raise KeyError(f"batch has no '{key}' (has {sorted(k for k in batch if isinstance(k, str))})")
        x = batch[key]
        if not torch.is_tensor(x) or x.ndim != ndim or not x.is_floating_point():
            raise ValueError(f"'{key}' must be a float tensor with {ndim} dims, got {getattr(x, 'shape', type(x))}")
        if not torch.isfinite(x).all():
            raise ValueError(f"'{key}' contains NaN or inf")
        return x

    def _images(self, batch: dict) -> Tensor:
        """``(B, N, 3, S, S)`` normalised pixels from the camera keys (crop, resize)."""
        views = []
        for key in self.config.image_keys:
            img = self._check(batch, key, 4)  # (B, 3, H, W) in [0, 1]
            if img.shape[1] != 3:
                raise ValueError(f"'{key}' must be (B, 3, H, W) RGB, got {tuple(img.shape)}")
            img = self._trained_size(img, key)
            if self.config.crop_shape is not None:
                img = self._crop(img, key)
            img = F.interpolate(
                img, size=(self.image_size, self.image_size), mode=self.config.image_interpolation, antialias=True
            )
            views.append(img)
        pixels = torch.stack(views, dim=1).to(self.image_mean.device)
        return (pixels - self.image_mean) / self.image_std

    def _trained_size(self, img: Tensor, key: str) -> Tensor:
        """The image at the size of the trained feature, or an error.

        A frame of the same aspect ratio at another resolution (LeRobot renders LIBERO at 360 px,
        the dataset is 256 px) is resized to the trained size, so that the crop keeps the view
        it kept in training; a frame of another aspect ratio is refused (resizing would distort
        it, cropping would show another part of the scene).
        """
        _, th, tw = self.config.image_features[key].shape
        h, w = img.shape[-2:]
        if (h, w) == (th, tw):
            return img
        if abs(h * tw - w * th) > 0.01 * th * tw:  # aspect ratios differ by more than ~1%
            raise ValueError(
                f"'{key}' is {h}x{w} but the policy was trained on {th}x{tw} frames (another aspect ratio): "
                f"configure the camera or environment to render {th}x{tw}"
            )
        if key not in self._resized_keys:
            self._resized_keys.add(key)
            log.warning("'%s' is %dx%d, the policy was trained on %dx%d: resizing every frame", key, h, w, th, tw)
        return F.interpolate(img, size=(th, tw), mode="bilinear", antialias=True)

    def _crop(self, img: Tensor, key: str) -> Tensor:
        ch, cw = self.config.crop_shape
        _, _, h, w = img.shape
        if ch > h or cw > w:
            raise ValueError(f"crop_shape {self.config.crop_shape} exceeds '{key}' size {(h, w)}")
        if not self.training:  # torchvision's CenterCrop (the authors' evaluation crop) rounds the offset
            top, left = int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))
            return img[:, :, top : top + ch, left : left + cw]
        tops = self.rng.integers(0, h - ch + 1, img.shape[0])
        lefts = self.rng.integers(0, w - cw + 1, img.shape[0])
        return torch.stack([x[:, t : t + ch, s : s + cw] for x, t, s in zip(img, tops, lefts, strict=True)])

    def _tasks(self, batch: dict, n: int) -> list[str]:
        tasks = batch.get("task")
        if isinstance(tasks, str):
            tasks = [tasks] * n
        if tasks is None or any(not t or not str(t).strip() for t in tasks):
            if not self.config.default_task:
                raise ValueError("no 'task' in the batch and no default_task in the config: the prompt needs one")
            tasks = [t if t and str(t).strip() else self.config.default_task for t in (tasks or [None] * n)]
        return [str(t) for t in tasks]

    def _state_bins(self, batch: dict) -> np.ndarray | None:
        if not self.config.use_state:
            return None
        state = self._check(batch, OBS_STATE, 2)
        return self.state_tokenizer.to_bins(state.detach().cpu().double().numpy())

    # ----------------------------------------------------------------- training
    def target_bins(self, batch: dict[str, Tensor]) -> np.ndarray:
        """``(B, H, D)`` bins of the batch's action chunks (minus the state with relative actions)."""
        actions = self._check(batch, ACTION, 3)  # (B, H, D) raw
        _, h, d = actions.shape
        if (h, d) != (self.config.chunk_size, self.config.action_dim):
            raise ValueError(
                f"'action' is {h}x{d}, the config expects {self.config.chunk_size}x{self.config.action_dim}"
            )
        state = self._check(batch, OBS_STATE, 2) if self.config.robot_state_feature else None
        offset = self._relative_offset(state)[:, None, :].cpu().numpy() if self.config.relative_actions else None
        return self.action_tokenizer.to_bins(actions.detach().cpu().double().numpy(), offset)

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict]:
        """Cross-entropy of the action text (and end-of-turn) given image, task and state."""
        bins = self.target_bins(batch)  # (B, H, D)
        b, h, d = bins.shape
        is_pad = batch.get("action_is_pad")
        is_pad = torch.zeros(b, h, dtype=torch.bool) if is_pad is None else is_pad.cpu().bool()
        state_bins = self._state_bins(batch)
        tasks = self._tasks(batch, b)
        if self.training:
            # augmentation randomness is a function of (seed, process rank, batch number): each
            # rank of a multi-GPU run draws its own crops and masks, and the counter is saved with
            # the weights, so a resumed run masks and crops exactly as an uninterrupted one.
            self.rng = np.random.default_rng([self.config.seed, process_rank(), int(self.train_batches)])
            self.train_batches += 1
        samples = []
        for i in range(b):
            enc = self.table.encode(bins[i])
            # no loss on actions past the episode end (a separator belongs to the value after it)
            vidx = enc.value_index
            owner = torch.where(vidx >= 0, vidx, torch.cummax(vidx, 0).values + 1)
            labels = enc.ids.masked_fill(is_pad[i][owner // d], IGNORE_INDEX)
            masking = self.masking if self.training else MaskingConfig("none")
            ids, labels = mask_actions(enc, labels, masking, self.mask_id, self.rng)
            samples.append(self.prompts.build(tasks[i], None if state_bins is None else state_bins[i], ids, labels))
        device = self.action_min.device
        inputs = {k: v.to(device) for k, v in collate(samples, self.pad_id, "right").items()}
        loss = self._loss(inputs, self._images(batch))
        return loss, {"n_action_tokens": int((inputs["labels"] != IGNORE_INDEX).sum())}

    def _loss(self, inputs: dict[str, Tensor], pixels: Tensor) -> Tensor:
        out = self.vlm.model(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], pixel_values=pixels, use_cache=False
        )
        hidden = out.last_hidden_state[:, :-1]  # (B, L-1, E) predicts tokens 1..L-1
        target = inputs["labels"][:, 1:]
        sel = target != IGNORE_INDEX
        logits = self.vlm.lm_head(hidden[sel]).float()  # (N, V), float32 even under autocast
        return F.cross_entropy(logits, target[sel])

    def get_optim_params(self) -> list:
        """All trainable parameters; the vision side as its own group when ``vision_lr_scale != 1``.

        LeRobot's scheduler multiplies each group's rate by the same factor, so the ratio holds
        through warm-up and decay. ``vision_lr_scale=0`` freezes the vision encoder and connector.
        """
        scale = self.config.vision_lr_scale
        if scale == 1:
            return [p for p in self.parameters() if p.requires_grad]
        vision, rest = [], []
        for name, p in self.vlm.named_parameters():
            if is_vision(name):
                if scale == 0:
                    p.requires_grad_(False)
                if p.requires_grad:  # (freeze_vision_encoder leaves only the connector)
                    vision.append(p)
            elif p.requires_grad:
                rest.append(p)
        others = [p for n, p in self.named_parameters() if not n.startswith("vlm.") and p.requires_grad]
        groups = [{"params": rest + others}]
        if scale > 0:
            groups.append({"params": vision, "lr": self.config.optimizer_lr * scale})
        return groups

    # ----------------------------------------------------------------- inference
    def reset(self, env_ids=None) -> None:
        """Start new episodes: all environments, or only ``env_ids`` of a running batch."""
        executor = getattr(self, "_executor", None)
        if env_ids is None or executor is None or len(set(env_ids)) >= executor.batch_size:
            self._executor = None
            self._memory: dict[int, tuple[np.ndarray, int]] = {}  # env -> (last raw chunk, steps since)
        else:
            executor.reset(env_ids)
            for env in env_ids:
                self._memory.pop(int(env), None)

    def _drafts(self, batch: dict, env_ids) -> list[list[int]]:
        """Expected integers per row, a free draft for the fast decoder.

        The environment's previous chunk shifted by the steps executed since, padded with its last
        action; before any chunk, "stay where you are" (the state's action dimensions).
        """
        h = self.config.chunk_size
        state = batch[OBS_STATE].detach().cpu().double() if OBS_STATE in batch else None
        hold = self._relative_offset(state, binned=False).numpy() if state is not None else None
        offset = self._relative_offset(state).numpy() if self.config.relative_actions else None
        act_tok, drafts = self.action_tokenizer, []
        for row, env in enumerate(env_ids):
            prev = self._memory.get(int(env))
            if prev is None:
                if hold is None:
                    drafts.append(None)
                    continue
                guess = np.repeat(hold[row][None], h, axis=0)
            else:
                chunk, age = prev
                guess = np.concatenate([chunk[age:], np.repeat(chunk[-1:], min(age, h), axis=0)])[:h]
            drafts.append(act_tok.to_bins(guess, None if offset is None else offset[row]).ravel().tolist())
        return drafts

    def _make_executor(self, batch_size: int):
        if self.config.execution == "temporal":
            return TemporalEnsembler(
                self.config.chunk_size, batch_size, self.config.ensemble_weighting, self.config.ensemble_exp_base
            )
        return ChunkQueue(self.config.n_action_steps, batch_size)

    @torch.no_grad()
    def predict_action_chunk(self, batch: dict[str, Tensor], **kwargs) -> Tensor:
        """``(B, H, D)`` raw absolute actions for each observation in the batch."""
        pixels = self._images(batch)
        b = pixels.shape[0]
        state_bins = self._state_bins(batch)
        tasks = self._tasks(batch, b)
        samples = [self.prompts.build(tasks[i], None if state_bins is None else state_bins[i]) for i in range(b)]
        inputs = collate(samples, self.pad_id, "left")
        device = self.action_min.device
        method = kwargs.get("decoder", self.config.decoder)
        env_ids = kwargs.get("env_ids", range(b))
        drafts = kwargs.get("drafts")
        if drafts is None and method == "fast" and self.config.use_drafts:
            drafts = self._drafts(batch, env_ids)
        tokens, self.last_decode = decode(
            self.vlm,
            self.grammar,
            inputs["input_ids"].to(device),
            inputs["attention_mask"].to(device),
            pixels,
            method=method,
            drafts=drafts,
        )
        h, d = self.config.chunk_size, self.config.action_dim
        act_tok = self.action_tokenizer
        offset = None  # (B, D), added to the decoded relative actions
        if self.config.relative_actions:
            offset = self._relative_offset(batch[OBS_STATE].detach().cpu().float()).numpy()
        chunks = np.zeros((b, h, d))
        for i, ids in enumerate(tokens):
            text = self.processor.tokenizer.decode(ids, skip_special_tokens=True)
            try:
                chunks[i] = act_tok.from_text(text, h, None if offset is None else offset[i])
            except ValueError:
                # Cannot happen under the grammar; never turn garbage into the minimum action.
                self.invalid_chunks += 1
                log.warning("unparseable action text %r; holding (%s)", text[:80], self.config.hold_action)
                chunks[i] = np.nan
        out = torch.from_numpy(chunks).to(torch.float32)
        out = self._hold_invalid(out, batch)
        for row, env in enumerate(env_ids):
            self._memory[int(env)] = (out[row].double().numpy(), 0)
        return out

    def _hold_invalid(self, chunks: Tensor, batch: dict) -> Tensor:
        """Rows that could not be parsed (NaN) hold: the state (targets) or zero (deltas), by ``hold_action``."""
        bad = torch.isnan(chunks).any(-1).any(-1)
        if bad.any() and self.config.hold_action == "zero":
            chunks[bad] = 0.0
        elif bad.any():
            if OBS_STATE not in batch or self.config.robot_state_feature.shape[0] < self.config.action_dim:
                raise RuntimeError("unparseable action chunk and no state to hold")
            hold = batch[OBS_STATE].detach().cpu().float()[:, : self.config.action_dim]
            chunks[bad] = hold[bad][:, None, :].expand(-1, chunks.shape[1], -1)
        return chunks

    @torch.no_grad()
    def select_action(self, batch: dict[str, Tensor], **kwargs) -> Tensor:
        """``(B, D)`` the action to execute now (chunk queue or temporal ensemble)."""
        b = next(v.shape[0] for k, v in batch.items() if k in self.config.image_keys)
        if self._executor is None or self._executor.batch_size != b:
            self._executor = self._make_executor(b)
        need = self._executor.needs_prediction()
        chunks = None
        if need.any():
            idx = np.flatnonzero(need)
            sub = _index_batch(batch, idx, b)
            pred = self.predict_action_chunk(sub, env_ids=idx.tolist(), **kwargs)
            chunks = torch.zeros(b, *pred.shape[1:], dtype=pred.dtype)
            chunks[torch.from_numpy(idx)] = pred
        action = self._executor.update(chunks, need)
        self._memory = {env: (chunk, age + 1) for env, (chunk, age) in self._memory.items()}
        return action.to(batch[self.config.image_keys[0]].device)

    # ----------------------------------------------------------------- save / load
    def _save_pretrained(self, save_directory: Path, state_dict=None) -> None:
        super()._save_pretrained(save_directory, state_dict)
        backbone = Path(save_directory) / BACKBONE_DIR
        self.processor.save_pretrained(backbone)
        self.vlm.config.save_pretrained(backbone)

    @classmethod
    def from_pretrained(cls, pretrained_name_or_path, *, config=None, **kwargs):
        """Load a checkpoint; the backbone's config and processor come from its ``backbone/``.

        With ``dataset_stats`` (and ``dataset_meta``), as LeRobot's ``make_policy`` passes them
        for ``lerobot-train --policy.path``: a checkpoint of the same robot (the dataset's state
        and action sizes) keeps its own ranges; one of another robot keeps its VLM weights and
        takes the ranges and the input/output features from the dataset (see
        :func:`adapt_to_dataset`).
        """
        path = Path(str(pretrained_name_or_path))
        if not path.is_dir():
            from huggingface_hub import snapshot_download

            path = Path(snapshot_download(str(pretrained_name_or_path), revision=kwargs.get("revision")))
        if config is None:
            config = VLA0SmolConfig.from_pretrained(path)
        backbone = path / BACKBONE_DIR
        kwargs.pop("backbone_path", None)
        kwargs["dataset_ranges"] = adapt_to_dataset(
            path, config, kwargs.get("dataset_stats"), kwargs.get("dataset_meta")
        )
        return super().from_pretrained(
            path, config=config, backbone_path=backbone if backbone.is_dir() else None, **kwargs
        )

    @classmethod
    def _load_as_safetensor(cls, model, model_file: str, map_location: str, strict: bool):
        """LeRobot's loading; for a checkpoint of another robot, the dataset's ranges are kept."""
        if not model._dataset_ranges:
            return super()._load_as_safetensor(model, model_file, map_location, strict)
        from safetensors import safe_open

        ours = {name: getattr(model, name).clone() for name in RANGES}
        with safe_open(model_file, framework="pt") as f:  # the checkpoint's shapes, to load into
            for name in set(RANGES) & set(f.keys()):
                setattr(model, name, torch.empty(f.get_slice(name).get_shape(), dtype=ours[name].dtype))
        super()._load_as_safetensor(model, model_file, map_location, strict)
        for name, value in ours.items():
            setattr(model, name, value)
        return model


def adapt_to_dataset(path: Path, config: VLA0SmolConfig, dataset_stats=None, dataset_meta=None) -> bool:
    """Fit ``config`` to the dataset when the checkpoint in ``path`` was trained on another robot.

    The checkpoint's robot is its saved config's state and action sizes; the dataset's are those
    of ``dataset_meta``'s features (else of ``config``, whose output features LeRobot's
    ``make_policy`` takes from the dataset). When they match, nothing changes and the checkpoint's
    ranges load. When they differ, ``config`` takes the dataset's input and output features (and
    its task as ``default_task`` unless one was given) and one line is logged; the ranges are then
    those of ``dataset_stats``.

    Returns:
        whether the ranges come from ``dataset_stats`` rather than from the checkpoint.

    Raises:
        ValueError: the sizes differ and no ``dataset_stats`` were given (naming the field).
    """
    saved = VLA0SmolConfig.from_pretrained(path)
    if dataset_meta is not None:
        features = dataset_to_policy_features(dataset_meta.features)
        outputs = {k: f for k, f in features.items() if f.type is FeatureType.ACTION}
        inputs = {k: f for k, f in features.items() if k not in outputs}
    else:
        inputs, outputs = config.input_features, config.output_features

    def sizes(ins, outs) -> dict[str, int]:
        return {ACTION: outs[ACTION].shape[0] if ACTION in outs else 0,
                OBS_STATE: ins[OBS_STATE].shape[0] if OBS_STATE in ins else 0}  # fmt: skip

    old, new = sizes(saved.input_features, saved.output_features), sizes(inputs, outputs)
    if old == new:
        return False
    differ = [k for k in old if old[k] != new[k]]
    if dataset_stats is None:
        what = ", ".join(f"'{k}' is {old[k]}-D in the checkpoint and {new[k]}-D here" for k in differ)
        raise ValueError(
            f"{path} was trained on another robot: {what}, so its ranges ({', '.join(RANGES)}) do not fit. "
            f"Pass the new dataset's statistics to re-initialise them: from_pretrained(..., dataset_stats="
            "meta.stats, dataset_meta=meta), as lerobot-train --policy.path=<checkpoint> --dataset.repo_id="
            "<dataset> does; or load it for the robot it was trained on"
        )

    def robot(ins, n) -> str:
        cams = ", ".join(k.removeprefix("observation.images.") for k, f in ins.items() if f.type is FeatureType.VISUAL)
        return f"{n[ACTION]}-D actions, {n[OBS_STATE]}-D state, cameras [{cams}]"

    name = getattr(dataset_meta, "repo_id", None) or "the dataset"
    log.warning(
        "checkpoint %s was trained on %s; %s has %s: action and state ranges (%s) and the input/output features "
        "re-initialised from the dataset's stats and features (the VLM weights are the checkpoint's)",
        path, robot(saved.input_features, old), name, robot(inputs, new), "/".join(RANGES),
    )  # fmt: skip
    config.input_features, config.output_features = dict(inputs), dict(outputs)
    if dataset_meta is not None and config.default_task == saved.default_task:
        config.default_task = single_task(dataset_meta)  # the checkpoint's task belongs to its robot
    return True


def process_rank() -> int:
    """Rank of this process in a distributed run (``accelerate launch``, ``torchrun``), else 0."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return 0


def single_task(dataset_meta) -> str | None:
    """The task of a dataset that has exactly one (PushT's), else None (the env names the task)."""
    tasks = getattr(dataset_meta, "tasks", None)
    if tasks is None or len(tasks) != 1:
        return None
    return str(tasks.index[0])


def _cast_like(embeddings: torch.nn.Embedding, connector, inputs, features: Tensor) -> Tensor:
    """Connector forward hook: the image features in the dtype of the text embeddings."""
    return features.to(embeddings.weight.dtype)


def _index_batch(batch: dict, idx: np.ndarray, b: int) -> dict:
    """Rows ``idx`` of every per-sample entry of a batch."""
    if len(idx) == b:
        return batch
    t = torch.from_numpy(idx)
    out = {}
    for k, v in batch.items():
        if torch.is_tensor(v) and v.ndim and v.shape[0] == b:
            out[k] = v[t.to(v.device)]
        elif isinstance(v, list | tuple) and len(v) == b:
            out[k] = [v[i] for i in idx]
        else:
            out[k] = v
    return out
