"""A wheeled robot's camera trajectory through the demo room.

World frame: the room's map frame, z up, metres, origin at the centre of the floor; the room
spans x ∈ [−W/2, W/2], y ∈ [−D/2, D/2].

**Path** (:func:`plan_path`): the robot drives one counter-clockwise loop on the ellipse
``(x/a)² + (y/b)² = 1`` with ``a = W/2 − margin``, ``b = D/2 − margin`` starting and ending at its
bottom point ``(0, −b)``, then crosses the room along ``x = 0`` to ``(0, b)``. The polyline is
smoothed with a Gaussian of σ ≈ ``smooth`` metres (arc length), so the corner where the loop
turns into the crossing is rounded. Furniture is placed off this corridor
(:mod:`ovnerf.synthetic.room`), so the robot never drives through an object.

**Poses** (:func:`camera_trajectory`): ``n`` samples equally spaced in arc length, timestamps
``t0 + i / rate_hz``. The robot base (``base_link``) sits on the floor at the path point with
yaw ``ψ = heading + w·inward + look·sin(2π s / period + φ)``: ``heading`` is the path tangent,
``w`` ∈ [0, 1] is 1 on the loop (turning the camera towards the room's centre by ``inward``) and
0 on the crossing (smoothly blended), and the sinusoid is a slight look-around; ψ is then
smoothed along the path (Gaussian, σ = ``yaw_smooth`` metres) to bound the turn rate. The camera is
rigidly mounted on the base (holonomic base), ``height`` above the floor, pitched down by
``pitch_deg``; so ``base_to_camera`` is constant. ``c2w`` is in OpenCV camera axes
(x right, y down, z forward):

    z_cam = (cos p cos ψ, cos p sin ψ, sin p),   x_cam = (sin ψ, −cos ψ, 0),   y_cam = z_cam × x_cam

with ``p = −pitch_deg`` (radians).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d


@dataclass
class Trajectory:
    """``c2w`` (N,4,4) float64 OpenCV camera-to-world; ``timestamps`` (N,) seconds;
    ``base_poses`` (N,4,4) map→base_link; ``base_to_camera`` (4,4) base_link→optical frame
    (constant), so ``c2w[i] = base_poses[i] @ base_to_camera``."""

    c2w: np.ndarray
    timestamps: np.ndarray
    base_poses: np.ndarray
    base_to_camera: np.ndarray


def plan_path(width: float, depth: float, margin: float = 1.2, smooth: float = 0.35,
              spacing: float = 0.01) -> np.ndarray:
    """Dense robot path (P,2) in metres (see module docstring); samples ~``spacing`` apart."""
    a, b = width / 2.0 - margin, depth / 2.0 - margin
    if a <= 0.2 or b <= 0.2:
        raise ValueError(f"room {width}x{depth} m too small for a path at {margin} m from the walls")
    # loop: angle -90° → 270° counter-clockwise (dense in angle, then resampled by arc length)
    th = np.linspace(-0.5 * np.pi, 1.5 * np.pi, 4000)
    loop = np.stack([a * np.cos(th), b * np.sin(th)], axis=1)
    cross = np.stack([np.zeros(2000), np.linspace(-b, b, 2000)], axis=1)
    pts = _resample(np.concatenate([loop, cross[1:]]), spacing)
    sigma = max(smooth / spacing, 1.0)
    sm = np.stack([gaussian_filter1d(pts[:, k], sigma, mode="nearest") for k in range(2)], axis=1)
    return _resample(sm, spacing)


def _arc_length(pts: np.ndarray) -> np.ndarray:
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(seg)])


def _resample(pts: np.ndarray, spacing: float) -> np.ndarray:
    s = _arc_length(pts)
    n = max(int(np.ceil(s[-1] / spacing)) + 1, 2)
    q = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(q, s, pts[:, k]) for k in range(2)], axis=1)


def path_loop_weight(path: np.ndarray, width: float, depth: float, margin: float = 1.2,
                     smooth: float = 0.6) -> np.ndarray:
    """Weight (P,) in [0,1]: 1 where the path is on the loop, 0 on the crossing (smoothed)."""
    s = _arc_length(path)
    a, b = width / 2.0 - margin, depth / 2.0 - margin
    # the loop's length (Ramanujan's ellipse perimeter) — the crossing follows it
    h = ((a - b) / (a + b)) ** 2
    loop_len = np.pi * (a + b) * (1 + 3 * h / (10 + np.sqrt(4 - 3 * h)))
    w = (s <= loop_len).astype(np.float64)
    spacing = s[-1] / max(len(s) - 1, 1)
    return gaussian_filter1d(w, max(smooth / spacing, 1.0), mode="nearest")


def yaw_pitch_c2w(position: np.ndarray, yaw: np.ndarray, pitch: float) -> np.ndarray:
    """OpenCV c2w (N,4,4) for camera centres (N,3), yaws (N,) and a common pitch (rad, >0 = up)."""
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    z = np.stack([cp * cy, cp * sy, np.full_like(yaw, sp)], axis=1)
    x = np.stack([sy, -cy, np.zeros_like(yaw)], axis=1)
    y = np.cross(z, x)
    c2w = np.tile(np.eye(4), (len(yaw), 1, 1))
    c2w[:, :3, 0], c2w[:, :3, 1], c2w[:, :3, 2], c2w[:, :3, 3] = x, y, z, position
    return c2w


def camera_trajectory(width: float, depth: float, n_frames: int, *, margin: float = 1.2,
                      height: float = 1.2, pitch_deg: float = 12.0, inward_deg: float = 50.0,
                      look_deg: float = 12.0, look_period: float = 4.0, phase: float = 0.0,
                      rate_hz: float = 5.0, t0: float = 1_700_000_000.0,
                      yaw_smooth: float = 0.4, path: np.ndarray | None = None) -> Trajectory:
    """Camera poses along :func:`plan_path` (see module docstring)."""
    if n_frames < 1:
        raise ValueError("n_frames must be ≥ 1")
    if path is None:
        path = plan_path(width, depth, margin)
    s = _arc_length(path)
    tangent = np.gradient(path, axis=0)
    heading = np.unwrap(np.arctan2(tangent[:, 1], tangent[:, 0]))
    heading = gaussian_filter1d(heading, 5.0, mode="nearest")
    w = path_loop_weight(path, width, depth, margin)
    yaw_dense = (heading + w * np.deg2rad(inward_deg)
                 + np.deg2rad(look_deg) * np.sin(2 * np.pi * s / look_period + phase))
    spacing = s[-1] / max(len(s) - 1, 1)
    yaw_dense = gaussian_filter1d(yaw_dense, max(yaw_smooth / spacing, 1.0), mode="nearest")

    q = np.linspace(0.0, s[-1], n_frames) if n_frames > 1 else np.array([0.0])
    xy = np.stack([np.interp(q, s, path[:, 0]), np.interp(q, s, path[:, 1])], axis=1)
    yaw = np.interp(q, s, yaw_dense)

    base = np.tile(np.eye(4), (n_frames, 1, 1))
    base[:, 0, 0], base[:, 0, 1] = np.cos(yaw), -np.sin(yaw)
    base[:, 1, 0], base[:, 1, 1] = np.sin(yaw), np.cos(yaw)
    base[:, 0, 3], base[:, 1, 3] = xy[:, 0], xy[:, 1]
    # camera mount in base_link (x forward, y left, z up): height up, pitched down
    base_to_camera = yaw_pitch_c2w(np.array([[0.0, 0.0, height]]), np.array([0.0]),
                                   -np.deg2rad(pitch_deg))[0]
    c2w = base @ base_to_camera
    timestamps = t0 + np.arange(n_frames, dtype=np.float64) / float(rate_hz)
    return Trajectory(c2w=c2w, timestamps=timestamps, base_poses=base, base_to_camera=base_to_camera)
