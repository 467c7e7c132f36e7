"""Axis-aligned scene bounds (world frame, metres).

Two sources:

* **depth** (preferred when available, tighter): valid depth pixels (0 < d ≤ max_depth) of every
  frame, subsampled, are back-projected to the world; the box spans their
  [``percentile``, 100 − ``percentile``] range per axis (robust to stray pixels), then grows by
  ``margin`` (a fraction of its size) on each side.
* **poses**: the camera centres and the corners of every view frustum cut at ``max_depth``
  (needs K and the image size; without them a cube of half-size ``max_depth`` around each
  camera is used), then ``margin``.

Camera centres need not lie inside the box: the renderer intersects each ray with the box.

:func:`view_ray_bounds` — the region the cameras look at (a sampled intersection of the view
frusta) — bounds RGB-only captures (``ovnerf import`` and the trainer's default without depth,
where it is intersected with the frustum box of :func:`scene_bounds`).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ovnerf.errors import UserError
from ovnerf.scene.frames import PosedFrame


def _backproject(depth: np.ndarray, K: np.ndarray, c2w: np.ndarray, step: int, max_depth: float) -> np.ndarray:
    d = depth[::step, ::step].astype(np.float64)
    v, u = np.mgrid[0:depth.shape[0]:step, 0:depth.shape[1]:step]
    ok = (d > 0) & (d <= max_depth) & np.isfinite(d)
    x = (u[ok] + 0.5 - K[0, 2]) / K[0, 0] * d[ok]
    y = (v[ok] + 0.5 - K[1, 2]) / K[1, 1] * d[ok]
    pc = np.stack([x, y, d[ok]], axis=-1)
    return pc @ c2w[:3, :3].T + c2w[:3, 3]


def _frustum_corners(K: np.ndarray, c2w: np.ndarray, H: int, W: int, far: float) -> np.ndarray:
    uv = np.array([[0, 0], [W, 0], [0, H], [W, H]], dtype=np.float64)
    x = (uv[:, 0] - K[0, 2]) / K[0, 0] * far
    y = (uv[:, 1] - K[1, 2]) / K[1, 1] * far
    pc = np.stack([x, y, np.full(4, far)], axis=-1)
    return pc @ c2w[:3, :3].T + c2w[:3, 3]


def scene_bounds(frames_or_c2ws, depth: bool | Sequence[np.ndarray] | None = None, K=None,
                 hw: tuple[int, int] | None = None, max_depth: float = 4.0, margin: float = 0.05,
                 subsample: int = 4, percentile: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Scene AABB ``(aabb_min (3,), aabb_max (3,))`` float64.

    frames_or_c2ws: a list of :class:`PosedFrame` (K, size and depth are taken from them) or an
    (N,4,4) array of OpenCV c2w poses. ``depth``: None = use depth when the frames have it,
    False = poses only, or a list of depth maps (metres) matching ``frames_or_c2ws`` (then ``K``
    is required). ``K``/``hw``: intrinsics and (H, W) for pose-only bounds from c2ws.
    """
    if isinstance(frames_or_c2ws, (list, tuple)) and frames_or_c2ws and isinstance(frames_or_c2ws[0], PosedFrame):
        frames = list(frames_or_c2ws)
        c2ws = np.stack([np.asarray(f.c2w, dtype=np.float64) for f in frames])
        Ks = [np.asarray(f.K, dtype=np.float64) for f in frames]
        sizes = [(f.height, f.width) for f in frames]
        depths = [f.depth for f in frames] if depth is None else (None if depth is False else list(depth))
    else:
        c2ws = np.asarray(frames_or_c2ws, dtype=np.float64).reshape(-1, 4, 4)
        Ks = [np.asarray(K, dtype=np.float64)] * len(c2ws) if K is not None else None
        sizes = [tuple(hw)] * len(c2ws) if hw is not None else None
        depths = None if depth is None or depth is False else list(depth)
        if depths is not None and Ks is None:
            raise UserError("scene_bounds: depth maps need intrinsics K")
    if len(c2ws) == 0:
        raise UserError("scene_bounds: no poses given")

    pts = None
    if depths is not None and any(d is not None for d in depths):
        clouds = [_backproject(np.asarray(d), Ks[i], c2ws[i], subsample, max_depth)
                  for i, d in enumerate(depths) if d is not None]
        pts = np.concatenate(clouds) if clouds else np.zeros((0, 3))
        if len(pts) >= 8:
            lo = np.percentile(pts, percentile, axis=0)
            hi = np.percentile(pts, 100 - percentile, axis=0)
        else:
            pts = None
    if pts is None:
        centres = c2ws[:, :3, 3]
        if Ks is not None and sizes is not None:
            corners = np.concatenate([_frustum_corners(Ks[i], c2ws[i], sizes[i][0], sizes[i][1], max_depth)
                                      for i in range(len(c2ws))])
            allp = np.concatenate([centres, corners])
        else:
            allp = np.concatenate([centres - max_depth, centres + max_depth])
        lo, hi = allp.min(axis=0), allp.max(axis=0)
    size = np.maximum(hi - lo, 1e-3)
    return lo - margin * size, hi + margin * size


def view_ray_bounds(c2ws: np.ndarray, Ks: np.ndarray, sizes: np.ndarray, percentile: float = 1.0,
                    margin: float = 0.3, n_pairs: int = 400_000, tol: float = 0.03, min_angle_deg: float = 10.0,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The region the cameras look at (a sampled intersection of the view frusta).

    Random pairs of pixel rays from two different cameras (directions differing by more than
    ``min_angle_deg``) whose closest points lie in front of both cameras and within ``tol`` × the
    camera spread of each other "meet"; their midpoints sample where views overlap. The box spans
    the midpoints' [percentile, 100 − percentile] range per axis, together with the camera
    centres, grown by ``margin`` of its size on every side (an inside-out capture sees walls
    beyond the region where its views overlap most; the margin reaches them — measured on the
    demo room's phone capture). ``Ks`` (N,3,3), ``sizes`` (N,2) = (w, h)."""
    rng = np.random.default_rng(seed)
    N = len(c2ws)
    centres = c2ws[:, :3, 3]
    if N < 2:
        lo, hi = centres.min(0) - 1.0, centres.max(0) + 1.0
        return lo, hi

    def pixel_rays(cams):
        u = rng.uniform(0, sizes[cams, 0])
        v = rng.uniform(0, sizes[cams, 1])
        K = Ks[cams]
        d = np.stack([(u - K[:, 0, 2]) / K[:, 0, 0], (v - K[:, 1, 2]) / K[:, 1, 1], np.ones_like(u)], -1)
        d = np.einsum("nij,nj->ni", c2ws[cams, :3, :3], d)
        return centres[cams], d / np.linalg.norm(d, axis=-1, keepdims=True)

    a = rng.integers(0, N, n_pairs)
    b = (a + rng.integers(1, N, n_pairs)) % N            # another camera
    o1, d1 = pixel_rays(a)
    o2, d2 = pixel_rays(b)
    c, w = (d1 * d2).sum(-1), o1 - o2
    dd, ee = (d1 * w).sum(-1), (d2 * w).sum(-1)
    den = 1 - c * c
    ok = den > math.sin(math.radians(min_angle_deg)) ** 2
    den = np.where(ok, den, 1.0)
    s, t = (c * ee - dd) / den, (ee - c * dd) / den
    p1, p2 = o1 + s[:, None] * d1, o2 + t[:, None] * d2
    spread = max(float(np.linalg.norm(centres - centres.mean(0), axis=-1).max()), 1e-3)
    ok &= (s > 0) & (t > 0) & (np.linalg.norm(p1 - p2, axis=-1) < tol * spread)
    mids = 0.5 * (p1 + p2)[ok]
    pts = centres
    if len(mids) >= 16:
        pts = np.concatenate([centres, np.percentile(mids, [percentile, 100 - percentile], axis=0)])
    lo, hi = pts.min(0), pts.max(0)
    size = np.maximum(hi - lo, 0.1 * spread)
    return lo - margin * size, hi + margin * size


def rgb_only_bounds(frames, max_depth: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Box of posed RGB frames without depth: :func:`view_ray_bounds` ∩ the frustum box of
    :func:`scene_bounds` (so it is never larger than that box)."""
    c2ws = np.stack([np.asarray(f.c2w, dtype=np.float64) for f in frames])
    Ks = np.stack([np.asarray(f.K, dtype=np.float64) for f in frames])
    sizes = np.array([[f.width, f.height] for f in frames], dtype=np.float64)
    vlo, vhi = view_ray_bounds(c2ws, Ks, sizes)
    flo, fhi = scene_bounds(frames, depth=False, max_depth=max_depth)
    lo, hi = np.maximum(vlo, flo), np.minimum(vhi, fhi)
    return (lo, hi) if np.all(hi > lo) else (flo, fhi)
