"""What the two open_clip text/image backends share (:mod:`.clip_openclip` crops,
:mod:`.clip_maskclip` dense): model placement, text encoding, input-image validation.

- The model is put in eval mode on ``device``; ``fp16=None`` means half precision exactly when
  ``device`` is CUDA (the model is then converted with ``.half()``).
- Text embeddings: open_clip tokenizer → ``model.encode_text`` → float32 → L2-normalised, (M, D).
- Images: a frame with ``.image`` or an array, which must be ``np.uint8`` H×W×3 RGB.
"""
from __future__ import annotations

import numpy as np
import torch

from ovnerf.errors import UserError
from ovnerf.foundation.base import TextImageBackend, l2_normalize
from ovnerf.foundation.openclip_weights import load_openclip

# The OpenAI CLIP normalisation, used where the model carries none.
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def frame_rgb(frame, who: str) -> np.ndarray:
    """The uint8 H×W×3 RGB image of ``frame`` (its ``.image``, or ``frame`` itself);
    :class:`UserError` prefixed with ``who`` otherwise."""
    img = np.asarray(frame.image if hasattr(frame, "image") else frame)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise UserError(f"{who}: image must be uint8 HxWx3 RGB, got {img.dtype} {img.shape}")
    return img


class OpenCLIPBackend(TextImageBackend):
    """Base of the open_clip backends: :meth:`_setup_model` in ``__init__``, shared
    :meth:`encode_text`."""

    def _setup_model(self, model, tokenizer, model_name: str, checkpoint_sha: str, device,
                     fp16: bool | None) -> None:
        """Sets ``device``, ``fp16``, ``model`` (eval, on device, half if fp16), ``tokenizer``,
        ``model_name``, ``checkpoint_sha``."""
        self.device = torch.device(device)
        self.fp16 = (self.device.type == "cuda") if fp16 is None else bool(fp16)
        self.model = model.eval().to(self.device)
        if self.fp16:
            self.model = self.model.half()
        self.tokenizer = tokenizer
        self.model_name = model_name
        self.checkpoint_sha = checkpoint_sha

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(list(texts)).to(self.device)
        return l2_normalize(self.model.encode_text(tokens).float())

    def _setup_input(self, model) -> None:
        """Sets ``input_size`` (the model's square input side), ``mean``/``std`` (1,3,1,1) from the
        model's preprocess config (OpenAI's by default) and ``dim``."""
        size = getattr(model.visual, "image_size", 224)
        self.input_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        cfg = getattr(model.visual, "preprocess_cfg", {}) or {}
        mean = cfg.get("mean", getattr(model.visual, "image_mean", None) or OPENAI_MEAN)
        std = cfg.get("std", getattr(model.visual, "image_std", None) or OPENAI_STD)
        self.mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        with torch.no_grad():
            self.dim = int(self.encode_text(["a"]).shape[1])

    @classmethod
    def from_pretrained(cls, model_name: str = "ViT-B-16", checkpoint=None, device="cpu",
                        pretrained: str | None = None, **kw):
        """Weights from a local ``checkpoint`` file, an open_clip ``pretrained`` tag (downloaded
        into open_clip's cache when online) or ``local-dir:PATH`` — see
        :mod:`ovnerf.foundation.openclip_weights` (OpenAI weights always get QuickGELU)."""
        model, tokenizer, sha, quick = load_openclip(model_name, checkpoint, pretrained, device=device)
        backend = cls(model, tokenizer, str(model_name), sha, device=device, **kw)
        backend.quick_gelu = quick
        return backend
