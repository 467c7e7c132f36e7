"""Dense CLIP features in one forward pass, MaskCLIP-style (Zhou et al., ECCV 2022).

Faster alternative to the 3DOVS crop recipe (:mod:`.clip_openclip`), same interface. For an
open_clip ``VisionTransformer`` image tower (standard CLIP ViTs; not attentional-pool or timm
towers):

1. the whole image is resized so its long side is ``long_side`` px with both sides multiples
   of the patch size, normalised with the model's mean/std;
2. patch embedding + class token + positional embedding (bicubically interpolated to the
   patch grid), ``ln_pre``, all residual blocks but the last;
3. last block, MaskCLIP's modification: each token's output is the attention **value**
   projection of itself, ``out_proj(W_v · ln_1(x) + b_v)`` — query/key attention, the residual
   and the MLP are dropped — so every patch token keeps its own local content;
4. ``ln_post`` and the image projection → (h, w, D) patch embeddings, L2-normalised.

One scale (S = 1), so no scale selection.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ovnerf.errors import UserError
from ovnerf.foundation.base import l2_normalize
from ovnerf.foundation.openclip_common import OPENAI_MEAN, OPENAI_STD, OpenCLIPBackend, frame_rgb


class MaskCLIPDense(OpenCLIPBackend):
    def __init__(self, model, tokenizer, model_name: str, checkpoint_sha: str = "", device="cpu",
                 long_side: int = 448, fp16: bool | None = None):
        self._setup_model(model, tokenizer, model_name, checkpoint_sha, device, fp16)
        v = self.model.visual
        for attr in ("conv1", "class_embedding", "positional_embedding", "transformer", "ln_post"):
            if not hasattr(v, attr):
                raise UserError(f"MaskCLIP needs an open_clip VisionTransformer tower; {model_name} has none")
        if getattr(v, "attn_pool", None) is not None:
            raise UserError(f"MaskCLIP does not support attentional pooling towers ({model_name})")
        self.name = f"open_clip:{model_name} (MaskCLIP dense)"
        self.long_side = int(long_side)
        ps = v.conv1.kernel_size
        self.patch = int(ps[0] if isinstance(ps, (tuple, list)) else ps)
        cfg = getattr(v, "preprocess_cfg", {}) or {}
        self.mean = torch.tensor(cfg.get("mean", OPENAI_MEAN), device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(cfg.get("std", OPENAI_STD), device=self.device).view(1, 3, 1, 1)
        with torch.no_grad():
            self.dim = int(self.encode_text(["a"]).shape[1])

    def fingerprint(self) -> dict:
        return {"name": self.name, "model": self.model_name, "sha256": self.checkpoint_sha,
                "long_side": self.long_side, "fp16": self.fp16}

    def tokens_before_last_block(self, x: torch.Tensor, gh: int, gw: int) -> torch.Tensor:
        """Normalised image (1,3,gh·p,gw·p) → tokens (1, 1+gh·gw, C) entering the last block
        (steps 2 of the module docstring; positional embeddings interpolated to gh×gw)."""
        v = self.model.visual
        dtype = v.conv1.weight.dtype
        x = v.conv1(x.to(dtype)).flatten(2).transpose(1, 2)  # (1, gh*gw, C)
        pos = v.positional_embedding.to(dtype)
        g0 = int(round(np.sqrt(pos.shape[0] - 1)))
        grid_pos = pos[1:]
        if (gh, gw) != (g0, g0):
            grid_pos = grid_pos.reshape(1, g0, g0, -1).permute(0, 3, 1, 2).float()
            grid_pos = F.interpolate(grid_pos, (gh, gw), mode="bicubic", align_corners=False)
            grid_pos = grid_pos.permute(0, 2, 3, 1).reshape(gh * gw, -1).to(dtype)
        cls = v.class_embedding.to(dtype).view(1, 1, -1)
        x = torch.cat([cls + pos[:1], x + grid_pos], dim=1)
        x = v.ln_pre(x)
        batch_first = getattr(v.transformer, "batch_first", True)
        if not batch_first:
            x = x.transpose(0, 1)
        for blk in v.transformer.resblocks[:-1]:
            x = blk(x)
        if not batch_first:
            x = x.transpose(0, 1)
        return x

    @torch.no_grad()
    def multiscale_features(self, frame) -> torch.Tensor:
        img = frame_rgb(frame, "MaskCLIP")
        H, W = img.shape[:2]
        s = self.long_side / max(H, W)
        gh, gw = max(1, round(H * s / self.patch)), max(1, round(W * s / self.patch))
        x = torch.from_numpy(img).to(self.device).permute(2, 0, 1)[None].float() / 255.0
        x = F.interpolate(x, (gh * self.patch, gw * self.patch), mode="bilinear",
                          align_corners=False, antialias=True)
        x = (x - self.mean) / self.std
        x = self.tokens_before_last_block(x, gh, gw)
        v = self.model.visual
        blocks = v.transformer.resblocks
        last = blocks[-1]
        C = x.shape[-1]
        y = last.ln_1(x)
        vv = F.linear(y, last.attn.in_proj_weight[2 * C:], last.attn.in_proj_bias[2 * C:])
        x = last.attn.out_proj(vv)
        x = v.ln_post(x)
        if v.proj is not None:
            x = x @ v.proj
        feat = x[0, 1:].float().reshape(gh, gw, -1)
        return l2_normalize(feat)[None]
