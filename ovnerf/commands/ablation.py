"""``ovnerf ablation``: baseline vs +RSR vs +CSE vs +RSR+CSE vs "w CSE*" on the demo room.

Same scene, preprocess cache (SIMULATED CLIP teacher at ``--noise``, ONNX SAM), seed and
iterations for every variant; prints a Markdown table of mIoU / mAcc on the held-out views (and
writes it with ``--markdown FILE``). See :mod:`ovnerf.experiments.ablation`.
"""
from __future__ import annotations

import json
from pathlib import Path

from tqdm import tqdm

from ovnerf.errors import UserError
from ovnerf.experiments.ablation import ABLATION_TEACHER, markdown_table, per_class_table, run_ablation, seeds_table
from ovnerf.experiments.demo import DemoSettings, teacher_params


def add_parser(subparsers) -> None:
    d = DemoSettings()
    p = subparsers.add_parser("ablation", help="RSR / CSE ablation (paper Table VI shape) on the demo room",
                              description=__doc__.split("\n\n")[1])
    p.add_argument("--out", default="ablation_out", help="work folder (scene, cache, ablation.json)")
    p.add_argument("--variants", default="baseline,+RSR,+CSE,+RSR+CSE,w CSE*",
                   help="comma-separated subset of: baseline, +RSR, +CSE, +RSR+CSE, w CSE*")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--frames", type=int, default=d.n_frames)
    p.add_argument("--width", type=int, default=d.width)
    p.add_argument("--height", type=int, default=d.height)
    p.add_argument("--iterations", type=int, default=d.iterations)
    p.add_argument("--rays", type=int, default=d.batch_rays)
    p.add_argument("--noise", type=float, default=d.sim_noise, help="simulated teacher noise level")
    p.add_argument("--sam-points", type=int, default=d.sam_points_per_side)
    p.add_argument("--cse-events", type=int, default=d.cse_events,
                   help=f"CSE events in Stage II (default {d.cse_events})")
    p.add_argument("--novel-views", type=int, default=d.cse_novel_views,
                   help=f"novel views per CSE event (default {d.cse_novel_views})")
    p.add_argument("--dino", choices=["onnx", "none"], default=d.dino)
    p.add_argument("--teacher", choices=["simulated-crops", "simulated"], default=ABLATION_TEACHER,
                   help=f"simulated CLIP teacher (a SIMULATION, not CLIP; default {ABLATION_TEACHER}, calibrated)")
    p.add_argument("--selection", choices=["learned", "heuristic"], default="learned",
                   help="scale selection: the field's learned selection volume or the preprocessing heuristic")
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--markdown", type=Path, default=None, help="also write the table to this file")
    p.add_argument("--combine", nargs="+", type=Path, default=None, metavar="ABLATION_JSON",
                   help="only print mean ± std over seeds of finished runs (their ablation.json files)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.combine:
        try:
            reports = [json.loads(p.read_text())["report"] for p in args.combine]
        except (OSError, KeyError, ValueError) as exc:
            raise UserError(f"--combine: cannot read an ablation.json ({exc})") from None
        print(seeds_table(reports))
        return 0

    s = DemoSettings(seed=args.seed, width=args.width, height=args.height, n_frames=args.frames,
                     iterations=args.iterations, batch_rays=args.rays, sim_noise=args.noise,
                     sam_points_per_side=args.sam_points, cse_sam_points_per_side=args.sam_points,
                     dino=args.dino, teacher=args.teacher, scale_selection=args.selection, cse_events=args.cse_events, cse_novel_views=args.novel_views, threads=args.threads)
    rep = run_ablation(args.out, s, args.variants, progress=not args.no_progress, echo=lambda m: tqdm.write(m))
    text = (f"teacher: {rep.teacher} ({teacher_params(s)}); regions: {rep.regions}; "
            f"{rep.n_train} train / {rep.n_test} held-out views {s.width}x{s.height}; "
            f"{s.iterations} iterations x {s.batch_rays} rays, seed {s.seed}\n"
            f"teacher maps S on the training views: 2D mIoU {100 * rep.teacher_miou_train:.1f}; "
            f"RSR maps S~: {100 * rep.rsr_miou_train:.1f}\nmachine: {rep.machine}\n\n"
            + markdown_table(rep) + "\n\n" + per_class_table(rep) + "\n")
    print(text)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text)
    return 0
