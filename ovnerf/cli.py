"""The `ovnerf` command. Each sub-command lives in `ovnerf/commands/<name>.py` and exposes
`add_parser(subparsers)` (registering itself with `set_defaults(func=run)`) and `run(args) -> int`.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ovnerf.errors import UserError
from ovnerf.scene.input_checks import clip_message

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


def _readable(exc) -> str:
    """The error's lines, each cut to 600 characters (a 1 MB query text is not echoed back)."""
    return "\n".join(clip_message(line, 600) for line in str(exc).splitlines() or [""])


def _attach_negative_lists(argv: list[str]) -> list[str]:
    """``--aabb -1,-1,0,1,1,2`` → ``--aabb=-1,-1,0,1,1,2``: argparse takes a value that starts with
    '-' and is not a plain number for an option and fails ("expected one argument"); a list of
    numbers in one token (commas or spaces) is never an option."""
    out: list[str] = []
    for a in argv:
        if (out and out[-1].startswith("--") and "=" not in out[-1] and len(a) > 1 and a[0] == "-"
                and (a[1].isdigit() or a[1] == ".") and ("," in a or " " in a)):
            out[-1] = f"{out[-1]}={a}"
        else:
            out.append(a)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_attach_negative_lists(sys.argv[1:] if argv is None else list(argv)))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"ovnerf {args.command}: error: {_readable(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path the user gave: missing, unreadable, too long, disk full
        if args.verbose:
            raise
        print(f"ovnerf {args.command}: error: {_readable(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ovnerf {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
