"""A minimal ROS 2 bag player (rclpy publishers fed by rosbags' AnyReader), for the end-to-end test.

Usage: python bag_player.py BAG [--rate HZ] [--labels-scene SCENE_DIR] [--labels-topic TOPIC]
                             [--wait-depth]

Publishes /tf_static (transient local), /tf, /camera/color/camera_info,
/camera/color/image_raw and, when the bag has it, /camera/depth/image_raw (the RGB-D camera's
aligned depth, 16UC1 mm, passed through byte for byte; it precedes its colour image in the bag)
with the bag's header stamps, in bag order, at most --rate messages per second per image. With
--labels-scene it also publishes the scene's ground-truth label PNG of each image (mono8, same
stamp) on --labels-topic: a simulated semantic camera. Waits for a subscriber on the image topic
(and, with --wait-depth, on the depth topic), prints ``DONE <images> <depth images>`` when
finished and exits.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import CameraInfo, Image
from tf2_msgs.msg import TFMessage
from geometry_msgs.msg import TransformStamped

from ovnerf.synthetic.bag_export import DEPTH_TOPIC
from ovnerf.scene.store import SceneStore
from ovnerf_ros import conversions as cv
from ovnerf_ros.tf_buffer import TF_QOS, TF_STATIC_QOS


def to_header(h):
    from builtin_interfaces.msg import Time
    return cv.make_header(h.frame_id, Time(sec=int(h.stamp.sec), nanosec=int(h.stamp.nanosec)))


def to_image(msg) -> Image:
    """The bag's Image as an rclpy message: same header, encoding, step and bytes."""
    img = Image(header=to_header(msg.header), height=msg.height, width=msg.width, encoding=msg.encoding,
                is_bigendian=int(msg.is_bigendian), step=msg.step)
    img.data = np.asarray(msg.data, dtype=np.uint8).tobytes()
    return img


def to_tf(msg) -> TFMessage:
    out = TFMessage()
    for ts in msg.transforms:
        t, q = ts.transform.translation, ts.transform.rotation
        m = TransformStamped(header=to_header(ts.header), child_frame_id=ts.child_frame_id)
        m.transform.translation.x, m.transform.translation.y, m.transform.translation.z = float(t.x), float(t.y), float(t.z)
        m.transform.rotation.x, m.transform.rotation.y = float(q.x), float(q.y)
        m.transform.rotation.z, m.transform.rotation.w = float(q.z), float(q.w)
        out.transforms.append(m)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("bag")
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--labels-scene", default="")
    ap.add_argument("--labels-topic", default="/camera/semantic/labels")
    ap.add_argument("--wait-depth", action="store_true", help="also wait for a subscriber on the depth topic")
    a = ap.parse_args()
    labels = {}
    if a.labels_scene:
        store = SceneStore(a.labels_scene, create=False)
        for f in store.frames():
            labels[round(f.timestamp, 6)] = np.where(f.labels < 0, 255, f.labels).astype(np.uint8)
    rclpy.init()
    node = Node("ovnerf_test_bag_player")
    pub_tf = node.create_publisher(TFMessage, "/tf", TF_QOS)
    pub_static = node.create_publisher(TFMessage, "/tf_static", TF_STATIC_QOS)
    pub_info = node.create_publisher(CameraInfo, "/camera/color/camera_info", QoSProfile(depth=10))
    pub_img = node.create_publisher(Image, "/camera/color/image_raw", QoSProfile(depth=10))
    pub_lab = node.create_publisher(Image, a.labels_topic, QoSProfile(depth=10))
    pub_depth = node.create_publisher(Image, DEPTH_TOPIC, QoSProfile(depth=10))
    deadline = time.monotonic() + 60
    waited = [pub_img, pub_tf] + ([pub_depth] if a.wait_depth else [])
    while any(p.get_subscription_count() == 0 for p in waited):
        if time.monotonic() > deadline:
            print("no subscriber", file=sys.stderr)
            return 1
        time.sleep(0.1)
    time.sleep(0.5)
    n_img = n_depth = 0
    with AnyReader([Path(a.bag)], default_typestore=get_typestore(Stores.ROS2_HUMBLE)) as reader:
        for conn, _, raw in reader.messages():
            msg = reader.deserialize(raw, conn.msgtype)
            if conn.topic == "/tf":
                pub_tf.publish(to_tf(msg))
            elif conn.topic == "/tf_static":
                pub_static.publish(to_tf(msg))
            elif conn.topic == "/camera/color/camera_info":
                K = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
                pub_info.publish(cv.K_to_camera_info(K, msg.height, msg.width, to_header(msg.header)))
            elif conn.topic == DEPTH_TOPIC:
                pub_depth.publish(to_image(msg))
                n_depth += 1
            elif conn.topic == "/camera/color/image_raw":
                img = to_image(msg)
                hdr = img.header
                stamp = round(cv.stamp_to_sec(hdr.stamp), 6)
                time.sleep(0.05)   # let the matching /tf arrive first (it precedes in the bag)
                if stamp in labels:
                    pub_lab.publish(cv.array_to_image(labels[stamp], "mono8", hdr))
                pub_img.publish(img)
                n_img += 1
                time.sleep(1.0 / a.rate)
    time.sleep(1.0)
    print(f"DONE {n_img} {n_depth}", flush=True)
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
