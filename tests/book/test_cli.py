"""The ``vla0-smol`` console script: the entry point of ``pyproject.toml`` resolves and runs."""

import importlib
import tomllib
from pathlib import Path

import pytest

from vla0_smol.book.recipes import RECIPES

ROOT = Path(__file__).resolve().parents[2]


def test_console_script_entry_point_resolves_to_the_cli():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["vla0-smol"].split(":")
    main = getattr(importlib.import_module(module), function)
    assert module == "vla0_smol.book.cli" and callable(main)


def test_recipes_list_prints_the_book_in_reading_order(capsys):
    from vla0_smol.book.cli import main

    assert main(["recipes", "list"]) == 0
    assert capsys.readouterr().out.split() == RECIPES


def test_convert_writes_a_loadable_checkpoint_and_names_errors(tmp_path, capsys):
    from vla0_checkpoints import fabricate_vla0_checkpoint

    from vla0_smol import VLA0SmolPolicy
    from vla0_smol.book.cli import main

    src = fabricate_vla0_checkpoint(tmp_path / "theirs")
    assert main(["convert", str(src), str(tmp_path / "ours")]) == 0
    out = capsys.readouterr().out
    assert f"wrote the vla0_smol checkpoint {tmp_path / 'ours'}" in out and "model.safetensors" in out
    assert "backbone/" in out and "--policy.path=" in out
    VLA0SmolPolicy.from_pretrained(tmp_path / "ours")
    assert main(["convert", str(src), str(tmp_path / "ours")]) == 2  # not empty
    assert "exists and is not empty" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "ours"), str(tmp_path / "again")]) == 2  # ours, not theirs
    assert "already a vla0_smol checkpoint" in capsys.readouterr().err


def test_recipes_run_refuses_a_parameter_no_recipe_declares(tmp_path, capsys):
    from vla0_smol.book.cli import main

    argv = ["recipes", "run", "--only", "quickstart", "--results-dir", str(tmp_path), "-p", "chekpoint", "x"]
    assert main(argv) == 2
    assert "'chekpoint'" in capsys.readouterr().err and not (tmp_path / "smoke").exists()


@pytest.mark.timeout(300)
def test_recipes_run_fails_a_cell_past_its_timeout(tmp_path, capsys):
    """``--cell-timeout``: a hung or slow cell fails its recipe, named in the summary, instead of hanging."""
    from vla0_smol.book.cli import main

    argv = ["recipes", "run", "--only", "grammar", "--results-dir", str(tmp_path), "--cell-timeout", "1"]
    assert main(argv) == 1  # importing torch alone takes more than a second
    out = capsys.readouterr().out
    assert "grammar:" in out and "timed out" in out.lower(), out[-1500:]
