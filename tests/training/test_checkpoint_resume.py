"""Checkpoints: atomic, corrupt files → UserError, resume == uninterrupted run (same seed)."""
import os

import pytest
import torch

from ovnerf.checkpoint import load_checkpoint
from ovnerf.errors import UserError
from ovnerf.training.trainer import Trainer

from conftest import AABB, CLASSES, BlockRegions
from test_trainer_smoke import small_cfg, small_field

# 16 iterations: warm-up 0..1, Stage II from 6 with CSE at 6/10/14, upsample at 4 and 12, early
# occupancy grid at 3/6/9 (resumed at 8 from the checkpoint's trainer state), alpha mask at 10.
CFG = dict(iterations=16, geometry_warmup_frac=0.125, stage1_iters=6, cse_every=4, checkpoint_every=0,
           upsample_iters=(4, 12), alpha_mask_iters=(10,), occupancy_every=3)


def field_cfg():
    # the grid at TensoRF's α threshold so that it skips space in this tiny scene (then resuming
    # without it would change the result)
    return small_field().__class__.from_dict({**small_field().to_dict(), "n_voxels_final": 24 ** 3,
                                              "occupancy_threshold": 1e-4, "occupancy_decay": 0.25})


def trainer(scene, out):
    return Trainer(scene["train"], scene["cache"], scene["text_emb"], field_cfg(), small_cfg(**CFG),
                   region_backend=BlockRegions(), out_dir=out, vocabulary=CLASSES, aabb=AABB)


def test_resume_equals_uninterrupted(tiny_scene, tmp_path):
    torch.set_num_threads(1)
    a = trainer(tiny_scene, tmp_path / "a")
    ra = a.train()
    assert ra.iteration == 16

    b = trainer(tiny_scene, tmp_path / "b")
    rb = b.train(should_stop=lambda: b.iteration >= 8)
    assert rb.stopped and rb.iteration == 8
    del b  # "kill": a fresh process state would only have the checkpoint
    torch.manual_seed(12345)  # disturb the global RNG: resume must restore it
    c = trainer(tiny_scene, tmp_path / "b")
    assert c.resume() == 8
    rc = c.train()
    assert rc.iteration == 16 and rc.completed

    sa, sc = a.field.state_dict(), c.field.state_dict()
    assert sa.keys() == sc.keys()
    for k in sa:
        assert sa[k].shape == sc[k].shape, k
        assert torch.allclose(sa[k].float(), sc[k].float(), atol=1e-6, rtol=0), k
    assert torch.equal(a.bank.pseudo, c.bank.pseudo)
    assert torch.equal(a.novel.targets, c.novel.targets)
    assert ra.losses["total"] == pytest.approx(rc.losses["total"], abs=1e-6)


def test_corrupt_and_foreign_files_raise_user_error(tiny_scene, tmp_path):
    torch.set_num_threads(1)
    t = trainer(tiny_scene, tmp_path)
    path = t.save()
    data = path.read_bytes()
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p]  # no temp file left behind
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="corrupt"):
        load_checkpoint(bad)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(UserError):
        load_checkpoint(junk)
    foreign = tmp_path / "foreign.pt"
    torch.save({"hello": torch.zeros(2)}, foreign)
    with pytest.raises(UserError, match="not an ovnerf checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(UserError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    # resuming with another vocabulary is refused
    other = Trainer(tiny_scene["train"], tiny_scene["cache"], tiny_scene["text_emb"], field_cfg(), small_cfg(**CFG),
                    out_dir=tmp_path, vocabulary=[c + "!" for c in CLASSES], aabb=AABB)
    with pytest.raises(UserError, match="vocabulary"):
        other.resume(path)
