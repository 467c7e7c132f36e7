"""Trainer mechanics on the tiny room: both stages, CSE, progress, cancellation, checkpoints."""
import math

import torch

from ovnerf.checkpoint import load_checkpoint
from ovnerf.field.semantic_field import FieldConfig
from ovnerf.training.config import TrainConfig
from ovnerf.training.trainer import Trainer

from conftest import AABB, CLASSES, BlockRegions


def small_field():
    return FieldConfig.cpu_preset(n_voxels_init=12 ** 3, n_voxels_final=20 ** 3, max_samples=32, feature_hidden=32,
                                  rgb_hidden=32)


def small_cfg(**kw):
    base = dict(iterations=12, batch_rays=128, geometry_warmup_frac=0.15, stage1_iters=6, cse_every=3,
                cse_novel_views=2, checkpoint_every=5, progress_interval_s=0.0, render_chunk=2048,
                dino_pair_rays=32, upsample_iters=(4,), alpha_mask_iters=(5,))
    base.update(kw)
    return TrainConfig.cpu_preset(**base)


def make_trainer(scene, out_dir, **kw):
    return Trainer(scene["train"], scene["cache"], scene["text_emb"], small_field(), small_cfg(**kw),
                   region_backend=BlockRegions(), out_dir=out_dir, vocabulary=CLASSES, aabb=AABB)


def test_two_stages_progress_and_checkpoint(tiny_scene, tmp_path):
    torch.set_num_threads(1)
    tr = make_trainer(tiny_scene, tmp_path)
    seen = []
    res = tr.train(callback=seen.append)
    assert res.iteration == 12 and res.completed and not res.stopped
    stages = {p.stage for p in seen}
    assert stages == {1, 2}
    msgs = " | ".join(p.message for p in seen)
    assert "CSE at 6" in msgs and "CSE at 9" in msgs and "upsampled" in msgs and "alpha mask" in msgs
    last = seen[-1]
    assert last.iteration == 12 and last.total == 12 and last.message == "done"
    assert {"color", "feat", "pmu", "pms", "dino", "total"} <= set(last.losses)
    assert all(math.isfinite(v) for v in last.losses.values()) and math.isfinite(last.psnr)
    # pseudo maps and novel views exist after CSE; pseudo maps are valid class ids
    assert tr.bank.pseudo is not None and int(tr.bank.pseudo.min()) >= -1 and int(tr.bank.pseudo.max()) < len(CLASSES)
    assert tr.novel is not None and tr.novel.n == 2
    ck = load_checkpoint(res.checkpoint)
    assert ck["iteration"] == 12 and ck["vocabulary"] == CLASSES and len(ck["views"]) == len(tiny_scene["train"])
    assert torch.allclose(ck["text_emb"], tiny_scene["text_emb"], atol=1e-6)
    assert ck["field"].grid_res == tr.field.grid_res
    # the semantic point map of the final field is saved beside the checkpoint and matches it
    from ovnerf.semantic_point_map import load_point_map
    pmap = load_point_map(res.checkpoint, ck["field"])
    assert pmap is not None and pmap.iteration == 12  # (12 iterations: no opaque surface yet, few points)
    assert pmap.features.shape[1] == tr.field.cfg.feature_dim


def test_cancellation_writes_checkpoint(tiny_scene, tmp_path):
    torch.set_num_threads(1)
    tr = make_trainer(tiny_scene, tmp_path)
    calls = []
    res = tr.train(callback=calls.append, should_stop=lambda: tr.iteration >= 3)
    assert res.stopped and res.iteration == 3 and not res.completed
    assert calls[-1].message == "stopped"
    assert load_checkpoint(res.checkpoint, build=False)["iteration"] == 3


def test_use_rsr_false_trains_on_raw_relevancy(tiny_scene):
    torch.set_num_threads(1)
    tr = Trainer(tiny_scene["train"], tiny_scene["cache"], tiny_scene["text_emb"], small_field(),
                 small_cfg(use_rsr=False, use_cse=False, iterations=3, geometry_warmup_frac=0.0),
                 vocabulary=CLASSES, aabb=AABB)
    assert tr._stage1_target() == "relevancy"
    res = tr.train()
    assert res.checkpoint is None and res.iteration == 3 and "sem" in res.losses
