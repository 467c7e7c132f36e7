"""Frame admission, without ROS: one path from (image, camera info, transforms, side images) to
keyframes in a :class:`~ovnerf.scene.store.SceneStore`. Used by the live collector
(:mod:`ovnerf_ros.collector_node`, which only converts messages) and by the bag import
(:mod:`ovnerf.scene.bag_import`).

Per colour image (``image(stamp, frame_id, decode, now)``), in this order:

1. its stamp must be finite and > 0, at most ``future_tolerance`` s ahead of ``now`` (the
   receiver's clock; for a bag, the record time) and not one already queued or recently decided
   — else it is rejected (``bad_stamp``, ``future_stamp``, ``duplicate``) and nothing else
   changes (a rejected stamp never moves any watermark). An image that arrives late (DDS may
   deliver a retransmitted sample after newer ones) is still admitted: the queue is kept in
   stamp order and its pose comes from the same history (``no_pose`` only when its stamp is
   older than the history kept);
2. ``decode(expected)`` gives the RGB image, ``expected`` the (H, W) of the camera info when
   known, checked from the header before any pixel is decoded (``size_mismatch``, ``encoding``);
3. it waits in a bounded queue (``max_pending``; the oldest is dropped when full: ``overflow``)
   until the transforms ``map_frame ← camera_frame`` cover its stamp **on both sides** — the pose
   is then the sample at that stamp or the interpolation of the two around it (lerp + slerp,
   :class:`~ovnerf.scene.pose_interpolation.TransformBuffer`); never an older sample, never an
   extrapolation; a camera connected to the map by static edges only waits for a /tf edge (a
   mapping camera moves: a stale latched /tf_static must not pose it). No camera info / no covering transforms within ``pose_timeout`` s of its
   arrival: ``no_camera_info`` / ``no_pose_timeout``; its stamp older than the kept history:
   ``no_pose``. Side images (``depth``, ``labels``) are paired by stamp (nearest within
   ``side_tolerance``; it waits for them at most ``pose_timeout`` s): a missing or bad side
   image never costs the colour frame (``depth_encoding``, ``depth_size_mismatch``,
   ``labels_encoding``, ``labels_size_mismatch``);
4. the keyframe selector (motion + blur) decides (``not_keyframe``, ``blur``), the store limit
   (``max_keyframes``), then :meth:`SceneStore.add_frame` writes it (``store_errors`` on an
   OSError; the selector's reference pose does not move).

Transforms (``transform(parent, child, stamp, T, static, now)``): a future stamp (beyond
``future_tolerance``) or a sample the tree refuses (another parent for a frame, a loop, a static
transform for a moving frame, NaN, ...) is rejected and counted as ``tf_<reason>`` without
touching the history.

Counters (``stats``; every drop by reason under ``rejected_<reason>``, plus ``received``,
``keyframes_added``, ``keyframes_with_depth``, ``not_keyframe``, ``estimated_dds_lost``). Images
lost before they reached us (a subscription queue that overflowed) are counted exactly as
``rejected_dds_lost`` when the caller passes each message's publisher and publication sequence
number (gaps per publisher, :class:`SequenceGaps`); else ``estimated_dds_lost`` estimates them
from gaps in the image stamps (a gap of more than 1.5 median periods counts
``round(gap / period) − 1`` images).
/tf messages the subscription queue dropped are counted the same way, as ``tf_dds_lost``
(:meth:`FrameIngest.transforms_lost`).

Threads: ``transform`` and ``transforms_lost`` may run on another thread than ``image`` /
``drain`` (the live /tf subscriber has its own): they touch only the locked
:class:`~ovnerf.scene.pose_interpolation.TransformBuffer`, the /tf sequence numbers and the
``rejected_tf_*`` counters. ``image``, ``drain`` and the rest must stay on one thread.
"""
from __future__ import annotations

import collections
import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ovnerf.errors import UserError
from ovnerf.scene.frames import PosedFrame
from ovnerf.scene.image_encoding import SizeMismatch
from ovnerf.scene.input_checks import check_intrinsics, clip_message
from ovnerf.scene.keyframes import KeyframeSelector
from ovnerf.scene.pose_interpolation import (TransformBuffer, TransformLookupError, TransformNotYet,
                                             TransformRejected)
from ovnerf.scene.stamp_match import StampedBuffer
from ovnerf.scene.store import SceneStore

SIDE_STREAMS = ("labels", "depth")


@dataclass
class IngestConfig:
    map_frame: str = "map"
    camera_frame: str = ""            # '' = each image's frame_id
    pose_timeout: float = 2.0         # s an image waits for its pose, camera info and side images
    side_tolerance: float = 0.05      # s between an image and its depth / label image
    future_tolerance: float = 1.0     # s a stamp may lie ahead of 'now'
    max_pending: int = 30
    tf_cache: float = 60.0            # s of transform history
    min_translation: float = 0.05
    min_rotation_deg: float = 5.0
    min_sharpness: float = 0.0
    max_keyframes: int = 1_000_000
    side_streams: tuple = ()          # subset of SIDE_STREAMS the caller feeds
    side_capacity: int | None = 120   # side images buffered per stream (None = all: a bag)


Pending = collections.namedtuple("Pending", "stamp rgb frame_id arrived")


class StampGaps:
    """Estimate of images lost upstream from gaps in a stream's stamps (median period of the
    last 32 intervals; a gap over 1.5 periods counts round(gap / period) − 1)."""

    def __init__(self):
        self.last = None
        self.counted = 0
        self.intervals: collections.deque = collections.deque(maxlen=32)

    def add(self, stamp: float) -> int:
        """Images estimated lost before ``stamp`` (−1: a late image fills a gap counted before)."""
        lost = 0
        if self.last is not None and stamp < self.last:
            if self.counted > 0:
                self.counted -= 1
                return -1
            return 0
        if self.last is not None and stamp > self.last:
            dt = stamp - self.last
            if len(self.intervals) >= 8:
                period = float(np.median(self.intervals))
                if period > 0 and dt > 1.5 * period:
                    lost = int(round(dt / period)) - 1
            self.intervals.append(dt)
        self.last = stamp
        self.counted += lost
        return lost


def decoded(array: np.ndarray) -> Callable:
    """A side-image ``decode(expected)`` for an already decoded H×W array (SizeMismatch when its
    size is not ``expected``)."""
    def decode(expected):
        if expected is not None and tuple(array.shape[:2]) != tuple(expected):
            raise SizeMismatch(f"{array.shape[1]}x{array.shape[0]} vs {expected[1]}x{expected[0]}")
        return array
    return decode


class SequenceGaps:
    """Messages lost between each publisher and us: gaps in its publication sequence numbers
    (a number not above the last one — a restarted publisher — starts afresh)."""

    def __init__(self):
        self.last: dict = {}

    def add(self, publisher, seq: int) -> int:
        prev, self.last[publisher] = self.last.get(publisher), int(seq)
        return int(seq) - prev - 1 if prev is not None and seq > prev + 1 else 0


class FrameIngest:
    """Admission state and counters of one image stream into ``store`` (module docstring)."""

    def __init__(self, store: SceneStore, cfg: IngestConfig, clock: Callable[[], float] = time.monotonic,
                 log: Callable[[str], None] | None = None):
        self.store = store
        self.cfg = cfg
        self.clock = clock
        self.log = log or (lambda msg: None)
        self.tf = TransformBuffer(max_age=cfg.tf_cache)
        self.stats: collections.Counter = collections.Counter()
        self.last_reason = ""
        self.last_error = ""
        self.K = None
        self.size = None                                  # (H, W) of the camera info
        self.newest = None                                # newest admitted image stamp
        self.decided: collections.deque = collections.deque(maxlen=4096)   # recent decided stamps
        self._decided_set: set = set()
        self.pending: collections.deque = collections.deque()   # sorted by stamp
        self.side = {n: StampedBuffer(capacity=cfg.side_capacity) for n in cfg.side_streams}
        self.selector = KeyframeSelector(cfg.min_translation, cfg.min_rotation_deg, cfg.min_sharpness)
        self.gaps = StampGaps()
        self.sequences = SequenceGaps()                   # image publishers
        self.tf_sequences = SequenceGaps()                # /tf publishers
        if len(store):
            self.selector.reset(store.pose(store.names()[-1]))

    # ------------------------------------------------------------------ counting
    def reject(self, key: str, reason: str) -> None:
        self.stats[f"rejected_{key}"] += 1
        self.last_reason = clip_message(reason)
        self.log(self.last_reason)

    def skips(self) -> dict:
        """{reason: count} of every frame not stored (rejections without the prefix, not_keyframe)."""
        out = {k[len("rejected_"):]: v for k, v in list(self.stats.items())   # snapshot: /tf thread may add keys
               if k.startswith("rejected_") and v}
        if self.stats["not_keyframe"]:
            out["not_keyframe"] = self.stats["not_keyframe"]
        return out

    def _future(self, stamp: float, now: float | None) -> bool:
        return now is not None and stamp > now + self.cfg.future_tolerance

    # ------------------------------------------------------------------ inputs
    def camera_info(self, K, height: int, width: int) -> bool:
        try:
            self.K = check_intrinsics(K, height, width, "camera_info")
        except UserError as exc:
            self.reject("camera_info", str(exc))
            return False
        self.size = (int(height), int(width))
        return True

    def transform(self, parent: str, child: str, stamp: float, T, static: bool = False,
                  now: float | None = None) -> bool:
        """Insert one transform sample; False (counted ``tf_<reason>``) when it is refused."""
        if not static and (not math.isfinite(stamp) or stamp <= 0):
            self.reject("tf_bad_stamp", f"transform {parent} <- {child}: stamp {stamp} is not a time")
            return False
        if not static and self._future(stamp, now):
            self.reject("tf_future_stamp", f"transform {parent} <- {child} stamped {stamp - now:.3f} s in the future")
            return False
        try:
            note = self.tf.set_transform(parent, child, stamp, T, static)
        except TransformRejected as exc:
            self.reject(f"tf_{exc.reason}", str(exc))
            return False
        if note:
            self.reject(f"tf_{note}", f"static transform for '{child}' dropped: it moves (a /tf sample came)")
        return True

    def transforms_lost(self, publisher, seq: int) -> int:
        """Account one /tf message by its (publisher, publication sequence number): the messages
        missing before it were dropped by the KEEP_LAST subscription queue while the caller was
        busy (``tf_dds_lost``). The history then has a hole; poses of images in it are
        interpolated across the hole. Returns how many were lost."""
        return self._count_lost(self.tf_sequences, (publisher, seq), "tf_dds_lost", "/tf message(s)",
                                "the node fell behind; poses in that gap are interpolated across it")

    def _count_lost(self, gaps: SequenceGaps, source: tuple, key: str, what: str, why: str) -> int:
        lost = gaps.add(*source)
        if lost:
            self.stats[f"rejected_{key}"] += lost
            self.last_reason = f"{lost} {what} lost in the subscription queue ({why})"
            self.log(self.last_reason)
        return lost

    def side_image(self, name: str, stamp: float, decode: Callable) -> None:
        """Buffer a side image; ``decode(expected) -> H×W array`` runs when its colour frame is paired."""
        if name in self.side and math.isfinite(stamp):
            self.side[name].put(stamp, decode)

    def image(self, stamp: float, frame_id: str, decode: Callable, now: float | None = None,
              source: tuple | None = None) -> bool:
        """Admit one colour image into the queue (module docstring, steps 1–2); True when queued.
        ``source`` = (publisher id, publication sequence number) when the transport gives them."""
        self.stats["received"] += 1
        if source is not None and source[1] is not None:
            self._count_lost(self.sequences, source, "dds_lost", "image(s)", "queue_depth too small?")
        if not math.isfinite(stamp) or stamp <= 0:
            self.reject("bad_stamp", f"image stamp {stamp} is not a time (unset or invalid header stamp)")
            return False
        if self._future(stamp, now):
            self.reject("future_stamp", f"image stamped {stamp - now:.3f} s in the future (tolerance "
                                        f"{self.cfg.future_tolerance} s)")
            return False
        if stamp in self._decided_set or any(p.stamp == stamp for p in self.pending):
            self.reject("duplicate", f"duplicate image stamp {stamp:.6f}")
            return False
        try:
            rgb = decode(self.size)
        except SizeMismatch as exc:
            self.reject("size_mismatch", str(exc))
            return False
        except UserError as exc:
            self.reject("encoding", str(exc))
            return False
        self.newest = stamp if self.newest is None else max(self.newest, stamp)
        self.stats["estimated_dds_lost"] += self.gaps.add(stamp)
        if len(self.pending) >= self.cfg.max_pending:
            self.reject("overflow", f"pending queue full ({self.cfg.max_pending}): dropped image "
                                    f"{self._pop().stamp:.3f}")
        i = len(self.pending)
        while i and self.pending[i - 1].stamp > stamp:
            i -= 1
        self.pending.insert(i, Pending(stamp, rgb, frame_id, self.clock()))
        return True

    def _pop(self) -> Pending:
        item = self.pending.popleft()
        if len(self.decided) == self.decided.maxlen:
            self._decided_set.discard(self.decided[0])
        self.decided.append(item.stamp)
        self._decided_set.add(item.stamp)
        return item

    # ------------------------------------------------------------------ processing
    def drain(self, final: bool = False) -> int:
        """Store every pending image whose pose (and camera info, side images) is decided, oldest
        first; ``final``: no more input will come (a bag's end), waiting ends. Returns how many
        were decided."""
        done = 0
        cfg = self.cfg
        while self.pending:
            item = self.pending[0]
            expired = final or self.clock() - item.arrived > cfg.pose_timeout
            if self.K is None:
                if not expired:
                    return done
                self._pop()
                self.reject("no_camera_info", f"no valid camera_info within {cfg.pose_timeout} s")
                done += 1
                continue
            camera = cfg.camera_frame or item.frame_id
            try:
                if not camera:
                    raise TransformLookupError("no camera frame (camera_frame and the image's frame_id are empty)")
                c2w = self.tf.lookup(cfg.map_frame, camera, item.stamp, moving=True)
            except TransformNotYet as exc:
                if not expired:
                    return done  # wait for TF on the far side of its stamp; keep order
                self._pop()
                if final:
                    self.reject("no_pose", f"no pose for image at {item.stamp:.3f}: {exc}")
                else:
                    self.reject("no_pose_timeout", f"no pose for image at {item.stamp:.3f} within "
                                                   f"{cfg.pose_timeout} s: {exc}")
                done += 1
                continue
            except TransformLookupError as exc:
                self._pop()
                self.reject("no_pose", f"no pose for image at {item.stamp:.3f}: {exc}")
                done += 1
                continue
            tol = cfg.side_tolerance
            if not expired and not all(b.ready(item.stamp, tol) for b in self.side.values()):
                return done  # its depth / label image may still be on the way
            side = {name: b.take(item.stamp, tol) for name, b in self.side.items()}
            self._pop()
            self._process(item, c2w, side)
            done += 1
        return done

    def _side(self, side: dict, name: str, size) -> np.ndarray | None:
        decode = side.get(name)
        if decode is None:
            return None
        try:
            return decode(size)
        except SizeMismatch as exc:
            self.reject(f"{name}_size_mismatch", f"{name} image does not match the colour image ({exc}; "
                                                 f"not resized); frame stored without {name}")
        except UserError as exc:
            self.reject(f"{name}_encoding", f"{name} image: {exc}; frame stored without {name}")
        return None

    def _process(self, item: Pending, c2w: np.ndarray, side: dict) -> None:
        h, w = item.rgb.shape[:2]
        if (h, w) != self.size:
            self.reject("size_mismatch", f"image is {w}x{h} but camera_info says {self.size[1]}x{self.size[0]}")
            return
        if len(self.store) >= self.cfg.max_keyframes:
            self.reject("max_keyframes", f"keyframe limit {self.cfg.max_keyframes} reached")
            return
        sel = self.selector
        sel.min_translation, sel.min_rotation_deg = self.cfg.min_translation, self.cfg.min_rotation_deg
        sel.min_sharpness = self.cfg.min_sharpness
        decision = sel.consider(item.rgb, c2w)
        if not decision.accept:
            if "blurred" in decision.reason:
                self.reject("blur", decision.reason)
            else:
                self.stats["not_keyframe"] += 1
            return
        labels = self._side(side, "labels", (h, w))
        depth = self._side(side, "depth", (h, w))
        name = self.store.next_name()
        try:
            self.store.add_frame(PosedFrame(name=name, image=item.rgb, K=self.K.copy(), c2w=c2w,
                                            timestamp=item.stamp, depth=depth, labels=labels))
        except (OSError, UserError) as exc:
            self.stats["store_errors"] += 1
            self.last_error = clip_message(f"could not store keyframe {name}: {exc}")
            self.log(self.last_error)
            return
        sel.commit(c2w)
        self.stats["keyframes_added"] += 1
        if depth is not None:
            self.stats["keyframes_with_depth"] += 1
