"""Convert the authors' LeRobot ``vla0`` checkpoints into ``vla0_smol`` checkpoints.

The blog's authors trained with their own LeRobot policy ``vla0`` (Robot-Learning-Collective/
lerobot-experiments, branch ``balakhnov/rebase_vla0``, ``src/lerobot/policies/vla0/``) and
published its checkpoints (e.g. ``olegbalakhnov/libero_vla0_final``). A checkpoint of theirs is
a LeRobot ``pretrained_model`` folder:

* ``config.json``: ``"type": "vla0"`` and their config fields (``vlm_checkpoint``,
  ``n_state_bins``, ``relative_actions``, ``use_state``, ``crop_shape``, ...);
* ``model.safetensors``: the policy's state dict, ``model.vlm.<SmolVLM key>``; the embedding and
  output layer have one row more than the base tokenizer has tokens, for the ``<MASK_ACT>``
  token their code adds to the tokenizer (and does not save);
* ``policy_preprocessor.json`` / ``policy_postprocessor.json`` and the ``normalizer_processor``
  safetensors with the MIN_MAX statistics of state and action.

:func:`resolve_checkpoint` turns a checkpoint argument (a folder or hub id, theirs or ours) into
a loadable ``vla0_smol`` folder, converting theirs once into a cache folder; it is what the
recipes' ``checkpoint`` parameter and ``vla0-smol demo --checkpoint`` use.
:func:`convert_vla0_checkpoint` writes the same weights as a ``vla0_smol`` checkpoint that
``VLA0SmolPolicy.from_pretrained`` and LeRobot's ``--policy.path`` load: the SmolVLM weights
under ``vlm.``, the base processor with ``<MASK_ACT>`` added as they add it (saved in
``backbone/``), their statistics as the policy's ``action_*``/``state_*`` buffers, and a config
with ``binning="vla0"`` and ``prompt_format="vla0"``, so that the policy normalises, bins, decodes
and prompts with their formulas (:class:`~vla0_smol.tokens.NormalizedBins`,
:class:`~vla0_smol.prompt.PromptBuilder`). ``vla0_conversion.json`` records the source.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import torch
from lerobot.configs.types import FeatureType, PolicyFeature
from lerobot.utils.constants import ACTION, OBS_STATE
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .backbone import PRESETS, load_processor
from .configuration_vla0_smol import VLA0SmolConfig
from .modeling_vla0_smol import BACKBONE_DIR
from .processor_vla0_smol import make_vla0_smol_pre_post_processors

log = logging.getLogger(__name__)

MASK_TOKEN = "<MASK_ACT>"  # the token their code adds to the tokenizer for masked actions
WEIGHTS = "model.safetensors"
PREPROCESSOR = "policy_preprocessor.json"
POSTPROCESSOR = "policy_postprocessor.json"
REQUIRED = ("input_features", "output_features", "chunk_size", "n_state_bins", "vlm_checkpoint")
# Their config fields that a vla0_smol checkpoint cannot use (training loop or generate() settings).
IGNORED = ("max_decoding_steps", "use_cache", "checkpoint_path", "drop_n_last_frames", "start_actions_token")
KNOWN = REQUIRED + IGNORED + (
    "type", "n_obs_steps", "normalization_mapping", "device", "use_amp", "amp_dtype", "push_to_hub", "repo_id",
    "private", "tags", "license", "pretrained_path", "n_action_steps", "ensemble_size", "n_action_bins",
    "optimizer_lr", "optimizer_betas", "optimizer_eps", "optimizer_weight_decay", "scheduler_warmup_steps",
    "scheduler_decay_steps", "scheduler_decay_lr", "precision", "freeze_vision_encoder", "do_image_splitting",
    "relative_actions", "use_state", "grad_clip_norm", "action_mask_aug_per", "action_mask_skip_per", "crop_shape",
)  # fmt: skip


class CheckpointFormatError(ValueError):
    """The source is not a checkpoint of the authors' ``vla0`` policy, or a damaged one."""


def convert_vla0_checkpoint(src: str | Path, dst: str | Path, *, backbone: str | None = None) -> Path:
    """Write the authors' ``vla0`` checkpoint ``src`` as a ``vla0_smol`` checkpoint in ``dst``.

    Args:
        src: their ``pretrained_model`` folder (or a folder holding one), or a hub id.
        dst: the folder to write; must not exist or be empty.
        backbone: the SmolVLM2 their model started from (a hub id, a folder or a preset of
            :mod:`~vla0_smol.backbone`); defaults to their ``vlm_checkpoint``. Only its
            tokenizer, processor and architecture are used, never its weights.

    Returns:
        ``dst``, loadable with ``VLA0SmolPolicy.from_pretrained`` or ``--policy.path``.

    Raises:
        CheckpointFormatError: naming what is missing or inconsistent in ``src``.
    """
    path = resolve_source(src)
    theirs = read_vla0_config(path)
    stats = read_vla0_stats(path)
    weights = read_vla0_weights(path)
    base = backbone or theirs["vlm_checkpoint"]
    processor = vla0_processor(base, path, weights)
    vlm_config = vla0_vlm_config(base, processor, weights)
    check_weights(weights, vlm_config)
    config = vla0_smol_config(theirs, vlm_model_name=str(base))
    if config.robot_state_feature is None:
        raise CheckpointFormatError("input_features has no 'observation.state' (their policy always reads it)")
    for key, n in ((ACTION, config.action_dim), (OBS_STATE, config.robot_state_feature.shape[0])):
        if stats[key]["min"].shape != (n,):
            raise CheckpointFormatError(
                f"{key} statistics have shape {stats[key]['min'].shape}, the config says ({n},)"
            )

    dst = Path(dst)
    if dst.exists() and any(dst.iterdir()):
        raise FileExistsError(f"{dst} exists and is not empty")
    dst.mkdir(parents=True, exist_ok=True)
    config._save_pretrained(dst)
    tensors = dict(weights)  # + the policy's buffers: ranges (their MIN_MAX statistics), batch counter
    if ties_embeddings(vlm_config):  # one tensor, saved once under the name LeRobot's save keeps
        tensors.pop(EMBED)
    for prefix, key in (("action", ACTION), ("state", OBS_STATE)):
        for stat in ("min", "max"):
            tensors[f"{prefix}_{stat}"] = torch.as_tensor(stats[key][stat], dtype=torch.float32)
    tensors["train_batches"] = torch.zeros((), dtype=torch.long)
    save_file({k: v.contiguous() for k, v in tensors.items()}, dst / WEIGHTS, metadata={"format": "pt"})
    processor.save_pretrained(dst / BACKBONE_DIR)
    vlm_config.save_pretrained(dst / BACKBONE_DIR)
    pre, post = make_vla0_smol_pre_post_processors(config, {k: dict(v) for k, v in stats.items()})
    pre.steps[0].rename_map = read_rename_map(path)
    pre.save_pretrained(dst)
    post.save_pretrained(dst)
    record = {"source": str(src), "backbone": str(base), "source_config": theirs, "ignored_fields": list(IGNORED)}
    (dst / "vla0_conversion.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    log.info("converted %s -> %s", src, dst)
    return dst


def resolve_checkpoint(arg: str | Path, cache_dir: str | Path, *, backbone: str | None = None) -> Path:
    """A checkpoint argument (folder or hub id, ``vla0_smol`` or the authors' ``vla0``) -> a loadable folder.

    The one entry point of the recipes, ``vla0-smol demo --checkpoint`` and deployment: a
    ``vla0_smol`` checkpoint is returned as it is; one of the authors' ``vla0`` policy is
    converted (:func:`convert_vla0_checkpoint`) once into ``cache_dir/<name>`` and that folder is
    returned (a finished conversion is reused; an interrupted one is redone).

    Args:
        arg: a ``pretrained_model`` folder, a folder holding one (a run's
            ``checkpoints/last/``, or the run itself), or a hub id such as
            ``olegbalakhnov/libero_vla0_final``.
        cache_dir: where conversions go (e.g. ``results/<profile>/checkpoints``).
        backbone: the SmolVLM2 the authors' model started from (see :func:`convert_vla0_checkpoint`).

    Returns:
        A folder that ``VLA0SmolPolicy.from_pretrained``, :func:`~vla0_smol.training.load_checkpoint`
        and LeRobot's ``--policy.path`` load.

    Raises:
        CheckpointFormatError: not a checkpoint, or one of another policy type.
    """
    path = resolve_source(arg)
    kind = _policy_type(path)
    if kind == "vla0_smol":
        return path
    if kind != "vla0":
        raise CheckpointFormatError(
            f"{path / 'config.json'} is a {kind!r} policy; expected a 'vla0_smol' checkpoint or one of the "
            "authors' 'vla0' policy (converted on the fly)"
        )
    local = Path(arg).exists()  # the same folder reached by two routes shares one conversion
    name = path.resolve().name if local else str(arg).replace("/", "--")
    key = hashlib.sha1(f"{path.resolve() if local else arg}|{backbone}".encode()).hexdigest()[:8]
    dst = Path(cache_dir) / f"vla0_{name}_{key}"
    if (dst / "vla0_conversion.json").is_file():  # written last: the conversion finished
        log.info("using the conversion of %s in %s", arg, dst)
        return dst
    tmp = dst.with_name(dst.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    convert_vla0_checkpoint(path, tmp, backbone=backbone)
    record = json.loads((tmp / "vla0_conversion.json").read_text())
    (tmp / "vla0_conversion.json").write_text(json.dumps({**record, "source": str(arg)}, indent=2, default=str))
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)
    return dst


def _policy_type(path: Path) -> str | None:
    try:
        config = json.loads((path / "config.json").read_text())
    except json.JSONDecodeError as err:
        raise CheckpointFormatError(f"{path / 'config.json'} is not valid JSON: {err}") from err
    return config.get("type") if isinstance(config, dict) else None


def resolve_source(src: str | Path) -> Path:
    """The folder holding ``config.json``: ``src``, a checkpoint folder under it, or a hub download."""
    path = Path(src)
    if not path.is_dir():
        if path.exists() or str(src).startswith((".", "/")) or str(src).count("/") != 1:
            raise CheckpointFormatError(f"{src!r} is neither a checkpoint folder nor a hub id (owner/name)")
        from huggingface_hub import snapshot_download

        patterns = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja"]
        path = Path(snapshot_download(str(src), allow_patterns=patterns))
    candidates = (path, path / "pretrained_model", path / "last" / "pretrained_model")
    for candidate in (*candidates, path / "checkpoints" / "last" / "pretrained_model"):
        if (candidate / "config.json").is_file():
            return candidate
    raise CheckpointFormatError(
        f"{src} has no config.json (nor pretrained_model/, last/pretrained_model/ "
        "or checkpoints/last/pretrained_model/)"
    )


def read_vla0_config(path: Path) -> dict:
    """Their ``config.json``, checked: a ``vla0`` policy with the fields a conversion needs."""
    try:
        theirs = json.loads((path / "config.json").read_text())
    except json.JSONDecodeError as err:
        raise CheckpointFormatError(f"{path / 'config.json'} is not valid JSON: {err}") from err
    kind = theirs.get("type") if isinstance(theirs, dict) else None
    if kind != "vla0":
        hint = " (already a vla0_smol checkpoint: load it directly)" if kind == "vla0_smol" else ""
        raise CheckpointFormatError(
            f"{path / 'config.json'} is a {kind!r} policy, not the authors' 'vla0'{hint}; this converter reads "
            "checkpoints of Robot-Learning-Collective/lerobot-experiments' vla0 policy"
        )
    missing = [k for k in REQUIRED if k not in theirs]
    if missing:
        raise CheckpointFormatError(f"{path / 'config.json'} lacks the fields {missing}")
    unknown = sorted(set(theirs) - set(KNOWN))
    if unknown:
        log.warning("config.json has fields this converter does not know and ignores: %s", unknown)
    modes = theirs.get("normalization_mapping", {"STATE": "MIN_MAX", "ACTION": "MIN_MAX", "VISUAL": "IDENTITY"})
    want = {"STATE": "MIN_MAX", "ACTION": "MIN_MAX", "VISUAL": "IDENTITY"}
    if {k: modes.get(k) for k in want} != want:
        raise CheckpointFormatError(f"normalization_mapping {modes} is not the vla0 default {want}")
    if theirs.get("do_image_splitting"):
        raise CheckpointFormatError("do_image_splitting=true (sub-images) is not reproduced by vla0_smol")
    if theirs.get("n_obs_steps", 1) != 1:
        raise CheckpointFormatError(f"n_obs_steps={theirs['n_obs_steps']}: vla0 and vla0_smol use 1")
    for key in ("input_features", "output_features"):
        for name, feature in theirs[key].items():
            if not isinstance(feature, dict) or "type" not in feature or "shape" not in feature:
                raise CheckpointFormatError(f"{key}.{name} must be {{'type': ..., 'shape': [...]}}, got {feature!r}")
    return theirs


def read_vla0_stats(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """MIN_MAX statistics of state and action from their preprocessor's normaliser step."""
    step, folder = _normalizer_step(path, PREPROCESSOR, "normalizer_processor")
    norm_map = step.get("config", {}).get("norm_map", {})
    if norm_map.get("STATE") != "MIN_MAX" or norm_map.get("ACTION") != "MIN_MAX":
        raise CheckpointFormatError(f"{PREPROCESSOR}: the normaliser's norm_map is {norm_map}, vla0 uses MIN_MAX")
    flat = load_file(str(folder / step["state_file"]))
    stats = {}
    for key in (OBS_STATE, ACTION):
        for stat in ("min", "max"):
            if f"{key}.{stat}" not in flat:
                raise CheckpointFormatError(f"{step['state_file']} has no '{key}.{stat}' (MIN_MAX statistics)")
            stats.setdefault(key, {})[stat] = flat[f"{key}.{stat}"].to(torch.float32).numpy()
    if (path / POSTPROCESSOR).is_file():  # their unnormaliser must hold the same action statistics
        post, _ = _normalizer_step(path, POSTPROCESSOR, "unnormalizer_processor")
        flat = load_file(str(folder / post["state_file"]))
        for stat in ("min", "max"):
            other = flat.get(f"{ACTION}.{stat}")
            if other is None or not np.array_equal(other.to(torch.float32).numpy(), stats[ACTION][stat]):
                raise CheckpointFormatError(f"{POSTPROCESSOR} and {PREPROCESSOR} disagree on the action {stat}")
    return stats


def _normalizer_step(path: Path, filename: str, registry_name: str) -> tuple[dict, Path]:
    file = path / filename
    if not file.is_file():
        raise CheckpointFormatError(
            f"{path} has no {filename}: the MIN_MAX statistics live in LeRobot's processor files, "
            "which lerobot-train saves next to config.json"
        )
    steps = json.loads(file.read_text()).get("steps", [])
    found = [s for s in steps if s.get("registry_name") == registry_name]
    if len(found) != 1 or "state_file" not in found[0]:
        raise CheckpointFormatError(f"{filename} has no {registry_name} step with a state_file")
    if not (path / found[0]["state_file"]).is_file():
        raise CheckpointFormatError(f"{filename} names {found[0]['state_file']}, which is not in {path}")
    return found[0], path


def read_rename_map(path: Path) -> dict[str, str]:
    """The observation renames of their preprocessor (``{}`` as their code writes it)."""
    steps = json.loads((path / PREPROCESSOR).read_text()).get("steps", [])
    renames = [s for s in steps if s.get("registry_name") == "rename_observations_processor"]
    return dict(renames[0].get("config", {}).get("rename_map", {})) if renames else {}


def read_vla0_weights(path: Path) -> dict[str, torch.Tensor]:
    """Their ``model.safetensors``, ``model.vlm.*`` keys renamed to this policy's ``vlm.*``."""
    file = path / WEIGHTS
    if not file.is_file():
        raise CheckpointFormatError(f"{path} has no {WEIGHTS}")
    with safe_open(str(file), framework="pt") as f:
        keys = list(f.keys())
    stray = [k for k in keys if not k.startswith("model.vlm.")]
    if stray or not keys:
        raise CheckpointFormatError(
            f"{WEIGHTS} holds keys outside 'model.vlm.' ({stray[:5]}{' ...' if len(stray) > 5 else ''}): "
            "not a vla0 policy's state dict"
        )
    return {"vlm." + k.removeprefix("model.vlm."): v for k, v in load_file(str(file)).items()}


EMBED, LM_HEAD = "vlm.model.text_model.embed_tokens.weight", "vlm.lm_head.weight"


def embedding_rows(weights: dict[str, torch.Tensor]) -> int:
    """Rows of the token embedding: the input embedding's, or the output head's when only it was saved.

    With tied word embeddings the two are one tensor, and their ``save_model`` (safetensors,
    which keeps one name of tensors sharing memory, the first in sorted order) writes only
    ``model.vlm.lm_head.weight``.
    """
    key = EMBED if EMBED in weights else LM_HEAD
    if key not in weights:
        raise CheckpointFormatError(f"{WEIGHTS} has no model.vlm.model.text_model.embed_tokens.weight")
    return weights[key].shape[0]


def vla0_processor(base: str, path: Path, weights: dict[str, torch.Tensor]):
    """The base model's processor with ``<MASK_ACT>`` added as their code adds it, checked against the weights.

    A tokenizer saved in the checkpoint folder (if any) replaces the base one.
    """
    processor = load_processor(base)
    if (path / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        processor.tokenizer = AutoTokenizer.from_pretrained(str(path))
    tok = processor.tokenizer
    if MASK_TOKEN not in tok.get_vocab():
        tok.add_tokens([MASK_TOKEN], special_tokens=True)  # as their VLA0.__init__ does
    rows, mask_id = embedding_rows(weights), tok.convert_tokens_to_ids(MASK_TOKEN)
    if len(tok) != rows or mask_id != rows - 1:
        raise CheckpointFormatError(
            f"the checkpoint's embedding has {rows} rows, but {base!r}'s tokenizer with {MASK_TOKEN} has "
            f"{len(tok)} tokens ({MASK_TOKEN} = id {mask_id}): the weights were not trained on this tokenizer "
            "(pass the SmolVLM2 they started from as backbone)"
        )
    return processor


def vla0_vlm_config(base: str, processor, weights: dict[str, torch.Tensor]):
    """The base model's config with the vocabulary resized to the checkpoint's embedding."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(PRESETS.get(base, base)))
    if base == "smolvlm2-500m-random":  # the offline tokenizer's image token (see backbone.load_vlm)
        config.image_token_id = processor.image_token_id
    if config.image_token_id != processor.image_token_id:
        raise CheckpointFormatError(
            f"{base!r}: config image_token_id {config.image_token_id} != tokenizer's {processor.image_token_id}"
        )
    config.text_config.vocab_size = embedding_rows(weights)  # what their resize_token_embeddings did
    return config


def ties_embeddings(vlm_config) -> bool:
    """Whether the backbone's input embedding and output head are one tensor."""
    return bool(vlm_config.tie_word_embeddings or getattr(vlm_config.text_config, "tie_word_embeddings", False))


def check_weights(weights: dict[str, torch.Tensor], vlm_config) -> None:
    """Every key and shape of the SmolVLM that ``vlm_config`` builds, and nothing else."""
    from transformers import AutoModelForImageTextToText

    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(vlm_config)
    expected = {f"vlm.{k}": tuple(v.shape) for k, v in model.state_dict().items()}
    if ties_embeddings(vlm_config):  # one tensor saved under one of its names: both filled (copies, for saving)
        for have, lack in ((EMBED, LM_HEAD), (LM_HEAD, EMBED)):
            if lack in expected and lack not in weights and have in weights:
                weights[lack] = weights[have].clone()
    elif EMBED not in weights and LM_HEAD in weights:
        raise CheckpointFormatError(
            f"{WEIGHTS} has the output head but no input embedding (model.vlm.lm_head.weight alone), "
            "which is how tied word embeddings are saved, but the backbone does not tie them: pass the "
            "backbone their model was trained from"
        )
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    shapes = [
        f"{k}: {tuple(weights[k].shape)} != {shape}"
        for k, shape in expected.items()
        if k in weights and tuple(weights[k].shape) != shape
    ]
    if missing or unexpected or shapes:
        raise CheckpointFormatError(
            "the weights do not match the backbone's architecture: "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}, shape mismatches {shapes[:5]} "
            f"({len(missing)}, {len(unexpected)}, {len(shapes)} in all; wrong backbone?)"
        )


def vla0_smol_config(theirs: dict, **overrides) -> VLA0SmolConfig:
    """The ``vla0_smol`` config that reproduces their policy (see the module docstring)."""

    def features(group: str) -> dict[str, PolicyFeature]:
        return {
            k: PolicyFeature(type=FeatureType(v["type"]), shape=tuple(v["shape"])) for k, v in theirs[group].items()
        }

    chunk = int(theirs["chunk_size"])
    bins = int(theirs["n_state_bins"])
    if theirs.get("n_action_bins", bins) != bins:
        log.warning("n_action_bins=%s is unused by their code, which bins actions with n_state_bins=%d too",
                    theirs["n_action_bins"], bins)  # fmt: skip
    ensemble = int(theirs.get("ensemble_size", 0) or 0)
    if 1 < ensemble < chunk:
        log.warning("ensemble_size=%d < chunk_size=%d: vla0_smol averages all %d overlapping predictions",
                    ensemble, chunk, chunk)  # fmt: skip
    steps = int(theirs.get("n_action_steps") or chunk)
    amp = bool(theirs.get("use_amp")) and theirs.get("amp_dtype", "bf16") == "bf16"
    crop = theirs.get("crop_shape")
    fields = dict(
        input_features=features("input_features"),
        output_features=features("output_features"),
        chunk_size=chunk,
        n_action_steps=min(max(steps, 1), chunk),
        execution="temporal" if ensemble > 1 else "chunk",
        num_bins=bins,
        use_state=bool(theirs.get("use_state", False)),
        relative_actions=bool(theirs.get("relative_actions", False)),
        crop_shape=tuple(crop) if crop else None,
        freeze_vision_encoder=bool(theirs.get("freeze_vision_encoder", True)),
        dtype="bfloat16" if amp or theirs.get("precision") == "bfloat16" else "float32",
        binning="vla0",
        prompt_format="vla0",
        image_interpolation="bicubic",  # SmolVLM's fast image processor resizes LANCZOS -> BICUBIC on tensors
        mask_token=MASK_TOKEN,
        masking="whole",
        mask_max_fraction=float(theirs.get("action_mask_aug_per", 0.1)),
        mask_skip_prob=float(theirs.get("action_mask_skip_per", 0.1)),
        push_to_hub=False,
    )
    for ours, key in (
        ("optimizer_lr", "optimizer_lr"),
        ("optimizer_eps", "optimizer_eps"),
        ("optimizer_weight_decay", "optimizer_weight_decay"),
        ("optimizer_grad_clip_norm", "grad_clip_norm"),
        ("scheduler_warmup_steps", "scheduler_warmup_steps"),
        ("scheduler_decay_steps", "scheduler_decay_steps"),
        ("scheduler_decay_lr", "scheduler_decay_lr"),
    ):
        if key in theirs:
            fields[ours] = theirs[key]
    if "optimizer_betas" in theirs:
        fields["optimizer_betas"] = tuple(theirs["optimizer_betas"])
    fields.update(overrides)
    config = VLA0SmolConfig(**fields)
    try:
        config.validate_features()
    except ValueError as err:
        raise CheckpointFormatError(f"their features do not make a vla0_smol policy: {err}") from err
    return config
