"""Novel camera poses near a training trajectory (for CSE's L_PMS).

Half of the poses (``interp_fraction``) interpolate between *neighbouring* training poses i, i+1
(store order): rotation by spherical linear interpolation (scipy ``Slerp``), translation linearly,
at a random fraction u ∈ [0.25, 0.75]. The rest perturb a random training pose: translation
noise N(0, σ_t²) per axis with σ_t = ``trans_scale`` × median distance between neighbouring camera
centres, and a rotation about a random axis by an angle uniform in [0, ``rot_deg``] applied in the
camera frame — so the view stays close to a training view and keeps looking at the scene. If
``look_at`` (a world point) is given, every pose is re-oriented to look at it (world z up).
Deterministic for a given ``seed``. Poses are OpenCV c2w, float64.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from ovnerf.errors import UserError
from ovnerf.scene.conventions import look_at as _look_at


def novel_poses(c2ws, n: int, seed: int = 0, interp_fraction: float = 0.5, trans_scale: float = 0.5,
                rot_deg: float = 5.0, look_at=None) -> np.ndarray:
    """(n,4,4) novel c2w poses near the trajectory ``c2ws`` (N,4,4); see the module docstring."""
    c2ws = np.asarray(c2ws, dtype=np.float64).reshape(-1, 4, 4)
    N = len(c2ws)
    if N == 0:
        raise UserError("novel_poses: no training poses")
    rng = np.random.default_rng(seed)
    rots = Rotation.from_matrix(c2ws[:, :3, :3])
    centres = c2ws[:, :3, 3]
    steps = np.linalg.norm(np.diff(centres, axis=0), axis=-1) if N > 1 else np.zeros(0)
    step = float(np.median(steps)) if steps.size and np.median(steps) > 0 else 0.1
    sigma_t = trans_scale * step

    n_interp = int(round(n * interp_fraction)) if N > 1 else 0
    out = np.tile(np.eye(4), (n, 1, 1))
    for k in range(n):
        if k < n_interp:
            i = int(rng.integers(0, N - 1))
            u = float(rng.uniform(0.25, 0.75))
            R = Slerp([0.0, 1.0], rots[[i, i + 1]])([u]).as_matrix()[0]
            t = (1 - u) * centres[i] + u * centres[i + 1]
        else:
            j = int(rng.integers(0, N))
            axis = rng.normal(size=3)
            axis /= np.linalg.norm(axis) + 1e-12
            ang = np.deg2rad(rng.uniform(0.0, rot_deg))
            R = (rots[j] * Rotation.from_rotvec(axis * ang)).as_matrix()
            t = centres[j] + rng.normal(size=3) * sigma_t
        if look_at is not None:
            out[k] = _look_at(t, np.asarray(look_at, dtype=np.float64))
        else:
            out[k, :3, :3] = R
            out[k, :3, 3] = t
    return out
