"""A reference rendering step written from the TensoRF paper's algorithm — the bench's peer.

Why not the real TensoRF / nerfstudio: nerfstudio 1.1.5 (the PyPI package with a TensoRF model)
pins ``opencv-python-headless==4.10.0.84``, ``timm==0.6.7``, ``open3d``, ``gsplat==1.4.0`` and
``nerfacc==0.5.2`` (our pins: opencv 5.0.0.93, timm 1.0.31, open3d-cpu 0.20.0), so it cannot be
installed beside the project; apchenstu/TensoRF is not a package. This module restates what
TensoRF's ``TensorVMSplit`` + ``TensorBase.forward`` do (Chen et al., ECCV 2022, and the authors'
code), **on our field's parameters** (same VM factors, same heads), so that the bench compares
the two rendering algorithms at equal grid, samples and rays:

* sampling (``sample_ray``): t_min = max(AABB entry, near); fixed step ``step`` (TensoRF's
  ``stepSize``); t_k = t_min + step·(k + u) with one uniform jitter u per ray when training; S
  samples; samples outside the AABB are invalid; ``dists`` = the fixed step (the last one 0).
* alpha-mask filtering: the occupancy grid is sampled **trilinearly** (``grid_sample`` on the
  float volume, TensoRF's ``AlphaGridMask.sample_alpha``) and samples with value 0 are dropped.
* density: per-plane/per-line ``grid_sample`` of the VM factors (``compute_densityfeature``), σ =
  softplus(σ̃ + shift)·distance_scale, α = 1 − exp(−σ·dist), weights by ``cumprod`` (raw2alpha),
  with dense (rays × samples) tensors and no early ray termination.
* appearance masking: app features (``compute_appfeature``) and the RGB head only where
  w > ``weight_threshold`` (``rayMarch_weight_thres``), scattered into a dense (rays × samples × 3)
  tensor, composited with Σ w·c.
* semantic heads (the OV-NeRF / 3DOVS-style semantic TensoRF): the CLIP-feature and DINO heads
  are evaluated **per masked sample at full output width** (D = 512) — the authors' model has no
  hidden-layer compositing — and accumulated per ray with ``index_add`` (kinder to the reference
  than a dense rays × samples × 512 tensor, which made its step ~7 s instead of < 1 s here).

Outputs agree with :func:`ovnerf.field.renderer.render_rays` up to the skipped sub-threshold
samples (``tests/core/test_tensorf_reference.py``). It is a statement of the algorithm, not the
authors' code.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ovnerf.field.renderer import ray_aabb


def _sample_ray(rays_o, rays_d, aabb, step: float, n_samples: int, near: float, perturb: bool,
                generator=None):
    t_in, _ = ray_aabb(rays_o, rays_d, aabb)
    t_min = t_in.clamp(min=near)
    k = torch.arange(n_samples, device=rays_o.device, dtype=rays_o.dtype)[None].repeat(rays_o.shape[0], 1)
    if perturb:
        k = k + torch.rand(rays_o.shape[0], 1, device=rays_o.device, dtype=rays_o.dtype, generator=generator)
    z = t_min[:, None] + step * k
    pts = rays_o[:, None, :] + rays_d[:, None, :] * z[..., None]
    inside = ((pts >= aabb[0]) & (pts <= aabb[1])).all(-1)
    return z, pts, inside


def _vm_density_feature(tf, xyz: torch.Tensor) -> torch.Tensor:
    plane_c, line_c = tf._coords(xyz)
    return sum(p.sum(0) for p in tf._vm_products(tf.density_plane, tf.density_line, plane_c, line_c))


def reference_render_rays(field, rays_o: torch.Tensor, rays_d: torch.Tensor,
                          outputs=("rgb", "depth", "feature", "dino"), perturb: bool = False,
                          n_samples: int | None = None, generator=None) -> dict[str, torch.Tensor]:
    """TensoRF's rendering step (see module docstring) on ``field``'s parameters."""
    cfg, tf = field.cfg, field.tensorf
    step, S = field.sampling()
    S = int(n_samples or S)
    N = rays_o.shape[0]
    z, pts, valid = _sample_ray(rays_o, rays_d, field.aabb, step, S, cfg.near, perturb, generator)
    dists = torch.cat([z[:, 1:] - z[:, :-1], torch.zeros_like(z[:, :1])], dim=-1)
    xyz = field.normalize(pts)
    if field.has_alpha_mask() and valid.any():  # AlphaGridMask.sample_alpha: trilinear, > 0
        vol = tf.alpha_mask.permute(2, 1, 0).float()[None, None]
        a = F.grid_sample(vol, xyz[valid].view(1, -1, 1, 1, 3), align_corners=True).view(-1)
        invalid = ~valid
        invalid[valid] |= a <= 0
        valid = ~invalid
    sigma = torch.zeros(N, S, device=rays_o.device, dtype=rays_o.dtype)
    if valid.any():
        sigma[valid] = tf.distance_scale * F.softplus(_vm_density_feature(tf, xyz[valid]) + tf.density_shift)
    alpha = 1.0 - torch.exp(-sigma * dists)
    T = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1.0 - alpha + 1e-10], dim=-1), dim=-1)
    weight = alpha * T[:, :-1]
    app_mask = weight > cfg.weight_threshold
    out = {"acc": weight.sum(-1)}
    if "depth" in outputs:
        out["depth"] = (weight * z).sum(-1)
    heads = [k for k in ("rgb", "feature", "dino") if k in outputs]
    if heads:
        app = tf.app_feature(xyz[app_mask])
        for key in heads:
            if key == "rgb":
                vals = field.rgb(app, rays_d[:, None, :].expand(N, S, 3)[app_mask])
            else:
                vals = (field.feature if key == "feature" else field.dino)(app)
            if key == "rgb":  # TensoRF: dense (rays × samples × 3), Σ_k w_k c_k
                dense = torch.zeros(N, S, 3, device=rays_o.device, dtype=vals.dtype)
                dense[app_mask] = vals
                out[key] = (weight[..., None] * dense).sum(-2)
            else:  # full-width per-sample features, accumulated per ray without a dense tensor
                ray = app_mask.nonzero(as_tuple=True)[0]
                out[key] = torch.zeros(N, vals.shape[-1], device=rays_o.device, dtype=vals.dtype).index_add(
                    0, ray, weight[app_mask][:, None] * vals)
        if "rgb" in out and cfg.white_bg:
            out["rgb"] = out["rgb"] + (1.0 - out["acc"])[:, None]
    return out
