"""Decoder heads on the shared appearance feature A(x) (see tensorf.py).

* :class:`RGBHead` — TensoRF's ``MLPRender_Fea``: input = [A, d, PE(A), PE(d)] where d is the unit
  view direction and PE(x) = [sin(2^k x), cos(2^k x)]_{k<L}; Linear–ReLU–Linear–ReLU–Linear, sigmoid.
* :class:`MLPHead` — view-independent MLP used for the CLIP semantic feature (D = 512 default) and
  the DINO feature (Dd configurable); no output activation (the losses use cosine similarity).
  Its last layer is affine, so the renderer composites the hidden activations and projects per
  ray (:meth:`MLPHead.project`) — identical result, far cheaper for D = 512.
"""
from __future__ import annotations

import torch
import torch.nn as nn


def positional_encoding(x: torch.Tensor, n_freqs: int) -> torch.Tensor:
    """(N,C) → (N, 2·C·n_freqs): [sin(2^k x), cos(2^k x)] for k < n_freqs (TensoRF ordering)."""
    freqs = 2.0 ** torch.arange(n_freqs, device=x.device, dtype=x.dtype)
    pts = (x[..., None] * freqs).reshape(*x.shape[:-1], x.shape[-1] * n_freqs)
    return torch.cat([torch.sin(pts), torch.cos(pts)], dim=-1)


class RGBHead(nn.Module):
    def __init__(self, app_dim: int, view_pe: int = 2, fea_pe: int = 2, hidden: int = 128, device=None):
        super().__init__()
        self.view_pe, self.fea_pe = int(view_pe), int(fea_pe)
        in_dim = app_dim + 3 + 2 * self.view_pe * 3 + 2 * self.fea_pe * app_dim
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden, device=device), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, hidden, device=device), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, 3, device=device))
        nn.init.constant_(self.mlp[-1].bias, 0)

    def forward(self, app: torch.Tensor, viewdirs: torch.Tensor) -> torch.Tensor:
        parts = [app, viewdirs]
        if self.fea_pe > 0:
            parts.append(positional_encoding(app, self.fea_pe))
        if self.view_pe > 0:
            parts.append(positional_encoding(viewdirs, self.view_pe))
        return torch.sigmoid(self.mlp(torch.cat(parts, dim=-1)))


class MLPHead(nn.Module):
    """App feature (+ optional PE of it) → hidden (ReLU) × n_layers → out_dim (linear)."""

    def __init__(self, app_dim: int, out_dim: int, hidden: int = 256, n_layers: int = 2, fea_pe: int = 0,
                 device=None):
        super().__init__()
        self.fea_pe = int(fea_pe)
        in_dim = app_dim + 2 * self.fea_pe * app_dim
        layers: list[nn.Module] = []
        for _ in range(max(1, n_layers)):
            layers += [nn.Linear(in_dim, hidden, device=device), nn.ReLU(inplace=True)]
            in_dim = hidden
        layers.append(nn.Linear(in_dim, out_dim, device=device))
        self.mlp = nn.Sequential(*layers)
        self.out_dim = int(out_dim)

    def hidden(self, app: torch.Tensor) -> torch.Tensor:
        """Activations before the final linear layer (N, hidden)."""
        x = app if self.fea_pe == 0 else torch.cat([app, positional_encoding(app, self.fea_pe)], dim=-1)
        return self.mlp[:-1](x)

    def project(self, h: torch.Tensor, weight_sum: torch.Tensor | None = None) -> torch.Tensor:
        """Final linear layer. For a composited hidden Σ w_k h_k pass ``weight_sum`` = Σ w_k: since the
        layer is affine, Σ w_k (W h_k + b) = W (Σ w_k h_k) + b Σ w_k — exact, and D-dim outputs are
        then computed per ray instead of per sample."""
        last = self.mlp[-1]
        out = h @ last.weight.T
        if weight_sum is None:
            return out + last.bias
        return out + weight_sum.unsqueeze(-1) * last.bias

    def forward(self, app: torch.Tensor) -> torch.Tensor:
        return self.project(self.hidden(app))
