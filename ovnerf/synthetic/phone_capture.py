"""A realistic RGB-only capture of the demo room, as a person would take it with a phone.

``generate_phone_capture(out_dir, ...)`` writes an **instant-ngp-style** capture (what a user
brings, not our scene layout)::

    out_dir/transforms.json   fl_x, fl_y, cx, cy, w, h, k1, k2, p1, p2, aabb_scale,
                              frames[{file_path, transform_matrix (OpenGL c2w)}]
    out_dir/images/0000.png ...

What makes it realistic (and what the importer must undo):

- **RGB only**: no depth, no labels, no class names.
- **Lens distortion**: every image is distorted with OpenCV's Brown–Conrady model (k1, k2, p1, p2
  written to transforms.json); the importer must undistort.
- **Exposure changes**: each frame's intensities are scaled by a smoothly varying gain
  (auto-exposure), ``gain ∈ [1 − exposure, 1 + exposure]``.
- **A walking person**: the demo room's walking path (:func:`ovnerf.synthetic.trajectory.plan_path`),
  phone at ~1.5 m with a walker's bob, panning around, hand tremor in roll / pitch.
- **An arbitrary world frame** (as structure-from-motion returns it): every pose is moved by one
  random rigid transform and scaled, so gravity is not +z and the origin is not the room's centre;
  the importer must re-orient and centre.

``transforms.json["ovnerf_ground_truth"]`` (ignored by other tools) keeps the world transform,
the exposure gains and the room size, for tests only.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from ovnerf.atomic_write import atomic_write_bytes
from ovnerf.errors import UserError
from ovnerf.scene.conventions import opencv_to_opengl
from ovnerf.synthetic.render import RoomRenderer, intrinsics_from_hfov
from ovnerf.synthetic.room import build_room
from ovnerf.synthetic.trajectory import camera_trajectory

DEFAULT_DISTORTION = (-0.12, 0.03, 0.001, -0.0008)   # k1, k2, p1, p2: a phone's mild barrel


def _cv(K: np.ndarray) -> np.ndarray:
    """Our K (pixel centres at u+0.5) → OpenCV's (pixel centres at integer u)."""
    Kc = np.array(K, dtype=np.float64, copy=True)
    Kc[0, 2] -= 0.5
    Kc[1, 2] -= 0.5
    return Kc


def distort_image(render_fn, K: np.ndarray, dist, H: int, W: int, pad: int) -> np.ndarray:
    """The H×W image a camera with intrinsics K and distortion ``dist`` sees. ``render_fn(K', H', W')``
    renders an undistorted pinhole image; it is rendered ``pad`` pixels larger on every side and
    resampled at each distorted pixel's undistorted position (OpenCV's model)."""
    Kr = np.array(K, dtype=np.float64, copy=True)
    Kr[0, 2] += pad
    Kr[1, 2] += pad
    big = render_fn(Kr, H + 2 * pad, W + 2 * pad)
    v, u = np.mgrid[0:H, 0:W].astype(np.float32)
    pts = np.stack([u.ravel(), v.ravel()], -1)[:, None, :]
    und = cv2.undistortPoints(pts, _cv(K), np.asarray(dist, np.float64), P=_cv(Kr)).reshape(H, W, 2)
    return cv2.remap(big, und[..., 0].astype(np.float32), und[..., 1].astype(np.float32),
                     interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _handheld_poses(room, n: int, rng: np.random.Generator) -> np.ndarray:
    traj = camera_trajectory(room.width, room.depth, n, margin=room.margin, height=1.5, pitch_deg=10.0,
                             inward_deg=40.0, look_deg=25.0, look_period=3.0, phase=float(rng.uniform(0, 6.28)),
                             path=room.path)
    c2w = traj.c2w.copy()
    s = np.arange(n)
    c2w[:, 2, 3] += 0.03 * np.sin(2 * np.pi * s / 3.7)          # walking bob
    tremor = np.cumsum(rng.normal(0, 0.8, size=(n, 3)), axis=0)  # degrees, a slow random walk
    tremor -= np.linspace(0, 1, n)[:, None] * tremor[-1]         # no long-term drift
    tremor = np.clip(tremor, -4, 4)
    for i in range(n):
        c2w[i, :3, :3] = c2w[i, :3, :3] @ Rotation.from_euler("xyz", tremor[i], degrees=True).as_matrix()
    return c2w


def generate_phone_capture(out_dir, seed: int = 0, width: int = 160, height: int = 120, n_frames: int = 40,
                           hfov_deg: float = 70.0, distortion=DEFAULT_DISTORTION, exposure: float = 0.1,
                           aabb_scale: int = 4, world_scale: float = 0.8, ssaa: int = 2) -> Path:
    """Render the capture (see module docstring); returns ``out_dir``."""
    out = Path(out_dir)
    if (out / "transforms.json").exists():
        raise UserError(f"{out} already holds a capture")
    if not 0 <= exposure < 0.5:
        raise UserError(f"exposure must be in [0, 0.5), got {exposure}")
    rng = np.random.default_rng([int(seed), 11])
    room = build_room(int(seed))
    renderer = RoomRenderer(room)
    K = intrinsics_from_hfov(int(width), int(height), float(hfov_deg))
    c2w = _handheld_poses(room, int(n_frames), rng)
    # an arbitrary SfM-like world: rotate, translate and scale every pose
    R = Rotation.from_euler("xyz", rng.uniform(-40, 40, 3), degrees=True).as_matrix()
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = world_scale * R, rng.uniform(-0.5, 0.5, 3)  # colmap2nerf-like: roughly centred
    gains = 1.0 + exposure * np.sin(np.cumsum(rng.uniform(0.1, 0.5, n_frames)))
    pad = max(4, int(0.12 * max(width, height)))
    (out / "images").mkdir(parents=True, exist_ok=True)
    frames = []
    for i in range(int(n_frames)):
        img = distort_image(lambda Kr, h, w: renderer.render(Kr, c2w[i], h, w, ssaa=ssaa).image,
                            K, distortion, int(height), int(width), pad)
        img = np.clip(img.astype(np.float32) * gains[i] + 0.5, 0, 255).astype(np.uint8)
        name = f"images/{i:04d}.png"
        ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        atomic_write_bytes(out / name, buf.tobytes())
        pose = T @ c2w[i]
        pose[:3, :3] /= world_scale  # a rotation again (the scale moves only the positions)
        frames.append({"file_path": name, "transform_matrix": opencv_to_opengl(pose).tolist()})
    k1, k2, p1, p2 = (float(x) for x in distortion)
    meta = {"camera_angle_x": float(np.deg2rad(hfov_deg)), "fl_x": float(K[0, 0]), "fl_y": float(K[1, 1]),
            "cx": float(K[0, 2]), "cy": float(K[1, 2]), "w": int(width), "h": int(height),
            "k1": k1, "k2": k2, "p1": p1, "p2": p2, "aabb_scale": int(aabb_scale), "frames": frames,
            "ovnerf_ground_truth": {"world_from_room": T.tolist(), "gains": gains.tolist(),
                                    "room_size": [room.width, room.depth, room.height], "seed": int(seed)}}
    atomic_write_bytes(out / "transforms.json", json.dumps(meta, indent=1).encode())
    return out
