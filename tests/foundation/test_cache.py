"""Preprocess cache: resume, corruption, vocabulary change, stale manifests (real ONNX SAM,
simulated teacher, ONNX DINOv2)."""
import json
import shutil

import numpy as np
import pytest
import torch

from ovnerf.errors import UserError
from ovnerf.foundation.dino import OnnxDinoV2
from ovnerf.foundation.sam_onnx import OnnxSamRegions
from ovnerf.foundation.simulated_teacher import SimulatedCLIPTeacher
from ovnerf.preprocess.cache import PreprocessCache, pack_masks, unpack_masks
from ovnerf.preprocess.pipeline import parse_vocabulary, preprocess_views
from ovnerf.semantics.rsr import region_semantic_ranking

from .conftest import teacher_relevancy

VOCAB = "wall, floor, rug, table, chair, picture"


class Stop(Exception):
    pass


@pytest.fixture(scope="module")
def setup(room_views, tmp_path_factory):
    frames, classes = room_views
    by_name = {f.name: f for f in frames}
    backends = dict(clip=SimulatedCLIPTeacher(classes, noise=0.5),
                    regions=OnnxSamRegions(points_per_side=4, points_per_batch=16),
                    dino=OnnxDinoV2(long_side=112))
    golden = tmp_path_factory.mktemp("cache") / "golden"

    def run(cache_dir, vocab=VOCAB, after_view=None, **over):
        kw = dict(backends, **over)
        return preprocess_views(by_name.__getitem__, list(by_name), vocab, cache_dir,
                                progress=False, after_view=after_view, **kw)

    # an interrupted first run (stops after the first view), then a resumed one
    def stop_after_first(name):
        if name == frames[0].name:
            raise Stop()

    with pytest.raises(Stop):
        run(golden, after_view=stop_after_first)
    interrupted_manifest = json.loads((golden / "manifest.json").read_text())
    resumed = run(golden)
    return dict(run=run, golden=golden, resumed=resumed, frames=frames, classes=classes,
                interrupted_manifest=interrupted_manifest, backends=backends)


def copy_of(setup, tmp_path):
    dst = tmp_path / "cache"
    shutil.copytree(setup["golden"], dst)
    return dst


def test_resume_after_interruption(setup):
    assert setup["interrupted_manifest"]["complete"] is False
    rep = setup["resumed"]
    assert rep.reused == {"clip": 1, "regions": 1, "dino": 1, "text": 1}
    assert rep.computed == {"clip": 2, "regions": 2, "dino": 2, "text": 2}
    m = json.loads((setup["golden"] / "manifest.json").read_text())
    assert m["complete"] is True and m["is_simulation"] is True
    assert "SIMULATION" in m["backends"]["clip"]["name"]
    print("bytes per 160x120 view:", rep.bytes_per_view)


def test_load_view_targets(setup):
    cache = PreprocessCache(setup["golden"])
    assert cache.vocabulary == parse_vocabulary(VOCAB)
    T = cache.text_embeddings
    assert T.shape == (6, 512) and torch.allclose(T.norm(dim=1), torch.ones(6), atol=1e-5)
    f = setup["frames"][1]
    v = cache.load_view(f.name)
    H, W = f.labels.shape
    assert v.clip_feat.shape == (8, 10, 512) and v.clip_feat.dtype == torch.float32
    assert torch.allclose(v.clip_feat.norm(dim=-1), torch.ones(8, 10), atol=2e-3)  # fp16 storage
    assert v.relevancy.shape == (H, W) and v.relevancy.dtype == torch.long
    assert v.rsr.shape == (H, W) and v.regions.shape[1:] == (H, W) and v.regions.dtype == torch.bool
    assert len(v.regions) >= 1
    assert v.dino.shape == (6, 8, 384)
    assert torch.equal(v.rsr, region_semantic_ranking(v.relevancy, v.regions, 6))
    # the cached relevancy is the teacher's, recomputed directly
    teacher = setup["backends"]["clip"]
    S = teacher_relevancy(teacher, f, T)
    assert (S == v.relevancy).float().mean() > 0.99  # fp16 storage may flip near-ties


def test_rerun_reuses_everything(setup, tmp_path):
    rep = setup["run"](copy_of(setup, tmp_path))
    assert sum(rep.computed.values()) == 0 and not rep.text_recomputed


def test_corrupted_file_detected_and_recomputed(setup, tmp_path):
    d = copy_of(setup, tmp_path)
    name = setup["frames"][1].name
    reg = d / "views" / name / "regions.npz"
    good = PreprocessCache(d).load_view(name).regions.clone()
    data = bytearray(reg.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same length
    reg.write_bytes(bytes(data))
    txt = d / "views" / name / "text.npz"
    txt.write_bytes(txt.read_bytes()[:100])  # truncated
    with pytest.raises(UserError, match="corrupted"):
        PreprocessCache(d).load_view(name)
    rep = setup["run"](d)
    assert rep.computed == {"clip": 0, "regions": 1, "dino": 0, "text": 1}
    assert torch.equal(PreprocessCache(d).load_view(name).regions, good)


def test_vocabulary_change_recomputes_only_text_parts(setup, tmp_path):
    d = copy_of(setup, tmp_path)
    rep = setup["run"](d, vocab=VOCAB + ", lamp")
    assert rep.text_recomputed
    assert rep.computed == {"clip": 0, "regions": 0, "dino": 0, "text": 3}
    cache = PreprocessCache(d)
    assert cache.vocabulary[-1] == "lamp" and cache.text_embeddings.shape == (7, 512)
    v = cache.load_view(setup["frames"][0].name)
    assert int(v.relevancy.max()) < 7


def test_model_change_recomputes_that_part(setup, tmp_path):
    d = copy_of(setup, tmp_path)
    rep = setup["run"](d, clip=SimulatedCLIPTeacher(setup["classes"], noise=0.2))
    assert rep.computed == {"clip": 3, "regions": 0, "dino": 0, "text": 3}


def test_stale_or_incomplete_cache_rejected(setup, tmp_path):
    d = copy_of(setup, tmp_path)
    name = setup["frames"][0].name
    m = json.loads((d / "manifest.json").read_text())
    m["fingerprints"]["clip"] = "0" * 20  # manifest says another model made the features
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(UserError, match="stale"):
        PreprocessCache(d).load_view(name)
    m["complete"] = False
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(UserError, match="incomplete"):
        PreprocessCache(d).load_view(name)
    m["format"] = 999
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(UserError, match="format"):
        PreprocessCache(d)
    with pytest.raises(UserError, match="no preprocess cache"):
        PreprocessCache(tmp_path / "empty")


def test_mask_packing_roundtrip():
    rng = np.random.default_rng(0)
    m = rng.random((5, 7, 13)) > 0.5
    packed, shape = pack_masks(m)
    assert packed.shape == (5, 12) and np.array_equal(unpack_masks(packed, shape), m)
    p0, s0 = pack_masks(np.zeros((0, 7, 13), bool))
    assert unpack_masks(p0, s0).shape == (0, 7, 13)


def test_vocabulary_parsing():
    assert parse_vocabulary(" wall ,floor,, wall, coffee  table") == ["wall", "floor", "coffee table"]
    with pytest.raises(UserError):
        parse_vocabulary(" , ")
