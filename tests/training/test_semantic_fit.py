"""With a NOISELESS teacher (CLIP feature of every pixel = text embedding of its true class; regions
= the true segments) the semantic branch must segment held-out views of the tiny room with
mIoU ≥ 0.9 (observed 0.92; the misses are object boundaries at 36×48 pixels). ~1 min, 1 thread."""
import torch

from ovnerf.field.semantic_field import FieldConfig
from ovnerf.training.config import TrainConfig
from ovnerf.training.evaluate import evaluate_views
from ovnerf.training.trainer import Trainer

from conftest import AABB, CLASSES, make_frames, split, synthetic_targets, text_embeddings


def test_noiseless_teacher_reaches_miou_090():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train, test = split(make_frames(H=36, W=48))
        emb = text_embeddings()
        cache = {f.name: synthetic_targets(f, emb, feat_down=1, box_region=False) for f in train}
        fcfg = FieldConfig.cpu_preset(n_voxels_init=16 ** 3, n_voxels_final=40 ** 3, max_samples=48)
        tcfg = TrainConfig.cpu_preset(upsample_iters=(80, 160), alpha_mask_iters=(120,), iterations=360, batch_rays=512, geometry_warmup_frac=0.2, stage1_iters=260,
                                      cse_every=50, cse_pms=False, checkpoint_every=0, seed=0)
        tr = Trainer(train, cache, emb, fcfg, tcfg, vocabulary=CLASSES, aabb=AABB)
        res = tr.train()
        assert res.completed
        ev = evaluate_views(tr.field, emb, test, CLASSES)
    finally:
        torch.set_num_threads(n)
    print(f"\nnoiseless teacher: {ev.summary()}; per-class IoU "
          + ", ".join(f"{c} {i:.2f}" for c, i in zip(CLASSES, ev.iou)) + f"; {res.iters_per_s:.1f} it/s")
    assert ev.n_views == 3
    assert ev.miou >= 0.9
    assert ev.macc >= 0.9
    assert ev.psnr >= 15.0  # colour is learned alongside (textured walls: a low bound for 360 iterations)
