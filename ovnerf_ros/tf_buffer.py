"""``/tf`` and ``/tf_static`` into the frame ingest (message conversion only).

Subscribes ``/tf`` (reliable, volatile, depth 100, as tf2_ros) and ``/tf_static`` (reliable,
transient-local, depth 100) with ``tf2_msgs/TFMessage`` (built from ``msg_tf2/`` where no
tf2_msgs exists), converts each ``TransformStamped`` to a 4×4 and hands it to
:meth:`ovnerf.scene.ingest.FrameIngest.transform`, which keeps the tree (one parent per frame,
interpolation, never extrapolation: :class:`ovnerf.scene.pose_interpolation.TransformBuffer`)
and rejects, per sample and counted, NaN / non-unit quaternions (``tf_invalid``), future stamps,
a second parent, loops and static transforms for moving frames. The collector gives both
subscriptions their own callback group (as tf2_ros its own thread), so a keyframe write does not
stop them; ``/tf`` messages the KEEP_LAST queue still drops (more than 100 arrive while the /tf
callback cannot run: a starved process) are counted from each publisher's sequence numbers
(``tf_dds_lost``). We do not use ``tf2_ros``'s buffer: it cannot tell "not yet" from "never",
nor count or refuse single samples.
"""
from __future__ import annotations

from typing import Callable

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from tf2_msgs.msg import TFMessage

from ovnerf.errors import UserError
from ovnerf.scene.ingest import FrameIngest
from ovnerf_ros.conversions import message_source, stamp_to_sec, transform_to_matrix

TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE,
                    history=HistoryPolicy.KEEP_LAST)
TF_STATIC_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.TRANSIENT_LOCAL, history=HistoryPolicy.KEEP_LAST)


def feed_tf_message(ingest: FrameIngest, msg, static: bool, now: float | None) -> int:
    """Hand every transform of a TFMessage to ``ingest``; returns how many were refused."""
    bad = 0
    for ts in msg.transforms:
        parent, child = ts.header.frame_id, ts.child_frame_id
        try:
            T = transform_to_matrix(ts.transform, what=f"transform {parent[:60]} <- {child[:60]}")
        except UserError as exc:
            ingest.reject("tf_invalid", str(exc))
            bad += 1
            continue
        bad += not ingest.transform(parent, child, stamp_to_sec(ts.header.stamp), T, static, now)
    return bad


class TfSubscriber:
    """Feeds ``/tf`` and ``/tf_static`` into ``ingest``; ``now()`` is the node clock in seconds;
    ``on_update()`` runs after each message (in ``callback_group``: it must be thread-safe when
    that group is not the one that drains ``ingest``)."""

    def __init__(self, node: Node, ingest: FrameIngest, now: Callable[[], float], callback_group=None,
                 on_update: Callable[[], None] | None = None):
        self.ingest, self.now, self._on_update = ingest, now, on_update
        self.received = 0
        node.create_subscription(TFMessage, "/tf", self._on_tf, TF_QOS, callback_group=callback_group)
        node.create_subscription(TFMessage, "/tf_static", self._on_tf_static, TF_STATIC_QOS,
                                 callback_group=callback_group)

    def _on_tf(self, msg, info) -> None:
        source = message_source(info)
        if source is not None:
            self.ingest.transforms_lost(*source)
        self._feed(msg, False)

    def _on_tf_static(self, msg) -> None:
        self._feed(msg, True)

    def _feed(self, msg, static: bool) -> None:
        self.received += len(msg.transforms)
        feed_tf_message(self.ingest, msg, static, self.now())
        if self._on_update is not None:
            self._on_update()
