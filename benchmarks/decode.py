"""Benchmark: the fast decoder against ``generate()`` (same process, same inputs, same machine).

(a) A trained tiny policy in PushT closed loop (acceptance rates only mean something for a policy
    that predicts consistent chunks). At every control step the fast decoder acts; ``generate()``
    decodes the same batch and the decoded actions are compared.
(b) The real SmolVLM2-500M architecture with random weights: the cost of one forward pass, and of
    one chunk with each decoder (random weights make drafts useless; only jump-forward helps).

Also reported, the floor: one prefill plus one cached forward pass over the whole chunk, the least
any greedy verifier can spend. Prints a table; writes ``results/bench/decode.json``.

    python benchmarks/decode.py [--checkpoint results/demo/train/checkpoints/last/pretrained_model]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np
import torch

from vla0_smol.decoding import decode
from vla0_smol.prompt import collate
from vla0_smol.pusht.evaluation import PolicyController, evaluate_pusht
from vla0_smol.results import save_json

DEFAULT_CKPT = Path("results/demo/train/checkpoints/last/pretrained_model")


def machine() -> dict:
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


class Recorder:
    """Wraps a policy's chunk prediction: fast decodes (and drives), generate() re-decodes."""

    def __init__(self, policy):
        self.policy, self.rows = policy, []
        self._orig = policy.predict_action_chunk
        policy.predict_action_chunk = self

    def __call__(self, batch, **kw):
        fast = self._orig(batch, decoder="fast", **kw)  # drafts from the previous chunks
        fs = self.policy.last_decode
        hf = self._orig(batch, decoder="hf", **kw)
        hs = self.policy.last_decode
        b = fast.shape[0]
        self.rows.append(
            {
                "batch": b,
                "hf_passes": hs.forward_passes,
                "fast_passes": fs.forward_passes,
                "hf_ms": 1e3 * hs.seconds,
                "fast_ms": 1e3 * fs.seconds,
                "tokens": sum(fs.tokens),
                "draft_accepted": fs.draft_accepted,
                "forced": fs.forced,
                "mismatch_rows": int((fast != hf).any(-1).any(-1).sum()),
            }
        )
        return fast


def floor_ms(policy, batch) -> float:
    """Prefill + one cached pass over the chunk the policy would decode (median of 3)."""
    pixels = policy._images(batch)
    state_bins = policy._state_bins(batch)
    tasks = policy._tasks(batch, pixels.shape[0])
    samples = [policy.prompts.build(t, None if state_bins is None else s) for t, s in zip(tasks, state_bins)]
    inp = collate(samples, policy.pad_id, "left")
    tokens, _ = decode(policy.vlm, policy.grammar, inp["input_ids"], inp["attention_mask"], pixels, method="hf")
    chunk = torch.tensor([t + [policy.grammar.eot_id] for t in tokens])
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        with torch.no_grad():
            out = policy.vlm.model(**inp, pixel_values=pixels, use_cache=True)
            mask = torch.cat([inp["attention_mask"], torch.ones_like(chunk)], 1)
            policy.vlm.model(input_ids=chunk, attention_mask=mask, past_key_values=out.past_key_values)
        times.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(times)


def closed_loop(checkpoint: Path, episodes: int, envs: int, max_steps: int, execution: str) -> dict:
    controller = PolicyController.from_checkpoint(checkpoint, execution=execution)
    rec = Recorder(controller.policy)
    evaluate_pusht(controller, n_episodes=episodes, seed=20_000, batch_size=envs, max_steps=max_steps, desc=execution)
    rows = rec.rows
    obs = {
        "observation.image": torch.rand(1, 3, 96, 96),
        "observation.state": torch.tensor([[256.0, 256.0]]),
        "task": ["Push the T-shaped block onto the T-shaped target."],
    }
    chunks = sum(r["batch"] for r in rows)
    hf_p, fast_p = sum(r["hf_passes"] for r in rows), sum(r["fast_passes"] for r in rows)
    hf_ms, fast_ms = sum(r["hf_ms"] for r in rows), sum(r["fast_ms"] for r in rows)
    return {
        "execution": execution,
        "envs": envs,
        "decode_calls": len(rows),
        "chunks": chunks,
        "hf_passes_per_call": hf_p / len(rows),
        "fast_passes_per_call": fast_p / len(rows),
        "hf_ms_per_call": hf_ms / len(rows),
        "fast_ms_per_call": fast_ms / len(rows),
        "tokens_per_fast_pass": sum(r["tokens"] for r in rows) / fast_p,
        "draft_acceptance": sum(r["draft_accepted"] for r in rows) / max(1, sum(r["tokens"] for r in rows)),
        "forced_tokens_per_chunk": sum(r["forced"] for r in rows) / chunks,
        "mismatches": sum(r["mismatch_rows"] for r in rows),
        "forward_pass_ratio": hf_p / fast_p,
        "wall_ratio": hf_ms / fast_ms,
        "floor_ms_batch1": floor_ms(controller.policy, obs),
    }


def real_architecture(chunks: int) -> dict:
    """SmolVLM2-500M (random weights), one 512x512 image, PushT-sized chunk (10 x 2)."""
    from vla0_smol.pusht.pipeline import pusht_policy

    torch.manual_seed(0)
    policy = pusht_policy("smolvlm2-500m-random", load_vlm_weights=False).eval()
    cfg = policy.config
    obs = {
        "observation.image": torch.rand(1, 3, 96, 96),
        "observation.state": torch.tensor([[256.0, 256.0]]),
        "task": [cfg.default_task],
    }
    rows = {"hf": [], "fast": []}
    for _ in range(chunks):
        for method in ("hf", "fast"):
            policy.reset()
            out = policy.predict_action_chunk(obs, decoder=method)
            rows[method].append((policy.last_decode.forward_passes, 1e3 * policy.last_decode.seconds, out))
    same = all(torch.equal(a[2], b[2]) for a, b in zip(rows["hf"], rows["fast"]))
    params = sum(p.numel() for p in policy.vlm.parameters())
    hf_p, fast_p = np.mean([r[0] for r in rows["hf"]]), np.mean([r[0] for r in rows["fast"]])
    hf_ms, fast_ms = np.mean([r[1] for r in rows["hf"]]), np.mean([r[1] for r in rows["fast"]])
    return {
        "model": "SmolVLM2-500M architecture, random weights",
        "parameters": params,
        "chunks": chunks,
        "hf_passes_per_chunk": hf_p,
        "fast_passes_per_chunk": fast_p,
        "hf_ms_per_chunk": hf_ms,
        "fast_ms_per_chunk": fast_ms,
        "ms_per_hf_pass": hf_ms / hf_p,
        "forward_pass_ratio": hf_p / fast_p,
        "wall_ratio": hf_ms / fast_ms,
        "identical": same,
        "floor_ms": floor_ms(policy, obs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, default=DEFAULT_CKPT)
    ap.add_argument("--episodes", type=int, default=4)
    ap.add_argument("--max-steps", type=int, default=150)
    ap.add_argument("--real-chunks", type=int, default=2, help="chunks decoded by the 500M model (0: skip)")
    ap.add_argument("--out", type=Path, default=Path("results/bench/decode.json"))
    args = ap.parse_args()
    if not (args.checkpoint / "model.safetensors").exists():
        raise SystemExit(f"no trained checkpoint at {args.checkpoint}: run `make demo` first or pass --checkpoint")

    loops = [
        closed_loop(args.checkpoint, args.episodes, 1, args.max_steps, "chunk"),
        closed_loop(args.checkpoint, args.episodes, 1, args.max_steps, "temporal"),
        closed_loop(args.checkpoint, 2 * args.episodes, 8, args.max_steps, "chunk"),
    ]
    real = real_architecture(args.real_chunks) if args.real_chunks else None

    print("\n(a) trained tiny policy, PushT closed loop (per decode call; a call decodes one chunk per env)")
    print(
        "| execution | envs | calls | hf passes | fast passes | pass ratio | hf ms | fast ms | wall ratio |"
        " tokens/fast pass | draft acceptance | mismatches | floor ms (1 env) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in loops:
        print(
            f"| {r['execution']} | {r['envs']} | {r['decode_calls']} | {r['hf_passes_per_call']:.1f} | "
            f"{r['fast_passes_per_call']:.1f} | {r['forward_pass_ratio']:.2f}x | {r['hf_ms_per_call']:.1f} | "
            f"{r['fast_ms_per_call']:.1f} | {r['wall_ratio']:.2f}x | {r['tokens_per_fast_pass']:.1f} | "
            f"{100 * r['draft_acceptance']:.0f}% | {r['mismatches']} | {r['floor_ms_batch1']:.1f} |"
        )
    if real:
        print("\n(b) SmolVLM2-500M architecture, random weights, 1 image 512x512, 20 integers")
        print("| decoder | passes/chunk | ms/chunk | ms/pass |\n|---|---|---|---|")
        print(
            f"| hf | {real['hf_passes_per_chunk']:.1f} | {real['hf_ms_per_chunk']:.0f} | {real['ms_per_hf_pass']:.0f} |"
        )
        print(f"| fast | {real['fast_passes_per_chunk']:.1f} | {real['fast_ms_per_chunk']:.0f} | |")
        print(f"floor (prefill + one pass over the chunk): {real['floor_ms']:.0f} ms; identical: {real['identical']}")
    main_row = loops[0]
    result = {
        "forward_pass_ratio": main_row["forward_pass_ratio"],
        "wall_ratio": main_row["wall_ratio"],
        "mismatches": sum(r["mismatches"] for r in loops),
        "model": f"tiny preset trained ({args.checkpoint})",
        "machine": machine(),
        "closed_loop": loops,
        "real_architecture": real,
    }
    save_json(result, args.out)
    print(json.dumps({k: result[k] for k in ("forward_pass_ratio", "wall_ratio", "mismatches")}))


if __name__ == "__main__":
    main()
