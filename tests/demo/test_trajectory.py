import numpy as np

from ovnerf.synthetic.trajectory import camera_trajectory, plan_path


def test_trajectory_inside_room_smooth_and_consistent():
    W, D = 6.8, 5.4
    tr = camera_trajectory(W, D, 120, height=1.2, pitch_deg=10.0, rate_hz=5.0)
    pos = tr.c2w[:, :3, 3]
    assert np.all(np.abs(pos[:, 0]) < W / 2 - 0.8) and np.all(np.abs(pos[:, 1]) < D / 2 - 0.8)
    np.testing.assert_allclose(pos[:, 2], 1.2, atol=1e-12)           # above the floor, constant
    R = tr.c2w[:, :3, :3]
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    # optical axis pitched 10° down; image x axis horizontal (no roll)
    np.testing.assert_allclose(R[:, 2, 2], -np.sin(np.deg2rad(10.0)), atol=1e-12)
    np.testing.assert_allclose(R[:, 2, 0], 0.0, atol=1e-12)
    np.testing.assert_allclose(tr.c2w, tr.base_poses @ tr.base_to_camera, atol=1e-12)
    np.testing.assert_allclose(np.diff(tr.timestamps), 0.2, atol=1e-6)
    # smooth: even spacing along the path and bounded heading change per frame
    step = np.linalg.norm(np.diff(pos, axis=0), axis=1)
    assert step.max() < 1.5 * np.median(step)
    fwd = R[:, :, 2]
    turn = np.degrees(np.arccos(np.clip(np.sum(fwd[1:] * fwd[:-1], axis=1), -1, 1)))
    assert turn.max() < 20.0
    # it circles (covers all four quadrants) and crosses the room (passes near the centre)
    assert {(int(np.sign(x)), int(np.sign(y))) for x, y in pos[:, :2]} >= {(1, 1), (1, -1), (-1, 1), (-1, -1)}
    assert np.linalg.norm(pos[:, :2], axis=1).min() < 0.3


def test_path_dense_and_deterministic():
    p1, p2 = plan_path(6.5, 5.5), plan_path(6.5, 5.5)
    np.testing.assert_array_equal(p1, p2)
    assert np.linalg.norm(np.diff(p1, axis=0), axis=1).max() < 0.02
