"""Import a ROS 2 bag (.mcap or .db3, via ``rosbags.highlevel.AnyReader``) into a SceneStore.

Admission is :class:`ovnerf.scene.ingest.FrameIngest`, the same code as the live collector, with
the bag's record time as "now". Pass 1 feeds ``/tf`` and ``/tf_static`` (``tf2_msgs/TFMessage``;
history kept for the whole bag), the first valid ``CameraInfo`` and the optional label topic
(mono8 class ids, 255 = void) and depth topic (``16UC1`` mm / ``32FC1`` m registered to the
colour camera; :mod:`ovnerf.scene.depth_image`; kept raw until paired). Pass 2 walks the image
topic (``sensor_msgs/Image`` in rgb8/bgr8/rgba8/bgra8/mono8, or ``CompressedImage``) in bag
order; each image gets its pose ``map_frame ← camera_frame`` (default: the image's
``header.frame_id``) interpolated at its stamp between the transforms around it (never the
nearest one, never extrapolated), its side images by stamp (nearest within ``tolerance`` s), and
the keyframe selector's decision. Every image not imported is counted by the ingest's reason
(``ImportReport.skipped``; the same keys as the collector's ``rejected_*`` counters, plus
``not_keyframe`` and ``max_frames``); a rejected depth image costs only the depth
(``ImportReport.depth_rejected``). Frames are named ``kf_%06d`` continuing the store's count
(:meth:`SceneStore.next_name`), so importing into an existing store appends.
"""
from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore

from ovnerf.errors import UserError
from ovnerf.scene import image_encoding
from ovnerf.scene.depth_image import decode_depth
from ovnerf.scene.ingest import FrameIngest, IngestConfig
from ovnerf.scene.input_checks import stamp_seconds
from ovnerf.scene.pose_interpolation import pose_from_quaternion, quaternion_is_valid
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
    """Seconds of a header stamp; NaN when it is not normalised (rejected by the ingest)."""
    try:
        return stamp_seconds(header.stamp.sec, header.stamp.nanosec)
    except UserError:
        return math.nan


def _transform(ts) -> np.ndarray | None:
    t, q = ts.transform.translation, ts.transform.rotation
    tv = np.array([t.x, t.y, t.z], dtype=np.float64)
    qv = np.array([q.x, q.y, q.z, q.w], dtype=np.float64)
    if not np.all(np.isfinite(tv)) or not quaternion_is_valid(qv):
        return None
    return pose_from_quaternion(tv, qv)


def _open(bag_path):
    path = Path(bag_path)
    if not path.exists():
        raise UserError(f"bag not found: {path}")
    try:
        reader = AnyReader([path], default_typestore=get_typestore(Stores.ROS2_HUMBLE))
        reader.open()
    except Exception as exc:  # rosbags raises its own error types for unreadable bags
        raise UserError(f"cannot read bag {path}: {type(exc).__name__}: {exc}") from None
    return reader


def decode_image_msg(msg, msgtype: str, expected=None) -> np.ndarray:
    """uint8 RGB H×W×3 of a rosbags-deserialised Image / CompressedImage (size checked first)."""
    if msgtype.endswith("CompressedImage"):
        return image_encoding.decode_compressed(np.asarray(msg.data, dtype=np.uint8), msg.format, expected)
    return image_encoding.decode_color(msg.encoding, msg.height, msg.width, msg.step,
                                       np.asarray(msg.data, dtype=np.uint8), bool(msg.is_bigendian), expected)


def _raw_decoder(msg, fn):
    """``decode(expected)`` of a raw side image message with ``fn`` (decode_depth / decode_labels)."""
    return lambda expected: fn(msg.encoding, msg.height, msg.width, msg.step, np.asarray(msg.data, dtype=np.uint8),
                               bool(msg.is_bigendian), expected)


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
        store = SceneStore(out_dir)
        if class_names and not store.class_names:
            store.set_class_names(list(class_names))
        sides = tuple(n for n, t in (("labels", labels_topic), ("depth", depth_topic)) if t)
        ing = FrameIngest(store, IngestConfig(
            map_frame=map_frame, camera_frame=camera_frame, side_tolerance=tolerance, tf_cache=math.inf,
            min_translation=min_translation, min_rotation_deg=min_rotation_deg, min_sharpness=min_sharpness,
            side_streams=sides, side_capacity=None))

        # ---- pass 1: transforms, camera info, side images (kept raw until paired)
        first = [c for c in reader.connections
                 if c in tf_conns or c.topic in (camera_info_topic, labels_topic, depth_topic)]
        for conn, logtime, raw in reader.messages(connections=first):
            msg = reader.deserialize(raw, conn.msgtype)
            now = logtime * 1e-9
            if conn.topic in ("/tf", "/tf_static"):
                for ts in msg.transforms:
                    T = _transform(ts)
                    if T is None:
                        ing.reject("tf_invalid", "transform with NaN or a non-unit quaternion")
                        continue
                    ing.transform(ts.header.frame_id, ts.child_frame_id, _stamp(ts.header), T,
                                  static=conn.topic == "/tf_static", now=now)
            elif conn.topic == camera_info_topic and ing.K is None:
                ing.camera_info(np.asarray(msg.k, dtype=np.float64).reshape(3, 3), msg.height, msg.width)
            elif conn.topic == labels_topic:
                ing.side_image("labels", _stamp(msg.header), _raw_decoder(msg, image_encoding.decode_labels))
            elif conn.topic == depth_topic:
                ing.side_image("depth", _stamp(msg.header), _raw_decoder(msg, decode_depth))
        if ing.K is None:
            raise UserError(f"no valid CameraInfo on {camera_info_topic}"
                            + (f" ({ing.last_reason})" if ing.last_reason else ""))

        # ---- pass 2: images
        img_conn = topics[image_topic]
        total = img_conn.msgcount
        for conn, logtime, raw in reader.messages(connections=[img_conn]):
            report.images += 1
            if progress is not None:
                progress(report.images, total)
            if max_frames and ing.stats["keyframes_added"] >= max_frames:
                ing.stats["rejected_max_frames"] += 1
                continue
            msg = reader.deserialize(raw, conn.msgtype)
            ing.image(_stamp(msg.header), msg.header.frame_id,
                      lambda expected, m=msg: decode_image_msg(m, conn.msgtype, expected), now=logtime * 1e-9)
            ing.drain(final=True)  # every transform of the bag is known: nothing to wait for
        store.close()
        report.imported = ing.stats["keyframes_added"]
        report.with_depth = ing.stats["keyframes_with_depth"]
        report.skipped.update({k: v for k, v in ing.skips().items() if not k.startswith("depth_")})
        report.depth_rejected.update({k[len("depth_"):]: v for k, v in ing.skips().items() if k.startswith("depth_")})
        return report
    finally:
        reader.close()
