"""Keyframe selection (motion thresholds + blur gate) and pose validation/interpolation maths."""
import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from ovnerf.errors import UserError
from ovnerf.scene.keyframes import KeyframeSelector, laplacian_variance, pose_delta
from ovnerf.scene.pose_interpolation import (TransformBuffer, TransformHistory, TransformLookupError, TransformNotYet,
                                             interpolate_pose, invert, validate_pose)


def _pose(t=(0, 0, 0), rotvec_deg=(0, 0, 0)):
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(np.radians(rotvec_deg)).as_matrix()
    T[:3, 3] = t
    return T


def _texture(seed=0, hw=(48, 64)):
    rng = np.random.default_rng(seed)
    return (rng.random((*hw, 3)) * 255).astype(np.uint8)


def test_laplacian_variance_drops_with_blur():
    img = _texture()
    blurred = cv2.GaussianBlur(img, (9, 9), 3.0)
    assert laplacian_variance(img) > 20 * laplacian_variance(blurred)
    assert laplacian_variance(np.full((10, 10, 3), 7, np.uint8)) == 0.0


def test_pose_delta_translation_and_angle():
    t, r = pose_delta(_pose((0, 0, 0)), _pose((0.3, 0.4, 0.0), (0, 0, 30)))
    assert t == pytest.approx(0.5)
    assert r == pytest.approx(30.0, abs=1e-6)


def test_selector_motion_thresholds_and_blur_gate():
    sel = KeyframeSelector(min_translation=0.1, min_rotation_deg=10.0, min_sharpness=50.0)
    img = _texture()
    d = sel.consider(img, _pose())
    assert d.accept and d.reason == "first keyframe"
    sel.commit(_pose())
    assert not sel.consider(img, _pose((0.05, 0, 0))).accept          # 5 cm < 10 cm
    assert sel.consider(img, _pose((0.12, 0, 0))).accept               # 12 cm
    assert sel.consider(img, _pose((0, 0, 0), (0, 12, 0))).accept      # 12 deg
    assert not sel.consider(img, _pose((0, 0, 0), (0, 8, 0))).accept
    blurred = cv2.GaussianBlur(img, (15, 15), 6.0)
    d = sel.consider(blurred, _pose((1.0, 0, 0)))
    assert not d.accept and "blurred" in d.reason
    # reference moves only on commit
    sel.commit(_pose((0.12, 0, 0)))
    assert not sel.consider(img, _pose((0.15, 0, 0))).accept


def test_validate_pose_rejects_bad_matrices():
    validate_pose(_pose((1, 2, 3), (10, 20, 30)))
    bad = _pose()
    bad[0, 0] = np.nan
    with pytest.raises(UserError, match="NaN"):
        validate_pose(bad)
    with pytest.raises(UserError, match="orthonormal"):
        validate_pose(np.diag([2.0, 1, 1, 1]))
    with pytest.raises(UserError, match="reflection"):
        validate_pose(np.diag([-1.0, 1, 1, 1]))


def test_interpolation_slerp_midpoint():
    a, b = _pose((0, 0, 0), (0, 0, 0)), _pose((2, 0, 0), (0, 0, 90))
    m = interpolate_pose(a, b, 0.5)
    assert np.allclose(m[:3, 3], [1, 0, 0])
    assert np.allclose(Rotation.from_matrix(m[:3, :3]).as_rotvec(), [0, 0, np.radians(45)])


def test_history_out_of_order_duplicates_and_no_extrapolation():
    h = TransformHistory()
    h.insert(2.0, _pose((2, 0, 0)))
    h.insert(1.0, _pose((1, 0, 0)))       # out of order
    h.insert(2.0, _pose((2, 0, 0)))       # duplicate
    assert len(h) == 2
    assert np.allclose(h.at(1.25)[:3, 3], [1.25, 0, 0])
    assert np.allclose(h.at(2.0)[:3, 3], [2, 0, 0])
    with pytest.raises(TransformNotYet, match="after the latest"):   # never the last pose: wait
        h.at(2.001)
    with pytest.raises(TransformLookupError, match="before the oldest") as e:
        h.at(0.999)
    assert not isinstance(e.value, TransformNotYet)


def test_buffer_chain_lookup_with_static_and_dynamic_edges():
    buf = TransformBuffer()
    T_base_cam = _pose((0.1, 0, 0.5), (-90, 0, -90))       # static optical mount
    buf.set_transform("base", "cam_optical", 0.0, T_base_cam, static=True)
    buf.set_transform("odom", "base", 1.0, _pose((0, 0, 0)))
    buf.set_transform("odom", "base", 2.0, _pose((1, 0, 0), (0, 0, 90)))
    buf.set_transform("map", "odom", 0.0, _pose((5, 0, 0)), static=True)
    T = buf.lookup("map", "cam_optical", 1.5)
    expect = _pose((5, 0, 0)) @ interpolate_pose(_pose(), _pose((1, 0, 0), (0, 0, 90)), 0.5) @ T_base_cam
    assert np.allclose(T, expect)
    assert np.allclose(buf.lookup("cam_optical", "map", 1.5), invert(expect))
    with pytest.raises(TransformNotYet, match="does not exist"):
        buf.lookup("map", "nope", 1.5)
    with pytest.raises(TransformLookupError):
        buf.lookup("map", "cam_optical", 9.0)
    buf.set_transform("world", "other", 0.0, _pose(), static=True)
    with pytest.raises(TransformLookupError, match="not connected"):
        buf.lookup("map", "other", 1.5)


def test_buffer_lookup_never_sees_half_an_insert_from_another_thread():
    """/tf inserts on its own thread while images are posed on another: a lookup made while an
    insert is half done (its stamp listed, its pose not yet) waits for it and answers from the
    whole sample. Deterministic: the insert is held between the two list updates by an Event
    (without the buffer's lock the lookup reads stamps and poses out of step: x = 1.33, not 0.5)."""
    import threading
    buf = TransformBuffer()
    for t in (0.0, 1.0, 2.0):
        buf.set_transform("map", "cam", t, _pose((t, 0, 0)))
    hist = buf._dynamic["cam"]
    inside, go = threading.Event(), threading.Event()

    class HeldList(list):
        def insert(self, i, x):
            super().insert(i, x)
            inside.set()
            go.wait(30)
    hist.stamps = HeldList(hist.stamps)
    writer = threading.Thread(target=buf.set_transform, args=("map", "cam", 0.25, _pose((0.25, 0, 0))))
    writer.start()
    assert inside.wait(30)
    got = []
    reader = threading.Thread(target=lambda: got.append(buf.lookup("map", "cam", 0.5, moving=True)))
    reader.start()
    reader.join(0.5)           # unlocked, it answers (wrongly) now; locked, it waits for the insert
    go.set()
    writer.join(30)
    reader.join(30)
    assert len(got) == 1 and np.allclose(got[0][:3, 3], [0.5, 0, 0])
    assert list(hist.stamps) == [0.0, 0.25, 1.0, 2.0] and len(hist.poses) == 4
