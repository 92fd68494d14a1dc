"""The authors' ``vla0`` checkpoint format, fabricated offline for tests (tiny architecture, random weights).

What LeRobot's ``save_pretrained`` writes for their ``VLA0Policy``: ``config.json`` with
``type: vla0`` and their fields, ``model.safetensors`` with ``model.vlm.*`` keys and an embedding
row for the ``<MASK_ACT>`` token their code adds, and LeRobot's processor files with MIN_MAX
statistics. Used by the converter's tests and by the recipes' ``checkpoint`` tests.
"""

from __future__ import annotations

import json

import torch
from lerobot.configs.types import FeatureType, NormalizationMode, PolicyFeature
from lerobot.processor import (
    AddBatchDimensionProcessorStep,
    DeviceProcessorStep,
    NormalizerProcessorStep,
    PolicyProcessorPipeline,
    RenameObservationsProcessorStep,
    UnnormalizerProcessorStep,
)
from safetensors.torch import save_file

from vla0_smol.backbone import PRESETS, load_processor, load_vlm
from vla0_smol.convert import MASK_TOKEN

NORM_MAP = {
    FeatureType.VISUAL: NormalizationMode.IDENTITY,
    FeatureType.STATE: NormalizationMode.MIN_MAX,
    FeatureType.ACTION: NormalizationMode.MIN_MAX,
}


# ----------------------------------------------------------------------------- their format
def fabricate_vla0_checkpoint(
    root, *, relative=False, state_dim=8, action_dim=7, chunk=4, bins=512, seed=0, image_size=96, crop=86
):
    """A checkpoint of their ``vla0`` policy: tiny architecture, random weights, their files.

    Two cameras (``observation.images.image`` and ``image2``, LIBERO's names) of ``image_size``
    pixels, a ``crop`` pixel random crop.
    """
    root.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    images = {
        f"observation.images.{k}": PolicyFeature(FeatureType.VISUAL, (3, image_size, image_size))
        for k in ("image", "image2")
    }
    inputs = {**images, "observation.state": PolicyFeature(FeatureType.STATE, (state_dim,))}
    outputs = {"action": PolicyFeature(FeatureType.ACTION, (action_dim,))}
    config = {  # draccus' dump of their VLA0Config (LeRobot 0.4.3's PreTrainedConfig fields first)
        "type": "vla0",
        "n_obs_steps": 1,
        "normalization_mapping": {"VISUAL": "IDENTITY", "STATE": "MIN_MAX", "ACTION": "MIN_MAX"},
        "input_features": {k: {"type": f.type.value, "shape": list(f.shape)} for k, f in inputs.items()},
        "output_features": {k: {"type": f.type.value, "shape": list(f.shape)} for k, f in outputs.items()},
        "device": "cuda",
        "use_amp": False,
        "amp_dtype": "bf16",
        "push_to_hub": False,
        "repo_id": None,
        "private": None,
        "tags": None,
        "license": None,
        "pretrained_path": None,
        "chunk_size": chunk,
        "n_action_steps": chunk,
        "ensemble_size": 0,
        "n_action_bins": bins,
        "n_state_bins": bins,
        "max_decoding_steps": 512,
        "use_cache": True,
        "optimizer_lr": 5e-05,
        "optimizer_betas": [0.9, 0.95],
        "optimizer_eps": 1e-08,
        "optimizer_weight_decay": 0.01,
        "scheduler_warmup_steps": 1000,
        "scheduler_decay_steps": 100000,
        "scheduler_decay_lr": 5e-06,
        "checkpoint_path": None,
        "vlm_checkpoint": str(PRESETS["tiny"]),  # theirs: HuggingFaceTB/SmolVLM2-500M-Video-Instruct
        "precision": "float32",
        "freeze_vision_encoder": False,
        "do_image_splitting": False,
        "drop_n_last_frames": 1,
        "relative_actions": relative,
        "use_state": True,
        "start_actions_token": 49279,
        "grad_clip_norm": 1.0,
        "action_mask_aug_per": 0.15,
        "action_mask_skip_per": 0.1,
        "crop_shape": [crop, crop],
    }
    (root / "config.json").write_text(json.dumps(config, indent=4))

    # their VLA0.__init__: base model, <MASK_ACT> added to the tokenizer, embeddings resized
    torch.manual_seed(seed)
    vlm = load_vlm("tiny")
    tokenizer = load_processor("tiny").tokenizer
    tokenizer.add_tokens([MASK_TOKEN], special_tokens=True)
    vlm.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    state = {f"model.vlm.{k}": v.detach().clone().contiguous() for k, v in vlm.state_dict().items()}
    save_file(state, root / "model.safetensors", metadata={"format": "pt"})

    # dataset statistics as LeRobot computes them (more than MIN_MAX needs), float32
    def stat(n, lo, hi):
        a = lo + (hi - lo) * torch.rand(n, generator=g)
        b = a + 0.1 + (hi - lo) * torch.rand(n, generator=g)
        return {"min": a, "max": b, "mean": (a + b) / 2, "std": (b - a) / 4, "count": torch.tensor([1000])}

    stats = {"observation.state": stat(state_dim, -2.0, 1.0), "action": stat(action_dim, -1.0, 0.5)}
    for key in images:
        stats[key] = {"mean": torch.full((3, 1, 1), 0.5), "std": torch.full((3, 1, 1), 0.25)}
    features = {**inputs, **outputs}
    pre = PolicyProcessorPipeline(  # their make_vla0_pre_post_processors
        steps=[
            RenameObservationsProcessorStep(rename_map={}),
            AddBatchDimensionProcessorStep(),
            DeviceProcessorStep(device="cpu"),
            NormalizerProcessorStep(features=features, norm_map=NORM_MAP, stats=stats),
        ],
        name="policy_preprocessor",
    )
    post = PolicyProcessorPipeline(
        steps=[
            UnnormalizerProcessorStep(features=outputs, norm_map=NORM_MAP, stats=stats),
            DeviceProcessorStep(device="cpu"),
        ],
        name="policy_postprocessor",
    )
    pre.save_pretrained(root)
    post.save_pretrained(root)
    return root
