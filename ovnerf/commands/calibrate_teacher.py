"""`ovnerf calibrate-teacher`: the four calibration figures of the simulated CLIP teacher.

Renders (or reuses) the demo room in ``--out/scene`` and measures the teacher (a SIMULATION of
CLIP, default ``simulated-crops``) on its training views: cos(feature, true class text), median
top-1 − top-2 margin, 2D mIoU of the relevancy map S, share of ground-truth segments (≥ 1 % of
the image) whose majority label in S is right — against the targets fixed before any ablation.
"""
from __future__ import annotations

import json
from pathlib import Path

from ovnerf.experiments.ablation import ABLATION_TEACHER
from ovnerf.experiments.calibrate_teacher import calibrate_on_demo_room
from ovnerf.experiments.demo import DemoSettings


def add_parser(subparsers) -> None:
    d = DemoSettings()
    p = subparsers.add_parser("calibrate-teacher", help="calibration figures of the simulated CLIP teacher",
                              description=__doc__.split("\n\n")[1])
    p.add_argument("--out", default="calibration_out", help="work folder (the rendered room)")
    p.add_argument("--teacher", choices=["simulated-crops", "simulated"], default=ABLATION_TEACHER)
    p.add_argument("--seed", type=int, default=d.seed, help="room seed (generator --seed)")
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--frames", type=int, default=d.n_frames)
    p.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    s = DemoSettings(seed=args.seed, width=args.width, height=args.height, n_frames=args.frames,
                     teacher=args.teacher)
    cal, teacher = calibrate_on_demo_room(args.out, s, progress=not args.no_progress)
    print(f"teacher: {teacher.name} — a SIMULATION of CLIP built from the ground-truth labels, not CLIP")
    print(f"demo room seed {args.seed}, {args.width}x{args.height}, training views")
    print(cal.table())
    if args.json is not None:
        args.json.write_text(json.dumps(cal.to_dict(), indent=1))
    return 0 if all(cal.inside().values()) else 1
