"""`ovnerf import CAPTURE --workspace WS`: a posed capture (nerfstudio / instant-ngp transforms.json or a COLMAP sparse model) into WS/scene.

Every frame is checked first (all problems listed at once, nothing imported); then the poses are
oriented (mean camera up → +z) and centred, every image undistorted once with OpenCV and, with
``--downscale N``, resized by 1/N with its intrinsics; the scene box comes from ``--aabb``, the
sparse points, nerfstudio's ``scene_box`` or the region the cameras look at (instant-ngp's
``aabb_scale`` cube is an outer limit). nerfstudio's per-frame ``depth_file_path`` (z-depth,
metres = value × ``--depth-unit-scale``) is imported through the same undistortion and downscale
(never blended); train with ``--set depth_weight=1.0 --set free_space_weight=1.0`` to use it. See :mod:`ovnerf.scene.capture_import`. Importing again
with the same inputs reuses WS/scene. Then: ``ovnerf train WS/scene --workspace WS --clip none``.
"""
from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from ovnerf.app.workspace import Workspace
from ovnerf.commands.common import command_parser
from ovnerf.commands.train import parse_aabb
from ovnerf.errors import UserError
from ovnerf.scene.capture_import import DEPTH_UNIT_SCALE, import_capture


def add_parser(subparsers):
    p = command_parser(subparsers, "import", __doc__, help="import a posed capture (transforms.json / COLMAP)")
    p.add_argument("capture", type=Path, help="transforms.json, a directory holding one, or a COLMAP model dir")
    p.add_argument("--workspace", type=Path, required=True, help="workspace: the scene is written to WS/scene")
    p.add_argument("--images", type=Path, default=None, help="COLMAP images directory (default CAPTURE/images)")
    p.add_argument("--downscale", type=int, default=1, help="resize images and intrinsics by 1/N (default 1)")
    p.add_argument("--aabb", default=None, metavar="X0,Y0,Z0,X1,Y1,Z1",
                   help="scene box in the imported (oriented, centred) frame, metres")
    p.add_argument("--depth-unit-scale", type=float, default=DEPTH_UNIT_SCALE, metavar="M",
                   help="metres per stored depth unit of nerfstudio's depth_file_path images (default 1e-3: "
                        "uint16 millimetres, nerfstudio's depth_unit_scale_factor; 1 for float metres .npy)")
    p.add_argument("--no-orient", action="store_true", help="keep the capture's world frame as it is")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    ws = Workspace(args.workspace)
    src = args.capture.expanduser().resolve()
    src_dir = src if src.is_dir() else src.parent
    root = ws.root.resolve()
    if root == src_dir or src_dir in root.parents:
        raise UserError(f"--workspace {args.workspace} lies inside the capture {src_dir}; choose a directory outside it")
    bar = tqdm(desc="import", unit="frame", disable=args.no_progress)

    def progress(done, total):
        bar.total = total
        bar.update(done - bar.n)

    try:
        rep = import_capture(args.capture, ws.scene_dir, downscale=args.downscale, aabb=parse_aabb(args.aabb),
                             orient=not args.no_orient, images=args.images, progress=progress,
                             depth_unit_scale=args.depth_unit_scale)
    finally:
        bar.close()
    for n in rep.notes:
        print(f"ovnerf import: {n}")
    lo, hi = rep.aabb
    box = ", ".join(f"{a:.2f}..{b:.2f}" for a, b in zip(lo, hi))
    d = rep.depth
    depth = (f"depth imported on {d['frames']} frames (unit scale {d['unit_scale']:g} m, median "
             f"{d['median_m']:.2f} m)" if d else "RGB only (no depth_file_path)")
    print(f"ovnerf import: {rep.frames} frames at {rep.size[0]}x{rep.size[1]} -> {rep.scene_dir}"
          f"{' (reused: same inputs)' if rep.reused else ''}; scene box x,y,z = {box} m from {rep.bounds_from}; "
          f"{depth}")
    depth_args = " --set depth_weight=1.0 --set free_space_weight=1.0" if d else ""
    print(f"ovnerf import: next: ovnerf train {rep.scene_dir} --workspace {args.workspace} --clip none --preset cpu"
          f"{depth_args}")
    return 0
