"""Semantic point map: the field's surfaces as points with their rendered CLIP feature and colour,
so that the 3D part of an any-text query is a dot product and a clustering, with no volume rendering.

Built (:func:`build_point_map`) from the training views rendered at ≤ ``max_side`` px: every pixel
with opacity ``acc ≥ min_acc`` gives a surface point at its expected ray depth ``x = o + d·t``,
``t = depth / acc`` (where the ray's weight concentrates), its composited feature ``F̂`` and its
colour ``rgb / acc``. Points are fused per ``voxel`` (mean position, colour and camera position
of the views that saw it; sum of unit features, then re-normalised; ``count`` = pixels fused,
``view_mask`` = the views that saw it, one bit each). Features are stored unit-norm in **fp16**; the build reports the
largest cosine error of that rounding (``fp16_max_cos_error``, ~1e-4).

Query (:meth:`SemanticPointMap.select`): the relevancy of every point, computed by
:class:`ovnerf.query.SemanticMap` from the points' features exactly as for rendered pixels, points above the
threshold, then the rendering path's multi-view vote on ``vote_voxel`` cells (a cell keeps its
query points when ≥ 2 views saw the query there and they are ≥ ``vote_ratio`` of the views that
saw any point there; :func:`ovnerf.query.multiview_votes`), from the points' view bits.
:meth:`ovnerf.query.SemanticMap.localize` then computes
centroid, boxes, navigation goal and grasps from these points exactly as from rendered ones.

Versioning: the map is saved beside its checkpoint (``checkpoint.pt`` → ``checkpoint.pointmap.pt``,
:func:`point_map_path`) with the checkpoint's iteration and a SHA-1 fingerprint of the field's
parameters (:func:`field_fingerprint`); :func:`load_point_map` returns None (→ the rendering
path) when the file is missing, unreadable or belongs to another state of the field.
The trainer rebuilds it at every checkpoint save: the end of training, every ``checkpoint_every``
iterations, and right after each CSE event (which saves a checkpoint then).
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ovnerf.atomic_write import atomic_save
from ovnerf.field.renderer import render_image
from ovnerf.scene.rays import get_rays

log = logging.getLogger(__name__)

FORMAT = "ovnerf-pointmap"
VERSION = 1


@dataclass
class SemanticPointMap:
    points: torch.Tensor        # (P,3) float32, map frame
    features: torch.Tensor      # (P,D) float16, unit norm
    colors: torch.Tensor        # (P,3) uint8
    viewers: torch.Tensor       # (P,3) float32: mean camera centre of the views that saw the point
    count: torch.Tensor         # (P,) int32: pixels fused into the point
    view_mask: torch.Tensor     # (P,) int64: bit j set = view j saw the point (≤ 63 views)
    voxel: float
    fingerprint: str = ""
    iteration: int = 0
    fp16_max_cos_error: float = 0.0

    def __post_init__(self):
        self._f32 = None
        self._votes = None

    @property
    def n_views(self) -> int:
        """Views the map was built from (that saw any point)."""
        m = np.bitwise_or.reduce(self.view_mask.numpy()) if len(self) else 0
        return int(np.bitwise_count(np.int64(m)))

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def features_f32(self) -> torch.Tensor:
        """The features as unit-norm float32 (converted and re-normalised once, kept for later queries)."""
        if self._f32 is None:
            self._f32 = torch.nn.functional.normalize(self.features.float(), dim=-1)
        return self._f32

    def _vote_cells(self, vote_voxel: float):
        if self._votes is None or self._votes[0] != vote_voxel:
            _, inv = np.unique(np.floor(self.points.numpy() / vote_voxel).astype(np.int64), axis=0,
                               return_inverse=True)
            inv = inv.reshape(-1)
            seen = np.zeros(int(inv.max()) + 1, np.int64)
            np.bitwise_or.at(seen, inv, self.view_mask.numpy())
            self._votes = (vote_voxel, inv, np.bitwise_count(seen))
        return self._votes[1], self._votes[2]

    def select(self, rel: torch.Tensor, threshold: float, vote_voxel: float = 0.15, vote_ratio: float = 0.34):
        """(points (n,3) float64, relevancy (n,), viewers (n,3), pixel counts (n,)) of the query's
        points, given every point's relevancy ``rel`` (P,) (see module docstring)."""
        q = (rel > threshold).numpy()
        if q.any():  # multi-view vote per vote_voxel cell, as ovnerf.query.multiview_votes
            inv, seen = self._vote_cells(vote_voxel)
            qor = np.zeros(seen.shape[0], np.int64)
            np.bitwise_or.at(qor, inv[q], self.view_mask.numpy()[q])
            votes = np.bitwise_count(qor)
            kept = (votes >= min(2, self.n_views)) & (votes >= vote_ratio * seen)
            if kept[inv[q]].any():
                q = q & kept[inv]
        q = torch.from_numpy(q)
        return (self.points[q].double().numpy(), rel[q].numpy(), self.viewers[q].double().numpy(),
                self.count[q].double().numpy())

    # ------------------------------------------------------------------ io
    def to_payload(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "points": self.points, "features": self.features,
                "colors": self.colors, "viewers": self.viewers, "count": self.count, "view_mask": self.view_mask,
                "voxel": float(self.voxel), "fingerprint": self.fingerprint, "iteration": int(self.iteration),
                "fp16_max_cos_error": float(self.fp16_max_cos_error)}

    @classmethod
    def from_payload(cls, p: dict) -> "SemanticPointMap":
        if p.get("format") != FORMAT or int(p.get("version", -1)) != VERSION:
            raise ValueError("not an ovnerf point map of this version")
        return cls(p["points"], p["features"], p["colors"], p["viewers"], p["count"], p["view_mask"],
                   float(p["voxel"]), str(p["fingerprint"]), int(p["iteration"]), float(p["fp16_max_cos_error"]))


def field_fingerprint(field) -> str:
    """SHA-1 of the field's parameters and buffers (names, shapes, bytes)."""
    h = hashlib.sha1()
    for k, v in sorted(field.state_dict().items()):
        t = v.detach().cpu().contiguous()
        h.update(k.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def point_map_path(checkpoint) -> Path:
    p = Path(checkpoint)
    return p.with_name(p.stem + ".pointmap.pt")


@torch.no_grad()
def build_point_map(field, views, max_views: int = 32, max_side: int = 64, voxel: float = 0.04,
                    min_acc: float = 0.5, chunk: int = 8192, iteration: int = 0, device=None) -> SemanticPointMap:
    """Render ``views`` (``ovnerf.query.View``-like: K, c2w, H, W; evenly subsampled to
    ``max_views``, scaled to ``max_side``) and fuse their surface pixels (see module docstring)."""
    device = torch.device(device) if device is not None else field.device
    views = list(views)
    max_views = min(int(max_views), 63)  # one bit per view in view_mask
    if len(views) > max_views:
        views = [views[i] for i in np.linspace(0, len(views) - 1, max_views).round().astype(int)]
    P, Fs, C, V, VID = [], [], [], [], []
    for j, v in enumerate(views):
        v = v.scaled(max_side)
        r = render_image(field, v.K, v.c2w, v.H, v.W, chunk=chunk, device=device,
                         outputs=("rgb", "depth", "feature"), white_bg=False, out_device="cpu")
        acc = r["acc"].reshape(-1)
        m = acc >= min_acc
        if not bool(m.any()):
            continue
        o, d = get_rays(v.K, v.c2w, v.H, v.W, device="cpu")
        a = acc[m].clamp_min(1e-6)
        P.append(o[m] + d[m] * (r["depth"].reshape(-1)[m] / a)[:, None])
        Fs.append(torch.nn.functional.normalize(r["feature"].reshape(-1, r["feature"].shape[-1])[m].float(), dim=-1))
        C.append((r["rgb"].reshape(-1, 3)[m] / a[:, None]).clamp(0, 1))
        V.append(torch.as_tensor(np.asarray(v.c2w, dtype=np.float32)[:3, 3]).expand(int(m.sum()), 3))
        VID.append(torch.full((int(m.sum()),), j, dtype=torch.long))
    D = int(getattr(field.cfg, "feature_dim", 0) or 0)
    if not P:
        z = torch.zeros(0, 3)
        return SemanticPointMap(z, torch.zeros(0, D, dtype=torch.float16), torch.zeros(0, 3, dtype=torch.uint8), z,
                                torch.zeros(0, dtype=torch.int32), torch.zeros(0, dtype=torch.int64), voxel,
                                field_fingerprint(field), iteration, 0.0)
    P, Fs, C, V, VID = (torch.cat(x) for x in (P, Fs, C, V, VID))
    _, inv = torch.unique(torch.floor(P / voxel).long(), dim=0, return_inverse=True)
    n = int(inv.max()) + 1
    cnt = torch.zeros(n).index_add_(0, inv, torch.ones(inv.shape[0]))

    def mean(x):
        return torch.zeros(n, x.shape[1]).index_add_(0, inv, x.float()) / cnt[:, None]
    feats = torch.nn.functional.normalize(torch.zeros(n, Fs.shape[1]).index_add_(0, inv, Fs), dim=-1)
    f16 = feats.half()
    err = float((1 - (f16.float() * feats).sum(-1)).abs().max()) if n else 0.0
    view_mask = np.zeros(n, np.int64)
    np.bitwise_or.at(view_mask, inv.numpy(), np.left_shift(np.int64(1), VID.numpy()))
    return SemanticPointMap(mean(P), f16, (mean(C) * 255 + 0.5).to(torch.uint8), mean(V), cnt.to(torch.int32),
                            torch.from_numpy(view_mask), float(voxel), field_fingerprint(field), int(iteration), err)


def save_point_map(pmap: SemanticPointMap, checkpoint) -> Path:
    """Atomically write ``pmap`` beside ``checkpoint`` (:func:`point_map_path`)."""
    payload = pmap.to_payload()
    return atomic_save(point_map_path(checkpoint), lambda f: torch.save(payload, f))


def load_point_map(checkpoint, field=None) -> SemanticPointMap | None:
    """The point map saved beside ``checkpoint``, or None when it is missing, unreadable, or (with
    ``field``) was built from another state of the field than the one loaded."""
    path = point_map_path(checkpoint)
    if not path.is_file():
        return None
    try:
        pmap = SemanticPointMap.from_payload(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as exc:  # corrupt / foreign file: fall back to rendering
        log.warning("ignoring point map %s (%s: %s)", path, type(exc).__name__, exc)
        return None
    if field is not None and pmap.fingerprint != field_fingerprint(field):
        log.warning("ignoring point map %s: built from another state of the field (stale)", path)
        return None
    return pmap
