"""Our renderer against the TensoRF reference step, phase by phase (``ovnerf bench`` [peer]).

Both steps run in the same process, **interleaved** (ours, reference, ours, reference, …) on the
same field (:func:`~ovnerf.field.benchmark.make_wall_field`: an opaque half-space with an alpha
mask), at equal grid, samples per ray and rays; before every timed step the field's parameters
are restored, so both always see the same scene. One training step = forward + backward + Adam.

Phases:

* ``before mask``: RGB step with the alpha mask removed (what every run pays until its first
  ``update_alpha_mask``, and RGB-only scenes whose mask stays full for the whole run);
* ``after mask``: RGB step with the alpha mask;
* ``semantic``: RGB + 512-D CLIP feature + DINO step with the mask (the reference evaluates the
  semantic heads per sample at full width, as the authors' semantic TensoRF does).

``ratio`` = reference time / our time, from the **minimum** over repeats of each (the median is
reported too); ≥ 1 means we are faster. Peak memory per configuration comes from separate
processes (:func:`peak_memory`), since a process's peak RSS never decreases.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from ovnerf.field.benchmark import _camera, _sync, make_wall_field
from ovnerf.field.renderer import render_rays
from ovnerf.field.semantic_field import FieldConfig
from ovnerf.field.tensorf_reference import reference_render_rays
from ovnerf.scene.rays import pixel_rays

PHASES = ("before mask", "after mask", "semantic")
METHODS = {"ours": render_rays, "tensorf": reference_render_rays}


def _phase_outputs(phase: str) -> tuple[str, ...]:
    return ("rgb", "feature", "dino") if phase == "semantic" else ("rgb",)


def _setup(cfg: FieldConfig, device, n_rays: int, seed: int = 0):
    torch.manual_seed(seed)
    field = make_wall_field(cfg, device)
    K, c2w = _camera(device)
    g = torch.Generator().manual_seed(seed)
    uv = torch.stack([torch.randint(0, 640, (n_rays,), generator=g), torch.randint(0, 480, (n_rays,), generator=g)], -1)
    rays_o, rays_d = pixel_rays(K, c2w, uv.to(device), device=device)
    tgt = {"rgb": torch.rand(n_rays, 3, generator=g).to(device),
           "feature": torch.randn(n_rays, cfg.feature_dim, generator=g).to(device),
           "dino": torch.randn(n_rays, cfg.dino_dim, generator=g).to(device)}
    return field, rays_o, rays_d, tgt


def _step(field, opt, method, phase, rays_o, rays_d, tgt, generator):
    out = METHODS[method](field, rays_o, rays_d, outputs=_phase_outputs(phase), perturb=True, generator=generator)
    loss = F.mse_loss(out["rgb"], tgt["rgb"])
    if phase == "semantic":
        loss = loss + (1 - F.cosine_similarity(out["feature"], tgt["feature"], dim=-1)).mean()
        loss = loss + F.mse_loss(out["dino"], tgt["dino"])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def _phase_field(field, state, phase):
    field.load_state_dict(state)
    if phase == "before mask":
        field.tensorf.alpha_mask = torch.zeros(0, 0, 0, dtype=torch.bool, device=field.device)


def bench_peer(device="cpu", n_rays: int = 4096, cfg: FieldConfig | None = None, repeats: int = 3,
               phases=PHASES, seed: int = 0) -> dict:
    """{phase: {"ours_s", "tensorf_s" (min), "ours_median_s", "tensorf_median_s", "ratio",
    "samples_shaded_ours", ...}} plus the configuration. See the module docstring."""
    device = torch.device(device)
    cfg = cfg or (FieldConfig.cpu_preset() if device.type == "cpu" else FieldConfig())
    field, rays_o, rays_d, tgt = _setup(cfg, device, n_rays, seed)
    state = {k: v.clone() for k, v in field.state_dict().items()}
    step, S = field.sampling()
    res = {"device": str(device), "n_rays": n_rays, "grid_res": field.grid_res, "samples_per_ray": S,
           "feature_dim": cfg.feature_dim, "dino_dim": cfg.dino_dim, "repeats": repeats, "phases": {}}
    for phase in phases:
        times = {m: [] for m in METHODS}
        opts = {}
        for m in METHODS:
            _phase_field(field, state, phase)
            opts[m] = torch.optim.Adam(field.param_groups(2e-2, 1e-3), betas=(0.9, 0.99))
            g = torch.Generator(device=device).manual_seed(seed)
            _step(field, opts[m], m, phase, rays_o, rays_d, tgt, g)  # warm-up
        for r in range(max(1, repeats)):
            for m in METHODS:
                _phase_field(field, state, phase)
                g = torch.Generator(device=device).manual_seed(seed + r)
                _sync(device)
                t0 = time.perf_counter()
                _step(field, opts[m], m, phase, rays_o, rays_d, tgt, g)
                _sync(device)
                times[m].append(time.perf_counter() - t0)
        ours, ref = min(times["ours"]), min(times["tensorf"])
        med = {m: sorted(v)[len(v) // 2] for m, v in times.items()}
        res["phases"][phase] = {"ours_s": ours, "tensorf_s": ref, "ours_median_s": med["ours"],
                                "tensorf_median_s": med["tensorf"], "ratio": ref / ours,
                                "ratio_median": med["tensorf"] / med["ours"]}
    return res


def format_peer(res: dict) -> list[str]:
    lines = [f"  TensoRF reference step (paper algorithm on our parameters, see ovnerf/field/tensorf_reference.py),"
             f" grid {res['grid_res']}, {res['samples_per_ray']} samples/ray, {res['n_rays']} rays,"
             f" min of {res['repeats']} interleaved repeats:"]
    for phase, r in res["phases"].items():
        lines.append(f"    {phase:<12} TensoRF {1000 * r['tensorf_s']:7.0f} ms   ours {1000 * r['ours_s']:6.0f} ms"
                     f"   ratio x{r['ratio']:.2f} (median x{r['ratio_median']:.2f})")
    return lines


def peak_memory(phase: str, method: str, device="cpu", n_rays: int = 4096, timeout: float = 600) -> float:
    """Peak memory (MiB) that one training step of ``method`` in ``phase`` adds, in a fresh process:
    on the CPU the peak resident set size during the step (sampled every 5 ms) minus the RSS before
    it (imports, field, rays: the same for both methods); on CUDA ``max_memory_allocated`` during
    the step. NaN when the process fails."""
    code = ("import json; from ovnerf.experiments.bench import peer_step_peak; "
            f"print(json.dumps(peer_step_peak({phase!r}, {method!r}, {str(device)!r}, {int(n_rays)})))")
    try:
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
        return float(json.loads(p.stdout.strip().splitlines()[-1]))
    except (subprocess.SubprocessError, ValueError, IndexError):
        return float("nan")


def one_step(phase: str, method: str, device, n_rays: int):
    """(run, device) for :func:`peak_memory`'s child: ``run()`` performs one step on a fresh field."""
    device = torch.device(device)
    cfg = FieldConfig.cpu_preset() if device.type == "cpu" else FieldConfig()
    field, rays_o, rays_d, tgt = _setup(cfg, device, n_rays)
    _phase_field(field, {k: v.clone() for k, v in field.state_dict().items()}, phase)
    opt = torch.optim.Adam(field.param_groups(2e-2, 1e-3), betas=(0.9, 0.99))

    def run():
        _step(field, opt, method, phase, rays_o, rays_d, tgt, torch.Generator(device=device).manual_seed(0))
        _sync(device)
    return run
