"""`ovnerf query CHECKPOINT "text" --out DIR`: an open-vocabulary query of a trained map, as the
/ovnerf/query service answers it (the same SemanticMap relevancy and 3D localisation).

Any text: words outside the training vocabulary are embedded by the checkpoint's own text encoder
(rebuilt on first use; the simulated one is a SIMULATION grounded in WordNet). The camera is one
of the checkpoint's views (``--view N``, default the last one, as the service's default camera) or
``--pose x y z qx qy qz qw`` (map ← camera optical frame; intrinsics of the view). Writes
``relevancy.png`` (LERF relevancy, colour map), ``mask.png`` (255 = the query's pixels),
``query.json`` (score, centroid, boxes, nav goal, grasps, timings) and prints one line.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from ovnerf.commands.common import command_parser
from ovnerf.errors import UserError
from ovnerf.query import SemanticMap, View

DEFAULTS = dict(threshold=0.5, max_points=5000, max_views=16, max_side=64, standoff=0.6, ground_z=0.0,
                render_side=160)  # the trainer node's defaults (config/ovnerf.yaml query.* / render.max_side)


def add_parser(subparsers):
    p = command_parser(subparsers, "query", __doc__, help="open-vocabulary query of a trained map (2D + 3D)")
    p.add_argument("checkpoint", type=Path, help="checkpoint.pt written by `ovnerf train` / the trainer node")
    p.add_argument("text", help='the query, any text, e.g. "couch" or "potted plant"')
    cam = p.add_mutually_exclusive_group()
    cam.add_argument("--view", type=int, default=None, help="index of the checkpoint view to render (default: the last)")
    cam.add_argument("--pose", type=float, nargs=7, metavar=("X", "Y", "Z", "QX", "QY", "QZ", "QW"),
                     help="camera pose, map <- camera optical frame (intrinsics of the last view)")
    p.add_argument("--negatives", nargs="*", default=[], help="extra negatives (added to object/things/stuff/texture)")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--threshold", type=float, default=DEFAULTS["threshold"], help="relevancy threshold (default 0.5)")
    p.add_argument("--max-side", type=int, default=DEFAULTS["render_side"],
                   help="longest side of the rendered view in px (default 160)")
    p.add_argument("--max-points", type=int, default=DEFAULTS["max_points"], help="cap on the 3D points (default 5000)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.set_defaults(func=run)


def _camera(smap, args):
    if not smap.views:
        raise UserError("the checkpoint stores no camera views; nothing to render the query at")
    if args.view is not None and not -len(smap.views) <= args.view < len(smap.views):
        raise UserError(f"--view {args.view}: the checkpoint has {len(smap.views)} views (0..{len(smap.views) - 1})")
    base = smap.views[-1 if args.view is None else args.view].scaled(args.max_side)
    if args.pose is None:
        return base, (len(smap.views) - 1 if args.view is None else args.view % len(smap.views))
    q = np.asarray(args.pose[3:], dtype=np.float64)
    if not np.all(np.isfinite(args.pose)) or abs(np.linalg.norm(q) - 1.0) > 1e-3:
        raise UserError("--pose: position must be finite and the quaternion unit length")
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(q).as_matrix()
    T[:3, 3] = args.pose[:3]
    return View(base.K, T, base.H, base.W), "pose"


def run(args) -> int:
    t0 = time.perf_counter()
    smap = SemanticMap.load(args.checkpoint, device=args.device)
    t_load = time.perf_counter() - t0
    view, which = _camera(smap, args)
    t1 = time.perf_counter()
    rel = smap.relevancy(args.text, args.negatives, view.K, view.c2w, view.H, view.W, threshold=args.threshold)
    t_2d = time.perf_counter() - t1
    t2 = time.perf_counter()
    loc, err = None, None
    try:
        loc = smap.localize(args.text, args.negatives, threshold=args.threshold, max_points=args.max_points,
                            max_views=DEFAULTS["max_views"], max_side=DEFAULTS["max_side"],
                            standoff=DEFAULTS["standoff"], ground_z=DEFAULTS["ground_z"])
    except UserError as exc:  # seen in 2D but not localisable in 3D: still write the 2D answer
        err = str(exc)
    t_3d = time.perf_counter() - t2

    args.out.mkdir(parents=True, exist_ok=True)
    r8 = (np.clip(rel["relevancy"], 0, 1) * 255 + 0.5).astype(np.uint8)
    colour = cv2.applyColorMap(r8, cv2.COLORMAP_TURBO)
    colour[rel["acc"] < 0.3] = 0
    mask = rel["mask"].astype(np.uint8) * 255
    for name, img in (("relevancy.png", colour), ("mask.png", mask)):
        if not cv2.imwrite(str(args.out / name), img):
            raise UserError(f"cannot write {args.out / name}")
    enc = smap.text_encoder
    m = rel["mask"]
    out = {"text": args.text, "negatives": smap.query_embeddings(args.text, args.negatives)[1],
           "view": which, "image_size": [view.W, view.H],
           "text_encoder": getattr(enc, "name", None), "simulation": bool(getattr(enc, "is_simulation", False)),
           "mask_pixels": int(m.sum()), "mask_fraction": float(m.mean()),
           "score_2d": float(rel["relevancy"][m].mean()) if m.any() else 0.0,
           "found_3d": loc is not None, "error_3d": err,
           "seconds": {"load": round(t_load, 3), "relevancy_2d": round(t_2d, 3), "localize_3d": round(t_3d, 3)}}
    if loc is not None:
        out.update(score=loc.score, centroid=loc.centroid.tolist(), aabb_min=loc.aabb_min.tolist(),
                   aabb_max=loc.aabb_max.tolist(), obb_center=loc.obb_center.tolist(),
                   obb_rotation=loc.obb_rotation.tolist(), obb_size=loc.obb_size.tolist(),
                   nav_goal=loc.nav_goal.tolist(), grasps=[g.tolist() for g in loc.grasps],
                   points=int(loc.points.shape[0]), views_used=loc.views_used)
    (args.out / "query.json").write_text(json.dumps(out, indent=2))
    sim = " [SIMULATED text encoder]" if out["simulation"] else ""
    where = (f"centroid ({', '.join(f'{c:.2f}' for c in loc.centroid)}) m, score {loc.score:.2f}, "
             f"{loc.points.shape[0]} points" if loc is not None else f"not localised in 3D ({err})")
    print(f"ovnerf query '{args.text}': {where}; 2D mask {out['mask_fraction']:.1%} of view {which}; "
          f"{t_2d + t_3d:.2f} s{sim} -> {args.out}")
    return 0
