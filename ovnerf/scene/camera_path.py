"""Cameras to render: a nerfstudio camera-path JSON, or one pose given on the command line.

nerfstudio camera path (what its viewer's "Export path" writes)::

    {"render_height": H, "render_width": W, "fps": 24,
     "camera_path": [{"camera_to_world": [16 numbers, row-major 4×4], "fov": 50, "aspect": 1.33}, ...]}

``camera_to_world`` is in the OpenGL camera convention (as ``transform_matrix`` in
transforms.json) and in the *scene's* world frame (for an imported capture: the frame of the
workspace's ``scene/transforms.json``, after auto-orientation); ``fov`` is the vertical field of
view in degrees; ``aspect`` (optional) = W/H. Principal point at the image centre.

A single pose (``ovnerf render --pose``): 16 comma-separated numbers (row-major 4×4, OpenGL
convention as in transforms.json) or a JSON file holding a 4×4 ``transform_matrix``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ovnerf.errors import UserError
from ovnerf.scene.conventions import opengl_to_opencv


def _matrix(values, what: str) -> np.ndarray:
    try:
        m = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        m = np.zeros(0)
    if m.size == 12:
        m = np.concatenate([m, [0, 0, 0, 1]])
    if m.size != 16 or not np.all(np.isfinite(m)):
        raise UserError(f"{what}: expected a 4x4 (or 3x4) matrix of finite numbers")
    return opengl_to_opencv(m.reshape(4, 4))


def parse_pose(text: str) -> np.ndarray:
    """OpenCV c2w (4×4) from 16 comma-separated numbers or a JSON file (``transform_matrix``)."""
    p = Path(text).expanduser()
    if p.is_file():
        try:
            data = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"--pose {p}: not a readable JSON file ({exc})") from None
        if isinstance(data, dict):
            data = data.get("transform_matrix", data.get("camera_to_world"))
        return _matrix(data, f"--pose {p}")
    try:
        vals = [float(x) for x in str(text).replace(" ", "").split(",") if x]
    except ValueError:
        raise UserError(f"--pose: '{text}' is neither a file nor 16 comma-separated numbers") from None
    return _matrix(vals, "--pose")


def load_camera_path(path) -> tuple[list[tuple[np.ndarray, np.ndarray, int, int]], float]:
    """([(K, c2w OpenCV, H, W), ...], fps) from a nerfstudio camera-path JSON (see module doc)."""
    p = Path(path).expanduser()
    try:
        data = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"camera path {p}: not a readable JSON file ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("camera_path"), list) or not data["camera_path"]:
        raise UserError(f"camera path {p}: no 'camera_path' list (not a nerfstudio camera path)")
    try:
        H, W = int(data["render_height"]), int(data["render_width"])
    except (KeyError, TypeError, ValueError):
        raise UserError(f"camera path {p}: needs integer 'render_height' and 'render_width'") from None
    if not (1 <= H <= 4096 and 1 <= W <= 4096):
        raise UserError(f"camera path {p}: render size {W}x{H} out of range (1..4096)")
    cams = []
    for i, c in enumerate(data["camera_path"]):
        if not isinstance(c, dict) or "camera_to_world" not in c:
            raise UserError(f"camera path {p}: entry {i} has no 'camera_to_world'")
        fov = float(c.get("fov", 50.0))
        if not 1.0 < fov < 179.0:
            raise UserError(f"camera path {p}: entry {i} has fov {fov} (degrees, vertical)")
        fy = 0.5 * H / math.tan(math.radians(fov) / 2)
        K = np.array([[fy, 0, W / 2], [0, fy, H / 2], [0, 0, 1]], dtype=np.float64)
        cams.append((K, _matrix(c["camera_to_world"], f"camera path {p}: entry {i}"), H, W))
    return cams, float(data.get("fps", 24.0))
