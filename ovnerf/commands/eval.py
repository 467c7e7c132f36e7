"""`ovnerf eval CKPT --scene SCENE`: PSNR / SSIM (+ mIoU / mAcc with labels) of a trained field on held-out views.

Colour: PSNR and SSIM against the scene's images, for every scene. Segmentation, only when the
scene has ``labels/`` and the field was trained with semantics: class ids of
``transforms.json["ovnerf_classes"]``, mapped to the checkpoint's vocabulary by name. Held-out
views: every 10th frame (``--views test``). Metrics that were not measured are left out of
``--json`` (never NaN).
"""
from __future__ import annotations

import json
from pathlib import Path

from tqdm import tqdm

from ovnerf.checkpoint import load_checkpoint
from ovnerf.commands.common import add_runtime_arguments, command_parser, require_scene_dir
from ovnerf.commands.render import select_views
from ovnerf.scene.store import SceneStore
from ovnerf.training.evaluate import evaluate_views


def add_parser(subparsers):
    p = command_parser(subparsers, "eval", __doc__,
                       help="evaluate a trained field on held-out views (PSNR, SSIM, mIoU, mAcc)")
    p.add_argument("checkpoint", type=Path, help="checkpoint.pt written by `ovnerf train`")
    p.add_argument("--scene", type=Path, required=True, help="scene directory (labels/ optional)")
    p.add_argument("--views", choices=["test", "train", "all"], default="test", help="which views (default test)")
    p.add_argument("--json", type=Path, default=None, help="also write the metrics to this JSON file")
    p.add_argument("--chunk", type=int, default=8192, help="rays per rendering chunk")
    add_runtime_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    require_scene_dir(args.scene)
    ck = load_checkpoint(args.checkpoint, device=args.device)
    store = SceneStore(args.scene, create=False)
    frames = store.frames(select_views(store, args.views))
    bar = tqdm(total=len(frames), desc="eval", unit="view", disable=args.no_progress)

    def progress(done, total):
        bar.n = done
        bar.refresh()

    try:
        ev = evaluate_views(ck["field"], ck["text_emb"], frames, ck["vocabulary"], store.class_names,
                            args.chunk, progress=progress)
    finally:
        bar.close()
    print(f"views      {ev.n_views} ({args.views})")
    print(f"PSNR       {ev.psnr:.2f} dB")
    print(f"SSIM       {ev.ssim:.4f}")
    if not ev.has_segmentation:
        why = ("the field was trained without semantics (--clip none)" if not ck["vocabulary"]
               else "the views have no labels/ ground truth")
        print(f"mIoU/mAcc  not measured: {why}")
    else:
        print(f"mIoU       {ev.miou:.4f}")
        print(f"mAcc       {ev.macc:.4f}   (ours: one confusion matrix over the views, classes present)")
        print(f"mIoU/img   {ev.miou_img:.4f}   (the authors': mean over images of the per-image nanmean IoU)")
        print(f"pixel acc  {ev.acc_pix:.4f}   (the authors': mean over images of the overall pixel accuracy)")
        for c, i, a in zip(ev.class_names, ev.iou, ev.acc):
            if i == i:
                print(f"  {c:<20s} IoU {i:.3f}  Acc {a:.3f}")
    if ev.has_segmentation and ev.unmapped:
        print(f"  (scene classes not in the vocabulary, ignored: {', '.join(ev.unmapped)})")
    if args.json is not None:
        args.json.write_text(json.dumps(ev.to_dict(), indent=2))
    return 0
