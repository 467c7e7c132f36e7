"""The visibility mask (ovnerf.field.visibility_mask): on a hand-made field — a uniform fog that
is occupied everywhere by density, and an opaque wall at x ∈ [0.2, 0.4] — a camera at x = −0.8
looking +x keeps the cells in front of the wall, drops those behind it and those outside its
frustum; a second camera on the far side brings the far side back; the training view renders the
same with the pruned mask."""
import pytest
import torch

from ovnerf.field.renderer import render_image, render_rays
from ovnerf.field.semantic_field import FieldConfig, SemanticField
from ovnerf.field.visibility_mask import Camera, cell_centres, opaque_distance, visibility_grid

RES = [21, 21, 21]          # vertices every 0.1 over [-1, 1]^3
WALL = (0.2, 0.4)
K = torch.tensor([[16.0, 0.0, 8.0], [0.0, 16.0, 8.0], [0.0, 0.0, 1.0]])   # 16×16 px, ±26.6°


def _field():
    cfg = FieldConfig.cpu_preset(n_voxels_init=41 ** 3, feature_dim=8, feature_hidden=8, dino_dim=8, dino_hidden=8,
                                 rgb_hidden=8, max_samples=128)
    f = SemanticField(cfg, ([-1, -1, -1], [1, 1, 1]))
    with torch.no_grad():
        for p in [*f.tensorf.density_plane, *f.tensorf.density_line]:
            p.zero_()
        # σ̃(x) = plane_yz · line_x: 6 everywhere (σ ≈ 0.45/m: a see-through fog, α > 1e-4 per
        # step), 20 inside the wall (σ ≈ 250/m: opaque)
        f.tensorf.density_plane[2][0, 0] = 1.0
        xs = torch.linspace(-1, 1, f.grid_res[0])
        wall = (xs >= WALL[0]) & (xs <= WALL[1])
        f.tensorf.density_line[2][0, 0, :, 0] = 6.0 + 14.0 * wall.float()
    return f


def _cam(x: float, looking_plus_x: bool) -> Camera:
    c2w = torch.eye(4)
    s = 1.0 if looking_plus_x else -1.0
    # OpenCV axes: z (optical axis) = ±world x, y = world z, x = y × z
    z, y = torch.tensor([s, 0.0, 0.0]), torch.tensor([0.0, 0.0, 1.0])
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2] = torch.linalg.cross(y, z), y, z
    c2w[0, 3] = x
    return Camera(K, c2w, 16, 16)


def _cell(p):
    """Grid index of the vertex at world point p (vertices every 0.1)."""
    return tuple(int(round((v + 1) / 0.1)) for v in p)


def test_opaque_distance_stops_at_the_wall_and_is_infinite_through_fog():
    f = _field()
    o = torch.tensor([[-0.8, 0.0, 0.0], [-0.8, 0.0, 0.0]])
    d = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])       # into the wall / along it, fog only
    dist = opaque_distance(f, o, d, transmittance=1e-2)
    assert 1.0 <= float(dist[0]) <= 1.0 + 0.1   # wall face at 1.0 m, opaque within a few samples
    assert torch.isinf(dist[1])                 # fog alone never reaches T < 1 %


def test_cells_behind_the_wall_and_outside_the_frustum_are_dropped():
    f = _field()
    assert bool(f.density_mask(RES).all())      # density alone: the whole box is "occupied"
    vis = visibility_grid(f, [_cam(-0.8, True)], RES)
    front, behind, outside = _cell((-0.2, 0.0, 0.0)), _cell((0.8, 0.0, 0.0)), _cell((-0.5, 0.9, 0.0))
    wall_face = _cell((0.2, 0.0, 0.0))
    assert vis.in_view[front] and vis.visible[front] and vis.visible[wall_face]
    assert vis.in_view[behind] and not vis.visible[behind]             # occluded by the wall
    assert not vis.in_view[outside] and not vis.visible[outside]       # outside the frustum
    assert not vis.visible[_cell((-1.0, 0.0, 0.0))]                    # behind the camera
    s = vis.summary(f.density_mask(RES))
    assert s["density"] == 1.0
    assert s["kept"] + s["outside_frusta"] + s["occluded"] == pytest.approx(1.0) and s["faint"] == 0
    # the frustum (±26.6°) from x = −0.8 to the wall at 0.4 covers a few % of the box
    assert 0.01 < s["kept"] < 0.25 and s["occluded"] > 0.02 and s["outside_frusta"] > 0.6


def test_any_camera_that_sees_a_cell_keeps_it():
    f = _field()
    behind = _cell((0.6, 0.0, 0.0))
    one = visibility_grid(f, [_cam(-0.8, True)], RES)
    two = visibility_grid(f, [_cam(-0.8, True), _cam(0.9, False)], RES, camera_chunk=1)
    assert not one.visible[behind] and two.visible[behind]
    assert bool((two.visible >= one.visible).all())  # a union: a second camera never removes


def test_min_weight_drops_faint_fog_but_keeps_the_wall():
    """Fog samples carry w ≈ 0.01 each, the wall's first samples w ≈ 0.6: with min_weight 0.05
    the fog in front of the wall is dropped as faint, the wall stays."""
    f = _field()
    vis = visibility_grid(f, [_cam(-0.8, True)], RES, min_weight=0.05)
    assert 0.005 < float(vis.max_weight[_cell((-0.2, 0.0, 0.0))]) < 0.05
    assert float(vis.max_weight[_cell((0.2, 0.0, 0.0))]) > 0.3
    assert vis.visible[_cell((0.2, 0.0, 0.0))] and vis.seen[_cell((-0.2, 0.0, 0.0))]
    assert not vis.visible[_cell((-0.2, 0.0, 0.0))]
    s = vis.summary(f.density_mask(RES))
    assert s["faint"] > 0.01 and s["kept"] + s["outside_frusta"] + s["occluded"] + s["faint"] == pytest.approx(1.0)


def test_training_view_renders_the_same_with_the_pruned_mask():
    f = _field()
    cam = _cam(-0.8, True)
    before = render_image(f, cam.K, cam.c2w, 16, 16, outputs=("depth",))
    vis = visibility_grid(f, [cam], RES)
    occ = f.update_alpha_mask(RES, keep=vis.visible)
    assert occ < 0.25                                             # from 100 %
    after = render_image(f, cam.K, cam.c2w, 16, 16, outputs=("depth",))
    torch.testing.assert_close(after["acc"], before["acc"], atol=2e-3, rtol=0)
    torch.testing.assert_close(after["depth"], before["depth"], atol=5e-3, rtol=0)
    # while the fog behind the wall (a ray along y at x = 0.8) is gone: acc 1 − exp(−0.45·2) before
    ray = torch.tensor([[0.8, -1.0, 0.0]]), torch.tensor([[0.0, 1.0, 0.0]])
    assert float(render_rays(f, *ray, outputs=(), use_alpha_mask=False)["acc"][0].detach()) > 0.5
    assert float(render_rays(f, *ray, outputs=())["acc"][0].detach()) == 0.0


def test_keep_grid_must_match_and_cell_centres_span_the_box():
    f = _field()
    with pytest.raises(ValueError, match="does not match"):
        f.update_alpha_mask(RES, keep=torch.ones(5, 5, 5, dtype=torch.bool))
    c = cell_centres(f.aabb, RES)
    assert c.shape == (21 ** 3, 3)
    torch.testing.assert_close(c[0], torch.tensor([-1.0, -1.0, -1.0]))
    torch.testing.assert_close(c[_cell((0.3, -0.2, 0.5))[0] * 441 + _cell((0.3, -0.2, 0.5))[1] * 21
                                 + _cell((0.3, -0.2, 0.5))[2]], torch.tensor([0.3, -0.2, 0.5]))
