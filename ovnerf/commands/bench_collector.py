"""``ovnerf bench-collector``: keyframes/s the collector's admission path (ovnerf.scene.ingest →
SceneStore journal) sustains at 640×480 for a store of 10 and of 5,000 keyframes, per PNG
compression level, and their ratio (admission cost must not grow with the store). See
:mod:`ovnerf.scene.ingest_bench`.
"""
from __future__ import annotations

import argparse

from ovnerf.errors import UserError
from ovnerf.scene.ingest_bench import run_bench


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("bench-collector", help="keyframe admission rate of the collector path vs store size",
                              description=__doc__)
    p.add_argument("--sizes", default="10,5000", help="stored keyframes before measuring (comma-separated)")
    p.add_argument("--admit", type=int, default=120, help="keyframes admitted per measurement")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--png-compression", default="0,1", help="levels to measure (0 = stored .. 9)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved measurements per figure (the best is shown)")
    p.add_argument("--workdir", default=None, help="directory for the temporary stores (default: system temp)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        levels = [int(s) for s in args.png_compression.split(",") if s.strip()]
    except ValueError:
        raise UserError("--sizes and --png-compression take comma-separated integers") from None
    if not sizes or min(sizes) < 1 or args.admit < 1 or args.rounds < 1 or not levels \
            or not all(0 <= v <= 9 for v in levels):
        raise UserError("--sizes ≥ 1, --admit ≥ 1, --rounds ≥ 1, --png-compression levels in 0..9")
    run_bench(sizes, args.admit, args.width, args.height, levels, args.rounds, args.workdir,
              print_fn=lambda *a: print(*a, flush=True))
    return 0
