"""A stand-alone rclpy process serving ``ovnerf_msgs/srv/Query`` for the DDS round-trip test.

Usage: ``python query_server.py SERVICE_NAME``. Prints ``READY`` once the service exists, answers
every request deterministically from its text, and exits when stdin closes (or after 120 s).

Response, for request text ``t`` (n = len(t)):
  success = (t != ""), message = "echo:" + t, score = n / 10,
  centroid = (n, -n, 0.5), bbox_min = (-1,-2,-3), bbox_max = (1,2,3),
  mask = 4×3 mono8 image whose pixel (row r, col c) = 10*r + c, frame "map",
  points = PointCloud2 with n xyz float32 points (i, 2i, 3i).
"""
import sys
import threading

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import PointField

from ovnerf_msgs.srv import Query


def handle(request: Query.Request, response: Query.Response) -> Query.Response:
    text = request.text
    n = len(text)
    response.success = bool(text)
    response.message = "echo:" + text
    response.score = n / 10.0
    response.centroid.x, response.centroid.y, response.centroid.z = float(n), float(-n), 0.5
    response.bbox_min.x, response.bbox_min.y, response.bbox_min.z = -1.0, -2.0, -3.0
    response.bbox_max.x, response.bbox_max.y, response.bbox_max.z = 1.0, 2.0, 3.0
    mask = (10 * np.arange(4)[:, None] + np.arange(3)[None, :]).astype(np.uint8)
    response.mask.header.frame_id = "map"
    response.mask.height, response.mask.width = mask.shape
    response.mask.encoding = "mono8"
    response.mask.step = mask.shape[1]
    response.mask.data = mask.tobytes()
    pts = np.stack([np.arange(n), 2 * np.arange(n), 3 * np.arange(n)], axis=1).astype(np.float32)
    cloud = response.points
    cloud.header.frame_id = "map"
    cloud.height, cloud.width = 1, n
    cloud.fields = [PointField(name=a, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                    for i, a in enumerate("xyz")]
    cloud.point_step, cloud.row_step = 12, 12 * n
    cloud.is_dense = True
    cloud.data = pts.tobytes()
    return response


def main() -> int:
    service_name = sys.argv[1]
    rclpy.init()
    node = Node("ovnerf_test_query_server")
    node.create_service(Query, service_name, handle)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    print("READY", flush=True)
    deadline = node.get_clock().now().nanoseconds + 120 * 10**9
    while not stop.is_set() and node.get_clock().now().nanoseconds < deadline:
        executor.spin_once(timeout_sec=0.1)
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
