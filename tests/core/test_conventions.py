import numpy as np
import torch

from ovnerf.scene.conventions import look_at, opencv_to_opengl, opengl_to_opencv


def _random_pose(rng):
    from scipy.spatial.transform import Rotation
    c2w = np.eye(4)
    c2w[:3, :3] = Rotation.random(random_state=int(rng.integers(1 << 30))).as_matrix()
    c2w[:3, 3] = rng.normal(size=3)
    return c2w


def test_flip_matches_definition_and_is_involution():
    rng = np.random.default_rng(0)
    c2w = _random_pose(rng)
    gl = opencv_to_opengl(c2w)
    np.testing.assert_allclose(gl, c2w @ np.diag([1, -1, -1, 1]))
    np.testing.assert_allclose(opengl_to_opencv(gl), c2w)
    # position unchanged; a point in front of the OpenCV camera (+z) is behind -z in OpenGL
    np.testing.assert_allclose(gl[:3, 3], c2w[:3, 3])
    p_cam_cv = np.array([0.1, 0.2, 2.0, 1.0])
    p_world = c2w @ p_cam_cv
    p_cam_gl = np.linalg.inv(gl) @ p_world
    np.testing.assert_allclose(p_cam_gl, [0.1, -0.2, -2.0, 1.0], atol=1e-12)


def test_batched_and_torch():
    rng = np.random.default_rng(1)
    poses = np.stack([_random_pose(rng) for _ in range(5)])
    gl = opencv_to_opengl(poses)
    np.testing.assert_allclose(gl[2], opencv_to_opengl(poses[2]))
    t = torch.tensor(poses, dtype=torch.float32)
    gt = opencv_to_opengl(t)
    assert isinstance(gt, torch.Tensor)
    np.testing.assert_allclose(gt.numpy(), gl, atol=1e-6)
    assert torch.equal(t, torch.tensor(poses, dtype=torch.float32))  # input not modified


def test_look_at():
    eye, target = np.array([2.0, 1.0, 1.5]), np.array([0.0, 0.0, 0.5])
    c2w = look_at(eye, target)
    R = c2w[:3, :3]
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(R), 1.0)
    fwd = (target - eye) / np.linalg.norm(target - eye)
    np.testing.assert_allclose(R[:, 2], fwd, atol=1e-12)
    assert R[:, 1] @ np.array([0, 0, 1.0]) < 0  # image y (down) points against world up
