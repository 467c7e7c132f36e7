"""In-process ROS test harness: nodes under test + a driver node on a MultiThreadedExecutor
spinning in a background thread, over real rclpy + Fast DDS (no mocks)."""
from __future__ import annotations

import threading
import time

import numpy as np
import rclpy
from geometry_msgs.msg import TransformStamped
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile
from scipy.spatial.transform import Rotation
from sensor_msgs.msg import CameraInfo, Image

from ovnerf_ros import conversions as cv
from ovnerf_ros.parameters import load_defaults
from ovnerf_ros.tf_buffer import TF_QOS


def wait_for(cond, timeout=10.0, period=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(period)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def defaults(**overrides) -> dict:
    d = load_defaults()
    d.update(overrides)
    return d


def pose(t=(0, 0, 0), rotvec_deg=(0, 0, 0)) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(np.radians(rotvec_deg)).as_matrix()
    T[:3, 3] = t
    return T


def texture(h=48, w=64, seed=0) -> np.ndarray:
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


K64 = np.array([[50.0, 0, 32], [0, 50.0, 24], [0, 0, 1]])


class Harness:
    def __init__(self):
        from tf2_msgs.msg import TFMessage
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.executor = MultiThreadedExecutor(num_threads=4, context=self.context)
        self.driver = Node("ovnerf_test_driver", context=self.context)
        self.executor.add_node(self.driver)
        self.TFMessage = TFMessage
        self.pub_img = self.driver.create_publisher(Image, "/camera/color/image_raw", QoSProfile(depth=200))
        self.pub_info = self.driver.create_publisher(CameraInfo, "/camera/color/camera_info", QoSProfile(depth=10))
        self.pub_tf = self.driver.create_publisher(TFMessage, "/tf", TF_QOS)
        self.nodes = []
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self):
        try:
            self.executor.spin()
        except Exception:  # shutdown
            pass

    def add(self, node):
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def remove(self, node):
        self.executor.remove_node(node)
        node.destroy_node()
        self.nodes.remove(node)

    def wait_connected(self, node_count=1, tf=True):
        wait_for(lambda: self.pub_img.get_subscription_count() >= node_count
                 and self.pub_info.get_subscription_count() >= node_count
                 and (not tf or self.pub_tf.get_subscription_count() >= node_count),
                 what="subscriptions to match")

    def send_info(self, K=K64, h=48, w=64):
        self.pub_info.publish(cv.K_to_camera_info(K, h, w, cv.make_header("camera_color_optical_frame")))

    def send_tf(self, stamp, T, parent="map", child="camera_color_optical_frame", raw_quat=None):
        ts = TransformStamped()
        ts.header = cv.make_header(parent, cv.sec_to_stamp(stamp))
        ts.child_frame_id = child
        ts.transform = cv.matrix_to_transform(T)
        if raw_quat is not None:
            q = ts.transform.rotation
            q.x, q.y, q.z, q.w = (float(v) for v in raw_quat)
        self.pub_tf.publish(self.TFMessage(transforms=[ts]))

    def send_image(self, stamp, rgb, encoding="rgb8"):
        hdr = cv.make_header("camera_color_optical_frame", cv.sec_to_stamp(stamp))
        if encoding in ("rgb8", "bgr8"):
            msg = cv.array_to_image(rgb, encoding, hdr)
        else:  # hand-made buffers: rgba8 / bgra8 / mono8 / unknown
            if encoding == "rgba8":
                arr = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], 2)
            elif encoding == "bgra8":
                arr = np.concatenate([rgb[..., ::-1], np.full(rgb.shape[:2] + (1,), 255, np.uint8)], 2)
            elif encoding == "mono8":
                arr = rgb[..., 0]
            else:
                arr = rgb
            arr = np.ascontiguousarray(arr)
            msg = Image(header=hdr, height=arr.shape[0], width=arr.shape[1], encoding=encoding,
                        step=arr.shape[1] * (arr.shape[2] if arr.ndim == 3 else 1))
            msg.data = arr.tobytes()
        self.pub_img.publish(msg)

    def close(self):
        for n in list(self.nodes):
            self.remove(n)
        self.executor.shutdown(timeout_sec=2)
        self.driver.destroy_node()
        rclpy.shutdown(context=self.context)
        self._thread.join(timeout=5)


def remote_parameter_setter(h, node_name: str):
    """``set(name, value) -> SetParametersResult`` over DDS (like ``ros2 param set``)."""
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient
    client = AsyncParameterClient(h.driver, node_name)
    assert client.wait_for_services(timeout_sec=10.0)

    def set_remote(name, value):
        fut = client.set_parameters([Parameter(name, value=value)])
        wait_for(fut.done, what=f"set {name}")
        return fut.result().results[0]
    return set_remote
