"""Depth image decoding (16UC1 mm / 32FC1 m → float32 m, 0 = unknown) and stamp pairing of side
streams (StampedBuffer: nearest within tolerance, 'moved past' readiness, pruning)."""
import numpy as np
import pytest

from ovnerf.errors import UserError
from ovnerf.scene.depth_image import decode_depth, encode_depth_mm
from ovnerf.scene.image_encoding import encode
from ovnerf.scene.stamp_match import StampedBuffer
from ovnerf.scene.store import SceneStore
from ovnerf.scene.frames import PosedFrame


def test_decode_16uc1_is_exact_through_the_store(tmp_path):
    mm = np.random.default_rng(0).integers(0, 8000, (6, 8)).astype(np.uint16)
    mm[0, :3] = 0
    z = decode_depth("16UC1", *encode(mm, "16UC1"))
    assert z.dtype == np.float32 and z.shape == (6, 8) and np.all(z[0, :3] == 0)
    np.testing.assert_allclose(z, mm / 1000.0, rtol=1e-6)
    store = SceneStore(tmp_path)
    store.add_frame(PosedFrame("a", np.zeros((6, 8, 3), np.uint8), np.eye(3), np.eye(4), depth=z))
    assert np.array_equal(store.load("a").depth, z)          # bit-exact round trip
    assert np.array_equal(encode_depth_mm(z), mm)
    big = mm.byteswap().tobytes()                            # big-endian buffer
    assert np.array_equal(decode_depth("16UC1", 6, 8, 16, big, is_bigendian=True), z)


def test_decode_32fc1_unknowns_and_bad_encoding():
    m = np.array([[1.25, np.nan, -1.0], [np.inf, 0.0, 3.5]], np.float32)
    z = decode_depth("32FC1", *encode(m, "32FC1"))
    assert np.array_equal(z, np.array([[1.25, 0, 0], [0, 0, 3.5]], np.float32))
    assert np.array_equal(encode_depth_mm(m), np.array([[1250, 0, 0], [0, 0, 3500]], np.uint16))
    for enc, arr in (("rgb8", np.zeros((2, 3, 3), np.uint8)), ("mono8", np.zeros((2, 3), np.uint8))):
        with pytest.raises(UserError, match="unsupported depth encoding"):
            decode_depth(enc, *encode(arr, enc))


def test_stamped_buffer_nearest_ready_prune():
    b = StampedBuffer(capacity=4)
    assert not b.ready(1.0, 0.05) and b.take(1.0, 0.05) is None
    for t in (0.90, 1.02, 1.04, 1.10):
        b.put(t, t)
    assert b.ready(1.0, 0.05)
    assert b.take(1.0, 0.05) == 1.02                          # nearest within tolerance; 0.90 pruned
    assert len(b) == 2
    assert not b.ready(1.2, 0.05)                             # 1.2's image may still come
    b.put(1.30, 1.30)
    assert b.ready(1.2, 0.05) and b.take(1.2, 0.05) is None   # the stream moved past 1.2
    assert len(b) == 1                                        # 1.04, 1.10 dropped
    b.put(1.4, "a")
    b.put(1.6, "b")
    assert b.take(1.5, 0.1) == "a"                            # tie: the earlier one
    for t in range(10):
        b.put(2.0 + t, t)
    assert len(b) == 4 and b.take(11.0, 0.0) == 9             # capacity: oldest stamps dropped
