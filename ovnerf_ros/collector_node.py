"""Collector node: posed RGB stream → keyframes in the on-disk scene store.

Converts messages and hands them to :class:`ovnerf.scene.ingest.FrameIngest` (the admission
rules, shared with the bag import: stamps, sizes against CameraInfo, waiting until TF covers an
image's stamp from both sides and interpolating, side-image pairing, keyframe choice, naming,
counted drop reasons) which writes to :class:`ovnerf.scene.store.SceneStore` (journal: one
fsync per keyframe; ``transforms.json`` rewritten by the store every 2 s while frames come, by a
1 s timer once they stop, and on ``/ovnerf/save_dataset``).

Inputs: the colour image (``sensor_msgs/Image``, or ``CompressedImage`` on
``<image_topic>/compressed``), ``sensor_msgs/CameraInfo``, optional ``labels_topic`` /
``depth_topic`` images, and poses from TF (``/tf``, ``/tf_static``: :mod:`ovnerf_ros.tf_buffer`)
or a ``geometry_msgs/PoseStamped`` topic. Image, camera-info and side-image subscriptions use
``qos.reliability`` (reliable | best_effort) with KEEP_LAST ``queue_depth``; images DDS drops
when that queue overflows never reach us — they are counted (``rejected_dds_lost``) from gaps in
each publisher's publication sequence numbers (rclpy MessageInfo), and estimated from gaps in the
image stamps (``estimated_dds_lost``) where those are missing.

Threading: every callback runs in one mutually exclusive group (admission, drain, keyframe
storage, timers, service) except ``/tf`` and ``/tf_static``, which have their own group (as
tf2_ros's own thread): they only insert into the locked transform buffer and wake the drain
(a guard condition in the collector group), so a keyframe write never backs up the /tf queue.

Every drop is counted by reason (``rejected_<reason>``); counts go out on ``/diagnostics`` and in
the reply of ``/ovnerf/save_dataset`` (std_srvs/Trigger: rewrites transforms.json and reports).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_srvs.srv import Trigger

from ovnerf.errors import UserError
from ovnerf.scene.ingest import FrameIngest, IngestConfig, decoded
from ovnerf.scene.input_checks import clip_message
from ovnerf.scene.store import SceneStore
from ovnerf_ros import conversions as cv
from ovnerf_ros.parameters import Parameters
from ovnerf_ros.tf_buffer import TfSubscriber

SIDE_DECODERS = {"labels": cv.image_to_labels, "depth": cv.image_to_depth}


def sensor_qos(reliability: str, depth: int) -> QoSProfile:
    """KEEP_LAST ``depth`` with ``reliable`` or ``best_effort`` delivery (camera drivers publish
    best_effort as often as reliable; a reliable subscription does not match a best_effort
    publisher)."""
    rel = ReliabilityPolicy.BEST_EFFORT if reliability == "best_effort" else ReliabilityPolicy.RELIABLE
    return QoSProfile(depth=int(depth), history=HistoryPolicy.KEEP_LAST, reliability=rel)


class CollectorNode(Node):
    def __init__(self, node_name: str = "ovnerf_collector", defaults: dict | None = None, **kwargs):
        super().__init__(node_name, **kwargs)
        self.p = Parameters(self, ("collector",), defaults)
        self.group = MutuallyExclusiveCallbackGroup()  # collector state is touched serially (/tf aside)
        self.scene_dir = Path(self.p["output_dir"]).expanduser() / "scene"
        self.store = SceneStore(self.scene_dir, png_compression=self.p["store.png_compression"])
        if self.store.cleaned:
            self.get_logger().warning(f"removed {len(self.store.cleaned)} leftover file(s) of a killed writer")
        sides = tuple(n for n in SIDE_DECODERS if self.p[f"{n}_topic"])
        self.pose_child = self.p["camera_frame"] or "camera"
        self.ingest = FrameIngest(self.store, self._config(sides), log=self._warn)
        if self.p["class_names"] and not self.store.class_names:
            self.store.set_class_names(self.p["class_names"])

        qos = sensor_qos(self.p["qos.reliability"], self.p["queue_depth"])
        g = self.group
        if self.p["use_compressed"]:
            topic = self.p["image_topic"].rstrip("/") + "/compressed"
            self.create_subscription(CompressedImage, topic, self._on_compressed, qos, callback_group=g)
        else:
            topic = self.p["image_topic"]
            self.create_subscription(Image, topic, self._on_image, qos, callback_group=g)
        self.create_subscription(CameraInfo, self.p["camera_info_topic"], self._on_info, qos, callback_group=g)
        for name in sides:
            self.create_subscription(Image, self.p[f"{name}_topic"], lambda m, n=name: self._on_side(n, m), qos,
                                     callback_group=g)
        self.tf = None
        if self.p["pose_source"] == "topic":
            self.create_subscription(PoseStamped, self.p["pose_topic"], self._on_pose, QoSProfile(depth=100),
                                     callback_group=g)
        else:
            # /tf on its own thread (as tf2_ros): a keyframe write in the collector group must not
            # let a fast /tf stream overflow its KEEP_LAST queue. The tf callback only inserts
            # (TransformBuffer is locked) and wakes the drain, which stays in the collector group.
            wake = self.create_guard_condition(self._drain, callback_group=g)
            self.tf = TfSubscriber(self, self.ingest, self._now, callback_group=MutuallyExclusiveCallbackGroup(),
                                   on_update=wake.trigger)
        self.create_service(Trigger, "/ovnerf/save_dataset", self._on_save, callback_group=g)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(0.05, self._drain, callback_group=g)
        self.create_timer(1.0, self._housekeeping, callback_group=g)
        self.get_logger().info(f"collecting keyframes from {topic} ({self.p['qos.reliability']}, queue "
                               f"{self.p['queue_depth']}) into {self.scene_dir} ({len(self.store)} already "
                               f"stored; poses from {self.p['pose_source']})")

    def _config(self, sides=None) -> IngestConfig:
        p = self.p
        return IngestConfig(
            map_frame=p["map_frame"], camera_frame=self.pose_child if p["pose_source"] == "topic" else p["camera_frame"],
            pose_timeout=p["pose_timeout"], side_tolerance=p["stamp_tolerance"], future_tolerance=p["future_tolerance"],
            max_pending=p["max_pending"], tf_cache=p["tf_cache"], min_translation=p["keyframe.min_translation"],
            min_rotation_deg=p["keyframe.min_rotation_deg"], min_sharpness=p["keyframe.min_sharpness"],
            max_keyframes=p["keyframe.max_keyframes"],
            side_streams=sides if sides is not None else self.ingest.cfg.side_streams,
            side_capacity=4 * p["max_pending"])

    # ------------------------------------------------------------------ state (read by tests, status)
    @property
    def stats(self):
        return self.ingest.stats

    @property
    def K(self):
        return self.ingest.K

    @property
    def pending(self):
        return self.ingest.pending

    @property
    def last_reason(self) -> str:
        return self.ingest.last_reason

    @property
    def last_error(self) -> str:
        return self.ingest.last_error

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _warn(self, message: str) -> None:
        self.get_logger().warning(message, throttle_duration_sec=2.0)

    # ------------------------------------------------------------------ inputs
    def _on_info(self, msg: CameraInfo) -> None:
        self.ingest.camera_info(np.asarray(msg.k, dtype=np.float64).reshape(3, 3), msg.height, msg.width)

    def _on_pose(self, msg: PoseStamped) -> None:
        try:
            T = cv.pose_to_matrix(msg.pose, what="pose topic")
        except UserError as exc:
            self.ingest.reject("pose", str(exc))
            return
        self.ingest.transform(msg.header.frame_id or self.p["map_frame"], self.pose_child,
                              cv.stamp_to_sec(msg.header.stamp), T, now=self._now())
        self._drain()

    def _on_side(self, name: str, msg: Image) -> None:
        """Buffer one side-stream image (decoded now: an encoding error is counted at once)."""
        try:
            arr = SIDE_DECODERS[name](msg)
        except UserError as exc:
            self.ingest.reject(f"{name}_encoding", f"{name} image: {exc}")
            return
        self.ingest.side_image(name, cv.stamp_to_sec(msg.header.stamp), decoded(arr))
        self._drain()

    def _on_image(self, msg: Image, info) -> None:
        self.ingest.image(cv.stamp_to_sec(msg.header.stamp), msg.header.frame_id,
                          lambda expected: cv.image_to_rgb(msg, expected), self._now(), cv.message_source(info))
        self._drain()

    def _on_compressed(self, msg: CompressedImage, info) -> None:
        self.ingest.image(cv.stamp_to_sec(msg.header.stamp), msg.header.frame_id,
                          lambda expected: cv.compressed_to_rgb(msg, expected), self._now(), cv.message_source(info))
        self._drain()

    def _drain(self) -> None:
        self.ingest.drain()

    # ------------------------------------------------------------------ outputs
    def status(self) -> dict:
        return {"keyframes": len(self.store), "scene_dir": str(self.scene_dir), "pending": len(self.pending),
                "queue_depth": self.p["queue_depth"], "qos_reliability": self.p["qos.reliability"],
                **dict(self.stats), "last_reason": self.last_reason, "last_error": self.last_error}

    def _on_save(self, request, response):
        try:
            self.store.flush()
            response.success = True
            response.message = json.dumps(self.status())
        except OSError as exc:
            response.success = False
            response.message = clip_message(f"could not write {self.store.meta_path}: {exc}")
        return response

    def _housekeeping(self) -> None:
        """Once a second: live keyframe parameters, transforms.json brought up to date, diagnostics."""
        self.ingest.cfg = self._config()
        try:
            if self.store.flush_due():
                self.store.flush()
        except OSError as exc:
            self.stats["store_errors"] += 1
            self.ingest.last_error = clip_message(f"could not write {self.store.meta_path}: {exc}")
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

    def destroy_node(self):
        try:
            self.store.close()
        except OSError:
            pass
        return super().destroy_node()

