"""The on-disk preprocess cache and its reader.

Layout (``cache_dir``)::

    manifest.json            format, backend fingerprints (model names, checkpoint SHA-256,
                             parameters), their short hashes, vocabulary, views, complete flag,
                             bytes per view
    text.npz                 vocabulary (M,) str, text_emb float32 (M, D)
    views/NAME/clip.npz      clip_ms  float16 (S, h, w, D)  multi-scale L2-normalised features
    views/NAME/regions.npz   regions_packed uint8 (K, ⌈H·W/8⌉) = np.packbits of the flattened
                             bool masks (K, H, W); regions_shape int64 (3,)
    views/NAME/dino.npz      dino float16 (h', w', Dd)                  (absent with --dino none)
    views/NAME/text.npz      clip_scale uint8 (h, w) selected scale per cell,
                             relevancy int16 (H, W) = S_i, rsr int16 (H, W) = S~_i

Every ``.npz`` also holds ``fingerprint`` (the hash of what produced it: the backend's
fingerprint, plus for ``text.npz`` the vocabulary and the hashes of the clip and regions parts),
``image_sha`` (SHA-256 of the view's RGB bytes, so a changed frame is recomputed) and
``checksum`` (SHA-256 over every other array's name, dtype, shape and bytes). Files are written
to a temporary name, fsynced and renamed atomically. A file whose checksum does not match (or
that cannot be read) is *corrupted*: the pipeline recomputes it; the reader refuses it.

Bytes per 640×480 frame (``manifest.json["bytes_per_view"]`` records the actual figures):
raw sizes — simulated teacher D=512 on a 16-px grid 40×30×512×2 B = 1.23 MB (open_clip with 3
scales: 3.7 MB); regions 38.4 kB per mask; relevancy + RSR 2×614 kB; DINOv2 ONNX at 448 px
32×24×384×2 B = 0.59 MB. Measured on disk (zlib) for a synthetic 640×480 frame with 6 SAM
masks: clip 1.14 MB, regions 2.1 kB, dino 0.54 MB, text parts 6.3 kB — about 1.7 MB per view.

The trainer reads ``ViewTargets`` (torch): ``clip_feat`` (h, w, D) float32 = the multi-scale
features gathered at ``clip_scale``; ``relevancy`` / ``rsr`` (H, W) long; ``regions``
(K, H, W) bool; ``dino`` (h', w', Dd) float32 or None.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ovnerf.atomic_write import atomic_write_bytes
from ovnerf.errors import UserError
from ovnerf.foundation.base import gather_scale

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


class CorruptCacheFile(Exception):
    """A cache file failed its checksum or could not be read."""


def fingerprint_hash(obj) -> str:
    """Short stable hash of a JSON-able object (sorted keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]


def image_sha(image: np.ndarray) -> str:
    a = np.ascontiguousarray(image)
    return hashlib.sha256(str(a.shape).encode() + a.tobytes()).hexdigest()[:20]


def _checksum(arrays: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(k.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()




def save_npz(path: Path, arrays: dict) -> int:
    """Write arrays + checksum atomically (zlib-compressed npz). Returns the file size."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    arrays["checksum"] = np.array(_checksum(arrays))
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    data = buf.getvalue()
    atomic_write_bytes(Path(path), data, make_parents=True)
    return len(data)


def load_npz(path: Path) -> dict | None:
    """None if absent; the arrays if the checksum matches; else :class:`CorruptCacheFile`."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise CorruptCacheFile(f"{path}: unreadable ({type(exc).__name__}: {exc})") from exc
    stored = arrays.pop("checksum", None)
    if stored is None or str(stored) != _checksum(arrays):
        raise CorruptCacheFile(f"{path}: checksum mismatch")
    return arrays


def _load_npz_or_none(path: Path, strict: bool, rerun: str) -> dict | None:
    """:func:`load_npz`, with a corrupted file → None and a warning (it will be recomputed), or
    with ``strict`` a :class:`UserError` telling to re-run ``rerun``."""
    try:
        return load_npz(path)
    except CorruptCacheFile as exc:
        if strict:
            raise UserError(f"preprocess cache file is corrupted ({exc}); re-run {rerun}") from exc
        log.warning("corrupted cache file, recomputing: %s", exc)
        return None


def pack_masks(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = np.asarray(masks, dtype=bool)
    K = m.shape[0]
    flat = m.reshape(K, m.shape[1] * m.shape[2])
    return np.packbits(flat, axis=1), np.array(m.shape, dtype=np.int64)


def unpack_masks(packed: np.ndarray, shape) -> np.ndarray:
    K, H, W = (int(s) for s in shape)
    if K == 0:
        return np.zeros((0, H, W), dtype=bool)
    return np.unpackbits(packed, axis=1, count=H * W).astype(bool).reshape(K, H, W)


@dataclass
class ViewTargets:
    name: str
    clip_feat: torch.Tensor       # (h, w, D) float32, L2-normalised
    clip_scale: torch.Tensor      # (h, w) long, selected scale index
    relevancy: torch.Tensor       # (H, W) long, S_i
    rsr: torch.Tensor             # (H, W) long, S~_i
    regions: torch.Tensor         # (K, H, W) bool
    dino: torch.Tensor | None     # (h', w', Dd) float32
    clip_ms: torch.Tensor | None = None  # (S, h, w, D) float32, every scale (the learned selection)


class PreprocessCache:
    """Reader (and low-level writer used by the pipeline) of a preprocess cache directory."""

    def __init__(self, cache_dir, must_exist: bool = True):
        self.root = Path(cache_dir).expanduser()
        self._text: dict | None = None
        self.manifest: dict | None = None
        mpath = self.root / "manifest.json"
        if mpath.is_file():
            try:
                self.manifest = json.loads(mpath.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                if must_exist:
                    raise UserError(f"preprocess cache manifest {mpath} is unreadable ({exc}); "
                                    "re-run `ovnerf preprocess`") from exc
        elif must_exist:
            raise UserError(f"no preprocess cache at {self.root} (manifest.json missing); "
                            "run `ovnerf preprocess SCENE --vocab ...` first")
        if must_exist and self.manifest.get("format") != FORMAT_VERSION:
            raise UserError(f"preprocess cache {self.root} has format {self.manifest.get('format')}, "
                            f"this version reads {FORMAT_VERSION}; re-run `ovnerf preprocess`")

    # ------------------------------------------------------------------ manifest
    def write_manifest(self, manifest: dict) -> None:
        self.manifest = manifest
        atomic_write_bytes(self.root / "manifest.json",
                           json.dumps(manifest, indent=2, sort_keys=True).encode(), make_parents=True)

    @property
    def vocabulary(self) -> list[str]:
        return list(self.manifest["vocabulary"])

    @property
    def is_simulation(self) -> bool:
        return bool(self.manifest.get("is_simulation", False))

    def view_names(self) -> list[str]:
        return list(self.manifest.get("views", []))

    def _require_complete(self) -> None:
        if not self.manifest.get("complete") and self.manifest.get("failed"):
            raise UserError(f"preprocess cache {self.root}: the last `ovnerf preprocess` failed "
                            f"({self.manifest['failed']}); fix that and run it again, or train "
                            "geometry and colour only with --clip none")
        if not self.manifest.get("complete"):
            raise UserError(f"preprocess cache {self.root} is incomplete (an interrupted run?); "
                            "re-run `ovnerf preprocess` to finish it")

    # ------------------------------------------------------------------ parts
    def part_path(self, name: str, part: str) -> Path:
        return self.root / "views" / name / f"{part}.npz"

    def read_part(self, name: str, part: str, fingerprint: str, img_sha: str | None = None,
                  strict: bool = False) -> dict | None:
        """The part's arrays if present, intact and produced by ``fingerprint`` (and, when given,
        from the image with ``img_sha``). Otherwise None — or, with ``strict``, a UserError."""
        path = self.part_path(name, part)
        arrays = _load_npz_or_none(path, strict, "`ovnerf preprocess` (it recomputes corrupted files)")
        if arrays is None:
            if strict:
                raise UserError(f"preprocess cache lacks {path}; re-run `ovnerf preprocess`")
            return None
        ok = str(arrays.get("fingerprint")) == fingerprint and (
            img_sha is None or str(arrays.get("image_sha")) == img_sha)
        if not ok:
            if strict:
                raise UserError(f"stale preprocess cache file {path} (made with other models, "
                                "parameters or vocabulary than manifest.json says); re-run "
                                "`ovnerf preprocess`")
            return None
        return arrays

    def write_part(self, name: str, part: str, arrays: dict, fingerprint: str, img_sha: str) -> int:
        arrays = dict(arrays, fingerprint=np.array(fingerprint), image_sha=np.array(img_sha))
        return save_npz(self.part_path(name, part), arrays)

    def read_text(self, strict: bool = True) -> dict | None:
        arrays = _load_npz_or_none(self.root / "text.npz", strict, "`ovnerf preprocess`")
        fp = (self.manifest or {}).get("fingerprints", {}).get("text")
        if arrays is None or str(arrays.get("fingerprint")) != fp:
            if strict:
                raise UserError(f"preprocess cache {self.root}: text.npz missing or stale; "
                                "re-run `ovnerf preprocess`")
            return None
        return arrays

    # ------------------------------------------------------------------ reader API
    @property
    def text_embeddings(self) -> torch.Tensor:
        """(M, D) float32 L2-normalised text embeddings of :attr:`vocabulary`."""
        if self._text is None:
            self._require_complete()
            self._text = self.read_text(strict=True)
        return torch.from_numpy(self._text["text_emb"].astype(np.float32))

    def __getitem__(self, name: str) -> ViewTargets:
        """``load_view(name)``; KeyError when the cache does not hold that view."""
        if name not in self.view_names():
            raise KeyError(name)
        return self.load_view(name)

    def load_view(self, name: str, device="cpu") -> ViewTargets:
        self._require_complete()
        if name not in self.manifest.get("views", []):
            raise UserError(f"view '{name}' is not in preprocess cache {self.root}")
        fps = self.manifest["fingerprints"]
        clip = self.read_part(name, "clip", fps["clip"], strict=True)
        img = str(clip["image_sha"])
        reg = self.read_part(name, "regions", fps["regions"], img, strict=True)
        txt = self.read_part(name, "text", fps["text_view"], img, strict=True)
        dino = None
        if fps.get("dino"):
            d = self.read_part(name, "dino", fps["dino"], img, strict=True)
            dino = torch.from_numpy(d["dino"].astype(np.float32)).to(device)
        ms = torch.from_numpy(clip["clip_ms"].astype(np.float32)).to(device)
        scale = torch.from_numpy(txt["clip_scale"].astype(np.int64)).to(device)
        return ViewTargets(
            name=name, clip_feat=gather_scale(ms, scale), clip_scale=scale,
            relevancy=torch.from_numpy(txt["relevancy"].astype(np.int64)).to(device),
            rsr=torch.from_numpy(txt["rsr"].astype(np.int64)).to(device),
            regions=torch.from_numpy(unpack_masks(reg["regions_packed"], reg["regions_shape"])).to(device),
            dino=dino, clip_ms=ms)
