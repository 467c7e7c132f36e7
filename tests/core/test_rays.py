import numpy as np
import torch

from ovnerf.scene.conventions import look_at
from ovnerf.scene.rays import get_rays, pixel_rays, ray_z_scale


def test_principal_ray_and_pixel_centres():
    K = np.array([[50.0, 0, 32.0], [0, 50.0, 24.0], [0, 0, 1]])
    c2w = np.eye(4)
    o, d = get_rays(K, c2w, 48, 64)
    assert o.shape == (48 * 64, 3) and d.shape == (48 * 64, 3)
    np.testing.assert_allclose(d.norm(dim=-1).numpy(), 1.0, atol=1e-6)
    # pixel (u=31, v=23) has centre (31.5, 23.5): direction ((-0.5)/50, (-0.5)/50, 1) normalised
    idx = 23 * 64 + 31
    exp = np.array([-0.5 / 50, -0.5 / 50, 1.0])
    np.testing.assert_allclose(d[idx].numpy(), exp / np.linalg.norm(exp), atol=1e-6)
    # row-major and +x to the right, +y down
    assert d[1, 0] > d[0, 0] and d[64, 1] > d[0, 1]


def test_world_rays_reproject_to_their_pixels():
    K = np.array([[40.0, 0, 20.0], [0, 42.0, 15.0], [0, 0, 1]])
    c2w = look_at([1.0, 2.0, 1.0], [0.0, 0.0, 0.3])
    o, d = get_rays(K, c2w, 30, 40)
    pts = o + 2.5 * d
    w2c = np.linalg.inv(c2w)
    pc = pts.double().numpy() @ w2c[:3, :3].T + w2c[:3, 3]
    uv = (pc @ K.T)[:, :2] / pc[:, 2:3]
    v, u = np.mgrid[0:30, 0:40]
    np.testing.assert_allclose(uv[:, 0], u.reshape(-1) + 0.5, atol=1e-3)
    np.testing.assert_allclose(uv[:, 1], v.reshape(-1) + 0.5, atol=1e-3)
    np.testing.assert_allclose(o.numpy(), np.broadcast_to(c2w[:3, 3], o.shape), atol=1e-6)
    # z-depth of points at distance 2.5 along the ray
    np.testing.assert_allclose((2.5 * ray_z_scale(d, c2w)).double().numpy(), pc[:, 2], atol=1e-4)


def test_pixel_rays_batched_cameras():
    K = np.array([[40.0, 0, 20.0], [0, 40.0, 15.0], [0, 0, 1]])
    c2ws = np.stack([look_at([1.0, 0, 0], [0, 0, 0]), look_at([0, 1.0, 0.5], [0, 0, 0])])
    uv = torch.tensor([[3, 4], [10, 7]])
    o, d = pixel_rays(K, c2ws, uv)
    for i in range(2):
        o1, d1 = get_rays(K, c2ws[i], 30, 40)
        j = int(uv[i, 1]) * 40 + int(uv[i, 0])
        torch.testing.assert_close(o[i], o1[j])
        torch.testing.assert_close(d[i], d1[j])
