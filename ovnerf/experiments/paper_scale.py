"""``ovnerf bench --device cuda --paper-scale``: the paper's training at full size on one GPU.

One short run on a lent GPU fills the table of docs/BENCHMARKS.md: the demo room rendered at
640×480 (``views`` training views, SIMULATED CLIP teacher targets on its patch grid), the
paper's field (``FieldConfig()``: 128³→300³ voxels, ≤1024 samples/ray, D = 512) and schedule
(``TrainConfig()``: 15 000 iterations of 4096 rays, CSE on; no SAM regions: CSE pseudo maps are
not RSR-refined), then

* ``train_s``: wall time of ``Trainer.train`` (all events included) and s/iteration;
* ``render_s``: one 640×480 semantic view (``SemanticMap.render``: RGB, depth, argmax labels);
* ``point_map_build_s`` and ``query_ms``: the semantic point map and the median latency of the
  3D query (``SemanticMap.localize``) over every vocabulary class;
* ``peak_gpu_mb``: ``torch.cuda.max_memory_allocated`` over the whole run.

The code is device-agnostic (the tests run it on the CPU at toy size); the CLI refuses to start
it without CUDA, with one line, since on this 2-core CPU it would take days.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch

from ovnerf.app import run as app
from ovnerf.errors import UserError
from ovnerf.experiments.bench import teacher_training_data
from ovnerf.field.semantic_field import FieldConfig
from ovnerf.foundation.simulated_teacher import SimulatedCLIPTeacher
from ovnerf.query import SemanticMap, View
from ovnerf.scene.store import SceneStore
from ovnerf.synthetic.generate import generate_room_scene
from ovnerf.training.config import TrainConfig


def cuda_missing(device) -> str | None:
    """One-line reason when ``device`` is not a usable CUDA device, else None."""
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return "no CUDA device: --paper-scale needs a GPU (use --device cuda on a machine with one); nothing run"
    return None


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_paper_scale(device="cuda", iterations: int = 15000, batch_rays: int = 4096, width: int = 640,
                      height: int = 480, views: int = 12, field_overrides: dict | None = None,
                      teacher=None, print_fn=print) -> dict:
    """Run the paper-scale benchmark (see module docstring) on ``device``; ``teacher`` (default the
    SIMULATED CLIP teacher) supplies ``multiscale_features(frame)`` and ``encode_text(names)``."""
    device = torch.device(device)
    p = print_fn or (lambda *_: None)
    if iterations < 1 or views < 1:
        raise UserError("--iterations and --views must be ≥ 1")
    with tempfile.TemporaryDirectory(prefix="ovnerf-paper-") as tmp:
        scene = generate_room_scene(Path(tmp) / "scene", seed=0, width=width, height=height, n_frames=views)
        store = SceneStore(scene, create=False)
        frames = store.frames(store.names())
        teacher = teacher or SimulatedCLIPTeacher(label_names=store.class_names)
        data = teacher_training_data(frames, store.class_names, teacher)
        tcfg = TrainConfig(iterations=iterations, batch_rays=batch_rays, checkpoint_every=0)
        fcfg = FieldConfig(**(field_overrides or {}))
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        tr = app.build_trainer(data, tcfg, fcfg, device=device)
        p(f"[paper-scale] {len(frames)} views {width}x{height}, {iterations} iterations x {batch_rays} rays, "
          f"grid {tr.field.grid_res} -> {fcfg.n_voxels_final} voxels, D={tr.field_cfg.feature_dim} "
          "(targets: SIMULATED CLIP teacher)")
        _sync(device)
        t0 = time.perf_counter()
        res = tr.train()
        _sync(device)
        train_s = time.perf_counter() - t0
        p(f"  training: {train_s:.1f} s ({1000 * train_s / max(1, res.iteration):.1f} ms/it), final grid "
          f"{tr.field.grid_res}, PSNR {res.psnr:.2f} dB")
        vs = [View(f.K, f.c2w, f.height, f.width) for f in frames]
        smap = SemanticMap(tr.field, tr.vocabulary, tr.text_emb, views=vs, device=device)
        v = vs[len(vs) // 2]
        smap.render(v.K, v.c2w, v.H, v.W)  # warm-up
        _sync(device)
        t0 = time.perf_counter()
        smap.render(v.K, v.c2w, v.H, v.W)
        _sync(device)
        render_s = time.perf_counter() - t0
        p(f"  render {v.W}x{v.H} semantic view (rgb, depth, labels): {render_s:.3f} s")
        t0 = time.perf_counter()
        smap.point_map = tr.build_point_map()
        build_s = time.perf_counter() - t0
        lat = []
        for name in tr.vocabulary:
            t0 = time.perf_counter()
            try:
                smap.localize(name)
            except UserError:
                pass
            lat.append(time.perf_counter() - t0)
        query_ms = 1000 * statistics.median(lat)
        p(f"  point map: {len(smap.point_map)} points, built in {build_s:.2f} s; 3D query: {query_ms:.1f} ms "
          f"median over {len(lat)} texts")
        peak = torch.cuda.max_memory_allocated(device) / 2 ** 20 if device.type == "cuda" else float("nan")
        if device.type == "cuda":
            p(f"  peak GPU memory: {peak:.0f} MiB")
    return {"device": str(device), "views": len(frames), "width": width, "height": height,
            "iterations": int(res.iteration), "batch_rays": batch_rays, "train_s": train_s,
            "train_ms_per_it": 1000 * train_s / max(1, res.iteration), "psnr": res.psnr,
            "render_s": render_s, "point_map_points": len(smap.point_map), "point_map_build_s": build_s,
            "query_ms": query_ms, "peak_gpu_mb": peak}
