"""A deliberately plain TensoRF rendering step — the baseline for the benchmark's speed ratio.

Same field and parameters as :mod:`ovnerf.field.renderer`, but none of its savings: a fixed number
of samples over the ray's chord, density **and** every head (RGB, feature, DINO) evaluated at every
in-box sample with dense (rays × samples × C) tensors, factorised density lookups (no dense
volume), no alpha mask, no weight threshold, no hidden-layer compositing, no chunking. Results
equal the optimised renderer's up to the skipped negligible samples.
"""
from __future__ import annotations

import torch

from ovnerf.field.renderer import composite, sample_along_rays


def naive_render_rays(field, rays_o: torch.Tensor, rays_d: torch.Tensor, n_samples: int | None = None,
                      outputs=("rgb", "depth", "feature", "dino"), perturb: bool = False,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    step, S = field.sampling()
    S = int(n_samples or S)
    t, pts, valid, delta = sample_along_rays(rays_o, rays_d, field.aabb, step, S, field.cfg.near, perturb, generator)
    N = rays_o.shape[0]
    flat = field.normalize(pts.reshape(-1, 3))
    tf = field.tensorf
    plane_c, line_c = tf._coords(flat)
    prods = tf._vm_products(tf.density_plane, tf.density_line, plane_c, line_c)
    sig = tf.distance_scale * torch.nn.functional.softplus(sum(p.sum(0) for p in prods) + tf.density_shift)
    sigma = sig.view(N, S) * valid
    app = tf.app_feature(flat)
    out: dict[str, torch.Tensor] = {}
    _, w = composite(sigma, delta, None)
    out["acc"] = w.sum(-1)
    if "depth" in outputs:
        out["depth"] = (w * t).sum(-1)
    if "rgb" in outputs:
        dirs = rays_d[:, None, :].expand(N, S, 3).reshape(-1, 3)
        out["rgb"] = composite(sigma, delta, field.rgb(app, dirs).view(N, S, 3))[0]
    if "feature" in outputs:
        out["feature"] = composite(sigma, delta, field.feature(app).view(N, S, -1))[0]
    if "dino" in outputs:
        out["dino"] = composite(sigma, delta, field.dino(app).view(N, S, -1))[0]
    return out
