"""Admission benchmark of the collector path (``ovnerf bench-collector``): keyframes/s that
:class:`~ovnerf.scene.ingest.FrameIngest` admits into a :class:`~ovnerf.scene.store.SceneStore`
(stamp checks, pose interpolated from a TF history, keyframe decision, PNG encoding, journal
append + fsync, periodic transforms.json rewrite), for a store that already holds ``n``
keyframes — so the figure for 10 and for 5,000 stored keyframes shows whether admission cost
grows with the store. The prefilled frames are tiny (one 32×24 PNG hard-linked under every name:
their images do not matter, their metadata does); the admitted ones are ``width``×``height`` smooth textures with noise (a camera
image compresses somewhat; pure noise would not). Times with ``time.perf_counter``; the figure
is a rate, not an assertion.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from ovnerf.scene.frames import PosedFrame
from ovnerf.scene.ingest import FrameIngest, IngestConfig
from ovnerf.scene.store import SceneStore

CAM = "camera"


def textures(n: int, width: int, height: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        low = cv2.resize(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), (width, height),
                         interpolation=cv2.INTER_CUBIC)
        noise = rng.integers(-6, 7, (height, width, 3))
        out.append(np.clip(low.astype(np.int16) + noise, 0, 255).astype(np.uint8))
    return out


def prefill(root: Path, n: int) -> None:
    """A store of ``n`` tiny keyframes written in one go: one 32×24 PNG hard-linked under each
    name and one transforms.json (the metadata is the part whose size matters)."""
    store = SceneStore(root)
    c2w = np.eye(4)
    store.add_frame(PosedFrame("pre_000000", np.zeros((24, 32, 3), np.uint8),
                               np.array([[30.0, 0, 16], [0, 30.0, 12], [0, 0, 1]]), c2w, timestamp=0.5))
    store.flush()
    first = store.meta["frames"][0]
    for i in range(1, n):
        name = f"pre_{i:06d}"
        os.link(root / first["file_path"], root / "images" / f"{name}.png")
        store.meta["frames"].append({**first, "file_path": f"images/{name}.png", "timestamp": 0.5 + i * 1e-6})
    store.flush()
    store.close()


def admission_rate(root: Path, stored: int, admit: int = 120, width: int = 640, height: int = 480,
                   png_compression: int | None = 1) -> dict:
    """Keyframes/s admitted through FrameIngest into a store holding ``stored`` keyframes."""
    prefill(root, stored)
    store = SceneStore(root, png_compression=png_compression)
    K = np.array([[525.0, 0, width / 2], [0, 525.0, height / 2], [0, 0, 1]])
    ing = FrameIngest(store, IngestConfig(camera_frame=CAM, min_translation=0.01, min_rotation_deg=0.0,
                                          max_pending=admit + 1))
    ing.camera_info(K, height, width)
    imgs = textures(8, width, height)
    dt = 0.1
    for i in range(admit + 2):                    # TF covering every image stamp, 0.1 m apart
        T = np.eye(4)
        T[0, 3] = i * dt
        ing.transform("map", CAM, 1.0 + i * dt, T)
    t0 = time.perf_counter()
    for i in range(admit):
        img = imgs[i % len(imgs)]
        ing.image(1.0 + i * dt + dt / 2, CAM, lambda expected, a=img: a)
        ing.drain()
    elapsed = time.perf_counter() - t0
    store.close()
    return {"stored_before": stored, "admitted": int(ing.stats["keyframes_added"]), "seconds": elapsed,
            "keyframes_per_s": ing.stats["keyframes_added"] / elapsed, "png_compression": png_compression,
            "size": f"{width}x{height}"}


def run_bench(sizes=(10, 5000), admit: int = 120, width: int = 640, height: int = 480,
              compressions=(0, 1), rounds: int = 3, workdir=None, print_fn=print) -> dict:
    """Per compression level and store size, the best of ``rounds`` interleaved measurements
    (the sizes alternate, so a load spike on a shared machine hits both alike)."""
    out = {}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        for level in compressions:
            stores = {n: Path(tmp) / f"s{n}_{level}" for n in sizes}
            rates: dict = {n: [] for n in sizes}
            for k in range(rounds):
                for n in sizes:
                    r = admission_rate(stores[n], n, admit, width, height, level)
                    rates[n].append(r["keyframes_per_s"])
                    shutil.rmtree(stores[n])
            for n in sizes:
                best, med = max(rates[n]), float(np.median(rates[n]))
                out[(level, n)] = best
                print_fn(f"png_compression {level}: store of {n:5d} keyframes: {best:6.1f} keyframes/s admitted "
                         f"at {width}x{height} (best of {rounds}; median {med:.1f})")
            lo, hi = min(sizes), max(sizes)
            print_fn(f"png_compression {level}: ratio {hi} / {lo} keyframes = {out[(level, hi)] / out[(level, lo)]:.2f}")
    return out
