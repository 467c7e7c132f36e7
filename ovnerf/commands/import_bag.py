"""`ovnerf import-bag BAG OUT`: posed keyframes from a ROS 2 bag (.mcap / .db3) into a scene store.

Poses come from /tf and /tf_static (map frame <- camera optical frame, interpolated at each
image stamp); see :mod:`ovnerf.scene.bag_import`. With --depth-topic, an RGB-D camera's depth
registered to the colour image (16UC1 millimetres or 32FC1 metres) is stored with each frame
(depth/NAME.png), for depth supervision (TrainConfig.depth_weight / free_space_weight).
"""
from __future__ import annotations

import argparse

from tqdm import tqdm

from ovnerf.errors import UserError
from ovnerf.scene.bag_import import import_bag


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("import-bag", help="import posed images from a ROS 2 bag into a scene directory",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bag", help="bag file or directory (.mcap, or a rosbag2 directory)")
    p.add_argument("out", help="scene directory to create or extend (nerfstudio layout)")
    p.add_argument("--image-topic", default="/camera/color/image_raw")
    p.add_argument("--camera-info-topic", default="/camera/color/camera_info")
    p.add_argument("--labels-topic", default="", help="optional mono8 class-id image topic (255 = void)")
    p.add_argument("--depth-topic", default="",
                   help="optional depth image topic registered to the colour camera (16UC1 mm / 32FC1 m), "
                        "e.g. /camera/depth/image_raw; '' = no depth")
    p.add_argument("--class-names", default="", help="comma-separated names of the label ids")
    p.add_argument("--map-frame", default="map")
    p.add_argument("--camera-frame", default="", help="camera optical frame ('' = each image's frame_id)")
    p.add_argument("--tolerance", type=float, default=0.05,
                   help="s; depth/label image pairing (poses are always interpolated between transforms)")
    p.add_argument("--min-translation", type=float, default=0.0, help="keyframe threshold (m); 0 = every frame")
    p.add_argument("--min-rotation", type=float, default=0.0, help="keyframe threshold (deg)")
    p.add_argument("--min-sharpness", type=float, default=0.0, help="blur gate: variance of Laplacian (0 = off)")
    p.add_argument("--max-frames", type=int, default=0)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    for name in ("tolerance", "min_translation", "min_rotation", "min_sharpness", "max_frames"):
        if getattr(args, name) < 0:
            raise UserError(f"--{name.replace('_', '-')} must be >= 0")
    bar = tqdm(unit="img", desc="import-bag")

    def progress(i, n):
        bar.total = n
        bar.update(i - bar.n)

    try:
        rep = import_bag(args.bag, args.out, args.image_topic, args.camera_info_topic, args.map_frame,
                         args.camera_frame, args.tolerance, args.min_translation, args.min_rotation,
                         args.min_sharpness, args.max_frames, args.labels_topic,
                         [c.strip() for c in args.class_names.split(",") if c.strip()], progress,
                         depth_topic=args.depth_topic)
    finally:
        bar.close()
    skipped = ", ".join(f"{k}: {v}" for k, v in sorted(rep.skipped.items())) or "none"
    depth = ""
    if args.depth_topic:
        bad = ", ".join(f"{k}: {v}" for k, v in sorted(rep.depth_rejected.items())) or "none"
        depth = f"; {rep.with_depth} with depth (depth images rejected: {bad})"
    print(f"imported {rep.imported} of {rep.images} images into {rep.out_dir} (skipped: {skipped}){depth}")
    return 0 if rep.imported else 2
