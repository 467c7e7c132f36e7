"""Keyframe selection: motion thresholds and a blur gate.

A frame becomes a keyframe when (a) it is sharp enough and (b) the camera moved enough since
the last keyframe:

- sharpness = variance of the Laplacian of the grey image (``cv2.Laplacian``, 3×3 kernel, on
  intensities in [0, 255]); a frame with sharpness < ``min_sharpness`` is rejected as blurred
  (``min_sharpness = 0`` disables the gate). Motion blur and defocus remove high frequencies, so
  the Laplacian response and its variance drop.
- motion: translation ``‖t_a − t_b‖`` (metres) and rotation angle of ``R_aᵀ R_b``
  (``arccos((tr − 1) / 2)``, degrees). Accept when translation ≥ ``min_translation`` OR
  rotation ≥ ``min_rotation_deg``. The first frame (no previous keyframe) is always accepted
  when sharp.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def laplacian_variance(image: np.ndarray) -> float:
    """Variance of the 3×3 Laplacian of the grey image (uint8 RGB H×W×3 or grey H×W)."""
    img = np.asarray(image)
    if img.ndim == 3:
        img = cv2.cvtColor(np.ascontiguousarray(img[..., :3]), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(img.astype(np.float64), cv2.CV_64F, ksize=1).var())


def pose_delta(c2w_a, c2w_b) -> tuple[float, float]:
    """(translation in metres, rotation in degrees) between two 4×4 poses."""
    a = np.asarray(c2w_a, dtype=np.float64)
    b = np.asarray(c2w_b, dtype=np.float64)
    trans = float(np.linalg.norm(a[:3, 3] - b[:3, 3]))
    cos = (np.trace(a[:3, :3].T @ b[:3, :3]) - 1.0) / 2.0
    rot = float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
    return trans, rot


@dataclass
class KeyframeDecision:
    accept: bool
    reason: str
    translation: float = float("inf")
    rotation_deg: float = float("inf")
    sharpness: float = 0.0


class KeyframeSelector:
    """Stateful selector: :meth:`consider` decides, :meth:`commit` records an accepted keyframe
    (call it only once the frame is safely stored, so a failed write does not move the
    reference). :meth:`reset` seeds the reference pose, e.g. with the last stored keyframe on a
    restart."""

    def __init__(self, min_translation: float = 0.05, min_rotation_deg: float = 5.0,
                 min_sharpness: float = 0.0):
        if min_translation < 0 or min_rotation_deg < 0 or min_sharpness < 0:
            raise ValueError("keyframe thresholds must be >= 0")
        self.min_translation = float(min_translation)
        self.min_rotation_deg = float(min_rotation_deg)
        self.min_sharpness = float(min_sharpness)
        self.last_c2w: np.ndarray | None = None

    def reset(self, last_c2w=None) -> None:
        self.last_c2w = None if last_c2w is None else np.asarray(last_c2w, dtype=np.float64)

    def consider(self, image: np.ndarray, c2w) -> KeyframeDecision:
        sharp = laplacian_variance(image) if self.min_sharpness > 0 else 0.0
        if self.min_sharpness > 0 and sharp < self.min_sharpness:
            return KeyframeDecision(False, f"blurred (Laplacian variance {sharp:.1f} < "
                                           f"{self.min_sharpness:.1f})", sharpness=sharp)
        if self.last_c2w is None:
            return KeyframeDecision(True, "first keyframe", sharpness=sharp)
        t, r = pose_delta(self.last_c2w, c2w)
        if t >= self.min_translation or r >= self.min_rotation_deg:
            return KeyframeDecision(True, f"moved {t:.3f} m / {r:.1f} deg", t, r, sharp)
        return KeyframeDecision(False, f"too close to the last keyframe ({t:.3f} m < "
                                       f"{self.min_translation} m and {r:.1f} deg < "
                                       f"{self.min_rotation_deg} deg)", t, r, sharp)

    def commit(self, c2w) -> None:
        self.last_c2w = np.asarray(c2w, dtype=np.float64).copy()
