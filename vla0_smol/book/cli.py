"""``vla0-smol``: the command line of the recipe book."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["pretrain"]:  # its own options, including --help
        from ..presets.recipe import main as pretrain_main

        return pretrain_main(argv[1:])
    parser = argparse.ArgumentParser(prog="vla0-smol", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="scripted PushT demonstrations -> train the tiny preset -> evaluate")
    demo.add_argument("--profile", default="cpu", choices=["smoke", "cpu", "full"])
    demo.add_argument("--out", type=Path, default=None, help="default: results/demo (results/demo_long with --long)")
    demo.add_argument("--data-dir", type=Path, default=Path("data"))
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument(
        "--checkpoint", default="", help="evaluate this checkpoint (folder or hub id; vla0_smol or vla0), no training"
    )
    demo.add_argument(
        "--long", action="store_true", help="cpu profile only: train about an hour and evaluate 64 episodes"
    )

    recipes = sub.add_parser("recipes", help="the recipe book (papermill)")
    recipes_sub = recipes.add_subparsers(dest="action", required=True)
    run = recipes_sub.add_parser("run", help="execute the recipes headlessly and render the blog's tables")
    run.add_argument("--profile", default="smoke", choices=["smoke", "cpu", "full"])
    run.add_argument("--only", nargs="+", metavar="NAME", help="run only these recipes (blog_tables always runs)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--results-dir", type=Path, help="default: results/ at the repository root")
    run.add_argument(
        "-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
        help="a recipe parameter (a string), e.g. -p checkpoint olegbalakhnov/libero_vla0_final; repeatable",
    )  # fmt: skip
    run.add_argument(
        "--cell-timeout", type=int, default=None, metavar="SECONDS",
        help="fail a recipe whose cell runs longer than this (default: none; a cpu or full cell can take hours)",
    )  # fmt: skip
    recipes_sub.add_parser("list", help="list the recipes in reading order")

    book_cmd = sub.add_parser("book", help="the executed book: notebooks with outputs and a static site")
    book_sub = book_cmd.add_subparsers(dest="action", required=True)
    build = book_sub.add_parser(
        "build", help="execute every chapter, write docs/book/<profile>/ (committed) and the site site/<profile>/"
    )
    build.add_argument("--profile", default="smoke", choices=["smoke", "cpu", "full"])
    build.add_argument("--out", type=Path, help="default: docs/book/ at the repository root")
    build.add_argument("--results-dir", type=Path, help="default: results/ at the repository root")
    build.add_argument("--no-run", action="store_true", help="reuse the executed copies in the results folder")
    build.add_argument("--only", nargs="+", metavar="NAME", help="execute and export only these chapters")
    build.add_argument("--site", type=Path, help="default: site/<profile>/ at the repository root")
    build.add_argument("--no-check", action="store_true", help="do not look at the site in headless Chromium")
    for p in (run, build):
        p.add_argument(
            "--jobs", type=int, default=1, metavar="N",
            help="run N chapters at once, each kernel on one thread (blog_tables last); default 1",
        )  # fmt: skip
    check = book_sub.add_parser("check", help="look at the built site in headless Chromium (figures, tables)")
    check.add_argument("--profile", default="smoke", choices=["smoke", "cpu", "full"])
    check.add_argument("--site", type=Path, help="default: site/<profile>/ at the repository root")

    sub.add_parser(
        "pretrain",
        help="pretrain the tiny VLM stage by stage: see 'vla0-smol pretrain --help'",
    )

    convert = sub.add_parser("convert", help="the authors' LeRobot vla0 checkpoint -> a vla0_smol checkpoint")
    convert.add_argument("src", help="their pretrained_model folder (or a folder holding one) or a hub id")
    convert.add_argument("dst", type=Path, help="the folder to write (must not exist or be empty)")
    convert.add_argument("--backbone", help="the SmolVLM2 they started from (default: their vlm_checkpoint)")

    args = parser.parse_args(argv)
    if args.command == "demo":
        from .terminal import quiet_terminal

        quiet_terminal()  # one line on video decoding; torchcodec's tracebacks and pygame's warning filtered
        from .demo import run_demo

        if args.long and args.profile != "cpu":
            parser.error(f"--long extends the cpu profile, not --profile {args.profile}")
        out = args.out or Path("results/demo_long" if args.long else "results/demo")
        run_demo(out, args.profile, args.seed, args.data_dir, checkpoint=args.checkpoint, long=args.long)
        return 0
    if args.command == "convert":
        return convert_command(args.src, args.dst, args.backbone)
    if args.command == "book" and args.action == "check":
        from .browser import main as check_main
        from .site import site_dir

        return check_main([str(args.site or site_dir(args.profile))])
    if args.command == "book":
        from .build import build_book

        build_book(
            args.profile, args.out, args.results_dir, run=not args.no_run, only=args.only, site=args.site,
            check=not args.no_check, jobs=args.jobs,
        )  # fmt: skip
        return 0
    from . import recipes as book

    if args.action == "list":
        print("\n".join(book.RECIPES))
        return 0
    try:
        return book.main(
            args.profile, args.only, args.seed, args.results_dir, dict(args.parameter), args.cell_timeout, args.jobs
        )
    except ValueError as err:  # an unknown recipe or parameter, named
        print(f"vla0-smol recipes run: error: {err}", file=sys.stderr)
        return 2


def convert_command(src: str, dst: Path, backbone: str | None = None) -> int:
    """``vla0-smol convert``: convert, then list the files written; errors name the problem, exit 2."""
    from ..convert import CheckpointFormatError, convert_vla0_checkpoint

    try:
        out = convert_vla0_checkpoint(src, dst, backbone=backbone)
    except (CheckpointFormatError, FileExistsError) as err:
        print(f"vla0-smol convert: error: {err}", file=sys.stderr)
        return 2
    files = sorted(p for p in out.rglob("*") if p.is_file())
    print(f"wrote the vla0_smol checkpoint {out} ({len(files)} files):")
    for f in files:
        print(f"  {f.relative_to(out)}  {f.stat().st_size / 1e6:.1f} MB")
    print(f"load it with VLA0SmolPolicy.from_pretrained({str(out)!r}) or --policy.path={out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
