"""Configuration of the VLA-0-Smol policy (LeRobot policy type ``vla0_smol``).

Defaults are the blog's recipe on SmolVLM2-500M (see ``../README.md`` for the mapping from the
blog's wording to these names, and where each value comes from), except the two settings that
only fit some datasets: ``crop_shape`` (a size in pixels) and ``relative_actions`` (actions that
are absolute targets in the state's units) are off by default, as in the authors' code, and the
benchmark profiles set them (PushT: 84 x 84 of 96 x 96, relative; LIBERO: 230 x 230 of 256 x 256,
absolute). ``vlm_model_name="tiny"`` selects the embedded
offline preset shipped in ``vla0_smol/presets/tiny``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lerobot.configs import NormalizationMode, PreTrainedConfig
from lerobot.optim import AdamWConfig, CosineDecayWithWarmupSchedulerConfig

from .ensemble import WEIGHTINGS
from .masking import MASK_MODES
from .prompt import PROMPT_FORMATS

REAL_VLM = "HuggingFaceTB/SmolVLM2-500M-Video-Instruct"
DECODERS = ("fast", "hf")
EXECUTIONS = ("chunk", "temporal")
HOLD_ACTIONS = ("state", "zero")
BINNINGS = ("range", "vla0")
INTERPOLATIONS = ("bilinear", "bicubic")


@PreTrainedConfig.register_subclass("vla0_smol")
@dataclass
class VLA0SmolConfig(PreTrainedConfig):
    # Input / output structure.
    n_obs_steps: int = 1
    chunk_size: int = 10  # H: actions predicted per chunk (blog PushT: 10, LIBERO: 8)
    n_action_steps: int = 5  # actions executed per chunk when execution="chunk" (blog PushT: 5)

    # State and action are normalised by the policy itself (min/max -> bins, see tokens.py),
    # so that relative actions are formed in raw units; LeRobot's normaliser leaves them alone.
    normalization_mapping: dict[str, NormalizationMode] = field(
        default_factory=lambda: {
            "VISUAL": NormalizationMode.IDENTITY,
            "STATE": NormalizationMode.IDENTITY,
            "ACTION": NormalizationMode.IDENTITY,
        }
    )

    # Backbone.
    vlm_model_name: str = REAL_VLM  # hub id, local path, or "tiny" (embedded offline preset)
    load_vlm_weights: bool = True  # start from the VLM's pretrained weights (if it has any)
    freeze_vision_encoder: bool = False  # blog: freezing drops PushT success 57.8% -> 25%
    dtype: str = "float32"  # "bfloat16": bf16 autocast (accelerate); float16 diverged in the blog

    # Images.
    crop_shape: tuple[int, int] | None = None  # random crop in training, centre crop at eval (PushT: 84 x 84)
    image_size: int | None = None  # side fed to the vision encoder; None = the encoder's own
    image_interpolation: str = "bilinear"  # resize to image_size; "bicubic": as SmolVLM's fast image processor

    # Action text (VLA-0).
    num_bins: int = 512  # integers per dimension (authors' code default)
    use_state: bool = True  # discretised state in the prompt
    relative_actions: bool = False  # predict action - state (raw units, own statistics; PushT: on)
    relative_state_index: list[int] | None = None  # per action dim: state index subtracted, -1 = absolute
    system_prompt: str | None = None  # None = no system turn; "default" = VLA-0's format prompt
    default_task: str | None = None  # used when an observation carries no task string
    # Checkpoints converted from the authors' LeRobot `vla0` policy (convert.py) set both to "vla0".
    binning: str = "range"  # "range": raw min/max bins (tokens.ActionTokenizer); "vla0": theirs (NormalizedBins)
    prompt_format: str = "vla0_smol"  # "vla0": their prompt text (lower-cased task, "Actions: ")

    # Masked action augmentation (training only).
    masking: str = "whole"  # "none" | "whole" (blog) | "char" (original VLA-0)
    mask_max_fraction: float = 0.15
    mask_skip_prob: float = 0.1
    mask_token: str = "_"  # text of the token that replaces masked content

    # Training data. lerobot-train reads this field: the last frames of each episode are not
    # sampled (their chunks are mostly padding). 1: the authors' code (configs vla0*.json).
    drop_n_last_frames: int = 1
    seed: int = 0  # seeds the masking generator

    # Inference.
    decoder: str = "fast"  # "fast" (decoding.py) | "hf" (generate() + xgrammar)
    use_drafts: bool = True  # fast decoder: verify the previous chunk (shifted) as a free draft
    execution: str = "chunk"  # "chunk": n_action_steps ahead | "temporal": temporal ensembling
    ensemble_weighting: str = "uniform"  # "uniform" | "vla0" | "exp"
    ensemble_exp_base: float = 0.5
    # What an unparseable chunk (impossible under the grammar) becomes: "state" holds position for
    # actions that are targets in the state's units (PushT, SO100, relative actions); "zero" is no
    # motion for actions that are deltas (LIBERO's end-effector deltas and gripper command).
    hold_action: str = "state"

    # Training presets (blog: AdamW, cosine with warm-up, lr 5e-5 -> 5e-6 over 30k steps; the
    # betas, eps, weight decay, clipping and the 1,000 warm-up steps are the authors' configs').
    optimizer_lr: float = 5e-5
    optimizer_betas: tuple[float, float] = (0.9, 0.95)  # authors' code
    optimizer_eps: float = 1e-8  # authors' code
    optimizer_weight_decay: float = 0.01  # authors' code
    optimizer_grad_clip_norm: float = 1.0  # authors' code
    scheduler_warmup_steps: int = 1_000  # authors' code (PushT and LIBERO); the blog does not say
    scheduler_decay_steps: int = 30_000
    scheduler_decay_lr: float = 5e-6
    # Learning-rate factor of the vision encoder and connector (0: frozen). 1 is the blog's and
    # the authors' setting (one rate for the whole model). Not theirs: a factor below 1 for a
    # vision side that starts random (the tiny preset), whose image tokens otherwise collapse to
    # an image-independent output within 100 steps (docs/tiny-learning.md, "Fifth round").
    vision_lr_scale: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {self.chunk_size}")
        if self.vision_lr_scale < 0:
            raise ValueError(f"vision_lr_scale must be >= 0 (0: frozen), got {self.vision_lr_scale}")
        if not 1 <= self.n_action_steps <= self.chunk_size:
            raise ValueError(f"n_action_steps ({self.n_action_steps}) must be in [1, chunk_size={self.chunk_size}]")
        if self.num_bins < 2:
            raise ValueError(f"num_bins must be >= 2, got {self.num_bins}")
        if self.masking not in MASK_MODES:
            raise ValueError(f"masking must be one of {MASK_MODES}, got {self.masking!r}")
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {self.decoder!r}")
        if self.hold_action not in HOLD_ACTIONS:
            raise ValueError(f"hold_action must be one of {HOLD_ACTIONS}, got {self.hold_action!r}")
        if self.hold_action == "zero" and self.relative_actions:
            raise ValueError(
                "hold_action='zero' means the actions are deltas, but relative_actions=True makes them "
                "absolute targets (state + predicted offset): use hold_action='state'"
            )
        if self.execution not in EXECUTIONS:
            raise ValueError(f"execution must be one of {EXECUTIONS}, got {self.execution!r}")
        if self.ensemble_weighting not in WEIGHTINGS:
            raise ValueError(f"ensemble_weighting must be one of {WEIGHTINGS}, got {self.ensemble_weighting!r}")
        if self.binning not in BINNINGS:
            raise ValueError(f"binning must be one of {BINNINGS}, got {self.binning!r}")
        if self.prompt_format not in PROMPT_FORMATS:
            raise ValueError(f"prompt_format must be one of {PROMPT_FORMATS}, got {self.prompt_format!r}")
        if self.image_interpolation not in INTERPOLATIONS:
            raise ValueError(f"image_interpolation must be one of {INTERPOLATIONS}, got {self.image_interpolation!r}")
        if self.dtype not in ("float32", "bfloat16"):
            raise ValueError(f"dtype must be 'float32' or 'bfloat16' (float16 diverges), got {self.dtype!r}")
        if self.drop_n_last_frames < 0:
            raise ValueError(f"drop_n_last_frames must be >= 0, got {self.drop_n_last_frames}")
        if self.crop_shape is not None and (len(self.crop_shape) != 2 or min(self.crop_shape) < 1):
            raise ValueError(f"crop_shape must be (height, width) with positive sides, got {self.crop_shape}")

    def validate_features(self) -> None:
        if not self.image_features:
            raise ValueError("vla0_smol needs at least one image feature (observation.image*)")
        if self.action_feature is None:
            raise ValueError("vla0_smol needs an 'action' output feature")
        if self.use_state and self.robot_state_feature is None:
            raise ValueError("use_state=True needs an 'observation.state' input feature")
        if self.relative_actions and self.robot_state_feature is None:
            raise ValueError("relative_actions=True needs an 'observation.state' input feature")
        if self.relative_actions:
            self.relative_index()  # raises when the state indices do not fit the dataset
        if self.crop_shape is not None:
            ch, cw = self.crop_shape
            for key, feature in self.image_features.items():
                _, h, w = feature.shape
                if ch > h or cw > w:
                    raise ValueError(
                        f"crop_shape {list(self.crop_shape)} is larger than '{key}' ({h}x{w}): set --policy."
                        f"crop_shape to at most [{h},{w}] (the blog keeps ~90%: [{round(0.9 * h)},{round(0.9 * w)}])"
                    )
                if 2 * ch < h or 2 * cw < w:
                    raise ValueError(
                        f"crop_shape {list(self.crop_shape)} keeps under half of each side of '{key}' ({h}x{w}); "
                        f"the blog keeps ~90%: --policy.crop_shape=[{round(0.9 * h)},{round(0.9 * w)}] "
                        "(or null for no crop)"
                    )

    @property
    def action_dim(self) -> int:
        return self.action_feature.shape[0]

    @property
    def image_keys(self) -> list[str]:
        return list(self.image_features)

    def relative_index(self) -> list[int]:
        """Per action dimension, the state index it is relative to (-1: absolute).

        Without ``relative_state_index``, action dimension i is relative to state dimension i,
        which only means something when action and state have the same number of dimensions
        (PushT's 2-D target and position, SO100's joint targets and positions). Anything else
        (LIBERO's 7-D end-effector deltas and 8-D state) is refused rather than guessed.
        """
        dim = self.action_dim
        if not self.relative_actions:
            return [-1] * dim
        state_dim = self.robot_state_feature.shape[0]
        if self.relative_state_index is None:
            if state_dim != dim:
                raise ValueError(
                    f"relative_actions=True subtracts state dim i from action dim i, but the action has {dim} "
                    f"dims and the state {state_dim}: set --policy.relative_actions=false (e.g. LIBERO's actions "
                    "are already deltas), or say which state index each action dim is relative to with "
                    "--policy.relative_state_index (-1: absolute)"
                )
            return list(range(dim))
        index = list(self.relative_state_index)
        if len(index) != dim:
            raise ValueError(f"relative_state_index has {len(index)} entries, action has {dim} dims")
        if any(not -1 <= i < state_dim for i in index):
            raise ValueError(f"relative_state_index {index} must hold state indices in [0, {state_dim}) or -1")
        return index

    def get_optimizer_preset(self) -> AdamWConfig:
        return AdamWConfig(
            lr=self.optimizer_lr,
            betas=self.optimizer_betas,
            eps=self.optimizer_eps,
            weight_decay=self.optimizer_weight_decay,
            grad_clip_norm=self.optimizer_grad_clip_norm,
        )

    def get_scheduler_preset(self) -> CosineDecayWithWarmupSchedulerConfig:
        return CosineDecayWithWarmupSchedulerConfig(
            peak_lr=self.optimizer_lr,
            decay_lr=self.scheduler_decay_lr,
            num_warmup_steps=self.scheduler_warmup_steps,
            num_decay_steps=self.scheduler_decay_steps,
        )

    @property
    def observation_delta_indices(self) -> None:
        return None

    @property
    def action_delta_indices(self) -> list[int]:
        return list(range(self.chunk_size))

    @property
    def reward_delta_indices(self) -> None:
        return None
