"""The learned scale selection (3DOVS / OV-NeRF): a selection volume trained with the field.

Two-scale teacher on the tiny room: scale 1 = the true class text embedding at every cell; scale 0
= the same except the FLOOR, where each view says another class (view-inconsistent, as a crop
scale that is wrong there). Only scale 1 can be fitted by one 3D field on the floor, so L_feat
against the soft mixture Σ s_k F_k must move the floor's selection towards scale 1 (elsewhere both
scales agree and it may stay mixed)."""
import pytest
import torch

from ovnerf.checkpoint import load_checkpoint
from ovnerf.field.renderer import render_rays
from ovnerf.field.selection import composite_selection, mix_scales
from ovnerf.field.semantic_field import FieldConfig
from ovnerf.training.config import TrainConfig
from ovnerf.training.trainer import Trainer

from conftest import AABB, CLASSES, make_frames, split, synthetic_targets, text_embeddings


def test_composite_selection_is_a_weighted_mean_on_the_simplex():
    prob = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    w = torch.tensor([[3.0], [1.0], [0.0]])
    s = composite_selection(prob, w, torch.tensor([0, 0, 1]), 3, eps=0.0 + 1e-12)
    assert torch.allclose(s[0], torch.tensor([0.75, 0.25]), atol=1e-6)
    assert torch.allclose(s.sum(1), torch.ones(3), atol=1e-6)  # no weight -> uniform
    assert torch.allclose(s[2], torch.tensor([0.5, 0.5]), atol=1e-6)
    f = torch.randn(2, 2, 4)
    want = torch.stack([s[i, 0] * f[i, 0] + s[i, 1] * f[i, 1] for i in range(2)])
    assert torch.allclose(mix_scales(s[:2], f), want, atol=1e-6)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    train, _ = split(make_frames(H=24, W=32))
    emb = text_embeddings()
    cache = {}
    for k, f in enumerate(train):
        t = synthetic_targets(f, emb, feat_down=2, box_region=False)
        good = t["clip_feat"].float()
        bad = good.clone()
        lab = torch.as_tensor(f.labels[1::2, 1::2][:good.shape[0], :good.shape[1]]).long()
        bad[lab == 0] = emb[1 + k % 4]
        t["clip_ms"] = torch.stack([bad, good])
        cache[f.name] = t
    out = tmp_path_factory.mktemp("sel")
    fcfg = FieldConfig.cpu_preset(n_voxels_init=16 ** 3, n_voxels_final=24 ** 3, max_samples=40, selection_res=16)
    tcfg = TrainConfig.cpu_preset(upsample_iters=(60,), alpha_mask_iters=(80,), iterations=200, batch_rays=384, geometry_warmup_frac=0.2, use_cse=False,
                                  checkpoint_every=0, seed=0, w_sem=0.0, w_dino_pos=0.0, w_dino_neg=0.0,
                                  w_dino_feat=0.0)
    tr = Trainer(train, cache, emb, fcfg, tcfg, vocabulary=CLASSES, aabb=AABB, out_dir=out)
    res = tr.train()
    torch.set_num_threads(n)
    return tr, res


def test_learned_selection_prefers_the_consistent_scale_on_the_floor(trained):
    tr, res = trained
    assert tr.field.selection is not None and tr.field_cfg.n_scales == 2 and "feat" in res.losses
    g = torch.Generator().manual_seed(1)
    idx = tr.bank.sample(4096, g)
    b = tr.bank.gather(idx, target="rsr")
    with torch.no_grad():
        out = render_rays(tr.field, b.rays_o, b.rays_d, outputs=("feature", "selection"))
    sel = out["selection"]
    assert torch.allclose(sel.sum(1), torch.ones(len(sel)), atol=1e-4)
    floor = (b.target == 0) & (out["acc"] > 0.5)
    assert int(floor.sum()) > 200
    # the floor selects the consistent scale (1); at the start every ray had 0.5
    assert float(sel[floor, 1].mean()) > 0.7


def test_checkpoint_carries_the_selection_volume(trained):
    tr, res = trained
    ck = load_checkpoint(res.checkpoint)
    f = ck["field"]
    assert f.selection is not None and ck["field_config"]["n_scales"] == 2
    for a, b in zip(f.selection.state_dict().values(), tr.field.selection.state_dict().values()):
        assert torch.equal(a.cpu(), b.cpu())


def test_heuristic_option_has_no_selection_volume():
    cfg = TrainConfig.cpu_preset(scale_selection="heuristic")
    assert cfg.scale_selection == "heuristic"
    with pytest.raises(Exception, match="scale_selection"):
        TrainConfig.cpu_preset(scale_selection="nope")
