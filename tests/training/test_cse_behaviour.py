"""CSE as behaviour (OV-NeRF Stage II): what the pseudo maps and the novel-view targets ARE.

The trainer's field is replaced by ``AnalyticField`` (renders the true classes except a wrong
floor patch whose RGB is the floor's but whose feature is the wall's). Stage-I targets are set to
"wall" everywhere, so a pseudo map that is not a fresh rendering cannot look like the truth.
Each of these mutations of the CSE code fails a test here:

* RSR never applied to the pseudo maps (training or novel views): the wrong patch stays;
* pseudo maps = the Stage-I RSR maps (nothing rendered): all wall;
* novel-view targets set to 0: all floor;
* SAM (the region backend) run on anything but the rendered RGB of the novel view.
"""
import numpy as np
import pytest
import torch

from ovnerf.field.renderer import render_image
from ovnerf.field.semantic_field import FieldConfig
from ovnerf.training.config import TrainConfig
from ovnerf.training.cse import render_segmentation
from ovnerf.training.trainer import Trainer

from analytic_field import AnalyticField, ColourRegions
from conftest import AABB, CLASSES, synthetic_targets

N_NOVEL = 4


@pytest.fixture(scope="module")
def cse_run(tiny_scene):
    torch.set_num_threads(1)
    emb = tiny_scene["text_emb"]
    cache = {}
    for f in tiny_scene["train"]:
        t = synthetic_targets(f, emb, box_region=False)
        t["relevancy"] = torch.full_like(t["relevancy"], 1)  # Stage-I targets: "wall" everywhere
        t["rsr"] = torch.full_like(t["rsr"], 1)
        cache[f.name] = t
    regions = ColourRegions()
    fc = FieldConfig.cpu_preset(n_voxels_init=8 ** 3, n_voxels_final=8 ** 3, feature_hidden=16, rgb_hidden=16)
    cfg = TrainConfig.cpu_preset(upsample_iters=(), alpha_mask_iters=(), iterations=20, stage1_iters=10, cse_every=5, cse_novel_views=N_NOVEL,
                                 render_chunk=4096)
    tr = Trainer(tiny_scene["train"], cache, emb, fc, cfg, region_backend=regions, vocabulary=CLASSES,
                 aabb=AABB)
    tr.field = AnalyticField(emb)
    msg = tr.run_cse(10)
    return tr, regions, msg


def _truth_and_raw(tr, K, c2w, H, W):
    emb = tr.text_emb
    raw = render_segmentation(tr.field, K, c2w, H, W, emb)
    truth = render_segmentation(AnalyticField(emb, with_patch=False), K, c2w, H, W, emb)
    return raw, truth


def test_pseudo_maps_are_rsr_refined_renderings(cse_run):
    tr, _, msg = cse_run
    assert "pseudo maps" in msg and tr.bank.pseudo is not None
    wrong_raw, wrong_pseudo, n = 0, 0, 0
    for v in range(tr.bank.n_views):
        H, W = tr.bank.hw[v].tolist()
        raw, truth = _truth_and_raw(tr, tr.bank.K[v], tr.bank.c2w[v], H, W)
        pseudo = tr.bank.view_map(tr.bank.pseudo, v).long()
        wrong_raw += int((raw != truth).sum())
        wrong_pseudo += int((pseudo != truth).sum())
        n += H * W
    # the rendered maps carry the wrong patch; RSR with the view's regions removes it
    assert wrong_raw / n > 0.01
    assert wrong_pseudo / n < 0.003
    # nothing of the Stage-I "all wall" targets survives on the floor / balls
    assert float((tr.bank.pseudo != 1).float().mean()) > 0.2


def test_novel_view_targets_are_rsr_refined_renderings_with_regions_from_the_rendered_rgb(cse_run):
    tr, regions, msg = cse_run
    nv = tr.novel
    assert nv is not None and nv.n == N_NOVEL and f"{N_NOVEL} novel views" in msg
    targets = nv.targets.reshape(nv.n, nv.H, nv.W).long()
    assert len(regions.seen) == N_NOVEL
    wrong_raw, wrong_t = 0, 0
    for j in range(nv.n):
        raw, truth = _truth_and_raw(tr, nv.K[j], nv.c2w[j], nv.H, nv.W)
        wrong_raw += int((raw != truth).sum())
        wrong_t += int((targets[j] != truth).sum())
        # the region backend saw exactly this novel view's rendered RGB
        rgb = render_image(tr.field, nv.K[j], nv.c2w[j], nv.H, nv.W, outputs=("rgb",))["rgb"]
        rgb8 = (rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
        assert np.array_equal(regions.seen[j], rgb8)
    n = nv.n * nv.H * nv.W
    assert wrong_raw / n > 0.01
    assert wrong_t / n < 0.003
    # several classes present in the targets (not a constant map)
    assert len(torch.unique(targets)) >= 3


def test_w_cse_star_keeps_the_rendered_maps_unrefined(tiny_scene, cse_run):
    """use_rsr=False in CSE ("w CSE*"): pseudo maps are the raw renderings (patch kept)."""
    tr, _, _ = cse_run
    tr.cfg = tr.cfg.replace(cse_pseudo_rsr=False, cse_pms=False)
    tr.run_cse(15)
    H, W = tr.bank.hw[0].tolist()
    raw, _ = _truth_and_raw(tr, tr.bank.K[0], tr.bank.c2w[0], H, W)
    assert torch.equal(tr.bank.view_map(tr.bank.pseudo, 0).long(), raw)
