"""Message conversions (no DDS): images in every supported encoding, CameraInfo, poses,
PointCloud2, markers, and TFMessage feeding (invalid transforms dropped)."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from sensor_msgs.msg import CompressedImage, Image

from ovnerf.errors import UserError
from ovnerf_ros import conversions as cv


def _rgb(h=5, w=7, seed=0):
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


def _raw(arr, encoding, pad=0):
    arr = np.ascontiguousarray(arr)
    ch = arr.shape[2] if arr.ndim == 3 else 1
    row = arr.shape[1] * ch * arr.itemsize
    data = np.zeros((arr.shape[0], row + pad), np.uint8)
    data[:, :row] = arr.view(np.uint8).reshape(arr.shape[0], row)
    m = Image(height=arr.shape[0], width=arr.shape[1], encoding=encoding, step=row + pad)
    m.data = data.tobytes()
    return m


def test_color_encodings_decode_to_rgb():
    rgb = _rgb()
    alpha = np.full(rgb.shape[:2] + (1,), 9, np.uint8)
    assert np.array_equal(cv.image_to_rgb(_raw(rgb, "rgb8", pad=3)), rgb)          # row padding ignored
    assert np.array_equal(cv.image_to_rgb(_raw(rgb[..., ::-1], "bgr8")), rgb)
    assert np.array_equal(cv.image_to_rgb(_raw(np.concatenate([rgb, alpha], 2), "rgba8")), rgb)
    assert np.array_equal(cv.image_to_rgb(_raw(np.concatenate([rgb[..., ::-1], alpha], 2), "bgra8")), rgb)
    mono = cv.image_to_rgb(_raw(rgb[..., 1], "mono8"))
    assert np.array_equal(mono, np.repeat(rgb[..., 1:2], 3, 2))


def test_bad_images_raise_user_errors():
    with pytest.raises(UserError, match="unsupported colour image encoding 'yuv422'"):
        cv.image_to_rgb(_raw(_rgb(), "yuv422"))
    m = _raw(_rgb(), "rgb8")
    m.data = bytes(m.data)[:-5]
    with pytest.raises(UserError, match="bytes"):
        cv.image_to_rgb(m)
    m = _raw(_rgb(), "rgb8")
    m.step = 3
    with pytest.raises(UserError, match="step"):
        cv.image_to_rgb(m)
    with pytest.raises(UserError, match="decode"):
        cv.compressed_to_rgb(CompressedImage(format="jpeg", data=b"garbage"))


def test_output_encodings_round_trip_and_compressed():
    import cv2
    depth = np.random.default_rng(1).random((4, 6)).astype(np.float32)
    assert np.array_equal(cv.image_to_array(cv.array_to_image(depth, "32FC1")), depth)
    lab = np.arange(24, dtype=np.uint16).reshape(4, 6) * 1000
    m = cv.array_to_image(lab, "mono16")
    assert m.step == 12 and np.array_equal(cv.image_to_array(m), lab)
    rgb = _rgb()
    assert np.array_equal(cv.image_to_rgb(cv.array_to_image(rgb, "bgr8")), rgb)
    ok, png = cv2.imencode(".png", rgb[..., ::-1])
    assert np.array_equal(cv.compressed_to_rgb(CompressedImage(format="png", data=png.tobytes())), rgb)
    big = cv.image_to_array(_raw(lab.astype(">u2"), "mono16"))  # big-endian flag handled
    m = _raw(lab.astype(">u2"), "mono16")
    m.is_bigendian = 1
    assert np.array_equal(cv.image_to_array(m), lab) and big.dtype == np.uint16


def test_camera_info_and_poses():
    K = np.array([[100.0, 0, 31.5], [0, 101.0, 23.5], [0, 0, 1]])
    K2, h, w = cv.camera_info_to_K(cv.K_to_camera_info(K, 48, 64))
    assert np.array_equal(K2, K) and (h, w) == (48, 64)
    with pytest.raises(UserError, match="empty image size"):
        cv.camera_info_to_K(cv.K_to_camera_info(K, 0, 64))
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec([0.3, -0.2, 1.0]).as_matrix()
    T[:3, 3] = [1, 2, 3]
    assert np.allclose(cv.pose_to_matrix(cv.matrix_to_pose(T)), T)
    assert np.allclose(cv.transform_to_matrix(cv.matrix_to_transform(T)), T)
    p = cv.matrix_to_pose(T)
    p.orientation.w = 3.0
    with pytest.raises(UserError, match="unit quaternion"):
        cv.pose_to_matrix(p)
    p = cv.matrix_to_pose(T)
    p.position.z = float("inf")
    with pytest.raises(UserError, match="NaN or infinite"):
        cv.pose_to_matrix(p)
    t = 1234.56789
    assert cv.stamp_to_sec(cv.sec_to_stamp(t)) == pytest.approx(t, abs=1e-9)
    st = cv.sec_to_stamp(1002.9999999999)                # rounds up to 1003 s 0 ns (was 1002 s 0 ns)
    assert (st.sec, st.nanosec) == (1003, 0) and cv.stamp_to_sec(st) == pytest.approx(1003.0)
    bad = cv.sec_to_stamp(5.0)
    bad.nanosec = 1_500_000_000                          # not normalised: NaN, rejected by every consumer
    assert np.isnan(cv.stamp_to_sec(bad))


def test_point_cloud_and_markers():
    pts = np.random.default_rng(2).random((50, 3)).astype(np.float32)
    cols = (np.random.default_rng(3).random((50, 3)) * 255).astype(np.uint8)
    msg = cv.points_to_cloud(pts, cols, cv.make_header("map"))
    assert msg.point_step == 16 and msg.width == 50 and [f.name for f in msg.fields] == ["x", "y", "z", "rgb"]
    xyz, rgb = cv.cloud_to_points(msg)
    assert np.array_equal(xyz, pts) and np.array_equal(rgb, cols)
    ma = cv.query_markers("table", (1, 2, 0.5), (0.5, 1.5, 0), (1.5, 2.5, 1.0), np.eye(4), cv.make_header("map"))
    types = [m.type for m in ma.markers]
    from visualization_msgs.msg import Marker
    assert ma.markers[0].action == Marker.DELETEALL
    assert Marker.CUBE in types and Marker.TEXT_VIEW_FACING in types and Marker.ARROW in types
    box = [m for m in ma.markers if m.type == Marker.CUBE][0]
    assert (box.scale.x, box.scale.y, box.scale.z) == pytest.approx((1.0, 1.0, 1.0))


def test_tf_message_feeding_drops_invalid(tmp_path):
    from geometry_msgs.msg import TransformStamped
    from tf2_msgs.msg import TFMessage
    from ovnerf_ros.tf_buffer import feed_tf_message
    good = TransformStamped(child_frame_id="cam")
    good.header.frame_id = "map"
    good.header.stamp = cv.sec_to_stamp(1.0)
    good.transform = cv.matrix_to_transform(np.eye(4))
    bad = TransformStamped(child_frame_id="cam2")
    bad.header.frame_id = "map"
    bad.transform.rotation.w = float("nan")
    from ovnerf.scene.ingest import FrameIngest, IngestConfig
    from ovnerf.scene.store import SceneStore
    ing = FrameIngest(SceneStore(tmp_path), IngestConfig())
    assert feed_tf_message(ing, TFMessage(transforms=[good, bad]), static=False, now=2.0) == 1
    assert np.allclose(ing.tf.lookup("map", "cam", 1.0), np.eye(4)) and "cam2" not in ing.tf.frames()
    assert ing.stats["rejected_tf_invalid"] == 1


def test_depth_and_label_images():
    mm = np.arange(35, dtype=np.uint16).reshape(5, 7) * 100
    z = cv.image_to_depth(_raw(mm, "16UC1", pad=2))             # padded rows
    assert z.dtype == np.float32 and np.array_equal(z, mm.astype(np.float32) * np.float32(0.001))
    m = np.full((5, 7), 2.5, np.float32)
    m[1, 2] = np.nan
    z = cv.image_to_depth(_raw(m, "32FC1"))
    assert z[1, 2] == 0 and z[0, 0] == 2.5
    with pytest.raises(UserError, match="depth encoding 'mono16'"):
        cv.image_to_depth(_raw(mm, "mono16"))
    lab = np.array([[0, 3, 255]], np.uint8)
    assert cv.image_to_labels(_raw(lab, "mono8")).tolist() == [[0, 3, -1]]
    with pytest.raises(UserError, match="mono8"):
        cv.image_to_labels(_raw(mm, "16UC1"))
