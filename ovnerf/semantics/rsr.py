"""Region Semantic Ranking (RSR), Ψ in OV-NeRF.

Given a class map S (H×W class ids, ``ignore_index`` = void) and region proposals
R = {R^k} (K×H×W booleans, e.g. SAM masks), RSR returns S~ = Ψ(S, R):

Rules (each one is tested exactly in ``tests/training/test_rsr.py``):

1. **Majority vote per region.** For region k, ``count[k, c]`` = number of pixels p with
   ``R^k[p]`` and ``S[p] == c``, over *all* of the region's pixels (pixels shared with other,
   overlapping regions count in each of them). Void pixels (``S[p] == ignore_index``, or any
   id outside ``[0, num_classes)``) are not counted. The region's class is
   ``argmax_c count[k, c]``; **ties go to the lowest class id**.
2. **Empty regions.** A region with no counted pixel (empty, or all void) paints nothing.
3. **Overlaps: smaller regions win.** Regions are painted from the largest area to the
   smallest, so where regions overlap the pixel takes the class of the *smallest* covering
   (non-empty) region; between covering regions of **equal area, the lower region index wins**.
   Area = number of pixels of the mask (void pixels included).
4. **Uncovered pixels keep S.** A pixel covered by no painting region keeps its value of S
   (void stays void). A void pixel inside a painting region takes that region's class.

Implementation: counts by a one-hot matrix product ``R (K×P) @ onehot(S) (P×C)`` accumulated
over pixel chunks (bounded memory, exact integer counts in float32 up to 2^24 pixels per
chunk), the per-pixel winner by ``argmax`` over regions sorted by priority. No Python loop over
pixels or regions. Works on any torch device; accepts a batch (leading dim B) too.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["region_semantic_ranking", "region_majority_classes"]

_PIXEL_CHUNK = 1 << 16


def _check(labels: torch.Tensor, masks: torch.Tensor) -> None:
    if labels.dim() != masks.dim() - 1 or masks.shape[-2:] != labels.shape[-2:] \
            or masks.shape[:-3] != labels.shape[:-2]:
        raise ValueError(f"RSR: masks {tuple(masks.shape)} must be (..., K, H, W) for labels "
                         f"{tuple(labels.shape)} (..., H, W)")


def region_majority_classes(labels: torch.Tensor, masks: torch.Tensor, num_classes: int,
                            ignore_index: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-region majority class (rule 1) for a batch.

    labels: (B, P) long; masks: (B, K, P) bool.  Returns ``(cls (B,K) long, valid (B,K) bool)``
    where ``valid`` is False for regions with no counted pixel (rule 2).
    """
    B, K, P = masks.shape
    device = labels.device
    lab = labels.long()
    counted = (lab >= 0) & (lab < num_classes) & (lab != ignore_index)
    safe = torch.where(counted, lab, torch.zeros_like(lab))
    counts = torch.zeros(B, K, num_classes, dtype=torch.float32, device=device)
    for s in range(0, P, _PIXEL_CHUNK):  # chunks of pixels (bounded memory), not pixels
        e = min(P, s + _PIXEL_CHUNK)
        onehot = torch.nn.functional.one_hot(safe[:, s:e], num_classes).to(torch.float32)
        onehot = onehot * counted[:, s:e, None].to(torch.float32)
        counts += torch.bmm(masks[:, :, s:e].to(torch.float32), onehot)
    best = counts.max(dim=2, keepdim=True).values
    cls_ids = torch.arange(num_classes, device=device).expand_as(counts)
    # ties -> lowest class id (explicit, independent of argmax's tie behaviour)
    cls = torch.where(counts == best, cls_ids, torch.full_like(cls_ids, num_classes)).min(dim=2).values
    valid = best[..., 0] > 0
    return cls, valid


def region_semantic_ranking(labels, masks, num_classes: int, ignore_index: int = -1):
    """Ψ: refine a class map with region proposals (rules in the module docstring).

    labels: (H, W) or (B, H, W) integer class ids (torch or numpy), ``ignore_index`` = void.
    masks:  (K, H, W) or (B, K, H, W) bool (K may be 0).
    Returns the refined map, same shape as ``labels``; a torch ``long`` tensor on ``labels``'s
    device, or a numpy array of ``labels``'s dtype if numpy was given.
    """
    as_numpy = isinstance(labels, np.ndarray)
    np_dtype = labels.dtype if as_numpy else None
    lab = torch.as_tensor(np.asarray(labels) if as_numpy else labels)
    m = torch.as_tensor(np.asarray(masks)) if isinstance(masks, np.ndarray) else masks
    m = m.to(device=lab.device, dtype=torch.bool)
    lab = lab.long()
    _check(lab, m)
    if num_classes <= 0:
        raise ValueError("RSR: num_classes must be positive")
    single = lab.dim() == 2
    if single:
        lab, m = lab[None], m[None]
    B, K, H, W = m.shape
    P = H * W
    out = lab.clone()
    if K > 0:
        lab_f = lab.reshape(B, P)
        m_f = m.reshape(B, K, P)
        cls, valid = region_majority_classes(lab_f, m_f, num_classes, ignore_index)
        area = m_f.sum(dim=2)  # (B, K)
        # priority order: smallest area first, equal areas by lower index (stable sort)
        order = torch.sort(area, dim=1, stable=True).indices  # (B, K)
        m_sorted = torch.gather(m_f, 1, order[:, :, None].expand(B, K, P))
        valid_sorted = torch.gather(valid, 1, order)
        cls_sorted = torch.gather(cls, 1, order)
        paint = (m_sorted & valid_sorted[:, :, None]).to(torch.uint8)  # (B, K, P)
        # argmax over uint8 returns the first maximal index = highest-priority covering region
        first = paint.argmax(dim=1)  # (B, P)
        covered = paint.amax(dim=1) > 0
        new = torch.gather(cls_sorted, 1, first)
        out = torch.where(covered, new, lab_f).reshape(B, H, W)
    if single:
        out = out[0]
    if as_numpy:
        return out.cpu().numpy().astype(np_dtype)
    return out
