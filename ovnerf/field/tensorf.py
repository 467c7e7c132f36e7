"""TensoRF vector–matrix (VM) decomposition (Chen et al., ECCV 2022), density + appearance.

A 3D feature grid is factorised as a sum of plane × line products over the three axis pairs
(matMode = [[0,1],[0,2],[1,2]], vecMode = [2,1,0] as in TensoRF)::

    σ̃(x)   = Σ_m Σ_r  P^σ_{m,r}(x_{a_m}, x_{b_m}) · L^σ_{m,r}(x_{c_m})                (scalar)
    A(x)    = B · concat_{m,r}[ P^A_{m,r}(x_{a_m}, x_{b_m}) · L^A_{m,r}(x_{c_m}) ]       (app_dim)
    σ(x)    = distance_scale · softplus(σ̃(x) + density_shift)      [1/m, world units]

Coordinates passed in are **normalised** to [-1, 1]^3 over the scene AABB; factors are sampled
with ``grid_sample(..., align_corners=True)`` (bilinear on planes, linear on lines), one call per
plane/line for all points at once. Plane m has shape (1, R, res[b_m], res[a_m]); line m has
shape (1, R, res[c_m], 1).

``upsample(res)`` resamples every factor to a new resolution (bilinear, align_corners=True) —
this **replaces the Parameter objects**, so an optimizer must be rebuilt afterwards (as TensoRF).
Density fast path: σ̃ is evaluated by trilinear ``grid_sample`` on the dense volume
Σ_m Σ_r P_{m,r} ⊗ L_{m,r} (rebuilt from the factors on every call, differentiable) when the grid has
at most ``dense_density_max_voxels`` voxels and the call has at least voxels/64 points (below that
the factorised lookups are cheaper than rebuilding the volume). Trilinear interpolation of a separable product equals
bilinear(P)·linear(L), so this is exact (≈1e-7), and ~5× cheaper per sample on CPU.
``update_alpha_mask`` builds a low-resolution occupancy grid: α = 1 − exp(−σ·step) at grid
vertices, dilated by a 3×3×3 max-pool, occupied where α > threshold; ``occupied(x)`` looks up
the nearest vertex. Samples in unoccupied cells are skipped by the renderer.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

MAT_MODE = ((0, 1), (0, 2), (1, 2))
DENSE_POINTS_PER_VOXEL = 64  # dense-volume density when points · this ≥ voxels
VEC_MODE = (2, 1, 0)


def n_to_reso(n_voxels: int, aabb: torch.Tensor) -> list[int]:
    """Grid resolution (per axis) with about ``n_voxels`` cubic voxels filling the AABB (TensoRF)."""
    size = (aabb[1] - aabb[0]).double()
    voxel = (size.prod() / float(n_voxels)) ** (1.0 / 3.0)
    return [max(2, int(round(v))) for v in (size / voxel).tolist()]


class TensoRFVM(nn.Module):
    def __init__(self, grid_res: Sequence[int], density_components: Sequence[int] = (16, 16, 16),
                 app_components: Sequence[int] = (48, 48, 48), app_dim: int = 27,
                 density_shift: float = -10.0, distance_scale: float = 25.0, init_scale: float = 0.1,
                 device=None, dense_density_max_voxels: int = 2 ** 24):
        super().__init__()
        self.grid_res = [int(r) for r in grid_res]
        self.density_components = [int(c) for c in density_components]
        self.app_components = [int(c) for c in app_components]
        self.app_dim = int(app_dim)
        self.density_shift = float(density_shift)
        self.distance_scale = float(distance_scale)
        self.dense_density_max_voxels = int(dense_density_max_voxels)
        self.density_plane, self.density_line = self._init_vm(self.density_components, init_scale, device)
        self.app_plane, self.app_line = self._init_vm(self.app_components, init_scale, device)
        self.basis_mat = nn.Linear(sum(self.app_components), self.app_dim, bias=False, device=device)
        # occupancy grid (bool, indexed [ix, iy, iz]); empty tensor = no mask yet
        self.register_buffer("alpha_mask", torch.zeros(0, 0, 0, dtype=torch.bool, device=device))

    def _init_vm(self, comps, scale, device):
        planes, lines = nn.ParameterList(), nn.ParameterList()
        for m, (a, b) in enumerate(MAT_MODE):
            c = VEC_MODE[m]
            planes.append(nn.Parameter(scale * torch.randn(1, comps[m], self.grid_res[b], self.grid_res[a], device=device)))
            lines.append(nn.Parameter(scale * torch.randn(1, comps[m], self.grid_res[c], 1, device=device)))
        return planes, lines

    # ------------------------------------------------------------------ sampling
    @staticmethod
    def _coords(xyz: torch.Tensor):
        """grid_sample coordinates for the 3 planes and 3 lines: each (1, N, 1, 2)."""
        plane_c = [xyz[:, [a, b]].view(1, -1, 1, 2) for a, b in MAT_MODE]
        zeros = torch.zeros_like(xyz[:, :1])
        line_c = [torch.cat([zeros, xyz[:, [c]]], dim=-1).view(1, -1, 1, 2) for c in VEC_MODE]
        return plane_c, line_c

    @staticmethod
    def _vm_products(planes, lines, plane_c, line_c) -> list[torch.Tensor]:
        out = []
        for m in range(3):
            p = F.grid_sample(planes[m], plane_c[m], mode="bilinear", align_corners=True)  # (1,R,N,1)
            l = F.grid_sample(lines[m], line_c[m], mode="bilinear", align_corners=True)
            out.append((p * l)[0, :, :, 0])  # (R, N)
        return out

    def density_volume(self) -> torch.Tensor:
        """Dense σ̃ on the grid vertices, shape (1, 1, Z, Y, X) (grid_sample's D,H,W order)."""
        P, L = self.density_plane, self.density_line
        v = torch.einsum("ryx,rz->zyx", P[0][0], L[0][0, :, :, 0])
        v = v + torch.einsum("rzx,ry->zyx", P[1][0], L[1][0, :, :, 0])
        v = v + torch.einsum("rzy,rx->zyx", P[2][0], L[2][0, :, :, 0])
        return v[None, None]

    def density_feature(self, xyz: torch.Tensor) -> torch.Tensor:
        """Raw density feature σ̃ (N,) at normalised points (N,3)."""
        if xyz.shape[0] == 0:
            return xyz.new_zeros(0)
        voxels = math.prod(self.grid_res)
        # the dense volume costs ∝ voxels (rebuilt every call), the factorised lookups ∝ points:
        # measured crossover ≈ voxels / 64 points on the CPU (docs/BENCHMARKS.md)
        if voxels <= self.dense_density_max_voxels and xyz.shape[0] * DENSE_POINTS_PER_VOXEL >= voxels:
            return F.grid_sample(self.density_volume(), xyz.view(1, 1, 1, -1, 3), mode="bilinear",
                                 align_corners=True).view(-1)
        plane_c, line_c = self._coords(xyz)
        prods = self._vm_products(self.density_plane, self.density_line, plane_c, line_c)
        return sum(p.sum(0) for p in prods)

    def density(self, xyz: torch.Tensor) -> torch.Tensor:
        """Volume density σ (N,) in 1/metre at normalised points (N,3)."""
        return self.distance_scale * F.softplus(self.density_feature(xyz) + self.density_shift)

    def app_feature(self, xyz: torch.Tensor) -> torch.Tensor:
        """Appearance feature A(x) (N, app_dim) at normalised points (N,3)."""
        if xyz.shape[0] == 0:
            return xyz.new_zeros(0, self.app_dim)
        plane_c, line_c = self._coords(xyz)
        prods = self._vm_products(self.app_plane, self.app_line, plane_c, line_c)
        return self.basis_mat(torch.cat(prods, dim=0).T)

    # ------------------------------------------------------------------ coarse-to-fine
    @torch.no_grad()
    def upsample(self, res: Sequence[int]) -> None:
        """Resample all factors to grid resolution ``res`` (replaces the Parameters)."""
        res = [int(r) for r in res]
        for planes, lines in ((self.density_plane, self.density_line), (self.app_plane, self.app_line)):
            for m, (a, b) in enumerate(MAT_MODE):
                c = VEC_MODE[m]
                planes[m] = nn.Parameter(F.interpolate(planes[m].data, size=(res[b], res[a]), mode="bilinear",
                                                       align_corners=True))
                lines[m] = nn.Parameter(F.interpolate(lines[m].data, size=(res[c], 1), mode="bilinear",
                                                      align_corners=True))
        self.grid_res = res

    # ------------------------------------------------------------------ alpha mask
    @torch.no_grad()
    def density_mask(self, step_size: float, threshold: float = 1e-4, res: Sequence[int] | None = None,
                     chunk: int = 65536) -> torch.Tensor:
        """Bool grid ``res`` (default: the current grid resolution): α = 1 − exp(−σ·step) at the
        vertices, dilated by a 3×3×3 max-pool, > ``threshold`` (TensoRF's alpha mask from density)."""
        res = [int(r) for r in (res or self.grid_res)]
        dev = self.density_plane[0].device
        axes = [torch.linspace(-1, 1, r, device=dev) for r in res]
        pts = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).view(-1, 3)
        sigma = torch.cat([self.density(pts[i:i + chunk]) for i in range(0, pts.shape[0], chunk)])
        alpha = (1 - torch.exp(-sigma * step_size)).view(1, 1, *res)
        alpha = F.max_pool3d(alpha, kernel_size=3, stride=1, padding=1)[0, 0]
        return alpha > threshold

    @torch.no_grad()
    def update_alpha_mask(self, step_size: float, threshold: float = 1e-4, res: Sequence[int] | None = None,
                          chunk: int = 65536, keep: torch.Tensor | None = None) -> float:
        """Recompute the occupancy grid at ``res`` (default: the current grid resolution):
        :meth:`density_mask`, AND ``keep`` (a bool grid of the same shape, e.g. the cells some
        training camera sees, :mod:`ovnerf.field.visibility_mask`) when given.

        Returns the occupied fraction. ``step_size`` is the renderer's step in metres.
        """
        mask = self.density_mask(step_size, threshold, res, chunk)
        if keep is not None:
            if tuple(keep.shape) != tuple(mask.shape):
                raise ValueError(f"keep grid {tuple(keep.shape)} does not match the mask {tuple(mask.shape)}")
            mask = mask & keep.to(mask.device)
        return self.set_alpha_mask(mask)

    def set_alpha_mask(self, mask: torch.Tensor) -> float:
        """Store a bool occupancy grid (e.g. :meth:`density_mask` AND the visible cells, computed
        by the caller); returns the occupied fraction."""
        self.alpha_mask = mask
        return float(self.alpha_mask.float().mean())

    def has_alpha_mask(self) -> bool:
        return self.alpha_mask.numel() > 0

    def occupied(self, xyz: torch.Tensor) -> torch.Tensor:
        """Bool (N,): nearest alpha-mask vertex is occupied (all True when there is no mask)."""
        if not self.has_alpha_mask():
            return torch.ones(xyz.shape[0], dtype=torch.bool, device=xyz.device)
        return self.occupied_affine(xyz, torch.ones(3, device=xyz.device), -torch.ones(3, device=xyz.device))

    def occupied_affine(self, x: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        """``occupied(x·scale + offset)`` in one pass (the renderer passes world points and the AABB's
        normalisation): nearest vertex, its linear index computed in float (exact below 2^24)."""
        if not self.has_alpha_mask():
            return torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
        res = torch.tensor(self.alpha_mask.shape, device=x.device, dtype=x.dtype)
        half = 0.5 * (res - 1)
        idx = torch.addcmul((offset + 1) * half, x, scale * half).round_()
        idx = torch.minimum(idx.clamp_(min=0), res - 1)
        strides = torch.tensor([res[1] * res[2], res[2], 1], device=x.device, dtype=x.dtype)
        return self.alpha_mask.reshape(-1)[(idx @ strides).long()]

    # ------------------------------------------------------------------ regularisers
    def l1_loss(self) -> torch.Tensor:
        """Density sparsity (TensoRF): Σ_m mean|P^σ_m| + mean|L^σ_m|."""
        return sum(p.abs().mean() + l.abs().mean() for p, l in zip(self.density_plane, self.density_line))

    @staticmethod
    def _tv(x: torch.Tensor) -> torch.Tensor:
        dh = (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean() if x.shape[-2] > 1 else x.new_zeros(())
        dw = (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean() if x.shape[-1] > 1 else x.new_zeros(())
        return dh + dw

    def tv_loss(self, density_weight: float = 1.0, app_weight: float = 1.0) -> torch.Tensor:
        """Total variation (mean squared neighbour differences) of the planes, weighted per volume."""
        loss = self.density_plane[0].new_zeros(())
        if density_weight:
            loss = loss + density_weight * sum(self._tv(p) for p in self.density_plane)
        if app_weight:
            loss = loss + app_weight * sum(self._tv(p) for p in self.app_plane)
        return loss

    def grid_parameters(self) -> list[nn.Parameter]:
        return [*self.density_plane, *self.density_line, *self.app_plane, *self.app_line]
