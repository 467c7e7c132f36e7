"""The one run path: preprocess → train → evaluate over a :class:`~ovnerf.app.workspace.Workspace`.

Steps (each callable on its own; :func:`run` chains them for the ROS Train action):

- :func:`open_store`: the workspace's scene (≥ 2 training keyframes);
- :func:`preprocess`: the training split into ``ws.cache_dir`` (resumable, per-view callback);
- :func:`load_training`: training frames + cache (which must cover them) + vocabulary + text
  embeddings, read one way (``PreprocessCache.vocabulary`` / ``.text_embeddings``);
  :func:`load_geometry_only`: the training frames alone (``--clip none``: no cache, no CLIP);
- :func:`build_trainer` / :func:`train`: the two-stage trainer, checkpoint in ``out_dir`` (resume:
  never / when present / when present and compatible), progress callback and cancel poll;
- :func:`evaluate`: PSNR / SSIM (+ mIoU / mAcc with labels) on the held-out views (every 10th keyframe).

The served model is never lost (:func:`run`): a run trains into its own directory
``checkpoints/runs/<UTC time>/`` and replaces ``checkpoints/checkpoint.pt`` (atomically) only
when it finishes; a cancelled or failed run leaves it as it was. ``resume`` continues the newest
checkpoint (the served one, or a cancelled / killed run's); the last ``KEEP_RUNS`` run
directories are kept.

Used by ``ovnerf train`` (commands/train.py), the ROS trainer node (ovnerf_ros/training_job.py),
``ovnerf demo`` / ``ablation`` / ``bench`` (ovnerf/experiments/).
"""
from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ovnerf.app.options import field_config, foundation_config, parse_overrides, train_config
from ovnerf.app.workspace import CHECKPOINT_NAME, Workspace
from ovnerf.checkpoint import promote_checkpoint
from ovnerf.errors import UserError
from ovnerf.foundation.registry import build_backends
from ovnerf.preprocess.cache import PreprocessCache
from ovnerf.preprocess.pipeline import parse_vocabulary, preprocess_views
from ovnerf.scene.store import SceneStore
from ovnerf.semantic_point_map import point_map_path
from ovnerf.training.evaluate import evaluate_views
from ovnerf.training.trainer import Progress, Trainer

log = logging.getLogger(__name__)

# report(stage, iteration, total, losses, psnr, eta_s, message="");
# stage: "preprocess" | "stage1" | "stage2_cse" | "evaluate"
Report = Callable[..., None]
NAN = float("nan")


class Stopped(Exception):
    """Cancelled before training started (during preprocessing)."""


@dataclass
class RunSpec:
    """What one run trains (the ROS Train goal + parameters, or CLI arguments)."""
    vocabulary: list[str]
    preset: str = "cpu"
    iterations: int = 0                  # 0 = the preset's
    use_rsr: bool = True
    use_cse: bool = True
    train: dict = field(default_factory=dict)     # TrainConfig values (ROS ``training.<field>``)
    options: list[str] = field(default_factory=list)   # key=value / field.* / foundation.* (win)
    backend: str = "simulated"           # FoundationConfig.clip
    resume: bool = True
    device: str = "cpu"


@dataclass
class RunResult:
    checkpoint: str
    iterations_done: int
    total: int
    stopped: bool
    psnr: float
    duration_s: float
    miou: float = NAN
    macc: float = NAN
    iterations_run: int = 0       # iterations this run trained (``iterations_done`` is the model's total)
    promoted: bool = False        # finished: ``checkpoint`` is now the served checkpoint


KEEP_RUNS = 3


def build_configs(spec: RunSpec):
    """(TrainConfig, FieldConfig, FoundationConfig) of a run: the preset, then ``spec.train``,
    then the goal's switches and iterations, then ``spec.options`` (which win)."""
    o = parse_overrides(spec.options, "training option")
    goal = {"use_rsr": bool(spec.use_rsr), "use_cse": bool(spec.use_cse)}
    if spec.iterations > 0:
        goal["iterations"] = int(spec.iterations)
    tcfg = train_config(spec.preset, spec.train, goal, o.train)
    fcfg = field_config(spec.preset, o.field)
    found = foundation_config({"clip": spec.backend, "device": spec.device}, o.foundation)
    return tcfg, fcfg, found


def open_store(ws: Workspace) -> SceneStore:
    if not ws.has_scene():
        raise UserError(f"no keyframes yet: {ws.scene_dir} has no transforms.json")
    store = SceneStore(ws.scene_dir, create=False)
    if len(store.split()[0]) < 2:
        raise UserError(f"need at least 2 training keyframes, the store has {len(store)} frame(s)")
    return store


def preprocess(ws: Workspace, store: SceneStore, vocabulary, backends, device="cpu", progress: bool = False,
               after_view: Callable[[str], None] | None = None):
    """Preprocess the training split of ``store`` into ``ws.cache_dir`` (resumable); the report."""
    clip, regions, dino = backends
    return preprocess_views(store.load, store.split()[0], vocabulary, ws.cache_dir, clip, regions, dino,
                            scene=str(store.root), device=device, progress=progress, after_view=after_view)


@dataclass
class TrainingData:
    frames: list
    cache: PreprocessCache | dict | None   # view name → ViewTargets (the benches: a dict); None: geometry only
    vocabulary: list[str]
    text_emb: object        # (M, D) torch tensor, None without semantics


def load_training(ws: Workspace, store: SceneStore) -> TrainingData:
    """The training split's frames and the cache that must cover them."""
    cache = PreprocessCache(ws.cache_dir)
    names = store.split()[0]
    cached = set(cache.view_names())
    missing = [n for n in names if n not in cached]
    if missing:
        raise UserError(f"the preprocess cache {ws.cache_dir} lacks {len(missing)} training view(s) "
                        f"(e.g. {missing[0]}); run `ovnerf preprocess {store.root}` again, or train "
                        "geometry and colour only with --clip none")
    return TrainingData(store.frames(names), cache, cache.vocabulary, cache.text_embeddings)


def load_geometry_only(store: SceneStore) -> TrainingData:
    """The training split's frames without semantic targets (``--clip none``)."""
    return TrainingData(store.frames(store.split()[0]), None, [], None)


def build_trainer(data: TrainingData, tcfg, fcfg, *, regions=None, device="cpu", out_dir=None,
                  meta: dict | None = None, aabb=None) -> Trainer:
    """The two-stage trainer over ``data`` (the one place a :class:`Trainer` is made: :func:`train`
    and the benches, which time its steps). ``aabb``: the scene box (min, max), default the
    trainer's (:func:`ovnerf.scene.bounds.scene_bounds`)."""
    return Trainer(data.frames, data.cache, data.text_emb, fcfg, tcfg, region_backend=regions, device=device,
                   out_dir=out_dir, vocabulary=data.vocabulary, meta=meta, aabb=aabb)


def train(data: TrainingData, tcfg, fcfg, *, regions=None, device="cpu", out_dir=None, resume="no",
          callback: Callable[[Progress], None] | None = None, should_stop: Callable[[], bool] | None = None,
          meta: dict | None = None, on_resume: Callable[[str], None] | None = None, resume_from=None,
          aabb=None):
    """Train the field (:func:`build_trainer`); returns (Trainer, TrainResult). ``resume``:
    ``"no"``, ``"yes"`` (from ``resume_from``, default ``out_dir``'s checkpoint, when present; an
    incompatible one is an error) or ``"compatible"`` (when present and compatible, else start
    afresh); ``on_resume(message)`` hears which."""
    trainer = build_trainer(data, tcfg, fcfg, regions=regions, device=device, out_dir=out_dir, meta=meta, aabb=aabb)
    ck = Path(resume_from) if resume_from is not None else trainer.checkpoint_path
    if resume != "no" and ck is not None and ck.is_file():
        try:
            it = trainer.resume(ck)
            if on_resume:
                on_resume(f"resuming from {ck} at iteration {it}")
        except UserError as exc:
            if resume != "compatible":
                raise
            if on_resume:
                on_resume(f"not resuming: {exc}")
    return trainer, trainer.train(callback, should_stop)


def evaluate(store: SceneStore, field, text_emb, vocabulary, chunk: int = 8192, progress=None,
             keep_renders: bool = False):
    """mIoU / mAcc over the held-out views (every 10th keyframe) that carry labels, PSNR over all
    of them (``evaluate_views``); None when the scene holds no held-out view. With
    ``keep_renders``: (EvalResult, renders)."""
    frames = store.frames(store.split()[1])
    if not frames:
        return None
    return evaluate_views(field, text_emb, frames, vocabulary, scene_classes=store.class_names, chunk=chunk,
                          progress=progress, keep_renders=keep_renders)


def has_labelled_held_out(store: SceneStore) -> bool:
    return bool(store.class_names) and any(f.labels is not None for f in store.frames(store.split()[1]))


def stage_name(p: Progress) -> str:
    return "stage1" if p.stage == 1 else "stage2_cse"


def newest_checkpoint(ws: Workspace, exclude: Path | None = None) -> Path | None:
    """The most recently written of the served checkpoint and the runs' checkpoints."""
    found = [p for p in [ws.checkpoint, *ws.checkpoint_dir.glob(f"runs/*/{CHECKPOINT_NAME}")]
             if p.is_file() and p.parent != exclude]
    return max(found, key=lambda p: p.stat().st_mtime_ns) if found else None


def new_run_dir(ws: Workspace) -> Path:
    """A fresh ``checkpoints/runs/<UTC time>`` directory; runs beyond the last ``KEEP_RUNS - 1`` removed."""
    runs = ws.checkpoint_dir / "runs"
    old = sorted(p for p in runs.glob("*") if p.is_dir()) if runs.is_dir() else []
    for p in old[:max(len(old) - (KEEP_RUNS - 1), 0)]:
        shutil.rmtree(p, ignore_errors=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    path, n = runs / stamp, 1
    while path.exists():
        path, n = runs / f"{stamp}_{n}", n + 1
    path.mkdir(parents=True)
    return path


def promote(checkpoint, served: Path) -> Path:
    """Make the finished ``checkpoint`` (and its semantic point map) the served one, atomically
    file by file (the point map first: a reader between the two sees a map whose fingerprint does
    not match the old field and ignores it)."""
    src_map, dst_map = point_map_path(checkpoint), point_map_path(served)
    if src_map.is_file():
        promote_checkpoint(src_map, dst_map)
    elif dst_map.is_file():
        dst_map.unlink()
    return promote_checkpoint(checkpoint, served)


def run(ws: Workspace, spec: RunSpec, report: Report, should_stop: Callable[[], bool]) -> RunResult:
    """preprocess → train → evaluate (the ROS Train action); progress through ``report``. The
    result is served (promoted) only when training finished (module docstring)."""
    t0 = time.time()
    store = open_store(ws)
    vocab = parse_vocabulary(spec.vocabulary)
    tcfg, fcfg, found = build_configs(spec)
    backends = build_backends(found, label_names=store.class_names)
    n = len(store.split()[0])
    done = [0]

    def after_view(name):
        done[0] += 1
        report("preprocess", done[0], n, {}, NAN, NAN)
        if should_stop():
            raise Stopped()

    report("preprocess", 0, n, {}, NAN, NAN)
    preprocess(ws, store, vocab, backends, spec.device, after_view=after_view)
    data = load_training(ws, store)
    run_dir = new_run_dir(ws)
    start = newest_checkpoint(ws, exclude=run_dir) if spec.resume else None
    trainer, res = train(
        data, tcfg, fcfg, regions=backends[1], device=spec.device, out_dir=run_dir, resume_from=start,
        resume="compatible" if start else "no", should_stop=should_stop, meta={"scene": str(ws.scene_dir)},
        on_resume=lambda m: report("stage1", 0, tcfg.iterations, {}, NAN, NAN, m),
        callback=lambda p: report(stage_name(p), p.iteration, p.total, dict(p.losses), float(p.psnr),
                                  float(p.eta_s), p.message))
    out = RunResult(checkpoint=str(res.checkpoint or ""), iterations_done=int(res.iteration), total=int(res.total),
                    stopped=bool(res.stopped), psnr=float(res.psnr) if res.psnr is not None else NAN,
                    duration_s=time.time() - t0,
                    iterations_run=int(res.iteration) - int(res.start_iteration))
    if not res.stopped and res.checkpoint:
        out.checkpoint, out.promoted = str(promote(res.checkpoint, ws.checkpoint)), True
    if not res.stopped and has_labelled_held_out(store):
        report("evaluate", 0, len(store.split()[1]), {}, NAN, NAN)
        try:
            ev = evaluate(store, trainer.field, trainer.text_emb, data.vocabulary)
            out.miou, out.macc = float(ev.miou), float(ev.macc)
        except Exception as exc:  # noqa: BLE001 - an evaluation problem must not fail the training
            log.warning("evaluation skipped: %s", exc)
    out.duration_s = time.time() - t0
    return out
