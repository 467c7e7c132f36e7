"""Volume rendering of a :class:`~ovnerf.field.semantic_field.SemanticField` (eqs. 1–2 of OV-NeRF).

Sampling (TensoRF, with a fixed sample budget S per ray): each ray (unit direction d) is intersected
with the scene AABB, ``t_near = max(entry, near)``, ``t_far = exit``; the ray's step is
``δ = max(step_grid, (t_far − t_near) / S)`` (TensoRF's grid step, enlarged only where S samples
would not cover the ray's chord) and ``t_k = t_near + δ·(k + u)``, k < S, with u = 0 (eval) or one
uniform jitter per ray (``perturb=True``, training). Samples outside the box or in empty
alpha-mask cells (before the first alpha mask: empty cells of the early occupancy grid,
:mod:`ovnerf.field.occupancy_grid`) get σ = 0 and are never evaluated.

Compositing (:func:`composite`)::

    α_k = 1 − exp(−σ_k δ_k),   T_k = Π_{j<k} (1 − α_j) = exp(−Σ_{j<k} σ_j δ_j),   w_k = T_k α_k
    C = Σ_k w_k c_k,   depth = Σ_k w_k t_k,   acc = Σ_k w_k,   rgb += (1 − acc) · bg

Early ray termination (every iteration, with or without an alpha mask): densities are evaluated
in ``cfg.early_stop_segments`` consecutive blocks of samples and a ray stops after a block where
its transmittance fell below ``weight_threshold`` (every later weight would be below it too).

Appearance (RGB / feature / DINO heads) is evaluated only at samples with w_k above
:func:`shading_mask` — TensoRF's ray-marching threshold ``weight_threshold`` — plus each ray's
peak-weight sample (a freshly initialised field, whose weights are all ≈1e-5, would otherwise
receive no colour gradient on a black background). The same rule applies at every iteration: there is no special case before the first
alpha mask. Contributions are accumulated
with ``index_add`` so no dense (rays × samples × D) tensor is ever built; the feature/DINO heads'
final affine layer is applied after compositing (exact by linearity, see ``MLPHead.project``).

``depth`` is the distance along the unit ray (use :func:`ovnerf.scene.rays.ray_z_scale` for z).
Features are returned un-normalised (the losses use cosine similarity).
"""
from __future__ import annotations

import time
from typing import Callable, Iterable

import torch

from ovnerf.errors import DeadlineExceeded
from ovnerf.field.selection import composite_selection
from ovnerf.scene.rays import get_rays

ALL_OUTPUTS = ("rgb", "depth", "feature", "dino", "selection")


def compute_weights(sigma: torch.Tensor, delta) -> tuple[torch.Tensor, torch.Tensor]:
    """(weights w (N,S), transmittance T (N,S)) for densities σ (N,S) and step lengths δ (N,S) or scalar."""
    tau = sigma * delta
    alpha = 1.0 - torch.exp(-tau)
    T = torch.exp(-(torch.cumsum(tau, dim=-1) - tau))  # exclusive cumulative sum
    return T * alpha, T


def composite(sigma: torch.Tensor, delta, values: torch.Tensor | None = None):
    """Pure α-compositing. Returns (Σ_k w_k values_k (N,C) or None, weights (N,S))."""
    w, _ = compute_weights(sigma, delta)
    out = None if values is None else (w.unsqueeze(-1) * values).sum(dim=-2)
    return out, w


def distortion_loss(weights: torch.Tensor, t: torch.Tensor, delta, scale: float = 1.0) -> torch.Tensor:
    """Mip-NeRF 360 distortion loss, mean over rays (O(S) per ray via cumulative sums)::

        L = Σ_{i,j} w_i w_j |s_i − s_j| + ⅓ Σ_i w_i² δ_i,    s_i = (t_i + δ_i/2) / scale

    It concentrates each ray's weights into one short interval, i.e. it removes the semi-transparent
    "fog" that an inside-out room otherwise fills with (every ray's colour gradient raises the
    density uniformly along the ray at the start). ``weights``/``t`` (N,S) and ``delta`` (N,1) as
    returned by ``render_rays(..., return_weights=True)``; ``scale`` (e.g. the scene diagonal)
    makes the loss unit-free.
    """
    d = (delta if torch.is_tensor(delta) else torch.as_tensor(delta, dtype=t.dtype, device=t.device)) / scale
    s = t / scale + 0.5 * d
    w = weights
    ws = w * s
    w_before = torch.cumsum(w, dim=-1) - w
    ws_before = torch.cumsum(ws, dim=-1) - ws
    inter = 2.0 * (ws * w_before - w * ws_before).sum(-1)
    intra = (w.pow(2) * d).sum(-1) / 3.0
    return (inter + intra).mean()


def ray_aabb(rays_o: torch.Tensor, rays_d: torch.Tensor, aabb: torch.Tensor):
    """Slab test: (t_entry (N,), t_exit (N,)); a ray misses the box where t_exit < t_entry."""
    vec = torch.where(rays_d == 0, torch.full_like(rays_d, 1e-9), rays_d)
    ta = (aabb[1] - rays_o) / vec
    tb = (aabb[0] - rays_o) / vec
    return torch.minimum(ta, tb).amax(-1), torch.maximum(ta, tb).amin(-1)


def sample_along_rays(rays_o, rays_d, aabb, step: float, n_samples: int, near: float = 0.0,
                      perturb: bool = False, generator: torch.Generator | None = None):
    """Returns t (N,S), points (N,S,3), valid (N,S) bool (inside the AABB), per-ray step δ (N,1)."""
    t_in, t_out = ray_aabb(rays_o, rays_d, aabb)
    t0 = t_in.clamp(min=near)
    delta = ((t_out - t0) / n_samples).clamp(min=step).unsqueeze(-1)
    k = torch.arange(n_samples, device=rays_o.device, dtype=rays_o.dtype)
    if perturb:
        u = torch.rand(rays_o.shape[0], 1, device=rays_o.device, dtype=rays_o.dtype, generator=generator)
        k = k + u
    t = torch.addcmul(t0[:, None], delta, k)
    pts = torch.addcmul(rays_o[:, None, :], rays_d[:, None, :], t[..., None])
    # t ≥ t0 ≥ t_entry, so a sample is inside the box exactly when t ≤ t_exit (a ray that misses the
    # box has t_exit < t_entry ≤ t): one comparison instead of six per sample
    valid = t <= t_out[:, None]
    return t, pts, valid, delta


def shading_mask(weights: torch.Tensor, valid: torch.Tensor, cfg) -> torch.Tensor:
    """Bool (N,S): the samples whose appearance is evaluated — w > ``weight_threshold`` (TensoRF's
    ray-marching threshold), plus each ray's peak-weight sample (where ``cfg.shade_peak``), so that a
    ray whose weights are all below the threshold (a freshly initialised field, weights ≈1e-5) still
    gets a colour gradient through its most visible sample: at most one extra sample per ray, and
    the same rule at every iteration, with or without an alpha mask."""
    w = weights.detach()
    shade = w > float(cfg.weight_threshold)
    if getattr(cfg, "shade_peak", True):
        peak = w.amax(-1, keepdim=True)
        shade = shade | ((w >= peak) & (peak > 0))
    return valid & shade


def render_rays(field, rays_o: torch.Tensor, rays_d: torch.Tensor, outputs: Iterable[str] = ALL_OUTPUTS,
                perturb: bool = False, white_bg: bool | None = None, n_samples: int | None = None,
                generator: torch.Generator | None = None, return_weights: bool = False,
                use_alpha_mask: bool = True, bg_color: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Render N rays (unit directions). ``outputs`` ⊆ {"rgb","depth","feature","dino"}; "acc" is always
    returned; ``return_weights`` adds "weights" (N,S), "t" (N,S) and "delta" (N,1). Differentiable.
    ``bg_color`` ((3,) or (N,3), overrides ``white_bg``): colour added with weight 1 − acc, e.g. a
    random colour per ray in training so that no partially transparent "fog" can stand in for a
    dark surface (see :func:`distortion_loss` for the other anti-fog term)."""
    outputs = set(outputs)
    unknown = outputs - set(ALL_OUTPUTS)
    if unknown:
        raise ValueError(f"unknown render outputs {sorted(unknown)}; choose from {ALL_OUTPUTS}")
    cfg = field.cfg
    white_bg = cfg.white_bg if white_bg is None else white_bg
    step, S = field.sampling()
    if n_samples is not None:
        S = int(n_samples)
    N = rays_o.shape[0]
    t, pts, valid, delta = sample_along_rays(rays_o, rays_d, field.aabb, step, S, cfg.near, perturb, generator)
    has_mask = field.has_space_mask() if hasattr(field, "has_space_mask") else field.has_alpha_mask()
    if use_alpha_mask and has_mask and valid.any():
        v = valid.clone()
        v[valid] = field.occupied(pts[valid])
        valid = v
    G = max(1, int(getattr(cfg, "early_stop_segments", 1)))
    seg = -(-S // G)
    parts, masks, tau = [], [], torch.zeros(N, device=rays_o.device, dtype=rays_o.dtype)
    for s0 in range(0, S, seg):  # G ≤ a few segments: early ray termination between them
        v = valid[:, s0:s0 + seg]
        if s0 > 0:
            v = v & (torch.exp(-tau) > cfg.weight_threshold)[:, None]
        masks.append(v)
        sg = torch.zeros(v.shape, device=rays_o.device, dtype=rays_o.dtype)
        if v.any():
            sg = sg.masked_scatter(v, field.density(pts[:, s0:s0 + seg][v]))
        parts.append(sg)
        if G > 1:
            tau = tau + (sg.detach() * delta).sum(-1)
    if len(parts) > 1:
        sigma, valid = torch.cat(parts, dim=1), torch.cat(masks, dim=1)
    else:
        sigma = parts[0]
    weights, _ = compute_weights(sigma, delta)
    acc = weights.sum(-1)
    result: dict[str, torch.Tensor] = {"acc": acc}
    if "depth" in outputs:
        result["depth"] = (weights * t).sum(-1)

    heads = outputs & {"rgb", "feature", "dino", "selection"}
    if heads:
        shade = shading_mask(weights, valid, cfg)
        ray_idx, smp_idx = shade.nonzero(as_tuple=True)
        w = weights[ray_idx, smp_idx].unsqueeze(-1)
        app = field.app_feature(pts[ray_idx, smp_idx])
        if "rgb" in heads:
            c = field.rgb(app, rays_d[ray_idx])
            rgb = torch.zeros(N, 3, device=rays_o.device, dtype=rays_o.dtype).index_add(0, ray_idx, w * c)
            if bg_color is not None:
                rgb = rgb + (1.0 - acc).unsqueeze(-1) * bg_color.to(rgb)
            elif white_bg:
                rgb = rgb + (1.0 - acc).unsqueeze(-1)
            result["rgb"] = rgb
        if heads & {"feature", "dino", "selection"}:
            # cfg.semantic_density_grad (default True, as OV-NeRF trains every loss jointly): the
            # semantic losses also move σ through the weights; False detaches them (3DOVS trains
            # its semantic field on a fixed, pre-trained density)
            ws = w if getattr(cfg, "semantic_density_grad", True) else w.detach()
            wsum = torch.zeros(N, device=rays_o.device, dtype=rays_o.dtype).index_add(0, ray_idx, ws[:, 0])
        for key, head in (("feature", field.feature_head), ("dino", field.dino_head)):
            if key in heads:
                h = head.hidden(app)
                hc = torch.zeros(N, h.shape[-1], device=rays_o.device, dtype=h.dtype).index_add(0, ray_idx, ws * h)
                result[key] = head.project(hc, wsum)
        if "selection" in heads and getattr(field, "selection", None) is not None:
            prob = field.selection.probabilities(field.normalize(pts[ray_idx, smp_idx]))
            result["selection"] = composite_selection(prob, ws, ray_idx, N)
    if return_weights:
        result["weights"] = weights
        result["t"] = t
        result["delta"] = delta
    return result


@torch.no_grad()
def render_image(field, K, c2w, H: int, W: int, chunk: int = 8192, device=None,
                 outputs: Iterable[str] = ("rgb", "depth"), white_bg: bool | None = None,
                 feature_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 out_device=None, deadline: float | None = None) -> dict[str, torch.Tensor]:
    """Render a full H×W view (K 3×3, c2w 4×4 OpenCV) in chunks of ``chunk`` rays under no_grad.

    Returns a dict of (H,W,…) tensors on ``out_device`` (default: ``device``): "acc" (H,W) plus the
    requested outputs — "rgb" (H,W,3), "depth" (H,W), "feature" (H,W,D), "dino" (H,W,Dd).
    ``feature_transform`` (e.g. ``lambda f: f @ text_emb.T``) is applied to each chunk's feature
    before it is stored, so a full D=512 feature image never needs to exist in memory.
    Peak memory is bounded by ``chunk`` (plus the outputs themselves). ``deadline`` (a
    ``time.monotonic()`` value): past it, :class:`~ovnerf.errors.DeadlineExceeded` is raised
    before the next chunk.
    """
    device = torch.device(device) if device is not None else field.device
    out_device = device if out_device is None else torch.device(out_device)
    outputs = tuple(outputs)
    rays_o, rays_d = get_rays(K, c2w, H, W, device=device)
    parts: dict[str, list[torch.Tensor]] = {}
    for i in range(0, rays_o.shape[0], chunk):
        if deadline is not None and time.monotonic() > deadline:
            raise DeadlineExceeded(f"render stopped at its deadline after {i} of {rays_o.shape[0]} rays")
        r = render_rays(field, rays_o[i:i + chunk], rays_d[i:i + chunk], outputs=outputs, white_bg=white_bg)
        if feature_transform is not None and "feature" in r:
            r["feature"] = feature_transform(r["feature"])
        for k, v in r.items():
            parts.setdefault(k, []).append(v.to(out_device))
    return {k: torch.cat(v, 0).reshape(H, W, *v[0].shape[1:]) for k, v in parts.items()}
