"""``ovnerf demo [--out demo_out]``: the whole pipeline on the built-in room, at CPU scale.

Renders (or reuses) the procedural demo room, preprocesses it with the SIMULATED CLIP teacher
(features synthesised from the ground-truth labels — not CLIP) and ONNX SAM, trains OV-NeRF
with RSR + CSE, evaluates mIoU/mAcc on the held-out views, answers text queries (2D mask and 3D
centroid vs the room's ground truth) and writes PNG panels + summary.json to the output folder.
See :mod:`ovnerf.demo.pipeline`.
"""
from __future__ import annotations

import json

from ovnerf.demo.pipeline import DEFAULT_QUERIES, DemoSettings


def add_parser(subparsers) -> None:
    d = DemoSettings()
    p = subparsers.add_parser(
        "demo", help="end-to-end demo on the built-in room (simulated CLIP teacher, ONNX SAM, RSR+CSE)",
        description=__doc__.split("\n\n")[1])
    p.add_argument("--out", default="demo_out", help="output folder (default ./demo_out)")
    p.add_argument("--seed", type=int, default=d.seed, help=f"room / training seed (default {d.seed})")
    p.add_argument("--frames", type=int, default=d.n_frames, help=f"frames rendered (default {d.n_frames}; every 10th is held out)")
    p.add_argument("--width", type=int, default=d.width, help=f"image width (default {d.width})")
    p.add_argument("--height", type=int, default=d.height, help=f"image height (default {d.height})")
    p.add_argument("--iterations", type=int, default=d.iterations, help=f"training iterations (default {d.iterations})")
    p.add_argument("--rays", type=int, default=d.batch_rays, help=f"rays per iteration (default {d.batch_rays})")
    p.add_argument("--noise", type=float, default=d.sim_noise,
                   help=f"noise level of the simulated teacher in [0,1] (default {d.sim_noise})")
    p.add_argument("--sam-points", type=int, default=d.sam_points_per_side,
                   help=f"SAM prompt grid points per side (default {d.sam_points_per_side})")
    p.add_argument("--cse-events", type=int, default=d.cse_events,
                   help=f"CSE events in Stage II (default {d.cse_events})")
    p.add_argument("--novel-views", type=int, default=d.cse_novel_views,
                   help=f"novel views per CSE event (default {d.cse_novel_views})")
    p.add_argument("--depth-weight", type=float, default=d.depth_weight,
                   help=f"weight of the depth L1 (RGB-D supervision, our addition; 0 = RGB only as in the paper; default {d.depth_weight:g})")
    p.add_argument("--free-space-weight", type=float, default=d.free_space_weight,
                   help=f"weight of the line-of-sight free-space loss (with depth; default {d.free_space_weight:g})")
    p.add_argument("--dino", choices=["onnx", "none"], default=d.dino, help=f"DINO backend (default {d.dino})")
    p.add_argument("--queries", default=",".join(DEFAULT_QUERIES),
                   help=f'comma-separated text queries (default "{",".join(DEFAULT_QUERIES)}")')
    p.add_argument("--threads", type=int, default=d.threads, help="torch threads (default 0 = auto: 1 when the machine is busy, else torch's choice)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--retrain", action="store_true", help="train again even if a matching checkpoint exists")
    p.add_argument("--json", action="store_true", help="print summary.json instead of the table")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    from tqdm import tqdm

    from ovnerf.demo.pipeline import run_demo
    from ovnerf.errors import UserError

    queries = tuple(q.strip() for q in args.queries.split(",") if q.strip())
    if not queries:
        raise UserError("--queries is empty")
    summary = run_demo(args.out, seed=args.seed, width=args.width, height=args.height, n_frames=args.frames,
                       iterations=args.iterations, queries=queries, progress=not args.no_progress,
                       retrain=args.retrain, batch_rays=args.rays, sim_noise=args.noise,
                       sam_points_per_side=args.sam_points, cse_sam_points_per_side=args.sam_points,
                       dino=args.dino, depth_weight=args.depth_weight, free_space_weight=args.free_space_weight,
                       cse_events=args.cse_events, cse_novel_views=args.novel_views, threads=args.threads, device=args.device,
                       echo=lambda m: tqdm.write(m))
    if args.json:
        from dataclasses import asdict

        from ovnerf.demo.pipeline import _json_default
        print(json.dumps(asdict(summary), indent=1, default=_json_default))
    else:
        print()
        print(summary.table())
    return 0
