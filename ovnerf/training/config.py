"""Training configuration (paper defaults) and overrides.

Defaults follow OV-NeRF (15k iterations, 4096 rays, Stage I for T=10k iterations, CSE every
N=1k iterations with N+=60 novel views, Adam β=(0.9, 0.99), lr 2e-2 for the TensoRF volumes and
1e-4 for the MLP heads, exponential decay to 0.1× the initial lr over the whole run:
lr(i) = lr0 · 0.1^(i / iterations)), 3DOVS for the DINO distribution loss (shift 0.7, τ 0.2;
weights: positive 10 — DEVIATION, 3DOVS and OV-NeRF's configs use 200, which with OV-NeRF's CE
term flattened the class distributions here (see ``w_dino_pos``) — negative 0.22 (3DOVS; OV-NeRF's
room config: 0.2)) and TensoRF for the coarse-to-fine schedule (grid upsampled at
2k/3k/4k/5.5k/7k iterations from 128³ to 300³ voxels, log-linearly; alpha mask updated at
2k/4k).

Every field can be overridden: ``TrainConfig.from_dict({...})``, ``cfg.override(["key=value",
...])`` (the CLI's ``--set key=value``; values parsed as YAML scalars/lists: ``use_cse=false``,
``upsample_iters=[100,200]``). Unknown keys or wrong types → ``UserError``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

import yaml

from ovnerf.errors import UserError

__all__ = ["TrainConfig", "parse_assignments"]


@dataclass
class TrainConfig:
    # schedule
    iterations: int = 15000
    batch_rays: int = 4096
    stage1_iters: int = 10000           # T: Stage I (RSR targets) runs for iterations < T
    cse_every: int = 1000               # N: pseudo maps refreshed every N iterations in Stage II
    cse_novel_views: int = 60           # N+: novel views rendered for L_PMS
    novel_ray_fraction: float = 0.25    # share of extra rays drawn from novel views (Stage II, PMS)
    geometry_warmup_frac: float = 0.1   # first 10 % of iterations: L_color only (see below)
    # optimiser
    lr_volume: float = 2e-2
    lr_mlp: float = 1e-4
    lr_decay_target: float = 0.1        # lr at the last iteration, relative to the initial lr
    betas: tuple[float, float] = (0.9, 0.99)
    # loss weights
    w_color: float = 1.0
    w_feat: float = 1.0
    w_sem: float = 1.0                  # CE against the target map (S~ / S / pseudo maps)
    w_pmu: float = 1.0                  # Stage II: CE against S̄ (training views)
    w_pms: float = 1.0                  # Stage II: CE against S+ (novel views)
    w_dino_pos: float = 10.0            # 3DOVS: 200 (it has no CE term; with OV-NeRF's CE
                                        # 200 flattens the class distributions — see losses.py)
    w_dino_neg: float = 0.22
    w_dino_feat: float = 1.0            # regression of the DINO head (0 = off)
    dino_shift: float = 0.7
    dino_pair_rays: int = 256           # rays used for the n² DINO-pair loss
    dino_temperature: float = 0.2
    temperature: float = 0.2            # τ of the CE: softmax(cos(t, F̂)/τ)
    w_tv_density: float = 0.0
    w_tv_app: float = 0.0
    w_l1: float = 0.0
    # Depth supervision — OUR ADDITION, not part of OV-NeRF (RGB-only): when > 0 and the training
    # frames carry depth (PosedFrame.depth, z-depth in metres, 0 = unknown), adds
    # depth_weight · mean |ẑ − z| over rays with known depth (losses.depth_loss), from iteration
    # 0 (warm-up included). It removes the semi-transparent free-space "fog" that RGB alone
    # leaves in few-view inside-out scenes. 0 = off (paper default); frames without depth → no-op.
    depth_weight: float = 0.0
    # With depth: weight of the line-of-sight free-space term (losses.free_space_loss: light
    # absorbed more than free_space_margin metres in front of the measured surface). Active only
    # when depth_weight > 0 as well.
    free_space_weight: float = 0.0
    free_space_margin: float = 0.1
    # Anti-fog on RGB-only data — OUR ADDITION, not in OV-NeRF (whose RGB-only fields show the
    # semi-transparent free-space "fog"): ``anti_fog`` = "off" (default), "on", or "auto" (on unless
    # depth supervises the geometry: frames with depth and depth_weight > 0 remove the fog themselves). When on:
    # * w_distortion: the mip-NeRF 360 distortion loss (field.renderer.distortion_loss, ray
    #   distances in units of the AABB diagonal), from iteration ``distortion_from``: it
    #   concentrates each ray's weights into one short interval;
    # * the visibility mask ("carving", below; ``visibility_mask=auto`` follows anti_fog);
    # * w_opacity (default 0 = off): mean α over one render step at ``opacity_points`` uniform
    #   random points of the box (Plenoxels-style sparsity). Measured on the phone capture of the
    #   demo room (160×120, 36 views, 1000 iterations): it empties weakly observed surfaces with
    #   the air — 16.1 dB / 48 % occupancy at w_opacity 0.3 (25.6 dB / 99.8 % with anti_fog off).
    # The fog is what an RGB-only field is made of there (median σ 0.36/m, mean ray opacity 0.85;
    # pruning it without re-fitting costs 2-13 dB), so it is carved out at the alpha-mask updates
    # while the field re-fits in between: distortion 0.01 + carving at min weight 0.03 (the CPU
    # preset's mask at 300/900): 24.5 dB, SSIM 0.64, 54.9 % occupancy (density alone 99.7 %);
    # mask at 300/600/900: 24.7 dB, 55.8 % (README "Bring your own scene"; wall 461-471 s under
    # load vs 574 s without). Off by default: it costs ~1 dB held-out PSNR on that capture.
    anti_fog: str = "off"
    w_distortion: float = 0.01
    distortion_from: int = 0
    w_opacity: float = 0.0
    opacity_points: int = 4096
    # Visibility mask — OUR ADDITION, not in OV-NeRF / TensoRF (instant-ngp / nerfacc mark cells
    # outside every training frustum empty; space carving drops what is seen only through a
    # surface; Plenoxels prune by the maximum training-ray weight): at alpha-mask updates the mask
    # also requires that some training camera sees the cell — in its frustum and not behind the
    # surface where that camera's transmittance falls below ``visibility_transmittance`` (views
    # rendered at ≤ ``visibility_side`` px per side, a margin of ``visibility_margin`` cell
    # diagonals) — and, with ``visibility_min_weight`` > 0, that one of those rendered samples
    # within a cell of it had a compositing weight T·α ≥ visibility_min_weight (faint fog goes
    # too); ovnerf.field.visibility_mask. "off", "on", or "auto" (default: on exactly when the
    # anti-fog terms are). Applied from the alpha-mask update number ``visibility_after``
    # (0-based) on: the first update (CPU preset: iteration 300) sees a field that is still fog
    # (with a random training background, tried and dropped, the fog there was opaque near the
    # cameras and visibility left 2 % of the box, walls included). Alone (min weight 0) it drops
    # only 2.8 % of the phone capture's box (1.3 % outside every frustum, 1.5 % occluded) at
    # unchanged PSNR: the scene box hugs the room, the fog is in the open room.
    visibility_mask: str = "auto"
    visibility_after: int = 1
    visibility_side: int = 64
    visibility_transmittance: float = 0.01
    visibility_margin: float = 1.0
    visibility_min_weight: float = 0.03
    # TensoRF coarse-to-fine (the schedule lives here only): grid upsampled at these iterations
    # (TensoRF: 2k/3k/4k/5.5k/7k; voxel counts log-linear between FieldConfig's n_voxels_init and
    # n_voxels_final), alpha mask updated at alpha_mask_iters (2k/4k).
    upsample_iters: tuple[int, ...] = (2000, 3000, 4000, 5500, 7000)
    alpha_mask_iters: tuple[int, ...] = (2000, 4000)
    # early occupancy grid (ovnerf.field.occupancy_grid) before the first alpha mask: re-estimated
    # every this many iterations; 0 = off (the default: on the demo room it kept 98.8-100 % of the
    # cells before the mask, docs/BENCHMARKS.md); grid size/threshold in FieldConfig.occupancy_*
    occupancy_every: int = 0
    # switches (ablation)
    # "learned": the field's selection volume mixes the teacher's scales, L_feat = −cos(F̂, Σ s_k F_k)
    # (3DOVS / OV-NeRF; needs a multi-scale cache); "heuristic": L_feat against the scale chosen at
    # preprocessing by TextImageBackend.select_scale (ours, for ablation). One-scale caches: no choice.
    scale_selection: str = "learned"
    use_rsr: bool = True                # False: Stage I target = raw relevancy S (3DOVS-style)
    use_cse: bool = True
    cse_pmu: bool = True                # pseudo-map update on training views
    cse_pms: bool = True                # pseudo maps on novel views
    cse_pseudo_rsr: bool = True         # False = "w CSE*": pseudo maps are not refined by RSR
    # housekeeping
    seed: int = 0
    checkpoint_every: int = 2500
    progress_interval_s: float = 0.5
    render_chunk: int = 8192            # rays per chunk when rendering whole views (CSE, eval)
    eval_every: int = 0                 # 0 = no periodic evaluation during training
    # semantic point map (ovnerf.semantic_point_map) written beside every checkpoint (the trainer
    # also saves one after each CSE event), built from up to this many training views at
    # point_map_side px; 0 = none (queries then render)
    point_map_views: int = 32
    point_map_side: int = 64

    # ------------------------------------------------------------------ presets
    @classmethod
    def cpu_preset(cls, **overrides) -> "TrainConfig":
        """Scaled for a demo scene (~20–40 views at ~120×160) on 2 CPU cores: a few minutes.

        Same structure as the paper's schedule, proportionally shorter: 2000 iterations of 1024
        rays, Stage II from 1400 with CSE every 200 and 8 novel views; the MLP lr is raised to
        1e-3 (TensoRF's basis lr) because 1e-4 is too slow for so few iterations. The grid
        (``FieldConfig.cpu_preset()``: 32³→64³) is upsampled at 300/600/900, the alpha mask
        updated at 300/900."""
        cfg = cls(iterations=2000, batch_rays=1024, stage1_iters=1400, cse_every=200,
                  cse_novel_views=8, lr_mlp=1e-3, dino_pair_rays=128, checkpoint_every=500,
                  render_chunk=4096, upsample_iters=(300, 600, 900), alpha_mask_iters=(300, 900))
        return cfg.replace(**overrides) if overrides else cfg

    # ---------------------------------------------------------------- overrides
    def replace(self, **kw) -> "TrainConfig":
        return TrainConfig.from_dict({**self.to_dict(), **kw})

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise UserError(f"unknown training option(s): {', '.join(unknown)} "
                            f"(known: {', '.join(sorted(known))})")
        defaults = cls()
        kw = {}
        for k, v in d.items():
            kw[k] = _coerce(k, v, getattr(defaults, k))
        cfg = cls(**kw)
        cfg.validate()
        return cfg

    def override(self, assignments: list[str] | None) -> "TrainConfig":
        """Apply ``key=value`` strings (CLI ``--set``)."""
        return self.replace(**parse_assignments(assignments)) if assignments else self

    def validate(self) -> None:
        if self.iterations < 1 or self.batch_rays < 1:
            raise UserError("iterations and batch_rays must be positive")
        if self.cse_every < 1:
            raise UserError("cse_every must be ≥ 1")
        if not 0 < self.lr_decay_target <= 1:
            raise UserError("lr_decay_target must be in (0, 1]")
        if self.temperature <= 0 or self.dino_temperature <= 0:
            raise UserError("temperatures must be positive")
        if not 0 <= self.geometry_warmup_frac < 1:
            raise UserError("geometry_warmup_frac must be in [0, 1)")
        if self.depth_weight < 0:
            raise UserError("depth_weight must be ≥ 0")
        if self.free_space_weight < 0 or self.free_space_margin < 0:
            raise UserError("free_space_weight and free_space_margin must be ≥ 0")
        if self.occupancy_every < 0:
            raise UserError("occupancy_every must be ≥ 0 (0 = off)")
        if self.scale_selection not in ("learned", "heuristic"):
            raise UserError(f"scale_selection must be 'learned' or 'heuristic', got {self.scale_selection!r}")
        if self.anti_fog not in ("auto", "on", "off"):
            raise UserError(f"anti_fog must be auto, on or off, got {self.anti_fog!r}")
        if self.visibility_mask not in ("auto", "on", "off"):
            raise UserError(f"visibility_mask must be auto, on or off, got {self.visibility_mask!r}")
        if (self.visibility_after < 0 or self.visibility_side < 2 or self.visibility_min_weight < 0
                or not 0 < self.visibility_transmittance < 1 or self.visibility_margin < 0):
            raise UserError("visibility_after must be ≥ 0, visibility_side ≥ 2, visibility_transmittance in (0, 1), "
                            "visibility_margin and visibility_min_weight ≥ 0")
        if self.w_distortion < 0 or self.w_opacity < 0 or self.opacity_points < 1:
            raise UserError("w_distortion and w_opacity must be ≥ 0, opacity_points ≥ 1")
        if not 0 <= self.novel_ray_fraction <= 4:
            raise UserError("novel_ray_fraction must be in [0, 4]")
        if self.point_map_views < 0 or self.point_map_side < 8:
            raise UserError("point_map_views must be ≥ 0 and point_map_side ≥ 8")

    # ----------------------------------------------------------------- helpers
    @property
    def geometry_warmup_iters(self) -> int:
        """Iterations at the start trained with L_color only. 3DOVS (whose training OV-NeRF
        follows) starts from a pre-trained reconstruction; without it the scale-invariant
        semantic losses (cosine, CE on cosines) are minimised before any density exists and the
        RGB branch stalls (measured on the tests' room: 9 dB vs 17 dB test PSNR after 400
        iterations). A short colour-only warm-up plays the role of that pre-training."""
        return int(round(self.geometry_warmup_frac * self.iterations))

    def lr_factor(self) -> float:
        """Per-iteration multiplicative decay so that lr reaches lr_decay_target at the end."""
        return self.lr_decay_target ** (1.0 / self.iterations)

    def stage(self, iteration: int) -> int:
        """1 or 2 (Stage II only if CSE is on)."""
        return 2 if (self.use_cse and iteration >= self.stage1_iters) else 1


def parse_assignments(assignments, what: str = "--set") -> dict:
    """``["key=value", ...]`` → {key: value}, values parsed as YAML scalars/lists (the one
    ``key=value`` parser: CLI ``--set``, ROS ``training.options``, ``ovnerf.app.options``)."""
    out = {}
    for a in assignments or []:
        a = str(a).strip()
        if not a:
            continue
        if "=" not in a:
            raise UserError(f"{what} expects key=value, got '{a}'")
        k, v = a.split("=", 1)
        try:
            out[k.strip()] = yaml.safe_load(v)
        except yaml.YAMLError as exc:
            raise UserError(f"{what} {a}: cannot parse value ({exc})") from None
    return out


def _coerce(key: str, value, default):
    """Convert ``value`` to the type of ``default``; UserError if impossible."""
    try:
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
                return value.lower() in ("true", "1", "yes")
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise ValueError
        if isinstance(default, int):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if isinstance(default, float):
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if isinstance(default, str):  # YAML reads on/off as booleans
            return ("on" if value else "off") if isinstance(value, bool) else str(value)
        if isinstance(default, tuple):
            if isinstance(value, (int, float)):
                value = [value]
            seq = list(value)
            if default and isinstance(default[0], float):
                return tuple(float(x) for x in seq)
            return tuple(int(x) for x in seq)
        return value
    except (TypeError, ValueError):
        raise UserError(f"training option {key}: cannot use {value!r} "
                        f"(expected {type(default).__name__})") from None
