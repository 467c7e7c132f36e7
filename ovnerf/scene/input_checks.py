"""Checks of numeric input from outside (messages, service requests, bag records), without ROS.

Every function returns the checked value or raises :class:`~ovnerf.errors.UserError` with one
short reason. Ranges (chosen to admit every real camera and robot, and to refuse what can only
be a bug or an attack):

- stamps: ``sec`` ≥ 0 and ``0 ≤ nanosec < 1e9`` (a normalised ``builtin_interfaces/Time``);
- image sizes: 1…``MAX_SIDE`` (16384) pixels a side;
- intrinsics ``K``: finite, ``K[2] = (0, 0, 1)``, no skew beyond ``|s| ≤ fx``, focal lengths
  in ``[0.01, 100] × max(W, H)`` (fields of view from ~0.6° to ~176°), principal point within
  one image size of the image (``−W ≤ cx ≤ 2W``, same for y);
- poses: finite, rigid (:func:`~ovnerf.scene.pose_interpolation.validate_pose`), translation
  within ``MAX_COORD`` (1e5 m) of the origin;
- probabilities / thresholds: finite, in [0, 1].

:func:`clip_message` cuts any text echoed back to a user to ``MESSAGE_LIMIT`` characters.
"""
from __future__ import annotations

import math

import numpy as np

from ovnerf.errors import UserError
from ovnerf.scene.pose_interpolation import validate_pose

MAX_SIDE = 16384
MAX_COORD = 1.0e5
MESSAGE_LIMIT = 300
FOCAL_RANGE = (0.01, 100.0)


def clip_message(text, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` (str()-ed) cut to ``limit`` characters, with '…(N more)' when cut."""
    s = str(text)
    return s if len(s) <= limit else f"{s[:limit]}…({len(s) - limit} more characters)"


def stamp_seconds(sec, nanosec, what: str = "stamp") -> float:
    """Seconds of a ``(sec, nanosec)`` stamp; UserError when it is not normalised."""
    sec, nanosec = int(sec), int(nanosec)
    if sec < 0:
        raise UserError(f"{what} has a negative sec ({sec})")
    if not 0 <= nanosec < 1_000_000_000:
        raise UserError(f"{what} is not normalised: nanosec = {nanosec} (must be < 1e9)")
    return sec + nanosec * 1e-9


def check_size(height, width, what: str = "image") -> tuple[int, int]:
    h, w = int(height), int(width)
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise UserError(f"{what} size {w}x{h} is outside 1..{MAX_SIDE} pixels a side")
    return h, w


def check_intrinsics(K, height, width, what: str = "camera intrinsics") -> np.ndarray:
    """``K`` as float64 3×3 when it is a plausible pinhole matrix for a W×H image (module docstring)."""
    h, w = check_size(height, width, what)
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise UserError(f"{what}: K must be 3x3, got shape {K.shape}")
    if not np.all(np.isfinite(K)):
        raise UserError(f"{what}: K contains NaN or infinite values")
    side = max(h, w)
    lo, hi = FOCAL_RANGE[0] * side, FOCAL_RANGE[1] * side
    for name, f in (("fx", K[0, 0]), ("fy", K[1, 1])):
        if not lo <= f <= hi:
            raise UserError(f"{what}: focal length {name} = {f:.4g} is outside [{lo:.4g}, {hi:.4g}] for a "
                            f"{w}x{h} image")
    if not np.allclose(K[2], (0.0, 0.0, 1.0)) or K[1, 0] != 0.0:
        raise UserError(f"{what}: K must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]]")
    if abs(K[0, 1]) > K[0, 0]:
        raise UserError(f"{what}: skew {K[0, 1]:.4g} is larger than fx")
    if not (-w <= K[0, 2] <= 2 * w and -h <= K[1, 2] <= 2 * h):
        raise UserError(f"{what}: principal point ({K[0, 2]:.4g}, {K[1, 2]:.4g}) is far outside the {w}x{h} image")
    return K


def check_position(T, what: str = "pose") -> np.ndarray:
    """A validated rigid 4×4 whose translation lies within ``MAX_COORD`` metres of the origin."""
    M = validate_pose(T, what=what)
    if np.abs(M[:3, 3]).max() > MAX_COORD:
        raise UserError(f"{what}: position {np.abs(M[:3, 3]).max():.3g} m from the origin is beyond {MAX_COORD:.0g} m")
    return M


def check_unit_interval(value, what: str) -> float:
    v = float(value)
    if not math.isfinite(v) or not 0.0 <= v <= 1.0:
        raise UserError(f"{what} must be a finite number in [0, 1], got {v}")
    return v
