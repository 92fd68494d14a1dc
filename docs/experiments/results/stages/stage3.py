# grounding stage, warm-started from the numbers stage (session 2026-12-02)
from vla0_smol.presets.pretrain import PretrainConfig, pretrain

cfg = PretrainConfig(
    out_dir="outputs/pretrain_stage3",
    export_dir="outputs/pretrain_stage3/preset",
    base="outputs/pretrain_stage2/preset",
    steps=2000,
    lr=1e-3,
    warmup=50,
    eval_every=250,
    save_every=250,
    mixture={"pusht_block": 4.0, "pusht_agent": 1.0, "copy": 1.0},
    first_mixture={"copy": 1.0},
    first_steps=0,
)
pretrain(cfg, progress=lambda s: print(s, flush=True))
