"""``ovnerf generate-scene OUT``: render the built-in demo room into a scene directory
(transforms.json + images/ depth/ labels/ + room.json), optionally also as a ROS 2 bag (OUT/bag)."""
from __future__ import annotations

import time

from tqdm import tqdm

from ovnerf.synthetic.bag_export import export_bag
from ovnerf.synthetic.generate import generate_room_scene


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "generate-scene", help="render the built-in demo room (RGB, depth, labels, poses; optional ROS 2 bag)",
        description="Render the procedural demo room along a robot trajectory into a nerfstudio-style "
                    "scene directory with exact per-pixel class labels and a room.json ground truth.")
    p.add_argument("out", help="output scene directory")
    p.add_argument("--seed", type=int, default=0, help="layout / material / camera seed (default 0)")
    p.add_argument("--frames", type=int, default=40, help="number of frames (default 40)")
    p.add_argument("--width", type=int, default=160, help="image width in pixels (default 160)")
    p.add_argument("--height", type=int, default=120, help="image height in pixels (default 120)")
    p.add_argument("--hfov", type=float, default=75.0, help="horizontal field of view, degrees (default 75)")
    p.add_argument("--layout", default="default", choices=["default", "bedroom"],
                   help="room layout: default (living room) or bedroom (default: default)")
    p.add_argument("--ssaa", type=int, default=1, help="anti-aliasing samples per pixel side (default 1)")
    p.add_argument("--rate", type=float, default=5.0, help="frame rate of the timestamps, Hz (default 5)")
    p.add_argument("--bag", action="store_true", help="also export OUT/bag (rosbag2 + MCAP)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing generated scene in OUT")
    p.set_defaults(func=run)


def run(args) -> int:
    t0 = time.perf_counter()
    with tqdm(total=args.frames, desc="render", unit="frame") as bar:
        out = generate_room_scene(args.out, seed=args.seed, width=args.width, height=args.height,
                                  n_frames=args.frames, layout=args.layout, hfov_deg=args.hfov,
                                  ssaa=args.ssaa, rate_hz=args.rate, overwrite=args.overwrite,
                                  progress=lambda i, n: bar.update(1))
    t_render = time.perf_counter() - t0
    print(f"scene: {out} ({args.frames} frames {args.width}x{args.height}, seed {args.seed}) "
          f"in {t_render:.1f} s")
    if args.bag:
        t1 = time.perf_counter()
        with tqdm(total=args.frames, desc="bag", unit="frame") as bar:
            bag = export_bag(out, overwrite=args.overwrite, progress=lambda i, n: bar.update(1))
        print(f"bag:   {bag} in {time.perf_counter() - t1:.1f} s")
    return 0
