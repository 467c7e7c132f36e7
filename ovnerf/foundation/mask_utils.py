"""Mask post-processing shared by the SAM region backends (vectorised torch).

- ``point_grid(n)``: SAM's n×n grid of normalised points, cell centres ((i + 0.5)/n).
- ``stability_score(logits, threshold, offset)``: |logits > t + o| / |logits > t − o| per mask
  (SAM's definition; 1.0 for an empty union).
- ``mask_iou_matrix(masks)``: (K, K) IoU of boolean masks (computed on masks subsampled so that
  at most ``max_pixels`` pixels enter the product).
- ``mask_nms(masks, scores, iou_threshold)``: greedy non-maximum suppression on **mask** IoU:
  visit masks by descending score, keep one unless its IoU with an already kept mask exceeds
  ``iou_threshold``. Returns kept indices in descending-score order.
"""
from __future__ import annotations

import numpy as np
import torch


def point_grid(n: int) -> np.ndarray:
    """(n*n, 2) float (x, y) in [0, 1]: cell centres of an n×n grid, row-major."""
    c = (np.arange(n, dtype=np.float64) + 0.5) / n
    xs, ys = np.meshgrid(c, c)
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def stability_score(logits: torch.Tensor, threshold: float = 0.0, offset: float = 1.0) -> torch.Tensor:
    """(N, ...) logits → (N,) stability scores."""
    flat = logits.flatten(1)
    inter = (flat > threshold + offset).sum(1).float()
    union = (flat > threshold - offset).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def mask_iou_matrix(masks: torch.Tensor, max_pixels: int = 65536) -> torch.Tensor:
    K = masks.shape[0]
    if K == 0:
        return torch.zeros(0, 0)
    H, W = masks.shape[-2:]
    step = max(1, int(np.ceil(np.sqrt(H * W / max_pixels))))
    m = masks[:, ::step, ::step].reshape(K, -1).float()
    inter = m @ m.T
    area = m.sum(1)
    union = area[:, None] + area[None, :] - inter
    return torch.where(union > 0, inter / union.clamp_min(1), torch.zeros_like(union))


def mask_nms(masks: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    K = masks.shape[0]
    if K == 0:
        return torch.zeros(0, dtype=torch.long)
    order = torch.argsort(scores, descending=True, stable=True)
    iou = mask_iou_matrix(masks[order])
    keep = torch.zeros(K, dtype=torch.bool)
    for i in range(K):  # loop over candidate masks (≤ grid points), not pixels
        if not bool((iou[i, :i][keep[:i]] > iou_threshold).any()):
            keep[i] = True
    return order[keep]
