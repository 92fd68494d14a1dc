"""``vla0-smol recipes run``: execute the recipe book headlessly with papermill.

Each notebook of ``recipes/`` (paired with ``notebooks/*.py``) has one cell tagged
``parameters`` (``profile``, ``seed``, ``out_dir``). Executed copies go to
``results/<profile>/executed/``; a failing recipe does not stop the others, and the run ends
with ``blog_tables``, which renders whatever results exist.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

ROOT = Path(__file__).resolve().parents[2]  # the repository: recipes/, notebooks/

# Reading order of the book; blog_tables always runs last.
RECIPES = [
    "quickstart",
    "pretrain",
    "action_as_text",
    "masking",
    "grammar",
    "ensembling",
    "ablation_lr",
    "ablation_vision",
    "ablation_state_action",
    "ablation_system_prompt",
    "ablation_masking",
    "ablation_ensembling",
    "libero",
    "so100_deploy",
    "blog_tables",
]


@dataclass
class RecipeRun:
    name: str
    seconds: float
    error: str | None = None


def record_run(out_dir: Path, run: RecipeRun, profile: str, seed: int, notebook: Path) -> None:
    """``<out_dir>/<recipe>.json`` for a recipe that writes no results of its own (the tutorials).

    It records the run: profile, seed, wall time, error and the executed notebook (where the
    figures are). A recipe's own results file is never overwritten.
    """
    from ..results import save_json

    path = out_dir / f"{run.name}.json"
    if path.exists() and json.loads(path.read_text()).get("kind") != "run record":
        return
    record = {"kind": "run record", "recipe": run.name, "profile": profile, "seed": seed, "ok": run.error is None}
    record |= {"error": run.error, "seconds": round(run.seconds, 1), "executed_notebook": str(notebook)}
    save_json(record, path)


def kernel_name() -> str:
    """A Jupyter kernel running this interpreter (registered in this environment if missing)."""
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    name = "vla0-smol"
    if name not in specs:
        from ipykernel.kernelspec import install

        install(kernel_name=name, display_name="Python (vla0-smol)", prefix=sys.prefix)
    return name


def run_recipes(
    profile: str = "smoke",
    only: list[str] | None = None,
    seed: int = 0,
    results_dir: Path = Path("results"),
    recipes_dir: Path = ROOT / "recipes",
    timeout: int | None = None,
    parameters: dict | None = None,
) -> list[RecipeRun]:
    """Run recipes (all, or ``only``) at a profile; ``blog_tables`` closes every run.

    ``parameters`` are further values of the recipes' ``parameters`` cells (e.g.
    ``{"checkpoint": "olegbalakhnov/libero_vla0_final"}``); a recipe without such a parameter is
    given only those it declares.
    """
    import papermill as pm

    unknown = sorted(set(only or []) - set(RECIPES))
    if unknown:
        raise ValueError(f"unknown recipe(s) {unknown}; known: {RECIPES}")
    names = [n for n in RECIPES if (not only or n in only) and n != "blog_tables"] + ["blog_tables"]
    extra = parameters
    check_parameters(names, extra, recipes_dir)
    out_dir = Path(results_dir).resolve() / profile
    executed = out_dir / "executed"
    executed.mkdir(parents=True, exist_ok=True)
    kernel = kernel_name()
    runs = []
    for name in tqdm(names, desc=f"recipes ({profile})", unit="recipe"):
        src = Path(recipes_dir) / f"{name}.ipynb"
        t0 = time.perf_counter()
        error = None
        try:
            if not src.exists():
                raise FileNotFoundError(f"{src} does not exist (run `jupytext --sync notebooks/{name}.py`)")
            pm.execute_notebook(
                str(src),
                str(executed / f"{name}.ipynb"),
                parameters=recipe_parameters(src, {"profile": profile, "seed": seed, "out_dir": str(out_dir)}, extra),
                kernel_name=kernel,
                cwd=str(ROOT),
                progress_bar=False,
                execution_timeout=timeout,
            )
        except Exception as err:  # noqa: BLE001 - report and go on with the next recipe
            cell = getattr(err, "exec_count", None) or getattr(err, "cell_index", None)
            where = f" (cell {cell})" if cell is not None else ""
            detail = getattr(err, "ename", type(err).__name__), getattr(err, "evalue", str(err))
            error = f"{detail[0]}{where}: {str(detail[1]).splitlines()[0] if detail[1] else ''}"
            tqdm.write(f"FAILED {name}{where}: {error}")
        runs.append(RecipeRun(name, time.perf_counter() - t0, error))
        record_run(out_dir, runs[-1], profile, seed, executed / f"{name}.ipynb")
        tqdm.write(f"{'ok' if error is None else 'FAILED':6s} {name:24s} {runs[-1].seconds:7.1f} s")
    return runs


def recipe_parameters(notebook: Path, base: dict, extra: dict | None) -> dict:
    """``base`` and those of ``extra`` that the notebook's ``parameters`` cell declares."""
    if not extra:
        return base
    import papermill as pm

    declared = set(pm.inspect_notebook(str(notebook)))
    return base | {k: v for k, v in extra.items() if k in declared}


def check_parameters(names: list[str], extra: dict | None, recipes_dir: Path = ROOT / "recipes") -> None:
    """Refuse an extra parameter that no recipe of the run declares (a typo)."""
    import papermill as pm

    declared = set()
    for name in names:
        if (Path(recipes_dir) / f"{name}.ipynb").exists():
            declared |= set(pm.inspect_notebook(str(Path(recipes_dir) / f"{name}.ipynb")))
    unknown = sorted(set(extra or {}) - declared)
    if unknown:
        raise ValueError(f"no recipe of this run has the parameter(s) {unknown}; theirs: {sorted(declared)}")


def main(profile: str, only: list[str] | None, seed: int, results_dir: Path, parameters: dict | None = None) -> int:
    runs = run_recipes(profile, only, seed, results_dir, parameters=parameters)
    failed = [r for r in runs if r.error]
    print(f"\n{len(runs) - len(failed)} passed, {len(failed)} failed")
    for r in failed:
        print(f"  {r.name}: {r.error}  (see {Path(results_dir) / profile / 'executed' / (r.name + '.ipynb')})")
    return 1 if failed else 0
