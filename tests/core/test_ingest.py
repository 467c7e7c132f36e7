"""Frame admission without ROS (ovnerf.scene.ingest): regression tests of issue #13's defects 1-4
(pose under TF lag, future stamps, bad TF, foreign poses), 6 (counted drops) and 7/8 (input
validation, counters). A fake clock drives the waiting; no timing in any assertion."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from ovnerf.errors import UserError
from ovnerf.scene.image_encoding import check_expected, decode_compressed
from ovnerf.scene.ingest import FrameIngest, IngestConfig, StampGaps, decoded
from ovnerf.scene.store import SceneStore

K = np.array([[50.0, 0, 32], [0, 50.0, 24], [0, 0, 1]])
H, W = 48, 64
NOW = 1000.0
CAM = "cam"


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def truth(t):
    """Ground-truth camera pose at time t: moving 1 m/s along x, yawing 20 deg/s."""
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler("z", 20 * t, degrees=True).as_matrix()
    T[:3, 3] = (t, 0.1 * t, 1.0)
    return T


def rgb(seed=0):
    return (np.random.default_rng(seed).random((H, W, 3)) * 255).astype(np.uint8)


def raw(img):
    def decode(expected):
        check_expected(*img.shape[:2], expected)
        return img
    return decode


@pytest.fixture
def rig(tmp_path):
    clock = Clock()
    ing = FrameIngest(SceneStore(tmp_path / "s"), IngestConfig(camera_frame=CAM, min_translation=0.0,
                                                               min_rotation_deg=0.0, pose_timeout=1.0,
                                                               max_pending=8), clock=clock)
    assert ing.camera_info(K, H, W)
    return ing, clock


def tf(ing, t, parent="map", child=CAM, T=None, static=False, now=NOW):
    return ing.transform(parent, child, t, truth(t) if T is None else T, static=static, now=now)


def pose_error(store, name, t):
    c2w = store.pose(name)
    dt = np.linalg.norm(c2w[:3, 3] - truth(t)[:3, 3])
    dr = np.degrees(np.linalg.norm(Rotation.from_matrix(c2w[:3, :3].T @ truth(t)[:3, :3]).as_rotvec()))
    return dt, dr


def test_defect1_lagging_tf_waits_and_interpolates(rig):
    """Images up to 40 ms after the newest TF wait for the next TF, then get the interpolated pose."""
    ing, clock = rig
    tf(ing, 1.0)
    stamps = [1.01, 1.02, 1.04]
    for t in stamps:                                    # all newer than the latest TF: must wait
        assert ing.image(t, CAM, raw(rgb()), now=NOW)
    assert ing.drain() == 0 and len(ing.store) == 0 and len(ing.pending) == 3
    tf(ing, 1.05)                                       # TF arrives 40 ms late: covers all three
    assert ing.drain() == 3
    assert len(ing.store) == 3
    for name, t in zip(ing.store.names(), stamps):
        dt, dr = pose_error(ing.store, name, t)
        assert dt < 1e-3 and dr < 0.1                   # interpolation error of a smooth motion
    assert ing.stats["rejected_no_pose_timeout"] == 0


def test_defect1_no_tf_after_the_image_is_a_counted_timeout_never_a_stale_pose(rig):
    ing, clock = rig
    tf(ing, 1.0)
    ing.image(1.01, CAM, raw(rgb()), now=NOW)           # 10 ms after the last TF
    clock.t = 0.9
    assert ing.drain() == 0                             # still waiting (timeout 1 s)
    clock.t = 1.1
    assert ing.drain() == 1
    assert len(ing.store) == 0 and ing.stats["rejected_no_pose_timeout"] == 1
    ing.image(0.5, CAM, raw(rgb()), now=NOW)            # late and before the history: no pose
    ing.drain()
    assert ing.stats["rejected_no_pose"] == 1
    ing.image(1.02, CAM, raw(rgb()), now=NOW)
    tf(ing, 1.03)
    ing.drain()
    assert len(ing.store) == 1
    assert pose_error(ing.store, ing.store.names()[0], 1.02)[0] < 1e-3


def test_image_before_the_oldest_tf_is_dropped_at_once(rig):
    ing, clock = rig
    tf(ing, 2.0)
    ing.image(1.5, CAM, raw(rgb()), now=NOW)
    assert ing.drain() == 1 and ing.stats["rejected_no_pose"] == 1


@pytest.mark.parametrize("stamp", [NOW + 3600 * 24 * 365 * 10, float("nan"), 0.0])
def test_defect2_a_future_or_invalid_image_stamp_does_not_blind_the_collector(rig, stamp):
    ing, clock = rig
    tf(ing, 1.0)
    tf(ing, 3.0)
    assert not ing.image(stamp, CAM, raw(rgb()), now=NOW)
    assert ing.newest is None                           # untouched
    for i, t in enumerate((1.5, 2.0, 2.5)):
        assert ing.image(t, CAM, raw(rgb(i)), now=NOW)
    ing.drain()
    assert len(ing.store) == 3
    key = "future_stamp" if stamp > NOW else "bad_stamp"
    assert ing.skips() == {key: 1}


def test_defect3_a_future_tf_does_not_purge_the_history(rig):
    ing, clock = rig
    ing.tf.max_age = 10.0
    for t in (1.0, 2.0):
        tf(ing, t)
    assert not tf(ing, NOW + 1e6)                      # 2036-like stamp: refused, counted
    assert ing.stats["rejected_tf_future_stamp"] == 1
    ing.image(1.5, CAM, raw(rgb()), now=NOW)
    ing.drain()
    assert len(ing.store) == 1 and pose_error(ing.store, "kf_000000", 1.5)[0] < 1e-3


def test_defect3_an_inverted_edge_is_refused_not_a_loop(rig):
    ing, clock = rig
    tf(ing, 1.0)
    tf(ing, 2.0)
    assert not ing.transform(CAM, "map", 1.5, np.eye(4), now=NOW)   # camera <- map: would close a loop
    assert ing.stats["rejected_tf_loop"] == 1
    ing.image(1.5, CAM, raw(rgb()), now=NOW)
    ing.drain()
    assert len(ing.store) == 1


def test_defect4_foreign_parent_and_static_for_a_moving_frame_are_refused(rig):
    ing, clock = rig
    tf(ing, 1.0)
    far = np.eye(4)
    far[:3, 3] = (96.5, 0, 0)
    assert not tf(ing, 1.5, parent="odom", T=far)                    # odom <- camera: another parent
    assert not tf(ing, 0.0, T=far, static=True)                      # /tf_static for the moving camera
    tf(ing, 2.0)
    ing.image(1.5, CAM, raw(rgb()), now=NOW)
    ing.drain()
    assert ing.stats["rejected_tf_parent_conflict"] == 1
    assert ing.stats["rejected_tf_static_for_moving_frame"] == 1
    assert len(ing.store) == 1 and pose_error(ing.store, "kf_000000", 1.5)[0] < 1e-3


def test_chain_with_static_mount_and_unrelated_frames(rig):
    ing, clock = rig
    ing.cfg.camera_frame = "optical"
    mount = np.eye(4)
    mount[:3, 3] = (0.1, 0, 0)
    ing.transform(CAM, "optical", 0.0, mount, static=True, now=NOW)
    for t in (1.0, 2.0):
        tf(ing, t)
        tf(ing, t, parent="odom", child="base")                      # an unrelated tree: ignored
    ing.image(1.25, "optical", raw(rgb()), now=NOW)
    ing.drain()
    c2w = ing.store.pose("kf_000000")
    assert np.allclose(c2w, _interp(1.25) @ mount, atol=1e-6)


def _interp(t):
    return truth(t)  # the history's slerp of a constant-rate yaw is exact


def test_overflow_and_camera_info_are_counted(tmp_path):
    clock = Clock()
    ing = FrameIngest(SceneStore(tmp_path), IngestConfig(camera_frame=CAM, max_pending=2, pose_timeout=1.0),
                      clock=clock)
    for t in (1.0, 1.1, 1.2):
        ing.image(t, CAM, raw(rgb()), now=NOW)
    assert ing.stats["rejected_overflow"] == 1 and len(ing.pending) == 2
    clock.t = 2.0
    ing.drain()
    assert ing.stats["rejected_no_camera_info"] == 2
    assert not ing.camera_info(np.diag([1e308, 1e308, 1.0]), H, W)   # defect 7: fx = 1e308
    assert not ing.camera_info(K, 0, W)
    assert ing.K is None and ing.stats["rejected_camera_info"] == 2
    assert ing.skips() == {"overflow": 1, "no_camera_info": 2, "camera_info": 2}


def test_side_images_pair_and_bad_ones_cost_only_themselves(tmp_path):
    clock = Clock()
    ing = FrameIngest(SceneStore(tmp_path), IngestConfig(camera_frame=CAM, min_translation=0.0,
                                                         side_streams=("depth",)), clock=clock)
    ing.camera_info(K, H, W)
    tf(ing, 1.0)
    tf(ing, 2.0)
    ing.side_image("depth", 1.01, decoded(np.full((H, W), 2.0, np.float32)))
    ing.image(1.0, CAM, raw(rgb()), now=NOW)
    ing.side_image("depth", 1.5, decoded(np.ones((4, 4), np.float32)))       # wrong size
    ing.image(1.5, CAM, raw(rgb(1)), now=NOW)
    ing.drain(final=True)
    frames = ing.store.frames()
    assert len(frames) == 2 and np.all(frames[0].depth == 2.0) and frames[1].depth is None
    assert ing.stats["rejected_depth_size_mismatch"] == 1 and ing.stats["keyframes_with_depth"] == 1


def test_stamp_gaps_estimate_upstream_loss():
    g = StampGaps()
    lost = sum(g.add(0.01 * i) for i in range(20))
    assert lost == 0
    assert g.add(0.19 + 0.05) == 4                      # 5 periods later: 4 frames missing


def test_compressed_header_is_checked_before_decoding():
    import cv2
    big = cv2.imencode(".png", np.zeros((4000, 4000), np.uint8))[1]          # 16 Mpx of zeros: ~50 kB
    with pytest.raises(UserError, match="camera_info says 64x48"):
        decode_compressed(big, "png", expected=(H, W))
    jpg = cv2.imencode(".jpg", rgb())[1]
    assert decode_compressed(jpg, "jpeg", expected=(H, W)).shape == (H, W, 3)
    with pytest.raises(UserError, match="compressedDepth"):
        decode_compressed(cv2.imencode(".png", np.zeros((H, W), np.uint16))[1], "16UC1; compressedDepth png")
    with pytest.raises(UserError, match="truncated|neither"):
        decode_compressed(bytes(big[:20]), "png")


def test_stale_static_transform_is_replaced_once_the_frame_moves(rig):
    ing, clock = rig
    far = np.eye(4)
    far[:3, 3] = (46.5, 0, 0)
    assert tf(ing, 0.0, T=far, static=True)             # a latched /tf_static arrives first
    for t in (1.0, 2.0):
        assert tf(ing, t)                                # the camera moves: /tf wins, counted once
    ing.image(1.5, CAM, raw(rgb()), now=NOW)
    ing.drain()
    assert ing.stats["rejected_tf_static_for_moving_frame"] == 1
    assert len(ing.store) == 1 and pose_error(ing.store, "kf_000000", 1.5)[0] < 1e-3


def test_image_before_the_first_tf_waits_instead_of_taking_a_stale_static_pose(rig):
    """The race the fuzz test found under load: a latched /tf_static for the moving camera is
    replayed at (re)start, an image arrives before the first /tf: it must wait for /tf, not be
    stored with the static pose."""
    ing, clock = rig
    far = np.eye(4)
    far[:3, 3] = (46.5, 0, 0)
    assert tf(ing, 0.0, T=far, static=True)             # the stale latched /tf_static
    ing.image(1.5, CAM, raw(rgb()), now=NOW)
    ing.drain()
    assert len(ing.store) == 0 and len(ing.pending) == 1   # waits: only static edges so far
    for t in (1.0, 2.0):
        assert tf(ing, t)
    ing.drain()
    assert len(ing.store) == 1 and pose_error(ing.store, "kf_000000", 1.5)[0] < 1e-3


def test_camera_fixed_by_static_transforms_only_times_out_counted(rig):
    ing, clock = rig
    assert tf(ing, 0.0, static=True)
    ing.image(1.5, CAM, raw(rgb()), now=NOW)
    ing.drain()
    assert len(ing.pending) == 1
    clock.t += 100.0
    ing.drain()
    assert len(ing.store) == 0 and ing.stats["rejected_no_pose_timeout"] == 1


def test_swapped_and_late_arrivals_are_admitted_with_their_own_pose(rig):
    ing, clock = rig
    tf(ing, 1.0)
    for t in (1.2, 1.1, 1.3):                           # 1.1 arrives after 1.2 (executor / transport swap)
        assert ing.image(t, CAM, raw(rgb()), now=NOW)
    assert [p.stamp for p in ing.pending] == [1.1, 1.2, 1.3]
    tf(ing, 1.25)
    ing.drain()                                          # 1.1 and 1.2 stored in stamp order
    assert ing.image(1.15, CAM, raw(rgb()), now=NOW)     # late (a retransmission): still admitted
    assert not ing.image(1.3, CAM, raw(rgb()), now=NOW)   # already queued
    assert not ing.image(1.2, CAM, raw(rgb()), now=NOW)   # already stored
    tf(ing, 1.4)
    ing.drain()
    stamps = [ing.store.load(n).timestamp for n in ing.store.names()]
    assert stamps == [1.1, 1.2, 1.15, 1.3]
    for name, t in zip(ing.store.names(), stamps):
        assert pose_error(ing.store, name, t)[0] < 1e-3
    assert ing.skips() == {"duplicate": 2}


def test_sequence_gaps_count_messages_lost_per_publisher(rig):
    ing, clock = rig
    tf(ing, 1.0)
    for k, (t, seq) in enumerate([(1.1, 1), (1.2, 2), (1.3, 5), (1.4, 6)]):   # 3 and 4 lost in the queue
        ing.image(t, CAM, raw(rgb()), now=NOW, source=(b"cam", seq))
    ing.image(1.5, CAM, raw(rgb()), now=NOW, source=(b"other", 40))           # another publisher: no gap
    ing.image(1.6, CAM, raw(rgb()), now=NOW, source=(b"cam", 1))              # restarted publisher
    assert ing.stats["rejected_dds_lost"] == 2


def test_tf_messages_lost_in_the_queue_are_counted_apart_from_images(rig):
    ing, clock = rig
    for seq in (7, 8, 12, 13):                                  # 9, 10, 11 dropped by the /tf queue
        ing.transforms_lost(b"robot_state_publisher", seq)
    ing.transforms_lost(b"odometry", 500)                       # another /tf publisher: no gap
    ing.image(1.1, CAM, raw(rgb()), now=NOW, source=(b"camera", 1))
    ing.image(1.2, CAM, raw(rgb()), now=NOW, source=(b"camera", 2))
    assert ing.stats["rejected_tf_dds_lost"] == 3 and ing.stats["rejected_dds_lost"] == 0
    assert "/tf message(s) lost" in ing.last_reason
