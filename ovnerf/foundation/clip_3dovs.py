"""Dense CLIP features by the 3DOVS recipe with open_clip (the default real path).

Geometry and accumulation: :mod:`ovnerf.foundation.crops_3dovs` (1/8-resolution grid, patch
sizes ⌊min(h,w)/5⌋, ⌊/7⌋, ⌊/10⌋ cells, stride ⌊p/4⌋, seeded jitter, raw embeddings averaged per
cell, L2-normalised) → (3, ⌊H/8⌋, ⌊W/8⌋, D).

Pixels: as in 3DOVS the crops are cut from the image down-sampled to the grid (torch bicubic with
antialiasing, ≈ PIL's resize). Each crop is resized to the model's input (R×R, bilinear,
``align_corners=False``), normalised with the model's mean/std and encoded in batches of
``batch_size`` (fp16 on CUDA). **Deviation**: 3DOVS's CLIP preprocess resizes the crop's shorter
side to R and centre-crops, which drops up to a third of a jittered, non-square crop; we stretch
the whole crop to R×R. Memory: one batch of crops (batch_size × 3 × R × R) plus the (h, w, D)
accumulator — a 640×480 view (5,532 crops, ViT-B/16) fits a 16 GB GPU at any batch size ≤ 512.

The scale selection (text-dependent) is the learned selection volume of the field (see
``ovnerf.field.semantic_field``) or, for ablation, :meth:`TextImageBackend.select_scale`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ovnerf.errors import UserError
from ovnerf.foundation.base import l2_normalize
from ovnerf.foundation.crops_3dovs import DOVS_DIVISORS, DOVS_DOWN, Accumulator, all_crop_boxes, grid_size
from ovnerf.foundation.openclip_common import OpenCLIPBackend, frame_rgb


def cut_crops(small: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """small (3, h, w); boxes (N, 4) long, all of one size (bw, bh) → (N, 3, bh, bw)."""
    bw = int(boxes[0, 2] - boxes[0, 0])
    bh = int(boxes[0, 3] - boxes[0, 1])
    dev = small.device
    rows = boxes[:, 1, None].to(dev) + torch.arange(bh, device=dev)      # (N, bh)
    cols = boxes[:, 0, None].to(dev) + torch.arange(bw, device=dev)      # (N, bw)
    return small[:, rows[:, :, None], cols[:, None, :]].permute(1, 0, 2, 3)


class OpenCLIP3DOVS(OpenCLIPBackend):
    selection_temperature = 0.01

    def __init__(self, model, tokenizer, model_name: str, checkpoint_sha: str = "", device="cpu",
                 down: int = DOVS_DOWN, divisors=DOVS_DIVISORS, jitter: bool = True, seed: int = 0,
                 batch_size: int = 256, fp16: bool | None = None):
        self._setup_model(model, tokenizer, model_name, checkpoint_sha, device, fp16)
        self.name = f"open_clip:{model_name} (3DOVS crops)"
        if down < 1 or batch_size < 1 or not divisors:
            raise UserError("open_clip 3DOVS: need down ≥ 1, batch_size ≥ 1 and ≥ 1 divisor")
        self.down = int(down)
        self.divisors = tuple(int(d) for d in divisors)
        self.jitter = bool(jitter)
        self.seed = int(seed)
        self.batch_size = int(batch_size)
        self._setup_input(model)

    def fingerprint(self) -> dict:
        return {"name": self.name, "model": self.model_name, "sha256": self.checkpoint_sha,
                "recipe": "3dovs", "down": self.down, "divisors": list(self.divisors),
                "jitter": self.jitter, "seed": self.seed, "fp16": self.fp16}

    def downsample(self, img) -> torch.Tensor:
        """uint8 H×W×3 → (3, h, w) float [0, 1] on the device (bicubic, antialiased)."""
        H, W = img.shape[:2]
        h, w = grid_size(H, W, self.down)
        x = torch.from_numpy(img).to(self.device).permute(2, 0, 1).float()[None] / 255.0
        if (h, w) != (H, W):
            x = F.interpolate(x, (h, w), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
        return x[0]

    @torch.no_grad()
    def encode_boxes(self, small: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """Raw (un-normalised) float32 embeddings (N, D) of ``boxes`` (N, 4) on ``small``."""
        R = self.input_size
        out = torch.zeros(len(boxes), self.dim, device=self.device)
        size = (boxes[:, 2] - boxes[:, 0]) * 100000 + (boxes[:, 3] - boxes[:, 1])
        for s in torch.unique(size).tolist():  # one gather per crop size
            idx = torch.nonzero(size == s).flatten()
            for k in range(0, len(idx), self.batch_size):
                sel = idx[k:k + self.batch_size]
                crops = F.interpolate(cut_crops(small, boxes[sel]), (R, R), mode="bilinear", align_corners=False)
                crops = (crops - self.mean) / self.std
                if self.fp16:
                    crops = crops.half()
                out[sel.to(self.device)] = self.model.encode_image(crops).float()
        return out

    @torch.no_grad()
    def multiscale_features(self, frame) -> torch.Tensor:
        img = frame_rgb(frame, "open_clip")
        small = self.downsample(img)
        h, w = small.shape[1:]
        maps = []
        for boxes in all_crop_boxes(h, w, self.divisors, self.jitter, self.seed):
            acc = Accumulator(h, w, self.dim, self.device)
            for k in range(0, len(boxes), 4 * self.batch_size):  # bounded memory per pass
                b = boxes[k:k + 4 * self.batch_size]
                acc.add(b, self.encode_boxes(small, b))
            maps.append(acc.mean())
        return l2_normalize(torch.stack(maps))
