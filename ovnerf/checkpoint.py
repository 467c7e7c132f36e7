"""The model file: one checkpoint holds everything needed to use a trained field *and* to resume
training; written by the trainer, read by the query layer, ``ovnerf render/eval/query``, the ROS
trainer node and the experiments.

A checkpoint is one ``torch.save`` file (a dict of tensors / plain Python values, loadable with
``weights_only=True``) with keys:

- ``format`` = "ovnerf-checkpoint", ``version`` = 1
- ``field_config`` (FieldConfig as dict), ``field_state`` (SemanticField.state_dict(), incl. aabb
  and the alpha mask), ``aabb`` ((2,3) float tensor)
- ``vocabulary`` (list[str]), ``text_emb`` ((M,D) float tensor, L2-normalised)
- ``train_config`` (TrainConfig as dict), ``iteration`` (number of completed iterations)
- ``optimizer`` (Adam state_dict, or None), ``rng`` (torch CPU / numpy / python global states
  plus the trainer's sampling generator state), ``trainer_state`` (pseudo maps of CSE, novel
  views, ...; free-form tensors / lists), ``views`` (training cameras: list of [K (3,3), c2w
  (4,4), H, W], used by the query layer for 3D localisation) and ``meta`` (free-form: scene
  path, metrics, ...); ``text_encoder`` (the record of the text encoder that produced
  ``text_emb``, :func:`ovnerf.foundation.text_encoder_record.record_of`; None when unknown), from
  which the query layer rebuilds it for texts outside the vocabulary.

``load_checkpoint(path, device)`` returns a :class:`Checkpoint` (one typed object, one name per
item; ``ck.vocabulary`` or ``ck["vocabulary"]``) with ``field`` (the SemanticField rebuilt on
``device``, eval mode; None with ``build=False``) and ``views`` as numpy ``[K, c2w, H, W]``
lists.

Writes are atomic (:mod:`ovnerf.atomic_write`): the file is written to ``.NAME.tmp-<pid>``
beside ``PATH``, flushed and fsync'd, then ``os.replace``'d over ``PATH`` and the directory
fsync'd — a kill at any time leaves either the old or the new checkpoint, never a torn one. A truncated / corrupt / foreign file raises
``UserError`` naming the file.
"""
from __future__ import annotations

import dataclasses
import io
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ovnerf.atomic_write import atomic_save, atomic_write_bytes
from ovnerf.errors import UserError
from ovnerf.field.semantic_field import FieldConfig, SemanticField

FORMAT = "ovnerf-checkpoint"
VERSION = 1
CHECKPOINT_NAME = "checkpoint.pt"   # the file name in a run / checkpoints directory

__all__ = ["Checkpoint", "save_checkpoint", "load_checkpoint", "promote_checkpoint", "capture_rng_state",
           "restore_rng_state", "FORMAT", "VERSION", "CHECKPOINT_NAME"]


@dataclass
class Checkpoint:
    """What a checkpoint holds (see the module docstring); ``ck[key]`` / ``ck.get(key)`` read the
    same attributes."""
    field_config: dict
    field_state: dict
    aabb: torch.Tensor
    vocabulary: list
    text_emb: torch.Tensor
    train_config: dict | None = None
    iteration: int = 0
    optimizer: dict | None = None
    rng: dict | None = None
    trainer_state: dict | None = None
    views: list = dataclasses.field(default_factory=list)
    meta: dict = dataclasses.field(default_factory=dict)
    text_encoder: dict | None = None   # record of the encoder of text_emb (None: unknown)
    field: object = None               # the rebuilt SemanticField (load_checkpoint(build=True))

    def __getitem__(self, key: str):
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default=None):
        return getattr(self, key, default) if key in self.__dataclass_fields__ else default


def capture_rng_state(generator: torch.Generator | None = None) -> dict:
    """Global torch (CPU), numpy and python RNG states (+ an optional torch.Generator's)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"name": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
        "python": {"version": py_state[0], "state": list(py_state[1]), "gauss": py_state[2]},
        "generator": generator.get_state() if generator is not None else None,
    }
    return state


def restore_rng_state(state: dict, generator: torch.Generator | None = None) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if generator is not None and state.get("generator") is not None:
        generator.set_state(state["generator"])




def save_checkpoint(path, *, field, field_config: dict, vocabulary: list[str], text_emb: torch.Tensor,
                    train_config: dict | None = None, iteration: int = 0, optimizer=None,
                    rng: dict | None = None, trainer_state: dict | None = None,
                    views: list | None = None, meta: dict | None = None,
                    text_encoder: dict | None = None) -> Path:
    """Atomically write a checkpoint (see module docstring); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in field.state_dict().items()}
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "field_config": _plain(field_config),
        "field_state": state,
        "aabb": field.aabb.detach().cpu().clone(),
        "vocabulary": list(vocabulary),
        "text_emb": text_emb.detach().float().cpu(),
        "train_config": _plain(train_config) if train_config is not None else None,
        "iteration": int(iteration),
        "optimizer": _to_cpu(optimizer.state_dict()) if optimizer is not None else None,
        "rng": rng,
        "trainer_state": _to_cpu(trainer_state) if trainer_state is not None else None,
        "views": [[torch.as_tensor(np.asarray(K), dtype=torch.float64),
                   torch.as_tensor(np.asarray(c2w), dtype=torch.float64), int(H), int(W)]
                  for K, c2w, H, W in (views or [])],
        "meta": _plain(meta or {}),
        "text_encoder": _plain(text_encoder) if text_encoder else None,
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getbuffer())
    return path


def load_checkpoint(path, device="cpu", build: bool = True) -> Checkpoint:
    """Read and validate a checkpoint: a :class:`Checkpoint` (tensors on the CPU) with the rebuilt
    ``field`` on ``device`` (unless ``build=False``)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickle garbage, ...
        raise UserError(f"checkpoint {path} is corrupt, truncated or not an ovnerf checkpoint "
                        f"({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"checkpoint {path} is not an ovnerf checkpoint (no '{FORMAT}' header)")
    if int(payload.get("version", -1)) > VERSION:
        raise UserError(f"checkpoint {path} has version {payload.get('version')}; this ovnerf reads ≤ {VERSION}")
    for key in ("field_config", "field_state", "vocabulary", "text_emb"):
        if key not in payload:
            raise UserError(f"checkpoint {path} is incomplete (missing '{key}')")
    payload["views"] = [[v[0].numpy(), v[1].numpy(), int(v[2]), int(v[3])] for v in payload.get("views") or []]
    known = set(Checkpoint.__dataclass_fields__) - {"field"}
    ck = Checkpoint(**{k: v for k, v in payload.items() if k in known})
    ck.vocabulary = list(ck.vocabulary)
    ck.meta = ck.meta or {}
    if build:
        ck.field = build_field(ck, device=device)
    return ck


def build_field(payload, device="cpu"):
    """Recreate the SemanticField stored in a checkpoint (weights loaded, eval mode)."""
    cfg = FieldConfig.from_dict(payload["field_config"])
    field = SemanticField(cfg, payload["aabb"].numpy(), device=device)
    try:
        field.load_state_dict({k: v.to(device) for k, v in payload["field_state"].items()})
    except (RuntimeError, KeyError) as exc:
        raise UserError(f"checkpoint does not match the field architecture: {str(exc).splitlines()[0]}") from None
    field.eval()
    return field


def _plain(d):
    """Tuples → lists recursively (weights_only-safe, JSON-like)."""
    if isinstance(d, dict):
        return {k: _plain(v) for k, v in d.items()}
    if isinstance(d, (list, tuple)):
        return [_plain(v) for v in d]
    if isinstance(d, np.generic):
        return d.item()
    return d


def _to_cpu(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_cpu(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_to_cpu(v) for v in obj)
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj)
    return obj


def promote_checkpoint(src, dst) -> Path:
    """Atomically make ``dst`` a copy of the finished checkpoint ``src`` (a reader of ``dst`` sees
    the old or the new model, never a torn file); returns ``dst``."""
    src, dst = Path(src), Path(dst)
    with open(src, "rb") as f:
        return atomic_save(dst, lambda out: _copy(f, out), make_parents=True)


def _copy(fsrc, fdst, block: int = 1 << 20) -> None:
    while chunk := fsrc.read(block):
        fdst.write(chunk)
