"""Speed/memory benchmark of the field (called and printed by ``ovnerf bench``).

Scene: a field over the box [-1,1]³ whose density is set to an opaque half-space (x < 0, a wall
the camera faces) with an alpha mask — a stand-in for a trained scene (sparse occupancy, opaque
surfaces). Rays come from a 640×480 pinhole camera at x = 2.5 looking at the wall.

Measured:
* ``train_it_s``: forward + backward + Adam step at ``n_rays`` rays, outputs RGB + CLIP feature
  (D = cfg.feature_dim) + DINO, MSE/cosine losses; ``train_s_per_it`` its inverse.
* ``train_peak_mem_mb``: CUDA ``max_memory_allocated`` during training steps; on CPU the process's
  peak resident set size (``ru_maxrss``, whole process).
* ``render_s`` / ``render_peak_mem_mb``: one 640×480 view (RGB, depth and a 10-class
  segmentation via ``feature_transform``) with ``render_image``.
* ``naive_it_s`` and ``speedup``: the same training step with :mod:`ovnerf.field.naive_reference`
  (only with ``naive=True``).
"""
from __future__ import annotations

import resource
import time

import torch
import torch.nn.functional as F

from ovnerf.field.naive_reference import naive_render_rays
from ovnerf.field.renderer import render_image, render_rays
from ovnerf.field.semantic_field import FieldConfig, SemanticField
from ovnerf.scene.conventions import look_at
from ovnerf.scene.rays import pixel_rays


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_wall_field(cfg: FieldConfig, device) -> SemanticField:
    """Field over [-1,1]³ with an opaque half-space x < 0 and an up-to-date alpha mask."""
    field = SemanticField(cfg, ([-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]), device=device)
    with torch.no_grad():
        tf = field.tensorf
        for p in [*tf.density_plane, *tf.density_line]:
            p.mul_(0.01)
        rx, ry = tf.grid_res[0], tf.grid_res[1]
        xs = torch.linspace(-1, 1, rx, device=device)
        tf.density_plane[0][0, 0] += (xs < 0).float()[None, :].expand(ry, rx) * 20.0
        tf.density_line[0][0, 0] += 1.0
    field.update_alpha_mask()
    return field


def _camera(device):
    K = torch.tensor([[500.0, 0, 320.0], [0, 500.0, 240.0], [0, 0, 1.0]])
    c2w = torch.tensor(look_at([2.5, 0.0, 0.0], [0.0, 0.0, 0.0]), dtype=torch.float32)
    return K, c2w


def _train_step(field, opt, render, rays_o, rays_d, tgt_rgb, tgt_feat, tgt_dino):
    out = render(field, rays_o, rays_d)
    loss = F.mse_loss(out["rgb"], tgt_rgb)
    loss = loss + (1 - F.cosine_similarity(out["feature"], tgt_feat, dim=-1)).mean()
    loss = loss + F.mse_loss(out["dino"], tgt_dino)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def _time_steps(field, render, rays, iters, warmup, device):
    opt = torch.optim.Adam(field.param_groups(2e-2, 1e-4), betas=(0.9, 0.99))
    for _ in range(warmup):
        _train_step(field, opt, render, *rays)
    _sync(device)
    _reset_peak(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        _train_step(field, opt, render, *rays)
    _sync(device)
    return iters / (time.perf_counter() - t0), _peak_mb(device)


def bench_field(device="cpu", n_rays: int = 4096, cfg: FieldConfig | None = None, iters: int | None = None,
                warmup: int = 1, render_hw: tuple[int, int] = (480, 640), render_chunk: int = 8192,
                naive: bool = True, render: bool = True, seed: int = 0) -> dict:
    """Run the benchmark; returns a dict of figures (see the module docstring). ``cfg`` defaults to
    ``FieldConfig.cpu_preset()`` on CPU and ``FieldConfig()`` elsewhere."""
    device = torch.device(device)
    torch.manual_seed(seed)
    if cfg is None:
        cfg = FieldConfig.cpu_preset() if device.type == "cpu" else FieldConfig()
    if iters is None:
        iters = 5 if device.type == "cpu" else 30
    field = make_wall_field(cfg, device)
    K, c2w = _camera(device)
    g = torch.Generator(device="cpu").manual_seed(seed)
    H, W = render_hw
    uv = torch.stack([torch.randint(0, W, (n_rays,), generator=g), torch.randint(0, H, (n_rays,), generator=g)], -1)
    rays_o, rays_d = pixel_rays(K, c2w, uv.to(device), device=device)
    rays = (rays_o, rays_d, torch.rand(n_rays, 3, generator=g).to(device),
            torch.randn(n_rays, cfg.feature_dim, generator=g).to(device),
            torch.randn(n_rays, cfg.dino_dim, generator=g).to(device))
    step, S = field.sampling()
    res = {"device": str(device), "n_rays": n_rays, "grid_res": field.grid_res, "samples_per_ray": S,
           "feature_dim": cfg.feature_dim, "dino_dim": cfg.dino_dim, "threads": torch.get_num_threads()}

    fast = lambda f, o, d: render_rays(f, o, d, outputs=("rgb", "feature", "dino"), perturb=True)  # noqa: E731
    state = {k: v.clone() for k, v in field.state_dict().items()}
    it_s, peak = _time_steps(field, fast, rays, iters, warmup, device)
    res.update(train_it_s=it_s, train_s_per_it=1.0 / it_s, train_peak_mem_mb=peak)

    if render:
        field.load_state_dict(state)
        text = F.normalize(torch.randn(10, cfg.feature_dim, device=device), dim=-1)
        _reset_peak(device)
        _sync(device)
        t0 = time.perf_counter()
        out = render_image(field, K, c2w, H, W, chunk=render_chunk, outputs=("rgb", "depth", "feature"),
                           feature_transform=lambda f: (F.normalize(f, dim=-1) @ text.T).argmax(-1))
        _sync(device)
        res.update(render_s=time.perf_counter() - t0, render_peak_mem_mb=_peak_mb(device),
                   render_hw=[H, W], render_acc_mean=float(out["acc"].mean()))

    if naive:
        field.load_state_dict(state)
        slow = lambda f, o, d: naive_render_rays(f, o, d, outputs=("rgb", "feature", "dino"), perturb=True)  # noqa: E731
        n_it, n_peak = _time_steps(field, slow, rays, max(1, iters // 2), 0 if device.type == "cpu" else warmup, device)
        res.update(naive_it_s=n_it, naive_peak_mem_mb=n_peak, speedup=it_s / n_it)
    return res

