"""Camera axis conventions.

`ovnerf` works with camera-to-world poses ``c2w`` (4×4) in the **OpenCV** camera convention:
x right, y down, z forward (the ROS optical frame). nerfstudio's ``transforms.json`` stores
poses in the **OpenGL** convention: x right, y up, z backward. The two differ by flipping the
camera's y and z axes::

    c2w_gl = c2w_cv @ diag(1, -1, -1, 1)        (and the same matrix converts back)

World coordinates are not touched (world frame = map frame, z up, metres).
"""
from __future__ import annotations

import numpy as np
import torch


def _flip_yz_columns(c2w):
    if isinstance(c2w, torch.Tensor):
        out = c2w.clone()
    else:
        out = np.array(c2w, dtype=np.float64, copy=True)
    if out.shape[-2:] != (4, 4):
        raise ValueError(f"expected (...,4,4) poses, got shape {tuple(out.shape)}")
    out[..., :3, 1:3] *= -1
    return out


def opencv_to_opengl(c2w):
    """OpenCV c2w (x right, y down, z fwd) → OpenGL c2w (x right, y up, z back). Batched (...,4,4)."""
    return _flip_yz_columns(c2w)


def opengl_to_opencv(c2w):
    """OpenGL c2w → OpenCV c2w. The flip is its own inverse."""
    return _flip_yz_columns(c2w)


def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """OpenCV-convention c2w (4×4 float64) of a camera at ``eye`` whose optical axis (+z) points
    at ``target``; image 'up' (−y) is as close as possible to world ``up`` (default +z)."""
    eye = np.asarray(eye, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    up = np.asarray(up, dtype=np.float64)
    z = target - eye
    n = np.linalg.norm(z)
    if n < 1e-12:
        raise ValueError("look_at: eye and target coincide")
    z = z / n
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:  # looking along up: pick any perpendicular
        alt = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        x = np.cross(z, alt)
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)  # completes a right-handed frame: x × y = z
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = x, y, z, eye
    return c2w
