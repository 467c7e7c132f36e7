"""Import a user's posed capture (nerfstudio / instant-ngp ``transforms.json``, or a COLMAP sparse
model) into a scene directory of our layout (:class:`~ovnerf.scene.store.SceneStore`), once.

Steps (``import_capture``), in this order:

1. **read** the capture: :func:`read_transforms` (nerfstudio and instant-ngp share the format:
   global or per-frame ``fl_x, fl_y, cx, cy, w, h`` or ``camera_angle_x``, distortion ``k1, k2,
   p1, p2[, k3]`` (``camera_model`` OPENCV, default) or ``k1..k4`` (OPENCV_FISHEYE),
   ``transform_matrix`` = OpenGL camera-to-world) or :func:`read_colmap` (``cameras``,
   ``images``, ``points3D`` .bin/.txt through **pycolmap**; PINHOLE / SIMPLE_PINHOLE /
   SIMPLE_RADIAL / RADIAL / OPENCV / FULL_OPENCV / OPENCV_FISHEYE cameras, SIMPLE_RADIAL_FISHEYE /
   RADIAL_FISHEYE as OpenCV fisheye);
2. **validate** every frame before any compute (:func:`validate`): missing or unreadable
   images, image sizes that differ from the intrinsics, bad poses (NaN, non-rigid, mirrored) or
   intrinsics, duplicates, cameras all at one point — all problems listed in one error, grouped
   by reason (:func:`problem_report`); sizes and K left to the images (no ``w``/``h``) are filled in;
3. **orient and centre** (:func:`orientation`; nerfstudio's "up" method): the mean camera up
   vector becomes +z, the mean camera centre the origin; the scale is kept (metres stay metres);
4. **decode** each image completely (:func:`read_rgb`: stored pixel order, EXIF orientation not
   applied, grey → RGB, 16 → 8 bit, alpha onto white; undecodable files are listed together and
   nothing is written), **undistort** it once with OpenCV (``initUndistortRectifyMap`` to the pinhole
   ``getOptimalNewCameraMatrix(alpha=0)``, so every output pixel is valid) and **downscale** it by
   ``downscale`` (``INTER_AREA``; the intrinsics scale by the same factor); nerfstudio's per-frame
   ``depth_file_path`` (z-depth, 16-bit PNG or .npy; metres = value × ``depth_unit_scale``, then
   × ``applied_scale`` as the poses carry it, as nerfstudio's DepthDataset scales it by the
   dataparser scale) goes through the same map with nearest-neighbour sampling (outside → 0 =
   unknown) and :func:`downscale_depth`; its size is checked in step 2;
5. **bounds** (:func:`capture_bounds`) — first that applies: ``aabb`` given by the user; the sparse
   points (COLMAP ``points3D`` or nerfstudio ``ply_file_path``: [1, 99] percentile box, 5 %
   margin); nerfstudio ``scene_box``; else the region the cameras look at
   (:func:`view_ray_bounds`). instant-ngp's ``aabb_scale`` cube (with its ``scale`` / ``offset``,
   defaults 0.33 / 0.5) is an outer limit: the box is clipped to it;
6. **write** the scene (``images/NAME.png``, pinhole intrinsics, OpenGL poses) with
   ``transforms.json["ovnerf_aabb"]`` (the box, used by ``ovnerf train``) and
   ``["ovnerf_import"]`` (source, what was applied, the 4×4 ``scene_from_source`` transform, and a
   signature of the inputs: importing again with the same inputs reuses the scene — the cache).

nerfstudio's ``applied_transform`` (what ns-process-data applied to the COLMAP poses) is already
part of the poses and the ply: it is composed into ``scene_from_colmap`` for reference.
Coordinate conventions: all pixel coordinates have pixel centres at (u + 0.5) — as COLMAP,
nerfstudio and our ``K`` — and are shifted by 0.5 for OpenCV's calls.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ovnerf.errors import UserError
from ovnerf.scene.bounds import view_ray_bounds
from ovnerf.scene.colmap_binary import check_binary_model
from ovnerf.scene.conventions import opengl_to_opencv
from ovnerf.scene.frames import PosedFrame
from ovnerf.scene.input_checks import MAX_COORD, MAX_SIDE, check_intrinsics
from ovnerf.scene.store import SceneStore

log = logging.getLogger(__name__)

NGP_SCALE, NGP_OFFSET = 0.33, 0.5   # instant-ngp's defaults (nerf → ngp space: x·scale + offset)
_DIST_KEYS = ("k1", "k2", "p1", "p2", "k3")
_FISHEYE_KEYS = ("k1", "k2", "k3", "k4")
DEPTH_UNIT_SCALE = 1e-3             # nerfstudio's depth_unit_scale_factor default: stored units are mm


@dataclass
class CaptureView:
    name: str
    image_path: Path
    K: np.ndarray | None     # 3×3, pixel centres at u+0.5 (None: from ``spec`` once the size is known)
    dist: np.ndarray         # OpenCV coefficients (k1,k2,p1,p2[,k3]) or fisheye (k1..k4)
    fisheye: bool
    c2w: np.ndarray          # 4×4 OpenCV convention, source world
    w: int | None            # None: read from the image
    h: int | None
    spec: dict | None = None  # transforms.json intrinsics keys (see :func:`pinhole_from_spec`)
    depth_path: Path | None = None   # nerfstudio ``depth_file_path`` (z-depth image or .npy)


@dataclass
class Capture:
    source: Path
    kind: str                                  # "transforms" | "colmap"
    views: list[CaptureView]
    points: np.ndarray | None = None           # (N,3) sparse points, source world
    scene_box: np.ndarray | None = None        # (2,3) nerfstudio scene_box, source world
    ngp_cube: tuple[np.ndarray, float] | None = None   # (centre (3,), half side) in source world
    applied_transform: np.ndarray | None = None
    applied_scale: float = 1.0                 # nerfstudio: already in the poses; depth gets it too
    problems: list[tuple[str, str]] = field(default_factory=list)  # (who, reason), reported by validate
    notes: list[str] = field(default_factory=list)

    def problem(self, who: str, reason: str) -> None:
        self.problems.append((who, reason))


# ---------------------------------------------------------------------- reading
def _name(path: str, taken: set) -> str:
    base = re.sub(r"[^A-Za-z0-9_.\-]", "_", Path(path).stem) or "frame"
    name, k = base, 1
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


_MODELS_TRANSFORMS = ("OPENCV", "PINHOLE", "SIMPLE_PINHOLE", "OPENCV_FISHEYE")
_IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".PNG", ".JPG", ".JPEG", ".exr", ".tif", ".tiff", ".bmp", ".webp")


class _Bad(ValueError):
    """One problem of one frame (its reason)."""


def _num(get, key, default=None, kind=float):
    """``get(key)`` as a finite float (or a positive int for ``kind=int``); _Bad naming the key."""
    v = get(key)
    if v is None:
        return default
    try:
        if isinstance(v, (bool, list, dict)):
            raise TypeError
        x = float(v)
    except (TypeError, ValueError):
        raise _Bad(f"'{key}' must be a number, got {json.dumps(v)[:40]}") from None
    if not math.isfinite(x):
        raise _Bad(f"'{key}' is {x}")
    if kind is int:
        if x != int(x) or x < 1:
            raise _Bad(f"'{key}' must be a positive whole number of pixels, got {v}")
        return int(x)
    return x


def _is_file(path: Path) -> bool:
    """``path.is_file()``, False for names the OS refuses (too long, unreadable directory)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _image_file(root: Path, file_path: str) -> Path:
    """The image of a frame; instant-ngp / NeRF-synthetic name it without extension ('./train/r_0')."""
    p = Path(file_path)
    ipath = p if p.is_absolute() else root / p
    if not ipath.suffix and not _is_file(ipath):
        for ext in _IMAGE_EXTS:
            if _is_file(ipath.with_name(ipath.name + ext)):
                return ipath.with_name(ipath.name + ext)
    return ipath


def _transforms_view(fr, meta, root: Path, taken: set) -> CaptureView:
    """One frame of a transforms.json (per-frame keys win, as in nerfstudio); _Bad on a problem."""
    get = lambda k: fr.get(k, meta.get(k))  # noqa: E731
    model = str(get("camera_model") or "OPENCV").upper()
    if model not in _MODELS_TRANSFORMS:
        hint = (" (360° images: make perspective views first, e.g. ns-process-data images "
                "--camera-type equirectangular)" if model == "EQUIRECTANGULAR" else "")
        raise _Bad(f"camera_model {model} is not supported ({', '.join(_MODELS_TRANSFORMS)}){hint}")
    if not isinstance(fr["file_path"], str) or not fr["file_path"] or "\x00" in fr["file_path"]:
        raise _Bad(f"'file_path' must be a path string, got {json.dumps(fr['file_path'])[:40]}")
    try:
        m = np.asarray(fr["transform_matrix"], dtype=np.float64)
    except (TypeError, ValueError):
        m = np.zeros(0)
    if m.shape == (3, 4):
        m = np.vstack([m, [0, 0, 0, 1]])
    if m.shape != (4, 4):
        raise _Bad("'transform_matrix' must be a 4x4 (or 3x4) matrix")
    if not np.all(np.isfinite(m)):
        raise _Bad("'transform_matrix' holds NaN or infinite values")
    if np.abs(m[3] - [0, 0, 0, 1]).max() > 1e-6:
        raise _Bad("'transform_matrix' last row must be [0, 0, 0, 1]")
    if get("is_fisheye") or get("ftheta_p0") is not None:
        raise _Bad("instant-ngp's fisheye / f-theta lens is not supported (give camera_model OPENCV_FISHEYE "
                   "with k1..k4)")
    spec = {k: _num(get, k) for k in ("fl_x", "fl_y", "cx", "cy", "camera_angle_x", "camera_angle_y")}
    for axis in "xy":   # instant-ngp also takes the field of view in degrees
        deg = _num(get, f"{axis}_fov")
        if spec[f"camera_angle_{axis}"] is None and deg is not None:
            spec[f"camera_angle_{axis}"] = math.radians(deg)
    w, h = _num(get, "w", kind=int), _num(get, "h", kind=int)
    fish = model == "OPENCV_FISHEYE"
    dist = np.array([_num(get, k, 0.0) for k in (_FISHEYE_KEYS if fish else _DIST_KEYS)], dtype=np.float64)
    if not fish and _num(get, "k4", 0.0) != 0:
        raise _Bad("'k4' (an r^8 radial term) is not supported for camera_model OPENCV (k1 k2 k3 p1 p2 are)")
    depth = fr.get("depth_file_path")
    if depth is not None and (not isinstance(depth, str) or not depth or "\x00" in depth):
        raise _Bad(f"'depth_file_path' must be a path string, got {json.dumps(depth)[:40]}")
    return CaptureView(_name(fr["file_path"], taken), _image_file(root, fr["file_path"]), None, dist, fish,
                       opengl_to_opencv(m), w, h, spec=spec,
                       depth_path=None if not depth else (Path(depth) if Path(depth).is_absolute() else root / depth))


def pinhole_from_spec(spec: dict, w: int, h: int) -> np.ndarray:
    """K from transforms.json keys (``fl_x``/``fl_y`` or ``camera_angle_x``/``_y`` in radians;
    ``fl_y`` defaults to ``fl_x``, ``cx``/``cy`` to the image centre); _Bad on a problem."""
    fx, fy = spec.get("fl_x"), spec.get("fl_y")
    for key, side in (("camera_angle_x", w), ("camera_angle_y", h)):
        a = spec.get(key)
        if a is None or (fx if key.endswith("x") else fy) is not None:
            continue
        if not 0 < a < math.pi:
            raise _Bad(f"'{key}' must be a field of view in (0, π) radians, got {a:g}")
        f = 0.5 * side / math.tan(0.5 * a)
        fx, fy = (f, fy) if key.endswith("x") else (fx, f)
    fx = fy if fx is None else fx
    fy = fx if fy is None else fy
    if fx is None:
        raise _Bad("no focal length ('fl_x' or 'camera_angle_x')")
    if not (fx > 0 and fy > 0):
        raise _Bad(f"focal lengths must be positive (fl_x {fx:g}, fl_y {fy:g})")
    cx = w / 2 if spec.get("cx") is None else spec["cx"]
    cy = h / 2 if spec.get("cy") is None else spec["cy"]
    return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=np.float64)


def read_transforms(path) -> Capture:
    """A nerfstudio / instant-ngp ``transforms.json`` (see module docstring)."""
    path = Path(path)
    try:
        meta = json.loads(path.read_text(encoding="utf-8-sig"))   # (a BOM, as Windows tools write)
    except (OSError, ValueError, RecursionError) as exc:   # ValueError: JSON and Unicode errors
        raise UserError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("frames"), list) or not meta["frames"]:
        raise UserError(f"{path}: no 'frames' list (not a nerfstudio / instant-ngp transforms.json)")
    root = path.parent
    cap = Capture(source=path, kind="transforms", views=[])
    taken: set = set()
    seen: dict = {}
    for i, fr in enumerate(meta["frames"]):
        if not isinstance(fr, dict) or "file_path" not in fr or "transform_matrix" not in fr:
            cap.problem(f"frame {i}", "no 'file_path' or 'transform_matrix'")
            continue
        who = f"frame {i} ({''.join(c if c.isprintable() else '?' for c in str(fr['file_path'])[:80])})"
        try:
            v = _transforms_view(fr, meta, root, taken)
        except _Bad as exc:
            cap.problem(who, str(exc))
            continue
        key = os.path.normpath(os.path.abspath(v.image_path))
        if key in seen:
            cap.problem(who, f"the same image as frame {seen[key]} (listed twice)")
            continue
        seen[key] = i
        cap.views.append(v)
    try:
        scale = _num(meta.get, "scale", NGP_SCALE)
        off = np.broadcast_to(np.asarray(meta.get("offset", NGP_OFFSET), dtype=np.float64), (3,))
        if "aabb_scale" in meta:
            aabb_scale = _num(meta.get, "aabb_scale")
            if not (aabb_scale > 0 and scale > 0 and np.all(np.isfinite(off))):
                raise _Bad("'aabb_scale' and 'scale' must be positive")
            # ngp space: x_ngp = x·scale + offset (after a cyclic axis permutation, irrelevant for a
            # cube centred on offset's image); the cube [0.5 ± aabb_scale/2]^3 in ngp space.
            cap.ngp_cube = ((0.5 - off) / scale, aabb_scale / (2.0 * scale))
            cap.notes.append(f"instant-ngp aabb_scale {meta['aabb_scale']}: the scene box is clipped to its cube")
    except (_Bad, TypeError, ValueError) as exc:
        cap.problem("aabb_scale / scale / offset", str(exc) if isinstance(exc, _Bad) else "expected numbers")
    if meta.get("scene_box") is not None:
        box = meta["scene_box"]
        box = box.get("aabb", box) if isinstance(box, dict) else box
        try:
            b = np.asarray(box, dtype=np.float64).reshape(2, 3)
            if not (np.all(np.isfinite(b)) and np.all(b[1] > b[0])):
                raise ValueError
            cap.scene_box = b
            cap.notes.append("nerfstudio scene_box: used as the scene box")
        except (TypeError, ValueError):
            cap.problem("scene_box", "expected [[x0,y0,z0],[x1,y1,z1]] (finite, max > min)")
    if meta.get("applied_transform") is not None:
        try:
            a = np.asarray(meta["applied_transform"], dtype=np.float64).reshape(3, 4)
            if not np.all(np.isfinite(a)):
                raise ValueError
            cap.applied_transform = np.vstack([a, [0, 0, 0, 1]])
            cap.notes.append("nerfstudio applied_transform: already in the poses; composed into scene_from_colmap")
        except (TypeError, ValueError):
            cap.problem("applied_transform", "expected a finite 3x4 matrix")
    applied_scale = 1.0
    if meta.get("applied_scale") is not None:
        try:
            applied_scale = _num(meta.get, "applied_scale")
            if not applied_scale > 0:
                raise _Bad("'applied_scale' must be positive")
            cap.applied_scale = applied_scale
            cap.notes.append(f"nerfstudio applied_scale {applied_scale:g}: already in the poses"
                             + ("; applied to the ply points" if meta.get("ply_file_path") else "")
                             + ("; applied to the depth" if any(v.depth_path for v in cap.views) else ""))
        except _Bad as exc:
            cap.problem("applied_scale", str(exc))
    if meta.get("ply_file_path"):
        ply = root / str(meta["ply_file_path"])
        cap.points = _read_ply_points(ply, cap)
        if cap.points is not None:
            cap.points = cap.points * applied_scale  # nerfstudio scales the ply by it at load
    n = sum(1 for fr in meta["frames"] if isinstance(fr, dict) and fr.get("mask_path"))
    if n:
        cap.notes.append(f"mask_path ({n} frames): masks are not used: every pixel is trained")
    if any(abs(x) > 0 for v in cap.views for x in v.dist):
        cap.notes.append("lens distortion: images undistorted with OpenCV at import")
    return cap


def _read_ply_points(path: Path, cap: Capture) -> np.ndarray | None:
    try:
        import open3d as o3d  # heavy (~1 s to import): only for a capture's .ply points
    except ImportError:  # pragma: no cover - open3d-cpu is pinned
        cap.problem(f"ply_file_path {path}", "open3d is needed to read it")
        return None
    if not _is_file(path):
        cap.problem(f"ply_file_path {path}", "file not found")
        return None
    pts = np.asarray(o3d.io.read_point_cloud(str(path)).points, dtype=np.float64)
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    return pts if len(pts) else None


_COLMAP_MODELS = {  # model name -> (fx, fy, cx, cy, dist) from params
    "SIMPLE_PINHOLE": lambda p: (p[0], p[0], p[1], p[2], []),
    "PINHOLE": lambda p: (p[0], p[1], p[2], p[3], []),
    "SIMPLE_RADIAL": lambda p: (p[0], p[0], p[1], p[2], [p[3], 0, 0, 0]),
    "RADIAL": lambda p: (p[0], p[0], p[1], p[2], [p[3], p[4], 0, 0]),
    "OPENCV": lambda p: (p[0], p[1], p[2], p[3], list(p[4:8])),
    "FULL_OPENCV": lambda p: (p[0], p[1], p[2], p[3], [p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11]]),
    "OPENCV_FISHEYE": lambda p: (p[0], p[1], p[2], p[3], list(p[4:8])),
    # COLMAP's radial fisheye models are OpenCV's fisheye model (θ_d = θ(1 + k1θ² + k2θ⁴)) with k3 = k4 = 0
    "SIMPLE_RADIAL_FISHEYE": lambda p: (p[0], p[0], p[1], p[2], [p[3], 0, 0, 0]),
    "RADIAL_FISHEYE": lambda p: (p[0], p[0], p[1], p[2], [p[3], p[4], 0, 0]),
}
_COLMAP_FISHEYE = ("OPENCV_FISHEYE", "SIMPLE_RADIAL_FISHEYE", "RADIAL_FISHEYE")


def read_colmap(model_dir, images_dir) -> Capture:
    """A COLMAP sparse model (``cameras``, ``images``, ``points3D`` as .bin or .txt) read with
    pycolmap; images from ``images_dir``."""
    import pycolmap  # optional heavy dependency: only COLMAP input

    model_dir, images_dir = Path(model_dir), Path(images_dir)
    damaged = check_binary_model(model_dir)   # pycolmap loops forever on a truncated points3D.bin
    if damaged:
        raise UserError(f"{model_dir}: not a readable COLMAP sparse model ({'; '.join(damaged)})")
    try:
        rec = pycolmap.Reconstruction(str(model_dir))
    except Exception as exc:  # pycolmap raises its own types on unreadable models
        missing = [n for n in ("cameras", "images", "points3D")
                   if not any((model_dir / f"{n}.{ext}").is_file() for ext in ("bin", "txt"))]
        why = f"no {', '.join(n + '.bin/.txt' for n in missing)}" if missing else str(exc).splitlines()[0]
        raise UserError(f"{model_dir}: not a readable COLMAP sparse model ({why})") from None
    cap = Capture(source=model_dir, kind="colmap", views=[])
    taken: set = set()
    unregistered = 0
    for img in sorted(rec.images.values(), key=lambda im: im.name):
        if not img.has_pose:
            unregistered += 1
            continue
        cam = rec.cameras[img.camera_id]
        model = cam.model.name if hasattr(cam.model, "name") else str(cam.model)
        if model not in _COLMAP_MODELS:
            cap.problem(f"image {img.name}", f"camera model {model} is not supported ({', '.join(_COLMAP_MODELS)})")
            continue
        fx, fy, cx, cy, dist = _COLMAP_MODELS[model](list(cam.params))
        K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=np.float64)
        cfw = img.cam_from_world() if callable(img.cam_from_world) else img.cam_from_world
        w2c = np.vstack([np.asarray(cfw.matrix(), dtype=np.float64), [0, 0, 0, 1]])
        cap.views.append(CaptureView(_name(img.name, taken), images_dir / img.name, K,
                                     np.asarray(dist, dtype=np.float64), model in _COLMAP_FISHEYE,
                                     np.linalg.inv(w2c), int(cam.width), int(cam.height)))
    if unregistered:
        cap.notes.append(f"{unregistered} image(s) of the model have no pose (not registered by COLMAP): skipped")
    listed = {img.name for img in rec.images.values()}
    if images_dir.is_dir():
        extra = sum(1 for q in images_dir.rglob("*") if q.suffix in _IMAGE_EXTS
                    and q.relative_to(images_dir).as_posix() not in listed)
        if extra:
            cap.notes.append(f"{extra} image(s) in {images_dir} are not in the COLMAP model: ignored")
    if rec.num_points3D() > 0:
        cap.points = np.stack([p.xyz for p in rec.points3D.values()]).astype(np.float64)
    if any(np.any(v.dist != 0) for v in cap.views):
        cap.notes.append("lens distortion: images undistorted with OpenCV at import")
    return cap


def load_capture(src, images=None) -> Capture:
    """``src``: a transforms.json, a directory holding one, or a COLMAP model directory (or a
    directory with ``sparse/0``); ``images``: the COLMAP images directory (default: the first
    ``images/`` beside or above the model: ``project/images`` for ``project/sparse/0``)."""
    src = Path(src).expanduser()
    if src.is_file() or (src / "transforms.json").is_file():
        if images is not None:
            raise UserError("--images is for COLMAP models only (a transforms.json names its images)")
        return read_transforms(src if src.is_file() else src / "transforms.json")
    if not src.is_dir():
        raise UserError(f"capture not found: {src}")
    for model in (src, src / "sparse" / "0", src / "sparse", src / "colmap" / "sparse" / "0"):
        if any((model / f"cameras.{ext}").is_file() for ext in ("bin", "txt")):
            up = model.parent.parent if model.name.isdigit() else model.parent if model.name == "sparse" else model
            cands = [d / "images" for d in (model, up, src)]   # COLMAP's project/{images, sparse/0}
            default = next((d for d in cands if d.is_dir()), src / "images")
            cap = read_colmap(model, Path(images).expanduser() if images else default)
            others = sorted(d.name for d in model.parent.iterdir() if d.is_dir() and d != model
                            and d.name.isdigit()) if model.name.isdigit() else []
            if others:
                cap.notes.append(f"{model.parent} holds other models ({', '.join(others)}): using {model.name} "
                                 "(give another as the capture)")
            return cap
    splits = sorted(p.name for p in src.glob("transforms_*.json"))
    if splits:
        raise UserError(f"{src}: no transforms.json; give one of {', '.join(splits)} "
                        f"(e.g. ovnerf import {src / splits[-1]})")
    raise UserError(f"{src}: no transforms.json and no COLMAP model (cameras.bin/.txt) found")


# ---------------------------------------------------------------------- validation
MAX_LISTED = 6         # names shown per kind of problem
MAPS_KEPT = 4          # undistortion maps kept at once (two float32 images each)
MAX_LINES = 30         # kinds of problem shown
EXIF_ORIENTATION = 0x0112


def _pil():
    """PIL.Image, its decompression-bomb limit raised to our own (``MAX_SIDE`` a side, checked)."""
    from PIL import Image  # the limit is set on first use, not at import (it is PIL's global)
    Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS or 0, MAX_SIDE * MAX_SIDE)
    return Image


def _image_header(path: Path) -> tuple[tuple[int, int], int]:
    """((w, h), EXIF orientation) from the file header (no pixels decoded); _Bad when unreadable."""
    Image = _pil()
    try:
        with Image.open(path) as im:
            return im.size, int(im.getexif().get(EXIF_ORIENTATION, 1) or 1)
    except Exception as exc:  # noqa: BLE001 - any decoder error means "unreadable"
        raise _Bad(f"not a readable image ({type(exc).__name__})") from None


def read_rgb(path: Path) -> tuple[np.ndarray, bool]:
    """(H×W×3 uint8 RGB, had alpha) of an image file, pixels in stored order (EXIF orientation not
    applied: COLMAP and nerfstudio compute intrinsics on the stored pixels). Grey → RGB; 16-bit →
    8-bit (÷257); alpha composited onto white (NeRF-synthetic's convention). _Bad when the file
    does not decode completely (a truncated file too)."""
    Image = _pil()
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode.startswith("I;16") or mode == "I":
                arr = np.asarray(im).astype(np.float32) / 257.0
                return np.repeat(np.clip(arr + 0.5, 0, 255).astype(np.uint8)[..., None], 3, -1), False
            if mode == "F":
                raise _Bad("floating-point images are not supported (8- or 16-bit)")
            alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info)
            arr = np.asarray(im.convert("RGBA" if alpha else "RGB"))
    except _Bad:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder error: truncated, corrupt, unsupported
        raise _Bad(f"not a readable image ({type(exc).__name__}: {str(exc)[:80]})") from None
    if alpha:
        a = arr[..., 3:].astype(np.float32) / 255.0
        arr = np.clip(arr[..., :3] * a + 255.0 * (1.0 - a) + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr), alpha


_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F", "L")


def _depth_header(path: Path) -> tuple[int, int]:
    """(w, h) of a depth image (single-channel PNG/TIFF, 8/16/32 bit) or ``.npy`` (H×W) from its
    header; _Bad when unreadable or not single-channel."""
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 - any reader error means "unreadable"
            raise _Bad(f"not a readable depth .npy ({type(exc).__name__})") from None
        shape = arr.shape[:2] if arr.ndim == 3 and arr.shape[2] == 1 else arr.shape
        if len(shape) != 2 or arr.dtype.kind not in "uif":
            raise _Bad(f"depth .npy must be a numeric HxW array, got {arr.dtype} {arr.shape}")
        return int(shape[1]), int(shape[0])
    try:
        with _pil().open(path) as im:
            size, mode = im.size, im.mode
    except Exception as exc:  # noqa: BLE001
        raise _Bad(f"not a readable depth image ({type(exc).__name__})") from None
    if mode not in _DEPTH_MODES:
        raise _Bad(f"depth image must be single-channel (16-bit PNG), got mode {mode}")
    return size


def read_depth(path: Path, scale: float) -> np.ndarray:
    """float32 H×W z-depth = stored value × ``scale`` (nerfstudio: PNG or ``.npy``, metres = value ×
    depth_unit_scale_factor); 0, NaN, ±inf and negative values → 0 (unknown). _Bad when unreadable."""
    try:
        if path.suffix.lower() == ".npy":
            d = np.load(path, allow_pickle=False)
        else:
            d = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    except Exception as exc:  # noqa: BLE001 - any decoder error: truncated, corrupt
        raise _Bad(f"not a readable depth image ({type(exc).__name__})") from None
    if d is None:
        raise _Bad("not a readable depth image")
    d = d[..., 0] if d.ndim == 3 and d.shape[2] == 1 else d
    if d.ndim != 2 or d.dtype.kind not in "uif":
        raise _Bad(f"depth must be a single-channel image, got {d.dtype} {d.shape}")
    with np.errstate(all="ignore"):
        z = d.astype(np.float64) * scale
    z[~np.isfinite(z) | (z <= 0)] = 0.0
    return z.astype(np.float32)


def downscale_depth(z: np.ndarray, w2: int, h2: int) -> np.ndarray:
    """Depth at w2×h2 without blending across depth edges: when the size divides exactly, each
    output pixel is the nearest (minimum) known depth of its block (0 when none is known), else
    nearest-neighbour resampling."""
    h, w = z.shape
    if h % h2 or w % w2:
        return cv2.resize(z, (w2, h2), interpolation=cv2.INTER_NEAREST)
    b = z.reshape(h2, h // h2, w2, w // w2)
    m = np.where(b > 0, b, np.inf).min(axis=(1, 3))
    return np.where(np.isfinite(m), m, 0.0).astype(np.float32)


def problem_report(source, problems: list[tuple[str, str]]) -> UserError:
    """One UserError listing every problem; problems of the same reason share a line."""
    groups: dict[str, list[str]] = {}
    for who, reason in problems:
        who = who if len(who) <= 160 else f"{who[:60]}…{who[-90:]}"   # a path of any length stays readable
        groups.setdefault(reason, []).append(who)
    lines = []
    for reason, whos in groups.items():
        if len(whos) == 1:
            lines.append(f"{whos[0]}: {reason}")
        else:
            more = f", … ({len(whos) - MAX_LISTED} more)" if len(whos) > MAX_LISTED else ""
            lines.append(f"{reason} ({len(whos)}): {', '.join(whos[:MAX_LISTED])}{more}")
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES] + [f"… and {len(lines) - MAX_LINES} more kinds of problem"]
    head = f"{len(problems)} problem(s) in {source} (nothing was imported):"
    return UserError(head + "".join(f"\n  - {line}" for line in lines))


def _header_or_problem(path: Path, header, missing: str, problems: list):
    """``header(path)``, or None with the problem (file missing / unreadable) added to ``problems``."""
    if not _is_file(path):
        problems.append((str(path), missing))
        return None
    try:
        return header(path)
    except _Bad as exc:
        problems.append((str(path), str(exc)))
        return None


def validate(cap: Capture, aabb=None) -> None:
    """Check every view before any compute (image present, header readable, size = intrinsics,
    focal lengths, rigid poses, camera motion); one UserError listing every problem. Fills in
    sizes and K that the capture left to the images (``w``/``h`` absent)."""
    problems = list(cap.problems)
    good, exif, lenses = [], 0, {}
    for v in cap.views:
        hint = " (the folder COLMAP read is given with --images)" if cap.kind == "colmap" else ""
        header = _header_or_problem(v.image_path, _image_header, "image missing" + hint, problems)
        if header is None:
            continue
        size, orient = header
        exif += orient != 1
        if v.w is None or v.h is None:
            v.w, v.h = size
        elif size != (v.w, v.h):
            hint = ""
            if orient in (5, 6, 7, 8) and size == (v.h, v.w):
                hint = (f" (EXIF orientation {orient}: the intrinsics are of the rotated image; we use pixels "
                        "in stored order, as COLMAP and nerfstudio do)")
            elif v.w % size[0] == 0 and v.w // size[0] == v.h // size[1] > 1 and v.h % size[1] == 0:
                hint = (f" (images {v.w // size[0]}x smaller than the intrinsics: import the full-size images, "
                        f"with --downscale {v.w // size[0]} if wanted)")
            problems.append((v.name, f"image is {size[0]}x{size[1]}, the intrinsics say {v.w}x{v.h}{hint}"))
            continue
        if max(v.w, v.h) > MAX_SIDE:
            problems.append((v.name, f"image is {v.w}x{v.h}: more than {MAX_SIDE} pixels a side"))
            continue
        try:
            if v.K is None:
                v.K = pinhole_from_spec(v.spec or {}, v.w, v.h)
            check_intrinsics(v.K, v.h, v.w, what="intrinsics")
        except (_Bad, UserError) as exc:
            problems.append((v.name, str(exc)))
            continue
        if v.depth_path is not None:
            header = _header_or_problem(v.depth_path, _depth_header, "depth image missing", problems)
            if header is None:
                continue
            dw, dh = header
            if dw * v.h != dh * v.w:   # another size of the same aspect is resized (nearest), as nerfstudio does
                problems.append((v.name, f"depth image is {dw}x{dh}, the image {v.w}x{v.h} (not registered to it)"))
                continue
        if np.any(v.dist != 0):
            key = (v.K.tobytes(), v.dist.tobytes(), v.fisheye, v.w, v.h)
            if key not in lenses:
                try:
                    undistorted_camera(v.K, v.dist, v.fisheye, v.w, v.h)
                    lenses[key] = None
                except _Bad as exc:
                    lenses[key] = str(exc)
            if lenses[key] is not None:
                problems.append((v.name, lenses[key]))
                continue
        if not np.all(np.isfinite(v.c2w)):
            problems.append((v.name, "the pose holds NaN or infinite values"))
            continue
        R = v.c2w[:3, :3]
        if np.abs(R.T @ R - np.eye(3)).max() > 1e-2:
            problems.append((v.name, "the pose's rotation is not orthonormal (a scaled or sheared transform_matrix)"))
            continue
        if np.linalg.det(R) < 0:
            problems.append((v.name, "the pose's rotation is a reflection (determinant -1)"))
            continue
        good.append(v)
    if exif:
        cap.notes.append(f"EXIF orientation tags ignored on {exif} image(s): pixels are used in stored order, "
                         "as COLMAP and nerfstudio do")
    if not problems and len(good) < 2:
        problems.append(("frames", f"need at least 2 frames with a pose, found {len(good)}"))
    if len(good) >= 2:   # a position off by more than MAX_COORD from the others is a broken pose
        c = np.stack([v.c2w[:3, 3] for v in good])
        with np.errstate(over="ignore", invalid="ignore"):
            far = ~(np.linalg.norm(c - np.median(c, axis=0), axis=1) <= MAX_COORD)
        problems += [(v.name, f"the camera is more than {MAX_COORD:.0e} m from the others' median")
                     for v, f in zip(good, far) if f]
        good = [v for v, f in zip(good, far) if not f]
    if len(good) >= 2 and aabb is None and not problems:
        c = np.stack([v.c2w[:3, 3] for v in good])
        spread = float(np.linalg.norm(c - c.mean(0), axis=1).max())
        scene = 0.0   # the sparse points' extent, when there are any: a rotation-only SfM has noise spread
        if cap.points is not None and len(cap.points) >= 8:
            scene = float(np.linalg.norm(np.percentile(cap.points, 99, 0) - np.percentile(cap.points, 1, 0)))
        if spread <= max(1e-9 * max(1.0, float(np.abs(c).max())), 1e-3 * scene):
            problems.append(("poses", f"all {len(good)} cameras are at one point: no parallax to recover geometry "
                                      "from (give --aabb to import a rotation-only capture anyway)"))
    if problems:
        raise problem_report(cap.source, problems)


# ---------------------------------------------------------------------- geometry
def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation taking unit vector a to unit vector b (Rodrigues)."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    v, c = np.cross(a, b), float(a @ b)
    if c < -1 + 1e-9:  # opposite: rotate π about any axis ⟂ a
        axis = np.cross(a, [1.0, 0, 0]) if abs(a[0]) < 0.9 else np.cross(a, [0, 1.0, 0])
        axis /= np.linalg.norm(axis)
        return 2 * np.outer(axis, axis) - np.eye(3)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


def orientation(c2ws: np.ndarray) -> np.ndarray:
    """4×4 rigid transform (nerfstudio's "up" orientation + "poses" centring): the mean camera up
    vector (−y of OpenCV cameras) → +z, the mean camera centre → origin."""
    up = -c2ws[:, :3, 1].mean(0)
    if np.linalg.norm(up) < 1e-6:
        up = np.array([0.0, 0.0, 1.0])
    R = _rotation_between(up, np.array([0.0, 0.0, 1.0]))
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = -R @ c2ws[:, :3, 3].mean(0)
    return T


def apply_transform(T: np.ndarray, c2ws: np.ndarray) -> np.ndarray:
    return np.einsum("ij,njk->nik", T, c2ws)


def _box_corners(lo, hi) -> np.ndarray:
    return np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])


def _transform_box(T: np.ndarray, lo, hi) -> tuple[np.ndarray, np.ndarray]:
    c = _box_corners(lo, hi) @ T[:3, :3].T + T[:3, 3]
    return c.min(0), c.max(0)


def capture_bounds(cap: Capture, T: np.ndarray, c2ws: np.ndarray, aabb=None) -> tuple[np.ndarray, np.ndarray, str]:
    """(min, max, how) of the scene box in the imported frame (see module docstring, step 5)."""
    if aabb is not None:
        lo, hi, how = np.asarray(aabb[0], float), np.asarray(aabb[1], float), "--aabb"
    elif cap.points is not None and len(cap.points) >= 8:
        p = cap.points @ T[:3, :3].T + T[:3, 3]
        lo, hi = np.percentile(p, 1, axis=0), np.percentile(p, 99, axis=0)
        size = np.maximum(hi - lo, 1e-3)
        lo, hi, how = lo - 0.05 * size, hi + 0.05 * size, f"sparse points ({len(p)})"
    elif cap.scene_box is not None:
        lo, hi = _transform_box(T, *cap.scene_box)
        how = "nerfstudio scene_box"
    else:
        Ks = np.stack([v.K for v in cap.views])
        sizes = np.array([[v.w, v.h] for v in cap.views], dtype=np.float64)
        lo, hi = view_ray_bounds(c2ws, Ks, sizes)
        how = "view rays (region the cameras look at)"
    if cap.ngp_cube is not None and aabb is None:
        centre, half = cap.ngp_cube
        clo, chi = _transform_box(T, centre - half, centre + half)
        nlo, nhi = np.maximum(lo, clo), np.minimum(hi, chi)
        if np.all(nhi > nlo):
            if np.any(nlo > lo) or np.any(nhi < hi):
                how += ", clipped to the aabb_scale cube"
            lo, hi = nlo, nhi
        else:
            lo, hi, how = clo, chi, "aabb_scale cube (the estimated box lies outside it)"
    return lo, hi, how


# ---------------------------------------------------------------------- undistortion
def undistorted_camera(K: np.ndarray, dist: np.ndarray, fisheye: bool, w: int, h: int) -> np.ndarray:
    """K_new (OpenCV's pixel convention) of the pinhole image whose every pixel is valid (alpha /
    balance 0); _Bad when the coefficients do not describe a lens over this image: on a 17×17 grid
    of output pixels the source positions must be finite, inside the image (±1 px) and in order
    (no fold), K_new's focal lengths within 8x of K's — absurd coefficients would otherwise give a
    smeared or mirrored image silently."""
    Kc = K.copy()
    Kc[:2, 2] -= 0.5
    if fisheye:
        Kn = cv2.fisheye.estimateNewCameraMatrixForUndistortRectify(Kc, dist[:4], (w, h), np.eye(3), balance=0.0)
    else:
        Kn, _ = cv2.getOptimalNewCameraMatrix(Kc, dist, (w, h), 0, (w, h))
    Kn = np.array(Kn, dtype=np.float64)
    bad = _Bad(f"the distortion coefficients {np.round(dist, 6).tolist()} do not describe a lens over this "
               f"{w}x{h} image (undistorting it would fold or leave the image)")
    if not (np.all(np.isfinite(Kn)) and 1 / 8 < Kn[0, 0] / K[0, 0] < 8 and 1 / 8 < Kn[1, 1] / K[1, 1] < 8):
        raise bad   # (a focal length 8x off: the image would shrink to a few pixels or blow up)
    u, v = np.meshgrid(np.linspace(0, w - 1, 17), np.linspace(0, h - 1, 17))
    xy = np.stack([(u - Kn[0, 2]) / Kn[0, 0], (v - Kn[1, 2]) / Kn[1, 1]], -1).reshape(-1, 1, 2)
    with np.errstate(all="ignore"):
        if fisheye:
            src = cv2.fisheye.distortPoints(xy, Kc, dist[:4])
        else:
            pts = np.concatenate([xy.reshape(-1, 2), np.ones((xy.shape[0], 1))], 1)
            src = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), Kc, dist)[0]
        src = np.asarray(src, dtype=np.float64).reshape(17, 17, 2)
        ok = (np.all(np.isfinite(src)) and src[..., 0].min() >= -1.5 and src[..., 0].max() <= w + 0.5
              and src[..., 1].min() >= -1.5 and src[..., 1].max() <= h + 0.5
              and np.all(np.diff(src[..., 0], axis=1) > 0) and np.all(np.diff(src[..., 1], axis=0) > 0))
    if not ok:
        raise bad
    return Kn


def undistort_maps(K: np.ndarray, dist: np.ndarray, fisheye: bool, w: int, h: int):
    """(map_x, map_y, K_new) for ``cv2.remap``: the distorted image → a pinhole image of the same
    size whose every pixel is valid (:func:`undistorted_camera`). K_new uses our pixel-centre
    convention."""
    Kc = K.copy()
    Kc[:2, 2] -= 0.5
    Kn = undistorted_camera(K, dist, fisheye, w, h)
    if fisheye:
        mx, my = cv2.fisheye.initUndistortRectifyMap(Kc, dist[:4], np.eye(3), Kn, (w, h), cv2.CV_32FC1)
    else:
        mx, my = cv2.initUndistortRectifyMap(Kc, dist, None, Kn, (w, h), cv2.CV_32FC1)
    Kn = Kn.copy()
    Kn[:2, 2] += 0.5
    return mx, my, Kn


# ---------------------------------------------------------------------- import
def _signature(cap: Capture, downscale: int, aabb, orient: bool, depth_unit_scale: float) -> str:
    h = hashlib.sha256()
    src = cap.source if cap.source.is_file() else None
    h.update(src.read_bytes() if src is not None else str(cap.source).encode())
    h.update(json.dumps([downscale, None if aabb is None else np.asarray(aabb, float).tolist(), orient]).encode())
    if any(v.depth_path for v in cap.views):
        h.update(f"depth unit {depth_unit_scale!r}".encode())
    for v in cap.views:
        st = v.image_path.stat()
        h.update(f"{v.name}|{v.image_path}|{st.st_size}|{st.st_mtime_ns}|{v.K.tolist()}|{v.dist.tolist()}|"
                 f"{v.c2w.tolist()}".encode())
        if v.depth_path is not None:
            sd = v.depth_path.stat()
            h.update(f"|{v.depth_path}|{sd.st_size}|{sd.st_mtime_ns}".encode())
    return h.hexdigest()


@dataclass
class ImportReport:
    scene_dir: Path
    frames: int
    size: tuple[int, int]
    aabb: tuple[np.ndarray, np.ndarray]
    bounds_from: str
    reused: bool
    notes: list[str]
    depth: dict | None = None   # {"frames", "unit_scale", "median_m"} when depth was imported


def import_capture(src, scene_dir, downscale: int = 1, aabb=None, orient: bool = True, images=None,
                   progress: Callable[[int, int], None] | None = None,
                   depth_unit_scale: float = DEPTH_UNIT_SCALE) -> ImportReport:
    """Import the capture at ``src`` into ``scene_dir`` (see module docstring). Re-importing with
    the same inputs reuses the scene (nothing is recomputed). ``depth_unit_scale``: metres per
    stored depth unit (nerfstudio's ``depth_unit_scale_factor``, default 1e-3: millimetres)."""
    if int(downscale) != downscale or downscale < 1:
        raise UserError(f"--downscale must be an integer ≥ 1, got {downscale}")
    downscale = int(downscale)
    if not (isinstance(depth_unit_scale, (int, float)) and math.isfinite(depth_unit_scale) and depth_unit_scale > 0):
        raise UserError(f"--depth-unit-scale must be a positive number (metres per unit), got {depth_unit_scale}")
    cap = load_capture(src, images)
    validate(cap, aabb)
    scene_dir = Path(scene_dir)
    sig = _signature(cap, downscale, aabb, orient, float(depth_unit_scale))
    replace = False
    if (scene_dir / "transforms.json").is_file():
        old = SceneStore(scene_dir, create=False)
        info = old.meta.get("ovnerf_import")
        if info is None:
            raise UserError(f"{scene_dir} holds a scene that was not imported by `ovnerf import`; "
                            "choose another workspace")
        if info.get("signature") == sig and len(old) == len(cap.views):
            lo, hi = old.aabb()
            _, H, W = old.intrinsics(old.names()[0])
            return ImportReport(scene_dir, len(old), (W, H), (lo, hi), info.get("bounds_from", "?"), True,
                                list(info.get("notes", [])), info.get("depth"))
        replace = True   # an import of other inputs: replaced once the new one is complete
    c2ws = np.stack([v.c2w for v in cap.views])
    T = orientation(c2ws) if orient else np.eye(4)
    c2ws = apply_transform(T, c2ws)
    lo, hi, how = capture_bounds(cap, T, c2ws, aabb)
    tmp = scene_dir.with_name(scene_dir.name + ".importing")
    if tmp.exists():
        shutil.rmtree(tmp)
    store = SceneStore(tmp, create=True)
    maps: dict = {}
    decode: list[tuple[str, str]] = []
    alpha = 0
    medians: list[float] = []
    for k, v in enumerate(cap.views):
        z = None
        try:
            img, had_alpha = read_rgb(v.image_path)
        except _Bad as exc:  # header fine, pixels not (e.g. a truncated file): list them all
            decode.append((str(v.image_path), str(exc)))
            img, had_alpha = None, False
        if v.depth_path is not None:
            try:   # scene units: the poses carry applied_scale (ours keep the scale: nothing more)
                z = read_depth(v.depth_path, depth_unit_scale * cap.applied_scale)
            except _Bad as exc:
                decode.append((str(v.depth_path), str(exc)))
        alpha += had_alpha
        if decode:
            continue
        if z is not None and z.shape != (v.h, v.w):   # same aspect (checked): nerfstudio's nearest resize
            z = cv2.resize(z, (v.w, v.h), interpolation=cv2.INTER_NEAREST)
        K = v.K
        if np.any(v.dist != 0):
            key = (v.K.tobytes(), v.dist.tobytes(), v.fisheye, v.w, v.h)
            if key not in maps:
                if len(maps) >= MAPS_KEPT:   # COLMAP's default is one camera per image: keep a few maps
                    maps.pop(next(iter(maps)))
                maps[key] = undistort_maps(v.K, v.dist, v.fisheye, v.w, v.h)
            mx, my, K = maps[key]
            img = cv2.remap(img, mx, my, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            if z is not None:   # the same map; nearest: depths are never blended across an edge
                z = cv2.remap(z, mx, my, interpolation=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=0)
        if downscale > 1:
            w2, h2 = max(1, round(v.w / downscale)), max(1, round(v.h / downscale))
            img = cv2.resize(img, (w2, h2), interpolation=cv2.INTER_AREA)
            K = np.diag([w2 / v.w, h2 / v.h, 1.0]) @ K
            z = None if z is None else downscale_depth(z, w2, h2)
        if z is not None and np.any(z > 0):
            medians.append(float(np.median(z[z > 0])) / cap.applied_scale)
        store.add_frame(PosedFrame(v.name, np.ascontiguousarray(img), K, c2ws[k], float(k), depth=z))
        if progress is not None:
            progress(k + 1, len(cap.views))
    if decode:
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise problem_report(cap.source, decode)
    if alpha:
        cap.notes.append(f"{alpha} image(s) with alpha: composited onto white")
    depth = None
    n_depth = sum(1 for v in cap.views if v.depth_path is not None)
    if n_depth:
        med = float(np.median(medians)) if medians else 0.0
        depth = {"frames": n_depth, "unit_scale": float(depth_unit_scale), "median_m": med}
        if not 0.05 <= med <= 200:
            cap.notes.append(f"median depth {med:.4g} m: check --depth-unit-scale (metres per stored unit, "
                             f"now {depth_unit_scale:g})")
    scene_from_source = T
    record = {"source": str(cap.source), "kind": cap.kind, "signature": sig, "downscale": downscale,
              "oriented": bool(orient), "scene_from_source": scene_from_source.tolist(),
              "bounds_from": how, "notes": cap.notes, "depth": depth}
    if cap.applied_transform is not None:
        record["scene_from_colmap"] = (scene_from_source @ cap.applied_transform).tolist()
    store.meta["ovnerf_import"] = record
    store.set_aabb(lo, hi)
    store.close()
    if replace:
        for p in ("images", "depth", "transforms.json", "frames.jsonl"):   # all an import writes
            q = scene_dir / p
            if q.is_dir():
                shutil.rmtree(q)
            elif q.exists():
                q.unlink()
    if scene_dir.exists():
        scene_dir.rmdir() if not any(scene_dir.iterdir()) else None
    scene_dir.parent.mkdir(parents=True, exist_ok=True)
    if scene_dir.exists():  # left-overs (e.g. depth/) of nothing we know: keep them beside
        for p in tmp.iterdir():
            p.rename(scene_dir / p.name)
        tmp.rmdir()
    else:
        tmp.rename(scene_dir)
    first = SceneStore(scene_dir, create=False)
    _, H, W = first.intrinsics(first.names()[0])
    return ImportReport(scene_dir, len(cap.views), (W, H), (lo, hi), how, False, cap.notes, depth)
