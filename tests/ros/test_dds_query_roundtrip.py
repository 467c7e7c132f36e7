"""Two rclpy nodes in separate processes exchange an ``ovnerf_msgs/srv/Query`` over Fast DDS.

The server (tests/ros/query_server.py) runs in a child process; the client runs here. Both use
the run's isolated DDS world (localhost discovery, per-run ROS_DOMAIN_ID; see tests/conftest.py).
"""
import os
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.ros

SERVER = Path(__file__).with_name("query_server.py")


def test_query_request_response_over_dds(ros_env, spawn_ros_process):
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from ovnerf_msgs.srv import Query

    service = f"/ovnerf_test_{os.getpid()}/query"
    spawn_ros_process([SERVER, service], ready_line="READY", timeout=60)

    context = Context()
    rclpy.init(context=context)
    try:
        node = Node("ovnerf_test_query_client", context=context)
        assert rclpy.utilities.get_rmw_implementation_identifier() == "rmw_fastrtps_cpp"
        client = node.create_client(Query, service)
        assert client.wait_for_service(timeout_sec=30.0), "service not discovered over DDS"
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)

        def call(text):
            request = Query.Request(text=text, negatives=["wall", "floor"], threshold=0.3)
            future = client.call_async(request)
            executor.spin_until_future_complete(future, timeout_sec=30.0)
            assert future.done(), f"no response for {text!r}"
            return future.result()

        response = call("red mug")
        assert response.success is True
        assert response.message == "echo:red mug"
        assert response.score == pytest.approx(0.7)
        assert (response.centroid.x, response.centroid.y, response.centroid.z) == (7.0, -7.0, 0.5)
        assert (response.bbox_min.x, response.bbox_max.z) == (-1.0, 3.0)
        assert (response.mask.height, response.mask.width, response.mask.encoding) == (4, 3, "mono8")
        mask = np.frombuffer(bytes(response.mask.data), np.uint8).reshape(4, 3)
        np.testing.assert_array_equal(mask, 10 * np.arange(4)[:, None] + np.arange(3)[None, :])
        assert response.points.header.frame_id == "map"
        pts = np.frombuffer(bytes(response.points.data), np.float32).reshape(-1, 3)
        np.testing.assert_array_equal(pts, np.arange(7)[:, None] * np.array([1.0, 2.0, 3.0], np.float32))

        empty = call("")  # a second exchange on the same client: the server's failure path
        assert empty.success is False and empty.message == "echo:" and empty.points.width == 0
        executor.remove_node(node)
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


def test_ros_env_is_isolated(ros_env):
    """The run's DDS world: localhost discovery, a domain id in 1..100, Fast DDS."""
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert 1 <= int(os.environ["ROS_DOMAIN_ID"]) <= 100 or "OVNERF_TEST_ROS_DOMAIN_ID" in os.environ
    assert os.environ["RMW_IMPLEMENTATION"] == "rmw_fastrtps_cpp"
    assert ros_env["ROS_DOMAIN_ID"] == os.environ["ROS_DOMAIN_ID"]


def test_child_env_drops_bootstrap_guard(ros_child_env, monkeypatch):
    """A child must re-bootstrap LD_LIBRARY_PATH itself: the guard is never inherited."""
    monkeypatch.setenv("_ROS_WHEELS_BOOTSTRAP_COMPLETE", "1")
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    env = ros_child_env({"FOO": "bar"})
    assert "_ROS_WHEELS_BOOTSTRAP_COMPLETE" not in env
    assert env["FOO"] == "bar" and env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
