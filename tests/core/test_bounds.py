import numpy as np

from ovnerf.scene.bounds import scene_bounds
from ovnerf.scene.conventions import look_at
from ovnerf.scene.frames import PosedFrame

K = np.array([[30.0, 0, 16.0], [0, 30.0, 12.0], [0, 0, 1]])


def _plane_depth(c2w, H=24, W=32):
    """Depth map of the ground plane z=0 seen from c2w (metres along the optical axis)."""
    v, u = np.mgrid[0:H, 0:W]
    d_cam = np.stack([(u + 0.5 - K[0, 2]) / K[0, 0], (v + 0.5 - K[1, 2]) / K[1, 1], np.ones((H, W))], -1)
    d_w = d_cam @ c2w[:3, :3].T
    s = -c2w[2, 3] / d_w[..., 2]  # ray parameter where z=0 (d_cam has z=1 → s is z-depth)
    return np.where(s > 0, s, 0).astype(np.float32)


def test_depth_bounds_are_tight_and_inside_pose_bounds():
    c2ws = [look_at([2 * np.cos(a), 2 * np.sin(a), 1.5], [0, 0, 0]) for a in np.linspace(0, 2 * np.pi, 8, endpoint=False)]
    frames = [PosedFrame(f"f{i}", np.zeros((24, 32, 3), np.uint8), K, c, depth=_plane_depth(c)) for i, c in enumerate(c2ws)]
    lo, hi = scene_bounds(frames, margin=0.0, percentile=0.0, max_depth=10.0)
    assert abs(lo[2]) < 1e-3 and abs(hi[2]) < 1e-3  # all depth points lie on z=0
    assert hi[0] - lo[0] > 1.0  # the visible floor patch spans metres
    plo, phi = scene_bounds(frames, depth=False, max_depth=10.0, margin=0.0)
    assert np.all(plo <= lo + 1e-6) and np.all(phi >= hi - 1e-6)  # depth bounds are tighter
    # pose-only bounds contain all camera centres and are grown by the margin
    centres = np.stack(c2ws)[:, :3, 3]
    assert np.all(centres >= plo) and np.all(centres <= phi)
    mlo, mhi = scene_bounds(frames, depth=False, max_depth=10.0, margin=0.1)
    np.testing.assert_allclose(mhi - mlo, 1.2 * (phi - plo))


def test_from_c2ws_with_and_without_intrinsics():
    c2ws = np.stack([look_at([0, 0, 1], [0, 1, 1]), look_at([1, 0, 1], [1, 1, 1])])
    lo, hi = scene_bounds(c2ws, K=K, hw=(24, 32), max_depth=2.0, margin=0.0)
    # frustum reaches y = 1 + 2 (cameras look along +y, far plane at 2 m)
    np.testing.assert_allclose(hi[1], 2.0, atol=1e-9)
    np.testing.assert_allclose(lo[1], 0.0, atol=1e-9)
    lo2, hi2 = scene_bounds(c2ws, max_depth=2.0, margin=0.0)
    np.testing.assert_allclose(lo2, [-2, -2, -1])
    np.testing.assert_allclose(hi2, [3, 2, 3])
