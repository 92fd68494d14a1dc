"""The LeRobot policy: plugin discovery, learning, save/load, inference, and errors that name the field."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from testkit import PUSHT_STATS, make_policy, pusht_batch, pusht_config
from transformers import AutoConfig, AutoModelForImageTextToText

from vla0_smol import VLA0SmolPolicy
from vla0_smol.backbone import PRESETS
from vla0_smol.prompt import IGNORE_INDEX


def test_lerobot_discovers_the_plugin_in_a_fresh_process():
    code = (
        "from lerobot.utils.import_utils import register_third_party_plugins\n"
        "from lerobot.configs import PreTrainedConfig\n"
        "from lerobot.policies.factory import get_policy_class, make_policy_config\n"
        "register_third_party_plugins()\n"
        "assert 'vla0_smol' in PreTrainedConfig.get_known_choices()\n"
        "print(get_policy_class('vla0_smol').__name__, make_policy_config('vla0_smol').chunk_size)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["VLA0SmolPolicy", "10"]


def test_real_architecture_has_507_5m_parameters():
    cfg = AutoConfig.from_pretrained(PRESETS["smolvlm2-500m-random"])
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(cfg)
    n = sum(p.numel() for p in model.parameters())
    assert abs(n - 507.5e6) < 1e6, n


def test_overfits_four_samples():
    """The tiny preset memorises a batch of 4: training loss falls by more than 90%."""
    policy = make_policy(seed=0, masking="none", crop_shape=None)
    policy.train()
    batch = pusht_batch(4, seed=1)
    opt = torch.optim.AdamW(policy.get_optim_params(), lr=2e-3)
    first = None
    for _ in range(300):
        loss, _ = policy.forward(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
        if loss.item() < 0.01 * first:
            break
    assert loss.item() < 0.1 * first, (first, loss.item())
    # and what it memorised comes back out of the grammar-constrained decoder
    policy.eval()
    chunk = policy.predict_action_chunk(batch)
    close = ((chunk - batch["action"]).abs() <= 2 * policy.action_tokenizer.bin_width[0]).float().mean().item()
    assert close > 0.6, close  # most values decode within two bins (a random chunk: ~1%)


def test_loss_covers_exactly_the_unpadded_actions(monkeypatch):
    policy = make_policy(masking="none")
    policy.eval()
    seen = {}
    real = policy._loss

    def spy(inputs, pixels):
        seen.update(inputs)
        return real(inputs, pixels)

    monkeypatch.setattr(policy, "_loss", spy)
    batch = pusht_batch(2)
    batch["action"][:, :, :] = 300.0  # every value "300" -> 3 digit tokens per value
    batch["action_is_pad"][1, 6:] = True
    policy.forward(batch)
    n_labels = (seen["labels"] != IGNORE_INDEX).sum(1).tolist()
    # row 0: 20 values x 3 digits + 19 separators + end-of-turn; row 1: 12 values + 11 separators + eot
    assert n_labels == [20 * 3 + 19 + 1, 12 * 3 + 11 + 1]


def test_relative_actions_are_taken_in_raw_units(tmp_path):
    """Relative targets are action - state in raw units, binned with their own range."""
    policy = make_policy(masking="none", crop_shape=None)
    policy.config.relative_actions = True
    policy.action_min.fill_(-20.0)
    policy.action_max.fill_(20.0)
    batch = pusht_batch(1)
    batch["observation.state"][:] = torch.tensor([[200.0, 300.0]])
    batch["action"][:] = torch.tensor([205.0, 290.0])
    tok = policy.action_tokenizer
    want = tok.to_bins(np.array([[5.0, -10.0]]))[0]
    captured = {}
    real = policy.table.encode

    def spy(bins):
        captured.setdefault("bins", np.asarray(bins))
        return real(bins)

    policy.table.encode = spy
    policy.train()
    policy.forward(batch)
    assert (captured["bins"][0] == want).all()


def test_save_and_load_give_identical_outputs(tmp_path):
    policy = make_policy(seed=3)
    policy.eval()
    batch = pusht_batch(2, seed=5)
    before = policy.predict_action_chunk(batch)
    policy.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "backbone" / "config.json").exists()
    loaded = VLA0SmolPolicy.from_pretrained(tmp_path)
    torch.testing.assert_close(loaded.predict_action_chunk(batch), before)
    torch.testing.assert_close(loaded.action_max, policy.action_max)


def test_select_action_queues_and_ensembles():
    policy = make_policy()
    policy.eval()
    batch = pusht_batch(3)
    calls = []
    real = policy.predict_action_chunk

    def spy(b, **kw):
        calls.append(len(b["task"]))
        return real(b, **kw)

    policy.predict_action_chunk = spy
    for _ in range(6):
        assert policy.select_action(batch).shape == (3, 2)
    assert calls == [3, 3]  # n_action_steps=5: a new chunk at steps 0 and 5
    policy.reset()
    policy.config.execution = "temporal"
    policy.reset()
    for _ in range(3):
        policy.select_action(batch)
    assert calls == [3, 3, 3, 3, 3]


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda b: b["observation.state"].__setitem__((0, 0), float("nan")), "observation.state"),
        (lambda b: b["action"].__setitem__((0, 0, 0), float("inf")), "'action' contains NaN"),
        (lambda b: b.__setitem__("observation.image", torch.rand(4, 1, 96, 96)), "observation.image"),
        (lambda b: b.__setitem__("observation.image", torch.randint(0, 255, (4, 3, 96, 96))), "observation.image"),
        (lambda b: b.pop("observation.image"), "observation.image"),
        (lambda b: b.__setitem__("action", torch.rand(4, 8, 2)), "config expects 10x2"),
    ],
)
def test_bad_inputs_name_the_field(mutate, match):
    policy = make_policy()
    batch = pusht_batch(4)
    mutate(batch)
    with pytest.raises((ValueError, KeyError), match=match):
        policy.forward(batch)


def test_missing_stats_and_bad_config_are_explained():
    torch.manual_seed(0)
    policy = VLA0SmolPolicy(pusht_config())
    with pytest.raises(ValueError, match="statistics are missing"):
        policy.forward(pusht_batch(1))
    with pytest.raises(ValueError, match="lack 'observation.state'"):
        policy.set_stats({"action": PUSHT_STATS["action"]})
    with pytest.raises(ValueError, match="n_action_steps"):
        pusht_config(n_action_steps=11)
    with pytest.raises(ValueError, match="masking"):
        pusht_config(masking="words")
    with pytest.raises(ValueError, match="dtype"):
        pusht_config(dtype="float16")


def test_empty_task_uses_default_or_fails():
    policy = make_policy()
    policy.eval()
    batch = pusht_batch(2)
    batch["task"] = ["", ""]
    assert policy.predict_action_chunk(batch).shape == (2, 10, 2)  # default_task fills in
    policy.config.default_task = None
    with pytest.raises(ValueError, match="task"):
        policy.predict_action_chunk(batch)


def test_freeze_vision_encoder():
    policy = make_policy(freeze_vision_encoder=True)
    frozen = {n for n, p in policy.named_parameters() if not p.requires_grad}
    assert frozen and all(".vision_model." in n for n in frozen)
    assert all(p.requires_grad for p in policy.get_optim_params())


def _is_vision(name: str) -> bool:
    return ".vision_model." in name or ".connector." in name


def test_vision_lr_scale_gives_the_vision_side_its_own_rate_through_lerobots_scheduler():
    policy = make_policy(vision_lr_scale=0.1, optimizer_lr=1e-3)
    cfg = policy.config
    opt = cfg.get_optimizer_preset().build(policy.get_optim_params())
    sched = cfg.get_scheduler_preset().build(opt, num_training_steps=100)
    names = {id(p): n for n, p in policy.named_parameters()}
    vision = [g for g in opt.param_groups if any(_is_vision(names[id(p)]) for p in g["params"])]
    assert len(vision) == 1 and all(_is_vision(names[id(p)]) for p in vision[0]["params"])
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(policy.parameters()))
    for _ in range(3):
        opt.step()
        sched.step()
        lrs = sorted(g["lr"] for g in opt.param_groups)
        assert lrs[0] == pytest.approx(0.1 * lrs[1])  # the ratio holds through warm-up


def test_vision_lr_scale_zero_freezes_encoder_and_connector():
    policy = make_policy(vision_lr_scale=0, masking="none")
    policy.train()
    before = {n: p.detach().clone() for n, p in policy.named_parameters()}
    opt = torch.optim.AdamW(policy.get_optim_params(), lr=1e-3)
    loss, _ = policy.forward(pusht_batch(2))
    loss.backward()
    opt.step()
    after = dict(policy.named_parameters())
    vision = [n for n in before if _is_vision(n)]
    assert vision and all(torch.equal(before[n], after[n]) for n in vision)
    assert any(not torch.equal(before[n], after[n]) for n in before if not _is_vision(n))
    with pytest.raises(ValueError, match="vision_lr_scale"):
        pusht_config(vision_lr_scale=-0.5)


def _unparseable_second_row(policy, monkeypatch):
    """Decoding returns a valid chunk for row 0 and text that cannot be parsed for row 1."""
    import vla0_smol.modeling_vla0_smol as modeling

    tok = policy.processor.tokenizer
    h, d = policy.config.chunk_size, policy.config.action_dim
    good = tok(" ".join(["7"] * (h * d)), add_special_tokens=False)["input_ids"]
    bad = tok("1 2 x", add_special_tokens=False)["input_ids"]
    monkeypatch.setattr(modeling, "decode", lambda *a, **k: ([good, bad], None))
    return policy.action_tokenizer.from_bins(np.full((h, d), 7))


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_an_unparseable_chunk_holds_the_state_for_targets(monkeypatch, relative):
    """PushT's actions are targets (absolute, or state + relative offset): holding is the state."""
    policy = make_policy(crop_shape=None).eval()
    if relative:  # ranges of action - state, as a dataset would give them
        policy.config.relative_actions = True
        policy.action_min.fill_(-20.0)
        policy.action_max.fill_(20.0)
    decoded = _unparseable_second_row(policy, monkeypatch)
    batch = pusht_batch(2)
    chunk = policy.predict_action_chunk(batch)
    state = batch["observation.state"]
    assert policy.invalid_chunks == 1
    assert torch.equal(chunk[1], state[1].expand(chunk.shape[1], -1))  # the bad row holds position
    want = decoded + (state[0].numpy() if relative else 0)
    np.testing.assert_allclose(chunk[0].numpy(), want, rtol=1e-5)  # the good row is untouched


def test_an_unparseable_chunk_is_a_zero_delta_for_libero():
    """LIBERO's actions are deltas: holding is a zero action, never the 8-D state's first 7 values."""
    from vla0_smol.libero.evaluation import LiberoPolicyController
    from vla0_smol.libero.profiles import libero_policy_config

    config = libero_policy_config("smoke")
    assert config.hold_action == "zero" and not config.relative_actions
    stats = {
        "observation.state": {"min": -np.ones(8), "max": np.ones(8)},
        "action": {"min": -np.ones(7), "max": np.ones(7)},
    }
    torch.manual_seed(0)
    policy = VLA0SmolPolicy(config, dataset_stats=stats).eval()
    monkeypatch = pytest.MonkeyPatch()
    try:
        _unparseable_second_row(policy, monkeypatch)
        g = torch.Generator().manual_seed(0)
        batch = {k: torch.rand(2, 3, 128, 128, generator=g) for k in config.image_keys}
        batch["observation.state"] = torch.rand(2, 8, generator=g) + 0.5  # no zeros: a held state would show
        batch["task"] = ["put the bowl on the plate"] * 2
        chunk = policy.predict_action_chunk(batch)
        assert policy.invalid_chunks == 1 and torch.equal(chunk[1], torch.zeros_like(chunk[1]))
        assert (chunk[0] != 0).all()
        # a checkpoint that says "state" (e.g. converted from the authors' format) holds with zero on LIBERO
        policy.config.hold_action = "state"
        LiberoPolicyController(policy)
        assert policy.config.hold_action == "zero"
    finally:
        monkeypatch.undo()
    with pytest.raises(ValueError, match="hold_action='zero' means the actions are deltas"):
        libero_policy_config("smoke", relative_actions=True, relative_state_index=[-1] * 7)
