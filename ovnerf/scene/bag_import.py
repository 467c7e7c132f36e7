"""Import a ROS 2 bag (.mcap or .db3, via ``rosbags.highlevel.AnyReader``) into a SceneStore.

Pass 1 reads ``/tf`` and ``/tf_static`` (``tf2_msgs/TFMessage``) into a
:class:`~ovnerf.scene.pose_interpolation.TransformBuffer` holding the whole bag, and the first
valid ``CameraInfo`` (K, size). Pass 2 walks the image topic (``sensor_msgs/Image`` in
rgb8/bgr8/rgba8/bgra8/mono8, or ``CompressedImage``) in bag order; each image's pose
``map_frame ← camera_frame`` (default: the image's ``header.frame_id``) at its header stamp is
interpolated (slerp) between the neighbouring transforms, or the nearest one within
``tolerance`` seconds. Images without a pose, with a size that differs from CameraInfo, with a
duplicate or out-of-order stamp, or that the keyframe selector refuses are skipped and counted
by reason. An optional label topic (mono8 class ids, 255 = void) and an optional depth topic
(``sensor_msgs/Image`` registered to the colour camera: ``16UC1`` millimetres or ``32FC1`` metres,
NaN/0 = unknown; :mod:`ovnerf.scene.depth_image`) are paired with each image by stamp — the
nearest within ``tolerance`` (:class:`ovnerf.scene.stamp_match.StampedBuffer`) — and stored with
it (``PosedFrame.depth``, z in metres). A depth image with another encoding or another size than
the colour image is not stored (counted in ``ImportReport.depth_rejected``); its colour frame is
imported all the same. Depth messages are kept in their raw form until their image is
imported (memory: the size of the bag's depth stream). Frames are named ``kf_%06d`` continuing the store's count, so importing into an
existing store appends.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ovnerf.errors import UserError
from ovnerf.scene import image_encoding
from ovnerf.scene.depth_image import decode_depth
from ovnerf.scene.frames import PosedFrame
from ovnerf.scene.keyframes import KeyframeSelector
from ovnerf.scene.pose_interpolation import (TransformBuffer, TransformLookupError, pose_from_quaternion,
                                             quaternion_is_valid)
from ovnerf.scene.stamp_match import StampedBuffer
from ovnerf.scene.store import SceneStore


@dataclass
class ImportReport:
    out_dir: Path
    imported: int = 0
    images: int = 0
    skipped: dict = field(default_factory=collections.Counter)
    topics: list = field(default_factory=list)
    with_depth: int = 0                                   # imported frames that carry depth
    depth_rejected: dict = field(default_factory=collections.Counter)  # reason -> count


def _stamp(header) -> float:
    return float(header.stamp.sec) + float(header.stamp.nanosec) * 1e-9


def _transform(ts) -> np.ndarray | None:
    t, q = ts.transform.translation, ts.transform.rotation
    tv = np.array([t.x, t.y, t.z], dtype=np.float64)
    qv = np.array([q.x, q.y, q.z, q.w], dtype=np.float64)
    if not np.all(np.isfinite(tv)) or not quaternion_is_valid(qv):
        return None
    return pose_from_quaternion(tv, qv)


def _open(bag_path):
    try:
        from rosbags.highlevel import AnyReader
        from rosbags.typesys import Stores, get_typestore
    except ImportError as exc:  # pragma: no cover - rosbags is pinned in requirements.txt
        raise UserError(f"rosbags is not installed ({exc})") from None
    path = Path(bag_path)
    if not path.exists():
        raise UserError(f"bag not found: {path}")
    try:
        reader = AnyReader([path], default_typestore=get_typestore(Stores.ROS2_HUMBLE))
        reader.open()
    except Exception as exc:  # rosbags raises its own error types for unreadable bags
        raise UserError(f"cannot read bag {path}: {type(exc).__name__}: {exc}") from None
    return reader


def decode_image_msg(msg, msgtype: str) -> np.ndarray:
    """uint8 RGB H×W×3 of a rosbags-deserialised Image / CompressedImage."""
    if msgtype.endswith("CompressedImage"):
        return image_encoding.decode_compressed(np.asarray(msg.data, dtype=np.uint8), msg.format)
    return image_encoding.decode_color(msg.encoding, msg.height, msg.width, msg.step,
                                       np.asarray(msg.data, dtype=np.uint8), bool(msg.is_bigendian))


def _depth_of(msg, size, report: ImportReport) -> np.ndarray | None:
    """Decoded depth of a buffered depth message, or None (rejection counted by reason)."""
    try:
        z = decode_depth(msg.encoding, msg.height, msg.width, msg.step, np.asarray(msg.data, dtype=np.uint8),
                         bool(msg.is_bigendian))
    except UserError:
        report.depth_rejected["encoding"] += 1
        return None
    if z.shape != size:
        report.depth_rejected["size_mismatch"] += 1
        return None
    return z


def import_bag(bag_path, out_dir, image_topic: str, camera_info_topic: str, map_frame: str = "map",
               camera_frame: str = "", tolerance: float = 0.05, min_translation: float = 0.0,
               min_rotation_deg: float = 0.0, min_sharpness: float = 0.0, max_frames: int = 0,
               labels_topic: str = "", class_names: list[str] | None = None,
               progress: Callable[[int, int], None] | None = None, depth_topic: str = "") -> ImportReport:
    """Import posed keyframes from a bag (see module docstring); returns counts."""
    reader = _open(bag_path)
    try:
        topics = {c.topic: c for c in reader.connections}
        for t in (image_topic, camera_info_topic):
            if t not in topics:
                raise UserError(f"topic {t} is not in {bag_path} (topics: {sorted(topics)})")
        for what, t in (("label", labels_topic), ("depth", depth_topic)):
            if t and t not in topics:
                raise UserError(f"{what} topic {t} is not in {bag_path} (topics: {sorted(topics)})")
        tf_conns = [c for c in reader.connections if c.topic in ("/tf", "/tf_static")]
        if not tf_conns:
            raise UserError(f"{bag_path} has no /tf or /tf_static: no camera poses")
        report = ImportReport(Path(out_dir), topics=sorted(topics))

        # ---- pass 1: transforms, camera info, labels, depth (raw messages)
        buf = TransformBuffer(max_age=float("inf"))
        K = size = None
        labels, depths = StampedBuffer(), StampedBuffer()
        side_topics = {t for t in (labels_topic, depth_topic) if t}
        first = [c for c in reader.connections
                 if c in tf_conns or c.topic == camera_info_topic or c.topic in side_topics]
        for conn, _, raw in reader.messages(connections=first):
            msg = reader.deserialize(raw, conn.msgtype)
            if conn.topic in ("/tf", "/tf_static"):
                for ts in msg.transforms:
                    T = _transform(ts)
                    if T is None:
                        report.skipped["invalid_transform"] += 1
                        continue
                    buf.set_transform(ts.header.frame_id, ts.child_frame_id, _stamp(ts.header), T,
                                      static=conn.topic == "/tf_static")
            elif conn.topic == camera_info_topic and K is None:
                k = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
                if np.all(np.isfinite(k)) and k[0, 0] > 0 and k[1, 1] > 0 and msg.width > 0 and msg.height > 0:
                    K, size = k, (int(msg.height), int(msg.width))
            elif conn.topic == labels_topic:
                try:
                    labels.put(_stamp(msg.header), image_encoding.decode_labels(
                        msg.encoding, msg.height, msg.width, msg.step, np.asarray(msg.data, dtype=np.uint8)))
                except UserError:
                    pass  # not a class-id image: its frame is imported without labels
            elif conn.topic == depth_topic:
                depths.put(_stamp(msg.header), msg)
        if K is None:
            raise UserError(f"no valid CameraInfo on {camera_info_topic}")

        # ---- pass 2: images
        store = SceneStore(out_dir)
        if class_names and not store.class_names:
            store.set_class_names(list(class_names))
        sel = KeyframeSelector(min_translation, min_rotation_deg, min_sharpness)
        if len(store):
            sel.reset(store.pose(store.names()[-1]))
        img_conn = topics[image_topic]
        total = img_conn.msgcount
        newest = None
        for conn, _, raw in reader.messages(connections=[img_conn]):
            report.images += 1
            if progress is not None:
                progress(report.images, total)
            if max_frames and report.imported >= max_frames:
                report.skipped["max_frames"] += 1
                continue
            msg = reader.deserialize(raw, conn.msgtype)
            stamp = _stamp(msg.header)
            if newest is not None and stamp <= newest:
                report.skipped["duplicate_or_out_of_order"] += 1
                continue
            newest = stamp
            try:
                rgb = decode_image_msg(msg, conn.msgtype)
            except UserError:
                report.skipped["bad_image"] += 1
                continue
            if rgb.shape[:2] != size:
                report.skipped["size_mismatch"] += 1
                continue
            try:
                c2w = buf.lookup(map_frame, camera_frame or msg.header.frame_id, stamp, tolerance)
            except TransformLookupError:
                report.skipped["no_pose"] += 1
                continue
            d = sel.consider(rgb, c2w)
            if not d.accept:
                report.skipped["not_keyframe"] += 1
                continue
            lab = labels.take(stamp, tolerance)
            if lab is not None and lab.shape != size:
                lab = None
            dmsg = depths.take(stamp, tolerance)
            depth = _depth_of(dmsg, size, report) if dmsg is not None else None
            name = f"kf_{len(store):06d}"
            while name in store:
                name += "b"
            store.add_frame(PosedFrame(name=name, image=rgb, K=K.copy(), c2w=c2w, timestamp=stamp,
                                       depth=depth, labels=lab))
            sel.commit(c2w)
            report.imported += 1
            report.with_depth += depth is not None
        return report
    finally:
        reader.close()
