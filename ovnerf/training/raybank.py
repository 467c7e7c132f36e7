"""All training pixels of all training views, flattened, with their supervision; uniform ray batches.

Layout: view v has H_v×W_v pixels stored row-major at flat indices ``pix_offset[v] + y·W_v + x``.
Per pixel: RGB (uint8), optional GT z-depth (float32 metres along the optical axis, 0 = unknown;
present iff at least one view carries ``PosedFrame.depth``, views without depth read 0), the
relevancy map S (int16), the RSR map S~ (int16) and, once CSE has run,
the pseudo map S̄ (int16); -1 = void. Per view: K, c2w, and the CLIP feature map (h_v, w_v, D) and
DINO map (h'_v, w'_v, Dd) stored flat in fp16 (``feat_offset`` / ``dino_offset``).

A ray batch is drawn uniformly over all pixels of all views (``torch.randint`` with the
trainer's generator). A pixel (x, y) of an H×W view reads the feature cell nearest to its centre:
``(i, j) = (⌊(y+0.5)·h/H⌋, ⌊(x+0.5)·w/W⌋)`` (cell (i, j) is centred on pixel ((j+0.5)W/w,
(i+0.5)H/h), the foundation backends' convention). Rays come from
``ovnerf.scene.rays.pixel_rays`` with each pixel's own K and c2w. Everything is a vectorised
gather; no loop over rays or pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ovnerf.errors import UserError
from ovnerf.scene.rays import pixel_rays

__all__ = ["RayBank", "RayBatch", "target_attr"]


def target_attr(obj, name, default=None):
    """Read ``name`` from a ViewTargets-like object or a dict."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _t(x, dtype=None, device="cpu"):
    if x is None:
        return None
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    return t.to(device=device, dtype=dtype) if dtype is not None else t.to(device)


@dataclass
class RayBatch:
    rays_o: torch.Tensor          # (N,3)
    rays_d: torch.Tensor          # (N,3)
    rgb: torch.Tensor | None      # (N,3) float in [0,1]
    target: torch.Tensor | None   # (N,) long, -1 void
    feat: torch.Tensor | None     # (N,D) float32
    dino: torch.Tensor | None     # (N,Dd) float32
    view: torch.Tensor            # (N,) long
    depth: torch.Tensor | None = None    # (N,) GT z-depth in metres, 0 = unknown (None: no depth)
    z_scale: torch.Tensor | None = None  # (N,) ray distance → z-depth factor (d · optical axis)
    feat_ms: torch.Tensor | None = None  # (N,S,D) float32, every scale (multiscale banks only)


class RayBank:
    def __init__(self, frames, targets, device="cpu", multiscale: bool = False):
        """frames: list of PosedFrame; targets: list of ViewTargets-like objects (same order) with
        ``clip_feat`` (h,w,D), ``relevancy`` (H,W), ``rsr`` (H,W), optional ``dino`` (h',w',Dd).
        ``targets`` may be None (a pure RGB bank, e.g. novel views). ``multiscale``: also keep
        every scale of ``clip_ms`` (S,h,w,D) when all views carry it with S > 1 (``feat_ms``,
        ``n_scales``; for the learned scale selection)."""
        self.multiscale = bool(multiscale)
        self.feat_ms = None
        self.n_scales = 1
        if not frames:
            raise UserError("no training views")
        self.device = torch.device(device)
        self.names = [f.name for f in frames]
        V = len(frames)
        self.hw = torch.tensor([[f.height, f.width] for f in frames], dtype=torch.long, device=self.device)
        sizes = self.hw[:, 0] * self.hw[:, 1]
        self.pix_offset = torch.zeros(V + 1, dtype=torch.long, device=self.device)
        self.pix_offset[1:] = torch.cumsum(sizes, 0)
        self.n_pixels = int(self.pix_offset[-1])
        self.K = torch.stack([_t(f.K, torch.float32, self.device) for f in frames])
        self.c2w = torch.stack([_t(f.c2w, torch.float32, self.device) for f in frames])
        self.rgb = torch.cat([_t(f.image, torch.uint8, self.device).reshape(-1, 3) for f in frames])
        self.depth = self._load_depth(frames)
        self.relevancy = self.rsr = self.pseudo = None
        self.feat = self.dino = None
        self.feat_dim = self.dino_dim = 0
        if targets is not None:
            if len(targets) != V:
                raise UserError(f"{V} views but {len(targets)} cache entries")
            self._load_targets(frames, targets)

    # ------------------------------------------------------------------ construction
    def _load_depth(self, frames):
        """Flat (n_pixels,) float32 z-depth, 0 = unknown (non-finite / negative values → 0);
        None when no frame has depth."""
        if all(getattr(f, "depth", None) is None for f in frames):
            return None
        out = []
        for f in frames:
            d = getattr(f, "depth", None)
            if d is None:
                out.append(torch.zeros(f.height * f.width, dtype=torch.float32, device=self.device))
                continue
            d = _t(d, torch.float32, self.device)
            if tuple(d.shape) != (f.height, f.width):
                raise UserError(f"view {f.name}: depth map shape {tuple(d.shape)} does not match the "
                                f"image {f.height}x{f.width}")
            d = torch.where(torch.isfinite(d) & (d > 0), d, torch.zeros_like(d))
            out.append(d.reshape(-1))
        return torch.cat(out)

    def _load_targets(self, frames, targets):
        rel, rsr, feats, fhw, dinos, dhw = [], [], [], [], [], []
        for f, t in zip(frames, targets):
            r = _t(target_attr(t, "relevancy"), torch.int16, self.device)
            if r is None or tuple(r.shape) != (f.height, f.width):
                raise UserError(f"view {f.name}: relevancy map shape {None if r is None else tuple(r.shape)} "
                                f"does not match the image {f.height}x{f.width}")
            s = target_attr(t, "rsr")
            s = r if s is None else _t(s, torch.int16, self.device)
            rel.append(r.reshape(-1))
            rsr.append(s.reshape(-1))
            cf = _t(target_attr(t, "clip_feat"), torch.float16, self.device)
            if cf is None or cf.dim() != 3:
                raise UserError(f"view {f.name}: CLIP feature map missing or not (h,w,D)")
            feats.append(cf.reshape(-1, cf.shape[-1]))
            fhw.append(cf.shape[:2])
            d = target_attr(t, "dino")
            if d is not None:
                d = _t(d, torch.float16, self.device)
                dinos.append(d.reshape(-1, d.shape[-1]))
                dhw.append(d.shape[:2])
        self.relevancy = torch.cat(rel)
        self.rsr = torch.cat(rsr)
        dims = {x.shape[-1] for x in feats}
        if len(dims) != 1:
            raise UserError(f"CLIP feature dims differ between views: {sorted(dims)}")
        self.feat_dim = dims.pop()
        self.feat = torch.cat(feats)
        ms = [target_attr(t, "clip_ms") for t in targets] if self.multiscale else []
        if ms and all(m is not None and m.dim() == 4 and m.shape[0] > 1 for m in ms):
            if len({int(m.shape[0]) for m in ms}) != 1:
                raise UserError("the views' CLIP features have different numbers of scales")
            if any(tuple(m.shape[1:3]) != tuple(hw) for m, hw in zip(ms, fhw)):
                raise UserError("multi-scale CLIP maps do not match the gathered feature grid")
            self.n_scales = int(ms[0].shape[0])
            self.feat_ms = torch.cat([_t(m, torch.float16, self.device).permute(1, 2, 0, 3).reshape(-1, self.n_scales, m.shape[-1])
                                      for m in ms])
        self.feat_hw = torch.tensor([list(x) for x in fhw], dtype=torch.long, device=self.device)
        self.feat_offset = self._offsets(self.feat_hw)
        if dinos and len(dinos) == len(frames):
            ddims = {x.shape[-1] for x in dinos}
            if len(ddims) != 1:
                raise UserError(f"DINO feature dims differ between views: {sorted(ddims)}")
            self.dino_dim = ddims.pop()
            self.dino = torch.cat(dinos)
            self.dino_hw = torch.tensor([list(x) for x in dhw], dtype=torch.long, device=self.device)
            self.dino_offset = self._offsets(self.dino_hw)
        else:
            self.dino_dim = 0

    def _offsets(self, hw):
        off = torch.zeros(hw.shape[0] + 1, dtype=torch.long, device=self.device)
        off[1:] = torch.cumsum(hw[:, 0] * hw[:, 1], 0)
        return off

    # ------------------------------------------------------------------ views
    @property
    def n_views(self) -> int:
        return int(self.hw.shape[0])

    def view_slice(self, v: int) -> slice:
        return slice(int(self.pix_offset[v]), int(self.pix_offset[v + 1]))

    def view_map(self, flat: torch.Tensor, v: int) -> torch.Tensor:
        """(H_v, W_v) view of a per-pixel flat tensor."""
        H, W = self.hw[v].tolist()
        return flat[self.view_slice(v)].reshape(H, W)

    def set_pseudo(self, maps: list[torch.Tensor]) -> None:
        """Store pseudo maps S̄ (one (H_v,W_v) map per view)."""
        self.pseudo = torch.cat([m.reshape(-1).to(device=self.device, dtype=torch.int16) for m in maps])

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """(n,) flat pixel indices, uniform over all pixels of all views."""
        return torch.randint(0, self.n_pixels, (n,), generator=generator, device=self.device)

    def locate(self, idx: torch.Tensor):
        """flat index → (view, x, y)."""
        v = torch.searchsorted(self.pix_offset, idx, right=True) - 1
        local = idx - self.pix_offset[v]
        W = self.hw[v, 1]
        return v, local % W, local // W

    def _cell(self, v, x, y, hw, offset):
        H, W = self.hw[v, 0], self.hw[v, 1]
        h, w = hw[v, 0], hw[v, 1]
        i = torch.minimum(((2 * y + 1) * h) // (2 * H), h - 1)  # ⌊(y+0.5)·h/H⌋, exact in integers
        j = torch.minimum(((2 * x + 1) * w) // (2 * W), w - 1)
        return offset[v] + i * w + j

    def gather(self, idx: torch.Tensor, target: str | None = "rsr", with_feat: bool = True,
               with_dino: bool = True) -> RayBatch:
        """Rays and supervision of flat pixels ``idx``. ``target`` ∈ {"rsr","relevancy","pseudo",None}."""
        v, x, y = self.locate(idx)
        uv = torch.stack([x, y], -1).to(torch.float32)
        rays_o, rays_d = pixel_rays(self.K[v], self.c2w[v], uv, device=self.device)
        rgb = self.rgb[idx].to(torch.float32) / 255.0
        tgt = None
        if target is not None:
            src = getattr(self, target)
            if src is None:
                raise RuntimeError(f"target map '{target}' not available")
            tgt = src[idx].long()
        feat = dino = feat_ms = None
        if with_feat and self.feat is not None:
            cell = self._cell(v, x, y, self.feat_hw, self.feat_offset)
            feat = self.feat[cell].float()
            if self.feat_ms is not None:
                feat_ms = self.feat_ms[cell].float()
        if with_dino and self.dino is not None:
            dino = self.dino[self._cell(v, x, y, self.dino_hw, self.dino_offset)].float()
        depth = zs = None
        if self.depth is not None:
            depth = self.depth[idx]
            zs = (rays_d * self.c2w[v, :3, 2]).sum(-1)  # ray_z_scale with per-ray cameras
        return RayBatch(rays_o, rays_d, rgb, tgt, feat, dino, v, depth, zs, feat_ms)
