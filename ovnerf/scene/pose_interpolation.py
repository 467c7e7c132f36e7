"""Rigid transforms: validation, interpolation by time stamp, and a small transform tree.

Conventions: a transform ``T_parent_child`` is a 4×4 float64 matrix mapping points in the child
frame to the parent frame (``p_parent = T @ p_child``), the same as a ROS ``TransformStamped``
with ``header.frame_id = parent`` and ``child_frame_id = child``. A camera pose ``c2w`` is
``T_map_camera_optical``.

Lookups never extrapolate and never take a sample from the past: the pose at ``t`` is a sample
stamped ``t`` or the interpolation of the two samples that bracket ``t``. A stamp newer than an
edge's latest sample raises :class:`TransformNotYet` (the caller may wait for more TF); a stamp
older than its oldest raises :class:`TransformLookupError` (final).

Interpolation between two stamped transforms at time ``t`` (``t0 <= t <= t1``,
``a = (t - t0) / (t1 - t0)``): translation ``(1-a) p0 + a p1``; rotation by spherical linear
interpolation (``scipy.spatial.transform.Slerp``) of the two quaternions — the same as tf2.

:class:`TransformBuffer` is a minimal tf2 buffer without ROS: per edge (parent ← child) a
time-sorted history (static edges hold one value valid at all times); lookups compose the chain
``target ← … ← common ancestor ← … ← source`` at one time stamp. Each frame has one parent (the
first one seen, as in a tf2 tree); a sample that would give it another parent, close a loop,
publish a moving frame on /tf_static, or is invalid is rejected with :class:`TransformRejected`
and leaves the buffer as it was. A /tf sample for a frame known only from /tf_static (e.g. a
stale latched message) replaces the static edge: the frame moves (``set_transform`` returns
``"static_for_moving_frame"`` so the caller can warn). It is thread-safe: one lock serialises
inserts and lookups (each holds it for one sample's validation or one chain's composition), so a
/tf subscriber may insert on its own thread while images are posed on another.
"""
from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from ovnerf.errors import UserError


class TransformLookupError(UserError):
    """No transform is available for the requested frames / time (final: waiting will not help)."""


class TransformNotYet(TransformLookupError):
    """The transform for that time may still arrive: the stamp is newer than an edge's latest
    sample, or a frame of the chain has not been seen yet."""


class TransformRejected(UserError):
    """A transform sample refused by :meth:`TransformBuffer.set_transform`; ``reason`` is a short
    key for counters (``parent_conflict``, ``loop``, ``static_for_moving_frame``, ...). The
    buffer is unchanged."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


EPS = 1e-9  # s of slack for the rounding of float-second stamps


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
    """Time-sorted stamped transforms of one edge; :meth:`at` interpolates, never extrapolates.

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

    def at(self, stamp: float) -> np.ndarray:
        """Pose at ``stamp``: the sample stamped there (±1 ns) or the interpolation of the two that
        bracket it. Newer than the latest sample: :class:`TransformNotYet`; older than the oldest
        (or no sample): :class:`TransformLookupError`."""
        if not self.stamps:
            raise TransformNotYet("no transform received yet")
        stamp = float(stamp)
        i = bisect.bisect_left(self.stamps, stamp - EPS)
        if i < len(self.stamps) and abs(self.stamps[i] - stamp) <= EPS:
            return self.poses[i]
        if i == len(self.stamps):
            raise TransformNotYet(f"time {stamp:.6f} is {stamp - self.stamps[-1]:.3f} s after the latest "
                                  f"transform (waiting for one after it)")
        if i == 0:
            raise TransformLookupError(f"time {stamp:.6f} is {self.stamps[0] - stamp:.3f} s before the oldest "
                                       f"transform kept")
        t0, t1 = self.stamps[i - 1], self.stamps[i]
        return interpolate_pose(self.poses[i - 1], self.poses[i], (stamp - t0) / (t1 - t0))


class TransformBuffer:
    """A tree of frames (child → parent edges) with stamped histories; no ROS needed.

    ``set_transform(parent, child, stamp, T, static=False)`` stores ``T_parent_child`` (or raises
    :class:`TransformRejected`); ``lookup(target, source, stamp)`` returns ``T_target_source`` at
    ``stamp`` (interpolated, never extrapolated).
    """

    def __init__(self, max_age: float = 30.0):
        self.max_age = float(max_age)
        self._parent: dict[str, str] = {}
        self._static: dict[str, np.ndarray] = {}
        self._dynamic: dict[str, TransformHistory] = {}
        self._lock = threading.Lock()   # inserts and lookups may come from different threads

    def set_transform(self, parent: str, child: str, stamp: float, T, static: bool = False) -> str | None:
        parent, child = str(parent).lstrip("/"), str(child).lstrip("/")
        if not parent or not child or parent == child:
            raise TransformRejected("invalid_edge", f"invalid transform edge '{parent}' <- '{child}'")
        try:
            M = validate_pose(T, what=f"transform {parent} <- {child}")
        except UserError as exc:
            raise TransformRejected("invalid", str(exc)) from None
        if not static and not np.isfinite(stamp):
            raise TransformRejected("bad_stamp", f"transform {parent} <- {child}: stamp is not finite")
        with self._lock:
            return self._insert(parent, child, stamp, M, static)

    def _insert(self, parent: str, child: str, stamp, M: np.ndarray, static: bool) -> str | None:
        note = None
        if not static and child in self._static:    # it moves after all (e.g. a stale latched /tf_static)
            del self._static[child], self._parent[child]
            note = "static_for_moving_frame"
        known = self._parent.get(child)
        if known is not None and known != parent:
            raise TransformRejected("parent_conflict", f"transform {parent} <- {child} ignored: '{child}' already "
                                                       f"has the parent '{known}' (one parent per frame)")
        if known is None and child in self._chain(parent, strict=False):
            raise TransformRejected("loop", f"transform {parent} <- {child} ignored: '{child}' is already an "
                                            f"ancestor of '{parent}' (it would close a loop)")
        if static and child in self._dynamic:
            raise TransformRejected("static_for_moving_frame", f"static transform {parent} <- {child} ignored: "
                                                               f"'{child}' is a moving frame (it has /tf samples)")
        self._parent[child] = parent
        if static:
            self._static[child] = M
        else:
            self._dynamic.setdefault(child, TransformHistory(self.max_age)).insert(stamp, M)
        return note

    def frames(self) -> set[str]:
        with self._lock:
            return self._frames()

    def _frames(self) -> set[str]:
        return set(self._parent) | set(self._parent.values())

    def parent(self, frame: str) -> str | None:
        with self._lock:
            return self._parent.get(frame.lstrip("/"))

    def _chain(self, frame: str, strict: bool = True) -> list[str]:
        chain = [frame]
        while chain[-1] in self._parent:
            nxt = self._parent[chain[-1]]
            if nxt in chain:
                if strict:
                    raise TransformLookupError(f"transform loop through frame '{nxt}'")
                break
            chain.append(nxt)
        return chain

    def _to_ancestor(self, chain: list[str], upto: int, stamp: float) -> np.ndarray:
        T = np.eye(4)
        for child in chain[:upto]:
            if child in self._static:
                E = self._static[child]
            else:
                try:
                    E = self._dynamic[child].at(stamp)
                except TransformLookupError as exc:
                    raise type(exc)(f"{self._parent[child]} <- {child}: {exc}") from None
            T = E @ T
        return T

    def lookup(self, target: str, source: str, stamp: float, moving: bool = False) -> np.ndarray:
        """``T_target_source`` (maps points of ``source`` into ``target``) at ``stamp``.
        :class:`TransformNotYet` when the data for that time may still come (unknown frame, not
        connected yet, stamp after an edge's latest sample), else :class:`TransformLookupError`.
        ``moving``: ``source`` moves in ``target`` (a mapping camera), so a chain made of static
        edges only is not an answer yet: it waits for a /tf edge (a stale latched /tf_static for
        the camera, replayed before the first /tf, would otherwise pose it)."""
        target, source = target.lstrip("/"), source.lstrip("/")
        if target == source:
            return np.eye(4)
        with self._lock:
            return self._lookup(target, source, stamp, moving)

    def _lookup(self, target: str, source: str, stamp: float, moving: bool) -> np.ndarray:
        known = self._frames()
        for f in (target, source):
            if f not in known:
                raise TransformNotYet(f"frame '{f}' does not exist yet (known: {sorted(known)[:10]})")
        cs, ct = self._chain(source), self._chain(target)
        common = next((f for f in cs if f in ct), None)
        if common is None:
            raise TransformNotYet(f"frames '{target}' and '{source}' are not connected")
        edges = cs[:cs.index(common)] + ct[:ct.index(common)]
        if moving and all(e in self._static for e in edges):
            raise TransformNotYet(f"only static transforms connect '{target}' and '{source}' so far: "
                                  f"waiting for a /tf edge (the camera moves)")
        T_c_s = self._to_ancestor(cs, cs.index(common), stamp)
        T_c_t = self._to_ancestor(ct, ct.index(common), stamp)
        return invert(T_c_t) @ T_c_s
