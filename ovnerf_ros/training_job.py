"""One training run as the Train action executes it: preprocessing, then the two-stage trainer.

Pure orchestration of ``ovnerf`` (no rclpy, no numerics): reads the scene store written by the
collector, preprocesses its training split into ``<output_dir>/cache`` (resumable), trains into
``<output_dir>/checkpoints/checkpoint.pt`` (written every ``checkpoint_every`` iterations and on
stop), and resumes from that checkpoint when asked and compatible.

Progress is reported through ``report(stage, iteration, total, losses, psnr, eta_s)``;
``should_stop()`` is polled between views (preprocessing) and iterations (training).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ovnerf.errors import UserError


class Stopped(Exception):
    """Cancelled before training started."""


@dataclass
class JobSpec:
    output_dir: Path
    vocabulary: list[str]
    preset: str = "cpu"
    iterations: int = 0
    options: list[str] = field(default_factory=list)     # TrainConfig key=value; foundation.key=value
    backend: str = "simulated"
    use_rsr: bool = True
    use_cse: bool = True
    resume: bool = True
    device: str = "cpu"
    # depth supervision (TrainConfig fields of the same names); None = the preset's value.
    # No-ops when the keyframes carry no depth. training.options 'key=value' still win.
    depth_weight: float | None = None
    free_space_weight: float | None = None
    free_space_margin: float | None = None

    @property
    def scene_dir(self) -> Path:
        return Path(self.output_dir).expanduser() / "scene"

    @property
    def cache_dir(self) -> Path:
        return Path(self.output_dir).expanduser() / "cache"

    @property
    def checkpoint_dir(self) -> Path:
        return Path(self.output_dir).expanduser() / "checkpoints"


@dataclass
class JobResult:
    checkpoint: str
    iterations_done: int
    total: int
    stopped: bool
    psnr: float
    duration_s: float
    miou: float = float("nan")
    macc: float = float("nan")


def latest_checkpoint(output_dir) -> Path | None:
    from ovnerf.training.trainer import CHECKPOINT_NAME
    p = Path(output_dir).expanduser() / "checkpoints" / CHECKPOINT_NAME
    return p if p.is_file() else None


def _split_options(options: list[str]) -> tuple[list[str], dict, dict]:
    """'key=value' → TrainConfig overrides; 'foundation.key=value' → backend registry config;
    'field.key=value' → FieldConfig overrides."""
    import yaml
    train, found, fld = [], {}, {}
    for o in options:
        o = o.strip()
        if not o:
            continue
        if "=" not in o:
            raise UserError(f"training option '{o}' is not key=value")
        for prefix, dest in (("foundation.", found), ("field.", fld)):
            if o.startswith(prefix):
                k, v = o[len(prefix):].split("=", 1)
                try:
                    dest[k.strip()] = yaml.safe_load(v)
                except yaml.YAMLError as exc:
                    raise UserError(f"training option '{o}': {exc}") from None
                break
        else:
            train.append(o)
    return train, found, fld


DEPTH_FIELDS = ("depth_weight", "free_space_weight", "free_space_margin")


def build_configs(spec: JobSpec):
    """(TrainConfig, FieldConfig, foundation options) of a job: the preset, then the spec's
    switches, iterations and depth weights, then ``spec.options`` (which win)."""
    from ovnerf.field.semantic_field import FieldConfig
    from ovnerf.training.config import TrainConfig

    train_opts, found_opts, field_opts = _split_options(spec.options)
    cfg = TrainConfig.cpu_preset() if spec.preset == "cpu" else TrainConfig()
    upd = {"use_rsr": bool(spec.use_rsr), "use_cse": bool(spec.use_cse)}
    if spec.iterations > 0:
        upd["iterations"] = int(spec.iterations)
    upd.update({k: float(getattr(spec, k)) for k in DEPTH_FIELDS if getattr(spec, k) is not None})
    cfg = cfg.replace(**upd).override(train_opts)   # validated by TrainConfig.from_dict
    fcfg = FieldConfig.cpu_preset() if spec.preset == "cpu" else FieldConfig()
    if field_opts:
        unknown = sorted(set(field_opts) - set(fcfg.to_dict()))
        if unknown:
            raise UserError(f"unknown field option(s): {', '.join(unknown)}")
        fcfg = FieldConfig.from_dict({**fcfg.to_dict(), **field_opts})
    return cfg, fcfg, found_opts


def run_job(spec: JobSpec, report: Callable, should_stop: Callable[[], bool]) -> JobResult:
    from ovnerf.foundation.registry import build_backends
    from ovnerf.preprocess.cache import PreprocessCache
    from ovnerf.preprocess.pipeline import parse_vocabulary, preprocess_views
    from ovnerf.scene.store import SceneStore
    from ovnerf.training.trainer import Trainer

    t0 = time.time()
    if not (spec.scene_dir / "transforms.json").is_file():
        raise UserError(f"no keyframes yet: {spec.scene_dir} has no transforms.json")
    store = SceneStore(spec.scene_dir, create=False)
    train_names, _ = store.split()
    if len(train_names) < 2:
        raise UserError(f"need at least 2 training keyframes, the store has {len(store)} frame(s)")
    vocab = parse_vocabulary(spec.vocabulary)
    cfg, fcfg, found_opts = build_configs(spec)

    # ---- preprocessing (resumable cache)
    found = {"clip": spec.backend, "device": spec.device, **found_opts}
    clip, regions, dino = build_backends(found, label_names=store.class_names)
    n = len(train_names)
    done = [0]

    def after_view(name):
        done[0] += 1
        report("preprocess", done[0], n, {}, float("nan"), float("nan"))
        if should_stop():
            raise Stopped()

    report("preprocess", 0, n, {}, float("nan"), float("nan"))
    preprocess_views(store.load, train_names, vocab, spec.cache_dir, clip, regions, dino,
                     scene=str(spec.scene_dir), device=spec.device, progress=False, after_view=after_view)
    cache = PreprocessCache(spec.cache_dir)
    frames = store.frames(train_names)

    # ---- training
    text_emb = cache.text_embeddings
    text_emb = text_emb() if callable(text_emb) else text_emb
    trainer = Trainer(frames, cache, text_emb, field_cfg=fcfg, train_cfg=cfg,
                      region_backend=regions, device=spec.device, out_dir=spec.checkpoint_dir,
                      vocabulary=vocab, meta={"scene": str(spec.scene_dir)})
    ck = trainer.checkpoint_path
    if spec.resume and ck is not None and ck.is_file():
        try:
            trainer.resume(ck)
        except UserError as exc:  # another vocabulary / another set of views: start afresh
            report("stage1", 0, cfg.iterations, {}, float("nan"), float("nan"), f"not resuming: {exc}")

    def cb(p):
        stage = "stage1" if p.stage == 1 else "stage2_cse"
        report(stage, p.iteration, p.total, dict(p.losses), float(p.psnr), float(p.eta_s), p.message)

    res = trainer.train(cb, should_stop)
    out = JobResult(checkpoint=str(res.checkpoint or ""), iterations_done=int(res.iteration),
                    total=int(res.total), stopped=bool(res.stopped),
                    psnr=float(res.psnr) if res.psnr is not None else float("nan"),
                    duration_s=time.time() - t0)
    # held-out evaluation (every 10th keyframe) when the store has ground-truth labels
    test = [f for f in store.frames(store.split()[1]) if f.labels is not None]
    if test and not res.stopped and store.class_names:
        from ovnerf.training.evaluate import evaluate_views
        report("evaluate", 0, len(test), {}, float("nan"), float("nan"))
        try:
            ev = evaluate_views(trainer.field, trainer.text_emb, test, vocab, scene_classes=store.class_names)
            out.miou, out.macc = float(ev.miou), float(ev.macc)
        except Exception as exc:  # noqa: BLE001 - an evaluation problem must not fail the training
            logging.getLogger(__name__).warning("evaluation skipped: %s", exc)
    out.duration_s = time.time() - t0
    return out


def finite(x: float, default: float = 0.0) -> float:
    return float(x) if x is not None and np.isfinite(x) else default
