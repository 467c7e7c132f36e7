"""SAM regions with segment_anything's ``SamAutomaticMaskGenerator`` (the paper's setting).

``TorchSamRegions.from_checkpoint(sam_checkpoint, sam_model_type)`` builds
``sam_model_registry[vit_h|vit_l|vit_b]`` from a **local** checkpoint (the official
``sam_vit_h_4b8939.pth`` etc.). AMG parameters are exposed (``points_per_side``,
``points_per_batch``, ``pred_iou_thresh``, ``stability_score_thresh``,
``stability_score_offset``, ``nms_thresh`` → SAM's ``box_nms_thresh``, ``crop_n_layers``,
``min_mask_area`` (fraction of the image) → ``min_mask_region_area`` in pixels (SAM removes small
holes/islands, needs OpenCV) and a final area filter). Output: bool (K, H, W), largest first.
"""
from __future__ import annotations

import numpy as np
import torch

from ovnerf.errors import UserError
from ovnerf.foundation.base import RegionBackend
from ovnerf.foundation.hub_weights import sam_checkpoint
from ovnerf.foundation.weights import file_sha256, require_file

MODEL_TYPES = ("vit_h", "vit_l", "vit_b")


class TorchSamRegions(RegionBackend):
    def __init__(self, sam_model, model_type: str = "vit_h", checkpoint_sha: str = "", device="cpu",
                 points_per_side: int = 32, points_per_batch: int = 64,
                 pred_iou_thresh: float = 0.88, stability_score_thresh: float = 0.95,
                 stability_score_offset: float = 1.0, nms_thresh: float = 0.7,
                 crop_n_layers: int = 0, min_mask_area: float = 0.0):
        self.device = torch.device(device)
        self.model = sam_model.eval().to(self.device)
        self.model_type = model_type
        self.checkpoint_sha = checkpoint_sha
        self.name = f"segment_anything:{model_type}"
        self.params = dict(points_per_side=int(points_per_side), points_per_batch=int(points_per_batch),
                           pred_iou_thresh=float(pred_iou_thresh),
                           stability_score_thresh=float(stability_score_thresh),
                           stability_score_offset=float(stability_score_offset),
                           box_nms_thresh=float(nms_thresh), crop_n_layers=int(crop_n_layers))
        self.min_mask_area = float(min_mask_area)

    @classmethod
    def from_checkpoint(cls, checkpoint, model_type: str = "vit_h", device="cpu", **params):
        from segment_anything import sam_model_registry  # optional heavy dependency (~4 s): only this backend
        if model_type not in MODEL_TYPES:
            raise UserError(f"sam_model_type must be one of {MODEL_TYPES}, got '{model_type}'")
        if checkpoint:
            path = require_file(checkpoint, "sam_checkpoint")
        else:  # the official checkpoint through torch hub's cache (downloaded when online)
            path = sam_checkpoint(model_type)
        sam = sam_model_registry[model_type](checkpoint=str(path))
        return cls(sam, model_type, file_sha256(path), device=device, **params)

    def fingerprint(self) -> dict:
        return {"name": self.name, "sha256": self.checkpoint_sha, **self.params,
                "min_mask_area": self.min_mask_area}

    @torch.no_grad()
    def generate(self, image: np.ndarray) -> np.ndarray:
        from segment_anything import SamAutomaticMaskGenerator  # optional heavy (see from_checkpoint)
        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise UserError(f"SAM: image must be uint8 HxWx3 RGB, got {img.dtype} {img.shape}")
        H, W = img.shape[:2]
        min_px = int(self.min_mask_area * H * W)
        amg = SamAutomaticMaskGenerator(self.model, min_mask_region_area=min_px,
                                        output_mode="binary_mask", **self.params)
        anns = amg.generate(img)
        if not anns:
            return np.zeros((0, H, W), dtype=bool)
        masks = np.stack([np.asarray(a["segmentation"], dtype=bool) for a in anns])
        area = masks.reshape(len(masks), -1).sum(1)
        keep = area >= max(1, min_px)
        masks, area = masks[keep], area[keep]
        return masks[np.argsort(-area, kind="stable")]
