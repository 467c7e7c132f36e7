"""Dense CLIP features with open_clip: the coarse **fast preset** (``clip: openclip-fast``).

NOT the 3DOVS geometry (that is :mod:`.clip_3dovs`, the default ``openclip``): here crops are
0.5 / 0.35 / 0.2 of the short side with stride 0.5 on a 16-px grid, ~170 crops of 96–240 px per
640×480 view (3DOVS: 5,532 crops of 48–96 px on a 1/8 grid). Kept because it is ~30× cheaper.

Model: any open_clip model name (default ``ViT-B-16``) with a **local** checkpoint file
(``clip_checkpoint``; OpenAI or LAION weights as open_clip loads them), or
``local-dir:/path`` (an ``open_clip_config.json`` + weights). Nothing is downloaded.

Recipe (per image I of size H×W, per scale s ∈ ``scales``):

1. square crops of side c_s = round(s · min(H, W)) px (at least ``min_crop``) on a sliding
   window with step round(``stride`` · c_s); window origins are spread evenly over
   [0, W − c_s] × [0, H − c_s] (n = ⌈(W − c_s)/step⌉ + 1 per axis), so the image is covered;
2. every crop is cut and resized to the model's input size in one batched
   ``torchvision.ops.roi_align`` call (bilinear, ⌈c_s/R⌉² samples per output pixel, i.e.
   area-averaged when down-sizing), normalised with the model's mean/std and encoded in batches
   of ``batch_size`` (fp16 on CUDA); embeddings are L2-normalised;
3. each crop embedding is *spread* to the cells of the output grid — (h, w) =
   (⌈H/grid_stride⌉, ⌈W/grid_stride⌉), cell centres ((j + ½)·W/w, (i + ½)·H/h) — whose
   centres lie inside the crop; a cell's feature at scale s is the mean of the embeddings of
   all scale-s crops covering it (a summed-area/difference-array accumulation, no loops over
   cells), re-normalised. Result: F^s, (S, h, w, D).

**Per-pixel scale selection heuristic** (text-dependent, :meth:`select_scale`, cached separately;
ours, not 3DOVS's — 3DOVS and OV-NeRF learn a selection volume with the field): with
vocabulary embeddings t_1..t_M, p_s(c) = softmax_c(cos(t_c, F^s)/τ), τ = 0.01, and
s* = argmax_s max_c p_s(c): each cell takes the scale at which it is most confidently a single
vocabulary class (ties → the first scale in ``scales``). F = F^{s*}.
"""
from __future__ import annotations

import math
import torch

from ovnerf.errors import UserError
from ovnerf.foundation.base import l2_normalize
from ovnerf.foundation.openclip_common import OpenCLIPBackend, frame_rgb


def crop_boxes(H: int, W: int, scales, stride: float, min_crop: int = 16) -> list[torch.Tensor]:
    """Per scale, (N_s, 4) float boxes (x0, y0, x1, y1) in pixels (see module docstring)."""
    out = []
    for s in scales:
        c = int(min(max(min_crop, round(float(s) * min(H, W))), min(H, W)))
        step = max(1, int(round(stride * c)))
        nx = math.ceil((W - c) / step) + 1 if W > c else 1
        ny = math.ceil((H - c) / step) + 1 if H > c else 1
        xs = torch.linspace(0, W - c, nx).round()
        ys = torch.linspace(0, H - c, ny).round()
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        x0, y0 = xx.reshape(-1), yy.reshape(-1)
        out.append(torch.stack([x0, y0, x0 + c, y0 + c], dim=1))
    return out


def spread_to_grid(boxes: torch.Tensor, emb: torch.Tensor, H: int, W: int, h: int, w: int) -> torch.Tensor:
    """Mean of the embeddings of the boxes covering each grid cell centre → (h, w, D), unnormalised.

    Cell (i, j) has centre ((j+½)·W/w, (i+½)·H/h); box (x0,y0,x1,y1) covers the cells with
    x0 ≤ centre_x < x1 and y0 ≤ centre_y < y1. Cells covered by no box get zeros.
    """
    D = emb.shape[1]
    dev = emb.device
    b = boxes.to(dev).double()
    j0 = torch.ceil(b[:, 0] * w / W - 0.5).long().clamp(0, w)
    j1 = torch.ceil(b[:, 2] * w / W - 0.5).long().clamp(0, w)
    i0 = torch.ceil(b[:, 1] * h / H - 0.5).long().clamp(0, h)
    i1 = torch.ceil(b[:, 3] * h / H - 0.5).long().clamp(0, h)
    vals = torch.cat([emb.float(), torch.ones(len(emb), 1, device=dev)], dim=1)  # + count column
    diff = torch.zeros(h + 1, w + 1, D + 1, device=dev)
    for ii, jj, sign in ((i0, j0, 1.0), (i0, j1, -1.0), (i1, j0, -1.0), (i1, j1, 1.0)):
        diff.index_put_((ii, jj), sign * vals, accumulate=True)
    acc = diff.cumsum(0).cumsum(1)[:h, :w]
    cnt = acc[..., D:]
    return torch.where(cnt > 0, acc[..., :D] / cnt.clamp_min(1e-6), torch.zeros_like(acc[..., :D]))


class OpenCLIPCrops(OpenCLIPBackend):
    selection_temperature = 0.01

    def __init__(self, model, tokenizer, model_name: str, checkpoint_sha: str = "", device="cpu",
                 scales=(0.5, 0.35, 0.2), stride: float = 0.5, grid_stride: int = 16,
                 batch_size: int = 32, fp16: bool | None = None, min_crop: int = 16):
        self._setup_model(model, tokenizer, model_name, checkpoint_sha, device, fp16)
        self.name = f"open_clip:{model_name} (3DOVS crops)"
        if not scales or stride <= 0 or grid_stride < 1 or batch_size < 1:
            raise UserError("open_clip: need ≥1 scale, stride > 0, grid_stride ≥ 1, batch_size ≥ 1")
        self.scales = tuple(float(s) for s in scales)
        self.stride = float(stride)
        self.grid_stride = int(grid_stride)
        self.batch_size = int(batch_size)
        self.min_crop = int(min_crop)
        self._setup_input(model)

    def fingerprint(self) -> dict:
        return {"name": self.name, "model": self.model_name, "sha256": self.checkpoint_sha,
                "scales": list(self.scales), "stride": self.stride, "grid_stride": self.grid_stride,
                "min_crop": self.min_crop, "fp16": self.fp16}

    @torch.no_grad()
    def encode_crops(self, image: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """image (3, H, W) float [0, 1]; boxes (N, 4) → (N, D) L2-normalised embeddings."""
        from torchvision.ops import roi_align  # heavy (~2 s to import): only the openclip-fast backend
        R = self.input_size
        out = torch.zeros(len(boxes), self.dim, device=self.device)
        sides = (boxes[:, 2] - boxes[:, 0]).round()
        for side in torch.unique(sides).tolist():  # one sampling ratio per crop size
            idx = torch.nonzero(sides == side).flatten()
            ratio = max(1, math.ceil(side / R))
            for s in range(0, len(idx), self.batch_size):
                sel = idx[s:s + self.batch_size]
                b = boxes[sel].to(self.device, torch.float32)
                rois = torch.cat([torch.zeros(len(b), 1, device=self.device), b], dim=1)
                crops = roi_align(image[None], rois, output_size=(R, R), spatial_scale=1.0,
                                  sampling_ratio=ratio, aligned=True)
                crops = (crops - self.mean) / self.std
                if self.fp16:
                    crops = crops.half()
                out[sel.to(self.device)] = l2_normalize(self.model.encode_image(crops).float())
        return out

    @torch.no_grad()
    def multiscale_features(self, frame) -> torch.Tensor:
        img = frame_rgb(frame, "open_clip")
        H, W = img.shape[:2]
        h, w = -(-H // self.grid_stride), -(-W // self.grid_stride)
        image = torch.from_numpy(img).to(self.device).permute(2, 0, 1).float() / 255.0
        per_scale = crop_boxes(H, W, self.scales, self.stride, self.min_crop)
        emb = self.encode_crops(image, torch.cat(per_scale))
        maps, k = [], 0
        for boxes in per_scale:
            maps.append(spread_to_grid(boxes, emb[k:k + len(boxes)], H, W, h, w))
            k += len(boxes)
        return l2_normalize(torch.stack(maps))
