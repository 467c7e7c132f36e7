"""``ovnerf bench [--quick]``: our training step against the TensoRF reference step per phase
(ratios), training it/s, 640×480 render time, query latency, peak memory, preprocessing s/frame
per backend, and the naïve reference as a second ratio. ``--paper-scale`` (GPU only): the paper's
15k × 4096 training on the demo room at 640×480.

Prints the machine (CPU model, cores, torch version, device) first; figures are medians over
``--repeats``. See :mod:`ovnerf.experiments.bench`.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ovnerf.errors import UserError
from ovnerf.experiments.bench import run_bench
from ovnerf.experiments.paper_scale import bench_paper_scale, cuda_missing

SECTIONS = ("peer", "field", "trainer", "query", "preprocess")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("bench", help="speed/memory benchmark (training, render, query, preprocessing, naive ratio)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1 repeat, few steps, small SAM grid (smoke run)")
    p.add_argument("--repeats", type=int, default=None, help="repeats per figure (default 3; 1 with --quick)")
    p.add_argument("--rays", type=int, default=4096, help="rays per training iteration (default 4096)")
    p.add_argument("--checkpoint", default=None,
                   help="trained checkpoint for the query figures (default demo_out/checkpoints/checkpoint.pt if present)")
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections (default {','.join(SECTIONS)})")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--json", type=Path, default=None, help="also write every figure to this JSON file")
    p.add_argument("--paper-scale", action="store_true",
                   help="GPU only: 15k x 4096 training on the demo room at 640x480 (paper field), 640x480 semantic "
                        "render, query latency, peak GPU memory; without CUDA prints one line and exits 0")
    p.add_argument("--iterations", type=int, default=15000, help="--paper-scale: training iterations (default 15000)")
    p.add_argument("--views", type=int, default=12, help="--paper-scale: training views (default 12)")
    p.set_defaults(func=run)


def run(args) -> int:
    sections = tuple(s.strip() for s in args.only.split(",") if s.strip())
    bad = [s for s in sections if s not in SECTIONS]
    if bad or not sections:
        raise UserError(f"unknown bench section(s) {bad} (known: {', '.join(SECTIONS)})")
    if args.repeats is not None and args.repeats < 1:
        raise UserError("--repeats must be ≥ 1")
    if args.rays < 1:
        raise UserError("--rays must be ≥ 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.paper_scale:
        reason = cuda_missing(args.device)
        if reason:
            print(reason)
            return 0
        res = bench_paper_scale(args.device, iterations=args.iterations, batch_rays=args.rays, views=args.views,
                                print_fn=lambda *a: print(*a, flush=True))
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(res, indent=1, default=str))
        return 0
    res = run_bench(device=args.device, quick=args.quick, repeats=args.repeats, n_rays=args.rays,
                    checkpoint=args.checkpoint, sections=sections, print_fn=lambda *a: print(*a, flush=True))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1, default=str))
    return 0
