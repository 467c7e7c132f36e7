"""Feature-to-text logits and the relevancy map S_i (one place for preprocess, training, query).

``text_logits(F, t_unit, τ)`` = cos(t_c, F)/τ per feature vector (F normalised here, t already
unit length): the field's segmentation logits (training loss, CSE pseudo maps, evaluation, render,
query). ``segmentation_logits`` normalises raw text embeddings first.

S(p) = argmax_c cos(t_c, F(p)), evaluated at full image resolution: the (h, w, M) cosine logits
are computed on the feature grid and bilinearly up-sampled (``align_corners=False``) to (H, W)
before the argmax (equivalent to up-sampling the features, without the H·W·D memory).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def text_logits(features: torch.Tensor, text_unit: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """(..., D) features, (M, D) unit text embeddings → (..., M) cos(t_c, F)/τ."""
    return F.normalize(features, dim=-1, eps=1e-8) @ text_unit.T / temperature


def segmentation_logits(feat_pred: torch.Tensor, text_emb: torch.Tensor,
                        temperature: float = 1.0) -> torch.Tensor:
    """Ŝ = cos(t_c, F̂)/τ, shape (N, M). ``text_emb`` is re-normalised for safety."""
    return text_logits(feat_pred, F.normalize(text_emb.to(feat_pred.dtype), dim=-1, eps=1e-8), temperature)


def relevancy_logits(features: torch.Tensor, text_emb: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """(h, w, D), (M, D) → (M, H, W) cosine logits (both inputs L2-normalised)."""
    lg = torch.einsum("hwd,md->mhw", features.float(), text_emb.float().to(features.device))
    if lg.shape[-2:] != (H, W):
        lg = F.interpolate(lg[None], (H, W), mode="bilinear", align_corners=False)[0]
    return lg


def relevancy_map(features: torch.Tensor, text_emb: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """(H, W) long class ids (ties → lowest id)."""
    return relevancy_logits(features, text_emb, H, W).argmax(dim=0)


# ---------------------------------------------------------------------- LERF query relevancy
CANONICAL_NEGATIVES = ("object", "things", "stuff", "texture")


def _norm_text(t: str) -> str:
    return " ".join(str(t).lower().split())


def query_negatives(text: str, negatives=None) -> list[str]:
    """The negatives of a query (LERF): the canonical ones ("object", "things", "stuff",
    "texture") plus the user's, in that order, de-duplicated (case/space-insensitive), never the
    query text itself — so an empty or self-only user list leaves the canonical negatives."""
    out, seen = [], {_norm_text(text)}
    for n in list(CANONICAL_NEGATIVES) + [str(n) for n in (negatives or [])]:
        k = _norm_text(n)
        if k and k not in seen:
            seen.add(k)
            out.append(n.strip())
    return out


def lerf_relevancy(cos: torch.Tensor, temperature: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """LERF relevancy from (..., 1+k) cosines: [..., 0] with the query, [..., 1:] with the k ≥ 1
    negatives. Per negative i, the pairwise softmax exp(c_q/τ) / (exp(c_q/τ) + exp(c_i/τ)) =
    sigmoid((c_q − c_i)/τ); relevancy = its minimum over i (the hardest negative).
    Returns (relevancy in [0, 1], margin = min_i (c_q − c_i)); both (...)."""
    if cos.shape[-1] < 2:
        raise ValueError("LERF relevancy needs at least one negative")
    margin = (cos[..., :1] - cos[..., 1:]).amin(dim=-1)
    return torch.sigmoid(margin / temperature), margin
