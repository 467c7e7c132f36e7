"""Interfaces of the foundation-model backends (CLIP-like text/image, region proposals, DINO).

Conventions shared by every backend:

- Images are ``np.uint8`` H×W×3 RGB; frames are :class:`ovnerf.scene.frames.PosedFrame`.
- Returned features are ``torch.float32`` tensors on the backend's ``device``, channel-last,
  **L2-normalised** along the last dimension (text and image embeddings alike).
- A feature map of shape (h, w, D) covers the whole image: cell (i, j) is centred on pixel
  ((j + 0.5)·W/w, (i + 0.5)·H/h) (``align_corners=False`` in torch terms).
- ``fingerprint()`` returns a JSON-able dict (backend name, model, checkpoint SHA-256,
  parameters) that identifies what the backend computes; the preprocess cache stores it so
  results of different models/parameters are never mixed.

Text/image backends split their dense features into a text-independent, expensive part
(:meth:`TextImageBackend.multiscale_features`, cached per view) and a cheap, text-dependent
per-pixel scale selection (:meth:`TextImageBackend.select_scale`), so that a vocabulary change
only recomputes the cheap part.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch


def l2_normalize(x: torch.Tensor, dim: int = -1, eps: float = 1e-8) -> torch.Tensor:
    """x / max(‖x‖₂, eps) along ``dim``."""
    return x / x.norm(dim=dim, keepdim=True).clamp_min(eps)


class TextImageBackend(ABC):
    """A CLIP-like model: text and image embeddings in one space (dimension ``dim``)."""

    name: str = "text-image"
    dim: int = 0
    is_simulation: bool = False
    device: torch.device = torch.device("cpu")
    # the registry keys that rebuild this backend (set by registry.build_text_image); recorded in
    # the preprocess manifest and the checkpoint so queries can embed new text later
    build_config: dict | None = None

    @abstractmethod
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """(M, D) L2-normalised text embeddings t_c."""

    @abstractmethod
    def multiscale_features(self, frame) -> torch.Tensor:
        """(S, h, w, D) L2-normalised dense features, one map per scale (S ≥ 1); text-free."""

    def select_scale(self, multiscale: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """(h, w) long: the scale index chosen at each cell (see the backend's rule).

        Default rule — a fixed heuristic of ours, NOT the method's: 3DOVS and OV-NeRF learn the
        selection with the field (a selection volume → softmax over scales, see
        ``TrainConfig.scale_selection``); this rule is kept for the "heuristic" ablation: with
        p_s(c) = softmax_c(cos(t_c, F_s)/τ), τ = ``self.selection_temperature`` (0.01), pick
        s* = argmax_s max_c p_s(c) — the scale at which the cell is most confidently one
        vocabulary class. Ties go to the lower scale index. S = 1 → all zeros.
        """
        S, h, w, _ = multiscale.shape
        if S == 1:
            return torch.zeros(h, w, dtype=torch.long, device=multiscale.device)
        tau = float(getattr(self, "selection_temperature", 0.01))
        logits = torch.einsum("shwd,md->shwm", multiscale.float(), text_emb.float().to(multiscale.device))
        conf = torch.softmax(logits / tau, dim=-1).amax(dim=-1)  # (S, h, w)
        return conf.argmax(dim=0)

    def fingerprint(self) -> dict:
        return {"name": self.name}


def gather_scale(multiscale: torch.Tensor, scale_idx: torch.Tensor) -> torch.Tensor:
    """(S,h,w,D), (h,w) long → (h,w,D): feature of the chosen scale at every cell."""
    S, h, w, D = multiscale.shape
    idx = scale_idx.to(multiscale.device).long().clamp(0, S - 1)
    return torch.gather(multiscale, 0, idx[None, :, :, None].expand(1, h, w, D))[0]


class RegionBackend(ABC):
    """Class-agnostic region proposals (SAM automatic mask generation)."""

    name: str = "regions"

    @abstractmethod
    def generate(self, image: np.ndarray) -> np.ndarray:
        """bool (K, H, W) masks for an RGB uint8 H×W×3 image, sorted by area, largest first."""

    def fingerprint(self) -> dict:
        return {"name": self.name}


class DinoBackend(ABC):
    """Self-supervised ViT patch features (DINO) used by the DINO regularising loss."""

    name: str = "dino"
    dim: int = 0

    @abstractmethod
    def features(self, image: np.ndarray) -> torch.Tensor:
        """(h', w', Dd) float32 patch features (not necessarily normalised; see backend)."""

    def fingerprint(self) -> dict:
        return {"name": self.name}
