"""Tiny synthetic scenes for the core tests (analytic ray casting, no external data).

``box_scene(n_views, H, W)``: a floor slab and three axis-aligned boxes, each face with its own flat
colour (view independent), background white; cameras on a ring looking at the scene centre.
Returns dict(frames=list[PosedFrame] (with z-depth), aabb=(min,max), white_bg=True).
"""
from __future__ import annotations

import numpy as np
import pytest

from ovnerf.scene.conventions import look_at
from ovnerf.scene.frames import PosedFrame

# (min corner, max corner, base colour); face colours are the base colour modulated per face
BOXES = [
    (np.array([-1.0, -1.0, -0.06]), np.array([1.0, 1.0, 0.0]), np.array([0.55, 0.5, 0.45])),
    (np.array([-0.6, -0.5, 0.0]), np.array([-0.1, 0.0, 0.45]), np.array([0.9, 0.2, 0.15])),
    (np.array([0.15, -0.2, 0.0]), np.array([0.55, 0.35, 0.3]), np.array([0.15, 0.35, 0.9])),
    (np.array([-0.2, 0.3, 0.0]), np.array([0.2, 0.7, 0.6]), np.array([0.2, 0.8, 0.3])),
]
FACE_GAIN = np.array([0.6, 0.75, 0.85, 0.95, 1.0, 0.5])  # -x,+x,-y,+y,-z? order: axis*2 + side
SCENE_AABB = (np.array([-1.05, -1.05, -0.1]), np.array([1.05, 1.05, 0.75]))


def raycast_boxes(origins: np.ndarray, dirs: np.ndarray):
    """Nearest hit of rays (N,3) with BOXES → (rgb (N,3) float, t (N,) inf where missed)."""
    N = origins.shape[0]
    best_t = np.full(N, np.inf)
    rgb = np.ones((N, 3))
    safe = np.where(np.abs(dirs) < 1e-12, 1e-12, dirs)
    for lo, hi, col in BOXES:
        ta, tb = (lo - origins) / safe, (hi - origins) / safe
        tmin, tmax = np.minimum(ta, tb), np.maximum(ta, tb)
        t_in = tmin.max(1)
        axis = tmin.argmax(1)
        t_out = tmax.min(1)
        hit = (t_in <= t_out) & (t_in > 1e-6) & (t_in < best_t)
        side = (dirs[np.arange(N), axis] < 0).astype(int)  # entering through the max face when d<0
        face = axis * 2 + side
        best_t = np.where(hit, t_in, best_t)
        rgb = np.where(hit[:, None], col[None] * FACE_GAIN[face][:, None], rgb)
    return rgb, best_t


def render_view(K, c2w, H, W):
    v, u = np.mgrid[0:H, 0:W]
    d_cam = np.stack([(u + 0.5 - K[0, 2]) / K[0, 0], (v + 0.5 - K[1, 2]) / K[1, 1], np.ones((H, W))], -1).reshape(-1, 3)
    z_scale = 1.0 / np.linalg.norm(d_cam, axis=1)
    d = (d_cam * z_scale[:, None]) @ c2w[:3, :3].T
    o = np.broadcast_to(c2w[:3, 3], d.shape)
    rgb, t = raycast_boxes(o, d)
    depth = np.where(np.isfinite(t), t * z_scale, 0.0)
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8).reshape(H, W, 3), depth.reshape(H, W).astype(np.float32)


def make_box_scene(n_views: int = 20, H: int = 48, W: int = 64, radius: float = 2.0, height: float = 1.3):
    f = 0.9 * W
    K = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1.0]])
    frames = []
    for i, a in enumerate(np.linspace(0, 2 * np.pi, n_views, endpoint=False)):
        c2w = look_at([radius * np.cos(a), radius * np.sin(a), height + 0.2 * np.sin(3 * a)], [0, 0, 0.15])
        img, depth = render_view(K, c2w, H, W)
        frames.append(PosedFrame(name=f"view_{i:03d}", image=img, K=K, c2w=c2w, timestamp=float(i), depth=depth))
    return {"frames": frames, "aabb": SCENE_AABB, "white_bg": True}


@pytest.fixture(scope="session")
def box_scene():
    return make_box_scene()
