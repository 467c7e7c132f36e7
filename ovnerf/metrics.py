"""Evaluation metrics: confusion matrix, mIoU, mAcc, PSNR — two definitions of the means.

**Ours** (:class:`SegmentationMeter`, the default figures ``miou`` / ``macc``):

* Ground-truth pixels with label −1 (void) — or any id outside [0, C) — are ignored.
* A predicted id outside [0, C) counts as a miss for its ground-truth class (it is no class's
  false positive).
* Rows of the confusion matrix are ground truth, columns prediction: ``conf[g, p]``.
* ONE confusion matrix pooled over all evaluated views; IoU_c = TP / (TP + FP + FN);
  Acc_c = TP / (TP + FN) (per-class recall).
* **Only classes present in the ground truth of the evaluated set** (row sum > 0) enter the
  means: mIoU = mean_c∈present IoU_c, mAcc = mean_c∈present Acc_c (mean class recall). Classes
  with no GT pixels are excluded (their IoU/Acc are reported as NaN), even if they were
  predicted — such false positives still lower the IoU of the classes whose pixels they took.

**The authors'** (:class:`PerImageMeter`; OV-NeRF / 3DOVS evaluation code, an ``Evaluator``
with one confusion matrix per test image): per image, IoU_c = TP / (TP + FP + FN) with NaN where
the union is empty (class neither in the GT nor predicted), image mIoU = nanmean_c IoU_c — so a
class predicted in an image but absent from its GT counts there with IoU 0; image accuracy = the
**overall pixel accuracy** Σ TP / (valid GT pixels). Reported: the mean over images of both
(``miou_img``, ``acc_pix``). These are NOT the same numbers as ours (different averaging, and
overall accuracy is not mean class recall); tables show both.
"""
from __future__ import annotations

import math

import numpy as np
import torch


def confusion_matrix(pred, gt, num_classes: int) -> torch.Tensor:
    """(C,C) int64 confusion matrix, rows = ground truth, cols = prediction (torch.bincount)."""
    pred = torch.as_tensor(np.asarray(pred) if not isinstance(pred, torch.Tensor) else pred).reshape(-1).long()
    gt = torch.as_tensor(np.asarray(gt) if not isinstance(gt, torch.Tensor) else gt).reshape(-1).long().to(pred.device)
    if pred.shape != gt.shape:
        raise ValueError(f"pred and gt differ in size: {tuple(pred.shape)} vs {tuple(gt.shape)}")
    C = int(num_classes)
    keep = (gt >= 0) & (gt < C)
    gt, pred = gt[keep], pred[keep]
    pred = torch.where((pred >= 0) & (pred < C), pred, torch.full_like(pred, C))  # C = "no class"
    conf = torch.bincount(gt * (C + 1) + pred, minlength=C * (C + 1)).reshape(C, C + 1)
    return conf[:, :C].contiguous() if conf.numel() else torch.zeros(C, C, dtype=torch.long)



def iou_acc(conf: torch.Tensor, gt_pixels: torch.Tensor | None = None) -> dict:
    """Per-class IoU/Acc and their means over classes present in GT (see module docstring).

    ``conf`` (C,C) from :func:`confusion_matrix`. ``gt_pixels`` (C,) optional true GT pixel
    counts per class (row sums incl. predictions outside [0,C)); by default the row sums.
    Returns dict(miou, macc, iou (C,) with NaN for absent classes, acc (C,), present (C,) bool).
    """
    conf = conf.double()
    tp = conf.diag()
    gt_n = conf.sum(1) if gt_pixels is None else gt_pixels.double()
    pred_n = conf.sum(0)
    present = gt_n > 0
    nan = torch.full_like(tp, float("nan"))
    iou = torch.where(present, tp / (gt_n + pred_n - tp).clamp(min=1), nan)
    acc = torch.where(present, tp / gt_n.clamp(min=1), nan)
    miou = float(iou[present].mean()) if present.any() else math.nan
    macc = float(acc[present].mean()) if present.any() else math.nan
    return {"miou": miou, "macc": macc, "iou": iou, "acc": acc, "present": present}


class SegmentationMeter:
    """Accumulates a confusion matrix over several views; ``compute()`` → :func:`iou_acc` dict.
    Predictions outside [0,C) are counted as misses (kept in the GT pixel totals)."""

    def __init__(self, num_classes: int):
        self.C = int(num_classes)
        self.conf = torch.zeros(self.C, self.C, dtype=torch.long)
        self.gt_pixels = torch.zeros(self.C, dtype=torch.long)

    def update(self, pred, gt) -> None:
        gt_t = torch.as_tensor(np.asarray(gt) if not isinstance(gt, torch.Tensor) else gt).reshape(-1).long().cpu()
        self.conf += confusion_matrix(pred, gt, self.C).cpu()
        g = gt_t[(gt_t >= 0) & (gt_t < self.C)]
        self.gt_pixels += torch.bincount(g, minlength=self.C)

    def compute(self) -> dict:
        return iou_acc(self.conf, self.gt_pixels)


class PerImageMeter:
    """The authors' definition (module docstring): per-image nanmean IoU and overall pixel
    accuracy, averaged over images. ``update(pred, gt)`` once per image."""

    def __init__(self, num_classes: int):
        self.C = int(num_classes)
        self.mious: list[float] = []
        self.accs: list[float] = []

    def update(self, pred, gt) -> None:
        conf = confusion_matrix(pred, gt, self.C).double()
        gt_t = torch.as_tensor(np.asarray(gt) if not isinstance(gt, torch.Tensor) else gt).reshape(-1).long()
        n_valid = int(((gt_t >= 0) & (gt_t < self.C)).sum())
        if n_valid == 0:
            return
        tp = conf.diag()
        union = conf.sum(1) + conf.sum(0) - tp
        iou = torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, float("nan")))
        self.mious.append(float(np.nanmean(iou.numpy())))
        self.accs.append(float(tp.sum()) / n_valid)

    def compute(self) -> dict:
        if not self.mious:
            return {"miou_img": math.nan, "acc_pix": math.nan, "n_images": 0}
        return {"miou_img": float(np.mean(self.mious)), "acc_pix": float(np.mean(self.accs)),
                "n_images": len(self.mious)}


def psnr(pred, gt, max_val: float = 1.0, mask=None) -> float:
    """PSNR in dB: 10·log10(max_val² / MSE), MSE over all elements (or masked pixels)."""
    pred = torch.as_tensor(pred).double()
    gt = torch.as_tensor(gt).double().to(pred.device)
    err = (pred - gt) ** 2
    if mask is not None:
        m = torch.as_tensor(mask, device=pred.device).bool()
        err = err[m]
    mse = float(err.mean())
    return math.inf if mse == 0 else 10.0 * math.log10(max_val ** 2 / mse)
