import torch

from ovnerf.field.renderer import render_image, render_rays
from ovnerf.field.semantic_field import FieldConfig, SemanticField
from ovnerf.field.tensorf import TensoRFVM, n_to_reso


def _small_cfg(**kw):
    return FieldConfig.cpu_preset(n_voxels_init=16 ** 3, n_voxels_final=32 ** 3, feature_dim=32,
                                  feature_hidden=16, dino_dim=8, dino_hidden=8, rgb_hidden=16,
                                  max_samples=48, **kw)


def test_shapes_and_resolution():
    torch.manual_seed(0)
    aabb = torch.tensor([[-1.0, -2.0, 0.0], [1.0, 2.0, 1.0]])
    assert n_to_reso(64 * 128 * 32, aabb) == [64, 128, 32]
    f = SemanticField(_small_cfg(), aabb)
    rx, ry, rz = f.grid_res
    assert ry > rx > rz
    assert f.tensorf.density_plane[0].shape == (1, 8, ry, rx)
    assert f.tensorf.density_line[0].shape == (1, 8, rz, 1)
    x = torch.rand(100, 3) * (aabb[1] - aabb[0]) + aabb[0]
    assert f.density(x).shape == (100,) and (f.density(x) >= 0).all()
    app = f.app_feature(x)
    assert app.shape == (100, 27)
    assert f.rgb(app, torch.nn.functional.normalize(torch.randn(100, 3), dim=-1)).shape == (100, 3)
    assert f.feature(app).shape == (100, 32) and f.dino(app).shape == (100, 8)
    o = torch.tensor([[0.0, 0.0, 3.0]]).repeat(5, 1)
    d = torch.nn.functional.normalize(torch.tensor([[0.05, 0.1, -1.0]]).repeat(5, 1), dim=-1)
    r = render_rays(f, o, d)
    assert r["rgb"].shape == (5, 3) and r["depth"].shape == (5,) and r["acc"].shape == (5,)
    assert r["feature"].shape == (5, 32) and r["dino"].shape == (5, 8)
    r = render_rays(f, o, d, outputs=("rgb",))
    assert set(r) == {"rgb", "acc"}


def test_feature_head_composite_equals_dense():
    """Compositing the hidden layer then projecting == compositing per-sample outputs (weight
    threshold 0: every sample is shaded, so the two sums run over the same samples)."""
    torch.manual_seed(1)
    f = SemanticField(_small_cfg(density_shift=-1.0, weight_threshold=0.0), ([-1, -1, -1], [1, 1, 1]))
    o = torch.tensor([[0.0, 0.0, -3.0]]).repeat(4, 1)
    d = torch.nn.functional.normalize(torch.randn(4, 3) * 0.2 + torch.tensor([0, 0, 1.0]), dim=-1)
    r = render_rays(f, o, d, outputs=("feature",), return_weights=True)
    from ovnerf.field.renderer import sample_along_rays
    step, S = f.sampling()
    t, pts, valid, _ = sample_along_rays(o, d, f.aabb, step, S, f.cfg.near)
    feats = f.feature(f.app_feature(pts.reshape(-1, 3))).reshape(4, S, -1) * valid[..., None]
    dense = (r["weights"][..., None] * feats).sum(1)
    torch.testing.assert_close(r["feature"], dense, atol=1e-5, rtol=1e-4)


def test_dense_density_path_is_exact():
    torch.manual_seed(5)
    t = TensoRFVM([11, 13, 7], (4, 4, 4), (4, 4, 4), 6)
    x = (torch.rand(3000, 3) * 2 - 1).requires_grad_(False)
    dense = t.density_feature(x)
    t.dense_density_max_voxels = 0  # force the factorised path
    torch.testing.assert_close(t.density_feature(x), dense, atol=1e-5, rtol=1e-5)


def test_upsample_preserves_function():
    torch.manual_seed(2)
    t = TensoRFVM([9, 9, 9], (4, 4, 4), (4, 4, 4), 6)
    x = torch.rand(2000, 3) * 2 - 1
    before_d, before_a = t.density_feature(x), t.app_feature(x)
    t.upsample([17, 17, 17])  # nested grid (2r−1): piecewise-(bi)linear function exactly preserved
    torch.testing.assert_close(t.density_feature(x), before_d, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(t.app_feature(x), before_a, atol=1e-5, rtol=1e-5)
    t.upsample([23, 26, 29])  # non-nested: approximately preserved
    err = (t.density_feature(x) - before_d).pow(2).mean().sqrt() / before_d.std()
    assert err < 0.15
    assert t.density_plane[0].shape == (1, 4, 26, 23) and t.app_line[2].shape == (1, 4, 23, 1) and t.app_line[0].shape == (1, 4, 29, 1)


def _half_occupied_field():
    """Density high for x < 0 (world), ≈0 elsewhere: plane (x,y) comp 0 = step in x, line z = 1."""
    torch.manual_seed(3)
    f = SemanticField(_small_cfg(), ([-1, -1, -1], [1, 1, 1]))
    with torch.no_grad():
        for p in [*f.tensorf.density_plane, *f.tensorf.density_line]:
            p.zero_()
        rx = f.grid_res[0]
        xs = torch.linspace(-1, 1, rx)
        f.tensorf.density_plane[0][0, 0] = (xs < -0.05).float()[None, :].expand(f.grid_res[1], rx) * 20.0
        f.tensorf.density_line[0][0, 0] = 1.0
    return f


def test_alpha_mask_skips_empty_space():
    f = _half_occupied_field()
    frac = f.update_alpha_mask()
    assert 0.4 < frac < 0.65
    assert bool(f.occupied(torch.tensor([[-0.5, 0.2, 0.3]]))[0])
    assert not bool(f.occupied(torch.tensor([[0.5, 0.2, 0.3]]))[0])
    calls = []
    orig = f.tensorf.density
    f.tensorf.density = lambda x: (calls.append(x.shape[0]), orig(x))[1]
    o = torch.tensor([[0.6, 0.0, -3.0], [-0.6, 0.0, -3.0]])
    d = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    r = render_rays(f, o[:1], d[:1], outputs=("rgb",))
    assert calls == [] and float(r["acc"][0]) == 0.0  # empty half: no density/appearance evaluated
    r_masked = render_rays(f, o, d, outputs=("rgb", "depth"))
    r_nomask = render_rays(f, o, d, outputs=("rgb", "depth"), use_alpha_mask=False)
    assert float(r_masked["acc"][1].detach()) > 0.99
    torch.testing.assert_close(r_masked["rgb"], r_nomask["rgb"], atol=1e-2, rtol=0)  # σ≈1e-3 residue skipped
    torch.testing.assert_close(r_masked["depth"], r_nomask["depth"], atol=1e-2, rtol=0)


def test_grads_flow_to_all_parameters():
    torch.manual_seed(4)
    f = SemanticField(_small_cfg(density_shift=-2.0), ([-1, -1, -1], [1, 1, 1]))
    o = torch.tensor([[0.0, 0.0, -3.0]]).repeat(16, 1)
    d = torch.nn.functional.normalize(torch.randn(16, 3) * 0.2 + torch.tensor([0, 0, 1.0]), dim=-1)
    r = render_rays(f, o, d, perturb=True, generator=torch.Generator().manual_seed(0))
    loss = sum(v.pow(2).mean() for k, v in r.items()) + f.tv_loss() + f.l1_loss()
    loss.backward()
    for name, p in f.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    groups = f.param_groups(0.02, 1e-3)
    assert sum(len(g["params"]) for g in groups) == len(list(f.parameters()))


def test_state_dict_roundtrip_across_upsample_and_render_image():
    f = _half_occupied_field()
    f.upsample(24 ** 3)
    f.update_alpha_mask()
    g = SemanticField(_small_cfg(), ([-1, -1, -1], [1, 1, 1]))
    g.load_state_dict(f.state_dict())
    assert g.grid_res == f.grid_res
    K = torch.tensor([[10.0, 0, 6.0], [0, 10.0, 4.0], [0, 0, 1]])
    c2w = torch.eye(4)
    c2w[2, 3] = -3.0
    a = render_image(f, K, c2w, 8, 12, chunk=20, outputs=("rgb", "depth", "feature"))
    b = render_image(g, K, c2w, 8, 12, chunk=1000, outputs=("rgb", "depth", "feature"),
                     feature_transform=lambda x: x[:, :3])
    assert a["rgb"].shape == (8, 12, 3) and a["depth"].shape == (8, 12) and a["feature"].shape == (8, 12, 32)
    torch.testing.assert_close(a["rgb"], b["rgb"])
    torch.testing.assert_close(a["feature"][..., :3], b["feature"])


def test_backward_with_alpha_mask_and_early_termination():
    f = _half_occupied_field()
    f.update_alpha_mask()
    assert f.cfg.early_stop_segments > 1
    o = torch.tensor([[-0.5, 0.0, -3.0], [0.5, 0.0, -3.0], [2.0, 0.1, 0.2]])
    d = torch.nn.functional.normalize(torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]]), dim=-1)
    r = render_rays(f, o, d, perturb=True, return_weights=True)
    (r["rgb"].sum() + r["feature"].sum() + r["depth"].sum()).backward()
    assert f.tensorf.density_plane[0].grad.abs().sum() > 0
    # the ray entering the solid half terminates: no weight mass left after the first block
    assert float(r["acc"][0].detach()) > 0.99
    S = r["weights"].shape[1]
    assert float(r["weights"][0, S // 2:].detach().sum()) < 1e-3


def test_fresh_field_gets_a_colour_gradient_below_the_weight_threshold():
    """Weight-threshold shading applies from the first iteration; each ray's peak-weight sample is
    still shaded, so a fresh field (every weight < threshold) on a black background learns colour
    and density (with TensoRF's bare threshold nothing would be shaded: zero gradient)."""
    torch.manual_seed(0)
    f = SemanticField(_small_cfg(), ([-1, -1, -1], [1, 1, 1]))
    o = torch.tensor([[0.0, 0.0, -3.0]]).repeat(32, 1)
    d = torch.nn.functional.normalize(torch.randn(32, 3) * 0.2 + torch.tensor([0, 0, 1.0]), dim=-1)
    r = render_rays(f, o, d, outputs=("rgb",), return_weights=True, white_bg=False)
    assert float(r["weights"].max()) < f.cfg.weight_threshold  # nothing passes the threshold itself
    (r["rgb"] - 1.0).pow(2).mean().backward()
    assert float(f.tensorf.density_plane[0].grad.abs().sum()) > 0
    assert float(f.rgb_head.mlp[0].weight.grad.abs().sum()) > 0


def test_early_termination_and_threshold_before_any_alpha_mask():
    """No special case before the first alpha mask: rays stop after an opaque wall and only
    samples above the weight threshold (+ the peak one) are shaded."""
    from ovnerf.field.benchmark import make_wall_field
    torch.manual_seed(0)
    f = make_wall_field(_small_cfg(), "cpu")
    f.tensorf.alpha_mask = torch.zeros(0, 0, 0, dtype=torch.bool)  # no mask
    assert not f.has_alpha_mask()
    o = torch.tensor([[2.5, 0.0, 0.0]]).repeat(16, 1)
    d = torch.nn.functional.normalize(torch.tensor([[-1.0, 0, 0]]) + 0.05 * torch.randn(16, 3), dim=-1)
    counts = {"density": 0, "app": 0}
    dens, app = f.tensorf.density, f.tensorf.app_feature

    def count(key, fn):
        def wrapped(x):
            counts[key] += x.shape[0]
            return fn(x)
        return wrapped
    f.tensorf.density, f.tensorf.app_feature = count("density", dens), count("app", app)
    r = render_rays(f, o, d, outputs=("rgb",), return_weights=True)
    assert float(r["acc"].min()) > 0.99  # every ray ends on the wall (x < 0)
    in_box = int((r["t"] <= 3.5).sum())  # samples before the far side of the box
    assert counts["density"] <= 0.8 * in_box  # samples behind the wall were never evaluated
    assert counts["app"] <= int((r["weights"] > f.cfg.weight_threshold).sum()) + o.shape[0]
