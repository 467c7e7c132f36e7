"""The offline preprocessing pipeline (one pass over the training views, cached, resumable).

Per training view i (image I_i, optional ground-truth labels for the simulated teacher):

- ``clip``    F_i^s = backend.multiscale_features(frame)               (text-independent)
- ``regions`` R_i   = region_backend.generate(I_i)                     (SAM masks)
- ``dino``    D_i   = dino_backend.features(I_i)                       (optional)
- ``text``    s*    = backend.select_scale(F_i^s, T) (per-cell scale), F_i = F_i^s[s*],
              S_i   = argmax_c cos(t_c, F_i) at full resolution (:mod:`.relevancy`),
              S~_i  = RSR(S_i, R_i)   (``ovnerf.semantics.rsr.region_semantic_ranking``)

with T = backend.encode_text(vocabulary). Each part is a separate file with its own
fingerprint (see :mod:`.cache`), so:

- a killed run resumes: finished parts are reused, the rest computed;
- a corrupted file (checksum mismatch, truncated) is recomputed;
- a vocabulary change recomputes only ``text.npz`` and the per-view ``text`` parts;
- changing the CLIP / SAM / DINO model or parameters recomputes that part (and the text parts
  that depend on it), never mixing results; the manifest records what produced the cache.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from tqdm import tqdm

from ovnerf.errors import UserError
from ovnerf.foundation.base import gather_scale
from ovnerf.foundation.registry import build_backends
from ovnerf.foundation.text_encoder_record import record_of
from ovnerf.preprocess.cache import (FORMAT_VERSION, PreprocessCache, fingerprint_hash, image_sha,
                                     pack_masks, save_npz, unpack_masks)
from ovnerf.scene.store import SceneStore
from ovnerf.semantics.relevancy import relevancy_map
from ovnerf.semantics.rsr import region_semantic_ranking

log = logging.getLogger(__name__)


@dataclass
class PreprocessReport:
    cache_dir: Path
    views: list[str]
    computed: dict = field(default_factory=lambda: {"clip": 0, "regions": 0, "dino": 0, "text": 0})
    reused: dict = field(default_factory=lambda: {"clip": 0, "regions": 0, "dino": 0, "text": 0})
    text_recomputed: bool = False
    seconds: float = 0.0
    bytes_per_view: dict = field(default_factory=dict)


def parse_vocabulary(vocab) -> list[str]:
    """"wall, floor,table" or a list → ['wall', 'floor', 'table'] (stripped, non-empty, unique)."""
    items = vocab.split(",") if isinstance(vocab, str) else list(vocab)
    out = []
    for it in items:
        s = " ".join(str(it).split())
        if s and s not in out:
            out.append(s)
    if not out:
        raise UserError("the vocabulary is empty: give class names, e.g. --vocab \"wall,floor,table\"")
    return out


def _fingerprints(clip, regions, dino, vocabulary) -> tuple[dict, dict]:
    full = {"clip": clip.fingerprint(), "regions": regions.fingerprint(),
            "dino": dino.fingerprint() if dino is not None else None}
    fps = {k: (fingerprint_hash(v) if v is not None else None) for k, v in full.items()}
    fps["text"] = fingerprint_hash({"vocabulary": vocabulary, "clip": fps["clip"]})
    fps["text_view"] = fingerprint_hash({"text": fps["text"], "regions": fps["regions"]})
    return full, fps


def preprocess_views(load_frame: Callable[[str], object], names: Iterable[str], vocabulary,
                     cache_dir, clip, regions, dino=None, scene: str = "", device="cpu",
                     progress: bool = True, after_view: Callable[[str], None] | None = None
                     ) -> PreprocessReport:
    """Compute (or reuse) every part for each view name; returns what was computed/reused.

    ``load_frame(name) -> PosedFrame``. ``after_view(name)`` is called after each finished view
    (tests use it to simulate an interruption). A run that fails with an error (not an
    interruption) records ``"failed": reason`` in the manifest, so the trainer reports that
    failure instead of calling the cache "interrupted"; a later successful run clears it.
    """
    try:
        return _preprocess_views(load_frame, names, vocabulary, cache_dir, clip, regions, dino, scene,
                                 device, progress, after_view)
    except Exception as exc:
        cache = PreprocessCache(cache_dir, must_exist=False)
        if cache.manifest is not None and not cache.manifest.get("complete"):
            cache.write_manifest({**cache.manifest, "failed": (str(exc) or type(exc).__name__).splitlines()[0][:500]})
        raise


def _preprocess_views(load_frame, names, vocabulary, cache_dir, clip, regions, dino, scene, device,
                      progress, after_view) -> PreprocessReport:
    t0 = time.perf_counter()
    vocabulary = parse_vocabulary(vocabulary)
    names = list(names)
    if not names:
        raise UserError("no training views to preprocess")
    cache = PreprocessCache(cache_dir, must_exist=False)
    full, fps = _fingerprints(clip, regions, dino, vocabulary)
    old = cache.manifest
    if old is not None:
        if old.get("format") != FORMAT_VERSION:
            log.warning("cache %s has another format (%s); recomputing everything", cache.root,
                        old.get("format"))
        else:
            for part in ("clip", "regions", "dino"):
                if old.get("fingerprints", {}).get(part) != fps[part] and fps[part]:
                    log.info("%s settings differ from the cached ones: recomputing %s", part, part)
            if old.get("vocabulary") != vocabulary:
                log.info("vocabulary changed: recomputing text embeddings, relevancy and RSR only")
    if clip.is_simulation:
        log.warning("CLIP backend is a SIMULATION (%s): features come from ground-truth labels, "
                    "not from CLIP", clip.name)
    manifest = {"format": FORMAT_VERSION, "scene": str(scene), "backends": full, "fingerprints": fps,
                "vocabulary": vocabulary, "is_simulation": bool(clip.is_simulation),
                "text_encoder": record_of(clip),
                "views": names, "complete": False, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    cache.write_manifest(manifest)
    report = PreprocessReport(cache_dir=cache.root, views=names)

    # text embeddings
    txt = cache.read_text(strict=False)
    if txt is not None and list(txt["vocabulary"]) == vocabulary:
        text_emb = torch.from_numpy(txt["text_emb"].astype(np.float32)).to(device)
    else:
        text_emb = clip.encode_text(vocabulary).float().to(device)
        save_npz(cache.root / "text.npz", {"vocabulary": np.array(vocabulary),
                                           "text_emb": text_emb.cpu().numpy().astype(np.float32),
                                           "fingerprint": np.array(fps["text"])})
        report.text_recomputed = True

    sizes = {p: [] for p in ("clip", "regions", "dino", "text")}
    bar = tqdm(names, desc="preprocess", unit="view", disable=not progress)
    for name in bar:
        frame = load_frame(name)
        sha = image_sha(frame.image)
        H, W = frame.image.shape[:2]

        def get(part, fp, compute):
            arrays = cache.read_part(name, part, fp, sha)
            if arrays is None:
                arrays = compute()
                sizes[part].append(cache.write_part(name, part, arrays, fp, sha))
                report.computed[part] += 1
            else:
                sizes[part].append(cache.part_path(name, part).stat().st_size)
                report.reused[part] += 1
            return arrays

        clip_a = get("clip", fps["clip"], lambda: {
            "clip_ms": clip.multiscale_features(frame).detach().to(torch.float16).cpu().numpy()})
        reg_a = get("regions", fps["regions"], lambda: dict(zip(
            ("regions_packed", "regions_shape"), pack_masks(regions.generate(frame.image)))))
        if dino is not None:
            get("dino", fps["dino"], lambda: {
                "dino": dino.features(frame.image).detach().to(torch.float16).cpu().numpy()})

        def compute_text():
            ms = torch.from_numpy(clip_a["clip_ms"].astype(np.float32)).to(device)
            scale = clip.select_scale(ms, text_emb)
            feat = gather_scale(ms, scale)
            S = relevancy_map(feat, text_emb, H, W)
            masks = torch.from_numpy(unpack_masks(reg_a["regions_packed"], reg_a["regions_shape"])).to(device)
            rsr = region_semantic_ranking(S, masks, len(vocabulary))
            return {"clip_scale": scale.cpu().numpy().astype(np.uint8),
                    "relevancy": S.cpu().numpy().astype(np.int16),
                    "rsr": rsr.cpu().numpy().astype(np.int16)}

        get("text", fps["text_view"], compute_text)
        if after_view is not None:
            after_view(name)

    report.bytes_per_view = {p: int(np.mean(v)) for p, v in sizes.items() if v}
    manifest["complete"] = True
    manifest["bytes_per_view"] = report.bytes_per_view
    cache.write_manifest(manifest)
    report.seconds = time.perf_counter() - t0
    log.info("preprocess: %d views in %.1f s (computed %s, reused %s) -> %s", len(names),
             report.seconds, report.computed, report.reused, cache.root)
    return report


def default_cache_dir(scene_root) -> Path:
    return Path(scene_root) / "preprocess"


def preprocess_scene(scene_root, vocabulary, cache_dir=None, config: dict | None = None,
                     names: list[str] | None = None, progress: bool = True,
                     device="cpu") -> PreprocessReport:
    """Preprocess the training split of a SceneStore directory with backends from ``config``
    (see :mod:`ovnerf.foundation.registry`)."""
    root = Path(scene_root).expanduser()
    if not (root / "transforms.json").is_file():
        raise UserError(f"{root} is not a scene directory (no transforms.json)")
    store = SceneStore(root, create=False)
    if names is None:
        names = store.split()[0]
    clip, regions, dino = build_backends(dict(config or {}, device=str(device)),
                                         label_names=store.class_names)
    return preprocess_views(store.load, names, vocabulary, cache_dir or default_cache_dir(root),
                            clip, regions, dino, scene=str(root), device=device, progress=progress)
