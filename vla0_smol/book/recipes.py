"""``vla0-smol recipes run``: execute the recipe book headlessly with papermill.

Each notebook of ``recipes/`` (paired with ``notebooks/*.py``) has one cell tagged
``parameters`` (``profile``, ``seed``, ``out_dir``). Executed copies go to
``results/<profile>/executed/``, each recipe's printed output to ``results/<profile>/logs/``;
a failing recipe does not stop the others, and the run ends with ``blog_tables``, which
renders whatever results exist. One line per recipe says which one runs, the time elapsed and
an estimate of the time left from :data:`KNOWN_SECONDS`.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .paths import repo_root

ROOT = repo_root()  # the repository: recipes/, notebooks/

# Reading order of the book (the method, then pretraining and the ablations); blog_tables always runs last.
RECIPES = [
    "quickstart",
    "action_as_text",
    "masking",
    "grammar",
    "ensembling",
    "inside_the_policy",
    "pretrain",
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


# Measured wall times (s) on 2 shared CPU cores, for the progress line's estimate of the time
# left; a recipe missing here is counted as unknown. cpu: README's "Recipe book" figures (an
# ablation arm is one ~20 min training run).
KNOWN_SECONDS: dict[str, dict[str, float]] = {
    "smoke": {  # recipes run --profile smoke, 2 cores shared with a training run
        "quickstart": 65,
        "pretrain": 40,
        "action_as_text": 29,
        "masking": 28,
        "grammar": 33,
        "ensembling": 26,
        "inside_the_policy": 36,  # with quickstart's run on disk
        "ablation_lr": 108,
        "ablation_vision": 71,  # with the reference controllers (the first chapter to run measures them)
        "ablation_state_action": 88,
        "ablation_system_prompt": 68,
        "ablation_masking": 84,
        "ablation_ensembling": 79,  # with 15 s measuring the decodes of both modes
        "libero": 117,
        "so100_deploy": 57,
        "blog_tables": 34,
    },
    "cpu": {
        "quickstart": 1200,
        "action_as_text": 12,
        "masking": 12,
        "grammar": 52,
        "ensembling": 11,
        "ablation_lr": 4 * 1200,
        "ablation_vision": 2 * 1200,
        "ablation_state_action": 4 * 1200,
        "ablation_system_prompt": 2 * 1200,
        "ablation_masking": 3 * 1200,
        "ablation_ensembling": 2100,
        "blog_tables": 12,
    },
}


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}h{rest // 60:02d}m" if h else f"{rest // 60}m{rest % 60:02d}s"


def progress_line(i: int, names: list[str], profile: str, elapsed: float) -> str:
    """``[i/n] name  elapsed ..., left ~...`` for the recipe ``names[i - 1]`` about to start."""
    known = KNOWN_SECONDS.get(profile, {})
    left = names[i - 1 :]
    eta = sum(known[n] for n in left if n in known)
    unknown = [n for n in left if n not in known]
    est = f"left ~{_clock(eta)}" if eta else "left: unknown"
    if eta and unknown:
        est += f" + {len(unknown)} recipe(s) never timed at {profile}"
    return f"[{i}/{len(names)}] {names[i - 1]:24s} elapsed {_clock(elapsed)}, {est}"


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
    results_dir: Path | None = None,
    recipes_dir: Path = ROOT / "recipes",
    timeout: int | None = None,
    parameters: dict | None = None,
    jobs: int = 1,
) -> list[RecipeRun]:
    """Run recipes (all, or ``only``) at a profile; ``blog_tables`` closes every run.

    ``parameters`` are further values of the recipes' ``parameters`` cells (e.g.
    ``{"checkpoint": "olegbalakhnov/libero_vla0_final"}``); a recipe without such a parameter is
    given only those it declares. ``results_dir`` defaults to the repository's ``results/``.
    Each recipe's printed output (stdout and stderr of its cells) is kept in
    ``<results_dir>/<profile>/logs/<recipe>.log``, written as the cells run.

    ``jobs > 1`` runs that many recipes at once, each in its own process and kernel (give each
    kernel one thread: ``OMP_NUM_THREADS=1``); ``blog_tables``, which reads the others' results,
    still runs last, alone. Chapters that share a dataset or a training run take turns on it
    (:func:`vla0_smol.results.exclusive`). Returned in the book's order whatever the finishing order.
    """
    unknown = sorted(set(only or []) - set(RECIPES))
    if unknown:
        raise ValueError(f"unknown recipe(s) {unknown}; known: {RECIPES}")
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    names = [n for n in RECIPES if (not only or n in only) and n != "blog_tables"] + ["blog_tables"]
    check_parameters(names, parameters, recipes_dir)
    out_dir = (Path(results_dir).resolve() if results_dir else ROOT / "results") / profile
    (out_dir / "executed").mkdir(parents=True, exist_ok=True)
    (out_dir / "logs").mkdir(parents=True, exist_ok=True)
    job = dict(profile=profile, seed=seed, out_dir=out_dir, recipes_dir=Path(recipes_dir), timeout=timeout)
    job |= dict(parameters=parameters, kernel=kernel_name())
    start, runs = time.perf_counter(), {}

    def done(run: RecipeRun) -> None:
        runs[run.name] = run
        record_run(out_dir, run, profile, seed, out_dir / "executed" / f"{run.name}.ipynb")
        status = "ok" if run.error is None else f"FAILED {run.error}; log: {out_dir / 'logs' / (run.name + '.log')}"
        print(f"      {run.name:24s} {run.seconds:7.1f} s  {status}", flush=True)

    first = names[:-1]
    if jobs > 1 and len(first) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        print(f"{len(first)} recipes, {jobs} at a time; then blog_tables", flush=True)
        spawn = multiprocessing.get_context("spawn")  # no fork of a process that holds torch's threads
        with ProcessPoolExecutor(jobs, mp_context=spawn) as pool:
            known = KNOWN_SECONDS.get(profile, {})  # the longest first: the last to finish ends sooner
            futures = [pool.submit(run_one, n, **job) for n in sorted(first, key=lambda n: -known.get(n, 1e9))]
            for k, future in enumerate(as_completed(futures), 1):
                print(f"[{k}/{len(names)}] elapsed {_clock(time.perf_counter() - start)}", flush=True)
                done(future.result())
    else:
        for i, name in enumerate(first, 1):
            print(progress_line(i, names, profile, time.perf_counter() - start), flush=True)
            done(run_one(name, **job))
    print(progress_line(len(names), names, profile, time.perf_counter() - start), flush=True)
    done(run_one(names[-1], **job))
    return [runs[n] for n in names]


def run_one(
    name: str,
    profile: str,
    seed: int,
    out_dir: Path,
    recipes_dir: Path,
    timeout: int | None,
    parameters: dict | None,
    kernel: str,
) -> RecipeRun:
    """Execute one recipe with papermill into ``<out_dir>/executed/``, its output in ``logs/``."""
    import papermill as pm

    src = recipes_dir / f"{name}.ipynb"
    executed = out_dir / "executed" / f"{name}.ipynb"
    t0 = time.perf_counter()
    error = None
    with open(out_dir / "logs" / f"{name}.log", "w") as log:
        log.write(f"# {name} at profile {profile}, seed {seed}; executed copy: {executed}\n")
        try:
            if not src.exists():
                raise FileNotFoundError(f"{src} does not exist (run `jupytext --sync notebooks/{name}.py`)")
            base = {"profile": profile, "seed": seed, "out_dir": shown_path(out_dir)}
            pm.execute_notebook(
                str(src),
                str(executed),
                parameters=recipe_parameters(src, base, parameters),
                kernel_name=kernel,
                cwd=str(ROOT),
                progress_bar=False,
                stdout_file=log,
                stderr_file=log,
                execution_timeout=timeout,
            )
        except Exception as err:  # noqa: BLE001 - report and go on with the next recipe
            cell = getattr(err, "exec_count", None) or getattr(err, "cell_index", None)
            where = f" (cell {cell})" if cell is not None else ""
            detail = getattr(err, "ename", type(err).__name__), getattr(err, "evalue", str(err))
            error = f"{detail[0]}{where}: {str(detail[1]).splitlines()[0] if detail[1] else ''}"
            log.write(f"\nFAILED: {error}\n")
    return RecipeRun(name, time.perf_counter() - t0, error)


def shown_path(path: Path) -> str:
    """``path`` relative to the repository when inside it (the chapters resolve it from there), else absolute.

    What a chapter is given is printed in its injected-parameters cell: the book must not show the
    absolute paths of the machine that built it.
    """
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


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


def main(
    profile: str,
    only: list[str] | None,
    seed: int,
    results_dir: Path | None = None,
    parameters: dict | None = None,
    cell_timeout: int | None = None,
    jobs: int = 1,
) -> int:
    runs = run_recipes(profile, only, seed, results_dir, timeout=cell_timeout, parameters=parameters, jobs=jobs)
    failed = [r for r in runs if r.error]
    print(f"\n{len(runs) - len(failed)} passed, {len(failed)} failed")
    out = (Path(results_dir).resolve() if results_dir else ROOT / "results") / profile
    for r in failed:
        print(f"  {r.name}: {r.error}  (see {out}/executed/{r.name}.ipynb and {out}/logs/{r.name}.log)")
    return 1 if failed else 0
