"""``ovnerf bench``: speed and memory figures of the whole system on this machine.

Sections (each figure is the **median over ``repeats``** runs unless stated):

1. **machine**: CPU model, logical cores, torch version and threads, device.
1b. **peer** (``ovnerf.field.peer_bench``): our training step against the **TensoRF reference
   step** (``ovnerf.field.tensorf_reference``: the paper's algorithm on our parameters — nerfstudio
   cannot be installed beside our pins), interleaved in this process at equal grid, samples and
   rays, per phase (before the alpha mask, after it, semantic): min over repeats and the ratio;
   peak memory of each configuration from its own process (not with ``quick``).
2. **field** (``ovnerf.field.benchmark.bench_field``): one training step of the semantic field
   (forward + backward + Adam, RGB + CLIP feature + DINO outputs) at ``n_rays`` rays on the CPU
   preset field, rendering one 640×480 view (RGB, depth, segmentation), and **the same training
   step with the naïve reference TensoRF** (``ovnerf.field.naive_reference``: no empty-space
   skipping, every head at every sample, dense tensors) → the speed ratio.
3. **trainer**: the real ``Trainer.step`` (all OV-NeRF losses: colour, feature, CE, DINO
   distribution + regression) at ``n_rays`` rays, CPU preset, on 4 views of the demo room
   (160×120) whose targets come from the simulated teacher (``teacher_training_data``; the
   trainer from the run path, ``ovnerf.app.run.build_trainer``) — iterations/s and ms/iteration.
4. **query**: latency of ``SemanticMap.relevancy`` (one 160×120 view) and of
   ``SemanticMap.localize`` — from the semantic point map saved beside the checkpoint (built here
   and timed when absent), median over every vocabulary class, and by rendering (≤8 keyframes at
   ≤64 px, the path before the point map) — on the field of a trained checkpoint
   (``checkpoint``; default ``demo_out/checkpoints/checkpoint.pt`` when present), else on the
   benchmark's synthetic wall field (then the query figures are marked *synthetic*).
5. **preprocess** (``ovnerf.foundation.benchmark.bench_backends``): seconds per 640×480 frame and
   peak memory per backend (simulated teacher, open_clip, SAM ONNX / torch, DINO ONNX / timm;
   backends whose weights are absent are listed as skipped).

Peak memory: the process's peak resident set size while a section runs (sampled every 5 ms;
``ru_maxrss`` for the field section). ``quick=True``: 1 repeat, fewer steps, SAM with a 4×4
prompt grid — a smoke run, not figures to quote.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ovnerf.app import run as app
from ovnerf.app.workspace import Workspace
from ovnerf.errors import UserError
from ovnerf.experiments.demo import machine_description
from ovnerf.field.benchmark import bench_field
from ovnerf.field.peer_bench import METHODS, PHASES, bench_peer, format_peer, one_step, peak_memory
from ovnerf.field.semantic_field import FieldConfig
from ovnerf.foundation.benchmark import bench_backends, crop_counts
from ovnerf.foundation.registry import resolve
from ovnerf.foundation.simulated_teacher import SimulatedCLIPTeacher
from ovnerf.peak_rss import PeakRSS
from ovnerf.query import SemanticMap, View
from ovnerf.scene.store import SceneStore
from ovnerf.semantic_point_map import build_point_map
from ovnerf.synthetic.generate import generate_room_scene
from ovnerf.training.config import TrainConfig

DEMO_CHECKPOINT = Workspace("demo_out").checkpoint   # what `ovnerf demo` writes by default



def _median(values):
    values = [v for v in values if v is not None and np.isfinite(v)]
    return float(statistics.median(values)) if values else float("nan")


def _time(fn, repeats: int) -> tuple[float, list[float]]:
    ts = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return _median(ts), ts


# ---------------------------------------------------------------------------- sections
def bench_field_section(device, n_rays: int, repeats: int, iters: int) -> dict:
    runs = []
    with PeakRSS() as mem:
        for _ in range(max(1, repeats)):
            runs.append(bench_field(device=device, n_rays=n_rays, iters=iters, naive=True, render=True))
    keys = [k for k, v in runs[0].items() if isinstance(v, float)]
    out = dict(runs[0])
    out.update({k: _median([r[k] for r in runs]) for k in keys})
    # on the CPU the peaks are the process's ru_maxrss, which never decreases: only the first
    # repeat (train → render → naive, in that order) measures each step's own peak
    out.update({k: runs[0][k] for k in keys if k.endswith("_peak_mem_mb")})
    out["speedup"] = out["train_it_s"] / out["naive_it_s"] if out.get("naive_it_s") else float("nan")
    out["repeats"] = len(runs)
    out["section_peak_rss_mb"] = mem.peak_mb
    return out


def bench_peer_section(device, n_rays: int, repeats: int, quick: bool) -> dict:
    res = bench_peer(device=device, n_rays=n_rays, repeats=repeats)
    if not quick:
        for phase in PHASES:
            for m in METHODS:
                res["phases"][phase][f"{m}_peak_mb"] = peak_memory(phase, m, device, n_rays)
    return res


def peer_step_peak(phase: str, method: str, device: str, n_rays: int) -> float:
    """Child side of ``ovnerf.field.peer_bench.peak_memory``: MiB one step adds (see there)."""

    run = one_step(phase, method, device, n_rays)
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        run()
        return (torch.cuda.max_memory_allocated(device) - base) / 2 ** 20
    with PeakRSS() as mem:
        base = mem.peak
        run()
    return (mem.peak - base) / 2 ** 20


def _demo_views(tmp: Path, n: int = 4, width: int = 160, height: int = 120):
    scene = generate_room_scene(tmp / "scene", seed=0, width=width, height=height, n_frames=n * 3)
    store = SceneStore(scene, create=False)
    names = store.names()[1::3][:n]
    return store, store.frames(names)


def teacher_training_data(frames, class_names, teacher, dino_dim: int = 0) -> app.TrainingData:
    """Training data whose targets come straight from ``teacher`` (``multiscale_features(frame)``,
    ``encode_text(names)``) on the labels (relevancy = S~ = the label image, no SAM regions; with
    ``dino_dim``: seeded random unit DINO features on a 9×12 grid), without the preprocess cache —
    what the trainer and paper-scale benches time."""
    g = torch.Generator().manual_seed(0)
    targets = {}
    for f in frames:
        lab = torch.as_tensor(f.labels, dtype=torch.long)
        targets[f.name] = {"clip_feat": teacher.multiscale_features(f)[0].float(), "relevancy": lab, "rsr": lab,
                           "regions": torch.zeros(0, f.height, f.width, dtype=torch.bool)}
        if dino_dim:
            targets[f.name]["dino"] = torch.nn.functional.normalize(torch.randn(9, 12, dino_dim, generator=g), dim=-1)
    return app.TrainingData(frames, targets, list(class_names), teacher.encode_text(class_names))


def bench_trainer_section(device, n_rays: int, repeats: int, steps: int, tmp: Path) -> dict:
    """Median ms per ``Trainer.step`` (Stage I, all losses) at ``n_rays`` rays."""

    store, frames = _demo_views(tmp)
    data = teacher_training_data(frames, store.class_names, SimulatedCLIPTeacher(label_names=store.class_names),
                                 dino_dim=384)
    cfg = TrainConfig.cpu_preset(iterations=10 ** 6, batch_rays=n_rays, use_cse=False, checkpoint_every=0)
    tr = app.build_trainer(data, cfg, FieldConfig.cpu_preset(), device=device)
    with PeakRSS() as mem:
        tr.step(0)  # warm-up
        per_rep = []
        i = 1
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            for _ in range(steps):
                tr.step(i)
                i += 1
            per_rep.append((time.perf_counter() - t0) / steps)
    s = _median(per_rep)
    return {"n_rays": n_rays, "grid_res": tr.field.grid_res, "s_per_it": s, "it_s": 1.0 / s,
            "steps": steps, "repeats": len(per_rep), "peak_rss_mb": mem.peak_mb,
            "views": f"{len(frames)} x {frames[0].width}x{frames[0].height}", "trainer": tr}


def bench_query_section(device, repeats: int, checkpoint=None, fallback_field=None) -> dict:
    synthetic = False
    ck = Path(checkpoint) if checkpoint else DEMO_CHECKPOINT
    if ck.is_file():
        smap = SemanticMap.load(ck, device=device)
        source = str(ck)
    else:
        if checkpoint:
            raise UserError(f"checkpoint not found: {checkpoint}")
        tr = fallback_field
        smap = SemanticMap(tr.field, tr.vocabulary, tr.text_emb, device=device,
                           views=[View(f.K, f.c2w, f.height, f.width) for f in tr.frames])
        source = "untrained field of the trainer benchmark (synthetic: run `ovnerf demo` first for real figures)"
        synthetic = True
    if not smap.views:
        raise UserError(f"{source}: no keyframes stored for localisation")
    v = smap.views[len(smap.views) // 2]
    K = np.asarray(v.K, dtype=np.float64).copy()
    sx, sy = 160 / v.W, 120 / v.H
    K[0] *= sx
    K[1] *= sy
    K[2] = [0, 0, 1]
    text = smap.class_names[min(7, len(smap.class_names) - 1)]

    def loc(name, views=None):
        try:
            smap.localize(name, views=views)
        except UserError:
            pass
    build_s = None
    with PeakRSS() as mem:
        rel_s, _ = _time(lambda: smap.relevancy(text, None, K, v.c2w, 120, 160), repeats)
        render_loc_s, _ = _time(lambda: loc(text, smap.views), repeats)  # the rendering path
        if smap.point_map is None:
            t0 = time.perf_counter()
            smap.point_map = build_point_map(smap.field, smap.views, device=device)
            build_s = time.perf_counter() - t0
        pm = smap.point_map
        loc(text)  # first query converts the fp16 features once
        lat = []
        for _ in range(max(1, repeats)):
            for name in smap.class_names:  # "any text": every vocabulary entry
                t0 = time.perf_counter()
                loc(name)
                lat.append(time.perf_counter() - t0)
    return {"source": source, "synthetic": synthetic, "text": text, "relevancy_160x120_s": rel_s,
            "localize_s": _median(lat), "localize_max_s": max(lat), "localize_texts": len(smap.class_names),
            "localize_render_s": render_loc_s, "point_map_points": len(pm),
            "point_map_mb": sum(t.numel() * t.element_size() for t in (pm.points, pm.features, pm.colors, pm.viewers,
                                                                         pm.count, pm.view_mask)) / 2 ** 20,
            "point_map_build_s": build_s, "point_map_fp16_max_cos_error": pm.fp16_max_cos_error,
            "repeats": max(1, repeats), "peak_rss_mb": mem.peak_mb}


def bench_preprocess_section(device, repeats: int, quick: bool) -> dict:
    cfg = {"device": str(device)}
    if quick:
        cfg["sam_points_per_side"] = 4
    return bench_backends(cfg, width=640, height=480, repeats=max(1, repeats), warmup=False, print_fn=None)


def crop_counts_640() -> dict:
    return crop_counts(640, 480, resolve({}))


# ---------------------------------------------------------------------------- driver
def run_bench(device="cpu", quick: bool = False, repeats: int | None = None, n_rays: int = 4096,
              checkpoint=None, sections=("peer", "field", "trainer", "query", "preprocess"), print_fn=print) -> dict:
    """Run the benchmark sections; prints as it goes and returns every figure in a dict."""

    device = torch.device(device)
    repeats = int(repeats if repeats is not None else (1 if quick else 3))
    out = {"machine": machine_description(device), "quick": bool(quick), "repeats": repeats, "n_rays": n_rays}
    p = print_fn or (lambda *_: None)
    p(f"machine: {out['machine']}")
    p(f"figures: median over {repeats} repeat(s){' (QUICK mode: smoke figures only)' if quick else ''}")
    with tempfile.TemporaryDirectory(prefix="ovnerf-bench-") as tmp:
        tmp = Path(tmp)
        trainer = None
        if "peer" in sections:
            r = bench_peer_section(device, n_rays, repeats, quick)
            out["peer"] = r
            p("\n[peer] ours vs the TensoRF reference step (ratio = TensoRF time / ours; > 1: ours faster)")
            for line in format_peer(r):
                p(line)
            if not quick:
                p("    memory one step adds (own process each, TensoRF/ours): " + "; ".join(
                    f"{ph} {q.get('tensorf_peak_mb', float('nan')):.0f}/{q.get('ours_peak_mb', float('nan')):.0f} MiB"
                    for ph, q in r["phases"].items()))
        if "field" in sections:
            r = bench_field_section(device, n_rays, repeats, iters=2 if quick else 3)
            out["field"] = r
            p(f"\n[field] CPU-preset semantic field, grid {r['grid_res']}, {r['samples_per_ray']} samples/ray, "
              f"D={r['feature_dim']}, Dd={r['dino_dim']}")
            p(f"  training step @ {n_rays} rays:  {r['train_it_s']:.2f} it/s  ({1000 * r['train_s_per_it']:.0f} ms/it)")
            p(f"  naive reference TensoRF step:   {r['naive_it_s']:.2f} it/s  ({1000 / r['naive_it_s']:.0f} ms/it)"
              f"  -> ours is x{r['speedup']:.1f} faster")
            p(f"  render 640x480 (rgb+depth+seg): {r['render_s']:.2f} s/view")
            p(f"  peak RSS (process): train {r['train_peak_mem_mb']:.0f} MiB, render {r['render_peak_mem_mb']:.0f} MiB, "
              f"naive {r['naive_peak_mem_mb']:.0f} MiB")
        if "trainer" in sections or ("query" in sections and not _has_ckpt(checkpoint)):
            r = bench_trainer_section(device, n_rays, repeats, steps=2 if quick else 5, tmp=tmp)
            trainer = r.pop("trainer")
            out["trainer"] = r
            p(f"\n[trainer] Trainer.step, Stage I, all losses, {r['views']} views, grid {r['grid_res']}")
            p(f"  {n_rays} rays/iteration: {r['it_s']:.2f} it/s ({1000 * r['s_per_it']:.0f} ms/it); "
              f"peak RSS {r['peak_rss_mb']:.0f} MiB")
        if "query" in sections:
            r = bench_query_section(device, repeats, checkpoint, trainer)
            out["query"] = r
            p(f"\n[query] on {r['source']}")
            p(f"  relevancy '{r['text']}' 160x120: {1000 * r['relevancy_160x120_s']:.0f} ms; peak RSS "
              f"{r['peak_rss_mb']:.0f} MiB")
            built = ("" if r["point_map_build_s"] is None else
                     f", built here in {r['point_map_build_s']:.2f} s (none beside the checkpoint)")
            p(f"  3D localize from the point map: {1000 * r['localize_s']:.1f} ms median over "
              f"{r['localize_texts']} texts x {r['repeats']} (max {1000 * r['localize_max_s']:.1f} ms); by rendering "
              f"'{r['text']}': {1000 * r['localize_render_s']:.0f} ms")
            p(f"  point map: {r['point_map_points']} points, {r['point_map_mb']:.1f} MiB (fp16 features, max "
              f"cosine error {r['point_map_fp16_max_cos_error']:.1e}){built}")
        del trainer
        if "preprocess" in sections:
            r = bench_preprocess_section(device, repeats, quick)
            out["preprocess"] = r
            p("\n[preprocess] per 640x480 frame" + (" (SAM with 4x4 prompts: quick)" if quick else ""))
            c = out["clip_crops"] = crop_counts_640()
            p(f"  clip crops      {c['3dovs']} per 640x480 view with the 3DOVS recipe (grid {c['grid'][1]}x{c['grid'][0]}, "
              f"patches {c['patch_px']} px); {c['fast']} with the openclip-fast preset")
            for k, v in r.items():
                if "skipped" in v:
                    p(f"  {k:<15} skipped ({v['skipped'][:90]})")
                else:
                    p(f"  {k:<15} {v['seconds_per_frame']:7.2f} s/frame  peak +{v['peak_mem_mb']:6.0f} MiB  [{v['backend']}]")
    return out


def _has_ckpt(checkpoint) -> bool:
    return Path(checkpoint).is_file() if checkpoint else DEMO_CHECKPOINT.is_file()
