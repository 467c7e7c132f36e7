"""`ovnerf render CKPT --scene SCENE --out DIR`: render views of a trained field to PNGs.

For each view NAME: ``NAME_rgb.png`` (RGB), ``NAME_depth.png`` (z-depth, uint16 millimetres, 0 =
nothing rendered) and ``NAME_labels.png`` (segmentation argmax over the checkpoint's vocabulary,
coloured with a fixed palette; ``legend.json`` maps colours to class names).
"""
from __future__ import annotations

from pathlib import Path

from ovnerf.commands.common import add_runtime_arguments, command_parser


def add_parser(subparsers):
    p = command_parser(subparsers, "render", __doc__, help="render RGB / depth / label images of a trained field")
    p.add_argument("checkpoint", type=Path, help="checkpoint.pt written by `ovnerf train`")
    p.add_argument("--scene", type=Path, required=True, help="scene directory (cameras to render)")
    p.add_argument("--out", type=Path, required=True, help="output directory for the PNGs")
    p.add_argument("--views", choices=["test", "train", "all"], default="test", help="which views (default test)")
    p.add_argument("--chunk", type=int, default=8192, help="rays per rendering chunk")
    add_runtime_arguments(p)
    p.set_defaults(func=run)


def palette(n: int):
    """(n,3) uint8 distinct colours (golden-ratio hues, fixed)."""
    import colorsys

    import numpy as np
    cols = [colorsys.hsv_to_rgb((i * 0.618033988749895) % 1.0, 0.65 if i % 2 else 0.9, 0.95 if i % 3 else 0.75)
            for i in range(n)]
    return (np.array(cols) * 255 + 0.5).astype(np.uint8)


def select_views(store, which: str) -> list[str]:
    from ovnerf.errors import UserError
    train, test = store.split()
    names = {"train": train, "test": test, "all": store.names()}[which]
    if not names:
        raise UserError(f"the scene has no {which} views")
    return names


def run(args) -> int:
    import json

    import cv2
    import numpy as np
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    from ovnerf.commands.common import require_scene_dir
    from ovnerf.errors import UserError
    from ovnerf.field.renderer import render_image
    from ovnerf.scene.rays import get_rays, ray_z_scale
    from ovnerf.semantics.relevancy import text_logits
    from ovnerf.scene.store import SceneStore
    from ovnerf.training.checkpoint import load_checkpoint

    require_scene_dir(args.scene)
    ck = load_checkpoint(args.checkpoint, device=args.device)
    field, vocab = ck["field"], ck["vocabulary"]
    te = F.normalize(ck["text_emb"].float(), dim=-1).to(field.device)
    store = SceneStore(args.scene, create=False)
    names = select_views(store, args.views)
    args.out.mkdir(parents=True, exist_ok=True)
    pal = palette(len(vocab))
    for name in tqdm(names, desc="render", unit="view", disable=args.no_progress):
        K, H, W = store.intrinsics(name)
        c2w = store.pose(name)
        r = render_image(field, K, c2w, H, W, chunk=args.chunk, outputs=("rgb", "depth", "feature"),
                         feature_transform=lambda f: text_logits(f, te))
        rgb = (r["rgb"].clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()
        labels = r["feature"].argmax(-1).cpu().numpy()
        _, dirs = get_rays(K, c2w, H, W, device=field.device)
        zscale = ray_z_scale(dirs, c2w).reshape(H, W)
        acc = r["acc"]
        depth = torch.where(acc > 1e-3, r["depth"] / acc.clamp_min(1e-3) * zscale, torch.zeros_like(acc))
        depth_mm = np.clip(depth.cpu().numpy() * 1000 + 0.5, 0, 65535).astype(np.uint16)
        for suffix, img in (("rgb", rgb[..., ::-1]), ("depth", depth_mm), ("labels", pal[labels][..., ::-1])):
            if not cv2.imwrite(str(args.out / f"{name}_{suffix}.png"), np.ascontiguousarray(img)):
                raise UserError(f"cannot write {args.out / f'{name}_{suffix}.png'}")
    legend = {c: [int(x) for x in pal[i]] for i, c in enumerate(vocab)}
    (args.out / "legend.json").write_text(json.dumps(legend, indent=2))
    print(f"ovnerf render: {len(names)} {args.views} view(s) -> {args.out}")
    return 0
