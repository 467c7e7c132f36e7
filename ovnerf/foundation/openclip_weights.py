"""Getting open_clip models the way users get them, and the OpenAI QuickGELU rule.

``load_openclip(model_name, checkpoint=None, pretrained=None, device)`` →
``(model, tokenizer_name, weights SHA-256, quick_gelu)``:

- ``pretrained`` tag (``ViT-B-16`` + ``laion2b_s34b_b88k``, ``openai``, ...; the tags of
  ``open_clip.list_pretrained_tags_by_model``): open_clip's own download
  (``open_clip.pretrained.download_pretrained``: the Hugging Face hub cache, ``$HF_HOME/hub``, or
  ``~/.cache/clip`` for URL weights). Offline (no network, or ``HF_HUB_OFFLINE=1``) and not cached:
  one :class:`UserError` line naming the model, the tag and the cache path to fill.
- ``checkpoint`` file: loaded from disk as before. An **OpenAI** file — a TorchScript archive
  (OpenAI's released ``ViT-B-16.pt``) or a file whose SHA-256 is one of the OpenAI checkpoints
  open_clip knows (their download URLs carry it) — goes through open_clip's OpenAI loader
  (``open_clip.load_openai_model``: TorchScript or state dict, QuickGELU); never GELU.
- ``local-dir:PATH`` model names: the directory's ``open_clip_config.json`` + weights.

QuickGELU: OpenAI weights were trained with QuickGELU (x·σ(1.702x)); open_clip's plain model
configs (``ViT-B-16``) use GELU, and open_clip 3.x only *warns* on the mismatch. The rule here:
``quick_gelu = the tag's pretrained config says so`` (all ``openai`` tags, a few others) or the
file is an OpenAI checkpoint; LAION tags keep GELU.
"""
from __future__ import annotations

import functools
import os
import re
import zipfile
from pathlib import Path

from ovnerf.errors import MissingWeightsError, UserError
from ovnerf.foundation.weights import SOURCES, file_sha256, require_file


def is_torchscript(path) -> bool:
    """A TorchScript archive (``torch.jit.save``): a zip with ``code/`` and ``constants.pkl``."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names)


@functools.lru_cache(maxsize=1)
def openai_sha256s() -> frozenset:
    """SHA-256 digests of the OpenAI CLIP checkpoints (the hex path element of their URLs in
    open_clip's pretrained table)."""
    import open_clip  # optional heavy dependency (~3.5 s to import): only for real CLIP weights
    out = set()
    for name in open_clip.list_models():
        url = (open_clip.get_pretrained_cfg(name, "openai") or {}).get("url", "")
        out.update(re.findall(r"/([0-9a-f]{64})/", url))
    return frozenset(out)


def is_openai_checkpoint(path) -> bool:
    return is_torchscript(path) or file_sha256(path) in openai_sha256s()


def cache_location(pcfg: dict) -> str:
    """Where open_clip keeps the weights of a pretrained config (the path a user fills offline)."""
    hub = pcfg.get("hf_hub", "")
    if hub:
        from huggingface_hub import constants  # comes with open_clip
        repo = "/".join(hub.strip("/").split("/")[:2])  # "org/name/" or "org/name/file.bin"
        return str(Path(constants.HF_HUB_CACHE) / f"models--{repo.replace('/', '--')}")
    return str(Path("~/.cache/clip").expanduser())


def _offline() -> bool:
    return str(os.environ.get("HF_HUB_OFFLINE", "")).lower() in ("1", "true", "yes", "on")


def download_tag(model_name: str, tag: str) -> tuple[str, dict]:
    """(local weights path, pretrained config) of an open_clip tag, downloaded into open_clip's
    cache when online; UserError (one line) when it is not there and cannot be fetched."""
    import open_clip  # optional heavy (see openai_sha256s)
    tags = open_clip.list_pretrained_tags_by_model(model_name)
    pcfg = open_clip.get_pretrained_cfg(model_name, tag)
    if not pcfg:
        raise UserError(f"open_clip has no pretrained tag '{tag}' for {model_name} "
                        f"(known: {', '.join(tags) or 'none'})")
    try:
        path = open_clip.pretrained.download_pretrained(pcfg)
    except Exception as exc:  # noqa: BLE001 - hub/network errors of every kind → one line
        why = "HF_HUB_OFFLINE=1" if _offline() else f"no network? {type(exc).__name__}"
        raise UserError(f"open_clip weights {model_name} '{tag}' are not in the cache and cannot be "
                        f"downloaded ({why}): fill {cache_location(pcfg)} on a machine with internet "
                        f"(python -c \"import open_clip; open_clip.create_model('{model_name}', "
                        f"pretrained='{tag}')\"), or pass a local file with --clip-checkpoint") from None
    if not path or not Path(path).is_file():
        raise UserError(f"open_clip returned no weights file for {model_name} '{tag}'")
    return str(path), pcfg


def load_openclip(model_name: str = "ViT-B-16", checkpoint=None, pretrained: str | None = None,
                  device="cpu"):
    """(model in eval mode on ``device``, tokenizer, SHA-256 of the weights, quick_gelu) — see the
    module docstring."""
    import open_clip  # optional heavy (see openai_sha256s)
    model_name = str(model_name)
    if model_name.startswith("local-dir:"):
        d = Path(model_name[len("local-dir:"):]).expanduser()
        if not (d / "open_clip_config.json").is_file():
            raise MissingWeightsError(str(d / "open_clip_config.json"), "clip_model", SOURCES["clip_checkpoint"])
        ckpts = sorted(p for p in d.iterdir() if p.suffix in (".bin", ".pth", ".safetensors"))
        if not ckpts:
            raise MissingWeightsError(str(d / "open_clip_pytorch_model.bin"), "clip_model", SOURCES["clip_checkpoint"])
        model = open_clip.create_model(f"local-dir:{d}", device=device)
        return model, open_clip.get_tokenizer(model_name), file_sha256(ckpts[0]), False
    if model_name.replace("/", "-") not in open_clip.list_models():
        raise UserError(f"unknown open_clip model '{model_name}' (see open_clip.list_models())")
    tag_cfg = open_clip.get_pretrained_cfg(model_name, pretrained) if pretrained else {}
    if checkpoint:
        path = require_file(checkpoint, "clip_checkpoint")
        if is_openai_checkpoint(path):
            # open_clip's OpenAI loader: TorchScript archive or state dict → CLIP with QuickGELU
            model = open_clip.load_openai_model(str(path), precision="fp32", device=str(device))
            return model.eval(), open_clip.get_tokenizer(model_name), file_sha256(path), True
        quick = bool(tag_cfg.get("quick_gelu", False))
    elif pretrained:
        path, tag_cfg = download_tag(model_name, pretrained)
        quick = bool(tag_cfg.get("quick_gelu", False))
    else:
        raise MissingWeightsError("<not configured>", "clip_checkpoint / clip_pretrained", SOURCES["clip_checkpoint"])
    source = str(path) if checkpoint else pretrained  # a tag: open_clip also applies its preprocess config
    model = open_clip.create_model(model_name, pretrained=source, force_quick_gelu=quick, device=device)
    return model.eval(), open_clip.get_tokenizer(model_name), file_sha256(path), quick
