"""The `ovnerf` command. Each sub-command lives in `ovnerf/commands/<name>.py` and exposes
`add_parser(subparsers)` (registering itself with `set_defaults(func=run)`) and `run(args) -> int`.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ovnerf.errors import UserError

# Order shown in --help; every name is a module ovnerf/commands/<name>.py (a missing one is an
# ImportError, never silently skipped: --help lists only commands that exist).
COMMANDS = [
    "doctor", "generate_scene", "import_capture", "import_bag", "preprocess", "train", "render", "eval",
    "query", "demo", "bench", "bench_collector", "ablation", "calibrate_teacher",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ovnerf", description="OV-NeRF open-vocabulary 3D semantic mapping")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"ovnerf.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"ovnerf {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ovnerf {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
