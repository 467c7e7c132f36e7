"""The OV-NeRF semantic field: one TensoRF VM density volume, one appearance volume shared by an
RGB head (with view direction), a CLIP-feature head (D outputs, no view direction) and a DINO head.

World points are normalised to [-1, 1]^3 over the AABB before querying the grids.
Step size (TensoRF): ``step = step_ratio · mean(aabb_size / (grid_res − 1))`` and
``n_samples = min(int(|aabb diagonal| / step) + 1, cfg.max_samples)``. The renderer enlarges the
step per ray only where ``n_samples`` steps would not cover that ray's chord through the box.

Checkpoints: ``state_dict()`` / ``load_state_dict()`` round-trip across upsampling — loading
first resizes the grids (and the alpha mask) to the shapes in the state dict.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
import torch.nn as nn

from ovnerf.field.heads import MLPHead, RGBHead
from ovnerf.field.occupancy_grid import OccupancyGrid
from ovnerf.field.selection import SelectionVolume
from ovnerf.field.tensorf import TensoRFVM, n_to_reso


@dataclass
class FieldConfig:
    """Every hyper-parameter of the field and renderer. Defaults follow TensoRF-VM (Blender config)."""
    n_voxels_init: int = 128 ** 3
    n_voxels_final: int = 300 ** 3
    density_components: tuple[int, int, int] = (16, 16, 16)
    app_components: tuple[int, int, int] = (48, 48, 48)
    app_dim: int = 27
    init_scale: float = 0.1
    density_shift: float = -10.0
    distance_scale: float = 25.0
    # heads
    rgb_hidden: int = 128
    view_pe: int = 2
    fea_pe: int = 2
    feature_dim: int = 512
    feature_hidden: int = 256
    feature_layers: int = 2
    feature_pe: int = 0
    dino_dim: int = 384
    dino_hidden: int = 128
    dino_layers: int = 2
    # rendering
    step_ratio: float = 0.5
    max_samples: int = 1024
    near: float = 0.05
    alpha_mask_threshold: float = 1e-4
    weight_threshold: float = 1e-4
    shade_peak: bool = True                    # also shade each ray's peak-weight sample (renderer)
    alpha_mask_max_res: int = 200
    early_stop_segments: int = 4               # early ray termination checks per ray (1 = off)
    # early occupancy grid (ovnerf.field.occupancy_grid; TrainConfig.occupancy_every says when,
    # default off): occupancy_res³ cells, EMA decay of each cell's max σ, α threshold (below an
    # untrained field's α), fraction of random cells kept alive
    occupancy_res: int = 64
    occupancy_decay: float = 0.5
    occupancy_threshold: float = 1e-5
    occupancy_probe: float = 0.01
    dense_density_max_voxels: int = 2 ** 24   # evaluate σ from a dense volume up to this grid size
    white_bg: bool = False
    semantic_density_grad: bool = True         # False: feature/DINO losses do not move σ (renderer)
    # learned scale selection (3DOVS / OV-NeRF): n_scales > 1 adds a SelectionVolume (VM,
    # n_scales logits per point, softmax), rendered as the "selection" output; 1 = none
    n_scales: int = 1
    selection_res: int = 32
    selection_components: int = 4

    @classmethod
    def cpu_preset(cls, **overrides) -> "FieldConfig":
        """Small field for 2 CPU cores: 32³→64³ voxels, few components, ≤96 samples/ray, small MLPs."""
        cfg = cls(n_voxels_init=32 ** 3, n_voxels_final=64 ** 3, density_components=(8, 8, 8), app_components=(16, 16, 16),
                  app_dim=27, rgb_hidden=64, fea_pe=0, feature_hidden=128, dino_dim=64, dino_hidden=64,
                  max_samples=96, alpha_mask_max_res=64, occupancy_res=32)
        return replace(cfg, **overrides)

    def voxel_schedule(self, n: int) -> list[int]:
        """Voxel counts of ``n`` upsampling steps (``TrainConfig.upsample_iters`` says when):
        log-linear from init to final (TensoRF)."""
        if n == 0:
            return []
        vals = np.exp(np.linspace(math.log(self.n_voxels_init), math.log(self.n_voxels_final), n + 1))[1:]
        return [int(round(v)) for v in vals]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FieldConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k in ("density_components", "app_components"):
            if k in known:
                known[k] = tuple(known[k])
        return cls(**known)


class SemanticField(nn.Module):
    """SemanticField(cfg, aabb): aabb = (aabb_min, aabb_max) or a (2,3) array/tensor, world metres."""

    def __init__(self, cfg: FieldConfig, aabb, device=None):
        super().__init__()
        self.cfg = cfg
        if isinstance(aabb, (tuple, list)):
            aabb = np.stack([np.asarray(aabb[0], dtype=np.float64), np.asarray(aabb[1], dtype=np.float64)])
        aabb_t = torch.as_tensor(np.asarray(aabb.cpu() if isinstance(aabb, torch.Tensor) else aabb),
                                 dtype=torch.float32).reshape(2, 3).to(device)
        if not bool((aabb_t[1] > aabb_t[0]).all()):
            raise ValueError(f"invalid aabb {aabb_t.tolist()}: max must exceed min on every axis")
        self.register_buffer("aabb", aabb_t)
        res = n_to_reso(cfg.n_voxels_init, aabb_t)
        self.tensorf = TensoRFVM(res, cfg.density_components, cfg.app_components, cfg.app_dim,
                                 cfg.density_shift, cfg.distance_scale, cfg.init_scale, device=device,
                                 dense_density_max_voxels=cfg.dense_density_max_voxels)
        self.rgb_head = RGBHead(cfg.app_dim, cfg.view_pe, cfg.fea_pe, cfg.rgb_hidden, device=device)
        self.feature_head = MLPHead(cfg.app_dim, cfg.feature_dim, cfg.feature_hidden, cfg.feature_layers,
                                    cfg.feature_pe, device=device)
        self.dino_head = MLPHead(cfg.app_dim, cfg.dino_dim, cfg.dino_hidden, cfg.dino_layers, 0, device=device)
        self.selection = (SelectionVolume(cfg.n_scales, cfg.selection_res, cfg.selection_components,
                                          cfg.init_scale, device=device) if int(cfg.n_scales) > 1 else None)
        self.occupancy: OccupancyGrid | None = None  # transient early estimate (see update_occupancy)

    # ------------------------------------------------------------------ geometry
    @property
    def device(self) -> torch.device:
        return self.aabb.device

    @property
    def grid_res(self) -> list[int]:
        return list(self.tensorf.grid_res)

    def sampling(self) -> tuple[float, int]:
        """(grid step in metres, samples per ray) for the current grid (see module docstring)."""
        size = (self.aabb[1] - self.aabb[0]).double()
        res = torch.tensor(self.grid_res, dtype=torch.float64, device=size.device)
        step = float((size / (res - 1)).mean()) * self.cfg.step_ratio
        diag = float(size.norm())
        n = min(int(diag / step) + 1, int(self.cfg.max_samples))
        return step, n

    @property
    def step_size(self) -> float:
        return self.sampling()[0]

    @property
    def n_samples(self) -> int:
        return self.sampling()[1]

    def normalize(self, xyz: torch.Tensor) -> torch.Tensor:
        """World (N,3) → [-1,1]^3 over the AABB."""
        return (xyz - self.aabb[0]) / (self.aabb[1] - self.aabb[0]) * 2 - 1

    # ------------------------------------------------------------------ queries (world coordinates)
    def density(self, xyz: torch.Tensor) -> torch.Tensor:
        """σ (N,) [1/m] at world points (N,3)."""
        return self.tensorf.density(self.normalize(xyz))

    def app_feature(self, xyz: torch.Tensor) -> torch.Tensor:
        """Shared appearance feature (N, app_dim) at world points."""
        return self.tensorf.app_feature(self.normalize(xyz))

    def rgb(self, app: torch.Tensor, viewdirs: torch.Tensor) -> torch.Tensor:
        return self.rgb_head(app, viewdirs)

    def feature(self, app: torch.Tensor) -> torch.Tensor:
        return self.feature_head(app)

    def dino(self, app: torch.Tensor) -> torch.Tensor:
        return self.dino_head(app)

    def occupied(self, xyz: torch.Tensor) -> torch.Tensor:
        """Bool (N,) from the alpha mask; before the first mask from the early occupancy grid (if
        one was estimated), else all True."""
        if not self.has_alpha_mask() and self.occupancy is not None:
            return self.occupancy.occupied(self.normalize(xyz))
        size = self.aabb[1] - self.aabb[0]
        return self.tensorf.occupied_affine(xyz, 2.0 / size, -1.0 - 2.0 * self.aabb[0] / size)

    # ------------------------------------------------------------------ training helpers
    def upsample(self, res_or_voxels) -> list[int]:
        """Grow the grids to ``res`` ([rx,ry,rz]) or to a voxel budget (int). Rebuild the optimizer after."""
        res = n_to_reso(res_or_voxels, self.aabb) if isinstance(res_or_voxels, (int, np.integer)) else list(res_or_voxels)
        self.tensorf.upsample(res)
        return res

    def alpha_mask_res(self) -> list[int]:
        """Resolution of the next alpha mask: the grid's, capped at ``alpha_mask_max_res``."""
        return [min(r, self.cfg.alpha_mask_max_res) for r in self.grid_res]

    def density_mask(self, res=None) -> torch.Tensor:
        """The alpha mask that density alone gives (TensoRF), without storing it."""
        return self.tensorf.density_mask(self.step_size, self.cfg.alpha_mask_threshold, res or self.alpha_mask_res())

    def update_alpha_mask(self, res=None, keep: torch.Tensor | None = None) -> float:
        """Recompute the empty-space mask (density, AND ``keep`` when given: e.g. the visible
        cells, :mod:`ovnerf.field.visibility_mask`); returns the occupied fraction."""
        return self.tensorf.update_alpha_mask(self.step_size, self.cfg.alpha_mask_threshold,
                                              res or self.alpha_mask_res(), keep=keep)

    def set_alpha_mask(self, mask: torch.Tensor) -> float:
        """Store an empty-space mask computed by the caller (at :meth:`alpha_mask_res`)."""
        return self.tensorf.set_alpha_mask(mask)

    def has_alpha_mask(self) -> bool:
        return self.tensorf.has_alpha_mask()

    def has_space_mask(self) -> bool:
        """An alpha mask or an early occupancy grid restricts where σ is evaluated."""
        return self.has_alpha_mask() or self.occupancy is not None

    def update_occupancy(self, generator: torch.Generator | None = None) -> float:
        """Re-estimate the early occupancy grid (created on the first call); returns the occupied
        fraction. Meant for the iterations before the first alpha mask (the renderer ignores the
        grid once an alpha mask exists)."""
        if self.occupancy is None:
            self.occupancy = self._new_occupancy()
        return self.occupancy.update(self.tensorf.density, self.step_size, generator)

    def _new_occupancy(self) -> OccupancyGrid:
        c = self.cfg
        return OccupancyGrid(c.occupancy_res, self.device, c.occupancy_decay, c.occupancy_threshold, c.occupancy_probe)

    def restore_occupancy(self, state: dict | None) -> None:
        """Set the early occupancy grid from ``OccupancyGrid.state()`` (None: no grid)."""
        self.occupancy = None
        if state is not None:
            self.occupancy = self._new_occupancy()
            self.occupancy.load(state)

    def tv_loss(self, density_weight: float = 1.0, app_weight: float = 1.0) -> torch.Tensor:
        return self.tensorf.tv_loss(density_weight, app_weight)

    def l1_loss(self) -> torch.Tensor:
        return self.tensorf.l1_loss()

    def grid_parameters(self) -> list[nn.Parameter]:
        sel = self.selection.grid_parameters() if self.selection is not None else []
        return [*self.tensorf.grid_parameters(), *sel]

    def mlp_parameters(self) -> list[nn.Parameter]:
        sel = list(self.selection.basis.parameters()) if self.selection is not None else []
        return [*self.tensorf.basis_mat.parameters(), *self.rgb_head.parameters(),
                *self.feature_head.parameters(), *self.dino_head.parameters(), *sel]

    def param_groups(self, lr_grid: float = 2e-2, lr_mlp: float = 1e-3) -> list[dict]:
        """Adam parameter groups as TensoRF: grids at ``lr_grid``, basis matrix + heads at ``lr_mlp``."""
        return [{"params": self.grid_parameters(), "lr": lr_grid, "name": "grid"},
                {"params": self.mlp_parameters(), "lr": lr_mlp, "name": "mlp"}]

    # ------------------------------------------------------------------ checkpoints
    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Like nn.Module.load_state_dict, but first resizes grids/alpha mask to the saved shapes."""
        key = "tensorf.density_plane.0"
        if key in state_dict:
            p0 = state_dict[key].shape          # (1,R,res[1],res[0])
            p2 = state_dict["tensorf.density_plane.2"].shape  # (1,R,res[2],res[1])
            res = [int(p0[-1]), int(p0[-2]), int(p2[-2])]
            if res != self.grid_res:
                self.tensorf.upsample(res)
        if "tensorf.alpha_mask" in state_dict:
            self.tensorf.alpha_mask = torch.zeros_like(state_dict["tensorf.alpha_mask"], device=self.device)
        if "aabb" in state_dict:
            self.aabb = state_dict["aabb"].to(self.device).clone()
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
