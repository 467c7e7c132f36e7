"""The bench's TensoRF reference step (ovnerf/field/tensorf_reference.py) renders what our renderer
renders: the speed ratio in `ovnerf bench` compares two implementations of the same image."""
import torch

from ovnerf.field.benchmark import make_wall_field
from ovnerf.field.renderer import render_rays
from ovnerf.field.semantic_field import FieldConfig
from ovnerf.field.tensorf_reference import reference_render_rays


def _tiny():
    return FieldConfig.cpu_preset(n_voxels_init=16 ** 3, feature_dim=16, feature_hidden=16, dino_dim=8,
                                  dino_hidden=8, rgb_hidden=16, max_samples=64)


def _rays(n=64):
    g = torch.Generator().manual_seed(0)
    o = torch.tensor([[2.5, 0.0, 0.0]]).repeat(n, 1)
    d = torch.nn.functional.normalize(torch.tensor([[-1.0, 0, 0]]) + 0.25 * torch.randn(n, 3, generator=g), dim=-1)
    return o, d


def test_reference_matches_ours_with_and_without_mask():
    torch.manual_seed(0)
    field = make_wall_field(_tiny(), "cpu")
    o, d = _rays()
    for with_mask in (True, False):
        if not with_mask:
            field.tensorf.alpha_mask = torch.zeros(0, 0, 0, dtype=torch.bool)
        ours = render_rays(field, o, d)
        ref = reference_render_rays(field, o, d)
        assert 0.3 < float(ours["acc"].detach().mean()) < 0.99  # some rays hit the wall, some miss it
        for k in ("rgb", "depth", "feature", "dino", "acc"):
            torch.testing.assert_close(ours[k].detach(), ref[k].detach(), atol=2e-2, rtol=1e-2)


def test_reference_applies_the_alpha_mask():
    torch.manual_seed(0)
    field = make_wall_field(_tiny(), "cpu")
    o, d = _rays()
    with torch.no_grad():  # fill the empty half with a density the alpha mask must hide
        field.tensorf.density_line[0][0, 0] += 0.3
    full = reference_render_rays(field, o, d, outputs=("rgb",))
    field.tensorf.alpha_mask[:] = False
    empty = reference_render_rays(field, o, d, outputs=("rgb",))
    assert float(full["acc"].mean()) > 0.3
    assert float(empty["acc"].abs().max()) == 0.0
