"""Rigid transforms: validation, interpolation by time stamp, and a small transform tree.

Conventions: a transform ``T_parent_child`` is a 4×4 float64 matrix mapping points in the child
frame to the parent frame (``p_parent = T @ p_child``), the same as a ROS ``TransformStamped``
with ``header.frame_id = parent`` and ``child_frame_id = child``. A camera pose ``c2w`` is
``T_map_camera_optical``.

Interpolation between two stamped transforms at time ``t`` (``t0 <= t <= t1``,
``a = (t - t0) / (t1 - t0)``): translation ``(1-a) p0 + a p1``; rotation by spherical linear
interpolation (``scipy.spatial.transform.Slerp``) of the two quaternions — the same as tf2.

:class:`TransformBuffer` is a minimal tf2 buffer without ROS: per edge (parent ← child) a
time-sorted history (static edges hold one value valid at all times); lookups compose the chain
``target ← … ← common ancestor ← … ← source`` at one time stamp.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from ovnerf.errors import UserError


class TransformLookupError(UserError):
    """No transform is available for the requested frames / time."""


def validate_pose(T, tol: float = 1e-3, what: str = "pose") -> np.ndarray:
    """Return ``T`` as a float64 4×4 rigid transform, or raise :class:`UserError` saying why.

    Checks: shape 4×4 (or 3×4), all finite, rotation block orthonormal (‖RᵀR − I‖∞ ≤ ``tol``),
    det(R) = +1 (within ``tol``), last row (0, 0, 0, 1).
    """
    M = np.asarray(T, dtype=np.float64)
    if M.shape == (3, 4):
        M = np.vstack([M, [0.0, 0.0, 0.0, 1.0]])
    if M.shape != (4, 4):
        raise UserError(f"{what} must be a 4x4 matrix, got shape {M.shape}")
    if not np.all(np.isfinite(M)):
        raise UserError(f"{what} contains NaN or infinite values")
    if not np.allclose(M[3], [0.0, 0.0, 0.0, 1.0], atol=tol):
        raise UserError(f"{what} last row must be (0, 0, 0, 1)")
    R = M[:3, :3]
    err = np.abs(R.T @ R - np.eye(3)).max()
    if err > tol:
        raise UserError(f"{what} rotation is not orthonormal (max |R^T R - I| = {err:.3g})")
    if abs(np.linalg.det(R) - 1.0) > tol:
        raise UserError(f"{what} rotation is a reflection (det = {np.linalg.det(R):.3g})")
    return M


def quaternion_is_valid(q_xyzw, tol: float = 1e-2) -> bool:
    """True when ``q`` (x, y, z, w) is finite and of unit norm within ``tol``."""
    q = np.asarray(q_xyzw, dtype=np.float64)
    return q.shape == (4,) and bool(np.all(np.isfinite(q))) and abs(np.linalg.norm(q) - 1.0) <= tol


def pose_from_quaternion(t_xyz, q_xyzw) -> np.ndarray:
    """4×4 transform from a translation and a unit quaternion (x, y, z, w; normalised here)."""
    q = np.asarray(q_xyzw, dtype=np.float64)
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(q / np.linalg.norm(q)).as_matrix()
    T[:3, 3] = np.asarray(t_xyz, dtype=np.float64)
    return T


def quaternion_from_pose(T) -> tuple[np.ndarray, np.ndarray]:
    """(translation (3,), quaternion x, y, z, w (4,)) of a 4×4 rigid transform."""
    T = np.asarray(T, dtype=np.float64)
    return T[:3, 3].copy(), Rotation.from_matrix(T[:3, :3]).as_quat()


def invert(T) -> np.ndarray:
    """Inverse of a rigid transform: [Rᵀ, −Rᵀt]."""
    T = np.asarray(T, dtype=np.float64)
    out = np.eye(4)
    out[:3, :3] = T[:3, :3].T
    out[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return out


def interpolate_pose(T0, T1, a: float) -> np.ndarray:
    """Pose at fraction ``a`` ∈ [0, 1] between ``T0`` (a=0) and ``T1`` (a=1): lerp + slerp."""
    T0 = np.asarray(T0, dtype=np.float64)
    T1 = np.asarray(T1, dtype=np.float64)
    a = float(np.clip(a, 0.0, 1.0))
    rots = Rotation.from_matrix(np.stack([T0[:3, :3], T1[:3, :3]]))
    out = np.eye(4)
    out[:3, :3] = Slerp([0.0, 1.0], rots)([a]).as_matrix()[0]
    out[:3, 3] = (1.0 - a) * T0[:3, 3] + a * T1[:3, 3]
    return out


@dataclass
class TransformHistory:
    """Time-sorted stamped transforms of one edge; :meth:`at` interpolates.

    A stamp that is already present is replaced (duplicates do not grow the history). Entries
    older than ``max_age`` seconds behind the newest are dropped.
    """

    max_age: float = 30.0
    stamps: list = field(default_factory=list)
    poses: list = field(default_factory=list)

    def insert(self, stamp: float, T) -> None:
        stamp = float(stamp)
        i = bisect.bisect_left(self.stamps, stamp)
        if i < len(self.stamps) and self.stamps[i] == stamp:
            self.poses[i] = np.asarray(T, dtype=np.float64)
        else:
            self.stamps.insert(i, stamp)
            self.poses.insert(i, np.asarray(T, dtype=np.float64))
        cutoff = self.stamps[-1] - self.max_age
        k = bisect.bisect_left(self.stamps, cutoff)
        if k > 0:
            del self.stamps[:k]
            del self.poses[:k]

    def __len__(self) -> int:
        return len(self.stamps)

    def at(self, stamp: float, tolerance: float = 0.0) -> np.ndarray:
        """Pose at ``stamp``: interpolated between the neighbours; outside the covered interval the
        nearest end is used when it is within ``tolerance`` seconds, else TransformLookupError.
        ``stamp`` 0 means "latest"."""
        if not self.stamps:
            raise TransformLookupError("no transform received yet")
        if stamp == 0.0:
            return self.poses[-1]
        i = bisect.bisect_left(self.stamps, stamp)
        if i < len(self.stamps) and self.stamps[i] == stamp:
            return self.poses[i]
        if i == 0 or i == len(self.stamps):
            j = 0 if i == 0 else len(self.stamps) - 1
            gap = abs(self.stamps[j] - stamp)
            if gap <= tolerance:
                return self.poses[j]
            side = "before the first" if i == 0 else "after the latest"
            raise TransformLookupError(f"time {stamp:.3f} is {gap:.3f} s {side} transform "
                                       f"(tolerance {tolerance:.3f} s)")
        t0, t1 = self.stamps[i - 1], self.stamps[i]
        return interpolate_pose(self.poses[i - 1], self.poses[i], (stamp - t0) / (t1 - t0))


class TransformBuffer:
    """A tree of frames (child → parent edges) with stamped histories; no ROS needed.

    ``set_transform(parent, child, stamp, T, static=False)`` stores ``T_parent_child``;
    ``lookup(target, source, stamp, tolerance)`` returns ``T_target_source`` at ``stamp``.
    """

    def __init__(self, max_age: float = 30.0):
        self.max_age = float(max_age)
        self._parent: dict[str, str] = {}
        self._static: dict[str, np.ndarray] = {}
        self._dynamic: dict[str, TransformHistory] = {}

    def set_transform(self, parent: str, child: str, stamp: float, T, static: bool = False) -> None:
        parent, child = parent.lstrip("/"), child.lstrip("/")
        if not parent or not child or parent == child:
            raise UserError(f"invalid transform edge '{parent}' <- '{child}'")
        M = validate_pose(T, what=f"transform {parent} <- {child}")
        self._parent[child] = parent
        if static:
            self._static[child] = M
            self._dynamic.pop(child, None)
        else:
            self._static.pop(child, None)
            self._dynamic.setdefault(child, TransformHistory(self.max_age)).insert(stamp, M)

    def frames(self) -> set[str]:
        return set(self._parent) | set(self._parent.values())

    def _chain(self, frame: str) -> list[str]:
        chain = [frame]
        while chain[-1] in self._parent:
            nxt = self._parent[chain[-1]]
            if nxt in chain:
                raise TransformLookupError(f"transform loop through frame '{nxt}'")
            chain.append(nxt)
        return chain

    def _to_ancestor(self, chain: list[str], upto: int, stamp: float, tol: float) -> np.ndarray:
        T = np.eye(4)
        for child in chain[:upto]:
            if child in self._static:
                E = self._static[child]
            else:
                try:
                    E = self._dynamic[child].at(stamp, tol)
                except TransformLookupError as exc:
                    raise TransformLookupError(f"{self._parent[child]} <- {child}: {exc}") from None
            T = E @ T
        return T

    def lookup(self, target: str, source: str, stamp: float = 0.0, tolerance: float = 0.0) -> np.ndarray:
        """``T_target_source`` (maps points of ``source`` into ``target``) at ``stamp``."""
        target, source = target.lstrip("/"), source.lstrip("/")
        if target == source:
            return np.eye(4)
        known = self.frames()
        for f in (target, source):
            if f not in known:
                raise TransformLookupError(f"frame '{f}' does not exist (known: {sorted(known)})")
        cs, ct = self._chain(source), self._chain(target)
        common = next((f for f in cs if f in ct), None)
        if common is None:
            raise TransformLookupError(f"frames '{target}' and '{source}' are not connected")
        T_c_s = self._to_ancestor(cs, cs.index(common), stamp, tolerance)
        T_c_t = self._to_ancestor(ct, ct.index(common), stamp, tolerance)
        return invert(T_c_t) @ T_c_s

    def can_transform(self, target: str, source: str, stamp: float = 0.0, tolerance: float = 0.0) -> bool:
        try:
            self.lookup(target, source, stamp, tolerance)
            return True
        except TransformLookupError:
            return False
