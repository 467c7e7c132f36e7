"""Collector node: posed RGB stream → keyframes in the on-disk scene store.

Subscribes the colour image (``sensor_msgs/Image``, or ``CompressedImage`` on
``<image_topic>/compressed``), ``sensor_msgs/CameraInfo``, and poses from TF (``/tf``,
``/tf_static``; ``map_frame`` ← ``camera_frame``) or a ``geometry_msgs/PoseStamped`` topic.

Per image: decode (unknown encodings rejected), check its size against CameraInfo, reject a
duplicate or out-of-order stamp (≤ the newest image stamp seen), then wait (bounded queue of
``max_pending``, at most ``pose_timeout`` s) until the pose at its stamp is available —
interpolated between the neighbouring poses, or the nearest one within ``stamp_tolerance``.
Optional side streams registered to the colour camera, paired with each image by stamp (the
nearest within ``stamp_tolerance``, :class:`ovnerf.scene.stamp_match.StampedBuffer`; an image
waits for them at most ``pose_timeout`` s, or until the side stream has moved past its stamp):
``labels_topic`` (mono8 class ids) and ``depth_topic`` (``16UC1`` millimetres or ``32FC1``
metres, NaN/0 = unknown, :mod:`ovnerf.scene.depth_image`; stored as ``PosedFrame.depth``, z in
metres). A side image with a wrong encoding or a size other than the colour image's is rejected
(counted: ``rejected_depth_encoding`` / ``rejected_depth_size_mismatch``, ``rejected_labels``) and
the colour frame is stored without it — an RGB frame is never lost to its side stream.
The keyframe selector (motion thresholds + blur gate, :mod:`ovnerf.scene.keyframes`) decides;
an accepted keyframe is written at once with :meth:`SceneStore.add_frame` (fsync + atomic
rename), so a crash loses nothing stored and a restart continues the same dataset (the
selector is seeded with the last stored pose). A failed write (disk full, read-only path) is
logged and counted; the node keeps running and the reference pose does not move.

Every rejection is counted by reason; counts go out on ``/diagnostics`` and in the reply of
``/ovnerf/save_dataset`` (std_srvs/Trigger; the store is always on disk already, the service
re-writes transforms.json and reports).
"""
from __future__ import annotations

import collections
import json
import time
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_srvs.srv import Trigger

from ovnerf.errors import UserError
from ovnerf.scene.frames import PosedFrame
from ovnerf.scene.keyframes import KeyframeSelector
from ovnerf.scene.pose_interpolation import TransformBuffer, TransformLookupError
from ovnerf.scene.stamp_match import StampedBuffer
from ovnerf.scene.store import SceneStore
from ovnerf_ros import conversions as cv
from ovnerf_ros.parameters import Parameters
from ovnerf_ros.tf_buffer import TfListener

Pending = collections.namedtuple("Pending", "stamp rgb frame_id arrived")


class CollectorNode(Node):
    def __init__(self, node_name: str = "ovnerf_collector", defaults: dict | None = None, **kwargs):
        super().__init__(node_name, **kwargs)
        self.p = Parameters(self, ("collector",), defaults)
        self.group = MutuallyExclusiveCallbackGroup()  # all collector state is touched serially
        self.scene_dir = Path(self.p["output_dir"]).expanduser() / "scene"
        self.store = SceneStore(self.scene_dir)
        self.selector = KeyframeSelector()
        if len(self.store):
            self.selector.reset(self.store.pose(self.store.names()[-1]))
        self.stats: collections.Counter = collections.Counter()
        self.last_reason = ""
        self.last_error = ""
        self.K = None
        self.info_size = None
        self.newest_stamp = None
        self.pending: collections.deque = collections.deque()
        # side streams paired with the colour images by stamp: name -> StampedBuffer of H×W arrays
        self.side = {name: StampedBuffer(capacity=4 * self.p["max_pending"])
                     for name in ("labels", "depth") if self.p[f"{name}_topic"]}
        if self.p["class_names"] and not self.store.class_names:
            self.store.set_class_names(self.p["class_names"])

        depth = QoSProfile(depth=self.p["queue_depth"])
        if self.p["use_compressed"]:
            topic = self.p["image_topic"].rstrip("/") + "/compressed"
            self.create_subscription(CompressedImage, topic, self._on_compressed, depth, callback_group=self.group)
        else:
            topic = self.p["image_topic"]
            self.create_subscription(Image, topic, self._on_image, depth, callback_group=self.group)
        self.create_subscription(CameraInfo, self.p["camera_info_topic"], self._on_info, depth,
                                 callback_group=self.group)
        for name, callback in (("labels", self._on_labels), ("depth", self._on_depth)):
            if name in self.side:
                self.create_subscription(Image, self.p[f"{name}_topic"], callback, depth,
                                         callback_group=self.group)
        self.pose_buffer = None
        self.tf = None
        if self.p["pose_source"] == "topic":
            self.pose_buffer = TransformBuffer(max_age=self.p["tf_cache"])
            self.create_subscription(PoseStamped, self.p["pose_topic"], self._on_pose, QoSProfile(depth=100),
                                     callback_group=self.group)
        else:
            self.tf = TfListener(self, self.p["tf_cache"], callback_group=self.group, on_update=self._drain)
        self.create_service(Trigger, "/ovnerf/save_dataset", self._on_save, callback_group=self.group)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(0.1, self._drain, callback_group=self.group)
        self.create_timer(1.0, self._publish_diagnostics, callback_group=self.group)
        self.get_logger().info(f"collecting keyframes from {topic} into {self.scene_dir} "
                               f"({len(self.store)} already stored; poses from {self.p['pose_source']})")

    # ------------------------------------------------------------------ inputs
    def _reject(self, key: str, reason: str, what: str = "frame") -> None:
        self.stats[f"rejected_{key}"] += 1
        self.last_reason = reason
        self.get_logger().warning(f"{what} rejected: {reason}", throttle_duration_sec=2.0)

    def _on_info(self, msg: CameraInfo) -> None:
        try:
            self.K, h, w = cv.camera_info_to_K(msg)
            self.info_size = (h, w)
        except UserError as exc:
            self._reject("camera_info", str(exc))

    def _on_pose(self, msg: PoseStamped) -> None:
        try:
            T = cv.pose_to_matrix(msg.pose, what="pose topic")
            parent = msg.header.frame_id or self.p["map_frame"]
            child = self.p["camera_frame"] or "camera"
            self.pose_buffer.set_transform(parent, child, cv.stamp_to_sec(msg.header.stamp), T)
        except UserError as exc:
            self._reject("pose", str(exc))
            return
        self._drain()

    def _on_side(self, name: str, msg: Image, decode, key: str) -> None:
        """Buffer one side-stream image (``decode(msg) -> H×W array``) for pairing by stamp."""
        try:
            arr = decode(msg)
        except UserError as exc:
            self._reject(key, str(exc), what=f"{name} image")
            return
        self.side[name].put(cv.stamp_to_sec(msg.header.stamp), arr)
        self._drain()

    def _on_labels(self, msg: Image) -> None:
        self._on_side("labels", msg, cv.image_to_labels, "labels")

    def _on_depth(self, msg: Image) -> None:
        self._on_side("depth", msg, cv.image_to_depth, "depth_encoding")

    def _on_colour(self, msg, decode) -> None:
        """One colour image (``decode(msg) -> RGB uint8``; unknown encodings rejected)."""
        self.stats["received"] += 1
        try:
            rgb = decode(msg)
        except UserError as exc:
            self._reject("encoding", str(exc))
            return
        self._admit(msg.header, rgb)

    def _on_image(self, msg: Image) -> None:
        self._on_colour(msg, cv.image_to_rgb)

    def _on_compressed(self, msg: CompressedImage) -> None:
        self._on_colour(msg, cv.compressed_to_rgb)

    def _admit(self, header, rgb: np.ndarray) -> None:
        stamp = cv.stamp_to_sec(header.stamp)
        if self.newest_stamp is not None and stamp <= self.newest_stamp:
            key = "duplicate" if stamp == self.newest_stamp else "out_of_order"
            self._reject(key, f"{key.replace('_', '-')} image stamp {stamp:.6f} (newest seen {self.newest_stamp:.6f})")
            return
        self.newest_stamp = stamp
        if len(self.pending) >= self.p["max_pending"]:
            old = self.pending.popleft()
            self._reject("overflow", f"pending queue full ({self.p['max_pending']}): dropped image {old.stamp:.3f}")
        self.pending.append(Pending(stamp, rgb, header.frame_id, time.monotonic()))
        self._drain()

    # ------------------------------------------------------------------ processing
    def _lookup(self, item: Pending) -> np.ndarray:
        cam = self.p["camera_frame"] or item.frame_id
        tol = self.p["stamp_tolerance"]
        if self.pose_buffer is not None:
            return self.pose_buffer.lookup(self.p["map_frame"], self.p["camera_frame"] or "camera", item.stamp, tol)
        if not cam:
            raise TransformLookupError("no camera frame (parameter camera_frame and header.frame_id are empty)")
        return self.tf.lookup(self.p["map_frame"], cam, item.stamp, tol)

    def _drain(self) -> None:
        """Process pending images whose pose (and camera_info) is available, oldest first."""
        timeout = self.p["pose_timeout"]
        while self.pending:
            item = self.pending[0]
            waited = time.monotonic() - item.arrived
            if self.K is None:
                if waited > timeout:
                    self.pending.popleft()
                    self._reject("no_camera_info", f"no camera_info within {timeout} s")
                    continue
                return
            try:
                c2w = self._lookup(item)
            except TransformLookupError as exc:
                if waited > timeout:
                    self.pending.popleft()
                    self._reject("no_pose", f"no pose for image at {item.stamp:.3f}: {exc}")
                    continue
                return  # wait for more TF, keep order
            tol = self.p["stamp_tolerance"]
            if waited <= timeout and not all(b.ready(item.stamp, tol) for b in self.side.values()):
                return  # its depth / label image may still be on the way
            side = {name: b.take(item.stamp, tol) for name, b in self.side.items()}
            self.pending.popleft()
            self._process(item, c2w, side)

    def _side_image(self, side: dict, name: str, key: str, h: int, w: int):
        """The side image ``name`` when its size is the colour image's, else None (rejected)."""
        arr = side.get(name)
        if arr is not None and arr.shape != (h, w):
            self._reject(key, f"{name} image {arr.shape[1]}x{arr.shape[0]} does not match the colour "
                              f"image {w}x{h} (not resized); frame stored without {name}", what=f"{name} image")
            return None
        return arr

    def _process(self, item: Pending, c2w: np.ndarray, side: dict | None = None) -> None:
        h, w = item.rgb.shape[:2]
        if (h, w) != self.info_size:
            self._reject("size_mismatch", f"image is {w}x{h} but camera_info says "
                                          f"{self.info_size[1]}x{self.info_size[0]}")
            return
        if len(self.store) >= self.p["keyframe.max_keyframes"]:
            self._reject("max_keyframes", f"keyframe limit {self.p['keyframe.max_keyframes']} reached")
            return
        side = side or {}
        labels = self._side_image(side, "labels", "labels", h, w)
        depth = self._side_image(side, "depth", "depth_size_mismatch", h, w)
        sel = self.selector
        sel.min_translation = self.p["keyframe.min_translation"]
        sel.min_rotation_deg = self.p["keyframe.min_rotation_deg"]
        sel.min_sharpness = self.p["keyframe.min_sharpness"]
        decision = sel.consider(item.rgb, c2w)
        if not decision.accept:
            self.stats["not_keyframe" if "blurred" not in decision.reason else "rejected_blur"] += 1
            return
        name = f"kf_{len(self.store):06d}"
        while name in self.store:
            name += "b"
        try:
            self.store.add_frame(PosedFrame(name=name, image=item.rgb, K=self.K.copy(), c2w=c2w,
                                            timestamp=item.stamp, depth=depth, labels=labels))
        except (OSError, UserError) as exc:
            self.stats["store_errors"] += 1
            self.last_error = f"could not store keyframe {name}: {exc}"
            self.get_logger().error(self.last_error, throttle_duration_sec=2.0)
            return
        sel.commit(c2w)
        self.stats["keyframes_added"] += 1
        if depth is not None:
            self.stats["keyframes_with_depth"] += 1
        self.get_logger().info(f"keyframe {name} ({decision.reason}); {len(self.store)} stored")

    # ------------------------------------------------------------------ outputs
    def status(self) -> dict:
        return {"keyframes": len(self.store), "scene_dir": str(self.scene_dir), "pending": len(self.pending),
                **dict(self.stats), "last_reason": self.last_reason, "last_error": self.last_error}

    def _on_save(self, request, response):
        try:
            self.store._write_meta()  # everything is on disk already; re-write the index for good measure
            response.success = True
            response.message = json.dumps(self.status())
        except OSError as exc:
            response.success = False
            response.message = f"could not write {self.store.meta_path}: {exc}"
        return response

    def _publish_diagnostics(self) -> None:
        st = DiagnosticStatus(name="ovnerf: collector", hardware_id=str(self.scene_dir))
        if self.stats["store_errors"]:
            st.level, st.message = DiagnosticStatus.ERROR, self.last_error
        elif self.K is None:
            st.level, st.message = DiagnosticStatus.WARN, "waiting for camera_info"
        else:
            st.level, st.message = DiagnosticStatus.OK, f"{len(self.store)} keyframes"
        st.values = [KeyValue(key=k, value=str(v)) for k, v in self.status().items()]
        self.diag_pub.publish(DiagnosticArray(header=cv.make_header("", self.get_clock().now().to_msg()),
                                              status=[st]))
