# grounding alone (single task, batch 32, near-constant lr), warm-started from stage 3 (session 2026-12-02)
from vla0_smol.presets.pretrain import PretrainConfig, pretrain

cfg = PretrainConfig(
    out_dir="outputs/pretrain_stage4",
    export_dir="outputs/pretrain_stage4/preset",
    base="outputs/stage3_base",
    steps=8000,
    stop_after=2000,
    batch_size=32,
    lr=1e-3,
    warmup=50,
    eval_every=250,
    save_every=250,
    mixture={"pusht_block": 7.0, "copy": 1.0},
    first_mixture={"copy": 1.0},
    first_steps=0,
)
pretrain(cfg, progress=lambda s: print(s, flush=True))
