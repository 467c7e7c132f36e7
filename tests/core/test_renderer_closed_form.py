"""Rendering maths against closed forms: constant-density slabs along +z."""
import math
from types import SimpleNamespace

import pytest
import torch

from ovnerf.field.renderer import composite, compute_weights, ray_aabb, render_rays


def test_composite_constant_slab_exact():
    sigma, L, n = 3.0, 0.8, 400
    s = torch.full((1, n), sigma, dtype=torch.float64)
    c = torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64).expand(1, n, 3)
    out, w = composite(s, L / n, c)
    trans = 1 - w.sum()
    assert math.isclose(float(trans), math.exp(-sigma * L), rel_tol=1e-9)
    torch.testing.assert_close(out[0], torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64) * (1 - math.exp(-sigma * L)))
    _, T = compute_weights(s, L / n)
    assert float(T[0, 0]) == 1.0
    assert math.isclose(float(T[0, n // 2]), math.exp(-sigma * L / 2), rel_tol=1e-9)


def test_composite_two_slabs_with_gap():
    s1, L1, s2, L2, dt = 2.0, 0.5, 5.0, 0.3, 1e-3
    n1, gap, n2 = round(L1 / dt), 100, round(L2 / dt)
    sigma = torch.cat([torch.full((n1,), s1), torch.zeros(gap), torch.full((n2,), s2)]).double()[None]
    c1, c2 = torch.tensor([1.0, 0, 0]), torch.tensor([0, 0, 1.0])
    vals = torch.cat([c1.expand(n1, 3), torch.zeros(gap, 3), c2.expand(n2, 3)]).double()[None]
    out, w = composite(sigma, dt, vals)
    e1, e2 = math.exp(-s1 * L1), math.exp(-s2 * L2)
    exp = c1 * (1 - e1) + e1 * (1 - e2) * c2
    torch.testing.assert_close(out[0], exp.double(), atol=1e-7, rtol=0)
    assert math.isclose(float(w.sum()), 1 - e1 * e2, rel_tol=1e-9)


class _Head(torch.nn.Module):
    """Stand-in MLPHead whose per-sample output is the sample's z coordinate repeated D times."""

    def __init__(self, D):
        super().__init__()
        self.D = D

    def hidden(self, app):
        return app[:, 2:3]

    def project(self, h, weight_sum=None):
        return h.expand(-1, self.D)


class SlabField:
    """Duck-typed field: σ = sigma inside z ∈ [z0, z1] (|x|,|y| < 1), colour per slab."""

    def __init__(self, slabs, step=2e-3, n=1500):
        self.slabs = slabs  # list of (z0, z1, sigma, rgb)
        self.cfg = SimpleNamespace(white_bg=False, near=0.0, weight_threshold=1e-4, feature_dim=4, dino_dim=2)
        self.aabb = torch.tensor([[-1.0, -1.0, 0.0], [1.0, 1.0, 3.0]], dtype=torch.float64)
        self._step, self._n = step, n
        self.feature_head, self.dino_head = _Head(4), _Head(2)

    def sampling(self):
        return self._step, self._n

    def has_alpha_mask(self):
        return False

    def density(self, xyz):
        s = torch.zeros(xyz.shape[0], dtype=xyz.dtype)
        for z0, z1, sig, _ in self.slabs:
            s = torch.where((xyz[:, 2] >= z0) & (xyz[:, 2] < z1), torch.full_like(s, sig), s)
        return s

    def app_feature(self, xyz):
        return xyz

    def rgb(self, app, dirs):
        c = torch.zeros(app.shape[0], 3, dtype=app.dtype)
        for z0, z1, _, col in self.slabs:
            inside = ((app[:, 2] >= z0) & (app[:, 2] < z1))[:, None]
            c = torch.where(inside, torch.tensor(col, dtype=app.dtype).expand_as(c), c)
        return c


def _rays(n=3, dtype=torch.float64):
    o = torch.tensor([[0.0, 0.0, -1.0]], dtype=dtype).repeat(n, 1)
    d = torch.tensor([[0.0, 0.0, 1.0]], dtype=dtype).repeat(n, 1)
    return o, d


def test_render_rays_slab_closed_form():
    z0, L, sigma, col = 1.0, 0.5, 4.0, (0.3, 0.6, 0.9)
    f = SlabField([(z0, z0 + L, sigma, col)])
    o, d = _rays()
    r = render_rays(f, o, d, outputs=("rgb", "depth", "feature", "dino"), return_weights=True)
    e = math.exp(-sigma * L)
    tol = 4 * sigma * f._step  # rectangle-rule discretisation
    assert abs(float(r["acc"][0]) - (1 - e)) < tol
    torch.testing.assert_close(r["rgb"][0], torch.tensor(col, dtype=torch.float64) * (1 - e), atol=tol, rtol=0)
    # expected depth along the ray: the camera is at z=-1, the slab starts at distance a = z0 + 1
    a = z0 + 1
    exp_depth = a * (1 - e) + 1 / sigma - e * (L + 1 / sigma)
    assert abs(float(r["depth"][0]) - exp_depth) < 0.01
    # feature composites the per-sample z = t − 1:  Σ w z = depth − acc
    torch.testing.assert_close(r["feature"][0], (r["depth"][0] - r["acc"][0]).expand(4), atol=1e-9, rtol=0)
    assert r["weights"].shape == (3, f._n)
    # white background adds the transmitted fraction
    rw = render_rays(f, o, d, outputs=("rgb",), white_bg=True)
    torch.testing.assert_close(rw["rgb"][0], r["rgb"][0] + (1 - r["acc"][0]), atol=1e-12, rtol=0)


def test_render_rays_two_slabs():
    f = SlabField([(0.5, 0.9, 2.0, (1.0, 0.0, 0.0)), (1.5, 1.8, 6.0, (0.0, 1.0, 0.0))])
    o, d = _rays(2)
    r = render_rays(f, o, d, outputs=("rgb",))
    e1, e2 = math.exp(-2.0 * 0.4), math.exp(-6.0 * 0.3)
    exp = torch.tensor([1 - e1, e1 * (1 - e2), 0.0], dtype=torch.float64)
    torch.testing.assert_close(r["rgb"][0], exp, atol=0.03, rtol=0)
    assert abs(float(r["acc"][0]) - (1 - e1 * e2)) < 0.03


def test_ray_aabb_and_misses():
    aabb = torch.tensor([[-1.0, -1, -1], [1, 1, 1]])
    o = torch.tensor([[0.0, 0, -3], [5.0, 5, -3], [0.0, 0, 0]])
    d = torch.tensor([[0.0, 0, 1], [0.0, 0, 1], [1.0, 0, 0]])
    t0, t1 = ray_aabb(o, d, aabb)
    assert torch.allclose(t0[0], torch.tensor(2.0)) and torch.allclose(t1[0], torch.tensor(4.0))
    assert t1[1] < t0[1]  # miss
    assert t0[2] < 0 < t1[2]  # origin inside


def test_unknown_output_rejected():
    f = SlabField([(1.0, 1.5, 1.0, (1, 1, 1))])
    o, d = _rays(1)
    with pytest.raises(ValueError, match="unknown render outputs"):
        render_rays(f, o, d, outputs=("rgb", "normals"))
