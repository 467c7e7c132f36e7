"""Evaluation of a trained field on held-out views: mIoU / mAcc (``ovnerf.metrics``), PSNR and SSIM.

Both metric definitions of :mod:`ovnerf.metrics`: ours (pooled confusion, classes present:
``miou``, ``macc``) and the authors' (per-image nanmean IoU ``miou_img``, overall pixel accuracy
``acc_pix``).

Per view: render RGB and the segmentation ``argmax_c cos(t_c, F̂)`` over the vocabulary (no
opacity threshold: every pixel gets a class, as in the authors' evaluation); accumulate one confusion
matrix over all views (``SegmentationMeter``: void GT pixels ignored, means over classes present in
the GT of the evaluated views). PSNR = mean over views of the per-view PSNR of RGB in [0, 1];
SSIM = mean over views of scikit-image's ``structural_similarity`` (7×7 window, RGB channels).
A scene without labels, or a field trained without semantics (empty vocabulary), gets PSNR and
SSIM only: mIoU / mAcc are then NaN in the result and *absent* from :meth:`EvalResult.to_dict`
(metrics.json never holds NaN).

Ground-truth label ids index the *scene's* class list (``SceneStore.class_names``); they are
mapped to vocabulary indices by name (:func:`label_mapping`). Scene classes absent from the
vocabulary become void (reported in ``EvalResult.unmapped``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field as dc_field
from typing import Callable

import numpy as np
import torch
from skimage.metrics import structural_similarity

from ovnerf.errors import UserError
from ovnerf.field.renderer import render_image
from ovnerf.metrics import PerImageMeter, SegmentationMeter, psnr as psnr_fn
from ovnerf.training.cse import render_segmentation

__all__ = ["EvalResult", "evaluate_views", "label_mapping"]


@dataclass
class EvalResult:
    miou: float
    macc: float
    psnr: float
    n_views: int
    class_names: list[str]
    iou: list[float]                 # per vocabulary class, NaN when absent from GT
    acc: list[float]
    per_view_psnr: list[float] = dc_field(default_factory=list)
    unmapped: list[str] = dc_field(default_factory=list)
    ssim: float = math.nan
    per_view_ssim: list[float] = dc_field(default_factory=list)
    miou_img: float = math.nan       # the authors' definition: mean over images of nanmean IoU
    acc_pix: float = math.nan        # the authors' definition: mean over images of pixel accuracy

    @property
    def has_segmentation(self) -> bool:
        return math.isfinite(self.miou)

    def to_dict(self) -> dict:
        """JSON-ready metrics; a metric that was not measured (NaN) is left out, never written as NaN."""
        d = {"psnr": self.psnr, "ssim": self.ssim, "n_views": self.n_views,
             "per_view_psnr": self.per_view_psnr, "per_view_ssim": self.per_view_ssim}
        if self.has_segmentation:
            d.update(miou=self.miou, macc=self.macc, miou_img=self.miou_img, acc_pix=self.acc_pix,
                     unmapped_classes=self.unmapped,
                     per_class={c: {"iou": i, "acc": a} for c, i, a in zip(self.class_names, self.iou, self.acc)
                                if math.isfinite(i)})
        return _finite(d)

    def summary(self) -> str:
        seg = f"mIoU {self.miou:.3f}  mAcc {self.macc:.3f}  " if self.has_segmentation else ""
        return f"{seg}PSNR {self.psnr:.2f} dB  SSIM {self.ssim:.3f}  ({self.n_views} views)"


def _finite(obj):
    """Drop NaN / inf floats (dict entries) recursively; lists keep their length (None)."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items() if not (isinstance(v, float) and not math.isfinite(v))}
    if isinstance(obj, list):
        return [None if isinstance(v, float) and not math.isfinite(v) else _finite(v) for v in obj]
    return obj


def ssim(pred: np.ndarray, gt: np.ndarray) -> float:
    """SSIM of two uint8 H×W×3 images (scikit-image, data range 255, channels averaged)."""
    side = min(pred.shape[0], pred.shape[1])
    win = min(7, side if side % 2 else side - 1)
    return float(structural_similarity(pred, gt, channel_axis=2, data_range=255, win_size=win))


def label_mapping(scene_classes: list[str] | None, vocabulary: list[str]) -> tuple[np.ndarray | None, list[str]]:
    """Lookup table scene-class-id → vocabulary id (−1 if absent), and the absent names.
    ``scene_classes`` None → identity (labels already index the vocabulary)."""
    if not scene_classes:
        return None, []
    vidx = {v.strip().lower(): i for i, v in enumerate(vocabulary)}
    table = np.array([vidx.get(c.strip().lower(), -1) for c in scene_classes], dtype=np.int64)
    return table, [c for c, t in zip(scene_classes, table) if t < 0]


def _map_labels(labels: np.ndarray, table: np.ndarray | None) -> np.ndarray:
    lab = np.asarray(labels).astype(np.int64)
    if table is None:
        return lab
    out = np.full_like(lab, -1)
    ok = (lab >= 0) & (lab < len(table))
    out[ok] = table[lab[ok]]
    return out


@torch.no_grad()
def evaluate_views(field, text_emb, frames, vocabulary: list[str], scene_classes: list[str] | None = None,
                   chunk: int = 8192, progress: Callable[[int, int], None] | None = None,
                   keep_renders: bool = False) -> EvalResult | tuple[EvalResult, list]:
    """Evaluate ``field`` on ``frames`` (PosedFrames with ``labels``; views without labels count
    only for PSNR / SSIM; an empty ``vocabulary`` = a field without semantics: colour only).
    ``progress(done, total)`` after each view. With ``keep_renders`` also returns a list of
    (seg (H,W) long numpy, all −1 without semantics; rgb (H,W,3) uint8) per view."""
    frames = list(frames)
    if not frames:
        raise UserError("no views to evaluate")
    M = len(vocabulary)
    te = torch.as_tensor(np.asarray(text_emb) if not isinstance(text_emb, torch.Tensor) else text_emb).float()
    if te.shape[0] != M:
        raise UserError(f"{M} class names but {te.shape[0]} text embeddings")
    table, unmapped = label_mapping(scene_classes, vocabulary)
    meter = SegmentationMeter(M)
    per_image = PerImageMeter(M)
    psnrs, ssims, renders = [], [], []
    was_training = field.training
    field.eval()
    try:
        for k, f in enumerate(frames):
            if M:
                seg, rgb = render_segmentation(field, f.K, f.c2w, f.height, f.width, te, chunk, with_rgb=True)
                seg_np, rgb_np = seg.cpu().numpy(), rgb.cpu().numpy()
                if f.labels is not None:
                    gt = _map_labels(f.labels, table)
                    meter.update(seg_np, gt)
                    per_image.update(seg_np, gt)
            else:
                r = render_image(field, f.K, f.c2w, f.height, f.width, chunk=chunk, outputs=("rgb",))
                rgb_np = (r["rgb"].clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()
                seg_np = np.full((f.height, f.width), -1, dtype=np.int64)
            gt = np.asarray(f.image, np.uint8)
            psnrs.append(psnr_fn(rgb_np.astype(np.float64) / 255.0, gt.astype(np.float64) / 255.0))
            ssims.append(ssim(rgb_np, gt))
            if keep_renders:
                renders.append((seg_np, rgb_np))
            if progress is not None:
                progress(k + 1, len(frames))
    finally:
        field.train(was_training)
    m = meter.compute()
    a = per_image.compute()
    res = EvalResult(miou_img=a["miou_img"], acc_pix=a["acc_pix"], miou=float(m["miou"]), macc=float(m["macc"]),
                     psnr=float(np.mean(psnrs)) if psnrs else math.nan, n_views=len(frames),
                     class_names=list(vocabulary), iou=[float(x) for x in m["iou"]],
                     acc=[float(x) for x in m["acc"]], per_view_psnr=[float(p) for p in psnrs],
                     unmapped=unmapped, ssim=float(np.mean(ssims)), per_view_ssim=ssims)
    return (res, renders) if keep_renders else res
