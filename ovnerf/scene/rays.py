"""Camera rays (torch, vectorised).

Pixel (u, v) = (column, row) has its centre at (u + 0.5, v + 0.5). With OpenCV axes the camera-
space direction of that centre is ``((u+0.5−cx)/fx, (v+0.5−cy)/fy, 1)``; it is rotated to the world
by ``c2w[:3,:3]`` and normalised to unit length, so a distance ``t`` along the ray is metric
distance from the camera centre (not z-depth: ``z = t · dir·c2w[:3,2]``, see :func:`ray_z_scale`).
Full-image rays are ordered row-major: index = v·W + u.
"""
from __future__ import annotations

import numpy as np
import torch


def _as_tensor(x, device, dtype=torch.float32) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=dtype)
    return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)


def scaled_intrinsics(K, H: int, W: int, max_side: int) -> tuple[np.ndarray, int, int]:
    """(K, H, W) of the same camera resized so that its longer side is at most ``max_side``
    (never enlarged): each side rounded, K's rows scaled by the exact size ratios."""
    s = min(1.0, float(max_side) / max(H, W))
    h, w = max(1, int(round(H * s))), max(1, int(round(W * s)))
    K = np.asarray(K.detach().cpu() if isinstance(K, torch.Tensor) else K, dtype=np.float64).copy()
    K[0] *= w / W
    K[1] *= h / H
    K[2] = [0, 0, 1]
    return K, h, w


def pixel_rays(K, c2w, uv, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays through selected pixels.

    K: (3,3) or (N,3,3); c2w: (4,4) or (N,4,4) OpenCV convention; uv: (N,2) pixel indices
    (column, row) — integer or float, centres are at uv + 0.5.
    Returns origins (N,3) and unit directions (N,3), float32 on ``device``.
    """
    if device is None:
        device = uv.device if isinstance(uv, torch.Tensor) else torch.device("cpu")
    K = _as_tensor(K, device)
    c2w = _as_tensor(c2w, device)
    uv = _as_tensor(uv, device)
    if K.dim() == 2:
        K = K.unsqueeze(0)
    if c2w.dim() == 2:
        c2w = c2w.unsqueeze(0)
    x = (uv[:, 0] + 0.5 - K[:, 0, 2]) / K[:, 0, 0]
    y = (uv[:, 1] + 0.5 - K[:, 1, 2]) / K[:, 1, 1]
    d_cam = torch.stack([x, y, torch.ones_like(x)], dim=-1)  # (N,3)
    dirs = torch.einsum("nij,nj->ni", c2w[:, :3, :3], d_cam) if c2w.shape[0] > 1 else d_cam @ c2w[0, :3, :3].T
    dirs = dirs / dirs.norm(dim=-1, keepdim=True)
    origins = c2w[:, :3, 3].expand(dirs.shape[0], 3).contiguous()
    return origins, dirs


def image_uv(H: int, W: int, device=None) -> torch.Tensor:
    """(H*W, 2) integer pixel indices (column, row), row-major."""
    v, u = torch.meshgrid(torch.arange(H, device=device), torch.arange(W, device=device), indexing="ij")
    return torch.stack([u.reshape(-1), v.reshape(-1)], dim=-1)


def get_rays(K, c2w, H: int, W: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """All H·W rays of an image: origins (H*W,3), unit directions (H*W,3), row-major."""
    return pixel_rays(K, c2w, image_uv(H, W, device=device), device=device)


def ray_z_scale(dirs: torch.Tensor, c2w) -> torch.Tensor:
    """Factor converting distance along the unit ray to camera z-depth: dirs · optical axis."""
    c2w = _as_tensor(c2w, dirs.device)
    return dirs @ c2w[:3, 2]
