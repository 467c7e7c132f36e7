"""The 3DOVS dense-feature recipe, model-free: crop geometry and per-pixel accumulation.

3DOVS (Liu et al. 2023, ``extract_clip_feature.py``; OV-NeRF uses its features) works on the
image down-sampled by ``down`` = 8: a grid of h × w = ⌊H/8⌋ × ⌊W/8⌋ cells. For each of three
patch sizes p ∈ {⌊min(h,w)/5⌋, ⌊min(h,w)/7⌋, ⌊min(h,w)/10⌋} (cells; at least 1):

1. **Crops.** Stride q = max(1, ⌊p/4⌋). Along an axis of length L there are
   n = ⌊(L − p)/q⌋ + 1 (+1 if (L − p) mod q > 0) origins k·q, k < n; a crop is the square
   [x0, x0 + p) × [y0, y0 + p) clipped to the grid (so the extra last crop of an axis is
   narrower). With ``jitter`` (3DOVS's "randomness"), each side is pushed outwards by an
   integer drawn uniformly from {0, …, ⌊p/4⌋} (then clipped); the draws come from a
   ``torch.Generator`` seeded with ``seed`` (3DOVS uses Python's unseeded ``random``).
2. **Accumulation.** Every crop's *raw* (un-normalised) embedding e_k is added to every cell it
   covers, and the cell's feature is Σ_k e_k / (number of covering crops) — exact integer-box
   accumulation with a 2D difference array (no loop over cells or crops). Every cell is covered.
   We then L2-normalise (3DOVS keeps the mean; OV-NeRF's losses are cosine, so the scale is
   irrelevant there).

Result per image: (3, h, w, D), one map per patch size (largest crops first).

For a 640×480 view: h × w = 60 × 80, p = 12 / 8 / 6 cells (96 / 64 / 48 px), stride 3 / 2 / 1,
5,532 crops (see :func:`crop_count`; ``ovnerf bench`` prints it).
"""
from __future__ import annotations

import torch

DOVS_DIVISORS = (5, 7, 10)
DOVS_DOWN = 8


def grid_size(H: int, W: int, down: int = DOVS_DOWN) -> tuple[int, int]:
    """(h, w) = (⌊H/down⌋, ⌊W/down⌋), at least 1 each."""
    return max(1, H // down), max(1, W // down)


def patch_sizes(h: int, w: int, divisors=DOVS_DIVISORS) -> list[int]:
    """[⌊min(h,w)/d⌋ for d in divisors], at least 1 cell each."""
    return [max(1, min(h, w) // int(d)) for d in divisors]


def _origins(L: int, p: int, q: int) -> torch.Tensor:
    if L <= p:
        return torch.zeros(1, dtype=torch.long)
    n = (L - p) // q + 1 + int((L - p) % q > 0)
    return torch.arange(n, dtype=torch.long) * q


def crop_boxes(h: int, w: int, p: int, jitter: bool = False, generator: torch.Generator | None = None
               ) -> torch.Tensor:
    """(N, 4) long boxes (x0, y0, x1, y1) in grid cells, half-open, clipped to the grid, for patch
    size ``p`` (see module docstring). Row-major over (y origin, x origin)."""
    q = max(1, p // 4)
    ys, xs = _origins(h, p, q), _origins(w, p, q)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    x0, y0 = xx.reshape(-1), yy.reshape(-1)
    x1, y1 = x0 + p, y0 + p
    if jitter and p // 4 > 0:
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        j = torch.randint(0, p // 4 + 1, (4, len(x0)), generator=g)
        x0, y0, x1, y1 = x0 - j[0], y0 - j[1], x1 + j[2], y1 + j[3]
    return torch.stack([x0.clamp(0, w), y0.clamp(0, h), x1.clamp(0, w), y1.clamp(0, h)], 1)


def all_crop_boxes(h: int, w: int, divisors=DOVS_DIVISORS, jitter: bool = True, seed: int = 0
                   ) -> list[torch.Tensor]:
    """Per patch size (largest first), the boxes of :func:`crop_boxes`; one generator for all."""
    g = torch.Generator().manual_seed(int(seed))
    return [crop_boxes(h, w, p, jitter, g) for p in patch_sizes(h, w, divisors)]


def crop_count(H: int, W: int, down: int = DOVS_DOWN, divisors=DOVS_DIVISORS) -> int:
    """Number of crops (all scales) for an H×W image."""
    h, w = grid_size(H, W, down)
    return sum(len(crop_boxes(h, w, p)) for p in patch_sizes(h, w, divisors))


class Accumulator:
    """Σ of raw crop embeddings and crop counts per cell, fed batch by batch (bounded memory):
    ``add(boxes, emb)``, then ``mean()`` → (h, w, D) (cells with no crop: 0)."""

    def __init__(self, h: int, w: int, dim: int, device="cpu"):
        self.h, self.w, self.D = int(h), int(w), int(dim)
        self.diff = torch.zeros(h + 1, w + 1, dim + 1, device=device)

    def add(self, boxes: torch.Tensor, emb: torch.Tensor) -> None:
        b = boxes.to(self.diff.device).long()
        vals = torch.cat([emb.float().to(self.diff.device), torch.ones(len(emb), 1, device=self.diff.device)], 1)
        for xi, yi, sign in ((0, 1, 1.0), (2, 1, -1.0), (0, 3, -1.0), (2, 3, 1.0)):
            self.diff.index_put_((b[:, yi], b[:, xi]), sign * vals, accumulate=True)

    def sums(self) -> tuple[torch.Tensor, torch.Tensor]:
        acc = self.diff.cumsum(0).cumsum(1)[:self.h, :self.w]
        return acc[..., :self.D], acc[..., self.D]

    def mean(self) -> torch.Tensor:
        s, n = self.sums()
        return torch.where(n[..., None] > 0, s / n.clamp_min(1)[..., None], torch.zeros_like(s))
