"""A posed camera frame (one keyframe).

Conventions (see docs/ARCHITECTURE.md): ``image`` uint8 H×W×3 RGB; ``K`` 3×3 intrinsics with
pixel centres at (u+0.5, v+0.5); ``c2w`` 4×4 float64 camera-to-world in the OpenCV camera
convention; ``depth`` float32 H×W metres along the optical axis (0 = unknown);
``labels`` int16 H×W class ids with −1 = void/ignore.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PosedFrame:
    name: str
    image: np.ndarray
    K: np.ndarray
    c2w: np.ndarray
    timestamp: float = 0.0
    depth: np.ndarray | None = None
    labels: np.ndarray | None = None

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])
