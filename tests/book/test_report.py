"""Plots of the book: written as PNG without touching the caller's matplotlib backend."""

import subprocess
import sys


def test_plots_keep_the_inline_backend(tmp_path):
    """A notebook's inline backend survives the book's plots, and no pyplot figure stays open."""
    code = f"""
import matplotlib
matplotlib.use("module://matplotlib_inline.backend_inline")
import matplotlib.pyplot as plt
from pathlib import Path
from vla0_smol.book.report import plot_ablation, plot_lr_curve
arms = [dict(arm=f"lr {{lr}}", success_rate=0.5, mean_max_coverage=0.3, policy_overrides={{"optimizer_lr": lr}})
        for lr in (1e-5, 5e-5)]
summary = dict(recipe="ablation_lr", profile="smoke", arms=arms)
out = Path({str(tmp_path)!r})
assert plot_ablation(summary, out / "a.png").stat().st_size > 0
assert plot_lr_curve(summary, out / "lr.png").stat().st_size > 0
assert matplotlib.get_backend() == "module://matplotlib_inline.backend_inline", matplotlib.get_backend()
assert plt.get_fignums() == [], plt.get_fignums()
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-2000:]


def test_an_arm_describes_its_settings_without_float_noise():
    from vla0_smol.book.ablation import blog_grid

    lines = [arm.describe() for arm in blog_grid("ablation_lr", base_lr=1e-3)]
    assert any("optimizer_lr=0.0001" in line and "scheduler_decay_lr=1e-05" in line for line in lines), lines
    assert not any("0000000" in line for line in lines) and all("evaluate: -" in line for line in lines)


def test_the_libero_average_needs_all_four_suites():
    from vla0_smol.book.report import LIBERO_SUITES, libero_table

    base = {"profile": "smoke", "model": "tiny", "dataset": "d", "train": {"steps": 4}, "checkpoint": None,
            "episodes": [], "episodes_per_task": 1}  # fmt: skip
    one = libero_table(base | {"success": {"temporal": {LIBERO_SUITES[0]: 0.5}}}).splitlines()[-1]
    assert one.endswith("| 50.0 | - | - | - | - |")  # one suite: no average beside the blog's four-suite one
    every = libero_table(base | {"success": {"temporal": dict.fromkeys(LIBERO_SUITES, 0.5)}}).splitlines()[-1]
    assert every.endswith("| 50.0 |")
