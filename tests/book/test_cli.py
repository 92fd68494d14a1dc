"""The ``vla0-smol`` console script: the entry point of ``pyproject.toml`` resolves and runs."""

import importlib
import tomllib
from pathlib import Path

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
