"""Relevancy map S_i from dense features and text embeddings.

S(p) = argmax_c cos(t_c, F(p)), evaluated at full image resolution: the (h, w, M) cosine logits
are computed on the feature grid and bilinearly up-sampled (``align_corners=False``) to (H, W)
before the argmax (equivalent to up-sampling the features, without the H·W·D memory).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def relevancy_logits(features: torch.Tensor, text_emb: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """(h, w, D), (M, D) → (M, H, W) cosine logits (both inputs L2-normalised)."""
    lg = torch.einsum("hwd,md->mhw", features.float(), text_emb.float().to(features.device))
    if lg.shape[-2:] != (H, W):
        lg = F.interpolate(lg[None], (H, W), mode="bilinear", align_corners=False)[0]
    return lg


def relevancy_map(features: torch.Tensor, text_emb: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """(H, W) long class ids (ties → lowest id)."""
    return relevancy_logits(features, text_emb, H, W).argmax(dim=0)
