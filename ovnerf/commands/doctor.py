"""``ovnerf doctor``: self-check of the installation (libraries, ROS 2, device, model weights).

Exit status 0 when every essential check passes, 1 otherwise. See :mod:`ovnerf.doctor`.
"""
from __future__ import annotations

import json
from pathlib import Path

from ovnerf import doctor


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("doctor", help="check the installation: versions, ROS 2, device, weights")
    p.add_argument("--no-ros", action="store_true", help="skip the ROS 2 checks (core-only install)")
    p.add_argument("--config", type=Path, default=None,
                   help="config YAML whose checkpoint paths to check (default: config/ovnerf.yaml if present)")
    p.add_argument("--models-dir", type=Path, default=None, help="models directory (default: <repo>/models)")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    checks = doctor.run_checks(include_ros=not args.no_ros, config_path=args.config, models_dir=args.models_dir)
    ok = doctor.essentials_ok(checks)
    if args.json:
        print(json.dumps({"ok": ok, "checks": doctor.as_dicts(checks)}, indent=1))
    else:
        print(doctor.format_report(checks))
    return 0 if ok else 1
