"""``ovnerf demo [--out demo_out]``: the whole pipeline on the built-in room, at CPU scale.

Renders (or reuses) the procedural demo room, preprocesses it with the SIMULATED CLIP teacher
(features synthesised from the ground-truth labels — not CLIP) and ONNX SAM, trains OV-NeRF
with RSR + CSE, evaluates mIoU/mAcc on the held-out views, answers text queries (2D mask and 3D
centroid vs the room's ground truth) and writes PNG panels + summary.json to the output folder.
See :mod:`ovnerf.experiments.demo`.
"""
from __future__ import annotations

import json
from dataclasses import asdict

from tqdm import tqdm

from ovnerf.errors import UserError
from ovnerf.experiments.demo import DEFAULT_QUERIES, DemoSettings, _json_default, run_demo


# (flag, DemoSettings field, help); type and default come from DemoSettings
SETTING_OPTIONS = [
    ("--seed", "seed", "room / training seed"),
    ("--frames", "n_frames", "frames rendered; every 10th is held out"),
    ("--width", "width", "image width"),
    ("--height", "height", "image height"),
    ("--iterations", "iterations", "training iterations"),
    ("--rays", "batch_rays", "rays per iteration"),
    ("--noise", "sim_noise", "noise level of the simulated teacher in [0,1]"),
    ("--sam-points", "sam_points_per_side", "SAM prompt grid points per side (preprocessing and CSE)"),
    ("--cse-events", "cse_events", "CSE events in Stage II"),
    ("--novel-views", "cse_novel_views", "novel views per CSE event"),
    ("--depth-weight", "depth_weight", "weight of the depth L1 (RGB-D supervision, our addition; 0 = RGB only as in the paper)"),
    ("--free-space-weight", "free_space_weight", "weight of the line-of-sight free-space loss (with depth)"),
    ("--threads", "threads", "torch threads (0 = auto: 1 when the machine is busy, else torch's choice)"),
]


def add_parser(subparsers) -> None:
    d = DemoSettings()
    p = subparsers.add_parser(
        "demo", help="end-to-end demo on the built-in room (simulated CLIP teacher, ONNX SAM, RSR+CSE)",
        description=__doc__.split("\n\n")[1])
    p.add_argument("--out", default="demo_out", help="output folder (default ./demo_out)")
    for flag, field, text in SETTING_OPTIONS:
        default = getattr(d, field)
        p.add_argument(flag, dest=field, metavar=flag[2:].upper().replace("-", "_"), type=type(default),
                       default=default, help=f"{text} (default {default:g})")
    p.add_argument("--dino", choices=["onnx", "none"], default=d.dino, help=f"DINO backend (default {d.dino})")
    p.add_argument("--teacher", choices=["simulated-crops", "simulated"], default=d.teacher,
                   help="simulated CLIP teacher (a SIMULATION, not CLIP): simulated-crops = 3DOVS crops on "
                        f"CLIP's mechanism, calibrated; simulated = the older one (default {d.teacher})")
    p.add_argument("--queries", default=",".join(DEFAULT_QUERIES),
                   help=f'comma-separated text queries (default "{",".join(DEFAULT_QUERIES)}")')
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--retrain", action="store_true", help="train again even if a matching checkpoint exists")
    p.add_argument("--json", action="store_true", help="print summary.json instead of the table")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    queries = tuple(q.strip() for q in args.queries.split(",") if q.strip())
    if not queries:
        raise UserError("--queries is empty")
    settings = {field: getattr(args, field) for _, field, _ in SETTING_OPTIONS}
    settings["cse_sam_points_per_side"] = settings["sam_points_per_side"]
    summary = run_demo(args.out, queries=queries, progress=not args.no_progress, retrain=args.retrain,
                       dino=args.dino, teacher=args.teacher, device=args.device, echo=lambda m: tqdm.write(m), **settings)
    if args.json:
        print(json.dumps(asdict(summary), indent=1, default=_json_default))
    else:
        print()
        print(summary.table())
    return 0
