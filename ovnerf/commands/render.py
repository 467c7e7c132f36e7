"""`ovnerf render CKPT --scene SCENE --out DIR`: render views of a trained field to PNGs (and an MP4).

Cameras: the scene's views (``--views test|train|all``, or ``--view NAME_OR_INDEX``), one pose
(``--pose``: 16 numbers row-major or a JSON file, OpenGL convention as transforms.json; the
intrinsics of the scene's first view), or a nerfstudio camera-path JSON (``--camera-path``; see
:mod:`ovnerf.scene.camera_path`). For each camera NAME: ``NAME_rgb.png`` (RGB), ``NAME_depth.png``
(z-depth, uint16 millimetres, 0 = nothing rendered) and — only for a field trained with
semantics — ``NAME_labels.png`` (segmentation argmax over the vocabulary, fixed palette;
``legend.json`` maps colours to class names). ``--video FILE.mp4`` also encodes the RGB frames
(H.264 through imageio-ffmpeg, at ``--fps`` or the camera path's fps). ``--workspace WS``: output
to WS/runs/render (:class:`ovnerf.app.workspace.Workspace`).
"""
from __future__ import annotations

import colorsys
import json
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from ovnerf.checkpoint import load_checkpoint
from ovnerf.commands.common import add_runtime_arguments, command_parser, require_scene_dir, workspace_from_args
from ovnerf.errors import UserError
from ovnerf.field.renderer import render_image
from ovnerf.scene.camera_path import load_camera_path, parse_pose
from ovnerf.scene.rays import get_rays, ray_z_scale
from ovnerf.scene.store import SceneStore
from ovnerf.semantics.relevancy import text_logits


def add_parser(subparsers):
    p = command_parser(subparsers, "render", __doc__, help="render RGB / depth / label images of a trained field")
    p.add_argument("checkpoint", type=Path, help="checkpoint.pt written by `ovnerf train`")
    p.add_argument("--scene", type=Path, required=True, help="scene directory (cameras to render)")
    p.add_argument("--out", type=Path, default=None, help="output directory for the PNGs (default WS/runs/render)")
    p.add_argument("--workspace", type=Path, default=None, help="workspace: PNGs go to WS/runs/render")
    p.add_argument("--views", choices=["test", "train", "all"], default="test", help="which views (default test)")
    p.add_argument("--view", default=None, help="one scene view, by name or index")
    p.add_argument("--pose", default=None, help="one camera: 16 numbers (row-major 4x4, OpenGL) or a JSON file")
    p.add_argument("--camera-path", type=Path, default=None, help="nerfstudio camera-path JSON")
    p.add_argument("--video", type=Path, default=None, help="also write the RGB frames as this MP4")
    p.add_argument("--fps", type=float, default=None, help="video frame rate (default: the path's, else 10)")
    p.add_argument("--chunk", type=int, default=8192, help="rays per rendering chunk")
    add_runtime_arguments(p)
    p.set_defaults(func=run)


def palette(n: int):
    """(n,3) uint8 distinct colours (golden-ratio hues, fixed)."""
    cols = [colorsys.hsv_to_rgb((i * 0.618033988749895) % 1.0, 0.65 if i % 2 else 0.9, 0.95 if i % 3 else 0.75)
            for i in range(n)]
    return (np.array(cols) * 255 + 0.5).astype(np.uint8)


def select_views(store, which: str) -> list[str]:
    train, test = store.split()
    names = {"train": train, "test": test, "all": store.names()}[which]
    if not names:
        raise UserError(f"the scene has no {which} views")
    return names


def cameras(args, store) -> tuple[list[tuple[str, object, object, int, int]], float | None]:
    """[(name, K, c2w OpenCV, H, W), ...] and the camera path's fps (None otherwise)."""
    chosen = [x for x in (args.view, args.pose, args.camera_path) if x is not None]
    if len(chosen) > 1:
        raise UserError("give at most one of --view, --pose, --camera-path")
    if args.camera_path is not None:
        cams, fps = load_camera_path(args.camera_path)
        return [(f"path_{i:05d}", K, c2w, H, W) for i, (K, c2w, H, W) in enumerate(cams)], fps
    if args.pose is not None:
        K, H, W = store.intrinsics(store.names()[0])
        return [("pose", K, parse_pose(args.pose), H, W)], None
    if args.view is not None:
        names = store.names()
        name = args.view if args.view in names else None
        if name is None and str(args.view).lstrip("-").isdigit() and -len(names) <= int(args.view) < len(names):
            name = names[int(args.view)]
        if name is None:
            raise UserError(f"--view {args.view}: no such view (names like {names[0]}, or 0..{len(names) - 1})")
        names = [name]
    else:
        names = select_views(store, args.views)
    return [(n, *_intr_pose(store, n)) for n in names], None


def _intr_pose(store, name):
    K, H, W = store.intrinsics(name)
    return K, store.pose(name), H, W


def write_video(path: Path, frames: list, fps: float) -> None:
    """H.264 MP4 of uint8 RGB frames (imageio-ffmpeg); odd sizes are padded to even."""
    import imageio.v2 as imageio  # only --video needs imageio (+ its ffmpeg plugin): off the start-up path

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with imageio.get_writer(str(path), fps=fps, codec="libx264", macro_block_size=1,
                                pixelformat="yuv420p", quality=8) as w:
            for f in frames:
                h, wd = f.shape[:2]
                w.append_data(np.pad(f, ((0, h % 2), (0, wd % 2), (0, 0)), mode="edge"))
    except (OSError, RuntimeError, ValueError) as exc:
        raise UserError(f"cannot write the video {path}: {str(exc).splitlines()[0]}") from None


def run(args) -> int:
    require_scene_dir(args.scene)
    out = args.out
    if out is None:
        if args.workspace is None:
            raise UserError("give --out DIR or --workspace DIR")
        out = workspace_from_args(args.scene, args.workspace).run_dir("render")
    ck = load_checkpoint(args.checkpoint, device=args.device)
    field, vocab = ck["field"], ck["vocabulary"]
    te = torch.nn.functional.normalize(ck["text_emb"].float(), dim=-1).to(field.device)
    store = SceneStore(args.scene, create=False)
    cams, path_fps = cameras(args, store)
    out.mkdir(parents=True, exist_ok=True)
    pal = palette(len(vocab))
    outputs = ("rgb", "depth", "feature") if vocab else ("rgb", "depth")
    frames = []
    for name, K, c2w, H, W in tqdm(cams, desc="render", unit="view", disable=args.no_progress):
        r = render_image(field, K, c2w, H, W, chunk=args.chunk, outputs=outputs,
                         feature_transform=lambda f: text_logits(f, te))
        rgb = (r["rgb"].clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()
        frames.append(rgb)
        _, dirs = get_rays(K, c2w, H, W, device=field.device)
        zscale = ray_z_scale(dirs, c2w).reshape(H, W)
        acc = r["acc"]
        depth = torch.where(acc > 1e-3, r["depth"] / acc.clamp_min(1e-3) * zscale, torch.zeros_like(acc))
        depth_mm = np.clip(depth.cpu().numpy() * 1000 + 0.5, 0, 65535).astype(np.uint16)
        images = [("rgb", rgb[..., ::-1]), ("depth", depth_mm)]
        if vocab:
            images.append(("labels", pal[r["feature"].argmax(-1).cpu().numpy()][..., ::-1]))
        for suffix, img in images:
            if not cv2.imwrite(str(out / f"{name}_{suffix}.png"), np.ascontiguousarray(img)):
                raise UserError(f"cannot write {out / f'{name}_{suffix}.png'}")
    if vocab:
        legend = {c: [int(x) for x in pal[i]] for i, c in enumerate(vocab)}
        (out / "legend.json").write_text(json.dumps(legend, indent=2))
    if args.video is not None:
        write_video(args.video, frames, args.fps or path_fps or 10.0)
        print(f"ovnerf render: video {args.video} ({len(frames)} frames)")
    print(f"ovnerf render: {len(cams)} view(s) -> {out}"
          + ("" if vocab else " (no semantic features were trained: RGB and depth only)"))
    return 0
