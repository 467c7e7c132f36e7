"""A TF listener: ``tf2_ros`` when it is importable, else a small buffer of our own.

Fallback (the PyPI-wheel venv has no tf2_ros): subscribes ``/tf`` (reliable, volatile, depth 100,
as tf2_ros) and ``/tf_static`` (reliable, transient-local, depth 100) with ``tf2_msgs/TFMessage``
(built from ``msg_tf2/`` where no tf2_msgs exists), converts each ``TransformStamped`` to a 4×4
and stores it in :class:`ovnerf.scene.pose_interpolation.TransformBuffer` (per-edge time-sorted
history, slerp interpolation, chain composition). Transforms with NaN or a non-unit quaternion
are dropped and counted (``rejected``).

``lookup(target, source, stamp_s, tolerance) -> 4×4`` returns ``T_target_source`` or raises
:class:`~ovnerf.scene.pose_interpolation.TransformLookupError`.
"""
from __future__ import annotations

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from ovnerf.errors import UserError
from ovnerf.scene.pose_interpolation import TransformBuffer, TransformLookupError
from ovnerf_ros.conversions import stamp_to_sec, transform_to_matrix

TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE,
                    history=HistoryPolicy.KEEP_LAST)
TF_STATIC_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.TRANSIENT_LOCAL, history=HistoryPolicy.KEEP_LAST)


def tf2_ros_available() -> bool:
    try:
        import tf2_ros  # noqa: F401
        return True
    except ImportError:
        return False


def feed_tf_message(buffer: TransformBuffer, msg, static: bool) -> int:
    """Insert every transform of a TFMessage into ``buffer``; returns how many were rejected."""
    bad = 0
    for ts in msg.transforms:
        try:
            T = transform_to_matrix(ts.transform, what=f"transform {ts.header.frame_id} <- {ts.child_frame_id}")
            buffer.set_transform(ts.header.frame_id, ts.child_frame_id, stamp_to_sec(ts.header.stamp), T, static)
        except UserError:
            bad += 1
    return bad


class TfListener:
    """Keeps the transforms of ``/tf`` and ``/tf_static`` for :meth:`lookup`."""

    def __init__(self, node: Node, cache_s: float = 30.0, callback_group=None, on_update=None,
                 prefer_tf2_ros: bool = True):
        self.node = node
        self.rejected = 0
        self.received = 0
        self._on_update = on_update
        self.backend = "tf2_ros" if (prefer_tf2_ros and tf2_ros_available()) else "ovnerf"
        if self.backend == "tf2_ros":
            import tf2_ros
            from rclpy.duration import Duration
            self._tf2 = tf2_ros.Buffer(cache_time=Duration(seconds=cache_s))
            self._listener = tf2_ros.TransformListener(self._tf2, node, spin_thread=False)
            self.buffer = None
        else:
            from tf2_msgs.msg import TFMessage
            self.buffer = TransformBuffer(max_age=cache_s)
            node.create_subscription(TFMessage, "/tf", self._on_tf, TF_QOS, callback_group=callback_group)
            node.create_subscription(TFMessage, "/tf_static", self._on_tf_static, TF_STATIC_QOS,
                                     callback_group=callback_group)

    def _on_tf(self, msg) -> None:
        self._feed(msg, False)

    def _on_tf_static(self, msg) -> None:
        self._feed(msg, True)

    def _feed(self, msg, static: bool) -> None:
        self.received += len(msg.transforms)
        bad = feed_tf_message(self.buffer, msg, static)
        if bad:
            self.rejected += bad
            self.node.get_logger().warning(f"dropped {bad} invalid transform(s) (NaN or non-unit quaternion)",
                                           throttle_duration_sec=5.0)
        if self._on_update is not None:
            self._on_update()

    def lookup(self, target: str, source: str, stamp_s: float, tolerance: float = 0.0):
        if self.buffer is not None:
            return self.buffer.lookup(target, source, stamp_s, tolerance)
        import tf2_ros  # tf2_ros path: tf2 interpolates but never extrapolates
        from rclpy.time import Time
        try:
            ts = self._tf2.lookup_transform(target, source, Time(nanoseconds=int(round(stamp_s * 1e9))))
        except (tf2_ros.LookupException, tf2_ros.ConnectivityException, tf2_ros.ExtrapolationException) as exc:
            raise TransformLookupError(str(exc)) from None
        return transform_to_matrix(ts.transform)
