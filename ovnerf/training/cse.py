"""Cross-view Self-enhancement (CSE), OV-NeRF's Stage II.

Every N iterations of Stage II the field's own, 3D-consistent segmentation replaces the noisy
2D targets:

(a) **Pseudo-map update (L_PMU).** Render the segmentation Ŝ_i = argmax_c cos(t_c, F̂) at every
    training pose (no_grad, chunked), refine it with RSR using the view's stored region proposals
    → S̄_i = Ψ(Ŝ_i, R_i). Stage II trains the CE term of the training rays against S̄_i.
(b) **Pseudo maps on novel views (L_PMS).** Generate N+ novel poses near the training trajectory
    (``ovnerf.scene.novel_poses``), render their RGB and segmentation, run the region backend on
    the rendered RGB (uint8) → R+_j, refine → S+_j = Ψ(Ŝ_j, R+_j). Stage II adds a CE term on
    rays of these views against S+_j (no colour/feature supervision there).

With ``use_rsr=False`` (the "w CSE*" ablation) the rendered maps are used unrefined.
Pixels whose rendered opacity is below ``min_acc`` are void (-1) in the pseudo maps (nothing
was rendered there to supervise).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ovnerf.field.renderer import render_image
from ovnerf.scene.novel_poses import novel_poses
from ovnerf.scene.rays import pixel_rays
from ovnerf.semantics.relevancy import text_logits
from ovnerf.semantics.rsr import region_semantic_ranking

log = logging.getLogger(__name__)

__all__ = ["render_segmentation", "pseudo_maps", "NovelViews", "make_novel_views"]


@torch.no_grad()
def render_segmentation(field, K, c2w, H: int, W: int, text_emb: torch.Tensor, chunk: int = 8192,
                        with_rgb: bool = False, min_acc: float = 0.0):
    """Render (H,W) class ids argmax_c cos(t_c, F̂) (−1 where acc < min_acc); with ``with_rgb``
    also the (H,W,3) uint8 rendered RGB."""
    t = F.normalize(text_emb.to(field.device).float(), dim=-1)
    outputs = ("rgb", "feature") if with_rgb else ("feature",)
    r = render_image(field, K, c2w, H, W, chunk=chunk, outputs=outputs,
                     feature_transform=lambda f: text_logits(f, t))
    seg = r["feature"].argmax(-1)
    if min_acc > 0:
        seg = torch.where(r["acc"] >= min_acc, seg, torch.full_like(seg, -1))
    if with_rgb:
        rgb = (r["rgb"].clamp(0, 1) * 255 + 0.5).to(torch.uint8)
        return seg, rgb
    return seg


@torch.no_grad()
def pseudo_maps(field, bank, regions: list, text_emb: torch.Tensor, use_rsr: bool = True,
                chunk: int = 8192, min_acc: float = 0.0) -> list[torch.Tensor]:
    """(a): S̄_v for every view v of ``bank`` (a RayBank); ``regions[v]`` bool (K,H,W) or None."""
    M = int(text_emb.shape[0])
    out = []
    for v in range(bank.n_views):  # one full render per view (each view is a batched render)
        H, W = bank.hw[v].tolist()
        seg = render_segmentation(field, bank.K[v], bank.c2w[v], H, W, text_emb, chunk, min_acc=min_acc)
        R = regions[v] if regions is not None else None
        if use_rsr and R is not None and len(R) > 0:
            seg = region_semantic_ranking(seg, torch.as_tensor(R, device=seg.device), M)
        out.append(seg.to(torch.int16))
    return out


@dataclass
class NovelViews:
    """Novel cameras and their pseudo maps S+ (flat, row-major per view)."""
    K: torch.Tensor        # (n,3,3)
    c2w: torch.Tensor      # (n,4,4)
    H: int
    W: int
    targets: torch.Tensor  # (n*H*W,) int16, -1 void

    @property
    def n(self) -> int:
        return int(self.c2w.shape[0])

    def sample(self, count: int, generator: torch.Generator):
        """Uniform pixels of the novel views → (rays_o, rays_d, target long)."""
        dev = self.targets.device
        idx = torch.randint(0, self.targets.numel(), (count,), generator=generator, device=dev)
        v = idx // (self.H * self.W)
        local = idx % (self.H * self.W)
        uv = torch.stack([local % self.W, local // self.W], -1).to(torch.float32)
        o, d = pixel_rays(self.K[v], self.c2w[v], uv, device=dev)
        return o, d, self.targets[idx].long()

    def state(self) -> dict:
        return {"K": self.K.cpu(), "c2w": self.c2w.cpu(), "H": self.H, "W": self.W,
                "targets": self.targets.cpu()}

    @classmethod
    def from_state(cls, s: dict, device) -> "NovelViews":
        return cls(s["K"].to(device), s["c2w"].to(device), int(s["H"]), int(s["W"]), s["targets"].to(device))


@torch.no_grad()
def make_novel_views(field, train_c2w, K, H: int, W: int, n: int, seed: int, region_backend,
                     text_emb: torch.Tensor, use_rsr: bool = True, chunk: int = 8192,
                     min_acc: float = 0.0, look_at=None) -> NovelViews:
    """(b): N+ novel poses (``novel_poses(train_c2w, n, seed)``), rendered with intrinsics ``K`` at
    H×W; regions from ``region_backend.generate(rgb uint8)``; S+ = Ψ(Ŝ, R+) (or Ŝ without RSR
    or without a region backend)."""
    device = field.device
    c2ws = novel_poses(np.asarray(train_c2w.cpu() if isinstance(train_c2w, torch.Tensor) else train_c2w),
                       n, seed=seed, look_at=look_at)
    K_t = torch.as_tensor(np.asarray(K.cpu() if isinstance(K, torch.Tensor) else K), dtype=torch.float32, device=device)
    M = int(text_emb.shape[0])
    maps = []
    for j in range(n):  # one full render (+ one region proposal call) per novel view
        seg, rgb = render_segmentation(field, K_t, c2ws[j], H, W, text_emb, chunk, with_rgb=True, min_acc=min_acc)
        if use_rsr and region_backend is not None:
            masks = region_backend.generate(rgb.cpu().numpy())
            if masks is not None and len(masks) > 0:
                seg = region_semantic_ranking(seg, torch.as_tensor(np.asarray(masks), device=seg.device), M)
        maps.append(seg.reshape(-1).to(torch.int16))
    return NovelViews(K_t[None].expand(n, 3, 3).contiguous(),
                      torch.as_tensor(c2ws, dtype=torch.float32, device=device), int(H), int(W),
                      torch.cat(maps) if maps else torch.zeros(0, dtype=torch.int16, device=device))
