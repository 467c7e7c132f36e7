"""Collector node with an RGB-D camera, over real rclpy + Fast DDS (in-process executor thread):
depth (16UC1 mm / 32FC1 m) paired with the colour image by stamp and stored as PosedFrame.depth;
a depth image of the wrong size or encoding is rejected (counted, on /diagnostics) and the
colour frame is still stored, without depth; the node stays up."""
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSProfile
from sensor_msgs.msg import Image

from ovnerf.scene.store import SceneStore
from ovnerf_ros import conversions as cv

from ros_harness import Harness, wait_for
from test_collector import make_collector, texture, tf_track

DEPTH = "/camera/depth/image_raw"


@pytest.fixture
def rig():
    h = Harness()
    pub = h.driver.create_publisher(Image, DEPTH, QoSProfile(depth=50))
    yield h, pub
    h.close()


def depth_msg(stamp, array, encoding):
    return cv.array_to_image(array, encoding, cv.make_header("camera_color_optical_frame", cv.sec_to_stamp(stamp)))


def start(h, pub, tmp_path):
    node = make_collector(h, tmp_path, depth_topic=DEPTH)
    wait_for(lambda: pub.get_subscription_count() >= 1, what="depth subscription")
    tf_track(h, node, 1.0, 4.0)
    return node


def test_depth_16uc1_and_32fc1_stored_with_the_frame(rig, tmp_path):
    h, pub = rig
    node = start(h, pub, tmp_path)
    rng = np.random.default_rng(0)
    mm = rng.integers(300, 6000, (48, 64)).astype(np.uint16)
    mm[:4, :4] = 0                                              # unknown
    pub.publish(depth_msg(1.0, mm, "16UC1"))
    h.send_image(1.0, texture())
    wait_for(lambda: node.stats["keyframes_added"] == 1, what="keyframe 1")
    h.send_image(1.5, texture(seed=1))                          # colour first: it waits for its depth
    m = rng.uniform(0.5, 4.0, (48, 64)).astype(np.float32)
    m[10, :] = np.nan                                           # no return
    pub.publish(depth_msg(1.51, m, "32FC1"))                    # 10 ms off: paired within stamp_tolerance
    wait_for(lambda: node.stats["keyframes_added"] == 2, what="keyframe 2")
    frames = SceneStore(tmp_path / "scene", create=False).frames()
    assert node.stats["keyframes_with_depth"] == 2
    d0, d1 = frames[0].depth, frames[1].depth
    assert d0.dtype == np.float32 and d0.shape == (48, 64)
    assert np.array_equal(np.round(d0 * 1000).astype(np.uint16), mm)          # mm -> m exact
    assert np.array_equal(d0, mm.astype(np.float32) * np.float32(0.001))
    known = np.isfinite(m)
    assert np.all(d1[~known] == 0)
    assert np.abs(d1[known] - m[known]).max() <= 0.0005 + 1e-6                # store keeps whole mm
    assert np.array_equal(frames[1].image, texture(seed=1))


def test_bad_depth_is_rejected_and_the_frame_kept(rig, tmp_path):
    h, pub = rig
    node = start(h, pub, tmp_path)
    diags = []
    h.driver.create_subscription(DiagnosticArray, "/diagnostics", diags.append, 10)
    pub.publish(depth_msg(1.0, np.full((24, 32), 1000, np.uint16), "16UC1"))   # half size: not resized
    h.send_image(1.0, texture())
    wait_for(lambda: node.stats["keyframes_added"] == 1, what="keyframe without depth")
    assert node.stats["rejected_depth_size_mismatch"] == 1
    assert "does not match the colour image" in node.last_reason
    pub.publish(depth_msg(1.5, texture(), "rgb8"))              # wrong encoding for depth
    wait_for(lambda: node.stats["rejected_depth_encoding"] == 1, what="encoding rejection")
    assert "unsupported depth encoding 'rgb8'" in node.last_reason
    h.send_image(1.5, texture())                                # no depth comes: stored after pose_timeout
    wait_for(lambda: node.stats["keyframes_added"] == 2, what="keyframe after the timeout")
    pub.publish(depth_msg(2.0, np.full((48, 64), 2500, np.uint16), "16UC1"))
    h.send_image(2.0, texture())                                # the node is still up and pairs again
    wait_for(lambda: node.stats["keyframes_added"] == 3, what="keyframe with depth")
    frames = SceneStore(tmp_path / "scene", create=False).frames()
    assert [f.depth is not None for f in frames] == [False, False, True]
    assert np.all(frames[2].depth == np.float32(2.5))
    assert node.stats["keyframes_with_depth"] == 1

    def reported():
        vals = [{kv.key: kv.value for kv in st.values} for d in diags for st in d.status
                if st.name == "ovnerf: collector"]
        return any(v.get("rejected_depth_size_mismatch") == "1" and v.get("rejected_depth_encoding") == "1"
                   for v in vals)
    wait_for(reported, timeout=5, what="depth rejections on /diagnostics")
