"""The tiny VLM's pretraining recipe, stage by stage (``vla0-smol pretrain``).

SmolVLM2 is built in an order: a vision encoder pretrained alone (SigLIP), a language model
pretrained alone (SmolLM2), then the language model taught to read the encoder's tokens. The
tiny stand-in follows that order because the other orders measured here failed
(``docs/tiny-learning.md``: everything at once learnt nothing in 1,900 steps; grounding with the
vision side trainable collapsed the image tokens within 250 steps):

1. ``numbers``: the language model learns to read and write integers in the policy's format
   (copy, offsets, 10-step paths, adding a constant), the vision side frozen at random init;
2. ``vision``: the vision encoder and connector alone regress the T block's position and angle,
   the agent's position and a shape's position in random frames
   (:mod:`~vla0_smol.presets.vision_stage`);
3. ``reading``: the numbers-trained language model on the stage-2 vision side, frozen, learns to
   answer where the block, the agent and a shape are, which way the block is turned and how far
   it is from a point, while still copying and interpolating;
4. ``mixture``: every skill of :data:`~vla0_smol.presets.pretrain_data.MIXTURE` at a lower rate,
   so that the exported model keeps them all.

Each stage ends at its step cap or when its evaluation reaches the stage's thresholds (the log
and ``provenance.json`` say which). Each writes its folder under ``out_dir`` and resumes from its
checkpoint, and a finished stage is skipped, so the same command picks up a run stopped by
Ctrl-C, ``kill`` or the end of a working day. No PushT expert action, trajectory or evaluation
seed is in any stage's data.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .pretrain import PRETRAINED_DIR, PretrainConfig, Questions, _git_commit, evaluate, image_spread, pretrain
from .pretrain_data import CIRCULAR, MAX_INT, MIXTURE, SKILLS, Generator
from .vision_stage import VisionConfig, train_vision

STAGES = ("numbers", "vision", "reading", "mixture")
# the default command's stated budget: from scratch, 2 cores, nothing else running (issue #26)
BUDGET_MIN = 120
# the skills the shipped model is measured on (and the skills test pins)
MEASURED = (
    "copy",
    "offset",
    "interpolate",
    "pusht_block",
    "pusht_angle",
    "pusht_agent",
    "pusht_offset",
    "shapes_where",
)


@dataclass
class RecipeConfig:
    """The whole recipe; the stages' own settings are in :func:`stage_configs`."""

    out_dir: str = "outputs/pretrain"  # one folder per stage (checkpoints, metrics.jsonl, preset/)
    export_dir: str = str(PRETRAINED_DIR)  # the tiny-pretrained preset written at the end
    seed: int = 0
    # torch threads; 0: torch's default, one per core (1.46x one thread's speed on an idle 2-core
    # machine, benchmarks/pretrain_step.py); 1 when another job shares the cores
    threads: int = 0
    batch_size: int = 32
    numbers_steps: int = 1500  # step caps of the four stages
    vision_steps: int = 8000  # cheap: no language model (about 2.5 min per 1,000 steps on one core)
    # 5,000: the first shipped run's 2,500 ended at block error 24, still falling (39 / 33 / 28 / 26 at
    # steps 1,000 / 1,250 / 2,000 / 2,500); the second, with 5,000, is the shipped one
    reading_steps: int = 5000
    mixture_steps: int = 400
    eval_every: int = 250
    eval_size: int = 32  # fresh questions per skill at each evaluation
    final_eval_size: int = 64  # questions per skill measured on the exported model

    def __post_init__(self):
        for name in ("numbers_steps", "vision_steps", "reading_steps", "mixture_steps", "batch_size", "eval_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


def stage_configs(cfg: RecipeConfig) -> dict:
    """Each stage's configuration; a stage reads the preset the stage before it exported."""
    root = Path(cfg.out_dir)
    common = dict(seed=cfg.seed, batch_size=cfg.batch_size, threads=cfg.threads, eval_size=cfg.eval_size)
    common |= dict(eval_every=cfg.eval_every, save_every=cfg.eval_every, first_steps=0)
    return {
        "numbers": PretrainConfig(
            out_dir=str(root / "1_numbers"),
            export_dir=str(root / "1_numbers" / "preset"),
            base="tiny",
            steps=cfg.numbers_steps,
            lr=1.5e-3,
            warmup=100,
            vision_lr_scale=0,  # the vision side is replaced in stage 2: no need to train it here
            mixture={"copy": 3.0, "offset": 1.0, "interpolate": 1.0, "add": 0.5},
            first_mixture={"copy": 1.0},
            stop_when={"copy": ("exact", 0.97), "interpolate": ("mae", 8.0)},
            **common,
        ),
        "vision": VisionConfig(
            out_dir=str(root / "2_vision"),
            base=str(root / "1_numbers" / "preset"),
            seed=cfg.seed,
            steps=cfg.vision_steps,
            batch_size=cfg.batch_size,
            eval_every=cfg.eval_every,
            save_every=cfg.eval_every,
            threads=cfg.threads,
        ),
        "reading": PretrainConfig(
            out_dir=str(root / "3_reading"),
            export_dir=str(root / "3_reading" / "preset"),
            base=str(root / "2_vision" / "preset"),
            steps=cfg.reading_steps,
            lr=1e-3,
            warmup=50,
            vision_lr_scale=0,  # frozen: trained with the language model, it collapsed (docs/tiny-learning.md)
            mixture={
                "pusht_block": 3.0,
                "pusht_angle": 2.0,
                "pusht_agent": 1.5,
                "pusht_offset": 1.0,
                "shapes_where": 1.0,
                "copy": 1.0,
                "interpolate": 0.5,
            },
            first_mixture={"copy": 1.0},
            stop_when={"pusht_block": ("mae", 15.0), "pusht_angle": ("mae", 30.0), "copy": ("exact", 0.94)},
            **common,
        ),
        "mixture": PretrainConfig(
            out_dir=str(root / "4_mixture"),
            export_dir=str(root / "4_mixture" / "preset"),
            base=str(root / "3_reading" / "preset"),
            steps=cfg.mixture_steps,
            lr=3e-4,
            warmup=20,
            min_lr=3e-5,
            vision_lr_scale=0,
            mixture=dict(MIXTURE),
            first_mixture={"copy": 1.0},
            **common,
        ),
    }


def constant_mae(skill: str, gen: Generator, size: int, seed: int) -> float:
    """Error of the best constant answer: what a model that ignores question and image scores.

    The constant is each position's median over the set (for the angle, any constant on the circle).
    """
    answers = [e.answer for e in gen.eval_set(skill, size, seed)]
    width = min(len(a) for a in answers)
    a = np.array([x[:width] for x in answers], dtype=np.float64)
    if skill in CIRCULAR:
        diff = np.abs(a - np.median(a, 0))
        return float(np.minimum(diff, MAX_INT + 1 - diff).mean())
    return float(np.abs(a - np.median(a, 0)).mean())


def measure(preset: str, seed: int, size: int, skills=MEASURED, keep_errors: bool = False) -> dict:
    """Per-skill MAE and exact rate of a preset on fresh questions, and its ``image_spread``.

    Each skill also gets the constant predictor's MAE on the same questions (and, with
    ``keep_errors``, every question's error: see :func:`~vla0_smol.presets.pretrain.evaluate`).
    """
    from ..backbone import load_processor, load_vlm

    vlm = load_vlm(preset)
    questions = Questions(load_processor(preset))
    gen = Generator(seed, {s: 1.0 for s in skills})
    result = evaluate(vlm, questions, gen, size, seed, skills=list(skills), keep_errors=keep_errors)
    for skill in skills:
        result[skill]["constant_mae"] = round(constant_mae(skill, gen, size, seed), 2)
    return {"skills": result, "image_spread": image_spread(vlm, questions, gen, 16, seed)}


def weights_record(preset: str) -> dict | None:
    """Which weights a preset holds, recorded by a result that starts from them.

    Its provenance's commit and block error; None for a preset without provenance (``tiny``).
    """
    from ..backbone import PRESETS

    path = PRESETS.get(preset, Path(preset)) / "provenance.json"
    if not path.is_file():
        return None
    p = json.loads(path.read_text())
    return {"provenance_commit": p["commit"], "pusht_block_mae": round(p["final_metrics"]["pusht_block"]["mae"], 2)}


def command_line(cfg: RecipeConfig) -> str:
    """The ``vla0-smol pretrain`` command that reruns ``cfg``.

    Seed, out-dir and every setting that differs from the defaults: a step cap raised for one run
    must be in its provenance's command.
    """
    defaults = asdict(RecipeConfig())
    args = [f"--seed {cfg.seed}", f"--out-dir {cfg.out_dir}"]
    args += [
        f"--{k.replace('_', '-')} {v}"
        for k, v in asdict(cfg).items()
        if k not in ("seed", "out_dir") and v != defaults[k]
    ]
    return " ".join(["vla0-smol pretrain", *args])


def run_recipe(cfg: RecipeConfig, progress=print) -> dict:
    """Run (or resume) every stage, export the preset and its ``provenance.json``; returns it."""
    root = Path(cfg.out_dir)
    root.mkdir(parents=True, exist_ok=True)
    configs = stage_configs(cfg)
    records = {}
    for name in STAGES:
        stage_cfg = configs[name]
        done = Path(stage_cfg.out_dir) / "stage.json"
        if done.exists():
            records[name] = json.loads(done.read_text())
            progress(f"stage {name}: done ({records[name]['stopped']}), skipped")
            continue
        progress(f"stage {name}: starting (cap {stage_cfg.steps} steps)")
        if name == "vision":
            record = train_vision(stage_cfg, progress)
        else:
            full = pretrain(stage_cfg, progress)
            record = {k: full[k] for k in ("steps", "stopped", "wall_time_s", "final_metrics")}
            record |= {"stage": name, "config": full["config"]}
        record["commit"] = _git_commit()
        done.write_text(json.dumps(record, indent=2) + "\n")
        records[name] = record
        progress(f"stage {name}: {record['stopped']}, {record['wall_time_s'] / 60:.1f} min")
    progress("measuring the exported model on fresh questions")
    final_preset = Path(configs["mixture"].export_dir)
    t0 = time.time()
    final = measure(str(final_preset), cfg.seed + 2, cfg.final_eval_size)
    dst = Path(cfg.export_dir)
    if dst.resolve() != final_preset.resolve():
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(final_preset, dst, ignore=shutil.ignore_patterns("provenance.json"))
    # each stage's learning curves travel with the weights (the pretrain chapter draws them)
    (dst / "metrics").mkdir(exist_ok=True)
    for name in STAGES:
        shutil.copyfile(Path(configs[name].out_dir) / "metrics.jsonl", dst / "metrics" / f"{name}.jsonl")
    record = {
        "command": command_line(cfg),
        "commit": _git_commit(),
        "recipe": asdict(cfg),
        "stages": [
            {
                "stage": n,
                "steps": records[n]["steps"],
                "stopped": records[n]["stopped"],
                "wall_time_min": round(records[n]["wall_time_s"] / 60, 1),
                "commit": records[n].get("commit", "unknown"),
                "data": records[n]["config"].get("mixture", "frames: T block pose, agent, one shape"),
                "vision_lr_scale": records[n]["config"].get("vision_lr_scale", "vision side only"),
                "final_metrics": records[n]["final_metrics"],
            }
            for n in STAGES
        ],
        "wall_time_min": round(sum(records[n]["wall_time_s"] for n in STAGES) / 60, 1),
        "final_metrics": final["skills"],
        "image_spread": final["image_spread"],
        "final_eval": f"{cfg.final_eval_size} fresh questions per skill, seed {cfg.seed + 2}, {time.time() - t0:.0f} s",
        "metric_definitions": "mae: mean absolute error of the answer integers (world units of the 512-wide "
        "frame; the block's angle in 512ths of a turn, the shorter way round); exact: fraction answered exactly; "
        "constant_mae: the best constant answer's error on the same questions",
        "skills": sorted(SKILLS),
    }
    (dst / "provenance.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def summary(record: dict) -> str:
    """A run's ``provenance.json`` as a Markdown table, then its exported model and the budget.

    Each stage's row: steps, why it stopped, wall time, and the skills a PushT policy needs at its
    end (MAE; copy: exact rate).
    """

    def skills(m: dict) -> str:
        parts = []
        if "copy" in m:
            parts.append(f"copy exact {m['copy']['exact']:.0%}")
        for k in ("pusht_block", "pusht_angle", "pusht_offset"):
            if k in m:
                parts.append(f"{k} {m[k]['mae']:.1f}")
        for k in ("block", "angle_deg", "image_spread"):  # the vision stage's head
            if k in m:
                parts.append(f"{k} {m[k]:.2f}" if k == "image_spread" else f"{k} {m[k]:.1f}")
        return ", ".join(parts)

    lines = ["| stage | steps | stopped | wall time (min) | at its end |", "|---|---|---|---|---|"]
    lines += [
        f"| {s['stage']} | {s['steps']} | {s['stopped']} | {s['wall_time_min']:.1f} | {skills(s['final_metrics'])} |"
        for s in record["stages"]
    ]
    final = record["final_metrics"]
    against = ", ".join(
        f"{k} {final[k]['mae']:.1f} (constant {final[k]['constant_mae']:.1f})"
        for k in ("pusht_block", "pusht_angle", "pusht_offset")
        if k in final
    )
    total = record["wall_time_min"]
    lines += [
        "",
        f"Exported model ({record['final_eval']}): copy exact {final['copy']['exact']:.0%}, {against}, "
        f"image spread {record['image_spread']:.2f}.",
        f"Wall time {total:.1f} min ({'within' if total <= BUDGET_MIN else 'over'} the {BUDGET_MIN}-minute budget "
        "of an idle 2-core machine).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``vla0-smol pretrain``: run or resume the staged recipe, then export the preset."""
    import argparse

    d = RecipeConfig()
    parser = argparse.ArgumentParser(prog="vla0-smol pretrain", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", default=d.out_dir, help="stage folders (resumed if present)")
    parser.add_argument("--export-dir", default=d.export_dir, help="where the preset is written")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--threads", type=int, default=d.threads)
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    for stage in STAGES:
        parser.add_argument(f"--{stage}-steps", type=int, default=getattr(d, f"{stage}_steps"), help="step cap")
    parser.add_argument("--eval-every", type=int, default=d.eval_every)
    parser.add_argument("--eval-size", type=int, default=d.eval_size)
    parser.add_argument("--final-eval-size", type=int, default=d.final_eval_size)
    args = parser.parse_args(argv)
    record = run_recipe(RecipeConfig(**vars(args)), progress=lambda s: print(s, flush=True))
    print(summary(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
