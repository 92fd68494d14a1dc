"""Converting the authors' LeRobot ``vla0`` checkpoints, without a download.

A checkpoint is fabricated in their on-disk format (``vla0_checkpoints.fabricate_vla0_checkpoint``:
what LeRobot's ``save_pretrained`` writes for their ``VLA0Policy``), from the tiny preset's
architecture with random weights. The reference formulas below restate theirs (``modeling_vla0.py`` of
Robot-Learning-Collective/lerobot-experiments, branch ``balakhnov/rebase_vla0``); normalisation
is LeRobot's own processor, loaded from the fabricated files, as their pipeline runs it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from lerobot.configs.types import FeatureType, PolicyFeature
from lerobot.processor import (
    NormalizerProcessorStep,
    PolicyProcessorPipeline,
    UnnormalizerProcessorStep,
)
from safetensors.torch import load_file, save_file
from vla0_checkpoints import NORM_MAP, fabricate_vla0_checkpoint

from vla0_smol import VLA0SmolPolicy
from vla0_smol import modeling_vla0_smol as modeling
from vla0_smol.backbone import PRESETS, load_processor
from vla0_smol.convert import MASK_TOKEN, CheckpointFormatError, convert_vla0_checkpoint, resolve_checkpoint
from vla0_smol.tokens import EPS, NormalizedBins

TASK = "Put_the bowl on the Plate "


def their_normalizer(root) -> NormalizerProcessorStep:
    pre = PolicyProcessorPipeline.from_pretrained(root, config_filename="policy_preprocessor.json")
    return next(s for s in pre.steps if isinstance(s, NormalizerProcessorStep))


def their_unnormalize(root, actions: torch.Tensor) -> torch.Tensor:
    post = PolicyProcessorPipeline.from_pretrained(root, config_filename="policy_postprocessor.json")
    step = next(s for s in post.steps if isinstance(s, UnnormalizerProcessorStep))
    return step._apply_transform(actions, "action", FeatureType.ACTION, inverse=True)


def their_bins(normalised: torch.Tensor, n: int) -> torch.Tensor:
    """Their create_prefix_tokens: bucketize against the EPS-widened linspace, minus one."""
    edges = torch.linspace(-1.0 - EPS, 1.0 + EPS, n + 1)[:-1]
    return torch.bucketize(normalised, edges) - 1


def their_centres(discretized: torch.Tensor, n: int) -> torch.Tensor:
    """Their generate_actions: bin centres of the same linspace."""
    edges = torch.linspace(-1.0 - EPS, 1.0 + EPS, n + 1)
    return (0.5 * (edges[:-1] + edges[1:]))[discretized.clamp(0, n - 1)]


def their_actions(root, texts: list[str], state: torch.Tensor, relative: bool, n: int, dim: int) -> torch.Tensor:
    """Raw actions their policy and postprocessor return for generated texts and raw states."""
    discretized = torch.stack([torch.tensor([int(a) for a in t.strip().split()]) for t in texts]).reshape(
        len(texts), -1, dim
    )
    actions = their_centres(discretized, n)
    if relative:
        state_n = their_normalizer(root)._apply_transform(state, "observation.state", FeatureType.STATE)
        actions = actions + state_n.unsqueeze(1)
    return their_unnormalize(root, actions)


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """(their folder, our folder) for absolute and relative actions."""
    out = {}
    for relative in (False, True):
        base = tmp_path_factory.mktemp(f"vla0_rel{int(relative)}")
        dims = dict(state_dim=3, action_dim=3) if relative else {}
        src = fabricate_vla0_checkpoint(base / "theirs", relative=relative, **dims)
        out[relative] = (src, convert_vla0_checkpoint(src, base / "ours"))
    return out


@pytest.fixture(scope="module")
def policies(converted):
    return {rel: VLA0SmolPolicy.from_pretrained(dst, strict=True) for rel, (_, dst) in converted.items()}


def random_texts(rng, count, values, n):
    """Action strings as their grammar writes them, from random bins and every edge value."""
    picks = rng.integers(0, n, size=(count, values))
    picks[0], picks[1], picks[2, ::2] = 0, n - 1, n // 2
    return [" " + " ".join(map(str, row)) for row in picks]


def observation(policy, state: torch.Tensor) -> dict:
    b = state.shape[0]
    batch = {k: torch.rand(b, 3, 96, 96) for k in policy.config.image_keys}
    return {**batch, "observation.state": state, "task": [TASK] * b}


# ----------------------------------------------------------------------------- the binning
def test_normalized_bins_equal_their_formulas_on_random_and_edge_values():
    g = torch.Generator().manual_seed(0)
    for n in (2, 7, 256, 512, 1000):
        low = torch.tensor([-3.0, 0.0, 10.0, 5.0])
        high = torch.tensor([2.0, 1e-3, 10.5, 5.0])  # last dim constant: LeRobot's eps replaces 0
        nb = NormalizedBins(low.numpy(), high.numpy(), n)
        step = NormalizerProcessorStep(
            features={"action": PolicyFeature(FeatureType.ACTION, (4,))},
            norm_map=NORM_MAP,
            stats={"action": {"min": low, "max": high}},
        )
        raw = low - 0.2 * (high - low) + 1.4 * (high - low + 1e-3) * torch.rand(20_000, 4, generator=g)
        edges = torch.linspace(-1.0 - EPS, 1.0 + EPS, n + 1)
        # values on, just below and just above every edge, in normalised units, and back to raw
        on_edges = torch.cat([edges, torch.nextafter(edges, edges - 1), torch.nextafter(edges, edges + 1)])
        raw_edges = nb.unnormalize(on_edges[:, None].expand(-1, 4).contiguous())
        for x in (raw, raw_edges, low[None], high[None]):
            normalised = step._apply_transform(x, "action", FeatureType.ACTION)
            assert torch.equal(nb.normalize(x), normalised)  # bit for bit: LeRobot's float32 formula
            theirs = their_bins(normalised, n)
            ours = torch.from_numpy(nb.to_bins(x.numpy()))
            # the one deliberate difference: below the range they write -1 (unparseable), we write 0
            assert torch.equal(ours, theirs.clamp(min=0)), n
            assert theirs.max() <= n - 1 and theirs.min() >= -1
        all_bins = torch.arange(n)[:, None].expand(-1, 4)
        back = step._apply_transform(their_centres(all_bins, n), "action", FeatureType.ACTION, inverse=True)
        assert torch.equal(torch.from_numpy(nb.from_bins(all_bins.numpy())).float(), back)


def test_normalized_bins_relative_offset_is_in_normalised_units():
    nb = NormalizedBins([0.0, -1.0], [10.0, 1.0], 64)
    x, offset = np.array([[7.5, 0.25]]), np.array([0.5, -0.5])
    n = nb.normalize(x) - torch.tensor(offset, dtype=torch.float32)
    assert (nb.to_bins(x, offset) == their_bins(n, 64).numpy()).all()
    bins = nb.to_bins(x, offset)
    want = nb.unnormalize(their_centres(torch.from_numpy(bins), 64) + torch.tensor(offset, dtype=torch.float32))
    assert np.array_equal(nb.from_bins(bins, offset), want.double().numpy())


# ----------------------------------------------------------------------------- conversion
def test_converted_checkpoint_loads_strictly_with_their_weights_and_stats(converted, policies):
    src, dst = converted[False]
    policy = policies[False]
    cfg = policy.config
    assert (cfg.type, cfg.binning, cfg.prompt_format, cfg.mask_token) == ("vla0_smol", "vla0", "vla0", MASK_TOKEN)
    assert (cfg.chunk_size, cfg.num_bins, cfg.use_state, cfg.relative_actions) == (4, 512, True, False)
    assert cfg.crop_shape == (86, 86) and cfg.image_interpolation == "bicubic"
    assert list(cfg.input_features) == ["observation.images.image", "observation.images.image2", "observation.state"]
    theirs = load_file(str(src / "model.safetensors"))
    ours = policy.state_dict()
    assert len(theirs) == sum(k.startswith("vlm.") for k in ours)
    for key, value in theirs.items():
        assert torch.equal(ours["vlm." + key.removeprefix("model.vlm.")], value), key
    tok = policy.processor.tokenizer
    rows = theirs["model.vlm.model.text_model.embed_tokens.weight"].shape[0]
    assert len(tok) == rows == policy.vlm.config.text_config.vocab_size == policy.grammar.vocab_size
    assert policy.mask_id == tok.convert_tokens_to_ids(MASK_TOKEN) == rows - 1
    normalizer = their_normalizer(src)
    for ours_key, key in (("action", "action"), ("state", "observation.state")):
        for stat in ("min", "max"):
            want = normalizer._tensor_stats[key][stat]
            assert torch.equal(getattr(policy, f"{ours_key}_{stat}").float(), want)
    record = json.loads((dst / "vla0_conversion.json").read_text())
    assert record["source_config"]["type"] == "vla0"


def test_lerobot_tools_load_the_converted_checkpoint(converted):
    """What ``--policy.path`` does: config by type, then the processors saved next to it."""
    from lerobot.configs.policies import PreTrainedConfig
    from lerobot.policies.factory import make_pre_post_processors

    _, dst = converted[False]
    cfg = PreTrainedConfig.from_pretrained(dst)
    assert cfg.type == "vla0_smol" and cfg.binning == "vla0"
    pre, post = make_pre_post_processors(cfg, pretrained_path=str(dst))
    state = torch.rand(8)
    out = pre({"observation.state": state, "observation.images.image": torch.rand(3, 96, 96), "task": TASK})
    assert torch.equal(out["observation.state"][0], state)  # identity: the policy normalises itself
    assert torch.equal(post(torch.ones(1, 7)), torch.ones(1, 7))


@pytest.mark.parametrize("relative", [False, True])
def test_decoded_actions_equal_their_formulas_on_many_strings(converted, policies, relative, monkeypatch):
    """The converted policy returns, for the same generated text, the actions their code returns."""
    src, _ = converted[relative]
    policy = policies[relative]
    n, h, d = policy.config.num_bins, policy.config.chunk_size, policy.config.action_dim
    rng = np.random.default_rng(int(relative))
    tok = policy.processor.tokenizer
    lo, hi = policy.state_min.float(), policy.state_max.float()
    for _ in range(4):
        texts = random_texts(rng, 64, h * d, n)
        state = lo + (hi - lo) * torch.rand(64, lo.numel(), generator=torch.Generator().manual_seed(len(texts)))
        state[0] = lo  # the statistics' own edges
        state[1] = hi
        ids = [tok.encode(t.strip(), add_special_tokens=False) + [policy.prompts.eot_id] for t in texts]
        monkeypatch.setattr(modeling, "decode", lambda *a, _ids=ids, **k: (_ids, None))
        ours = policy.predict_action_chunk(observation(policy, state))
        want = their_actions(src, texts, state, relative, n, d)
        assert torch.equal(ours, want), (ours - want).abs().max()
    assert policy.invalid_chunks == 0


def test_prompt_equals_their_prompt_token_for_token(converted, policies):
    """Their chat template, state bins and processor call; plus the space they generate first."""
    src, _ = converted[False]
    policy = policies[False]
    processor = policy.processor
    normalizer = their_normalizer(src)
    g = torch.Generator().manual_seed(0)
    lo, hi = policy.state_min.float(), policy.state_max.float()
    checked = 0
    for i in range(40):
        state = lo + (hi - lo) * (1.04 * torch.rand(1, lo.numel(), generator=g) - 0.02)
        state_n = normalizer._apply_transform(state, "observation.state", FeatureType.STATE)
        disc = their_bins(state_n, policy.config.num_bins)[0]
        if (disc < 0).any():  # below the range: they write -1, which we clip (tested above)
            continue
        task = TASK if i % 2 else "pick UP the_cup"
        text = f"Task: {task.lower().strip().replace('_', ' ')}, State: {' '.join(map(str, disc.tolist()))}, Actions: "
        content = [{"type": "image"}, {"type": "image"}, {"type": "text", "text": text}]
        prompt = processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True)
        crops = [torch.rand(3, 86, 86), torch.rand(3, 86, 86)]
        want = processor(images=[crops], text=[prompt], return_tensors="pt")["input_ids"][0].tolist()
        state_bins = policy.state_tokenizer.to_bins(state.double().numpy())[0]
        ours = policy.prompts.build(task, state_bins).input_ids.tolist()
        assert ours == want + [policy.table.sep_id]
        checked += 1
    assert checked >= 20


def test_images_equal_their_image_processor(policies):
    """Centre crop, then SmolVLM's image processor (resize to the encoder's side, normalise).

    Theirs is ``SmolVLMImageProcessorFast`` of transformers 4 (patched in), the torchvision backend
    that transformers 5 names ``SmolVLMImageProcessor``: LANCZOS falls back to BICUBIC on tensors.
    """
    from transformers.models.smolvlm.image_processing_smolvlm import SmolVLMImageProcessor

    policy = policies[False]
    img = torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    batch = {k: img for k in policy.config.image_keys}
    ours = policy._images(batch)[0, 0]
    crop = img[0, :, 5:91, 5:91]  # torchvision's CenterCrop(86) of 96: top = round(5.0)
    fast = SmolVLMImageProcessor.from_pretrained(str(PRESETS["tiny"]))
    theirs = fast(images=[[crop]], do_resize=False, do_rescale=False, return_tensors="pt")["pixel_values"][0, 0]
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)


def test_grammar_and_fast_decoder_work_with_the_added_token(policies):
    policy = policies[True]
    assert policy.grammar.vocab_size == len(policy.processor.tokenizer)
    matcher = policy.grammar.matcher()
    mask = policy.grammar.allocate_bitmask(1)
    matcher.fill_next_token_bitmask(mask, 0)
    allowed = np.flatnonzero(np.unpackbits(mask[0].numpy().view(np.uint8), bitorder="little"))
    assert policy.mask_id not in allowed and allowed.size > 0
    state = torch.rand(3, policy.config.robot_state_feature.shape[0])
    obs = observation(policy, state)
    torch.manual_seed(0)
    fast = policy.predict_action_chunk(obs, decoder="fast")
    hf = policy.predict_action_chunk(obs, decoder="hf")
    assert torch.equal(fast, hf) and torch.isfinite(fast).all()
    assert policy.invalid_chunks == 0


def test_converted_policy_trains_on_their_bins(policies):
    """Fine-tuning: the action targets are their integers (relative in normalised units)."""
    policy = policies[True]
    d = policy.config.action_dim
    g = torch.Generator().manual_seed(1)
    lo, hi = policy.action_min.float(), policy.action_max.float()
    s_lo, s_hi = policy.state_min.float(), policy.state_max.float()
    state = s_lo + (s_hi - s_lo) * torch.rand(2, d, generator=g)
    actions = lo + (hi - lo) * torch.rand(2, policy.config.chunk_size, d, generator=g)
    nb_a, nb_s = policy.action_tokenizer, policy.state_tokenizer
    want = their_bins(nb_a.normalize(actions) - nb_s.normalize(state).unsqueeze(1), policy.config.num_bins)
    captured = []
    real = policy.table.encode
    policy.table.encode = lambda bins: captured.append(np.asarray(bins)) or real(bins)
    try:
        batch = observation(policy, state)
        batch.update(action=actions, action_is_pad=torch.zeros(2, policy.config.chunk_size, dtype=torch.bool))
        policy.train()
        loss, _ = policy.forward(batch)
    finally:
        policy.table.encode = real
        policy.eval()
    assert torch.isfinite(loss)
    chunks = [c for c in captured if c.shape == (policy.config.chunk_size, d)]  # not the state's bins
    assert np.array_equal(np.stack(chunks), want.clamp(min=0).numpy())


def test_converts_from_a_backbone_name_and_a_saved_tokenizer(tmp_path):
    src = fabricate_vla0_checkpoint(tmp_path / "theirs", seed=1)
    config = json.loads((src / "config.json").read_text())
    config["vlm_checkpoint"] = "HuggingFaceTB/SmolVLM2-500M-Video-Instruct"  # as theirs; offline: backbone=
    (src / "config.json").write_text(json.dumps(config))
    tokenizer = load_processor("tiny").tokenizer
    tokenizer.add_tokens([MASK_TOKEN], special_tokens=True)
    tokenizer.save_pretrained(src)  # a checkpoint that ships its tokenizer
    dst = convert_vla0_checkpoint(src, tmp_path / "ours", backbone="tiny")
    policy = VLA0SmolPolicy.from_pretrained(dst, strict=True)
    assert policy.config.vlm_model_name == "tiny" and policy.mask_id == len(tokenizer) - 1


# ----------------------------------------------------------------------------- errors
def _break(src, what):
    cfg = json.loads((src / "config.json").read_text())
    if what == "type":
        cfg["type"] = "smolvla"
    elif what == "ours":
        cfg["type"] = "vla0_smol"
    elif what == "field":
        del cfg["n_state_bins"]
    elif what == "norm":
        cfg["normalization_mapping"]["ACTION"] = "MEAN_STD"
    elif what == "preprocessor":
        (src / "policy_preprocessor.json").unlink()
    elif what == "stats":
        file = src / "policy_preprocessor_step_3_normalizer_processor.safetensors"
        flat = load_file(str(file))
        del flat["action.min"]
        save_file(flat, file)
    elif what in ("stray", "missing", "rows"):
        file = src / "model.safetensors"
        w = load_file(str(file))
        if what == "stray":
            w["model.action_head.weight"] = torch.zeros(2)
        elif what == "missing":
            del w["model.vlm.model.text_model.norm.weight"]
        else:  # trained without the extra token row
            for k in ("model.vlm.model.text_model.embed_tokens.weight", "model.vlm.lm_head.weight"):
                w[k] = w[k][:-1].contiguous()
        save_file(w, file)
    (src / "config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize(
    ("what", "message"),
    [
        ("type", "'smolvla' policy, not the authors' 'vla0'"),
        ("ours", "already a vla0_smol checkpoint"),
        ("field", "lacks the fields ['n_state_bins']"),
        ("norm", "normalization_mapping"),
        ("preprocessor", "has no policy_preprocessor.json"),
        ("stats", "has no 'action.min'"),
        ("stray", "keys outside 'model.vlm.' (['model.action_head.weight'])"),
        ("missing", "missing ['vlm.model.text_model.norm.weight']"),
        ("rows", "embedding has 444 rows"),
    ],
)
def test_malformed_checkpoints_are_refused_naming_the_problem(tmp_path, what, message):
    src = fabricate_vla0_checkpoint(tmp_path / "theirs")
    _break(src, what)
    with pytest.raises(CheckpointFormatError) as err:
        convert_vla0_checkpoint(src, tmp_path / "ours")
    assert message in str(err.value)
    assert not (tmp_path / "ours").exists()


def test_refuses_a_folder_that_is_no_checkpoint_and_a_non_empty_destination(tmp_path, converted):
    with pytest.raises(CheckpointFormatError, match="has no config.json"):
        convert_vla0_checkpoint(tmp_path, tmp_path / "ours")
    src, dst = converted[False]
    with pytest.raises(FileExistsError):
        convert_vla0_checkpoint(src, dst)


def test_resolve_checkpoint_converts_theirs_once_and_passes_ours_through(tmp_path, converted, monkeypatch):
    src, dst = converted[False]
    cache = tmp_path / "cache"
    run = tmp_path / "run" / "checkpoints" / "last"  # their lerobot-train run folder
    run.mkdir(parents=True)
    (run / "pretrained_model").symlink_to(src)
    first = resolve_checkpoint(tmp_path / "run", cache)
    assert first.parent == cache and (first / "vla0_conversion.json").is_file()
    assert not list(cache.glob("*.partial"))
    assert json.loads((first / "config.json").read_text())["type"] == "vla0_smol"
    assert (first / "model.safetensors").read_bytes() == (dst / "model.safetensors").read_bytes()
    calls = []
    monkeypatch.setattr("vla0_smol.convert.convert_vla0_checkpoint", lambda *a, **k: calls.append(a))
    assert resolve_checkpoint(src, cache) == first and not calls  # cached: not converted again
    assert resolve_checkpoint(first, cache) == first  # a vla0_smol checkpoint: as it is


def test_resolve_checkpoint_redoes_an_interrupted_conversion_and_refuses_other_policies(tmp_path, converted):
    src, _ = converted[False]
    cache = tmp_path / "cache"
    first = resolve_checkpoint(src, cache)
    (first / "vla0_conversion.json").unlink()  # written last: its absence means an interrupted conversion
    (first / "model.safetensors").write_bytes(b"truncated")
    again = resolve_checkpoint(src, cache)
    assert again == first and (again / "vla0_conversion.json").is_file()
    VLA0SmolPolicy.from_pretrained(again)
    other = tmp_path / "act"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"type": "act"}))
    with pytest.raises(CheckpointFormatError, match="'act' policy"):
        resolve_checkpoint(other, cache)
    with pytest.raises(CheckpointFormatError, match="neither a checkpoint folder nor a hub id"):
        resolve_checkpoint(tmp_path / "missing", cache)


# ----------------------------------------------------------------------------- held-out edge cases
@pytest.mark.parametrize("margin", [(0, 0), (1, 2), (3, 3), (5, 6), (7, 11)], ids=lambda m: f"{m[0]}x{m[1]}")
def test_centre_crop_offset_is_torchvisions(policies, margin):
    """Their evaluation crop is torchvision's ``CenterCrop``: offset ``int(round(margin / 2))``
    (round half to even), which is not ``margin // 2`` when the margin is 3 mod 4."""
    from torchvision.transforms.functional import center_crop

    policy = policies[False]
    img = torch.rand(2, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    size = (96 - margin[0], 96 - margin[1])
    before = policy.config.crop_shape
    policy.config.crop_shape = size
    try:
        ours = policy._crop(img, "observation.images.image")
    finally:
        policy.config.crop_shape = before
    assert torch.equal(ours, center_crop(img, list(size)))


def _tied_backbone(folder):
    """The tiny preset with tied word embeddings (input embedding and output head one tensor)."""
    import shutil

    shutil.copytree(PRESETS["tiny"], folder)
    config = json.loads((folder / "config.json").read_text())
    config["tie_word_embeddings"] = config["text_config"]["tie_word_embeddings"] = True
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder


def test_tied_word_embeddings_saved_as_lm_head_alone_are_converted(tmp_path):
    """Their ``save_model`` (safetensors) keeps one name of tensors sharing memory, the first in sorted
    order: a backbone with tied word embeddings leaves ``model.vlm.lm_head.weight`` alone in the file."""
    from safetensors.torch import save_model

    from vla0_smol.backbone import load_vlm

    backbone = _tied_backbone(tmp_path / "tiny_tied")
    src = fabricate_vla0_checkpoint(tmp_path / "theirs")
    torch.manual_seed(3)
    vlm = load_vlm(str(backbone))
    vlm.resize_token_embeddings(len(load_processor("tiny").tokenizer) + 1, mean_resizing=False)  # + <MASK_ACT>
    head, embed = vlm.lm_head.weight, vlm.model.text_model.embed_tokens.weight
    assert head.data_ptr() == embed.data_ptr()  # tied: one tensor
    theirs = torch.nn.Module()
    theirs.model = torch.nn.Module()
    theirs.model.vlm = vlm
    save_model(theirs, str(src / "model.safetensors"))  # what their policy's save_pretrained calls
    saved = load_file(str(src / "model.safetensors"))
    assert "model.vlm.lm_head.weight" in saved and "model.vlm.model.text_model.embed_tokens.weight" not in saved

    dst = convert_vla0_checkpoint(src, tmp_path / "ours", backbone=str(backbone))
    policy = VLA0SmolPolicy.from_pretrained(dst, strict=True)
    for weight in (policy.vlm.lm_head.weight, policy.vlm.model.text_model.embed_tokens.weight):
        assert torch.equal(weight, saved["model.vlm.lm_head.weight"])
    assert policy.mask_id == head.shape[0] - 1
    state = torch.rand(1, 8)
    assert torch.isfinite(policy.predict_action_chunk(observation(policy, state))).all()
    with pytest.raises(CheckpointFormatError, match="how tied word embeddings are saved"):
        convert_vla0_checkpoint(src, tmp_path / "untied", backbone="tiny")
