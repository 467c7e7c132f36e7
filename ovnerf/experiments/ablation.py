"""The OV-NeRF ablation (paper Table VI / VII shape) on the built-in demo room.

Variants (``TrainConfig`` switches; everything else — scene, preprocess cache, seed,
iterations, rays, schedule — is identical):

=============  ========  ========  ===============  ============================================
variant        use_rsr   use_cse   cse_pseudo_rsr   meaning
=============  ========  ========  ===============  ============================================
baseline       False     False     –                3DOVS-style: CE against the raw relevancy S
+RSR           True      False     –                CE against the RSR map S~ (Stage I only)
+CSE           False     True      True             Stage I on S, Stage II CSE (pseudo maps + RSR)
+RSR+CSE       True      True      True             full OV-NeRF
w CSE*         True      True      False            CSE whose pseudo maps are NOT refined by RSR
=============  ========  ========  ===============  ============================================

Variants without CSE run all iterations in Stage I. Metrics over the held-out views (every 10th
frame), both definitions of :mod:`ovnerf.metrics`: ours (pooled confusion, classes present in
the GT: mIoU / mAcc) and the authors' (per-image nanmean IoU, overall pixel accuracy). The
teacher is a SIMULATED CLIP teacher (``DemoSettings.teacher``; not CLIP). :func:`seeds_table`
gives mean ± std over room seeds.

The output directory is a :class:`~ovnerf.app.workspace.Workspace` (``scene/``, ``cache/``)
shared by the variants; ``run_ablation`` appends each finished variant to ``out_dir/ablation.json`` (a re-run with the
same settings skips finished variants), and :func:`markdown_table` formats the result.
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field as dc_field

import numpy as np

from ovnerf.app import run as app
from ovnerf.app.workspace import Workspace
from ovnerf.errors import UserError
from ovnerf.experiments.demo import (DemoSettings, build_demo_backends, demo_train_config, evaluate,
                                     machine_description, prepare_scene, semantic_map_from_trainer,
                                     teacher_params, teacher_quality, train, _fingerprint, _set_threads)
from ovnerf.preprocess.cache import PreprocessCache
from ovnerf.scene.store import SceneStore

log = logging.getLogger(__name__)

VARIANTS: dict[str, dict] = {
    "baseline": dict(use_rsr=False, use_cse=False),
    "+RSR": dict(use_rsr=True, use_cse=False),
    "+CSE": dict(use_rsr=False, use_cse=True, cse_pseudo_rsr=True),
    "+RSR+CSE": dict(use_rsr=True, use_cse=True, cse_pseudo_rsr=True),
    "w CSE*": dict(use_rsr=True, use_cse=True, cse_pseudo_rsr=False),
}
PAPER_MIOU = {"baseline": 7.2, "+RSR": 19.1, "+CSE": 26.8, "+RSR+CSE": 28.0, "w CSE*": None}


# The ablation tests the method against the calibrated CLIP-like teacher (a SIMULATION; see
# ovnerf.foundation.crop_teacher and `ovnerf calibrate-teacher`); the demo uses the older one.
ABLATION_TEACHER = "simulated-crops"

@dataclass
class AblationRow:
    variant: str
    flags: dict
    miou: float
    macc: float
    psnr: float
    train_s: float
    per_class_iou: dict = dc_field(default_factory=dict)
    miou_img: float = float("nan")   # the authors' definition (ovnerf.metrics.PerImageMeter)
    acc_pix: float = float("nan")


@dataclass
class AblationReport:
    settings: dict
    machine: str
    teacher: str
    regions: str
    teacher_miou_train: float
    rsr_miou_train: float
    n_train: int
    n_test: int
    preprocess_s: float
    rows: list = dc_field(default_factory=list)


def parse_variants(spec) -> list[str]:
    names = [v.strip() for v in (spec.split(",") if isinstance(spec, str) else spec) if v and v.strip()]
    bad = [v for v in names if v not in VARIANTS]
    if bad or not names:
        raise UserError(f"unknown ablation variant(s) {bad or spec!r} (known: {', '.join(VARIANTS)})")
    return names


def run_ablation(out_dir, settings: DemoSettings | None = None, variants=tuple(VARIANTS),
                 progress: bool = True, echo=None) -> AblationReport:
    """Train and evaluate each variant on the same scene/cache/seed; returns the report (also in
    ``out_dir/ablation.json``)."""
    say = echo or log.info
    s = settings or DemoSettings(teacher=ABLATION_TEACHER)
    variants = parse_variants(variants)
    _set_threads(s.threads, say)
    ws = Workspace(out_dir)
    out = ws.root
    out.mkdir(parents=True, exist_ok=True)

    t = time.perf_counter()
    scene_dir, _ = prepare_scene(ws.scene_dir, s, progress)
    store = SceneStore(scene_dir, create=False)
    clip, regions, dino, cse_regions = build_demo_backends(s, store.class_names)
    say(f"teacher: {clip.name} ({teacher_params(s)}); regions: {regions.name}")
    app.preprocess(ws, store, store.class_names, (clip, regions, dino), s.device, progress)
    cache = PreprocessCache(ws.cache_dir)
    t_s, t_r = teacher_quality(store, cache)
    pre_s = time.perf_counter() - t
    train_names, test_names = store.split()

    base_cfg = demo_train_config(s.iterations, s.batch_rays, s.seed, s.cse_novel_views, s.cse_events,
                                 s.depth_weight, s.free_space_weight, scale_selection=s.scale_selection)
    fp = _fingerprint({"settings": asdict(s), "train": base_cfg.to_dict(),
                       "cache": cache.manifest.get("fingerprints")})
    jpath = out / "ablation.json"
    done: dict[str, dict] = {}
    if jpath.is_file():
        try:
            old = json.loads(jpath.read_text())
            if old.get("fingerprint") == fp:
                done = {r["variant"]: r for r in old.get("report", {}).get("rows", [])}
        except (OSError, json.JSONDecodeError):
            pass
    report = AblationReport(settings=asdict(s), machine=machine_description(s.device), teacher=clip.name,
                            regions=regions.name, teacher_miou_train=t_s, rsr_miou_train=t_r,
                            n_train=len(train_names), n_test=len(test_names), preprocess_s=pre_s)
    for name in variants:
        if name in done:
            report.rows.append(AblationRow(**done[name]))
            say(f"{name}: reusing the finished result in {jpath}")
            continue
        flags = VARIANTS[name]
        cfg = base_cfg.replace(**flags)
        t0 = time.perf_counter()
        trainer, _ = train(ws, store, cfg, cse_regions, None, s.device, progress, desc=name)
        train_s = time.perf_counter() - t0
        ev = evaluate(semantic_map_from_trainer(trainer), store, progress=False)
        row = AblationRow(variant=name, flags=flags, miou=ev["miou"], macc=ev["macc"], psnr=ev["psnr"],
                          train_s=train_s, per_class_iou=ev["per_class_iou"], miou_img=ev["miou_img"],
                          acc_pix=ev["acc_pix"])
        report.rows.append(row)
        say(f"{name:<10} mIoU {100 * row.miou:5.1f}  mAcc {100 * row.macc:5.1f}  authors' mIoU/img "
            f"{100 * row.miou_img:5.1f} pixel acc {100 * row.acc_pix:5.1f}  PSNR {row.psnr:4.1f}  "
            f"({train_s:.0f} s)")
        jpath.write_text(json.dumps({"fingerprint": fp, "report": asdict(report)}, indent=1))
        del trainer
    jpath.write_text(json.dumps({"fingerprint": fp, "report": asdict(report)}, indent=1))
    return report


def _p(x) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{100 * x:.1f}"


def markdown_table(report: AblationReport) -> str:
    """The result table (mIoU / mAcc per variant, the paper's Room0 mIoU alongside)."""
    lines = ["| variant | RSR (Stage I) | CSE | RSR in pseudo maps | mIoU | mAcc | PSNR (dB) | train time (s) | paper mIoU (Room0, CLIP) |",
             "|---|---|---|---|---:|---:|---:|---:|---:|"]
    for r in report.rows:
        r = r if isinstance(r, AblationRow) else AblationRow(**r)
        f = r.flags
        cse = f.get("use_cse", False)
        pr = PAPER_MIOU.get(r.variant)
        lines.append(f"| {r.variant} | {'✓' if f.get('use_rsr') else '–'} | {'✓' if cse else '–'} | "
                     f"{('✓' if f.get('cse_pseudo_rsr', True) else '–') if cse else 'n/a'} | {_p(r.miou)} | "
                     f"{_p(r.macc)} | {r.psnr:.1f} | {r.train_s:.0f} | {pr if pr is not None else '—'} |")
    return "\n".join(lines)


def per_class_table(report: AblationReport) -> str:
    rows = [r if isinstance(r, AblationRow) else AblationRow(**r) for r in report.rows]
    classes = sorted({c for r in rows for c in r.per_class_iou})
    lines = ["| class | " + " | ".join(r.variant for r in rows) + " |",
             "|---|" + "---:|" * len(rows)]
    for c in classes:
        lines.append(f"| {c} | " + " | ".join(_p(r.per_class_iou.get(c, float('nan'))) for r in rows) + " |")
    return "\n".join(lines)


def seeds_table(reports: list[dict]) -> str:
    """Mean ± std over seeds (one ``ablation.json`` report dict per seed) of both metric
    definitions, per variant, in the order of :data:`VARIANTS`."""
    by_var: dict[str, list[dict]] = {}
    for rep in reports:
        for r in rep["rows"]:
            by_var.setdefault(r["variant"], []).append(r)

    def ms(rows, key):
        v = np.array([100 * r.get(key, float("nan")) for r in rows], dtype=float)
        v = v[np.isfinite(v)]
        if len(v) == 0:
            return "—"
        return f"{v.mean():.1f} ± {v.std(ddof=1):.1f}" if len(v) > 1 else f"{v[0]:.1f}"

    lines = ["| variant | seeds | mIoU (ours) | mAcc (ours) | mIoU/img (authors') | pixel acc (authors') | "
             "train time (s) | paper mIoU (Room0, CLIP) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name in VARIANTS:
        rows = by_var.get(name)
        if not rows:
            continue
        t = np.mean([r["train_s"] for r in rows])
        pr = PAPER_MIOU.get(name)
        lines.append(f"| {name} | {len(rows)} | {ms(rows, 'miou')} | {ms(rows, 'macc')} | {ms(rows, 'miou_img')} | "
                     f"{ms(rows, 'acc_pix')} | {t:.0f} | {pr if pr is not None else '—'} |")
    return "\n".join(lines)
