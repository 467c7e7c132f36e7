"""An early, conservative occupancy estimate (instant-ngp / nerfacc style) used before the first alpha mask.

TensoRF's alpha mask (``TensoRFVM.update_alpha_mask``) is computed only at ``alpha_mask_iters``
(2k/4k in the paper, 45 %/70 % of the demo): until then every in-box sample before a ray's early
termination has its density evaluated. This grid gives the renderer an empty-space estimate from
the first ``occupancy_every`` iterations on, and — unlike an early alpha mask, which froze thin
furniture out of the demo room once (commit 3a39f8f) — it is re-evaluated periodically and never
permanently removes space:

* every ``occupancy_every`` iterations (until the first alpha mask exists) σ is evaluated at the
  cell's 8 corners and at one uniformly jittered point inside it (a fresh jitter each update, so
  over updates the whole cell is probed); the cell's value becomes ``max(decay · value, max σ)``
  (EMA of the max density);
* a cell is occupied where ``1 − exp(−value · step) > threshold`` (a threshold below the untrained
  field's α, so at the start nothing is skipped), dilated by one cell in every direction
  (3×3×3 max-pool), plus a random fraction ``probe`` of all cells kept alive at each update;
* the grid is transient training state: once the alpha mask exists, the renderer uses the alpha
  mask and ignores the grid (the trainer stops updating it).

Cells are indexed on the AABB normalised to [-1, 1] (``SemanticField.normalize``), ``res`` per axis.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


class OccupancyGrid:
    """Bool (R,R,R) grid (x,y,z order) with an EMA of each cell's max density."""

    def __init__(self, res: int, device=None, decay: float = 0.5, threshold: float = 1e-5, probe: float = 0.01):
        if int(res) < 2:
            raise ValueError(f"occupancy grid resolution must be >= 2, got {res}")
        self.res = int(res)
        self.decay = float(decay)
        self.threshold = float(threshold)
        self.probe = float(probe)
        self.value = torch.full((self.res,) * 3, float("inf"), device=device)  # unknown = dense
        self.mask = torch.ones((self.res,) * 3, dtype=torch.bool, device=device)
        self.updates = 0

    @torch.no_grad()
    def update(self, density_fn, step_size: float, generator: torch.Generator | None = None) -> float:
        """Re-evaluate every cell with ``density_fn`` (normalised points (M,3) in [-1,1] → σ (M,)).
        Returns the occupied fraction."""
        R, dev = self.res, self.value.device
        corners = _lattice(R + 1, dev) * (2.0 / R) - 1.0
        s_corner = density_fn(corners).reshape(1, 1, R + 1, R + 1, R + 1).float()
        s_corner = F.max_pool3d(s_corner, 2, stride=1)[0, 0]  # max over each cell's 8 corners
        ijk = _lattice(R, dev)
        u = torch.rand(ijk.shape, device=dev, generator=generator)
        sigma = torch.maximum(s_corner, density_fn((ijk + u) * (2.0 / R) - 1.0).reshape(R, R, R).float())
        old = torch.where(torch.isfinite(self.value), self.value * self.decay, torch.zeros_like(self.value))
        self.value = torch.maximum(old, sigma)
        alpha = 1.0 - torch.exp(-self.value * float(step_size))
        occ = F.max_pool3d((alpha > self.threshold).float()[None, None], 3, stride=1, padding=1)[0, 0] > 0
        if self.probe > 0:
            occ |= torch.rand(occ.shape, device=dev, generator=generator) < self.probe
        self.mask = occ
        self.updates += 1
        return float(occ.float().mean())

    def occupied(self, x: torch.Tensor) -> torch.Tensor:
        """Bool (N,) for normalised points x (N,3) in [-1,1]: the cell holding x is occupied."""
        R = self.res
        idx = ((x + 1.0) * (0.5 * R)).long().clamp_(0, R - 1)
        return self.mask.reshape(-1)[(idx[:, 0] * R + idx[:, 1]) * R + idx[:, 2]]

    def state(self) -> dict:
        return {"res": self.res, "value": self.value.cpu(), "mask": self.mask.cpu(), "updates": self.updates}

    def load(self, st: dict) -> None:
        if int(st["res"]) != self.res:
            raise ValueError(f"occupancy grid resolution {st['res']} != {self.res}")
        self.value = st["value"].to(self.value.device)
        self.mask = st["mask"].to(self.mask.device)
        self.updates = int(st["updates"])


def _lattice(n: int, device) -> torch.Tensor:
    """(n³, 3) float integer coordinates, x slowest (matches ``reshape(n, n, n)``)."""
    r = torch.arange(n, device=device, dtype=torch.float32)
    return torch.stack(torch.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3)
