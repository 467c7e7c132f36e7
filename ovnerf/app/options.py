"""The one ``key=value`` override syntax for TrainConfig / FieldConfig / FoundationConfig, used by
the CLI (``--set``) and ROS (``training.options`` and the generic ``training.<field>``
parameters).

    key=value              a TrainConfig field          (``batch_rays=512``, ``use_cse=false``)
    field.key=value        a FieldConfig field          (``field.max_samples=48``)
    foundation.key=value   a FoundationConfig key       (``foundation.sam=none``)

Values are YAML scalars or lists (``upsample_iters=[100,200]``). Unknown keys and values of
the wrong type raise UserError.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ovnerf.errors import UserError
from ovnerf.field.semantic_field import FieldConfig
from ovnerf.foundation.registry import FoundationConfig
from ovnerf.training.config import TrainConfig, parse_assignments

PRESETS = ("cpu", "paper")


@dataclass
class Overrides:
    train: dict = dataclasses.field(default_factory=dict)
    field: dict = dataclasses.field(default_factory=dict)
    foundation: dict = dataclasses.field(default_factory=dict)


def parse_overrides(items, what: str = "--set") -> Overrides:
    """Split ``key=value`` items by prefix (see module docstring)."""
    out = Overrides()
    for k, v in parse_assignments(items, what).items():
        if k.startswith("field."):
            out.field[k[len("field."):].strip()] = v
        elif k.startswith("foundation."):
            out.foundation[k[len("foundation."):].strip()] = v
        else:
            out.train[k] = v
    return out


def _check_preset(preset: str) -> None:
    if preset not in PRESETS:
        raise UserError(f"unknown preset '{preset}' ({' | '.join(PRESETS)})")


def train_config(preset: str, *layers: dict) -> TrainConfig:
    """The preset's TrainConfig updated with each layer in turn (later layers win)."""
    _check_preset(preset)
    cfg = TrainConfig.cpu_preset() if preset == "cpu" else TrainConfig()
    upd = {}
    for layer in layers:
        upd.update(layer or {})
    return cfg.replace(**upd) if upd else cfg


def field_config(preset: str, overrides: dict | None = None) -> FieldConfig:
    _check_preset(preset)
    base = FieldConfig.cpu_preset() if preset == "cpu" else FieldConfig()
    if not overrides:
        return base
    unknown = sorted(set(overrides) - set(base.to_dict()))
    if unknown:
        raise UserError(f"unknown field option(s): {', '.join(unknown)}")
    try:
        return FieldConfig.from_dict({**base.to_dict(), **overrides})
    except (TypeError, ValueError) as exc:
        raise UserError(f"bad field option: {exc}") from None


def foundation_config(*layers: dict) -> FoundationConfig:
    upd = {}
    for layer in layers:
        upd.update(layer or {})
    return FoundationConfig.from_dict(upd)
