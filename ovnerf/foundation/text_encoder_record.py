"""Which text encoder produced a map's embeddings, and rebuilding it for open-vocabulary queries.

The preprocess manifest and the training checkpoint carry a **text-encoder record** (``record_of``):

    {"backend": "simulated" | "openclip" | "maskclip", "name": backend name,
     "model": open_clip model name (or "WordNet 3.0" for the simulation),
     "pretrained": open_clip pretrained tag or None, "checkpoint_sha256": weights SHA-256 or None,
     "is_simulation": bool, "dim": D, "config": the registry keys that rebuild it}

:class:`LazyTextEncoder` rebuilds that encoder through the same registry as preprocessing
(:func:`ovnerf.foundation.registry.build_text_image`) on the first text that needs it, and caches
embeddings per text. When it cannot be built (weights absent, WordNet missing, SHA-256 of the
found weights differs from the record), :class:`TextEncoderUnavailable` (a UserError) names what
is missing; the failure is remembered, so later queries answer at once.
"""
from __future__ import annotations

import logging
import threading

import torch

from ovnerf.errors import UserError
from ovnerf.foundation.registry import TEXT_KEYS, build_text_image

log = logging.getLogger(__name__)


class TextEncoderUnavailable(UserError):
    """The map's text encoder cannot be rebuilt; the message names what is missing."""


def record_of(backend) -> dict | None:
    """The text-encoder record of a built text/image backend (None when it does not say how it
    was built, e.g. a model constructed by hand)."""
    cfg = getattr(backend, "build_config", None)
    if not cfg:
        return None
    cfg = {k: v for k, v in dict(cfg).items() if k in TEXT_KEYS}
    sim = bool(getattr(backend, "is_simulation", False))
    return {"backend": str(cfg.get("clip")), "name": str(getattr(backend, "name", "")),
            "model": "WordNet 3.0" if sim else str(getattr(backend, "model_name", cfg.get("clip_model"))),
            "pretrained": cfg.get("clip_pretrained"),
            "checkpoint_sha256": getattr(backend, "checkpoint_sha", None) or None,
            "is_simulation": sim, "dim": int(getattr(backend, "dim", 0) or 0), "config": cfg}


def describe(record: dict | None) -> str:
    """One line naming the encoder of a record."""
    if not record:
        return "no text encoder recorded"
    what = f"{record.get('backend')} {record.get('model')}"
    if record.get("pretrained"):
        what += f" ({record['pretrained']})"
    elif record.get("checkpoint_sha256"):
        what += f" (weights sha256 {str(record['checkpoint_sha256'])[:12]}…)"
    if record.get("is_simulation"):
        what += " [SIMULATION]"
    return what


class LazyTextEncoder:
    """``encode_text(texts) -> (M, D)``: the recorded encoder, built on first use, with a per-text
    embedding cache. Thread-safe (service callbacks may run concurrently)."""

    def __init__(self, record: dict | None, device="cpu"):
        self.record = dict(record) if record else None
        self.device = torch.device(device)
        self._backend = None
        self._error: str | None = None
        self._cache: dict[str, torch.Tensor] = {}
        self._lock = threading.Lock()
        self.is_simulation = bool(self.record and self.record.get("is_simulation"))
        self.name = describe(self.record)

    @property
    def built(self) -> bool:
        return self._backend is not None

    def _build(self):
        if self._backend is not None:
            return self._backend
        if self._error is not None:
            raise TextEncoderUnavailable(self._error)
        if not self.record or not self.record.get("config"):
            self._error = ("the map does not record which text encoder produced its embeddings "
                           "(checkpoint from an older ovnerf): only vocabulary words can be queried")
            raise TextEncoderUnavailable(self._error)
        try:
            backend = build_text_image({**self.record["config"], "device": str(self.device)})
        except UserError as exc:
            self._error = f"text encoder {describe(self.record)} cannot be built: {exc}"
            raise TextEncoderUnavailable(self._error) from None
        want, got = self.record.get("checkpoint_sha256"), getattr(backend, "checkpoint_sha", None)
        if want and got and want != got:
            self._error = (f"text encoder {describe(self.record)}: the weights found have SHA-256 "
                           f"{got[:12]}…, the map was built with {want[:12]}…")
            raise TextEncoderUnavailable(self._error)
        log.info("text encoder for open-vocabulary queries: %s", backend.name)
        self._backend = backend
        return backend

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        texts = [str(t) for t in texts]
        with self._lock:
            todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
            if todo:
                emb = self._build().encode_text(todo).float()
                emb = emb / emb.norm(dim=-1, keepdim=True).clamp_min(1e-8)
                self._cache.update(zip(todo, emb.to(self.device)))
            if not texts:
                return torch.zeros(0, int(self.record.get("dim", 0) if self.record else 0), device=self.device)
            return torch.stack([self._cache[t] for t in texts])
