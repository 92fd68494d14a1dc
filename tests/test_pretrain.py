"""Pretraining of the tiny VLM: its generated questions, its resumable loop, its shipped weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vla0_smol.backbone import load_processor, load_vlm
from vla0_smol.presets import pretrain_data as pd
from vla0_smol.presets.pretrain import PretrainConfig, Questions, image_spread, param_groups, pretrain

T_GRAY = np.array([119, 136, 153])  # gym-pusht draws the block in LightSlateGray


@pytest.fixture(scope="module")
def gen():
    g = pd.Generator(seed=0)
    yield g
    if g._pusht is not None:
        g._pusht.close()


def test_number_answers_follow_their_question():
    rng = np.random.default_rng(1)
    for _ in range(50):
        task, state, answer = pd.interpolate(rng, None)
        ax, ay, bx, by = state
        path = np.array(answer).reshape(pd.HORIZON, 2)
        assert abs(path[-1, 0] - bx) <= 0 and abs(path[-1, 1] - by) <= 0
        steps = np.diff(np.vstack([[ax, ay], path]), axis=0)
        assert np.abs(steps - steps.mean(0)).max() <= 1  # equal strides, up to rounding
        task, state, answer = pd.offset(rng, None)
        assert answer == [state[2] - state[0] + 256, state[3] - state[1] + 256]
        task, state, answer = pd.add(rng, None)
        k = int(task.split()[1])
        sign = 1 if task.startswith("Add") else -1
        assert answer == [s + sign * k for s in state]
        task, state, answer = pd.sort(rng, None)
        assert answer == sorted(state)
    for fn in (pd.copy, pd.add, pd.offset, pd.sort, pd.extreme, pd.interpolate):
        _, state, answer = fn(rng, None)
        assert all(0 <= v <= pd.MAX_INT for v in state + answer)


def test_shape_positions_are_where_the_shape_is_drawn():
    rng = np.random.default_rng(2)
    for _ in range(20):
        img, objects = pd.shapes_scene(rng, 1)
        name, xy = objects[0]
        colour = np.array(pd.COLOURS[name.split()[0]])
        ys, xs = np.nonzero((img == colour).all(-1))
        centroid = np.array([xs.mean() + 0.5, ys.mean() + 0.5]) * pd.WORLD / pd.IMAGE
        # a triangle's centroid lies below its bounding circle's centre
        tol = 35 if "triangle" in name else 6
        assert np.abs(centroid - xy).max() < tol, (name, centroid, xy)


def test_pusht_answers_match_the_rendered_frame(gen):
    rng = np.random.default_rng(3)
    for _ in range(10):
        image, agent, block, angle = gen.pusht.frame(rng)
        gray = np.abs(image.astype(int) - T_GRAY).sum(-1) < 30
        ys, xs = np.nonzero(gray)
        centroid = np.array([xs.mean() + 0.5, ys.mean() + 0.5]) * pd.WORLD / pd.IMAGE
        # the T's pixel centroid is within its bar's half-length of the body position
        assert np.linalg.norm(centroid - block) < 60, (centroid, block)
        _, _, answer = pd.pusht_block(rng, (image, agent, block, angle))
        assert np.abs(np.array(answer) - block).max() <= 0.5


def test_batches_depend_only_on_seed_and_index(gen):
    a = gen.batch(7, 6)
    b = pd.Generator(seed=0).batch(7, 6)
    assert [(e.task, e.state, e.answer) for e in a] == [(e.task, e.state, e.answer) for e in b]
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b, strict=True))
    c = gen.batch(8, 6)
    assert [(e.task, e.answer) for e in a] != [(e.task, e.answer) for e in c]


def test_unknown_skill_is_named():
    with pytest.raises(ValueError, match="juggle"):
        pd.Generator(0, {"juggle": 1.0})


def test_interrupted_pretraining_resumes_to_the_same_weights(tmp_path):
    common = dict(batch_size=2, steps=4, warmup=1, log_every=1, eval_every=1000, save_every=2, threads=1)
    straight = PretrainConfig(out_dir=str(tmp_path / "a"), export_dir=str(tmp_path / "ea"), **common)
    pretrain(straight, progress=lambda s: None)
    half = PretrainConfig(out_dir=str(tmp_path / "b"), export_dir=str(tmp_path / "eb"), **{**common, "steps": 2})
    pretrain(half, progress=lambda s: None)
    resumed = PretrainConfig(out_dir=str(tmp_path / "b"), export_dir=str(tmp_path / "eb"), **common)
    pretrain(resumed, progress=lambda s: None)
    wa = load_vlm(str(tmp_path / "ea")).state_dict()
    wb = load_vlm(str(tmp_path / "eb")).state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    rows = [json.loads(x) for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4]  # each step logged once
    assert [r["step"] for r in rows if "eval" in r] == [2, 4]  # where each part stopped
    provenance = json.loads((tmp_path / "eb" / "provenance.json").read_text())
    assert provenance["steps"] == 4 and set(provenance["final_metrics"]) == set(pd.MIXTURE)


def test_a_signal_inside_the_optimizer_step_checkpoints_a_whole_step(tmp_path, monkeypatch):
    """SIGTERM landing inside ``opt.step()`` (after the weights moved, before the step counter did)
    must not save those weights under the previous step: the run stops where the step ends, and the
    resumed run ends with the weights of one never stopped."""
    import os
    import signal

    common = dict(batch_size=2, steps=4, warmup=1, log_every=1, eval_every=1000, save_every=1000, threads=1)
    common["eval_size"] = 2
    real_step, calls = torch.optim.AdamW.step, []

    def step_then_signal(self, *args, **kwargs):
        out = real_step(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # delivered here: the update is done, the counter is not
        return out

    run = PretrainConfig(out_dir=str(tmp_path / "b"), export_dir=str(tmp_path / "eb"), **common)
    monkeypatch.setattr(torch.optim.AdamW, "step", step_then_signal)
    with pytest.raises(KeyboardInterrupt):
        pretrain(run, progress=lambda s: None)
    monkeypatch.undo()
    assert json.loads((tmp_path / "b" / "checkpoint" / "state.json").read_text())["step"] == 2
    pretrain(run, progress=lambda s: None)
    pretrain(PretrainConfig(out_dir=str(tmp_path / "a"), export_dir=str(tmp_path / "ea"), **common), lambda s: None)
    wa, wb = load_vlm(str(tmp_path / "ea")).state_dict(), load_vlm(str(tmp_path / "eb")).state_dict()
    assert [k for k in wa if not torch.equal(wa[k], wb[k])] == []


def test_a_second_signal_stops_at_once_and_says_the_last_checkpoint_stands():
    from vla0_smol.presets.pretrain import StepBoundary

    said = []
    boundary = StepBoundary(said.append)
    boundary.handle(15, None)  # the first: noted
    assert boundary.requested and not boundary.immediate and "end of this step" in said[0]
    with pytest.raises(KeyboardInterrupt):
        boundary.handle(15, None)  # the second: now
    assert boundary.immediate
    with pytest.raises(KeyboardInterrupt):
        boundary.check()


def test_a_frozen_vision_side_is_left_untouched_by_pretraining(tmp_path):
    """``vision_lr_scale=0``: encoder and connector keep their initial weights; the LM still learns."""
    cfg = PretrainConfig(
        out_dir=str(tmp_path / "run"),
        export_dir=str(tmp_path / "preset"),
        batch_size=2,
        steps=2,
        warmup=1,
        eval_every=1000,
        save_every=1000,
        vision_lr_scale=0,
        mixture={"pusht_block": 1.0},
        first_steps=0,
    )
    torch.manual_seed(cfg.seed)
    before = load_vlm("tiny").state_dict()
    pretrain(cfg, progress=lambda s: None)
    after = load_vlm(str(tmp_path / "preset")).state_dict()
    vision = [k for k in before if ".vision_model." in f".{k}" or ".connector." in f".{k}"]
    assert vision and all(torch.equal(before[k], after[k]) for k in vision)
    assert any(not torch.equal(before[k], after[k]) for k in before if k not in vision)


def test_image_spread_tells_a_collapsed_vision_side_from_a_working_one(gen):
    torch.manual_seed(0)
    vlm = load_vlm("tiny")
    questions = Questions(load_processor("tiny"))
    assert image_spread(vlm, questions, gen, 8, seed=1) > 0.05  # random init: frames differ
    with torch.no_grad():  # the encoder's last norm outputs its bias alone: every frame looks the same
        norm = vlm.model.vision_model.post_layernorm
        norm.weight.zero_()
        norm.bias.normal_()
    assert image_spread(vlm, questions, gen, 8, seed=1) < 1e-6


def test_vision_groups_get_the_scaled_learning_rate():
    torch.manual_seed(0)
    vlm = load_vlm("tiny")
    groups = param_groups(vlm, PretrainConfig(vision_lr_scale=0.1))
    names = {id(p): n for n, p in vlm.named_parameters()}
    for g in groups:
        kinds = {("vision_model" in names[id(p)] or "connector" in names[id(p)]) for p in g["params"]}
        assert kinds == {g["scale"] == 0.1}  # each group is all vision (scaled) or all language model
    assert sum(len(g["params"]) for g in groups) == len(list(vlm.parameters()))
    with pytest.raises(ValueError, match="vision_lr_scale"):
        PretrainConfig(vision_lr_scale=-1)


def test_default_groups_match_checkpoints_written_before_vision_lr_scale():
    """Two groups, decayed matrices first, so an older run's optimizer state still loads."""
    torch.manual_seed(0)
    vlm = load_vlm("tiny")
    groups = param_groups(vlm, PretrainConfig())
    decayed = [p for n, p in vlm.named_parameters() if p.ndim >= 2 and "embed" not in n]
    rest = [p for n, p in vlm.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    assert [g["params"] for g in groups] == [decayed, rest]


def test_pretrain_gives_back_the_thread_count_and_sigterm_handler(tmp_path):
    """One in-process run must not leave its 1 thread and its SIGTERM handler to the caller."""
    import signal

    common = dict(batch_size=2, steps=1, eval_size=2, threads=1)
    cfg = PretrainConfig(out_dir=str(tmp_path / "run"), export_dir=str(tmp_path / "preset"), **common)
    before = signal.getsignal(signal.SIGTERM)
    torch.set_num_threads(2)
    pretrain(cfg, progress=lambda s: None)
    assert torch.get_num_threads() == 2
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.timeout(900)
def test_pretraining_killed_by_sigterm_resumes_to_the_same_weights(tmp_path):
    """SIGTERM (``kill``, a closing job scheduler) checkpoints the step reached, as Ctrl-C does, and
    the run resumed from that checkpoint ends with the weights of a run that was never stopped."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "vla0_smol.presets.pretrain", "--steps", "1000", "--batch-size", "2"]
    cmd += ["--out-dir", str(out), "--export-dir", str(tmp_path / "preset"), "--save-every", "1000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while not (out / "metrics.jsonl").exists() and proc.poll() is None:
        time.sleep(0.5)  # the first logged step: training is under way (the test's timeout bounds this)
    os.kill(proc.pid, signal.SIGTERM)
    log, _ = proc.communicate(timeout=120)
    assert "interrupted: checkpoint at step" in log, log[-2000:]
    step = json.loads((out / "checkpoint" / "state.json").read_text())["step"]
    assert 25 <= step < 1000  # saved where it stopped, not at a periodic save (every 1000)
    assert not (tmp_path / "preset").exists()

    common = dict(steps=1000, stop_after=step + 2, batch_size=2, save_every=1000, eval_size=2)
    resumed = PretrainConfig(out_dir=str(out), export_dir=str(tmp_path / "preset"), **common)
    pretrain(resumed, progress=lambda s: None)
    straight = PretrainConfig(out_dir=str(tmp_path / "a"), export_dir=str(tmp_path / "straight"), **common)
    pretrain(straight, progress=lambda s: None)
    wa = load_vlm(str(tmp_path / "straight")).state_dict()
    wb = load_vlm(str(tmp_path / "preset")).state_dict()
    assert wa.keys() == wb.keys()
    differ = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not differ, f"resumed at step {step}: {len(differ)} tensors differ, e.g. {differ[:3]}"


def test_kept_errors_are_one_per_question_and_average_to_the_mae():
    """``keep_errors``: the errors behind each MAE, one per question, comparable model by model
    (what ``docs/experiments/pretrain_rerun.py`` pairs)."""
    from vla0_smol.presets.pretrain import evaluate

    questions = Questions(load_processor("tiny"))
    g = pd.Generator(seed=0, mixture={"copy": 1.0, "offset": 1.0})
    runs = []
    for init in (0, 1):
        torch.manual_seed(init)
        runs.append(evaluate(load_vlm("tiny"), questions, g, 6, seed=3, keep_errors=True))
    for skill in ("copy", "offset"):
        a, b = (r[skill] for r in runs)
        assert len(a["errors"]) == len(b["errors"]) == 6
        assert np.mean(a["errors"]) == pytest.approx(a["mae"]) and np.mean(b["errors"]) == pytest.approx(b["mae"])
    assert runs[0]["copy"]["errors"] != runs[1]["copy"]["errors"]  # two models, same questions, other answers
    assert "errors" not in evaluate(load_vlm("tiny"), questions, g, 2, seed=3, skills=["copy"])["copy"]
