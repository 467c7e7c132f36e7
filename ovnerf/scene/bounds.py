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
"""
from __future__ import annotations

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
