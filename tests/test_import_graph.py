"""The folder tree tells the architecture, and the imports keep to it.

``vla0_smol/`` has four rooms: the benchmarks ``pusht/``, ``libero/``, ``so100/`` and the ``book/``.
Everything else (the top-level modules, ``presets/``) is the method, with its generic shared
helpers (``training``, ``datasets``, ``results``). Rules, checked on every module parsed with
``ast`` (imports inside functions included, relative imports resolved):

* the method imports only the method (never a benchmark, never the book);
* a benchmark imports the method and itself, never another benchmark nor the book;
* the book imports anything.

``lerobot_policy_vla0_smol`` (the plugin LeRobot imports) counts as the method. Imports built
from strings at run time (``importlib.import_module``) are not seen.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ("pusht", "libero", "so100")
BOOK = "book"
FILES = sorted((ROOT / "vla0_smol").rglob("*.py")) + sorted((ROOT / "lerobot_policy_vla0_smol").rglob("*.py"))


def module_of(path: Path) -> tuple[str, bool]:
    """Dotted name of a file under ``ROOT`` and whether it is a package's ``__init__``."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_package else parts), is_package


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """The ``vla0_smol`` modules (or names in them) that ``source`` imports, anywhere in the file."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # from . / .. import: relative to the module's package
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}  # `from . import pusht` names a module
    return {m for m in found if m == "vla0_smol" or m.startswith("vla0_smol.")}


def room(module: str) -> str:
    """``pusht``, ``libero``, ``so100``, ``book`` or ``method``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in (*BENCHMARKS, BOOK) else "method"


def allowed(importer: str, imported: str) -> bool:
    if importer == BOOK:
        return True
    if importer == "method":
        return imported == "method"
    return imported in ("method", importer)  # a benchmark: the method and itself


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_keep_to_the_rooms(path):
    module, is_package = module_of(path)
    src = room(module)
    bad = sorted(m for m in imported_modules(path.read_text(), module, is_package) if not allowed(src, room(m)))
    assert not bad, f"{module} ({src}) imports {bad}: the {src} may not import the {sorted({room(m) for m in bad})}"


def test_every_room_is_a_package():
    for name in (*BENCHMARKS, BOOK):
        assert (ROOT / "vla0_smol" / name / "__init__.py").is_file(), name


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("from ..pusht.expert import PushTExpert", "vla0_smol.libero.env", {"vla0_smol.pusht.expert"}),
        ("def f():\n    from .. import book\n", "vla0_smol.so100.arm", {"vla0_smol", "vla0_smol.book"}),
        ("from .task import GOAL_POSE", "vla0_smol.pusht.expert", {"vla0_smol.pusht.task"}),
        ("import vla0_smol.so100.sim as sim", "vla0_smol.training", {"vla0_smol.so100.sim"}),
        ("from .pusht import pipeline", "vla0_smol.datasets", {"vla0_smol.pusht", "vla0_smol.pusht.pipeline"}),
        ("import numpy\nfrom lerobot.configs import PreTrainedConfig", "vla0_smol.tokens", set()),
    ],
)
def test_the_checker_resolves_relative_and_nested_imports(source, module, expected):
    names = imported_modules(source, module)
    assert expected <= names and all(n.startswith("vla0_smol") for n in names)


def test_the_checker_refuses_what_the_rules_forbid():
    assert not allowed(room("vla0_smol.training"), room("vla0_smol.pusht.pipeline"))  # method -> benchmark
    assert not allowed(room("vla0_smol.tokens"), room("vla0_smol.book.report"))  # method -> book
    assert not allowed(room("vla0_smol.libero.env"), room("vla0_smol.so100.sim"))  # benchmark -> benchmark
    assert not allowed(room("vla0_smol.pusht.demos"), room("vla0_smol.book"))  # benchmark -> book
    assert allowed(room("vla0_smol.so100.arm"), room("vla0_smol.training"))  # benchmark -> shared helper
    assert allowed(room("vla0_smol.book.cli"), room("vla0_smol.libero.pipeline"))  # book -> anything


def conftest_imports(source: str) -> list[int]:
    """Lines of ``source`` that import the module ``conftest`` (``import conftest``, ``from conftest import``)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module == "conftest" and not node.level:
            lines.append(node.lineno)
        elif isinstance(node, ast.Import) and any(a.name == "conftest" for a in node.names):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from conftest import x", [1]),
        ("import os\nimport conftest", [2]),
        ("from testkit import x\nfrom .conftest import y", []),
    ],
)
def test_the_conftest_checker_sees_both_import_forms(source, expected):
    assert conftest_imports(source) == expected


def test_no_test_imports_a_conftest():
    """Shared helpers live in ``tests/testkit.py``: with ``tests/conftest.py`` and ``tests/book/conftest.py``
    both on ``sys.path``, ``from conftest import`` picks one by collection order, and a full run's
    collection failed on it (7 modules, CI 2026-12-02) while the same files passed one by one."""
    offenders = {
        str(p.relative_to(ROOT)): conftest_imports(p.read_text()) for p in sorted((ROOT / "tests").rglob("*.py"))
    }
    assert {p: lines for p, lines in offenders.items() if lines} == {}
