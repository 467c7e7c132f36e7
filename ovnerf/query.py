"""Open-vocabulary queries against a trained semantic field: pixels and 3D coordinates.

Query relevancy (LERF, Kerr et al. 2023), per pixel or point, with the rendered CLIP feature F̂
(L2-normalised), the query text embedding q and negative embeddings n_1..n_k::

    rel = min_i  exp(cos(q,F̂)/τ) / (exp(cos(q,F̂)/τ) + exp(cos(n_i,F̂)/τ))      (τ = 0.1)
        = sigmoid(m/τ),   margin m = min_i (cos(q,F̂) − cos(n_i,F̂))

Negatives (``semantics.relevancy.query_negatives``): the canonical "object", "things", "stuff",
"texture" plus the user's; the query text itself is never a negative. Texts outside the
vocabulary are embedded by the map's text encoder, rebuilt lazily from the checkpoint's record
(:class:`ovnerf.foundation.text_encoder_record.LazyTextEncoder`); when it cannot be built, a query
for a vocabulary word still works with the rest of the vocabulary as negatives (the old rule).

The mask of a query is ``rel > threshold`` (0.5), ``acc ≥ min_acc`` (0.3) and
``m ≥ peak_fraction · max m`` (0.5; max over the view's surface pixels, or over all views in 3D):
our addition to LERF, which only ranks. A field's features answer a hypernym of a class almost as
strongly as the class itself ("couch" also relevant on chairs: rel 0.98 vs 1.0), so an absolute
threshold on the saturated sigmoid cannot separate them while the margin can; being relative, it
needs no per-model tuning (real CLIP cosines span a far smaller range than the simulation's).

The segmentation label of a pixel (``render``, evaluation) stays ``argmax_c cos(t_c, F̂)`` over the
vocabulary (−1 where the rendered opacity ``acc`` < 0.5).

3D localisation: the field is rendered (expected depth + relevancy) at a set of views (the
training keyframes, at reduced resolution); pixels with ``rel > threshold`` and ``acc ≥ min_acc`` (0.3) are back-projected with their
depth (``x = o + t·d`` along the unit ray) into map-frame points. Outliers are removed by
multi-view voting (every surface pixel of every view votes for its 0.15 m voxel; a voxel keeps
its query points when ≥ 2 views saw the query there and they are ≥ 1/3 of the views that saw a
surface there — a view that confuses classes is outvoted; when no voxel passes, e.g. with too
few overlapping views, all query points are kept), then by keeping the largest
26-connected component of the points' occupancy on a ``voxel`` grid. Then

- centroid = mean of the points; AABB = per-axis 2nd/98th percentiles (robust to stragglers);
- oriented box: gravity-aligned (rotation about z only), yaw from the principal axis of the
  points' xy coordinates; size = extents in that frame;
- navigation goal (4×4, a base pose: x forward, z up): on the floor plane ``z = ground_z``, at
  distance ``standoff + ½·(xy diagonal of the AABB)`` from the centroid, on the side of the mean
  camera position of the views that saw the object, x axis pointing at the centroid;
- grasp candidates (4×4 each, approach along the gripper's +z): top-down (+z pointing to −z of
  the world) at points of the object's top layer (within ``top_band`` of the highest point),
  gripper x axis across the object's narrow horizontal axis; the first one is nearest the
  top layer's centre.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass, field as dc_field
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from ovnerf.checkpoint import Checkpoint, load_checkpoint
from ovnerf.errors import NotTrainedError, UserError
from ovnerf.field.renderer import render_image
from ovnerf.foundation.text_encoder_record import LazyTextEncoder, TextEncoderUnavailable
from ovnerf.scene.pose_interpolation import validate_pose
from ovnerf.scene.rays import get_rays, ray_z_scale, scaled_intrinsics
from ovnerf.semantic_point_map import load_point_map
from ovnerf.semantics.relevancy import lerf_relevancy, query_negatives, text_logits


@dataclass
class View:
    """A camera to render: K 3×3, c2w 4×4 (OpenCV, map ← camera), size H×W."""
    K: np.ndarray
    c2w: np.ndarray
    H: int
    W: int

    def scaled(self, max_side: int) -> "View":
        if max(self.H, self.W) <= max_side:
            return self
        K, H, W = scaled_intrinsics(self.K, self.H, self.W, max_side)
        return View(K, self.c2w, H, W)


@dataclass
class Localization:
    text: str
    points: np.ndarray                      # (N,3) float32, map frame
    centroid: np.ndarray                    # (3,)
    aabb_min: np.ndarray
    aabb_max: np.ndarray
    obb_center: np.ndarray
    obb_rotation: np.ndarray                # 3×3, rotation about z
    obb_size: np.ndarray
    nav_goal: np.ndarray                    # 4×4
    grasps: list = dc_field(default_factory=list)
    score: float = 0.0
    views_used: int = 0


def check_view(K, c2w, H: int, W: int, what: str = "camera") -> View:
    """Validate a requested camera (finite K with positive focal lengths, rigid c2w, size)."""
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3) or not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise UserError(f"{what}: K must be a finite 3x3 matrix with positive focal lengths")
    if not (1 <= int(H) <= 4096 and 1 <= int(W) <= 4096):
        raise UserError(f"{what}: image size {W}x{H} out of range (1..4096)")
    return View(K, validate_pose(c2w, what=f"{what} pose"), int(H), int(W))


NO_SEMANTICS = ("no semantic features were trained (the model was trained with --clip none); "
                "train with a preprocess cache from `ovnerf preprocess --clip openclip` to query text")


class SemanticMap:
    """A trained field plus its vocabulary, ready for rendering and queries.

    ``field``: a :class:`~ovnerf.field.semantic_field.SemanticField` (or anything
    :func:`~ovnerf.field.renderer.render_image` accepts); ``class_names`` (M,) and
    ``text_emb`` (M,D) the vocabulary; ``text_encoder`` (optional, a TextImageBackend) encodes
    texts outside the vocabulary; ``views`` the training cameras used by :meth:`localize`.
    """

    def __init__(self, field, class_names: list[str], text_emb, text_encoder=None,
                 views: list[View] | None = None, device="cpu", temperature: float = 0.1,
                 chunk: int = 4096, point_map=None):
        if field is None:
            raise NotTrainedError("no trained model: run the train action or load a checkpoint first")
        self.field = field
        self.device = torch.device(device)
        self.class_names = [str(c) for c in class_names]
        self.text_emb = _normalize(torch.as_tensor(np.asarray(text_emb), dtype=torch.float32)).to(self.device)
        if self.text_emb.shape[0] != len(self.class_names):
            raise UserError(f"{len(self.class_names)} class names but {self.text_emb.shape[0]} text embeddings")
        self.text_encoder = text_encoder
        self.views = list(views or [])
        self.temperature = float(temperature)
        self.chunk = int(chunk)
        self.point_map = point_map  # ovnerf.semantic_point_map.SemanticPointMap or None (→ render)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, checkpoint, device="cpu", text_encoder=None, views: list[View] | None = None) -> "SemanticMap":
        """Load a training checkpoint (:mod:`ovnerf.checkpoint`). UserError when it is
        missing or unreadable (a corrupt file never crashes the caller)."""
        path = Path(checkpoint)
        if not path.is_file():
            raise NotTrainedError(f"checkpoint not found: {path}")
        try:
            ck = load_checkpoint(path, device=device)
        except UserError:
            raise
        except Exception as exc:  # torch.load / pickle errors on a corrupt file
            raise UserError(f"checkpoint {path} is corrupt or unreadable ({type(exc).__name__}: {exc})") from None
        smap = cls.from_checkpoint_state(ck, device=device, text_encoder=text_encoder, views=views)
        smap.point_map = load_point_map(path, smap.field)
        return smap

    @classmethod
    def from_checkpoint_state(cls, ck: Checkpoint, device="cpu", text_encoder=None, views=None) -> "SemanticMap":
        """Build from the :class:`~ovnerf.checkpoint.Checkpoint` that ``load_checkpoint``
        returns (its ``field``, ``vocabulary``, ``text_emb``, ``views`` and ``text_encoder``)."""
        if ck.field is None:
            raise UserError("checkpoint was loaded without its field (build=False)")
        if views is None and ck.views:
            views = [View(*v) for v in ck.views]
        ck.field.eval()
        if text_encoder is None:  # rebuilt on the first text outside the vocabulary
            text_encoder = LazyTextEncoder(ck.text_encoder, device=device)
        return cls(ck.field, list(ck.vocabulary), ck.text_emb, text_encoder=text_encoder, views=views, device=device)

    def adopt_text_encoder(self, other: "SemanticMap | None") -> bool:
        """Use ``other``'s lazily built text encoder (and its embedding cache) when both record the
        same encoder — a reloaded checkpoint then does not rebuild it. Returns whether it did."""
        mine, theirs = self.text_encoder, getattr(other, "text_encoder", None)
        if (isinstance(mine, LazyTextEncoder) and isinstance(theirs, LazyTextEncoder)
                and mine.record is not None and mine.record == theirs.record):
            self.text_encoder = theirs
            return True
        return False

    # ------------------------------------------------------------------ text
    def embed(self, texts: list[str]) -> torch.Tensor:
        """(k,D) unit embeddings: vocabulary entries from the checkpoint, others via the encoder
        (UserError naming what is missing when it cannot embed them)."""
        missing = [t for t in dict.fromkeys(texts) if t not in self.class_names]
        enc = {}
        if missing:
            if self.text_encoder is None:
                raise TextEncoderUnavailable(f"'{missing[0]}' is not in the vocabulary {self.class_names} "
                                             "and no text encoder is configured to embed new text")
            e = _normalize(self.text_encoder.encode_text(missing).float().to(self.device))
            if e.shape[-1] != self.text_emb.shape[-1]:
                raise UserError(f"the text encoder gives D={e.shape[-1]} embeddings, the map has "
                                f"D={self.text_emb.shape[-1]}")
            enc = dict(zip(missing, e))
        return torch.stack([self.text_emb[self.class_names.index(t)] if t in self.class_names else enc[t]
                            for t in texts])

    @property
    def has_semantics(self) -> bool:
        """False for a field trained without semantics (``--clip none``: empty vocabulary)."""
        return len(self.class_names) > 0

    def query_embeddings(self, text: str, negatives: list[str] | None = None) -> tuple[torch.Tensor, list[str]]:
        """((1+k, D) embeddings of the query and its negatives, the negative texts) — see the module
        docstring. Without a usable text encoder a vocabulary word falls back to the rest of the
        vocabulary (plus any user negatives in it) as negatives."""
        if not self.has_semantics:
            raise UserError(NO_SEMANTICS)
        text = (text or "").strip()
        if not text:
            raise UserError("query text is empty")
        q = self.embed([text])
        negs = query_negatives(text, negatives)
        try:
            return torch.cat([q, self.embed(negs)]), negs
        except TextEncoderUnavailable:
            if text not in self.class_names:
                raise
            vocab = query_negatives(text, [c for c in self.class_names] + list(negatives or []))
            negs = [n for n in vocab if n in self.class_names]
            if not negs:
                raise
            return torch.cat([q, self.embed(negs)]), negs

    def _query_embeddings(self, text: str, negatives: list[str] | None) -> torch.Tensor:
        return self.query_embeddings(text, negatives)[0]

    # ------------------------------------------------------------------ rendering
    def _render(self, view: View, outputs=("rgb", "depth", "feature"), transform=None, deadline=None) -> dict:
        return render_image(self.field, view.K, view.c2w, view.H, view.W, chunk=self.chunk,
                            device=self.device, outputs=outputs, feature_transform=transform, deadline=deadline)

    def _logits(self, emb: torch.Tensor):
        return lambda f: text_logits(f, emb)

    def render(self, K, c2w, H: int, W: int, deadline: float | None = None) -> dict:
        """rgb uint8 H×W×3, depth float32 H×W (metres along the optical axis), labels int16 H×W
        (vocabulary index, −1 where acc < 0.5), acc float32 H×W. ``deadline`` (time.monotonic()):
        :class:`~ovnerf.errors.DeadlineExceeded` past it (also for relevancy and localize)."""
        view = check_view(K, c2w, H, W)
        if self.has_semantics:
            r = self._render(view, ("rgb", "depth", "feature"), self._logits(self.text_emb), deadline)
            labels = r["feature"].argmax(-1).to(torch.int16)
        else:  # geometry and colour only: every pixel void
            r = self._render(view, ("rgb", "depth"), deadline=deadline)
            labels = torch.full(r["acc"].shape, -1, dtype=torch.int16, device=r["acc"].device)
        acc = r["acc"].float()
        labels[acc < 0.5] = -1
        _, dirs = get_rays(view.K, view.c2w, view.H, view.W, device=self.device)
        zscale = ray_z_scale(dirs, view.c2w).reshape(H, W)
        depth = torch.where(acc >= 0.5, r["depth"] / acc.clamp_min(1e-6) * zscale, torch.zeros_like(acc))
        return {"rgb": (r["rgb"].clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy(),
                "depth": depth.float().cpu().numpy(),
                "labels": labels.cpu().numpy(), "acc": acc.cpu().numpy()}

    def relevancy(self, text: str, negatives: list[str] | None, K, c2w, H: int, W: int,
                  threshold: float = 0.5, min_acc: float = 0.3, peak_fraction: float = 0.5,
                  deadline: float | None = None) -> dict:
        """relevancy float32 H×W in [0,1] (LERF), margin float32 H×W, depth (along the ray)
        float32, acc float32, and mask bool H×W (rel > threshold, acc ≥ min_acc, margin ≥
        peak_fraction · the view's peak margin)."""
        view = check_view(K, c2w, H, W)
        if not 0.0 < threshold < 1.0:
            raise UserError(f"relevancy threshold {threshold} must be in (0, 1)")
        emb = self._query_embeddings(text, negatives)
        out = self._relevancy_view(view, emb, deadline)
        out["mask"] = query_mask(out["relevancy"], out["margin"], out["acc"], threshold, min_acc, peak_fraction)
        return out

    def _relevancy_from_logits(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(..., k) cosine logits [query, negatives…] → (relevancy, margin), both (...): LERF
        (``semantics.relevancy.lerf_relevancy``), rendered pixels and point-map points alike."""
        return lerf_relevancy(logits.float(), self.temperature)

    def _relevancy_view(self, view: View, emb: torch.Tensor, deadline: float | None = None) -> dict:
        r = self._render(view, ("depth", "feature"), self._logits(emb), deadline)
        rel, margin = self._relevancy_from_logits(r["feature"])
        return {"relevancy": rel.float().cpu().numpy(), "margin": margin.float().cpu().numpy(),
                "depth": r["depth"].float().cpu().numpy(), "acc": r["acc"].float().cpu().numpy()}

    # ------------------------------------------------------------------ 3D
    def localize(self, text: str, negatives: list[str] | None = None, views: list[View] | None = None,
                 threshold: float = 0.5, max_points: int = 5000, max_views: int = 8, max_side: int = 64,
                 voxel: float = 0.05, standoff: float = 0.6, ground_z: float = 0.0,
                 n_grasps: int = 5, top_band: float = 0.03, seed: int = 0, min_acc: float = 0.3,
                 vote_voxel: float = 0.15, vote_ratio: float = 0.34, peak_fraction: float = 0.5,
                 deadline: float | None = None) -> Localization:
        """3D points, boxes, navigation goal and grasps of ``text`` (see module docstring).
        UserError when the object is not seen in any view. With a point map (and no explicit
        ``views``) the points come from the map (:mod:`ovnerf.semantic_point_map`), no rendering."""
        emb = self._query_embeddings(text, negatives)
        finish = dict(max_points=max_points, voxel=voxel, standoff=standoff, ground_z=ground_z,
                      n_grasps=n_grasps, top_band=top_band, seed=seed)
        if views is None and self.point_map is not None and len(self.point_map):
            # the map's features are unit norm: the cosine logits are one matrix product
            rel, margin = self._relevancy_from_logits(self.point_map.features_f32() @ emb.cpu().float().T)
            q = query_mask(rel.numpy(), margin.numpy(), np.ones(rel.shape[0]), threshold, 0.0, peak_fraction)
            rel = torch.where(torch.from_numpy(q), rel, torch.zeros_like(rel))  # the mask rule, then select
            P, R, viewers, count = self.point_map.select(rel, threshold, vote_voxel, vote_ratio)
            if P.shape[0] == 0:
                raise UserError(f"'{text}' was not found (no point of the semantic point map above relevancy "
                                f"{threshold})")
            return _localization(text, P, R, viewers.mean(0), self.point_map.n_views,
                                 weights=count, **finish)
        views = list(views if views is not None else self.views)
        if not views:
            raise UserError("no views to localise from (no keyframes)")
        if len(views) > max_views:
            views = [views[i] for i in np.linspace(0, len(views) - 1, max_views).round().astype(int)]
        pts, rels, margins, cams, vid = [], [], [], [], []
        for v in views:
            v = check_view(v.K, v.c2w, v.H, v.W).scaled(max_side)
            r = self._relevancy_view(v, emb, deadline)
            surf = (r["acc"] >= min_acc).reshape(-1)
            if not surf.any():
                continue
            n_surf = int(surf.sum())
            o, d = get_rays(v.K, v.c2w, v.H, v.W, device="cpu")
            sel = torch.from_numpy(surf)
            t = torch.from_numpy(r["depth"].reshape(-1)[surf] / np.maximum(r["acc"].reshape(-1)[surf], 1e-6))
            pts.append((o[sel] + d[sel] * t[:, None]).numpy())
            rels.append(r["relevancy"].reshape(-1)[surf])
            margins.append(r["margin"].reshape(-1)[surf])
            vid.append(np.full(n_surf, len(cams)))
            cams.append(np.asarray(v.c2w)[:3, 3])
        is_q = []
        if pts:  # the mask rule of query_mask, with the peak margin over all views
            Rm, Mm = np.concatenate(rels), np.concatenate(margins)
            is_q = [query_mask(Rm, Mm, np.ones_like(Rm), threshold, 0.0, peak_fraction)]
        if not pts or not np.concatenate(is_q).any():
            raise UserError(f"'{text}' was not found (no pixel above relevancy {threshold} in {len(views)} views)")
        P_all, Q, V = np.concatenate(pts).astype(np.float64), np.concatenate(is_q), np.concatenate(vid)
        keep_vox = multiview_votes(P_all, Q, V, vote_voxel, min_votes=min(2, len(cams)), ratio=vote_ratio)
        if not keep_vox.any():  # too few overlapping views to vote: fall back to every query point
            keep_vox = Q
        seen_q = np.unique(V[keep_vox])
        cams = [cams[i] for i in seen_q]
        return _localization(text, P_all[keep_vox], np.concatenate(rels)[keep_vox], np.mean(cams, axis=0),
                             len(cams), **finish)

    def field_cloud(self, n: int = 20000, max_side: int = 48, max_views: int = 6) -> tuple[np.ndarray, np.ndarray]:
        """(points (N,3), class ids (N,)) on the field's surfaces, from the training views."""
        if not self.has_semantics:
            raise UserError(NO_SEMANTICS)
        pts, labs = [], []
        views = self.views
        if len(views) > max_views:
            views = [views[i] for i in np.linspace(0, len(views) - 1, max_views).round().astype(int)]
        for v in views:
            v = v.scaled(max_side)
            r = self._render(v, ("depth", "feature"), self._logits(self.text_emb))
            acc = r["acc"].reshape(-1)
            m = acc >= 0.5
            o, d = get_rays(v.K, v.c2w, v.H, v.W, device=self.device)
            t = r["depth"].reshape(-1)[m] / acc[m].clamp_min(1e-6)
            pts.append((o[m] + d[m] * t[:, None]).cpu().numpy())
            labs.append(r["feature"].reshape(-1, self.text_emb.shape[0])[m].argmax(-1).cpu().numpy())
        if not pts:
            return np.zeros((0, 3), np.float32), np.zeros((0,), np.int64)
        P, L = np.concatenate(pts), np.concatenate(labs)
        if P.shape[0] > n:
            idx = np.random.default_rng(0).choice(P.shape[0], n, replace=False)
            P, L = P[idx], L[idx]
        return P.astype(np.float32), L


# ---------------------------------------------------------------------- geometry helpers
def _localization(text: str, P: np.ndarray, R: np.ndarray, viewer: np.ndarray, views_used: int, *,
                  max_points: int, voxel: float, standoff: float, ground_z: float, n_grasps: int,
                  top_band: float, seed: int, weights: np.ndarray | None = None) -> Localization:
    """Centroid, boxes, navigation goal and grasps from a query's 3D points P (N,3) with relevancy R
    (rendered or from the point map); ``viewer``: mean camera position of the views that saw it;
    ``weights``: pixels behind each point (a point map's fused points), for the centroid."""
    P = np.asarray(P, dtype=np.float64)
    keep = largest_component(P, voxel)
    P, R = P[keep], R[keep]
    w = np.ones(P.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)[keep]
    rng = np.random.default_rng(seed)
    if P.shape[0] > max_points:
        idx = rng.choice(P.shape[0], max_points, replace=False)
        P, R, w = P[idx], R[idx], w[idx]
    centroid = (P * w[:, None]).sum(0) / w.sum()
    lo, hi = np.percentile(P, 2, axis=0), np.percentile(P, 98, axis=0)
    obb_c, obb_R, obb_s = gravity_aligned_box(P)
    nav = nav_goal(centroid, lo, hi, viewer, standoff, ground_z)
    grasps = top_down_grasps(P, obb_R, n_grasps, top_band)
    return Localization(text=text, points=P.astype(np.float32), centroid=centroid, aabb_min=lo,
                        aabb_max=hi, obb_center=obb_c, obb_rotation=obb_R, obb_size=obb_s,
                        nav_goal=nav, grasps=grasps, score=float(R.mean()), views_used=views_used)


def query_mask(relevancy: np.ndarray, margin: np.ndarray, acc: np.ndarray, threshold: float = 0.5,
               min_acc: float = 0.3, peak_fraction: float = 0.5, peak: float | None = None) -> np.ndarray:
    """rel > threshold & acc ≥ min_acc & margin ≥ peak_fraction · peak, peak = the largest margin
    on surface pixels (acc ≥ min_acc) unless given (e.g. over several views)."""
    surf = np.asarray(acc) >= min_acc
    keep = (np.asarray(relevancy) > threshold) & surf
    if peak is None:
        peak = float(np.asarray(margin)[surf].max()) if surf.any() else 0.0
    if peak_fraction > 0 and peak > 0:
        keep &= np.asarray(margin) >= peak_fraction * peak
    return keep


def _normalize(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-8)


def multiview_votes(points: np.ndarray, is_query: np.ndarray, view_id: np.ndarray, voxel: float,
                    min_votes: int = 2, ratio: float = 0.5) -> np.ndarray:
    """Bool mask of the query points that are multi-view consistent.

    Every surface point (of any class) votes for its ``voxel`` once per view. A voxel is kept when
    at least ``min_votes`` views saw the query there and those are at least ``ratio`` of the views
    that saw any surface there; returns ``is_query & kept[voxel of point]``."""
    ijk = np.floor(points / voxel).astype(np.int64)
    _, vox = np.unique(ijk, axis=0, return_inverse=True)
    vox = vox.reshape(-1)
    n_vox = int(vox.max()) + 1
    pairs = np.unique(np.stack([vox, view_id]), axis=1)               # (voxel, view) seen
    seen = np.bincount(pairs[0], minlength=n_vox)
    qpairs = np.unique(np.stack([vox[is_query], view_id[is_query]]), axis=1)
    votes = np.bincount(qpairs[0], minlength=n_vox)
    kept = (votes >= min_votes) & (votes >= ratio * seen)
    return is_query & kept[vox]


def largest_component(points: np.ndarray, voxel: float) -> np.ndarray:
    """Bool mask of the points in the largest 26-connected cluster of occupied voxels."""
    if points.shape[0] == 0:
        return np.zeros(0, bool)
    ijk = np.floor((points - points.min(0)) / voxel).astype(np.int64)
    dims = ijk.max(0) + 1
    if np.prod(dims) > 64_000_000:  # absurd spread: fall back to all points
        return np.ones(points.shape[0], bool)
    grid = np.zeros(dims, dtype=bool)
    grid[tuple(ijk.T)] = True
    lab, n = ndimage.label(grid, structure=np.ones((3, 3, 3)))
    if n <= 1:
        return np.ones(points.shape[0], bool)
    plab = lab[tuple(ijk.T)]
    counts = np.bincount(plab, minlength=n + 1)
    counts[0] = 0
    return plab == counts.argmax()


def gravity_aligned_box(P: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centre (3,), R 3×3 rotation about z, size (3,)) of a box aligned with the principal xy axis."""
    xy = P[:, :2] - P[:, :2].mean(0)
    if P.shape[0] >= 3 and np.ptp(xy, axis=0).max() > 0:
        w, V = np.linalg.eigh(xy.T @ xy)
        a = V[:, np.argmax(w)]
        yaw = np.arctan2(a[1], a[0])
    else:
        yaw = 0.0
    c, s = np.cos(yaw), np.sin(yaw)
    R = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    local = P @ R
    lo, hi = np.percentile(local, 2, axis=0), np.percentile(local, 98, axis=0)
    return R @ ((lo + hi) / 2), R, hi - lo


def nav_goal(centroid, aabb_min, aabb_max, viewer, standoff: float, ground_z: float) -> np.ndarray:
    """Base pose (x forward, z up) on z = ground_z facing the centroid from the viewers' side."""
    c = np.asarray(centroid, dtype=np.float64)
    u = np.asarray(viewer, dtype=np.float64)[:2] - c[:2]
    if np.linalg.norm(u) < 1e-6:
        u = np.array([1.0, 0.0])
    u = u / np.linalg.norm(u)
    half = 0.5 * float(np.linalg.norm((np.asarray(aabb_max) - np.asarray(aabb_min))[:2]))
    p = c[:2] + (standoff + half) * u
    x = -u
    T = np.eye(4)
    T[:3, 0] = [x[0], x[1], 0.0]
    T[:3, 1] = [-x[1], x[0], 0.0]
    T[:3, 2] = [0.0, 0.0, 1.0]
    T[:3, 3] = [p[0], p[1], ground_z]
    return T


def top_down_grasps(P: np.ndarray, obb_R: np.ndarray, n: int, top_band: float) -> list[np.ndarray]:
    """Up to ``n`` top-down approach poses (+z of the gripper = world −z) on the top layer."""
    if n <= 0 or P.shape[0] == 0:
        return []
    top = P[P[:, 2] >= np.percentile(P[:, 2], 98) - top_band]
    centre = top.mean(0)
    order = np.argsort(np.linalg.norm(top[:, :2] - centre[:2], axis=1))
    picks = [top[order[0]]]
    # spread the rest: farthest-point sampling over the top layer
    d = np.linalg.norm(top - picks[0], axis=1)
    while len(picks) < min(n, top.shape[0]):
        j = int(np.argmax(d))
        if d[j] <= 0:
            break
        picks.append(top[j])
        d = np.minimum(d, np.linalg.norm(top - top[j], axis=1))
    closing = obb_R[:, 1]  # the minor horizontal axis: close the fingers across the narrow side
    out = []
    for p in picks:
        T = np.eye(4)
        z = np.array([0.0, 0.0, -1.0])
        x = np.array([closing[0], closing[1], 0.0])
        x /= np.linalg.norm(x)
        T[:3, 0], T[:3, 1], T[:3, 2] = x, np.cross(z, x), z
        T[:3, 3] = p
        out.append(T)
    return out


def class_palette(n: int) -> np.ndarray:
    """(n,3) uint8 distinct colours for class ids 0..n-1 (golden-ratio hues, fixed S/V)."""
    cols = [colorsys.hsv_to_rgb((i * 0.618033988749895) % 1.0, 0.65, 0.95) for i in range(max(n, 0))]
    return (np.asarray(cols, dtype=np.float64).reshape(-1, 3) * 255 + 0.5).astype(np.uint8)


def colorize_labels(labels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """uint8 H×W×3 image of class ids (−1 → black)."""
    lab = np.asarray(labels).astype(np.int64)
    out = np.zeros(lab.shape + (3,), np.uint8)
    ok = (lab >= 0) & (lab < len(palette))
    out[ok] = palette[lab[ok]]
    return out
