import numpy as np
from scipy.spatial.transform import Rotation

from ovnerf.scene.conventions import look_at
from ovnerf.scene.novel_poses import novel_poses


def _trajectory(n=12):
    return np.stack([look_at([2 * np.cos(a), 2 * np.sin(a), 1.0], [0, 0, 0.3]) for a in np.linspace(0, np.pi, n)])


def test_deterministic_and_valid():
    c2ws = _trajectory()
    a = novel_poses(c2ws, 20, seed=3)
    b = novel_poses(c2ws, 20, seed=3)
    c = novel_poses(c2ws, 20, seed=4)
    assert a.shape == (20, 4, 4)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    R = a[:, :3, :3]
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R.shape), atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-9)
    np.testing.assert_array_equal(a[:, 3], np.broadcast_to([0, 0, 0, 1.0], (20, 4)))


def test_near_trajectory_and_looking_at_scene():
    c2ws = _trajectory()
    step = np.linalg.norm(c2ws[1, :3, 3] - c2ws[0, :3, 3])
    poses = novel_poses(c2ws, 40, seed=0, rot_deg=5.0, trans_scale=0.5)
    centres = c2ws[:, :3, 3]
    for P in poses:
        dist = np.linalg.norm(centres - P[:3, 3], axis=1)
        assert dist.min() < 3 * step
        # optical axis within a few degrees of some training camera's axis
        # (interpolation: ≤ half the 16.4° neighbour spacing; perturbation: ≤ rot_deg)
        ang = np.degrees(np.arccos(np.clip(c2ws[:, :3, 2] @ P[:3, 2], -1, 1))).min()
        assert ang < 9.0
        # still looks roughly at the scene centre
        to_c = np.array([0, 0, 0.3]) - P[:3, 3]
        assert P[:3, 2] @ to_c / np.linalg.norm(to_c) > np.cos(np.radians(30))


def test_interpolation_is_slerp_between_neighbours():
    c2ws = _trajectory(2)
    poses = novel_poses(c2ws, 6, seed=1, interp_fraction=1.0)
    r0, r1 = Rotation.from_matrix(c2ws[0, :3, :3]), Rotation.from_matrix(c2ws[1, :3, :3])
    total = (r0.inv() * r1).magnitude()
    for P in poses:
        t = P[:3, 3]
        u = np.linalg.norm(t - c2ws[0, :3, 3]) / np.linalg.norm(c2ws[1, :3, 3] - c2ws[0, :3, 3])
        assert 0.25 - 1e-9 <= u <= 0.75 + 1e-9
        r = Rotation.from_matrix(P[:3, :3])
        np.testing.assert_allclose((r0.inv() * r).magnitude(), u * total, atol=1e-9)


def test_look_at_option():
    c2ws = _trajectory()
    target = np.array([0.1, -0.2, 0.4])
    for P in novel_poses(c2ws, 5, seed=2, look_at=target):
        d = target - P[:3, 3]
        np.testing.assert_allclose(P[:3, 2], d / np.linalg.norm(d), atol=1e-12)
