# grounding with the probe-pretrained vision side, frozen (session 2026-12-02)
from vla0_smol.presets.pretrain import PretrainConfig, pretrain

cfg = PretrainConfig(
    out_dir="outputs/pretrain_s7_probe",
    export_dir="outputs/pretrain_s7_probe/preset",
    base="outputs/vision_probe/preset",
    steps=8000,
    stop_after=1000,
    batch_size=32,
    lr=1e-3,
    warmup=50,
    eval_every=250,
    save_every=250,
    vision_lr_scale=0,
    mixture={"pusht_block": 7.0, "copy": 1.0},
    first_mixture={"copy": 1.0},
    first_steps=0,
)
pretrain(cfg, progress=lambda s: print(s, flush=True))
