"""``vla0-smol``: the command line of the recipe book."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vla0-smol", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="scripted PushT demonstrations -> train the tiny preset -> evaluate")
    demo.add_argument("--profile", default="cpu", choices=["smoke", "cpu", "full"])
    demo.add_argument("--out", type=Path, default=Path("results/demo"))
    demo.add_argument("--data-dir", type=Path, default=Path("data"))
    demo.add_argument("--seed", type=int, default=0)

    recipes = sub.add_parser("recipes", help="the recipe book (papermill)")
    recipes_sub = recipes.add_subparsers(dest="action", required=True)
    run = recipes_sub.add_parser("run", help="execute the recipes headlessly and render the blog's tables")
    run.add_argument("--profile", default="smoke", choices=["smoke", "cpu", "full"])
    run.add_argument("--only", nargs="+", metavar="NAME", help="run only these recipes (blog_tables always runs)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--results-dir", type=Path, default=Path("results"))
    recipes_sub.add_parser("list", help="list the recipes in reading order")

    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        run_demo(args.out, args.profile, args.seed, args.data_dir)
        return 0
    from . import recipes as book

    if args.action == "list":
        print("\n".join(book.RECIPES))
        return 0
    return book.main(args.profile, args.only, args.seed, args.results_dir)


if __name__ == "__main__":
    sys.exit(main())
