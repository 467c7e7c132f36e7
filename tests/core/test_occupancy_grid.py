"""The early occupancy grid (ovnerf.field.occupancy_grid): it skips empty cells, never skips a cell
holding density (thin column, one cell wide), re-admits space that becomes dense later, and the
renderer with it gives the same image while evaluating σ at fewer points."""
import torch

from ovnerf.field.occupancy_grid import OccupancyGrid
from ovnerf.field.renderer import render_rays
from ovnerf.field.semantic_field import FieldConfig, SemanticField

R = 16
H = 2.0 / R  # cell width in normalised coordinates
X0, Y0 = 0.23, -0.41  # a "table leg" along z, off the cell lattice


def leg(x: torch.Tensor) -> torch.Tensor:
    """σ of a column one cell wide (linear fall-off to 0 at one cell width), like one voxel of a grid."""
    fx = (1 - (x[:, 0] - X0).abs() / H).clamp(min=0)
    fy = (1 - (x[:, 1] - Y0).abs() / H).clamp(min=0)
    return 500.0 * fx * fy


def _grid(**kw):
    return OccupancyGrid(R, decay=0.5, threshold=1e-5, probe=0.0, **kw)


def test_dense_column_is_never_skipped():
    g = _grid()
    g.update(leg, step_size=0.05, generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    # points where the column has density: within 0.98 cell of its axis, at every height
    d = (torch.rand(20000, 2, generator=gen) * 2 - 1) * 0.98 * H
    pts = torch.stack([X0 + d[:, 0], Y0 + d[:, 1], torch.rand(20000, generator=gen) * 2 - 1], -1)
    assert bool((leg(pts) > 0).all())
    assert int((~g.occupied(pts)).sum()) == 0


def test_empty_cells_are_skipped():
    g = _grid()
    frac = g.update(leg, step_size=0.05, generator=torch.Generator().manual_seed(0))
    # the column touches at most 3×3 cells per z layer, dilated by one: at most 5×5 per layer
    assert frac <= 25 / R ** 2 + 1e-9
    gen = torch.Generator().manual_seed(2)
    pts = torch.rand(20000, 3, generator=gen) * 2 - 1
    far = ((pts[:, 0] - X0).abs() > 3 * H) | ((pts[:, 1] - Y0).abs() > 3 * H)
    assert int(far.sum()) > 15000
    assert not bool(g.occupied(pts[far]).any())


def test_space_that_becomes_dense_is_readmitted_and_probes_stay_alive():
    g = _grid()
    gen = torch.Generator().manual_seed(0)
    assert g.update(lambda x: torch.zeros(x.shape[0]), 0.05, gen) == 0.0
    pts = torch.tensor([[X0, Y0, 0.5]])
    assert not bool(g.occupied(pts))
    g.update(leg, 0.05, gen)  # density appeared (e.g. through the shared VM factors): next update
    assert bool(g.occupied(pts))
    g.update(lambda x: torch.zeros(x.shape[0]), 0.05, gen)  # EMA: not dropped at once either
    assert bool(g.occupied(pts))
    # an untrained field (σ ≈ 1e-3, α ≈ 6e-5 per step): nothing is skipped anywhere
    u = OccupancyGrid(R, probe=0.0)
    assert u.update(lambda x: torch.full((x.shape[0],), 1.1e-3), 0.05, gen) == 1.0
    p = OccupancyGrid(R, probe=0.05)
    frac = p.update(lambda x: torch.zeros(x.shape[0]), 0.05, torch.Generator().manual_seed(3))
    assert 0.03 < frac < 0.07  # random cells kept alive so that gradients can reach them


def test_renderer_skips_empty_space_before_the_alpha_mask_with_the_same_image():
    torch.manual_seed(0)
    cfg = FieldConfig.cpu_preset(n_voxels_init=24 ** 3, occupancy_res=R, occupancy_probe=0.0,
                                 feature_dim=8, dino_dim=4)
    field = SemanticField(cfg, ([-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]))
    with torch.no_grad():  # an opaque slab x ∈ [-0.5, -0.2]: empty space elsewhere (σ ≪ untrained)
        tf = field.tensorf
        for p in [*tf.density_plane, *tf.density_line]:
            p.zero_()
        xs = torch.linspace(-1, 1, tf.grid_res[0])
        ry = tf.grid_res[1]
        tf.density_plane[0][0, 0] += torch.where((xs > -0.5) & (xs < -0.2), 30.0, -30.0)[None, :].expand(ry, -1)
        tf.density_line[0][0, 0] += 1.0
    gen = torch.Generator().manual_seed(0)
    rays_d = torch.nn.functional.normalize(torch.randn(512, 3, generator=gen) * 0.1 + torch.tensor([-1.0, 0, 0]), dim=-1)
    rays_o = torch.tensor([0.9, 0.0, 0.0]).expand(512, 3)
    calls = []
    orig = field.density
    field.density = lambda x: (calls.append(x.shape[0]), orig(x))[1]
    with torch.no_grad():
        ref = render_rays(field, rays_o, rays_d, outputs=("rgb", "depth"))
        n_ref = sum(calls)
        calls.clear()
        occ = field.update_occupancy(torch.Generator().manual_seed(0))
        out = render_rays(field, rays_o, rays_d, outputs=("rgb", "depth"))
        n_grid = sum(calls)
    assert occ < 0.5
    assert float(ref["acc"].min()) > 0.99  # every ray hits the slab
    assert n_grid < 0.5 * n_ref  # σ not evaluated in the empty half-space in front of the slab
    assert torch.allclose(out["rgb"], ref["rgb"], atol=1e-4)
    assert torch.allclose(out["depth"], ref["depth"], atol=1e-4)
