"""Which alpha-mask cells any training camera can see — our addition to TensoRF's alpha mask.

An RGB-only field starts as a uniform fog that every ray's colour gradient thickens. Once the
room's walls are opaque, the space **behind** them (the scene box is the view-ray region + 30 %,
so the walls fall inside it) and the space **outside every training frustum** receive no gradient
any more: their early fog stays forever, although it cannot change any training pixel, and
TensoRF's alpha mask (α > 1e-4 over the whole box) counts it as occupied. instant-ngp / nerfacc
mark cells outside all training frusta as empty (``mark_untrained_density_grid``); space carving
/ shadow maps go one step further and drop what every camera sees only through an opaque
surface. :func:`visibility_grid` does both, at the alpha mask's resolution:

1. every training camera is rendered (density only, with the field's current space mask) at
   ≤ ``max_side`` pixels per side (intrinsics scaled), and each ray's **opaque distance** is
   read off: the far end of the first sample after which the transmittance
   ``T = 1 − Σ_{j≤k} w_j`` is below ``transmittance`` (∞ where the ray leaves the box first);
   the map is max-pooled over 3×3 pixels (conservative: a cell seen past an edge is kept);
2. every cell centre is projected into every camera (batched, cameras in chunks): it is
   **in view** where it lies in front of the camera beyond the renderer's ``near`` and projects
   inside the image, **visible** where in view and its distance to the camera centre is at most
   the opaque distance of its pixel + ``margin_cells`` cell diagonals;
3. optionally (``min_weight`` > 0, Plenoxels' pruning by the maximum training-ray weight) a
   seen cell must also be within one cell of a vertex where some rendered sample of step 1 had
   a compositing weight w = T·α ≥ ``min_weight``: faint fog that no training pixel relies on
   goes too (the field then re-fits what is left: "carving", ``TrainConfig.visibility_min_weight``);
4. the union over cameras is dilated by one cell (3×3×3 max-pool, as TensoRF dilates α), so a
   sample near a frustum edge or a surface never looks up a dropped neighbour.

:meth:`SemanticField.update_alpha_mask` ANDs the result into the density mask (``visible=``);
the renderer already gives masked samples σ = 0, so dropped cells are empty in every render.
Training pixels' rays pass only through visible cells (up to their own opaque point), which is
why this does not touch what the training views see; it does remove fog that only novel
views behind walls could show. Same code on CPU and CUDA; no loop over pixels or cells.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ovnerf.field.renderer import render_rays
from ovnerf.scene.rays import _as_tensor, get_rays, scaled_intrinsics

__all__ = ["Camera", "Visibility", "cell_centres", "opaque_distance", "visibility_grid"]


@dataclass(frozen=True)
class Camera:
    K: object        # (3,3) intrinsics (pixel centres at u + 0.5, ovnerf.scene.rays)
    c2w: object      # (4,4) OpenCV camera-to-world
    height: int
    width: int


@dataclass
class Visibility:
    """Bool grids (rx, ry, rz) over the field's AABB (alpha-mask vertex order)."""
    in_view: torch.Tensor    # inside at least one training frustum (before dilation)
    seen: torch.Tensor       # in view and not behind an opaque surface, for some camera (dilated)
    visible: torch.Tensor    # seen, and (with min_weight) a weight ≥ min_weight nearby (dilated)
    max_weight: torch.Tensor  # float: largest compositing weight of a rendered sample at the vertex

    def summary(self, density: torch.Tensor) -> dict:
        """What the visibility takes out of a ``density`` mask (bool grid of the same shape):
        fractions of the whole grid that density occupies, that are kept (density AND visible),
        and that are dropped as outside every frustum, as occluded from every camera, or as
        faint (seen, but no rendered weight ≥ min_weight): kept + the three = density."""
        n = density.numel()
        dropped = density & ~self.visible
        return {"density": float(density.sum()) / n, "kept": float((density & self.visible).sum()) / n,
                "outside_frusta": float((dropped & ~self.in_view).sum()) / n,
                "occluded": float((dropped & self.in_view & ~self.seen).sum()) / n,
                "faint": float((dropped & self.in_view & self.seen).sum()) / n}


def cell_centres(aabb: torch.Tensor, res) -> torch.Tensor:
    """World positions (rx·ry·rz, 3) of the alpha-mask vertices (linspace(−1, 1, r) per axis)."""
    axes = [torch.linspace(0, 1, int(r), device=aabb.device) for r in res]
    u = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)
    return aabb[0] + u * (aabb[1] - aabb[0])


def _scaled(cam: Camera, max_side: int, device) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    K, h, w = scaled_intrinsics(cam.K, cam.height, cam.width, max_side)
    return _as_tensor(K, device), _as_tensor(cam.c2w, device), h, w


def _vertex_index(pts: torch.Tensor, aabb: torch.Tensor, res: torch.Tensor) -> torch.Tensor:
    """Linear index of each point's nearest alpha-mask vertex (as ``TensoRFVM.occupied_affine``)."""
    idx = ((pts - aabb[0]) / (aabb[1] - aabb[0]) * (res - 1)).round_()
    idx = torch.minimum(idx.clamp_(min=0), res - 1).long()
    return (idx[..., 0] * res[1] + idx[..., 1]) * res[2] + idx[..., 2]


@torch.no_grad()
def opaque_distance(field, rays_o: torch.Tensor, rays_d: torch.Tensor, transmittance: float,
                    chunk: int = 4096, max_weight: torch.Tensor | None = None) -> torch.Tensor:
    """(N,) distance along each unit ray where its transmittance first falls below
    ``transmittance`` (the far end of that sample), ∞ where it never does inside the box.
    ``max_weight`` (a float grid over ``field.aabb``, alpha-mask vertex order): raised in place to
    the largest compositing weight w = T·α of any sample whose nearest vertex it is."""
    out = []
    res = None if max_weight is None else torch.tensor(max_weight.shape, device=rays_o.device)
    for i in range(0, rays_o.shape[0], chunk):
        o, d = rays_o[i:i + chunk], rays_d[i:i + chunk]
        r = render_rays(field, o, d, outputs=(), return_weights=True)
        w = r["weights"]
        T_after = 1.0 - torch.cumsum(w, dim=-1)
        opaque = T_after < transmittance
        first = opaque.float().argmax(-1, keepdim=True)
        dist = (r["t"].gather(-1, first) + r["delta"])[:, 0]
        out.append(torch.where(opaque.any(-1), dist, torch.full_like(dist, float("inf"))))
        if max_weight is not None:
            hit = w > 0
            pts = o[:, None, :] + d[:, None, :] * r["t"][..., None]
            flat = max_weight.view(-1)
            flat.scatter_reduce_(0, _vertex_index(pts[hit], field.aabb, res), w[hit], reduce="amax")
    return torch.cat(out) if out else rays_o.new_zeros(0)


@torch.no_grad()
def visibility_grid(field, cameras, res, max_side: int = 64, transmittance: float = 1e-2,
                    margin_cells: float = 1.0, camera_chunk: int = 8, ray_chunk: int = 4096,
                    min_weight: float = 0.0) -> Visibility:
    """The cells of a ``res`` grid over ``field.aabb`` that ``cameras`` (:class:`Camera` or
    anything with K, c2w, height, width) see (module docstring). ``min_weight`` > 0: a cell must
    also carry a compositing weight ≥ ``min_weight`` on some rendered ray (Plenoxels' pruning by
    the maximum training-ray weight)."""
    dev, aabb = field.device, field.aabb
    res = [int(r) for r in res]
    pts = cell_centres(aabb, res)                                     # (C,3)
    cell = float(((aabb[1] - aabb[0]) / torch.tensor(res, device=dev).clamp(min=2).sub(1)).norm())
    margin, near = float(margin_cells) * cell, float(field.cfg.near)
    scaled = [_scaled(c, max_side, dev) for c in cameras]
    wmax = torch.zeros(res, device=dev)
    depth = []
    for K, c2w, h, w in scaled:
        o, d = get_rays(K, c2w, h, w, device=dev)
        dist = opaque_distance(field, o, d, transmittance, ray_chunk, wmax).view(1, 1, h, w)
        depth.append(F.max_pool2d(dist, 3, stride=1, padding=1)[0, 0])  # ∞ survives the max
    in_view = torch.zeros(pts.shape[0], dtype=torch.bool, device=dev)
    visible = torch.zeros_like(in_view)
    for c0 in range(0, len(scaled), camera_chunk):
        group = scaled[c0:c0 + camera_chunk]
        K = torch.stack([g[0] for g in group])                        # (B,3,3)
        c2w = torch.stack([g[1] for g in group])                      # (B,4,4)
        rel = pts[None] - c2w[:, None, :3, 3]                         # (B,C,3)
        cam = torch.einsum("bcj,bjk->bck", rel, c2w[:, :3, :3])        # R^T (x − o), row vectors
        z = cam[..., 2]
        zs = z.clamp(min=1e-6)
        u = torch.floor(K[:, None, 0, 0] * cam[..., 0] / zs + K[:, None, 0, 2])
        v = torch.floor(K[:, None, 1, 1] * cam[..., 1] / zs + K[:, None, 1, 2])
        dist = rel.norm(dim=-1)
        for b, (_, _, h, w) in enumerate(group):                      # cameras of the chunk
            inside = (z[b] > 0) & (dist[b] > near) & (u[b] >= 0) & (u[b] < w) & (v[b] >= 0) & (v[b] < h)
            pix = (v[b].clamp(0, h - 1) * w + u[b].clamp(0, w - 1)).long()
            seen = inside & (dist[b] <= depth[c0 + b].reshape(-1)[pix] + margin)
            in_view |= inside
            visible |= seen
    seen = visible.view(*res)
    keep = seen & (F.max_pool3d(wmax[None, None], 3, stride=1, padding=1)[0, 0] >= min_weight) \
        if min_weight > 0 else seen
    return Visibility(in_view=in_view.view(*res), seen=_dilate(seen), visible=_dilate(keep), max_weight=wmax)


def _dilate(grid: torch.Tensor) -> torch.Tensor:
    return F.max_pool3d(grid[None, None].float(), 3, stride=1, padding=1)[0, 0] > 0
