"""Depth images (ROS ``sensor_msgs/Image`` raw buffers) → z-depth in metres, without ROS.

Convention (ARCHITECTURE.md): depth is ``np.float32`` H×W **z-depth** (along the optical axis) in
metres, ``0`` = unknown, registered (aligned) to the colour image.

Accepted encodings (the REP-118 depth conventions):

- ``16UC1``: uint16 millimetres (RealSense, Azure Kinect, OAK-D); ``0`` = unknown.
  ``z = mm · float32(0.001)`` — the same product :class:`ovnerf.scene.store.SceneStore` uses to
  read its uint16-mm PNGs, so ``16UC1`` → store → load is exact.
- ``32FC1``: float32 metres; NaN, ±inf and values ≤ 0 (unknown / no return) become ``0``.

Anything else raises :class:`UserError` naming the encoding.
"""
from __future__ import annotations

import numpy as np

from ovnerf.errors import UserError
from ovnerf.scene import image_encoding

DEPTH_ENCODINGS = ("16UC1", "32FC1")
MM_TO_M = np.float32(0.001)


def decode_depth(encoding: str, height: int, width: int, step: int, data,
                 is_bigendian: bool = False, expected=None) -> np.ndarray:
    """float32 H×W z-depth in metres (0 = unknown) of a raw depth buffer (see module docstring)."""
    if encoding not in DEPTH_ENCODINGS:
        raise UserError(f"unsupported depth encoding '{encoding[:40]}' (supported: 16UC1 millimetres, "
                        f"32FC1 metres)")
    arr = image_encoding.decode_array(encoding, height, width, step, data, is_bigendian, expected)
    if encoding == "16UC1":
        return arr.astype(np.float32) * MM_TO_M
    z = np.array(arr, dtype=np.float32)
    z[~np.isfinite(z) | (z < 0)] = 0.0
    return z


def encode_depth_mm(depth: np.ndarray) -> np.ndarray:
    """uint16 H×W millimetres (``16UC1``) of a float32 metre z-depth: rounded to the nearest mm,
    unknown (0, NaN, inf, negative) → 0, beyond 65.535 m clipped."""
    d = np.nan_to_num(np.asarray(depth, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(np.round(d * 1000.0), 0, 65535).astype(np.uint16)
