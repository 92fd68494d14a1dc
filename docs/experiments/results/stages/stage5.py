# grounding alone from a fresh vision tower + the numbers-trained LM (session 2026-12-02)
from vla0_smol.presets.pretrain import PretrainConfig, pretrain

cfg = PretrainConfig(
    out_dir="outputs/pretrain_stage5",
    export_dir="outputs/pretrain_stage5/preset",
    base="outputs/stage5_base",
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
