"""SAM and DINO weights the way users get them: the libraries' own caches, downloaded when online.

- SAM (``sam: torch`` without ``sam_checkpoint``): the official Segment Anything checkpoint of
  ``sam_model_type`` (vit_b | vit_l | vit_h) in torch hub's cache
  (``torch.hub.get_dir()/checkpoints/sam_vit_*.pth``), fetched with
  ``torch.hub.download_url_to_file`` from Meta's URL when absent.
- DINO (``dino: timm`` without ``dino_checkpoint``): ``timm.create_model(name, pretrained=True)``
  (timm's Hugging Face hub cache).

Offline and not cached: one :class:`UserError` line naming the model and the cache path to fill.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ovnerf.errors import UserError

SAM_URLS = {
    "vit_h": "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
    "vit_l": "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
    "vit_b": "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
}


def sam_checkpoint(model_type: str) -> Path:
    """The official SAM checkpoint of ``model_type`` in torch hub's cache (downloaded if absent)."""
    if model_type not in SAM_URLS:
        raise UserError(f"sam_model_type must be one of {tuple(SAM_URLS)}, got '{model_type}'")
    url = SAM_URLS[model_type]
    path = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[1]
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(path), progress=True)
    except Exception as exc:  # noqa: BLE001 - URLError, timeouts, HTTP errors → one line
        raise UserError(f"SAM {model_type} weights are not in torch hub's cache and cannot be downloaded "
                        f"({type(exc).__name__}): put {url} at {path} (or set --sam-checkpoint FILE, or "
                        "use --sam onnx)") from None
    return path


def timm_pretrained(model_name: str, **kwargs):
    """``timm.create_model(model_name, pretrained=True, **kwargs)``; offline → one line."""
    import timm  # optional heavy dependency (~4 s to import): only the timm DINO backend
    try:
        return timm.create_model(model_name, pretrained=True, **kwargs)
    except Exception as exc:  # noqa: BLE001 - hub / network errors → one line
        from huggingface_hub import constants  # comes with timm / open_clip
        cfg = getattr(timm.models, "get_pretrained_cfg", lambda n: None)(model_name)
        repo = getattr(cfg, "hf_hub_id", None) or f"timm/{model_name}"
        where = Path(constants.HF_HUB_CACHE) / f"models--{repo.replace('/', '--')}"
        raise UserError(f"DINO weights {model_name} are not in timm's cache and cannot be downloaded "
                        f"({type(exc).__name__}): fill {where} on a machine with internet, or set "
                        "--dino-checkpoint FILE (or --dino onnx)") from None
