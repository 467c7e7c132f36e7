"""Calibration figures of a simulated CLIP teacher on the demo room's training views.

Targets (fixed before any ablation was run, from what real CLIP dense features look like; issue
12): cos(feature, true class text) in [0.20, 0.35]; median top-1 − top-2 cosine margin ≤ 0.05;
2D mIoU of the teacher's relevancy map S in [10, 25] %; share of ground-truth segments whose
majority label in S is right in [55, 75] %.

Definitions (per training view, the teacher's dense feature F = its multi-scale features at the
scale :meth:`select_scale` picks, i.e. the map the preprocess turns into S):

* cos_true: mean over grid cells of cos(F(cell), t_c), c = the ground-truth class at the cell
  centre pixel (void cells skipped);
* margin: median over cells of (largest − second largest) cos(F(cell), t_j) over the vocabulary;
* miou: pooled 2D mIoU of S (``ovnerf.semantics.relevancy.relevancy_map``) against the labels
  (classes present);
* segment_majority: ground-truth segments = 4-connected components of each class covering at
  least ``min_segment_frac`` (1 %) of the image; the share whose most frequent label in S is
  their class.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from ovnerf.experiments.demo import prepare_scene
from ovnerf.foundation.base import gather_scale
from ovnerf.foundation.registry import build_text_image
from ovnerf.metrics import SegmentationMeter
from ovnerf.scene.store import SceneStore
from ovnerf.semantics.relevancy import relevancy_map

TARGETS = {"cos_true": (0.20, 0.35), "margin": (None, 0.05), "miou": (0.10, 0.25),
           "segment_majority": (0.55, 0.75)}


@dataclass
class Calibration:
    cos_true: float
    margin: float
    miou: float
    segment_majority: float
    n_views: int
    n_segments: int

    def inside(self) -> dict:
        out = {}
        for k, (lo, hi) in TARGETS.items():
            v = getattr(self, k)
            out[k] = (lo is None or v >= lo) and (hi is None or v <= hi)
        return out

    def table(self) -> str:
        ok = self.inside()
        names = {"cos_true": "cos(feature, true class text)", "margin": "median top-1 - top-2 margin",
                 "miou": "2D mIoU of S (train views)", "segment_majority": "GT segments with right majority"}
        lines = [f"  {'figure':<34}{'value':>8}   target"]
        for k, (lo, hi) in TARGETS.items():
            v = getattr(self, k)
            pct = k in ("miou", "segment_majority")
            fmt = (lambda x: f"{100 * x:.1f} %") if pct else (lambda x: f"{x:.3f}")
            tgt = (f"<= {fmt(hi)}" if lo is None else f"{fmt(lo)} .. {fmt(hi)}")
            lines.append(f"  {names[k]:<34}{fmt(v):>8}   {tgt:<16}{'inside' if ok[k] else 'OUTSIDE'}")
        lines.append(f"  ({self.n_views} views, {self.n_segments} ground-truth segments)")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {**asdict(self), "inside": self.inside()}


def teacher_calibration(frames, class_names, teacher, min_segment_frac: float = 0.01) -> Calibration:
    T = teacher.encode_text(list(class_names)).float().cpu()
    C = len(class_names)
    meter = SegmentationMeter(C)
    cos_true, margins = [], []
    n_seg = n_ok = 0
    for f in frames:
        gt = np.asarray(f.labels).astype(np.int64)
        H, W = gt.shape
        ms = teacher.multiscale_features(f).float().cpu()
        feat = gather_scale(ms, teacher.select_scale(ms, T))
        h, w = feat.shape[:2]
        yi = ((np.arange(h) + 0.5) * H / h).astype(int)
        xi = ((np.arange(w) + 0.5) * W / w).astype(int)
        g = torch.as_tensor(gt[yi][:, xi]).reshape(-1)
        cos = feat.reshape(-1, feat.shape[-1]) @ T.T
        valid = g >= 0
        cos_true.append(cos[valid].gather(1, g[valid, None])[:, 0])
        top2 = cos.topk(min(2, C), dim=1).values
        margins.append(top2[:, 0] - top2[:, -1])
        S = relevancy_map(feat, T, H, W).numpy()
        meter.update(S, gt)
        for c in np.unique(gt[gt >= 0]):
            lab, n = ndimage.label(gt == c)
            if n == 0:
                continue
            sizes = np.bincount(lab.ravel(), minlength=n + 1)
            for i in np.nonzero(sizes[1:] >= min_segment_frac * H * W)[0] + 1:
                votes = np.bincount(S[lab == i], minlength=C)
                n_seg += 1
                n_ok += int(votes.argmax() == c)
    return Calibration(cos_true=float(torch.cat(cos_true).mean()), margin=float(torch.cat(margins).median()),
                       miou=float(meter.compute()["miou"]), segment_majority=n_ok / max(1, n_seg),
                       n_views=len(frames), n_segments=n_seg)


def calibrate_on_demo_room(out_dir, settings, teacher_config: dict | None = None, progress: bool = True,
                           make_teacher=None):
    """Render (or reuse) the demo room of ``settings`` in ``out_dir/scene`` and compute the
    figures of the teacher ``settings.foundation_config()`` (+ ``teacher_config``; or
    ``make_teacher(class_names)``) on its training views. Returns (Calibration, teacher)."""
    scene_dir, _ = prepare_scene(Path(out_dir) / "scene", settings, progress)
    store = SceneStore(scene_dir, create=False)
    train, _ = store.split()
    cfg = {**settings.foundation_config(), **(teacher_config or {})}
    teacher = (make_teacher(store.class_names) if make_teacher is not None
               else build_text_image(cfg, label_names=store.class_names))
    return teacher_calibration(store.frames(train), store.class_names, teacher), teacher
