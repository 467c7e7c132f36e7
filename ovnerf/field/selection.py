"""The learned scale-selection volume of 3DOVS / OV-NeRF (S(r) in OV-NeRF's L_feat).

The teacher gives S dense feature maps per view, one per crop scale (3 for the 3DOVS recipe).
Which scale describes a point best is learned with the field: a small TensoRF-VM volume (three
planes × lines with ``components`` each, at a fixed ``res``³ over the scene box, plus a linear
basis) gives S logits per 3D point; softmax → s(x) ∈ Δ^S. Rendered per ray like the other heads,
with the same compositing weights (normalised by their sum, so s(r) ∈ Δ^S; a ray with no weight
yet gets the uniform 1/S), and the feature loss compares with the soft mixture of the scales:

    L_feat = −cos(F̂(r), Σ_k s_k(r) F_k(r))

Gradients reach both the feature head and the selection volume. Zero-initialised basis → uniform
selection at the start. Our simplification: the volume keeps its resolution (it is not upsampled
with the density/appearance grids).
"""
from __future__ import annotations

import torch
from torch import nn

from ovnerf.field.tensorf import MAT_MODE, VEC_MODE, TensoRFVM


class SelectionVolume(nn.Module):
    def __init__(self, n_scales: int, res: int = 32, components: int = 4, init_scale: float = 0.1, device=None):
        super().__init__()
        self.n_scales = int(n_scales)
        self.grid_res = [int(res)] * 3
        comps = [int(components)] * 3
        self.plane, self.line = nn.ParameterList(), nn.ParameterList()
        for m, (a, b) in enumerate(MAT_MODE):
            c = VEC_MODE[m]
            self.plane.append(nn.Parameter(init_scale * torch.randn(1, comps[m], self.grid_res[b], self.grid_res[a],
                                                                    device=device)))
            self.line.append(nn.Parameter(init_scale * torch.randn(1, comps[m], self.grid_res[c], 1, device=device)))
        self.basis = nn.Linear(sum(comps), self.n_scales, bias=False, device=device)
        nn.init.zeros_(self.basis.weight)

    def logits(self, xyz_norm: torch.Tensor) -> torch.Tensor:
        """(N, S) selection logits at normalised points (N, 3) in [-1, 1]³."""
        if xyz_norm.shape[0] == 0:
            return xyz_norm.new_zeros(0, self.n_scales)
        plane_c, line_c = TensoRFVM._coords(xyz_norm)
        prods = TensoRFVM._vm_products(self.plane, self.line, plane_c, line_c)
        return self.basis(torch.cat(prods, dim=0).T)

    def probabilities(self, xyz_norm: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(xyz_norm), dim=-1)

    def grid_parameters(self) -> list[nn.Parameter]:
        return [*self.plane, *self.line]


def composite_selection(prob: torch.Tensor, weights: torch.Tensor, ray_idx: torch.Tensor, n_rays: int,
                        eps: float = 1e-6) -> torch.Tensor:
    """Per-ray s(r) = (Σ_k w_k p_k + eps/S) / (Σ_k w_k + eps): (n_rays, S) rows on the simplex.
    prob (M, S) at shaded samples, weights (M, 1), ray_idx (M,)."""
    S = prob.shape[-1]
    num = torch.zeros(n_rays, S, device=prob.device, dtype=prob.dtype).index_add(0, ray_idx, weights * prob)
    den = torch.zeros(n_rays, device=prob.device, dtype=prob.dtype).index_add(0, ray_idx, weights[:, 0])
    return (num + eps / S) / (den + eps)[:, None]


def mix_scales(selection: torch.Tensor, feat_ms: torch.Tensor) -> torch.Tensor:
    """Σ_k s_k F_k: selection (N, S), feat_ms (N, S, D) → (N, D)."""
    return torch.einsum("ns,nsd->nd", selection, feat_ms.to(selection.dtype))
