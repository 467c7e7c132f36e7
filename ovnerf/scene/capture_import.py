"""Import a user's posed capture (nerfstudio / instant-ngp ``transforms.json``, or a COLMAP sparse
model) into a scene directory of our layout (:class:`~ovnerf.scene.store.SceneStore`), once.

Steps (``import_capture``), in this order:

1. **read** the capture: :func:`read_transforms` (nerfstudio and instant-ngp share the format:
   global or per-frame ``fl_x, fl_y, cx, cy, w, h`` or ``camera_angle_x``, distortion ``k1, k2,
   p1, p2[, k3]`` (``camera_model`` OPENCV, default) or ``k1..k4`` (OPENCV_FISHEYE),
   ``transform_matrix`` = OpenGL camera-to-world) or :func:`read_colmap` (``cameras``,
   ``images``, ``points3D`` .bin/.txt through **pycolmap**; PINHOLE / SIMPLE_PINHOLE /
   SIMPLE_RADIAL / RADIAL / OPENCV / FULL_OPENCV / OPENCV_FISHEYE cameras);
2. **validate** every frame before any compute (:func:`validate`): missing or unreadable
   images, image sizes that differ from the intrinsics, bad poses or intrinsics — all problems
   listed in one error;
3. **orient and centre** (:func:`orientation`; nerfstudio's "up" method): the mean camera up
   vector becomes +z, the mean camera centre the origin; the scale is kept (metres stay metres);
4. **undistort** each image once with OpenCV (``initUndistortRectifyMap`` to the pinhole
   ``getOptimalNewCameraMatrix(alpha=0)``, so every output pixel is valid) and **downscale** it by
   ``downscale`` (``INTER_AREA``; the intrinsics scale by the same factor);
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
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ovnerf.errors import UserError
from ovnerf.scene.bounds import view_ray_bounds
from ovnerf.scene.conventions import opengl_to_opencv
from ovnerf.scene.frames import PosedFrame

log = logging.getLogger(__name__)

NGP_SCALE, NGP_OFFSET = 0.33, 0.5   # instant-ngp's defaults (nerf → ngp space: x·scale + offset)
_DIST_KEYS = ("k1", "k2", "p1", "p2", "k3")
_FISHEYE_KEYS = ("k1", "k2", "k3", "k4")


@dataclass
class CaptureView:
    name: str
    image_path: Path
    K: np.ndarray            # 3×3, pixel centres at u+0.5
    dist: np.ndarray         # OpenCV coefficients (k1,k2,p1,p2[,k3]) or fisheye (k1..k4)
    fisheye: bool
    c2w: np.ndarray          # 4×4 OpenCV convention, source world
    w: int | None
    h: int | None


@dataclass
class Capture:
    source: Path
    kind: str                                  # "transforms" | "colmap"
    views: list[CaptureView]
    points: np.ndarray | None = None           # (N,3) sparse points, source world
    scene_box: np.ndarray | None = None        # (2,3) nerfstudio scene_box, source world
    ngp_cube: tuple[np.ndarray, float] | None = None   # (centre (3,), half side) in source world
    applied_transform: np.ndarray | None = None
    problems: list[str] = field(default_factory=list)  # found while reading (reported by validate)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------- reading
def _name(path: str, taken: set) -> str:
    base = re.sub(r"[^A-Za-z0-9_.\-]", "_", Path(path).stem) or "frame"
    name, k = base, 1
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def read_transforms(path) -> Capture:
    """A nerfstudio / instant-ngp ``transforms.json`` (see module docstring)."""
    path = Path(path)
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("frames"), list) or not meta["frames"]:
        raise UserError(f"{path}: no 'frames' list (not a nerfstudio / instant-ngp transforms.json)")
    root = path.parent
    cap = Capture(source=path, kind="transforms", views=[])
    taken: set = set()
    model = str(meta.get("camera_model", "OPENCV")).upper()
    for i, fr in enumerate(meta["frames"]):
        if not isinstance(fr, dict) or "file_path" not in fr or "transform_matrix" not in fr:
            cap.problems.append(f"frame {i}: no 'file_path' or 'transform_matrix'")
            continue
        get = lambda k, d=None: fr.get(k, meta.get(k, d))  # noqa: E731 - per-frame keys win (nerfstudio)
        fmodel = str(get("camera_model", model)).upper()
        if fmodel not in ("OPENCV", "PINHOLE", "OPENCV_FISHEYE", "SIMPLE_PINHOLE"):
            cap.problems.append(f"frame {i}: camera_model {fmodel} is not supported (OPENCV, OPENCV_FISHEYE, PINHOLE)")
            continue
        w, h = get("w"), get("h")
        fx, fy = get("fl_x"), get("fl_y")
        if fx is None and get("camera_angle_x") is not None and w is not None:
            fx = 0.5 * float(w) / math.tan(0.5 * float(get("camera_angle_x")))
        if fy is None and get("camera_angle_y") is not None and h is not None:
            fy = 0.5 * float(h) / math.tan(0.5 * float(get("camera_angle_y")))
        fy = fx if fy is None else fy
        cx = get("cx", None if w is None else float(w) / 2)
        cy = get("cy", None if h is None else float(h) / 2)
        try:
            K = np.array([[float(fx), 0, float(cx)], [0, float(fy), float(cy)], [0, 0, 1]], dtype=np.float64)
        except (TypeError, ValueError):
            cap.problems.append(f"frame {i} ({fr['file_path']}): incomplete intrinsics (fl_x / camera_angle_x, "
                                "cx, cy, w, h)")
            continue
        fish = fmodel == "OPENCV_FISHEYE"
        dist = np.array([float(get(k, 0.0)) for k in (_FISHEYE_KEYS if fish else _DIST_KEYS)], dtype=np.float64)
        try:
            m = np.asarray(fr["transform_matrix"], dtype=np.float64)
            if m.shape == (3, 4):
                m = np.vstack([m, [0, 0, 0, 1]])
        except (TypeError, ValueError):
            m = np.zeros(0)
        if m.shape != (4, 4) or not np.all(np.isfinite(m)):
            cap.problems.append(f"frame {i} ({fr['file_path']}): invalid transform_matrix")
            continue
        p = Path(fr["file_path"])
        ipath = p if p.is_absolute() else root / p
        if not ipath.suffix and not ipath.exists():
            cands = sorted(ipath.parent.glob(ipath.name + ".*"))  # instant-ngp allows names without extension
            ipath = cands[0] if cands else ipath
        cap.views.append(CaptureView(_name(str(fr["file_path"]), taken), ipath, K, dist, fish,
                                     opengl_to_opencv(m), None if w is None else int(w),
                                     None if h is None else int(h)))
    if "aabb_scale" in meta:
        s = float(meta.get("scale", NGP_SCALE))
        off = np.broadcast_to(np.asarray(meta.get("offset", NGP_OFFSET), dtype=np.float64), (3,))
        # ngp space: x_ngp = x·scale + offset (after a cyclic axis permutation, irrelevant for a cube
        # centred on offset's image); the cube [0.5 ± aabb_scale/2]^3 in ngp space.
        cap.ngp_cube = ((0.5 - off) / s, float(meta["aabb_scale"]) / (2.0 * s))
        cap.notes.append(f"instant-ngp aabb_scale {meta['aabb_scale']}: the scene box is clipped to its cube")
    if meta.get("scene_box") is not None:
        box = meta["scene_box"]
        box = box.get("aabb", box) if isinstance(box, dict) else box
        try:
            b = np.asarray(box, dtype=np.float64).reshape(2, 3)
            cap.scene_box = b
            cap.notes.append("nerfstudio scene_box: used as the scene box")
        except (TypeError, ValueError):
            cap.problems.append("scene_box: expected [[x0,y0,z0],[x1,y1,z1]]")
    if meta.get("applied_transform") is not None:
        try:
            a = np.asarray(meta["applied_transform"], dtype=np.float64).reshape(3, 4)
            cap.applied_transform = np.vstack([a, [0, 0, 0, 1]])
            cap.notes.append("nerfstudio applied_transform: already in the poses; composed into scene_from_colmap")
        except (TypeError, ValueError):
            cap.problems.append("applied_transform: expected a 3x4 matrix")
    if meta.get("ply_file_path"):
        ply = root / meta["ply_file_path"]
        cap.points = _read_ply_points(ply, cap.problems)
    if any(abs(x) > 0 for v in cap.views for x in v.dist):
        cap.notes.append("lens distortion: images undistorted with OpenCV at import")
    return cap


def _read_ply_points(path: Path, problems: list) -> np.ndarray | None:
    try:
        import open3d as o3d
    except ImportError:  # pragma: no cover - open3d-cpu is pinned
        problems.append(f"ply_file_path {path}: open3d is needed to read it")
        return None
    if not path.is_file():
        problems.append(f"ply_file_path {path}: file not found")
        return None
    pts = np.asarray(o3d.io.read_point_cloud(str(path)).points, dtype=np.float64)
    return pts if len(pts) else None


_COLMAP_MODELS = {  # model name -> (fx, fy, cx, cy, dist) from params
    "SIMPLE_PINHOLE": lambda p: (p[0], p[0], p[1], p[2], []),
    "PINHOLE": lambda p: (p[0], p[1], p[2], p[3], []),
    "SIMPLE_RADIAL": lambda p: (p[0], p[0], p[1], p[2], [p[3], 0, 0, 0]),
    "RADIAL": lambda p: (p[0], p[0], p[1], p[2], [p[3], p[4], 0, 0]),
    "OPENCV": lambda p: (p[0], p[1], p[2], p[3], list(p[4:8])),
    "FULL_OPENCV": lambda p: (p[0], p[1], p[2], p[3], [p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11]]),
    "OPENCV_FISHEYE": lambda p: (p[0], p[1], p[2], p[3], list(p[4:8])),
}


def read_colmap(model_dir, images_dir) -> Capture:
    """A COLMAP sparse model (``cameras``, ``images``, ``points3D`` as .bin or .txt) read with
    pycolmap; images from ``images_dir``."""
    import pycolmap

    model_dir, images_dir = Path(model_dir), Path(images_dir)
    try:
        rec = pycolmap.Reconstruction(str(model_dir))
    except Exception as exc:  # pycolmap raises its own types on unreadable models
        raise UserError(f"{model_dir}: not a readable COLMAP sparse model ({str(exc).splitlines()[0]})") from None
    cap = Capture(source=model_dir, kind="colmap", views=[])
    taken: set = set()
    for img in sorted(rec.images.values(), key=lambda im: im.name):
        if not img.has_pose:
            cap.problems.append(f"image {img.name}: not registered (no pose)")
            continue
        cam = rec.cameras[img.camera_id]
        model = cam.model.name if hasattr(cam.model, "name") else str(cam.model)
        if model not in _COLMAP_MODELS:
            cap.problems.append(f"image {img.name}: camera model {model} not supported "
                                f"({', '.join(_COLMAP_MODELS)})")
            continue
        fx, fy, cx, cy, dist = _COLMAP_MODELS[model](list(cam.params))
        K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=np.float64)
        cfw = img.cam_from_world() if callable(img.cam_from_world) else img.cam_from_world
        w2c = np.vstack([np.asarray(cfw.matrix(), dtype=np.float64), [0, 0, 0, 1]])
        cap.views.append(CaptureView(_name(img.name, taken), images_dir / img.name, K,
                                     np.asarray(dist, dtype=np.float64), model == "OPENCV_FISHEYE",
                                     np.linalg.inv(w2c), int(cam.width), int(cam.height)))
    if rec.num_points3D() > 0:
        cap.points = np.stack([p.xyz for p in rec.points3D.values()]).astype(np.float64)
    if any(np.any(v.dist != 0) for v in cap.views):
        cap.notes.append("lens distortion: images undistorted with OpenCV at import")
    return cap


def load_capture(src, images=None) -> Capture:
    """``src``: a transforms.json, a directory holding one, or a COLMAP model directory (or a
    directory with ``sparse/0``); ``images``: the COLMAP images directory (default
    ``<capture>/images``)."""
    src = Path(src).expanduser()
    if src.is_file():
        return read_transforms(src)
    if not src.is_dir():
        raise UserError(f"capture not found: {src}")
    if (src / "transforms.json").is_file():
        return read_transforms(src / "transforms.json")
    for model in (src, src / "sparse" / "0", src / "sparse", src / "colmap" / "sparse" / "0"):
        if any((model / f"cameras.{ext}").is_file() for ext in ("bin", "txt")):
            base = src if model == src else model.parent.parent if model.name == "0" else model.parent
            return read_colmap(model, Path(images) if images else base / "images")
    raise UserError(f"{src}: no transforms.json and no COLMAP model (cameras.bin/.txt) found")


# ---------------------------------------------------------------------- validation
def _image_size(path: Path) -> tuple[int, int] | None:
    """(w, h) from the file header (PIL reads no pixels), None when unreadable."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            return im.size
    except Exception:  # noqa: BLE001 - any decoder error means "unreadable"
        return None


def validate(cap: Capture) -> None:
    """Check every view before any compute; one UserError listing every problem."""
    problems = list(cap.problems)
    if not cap.views and not problems:
        problems.append("no frames")
    for v in cap.views:
        if not v.image_path.is_file():
            problems.append(f"{v.name}: image missing: {v.image_path}")
            continue
        size = _image_size(v.image_path)
        if size is None:
            problems.append(f"{v.name}: not a readable image: {v.image_path}")
            continue
        if v.w is None or v.h is None:
            v.w, v.h = size
        elif size != (v.w, v.h):
            problems.append(f"{v.name}: image is {size[0]}x{size[1]}, the intrinsics say {v.w}x{v.h}")
        if not (v.K[0, 0] > 0 and v.K[1, 1] > 0 and np.all(np.isfinite(v.K))):
            problems.append(f"{v.name}: focal lengths must be positive and finite")
        R = v.c2w[:3, :3]
        if abs(abs(np.linalg.det(R)) - 1) > 1e-2 or np.abs(R.T @ R - np.eye(3)).max() > 1e-2:
            problems.append(f"{v.name}: the pose's rotation is not orthonormal (scaled or sheared transform_matrix)")
    if len(cap.views) - sum(1 for p in problems if p.split(":")[0] in {v.name for v in cap.views}) < 2 \
            and not problems:
        problems.append("need at least 2 frames")
    if problems:
        head = f"{len(problems)} problem(s) in {cap.source} (nothing was imported):"
        raise UserError(head + "".join(f"\n  - {p}" for p in problems))


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
def undistort_maps(K: np.ndarray, dist: np.ndarray, fisheye: bool, w: int, h: int):
    """(map_x, map_y, K_new) for ``cv2.remap``: the distorted image → a pinhole image of the same
    size whose every pixel is valid (alpha = 0). K_new uses our pixel-centre convention."""
    Kc = K.copy()
    Kc[:2, 2] -= 0.5
    if fisheye:
        Kn = cv2.fisheye.estimateNewCameraMatrixForUndistortRectify(Kc, dist[:4], (w, h), np.eye(3), balance=0.0)
        mx, my = cv2.fisheye.initUndistortRectifyMap(Kc, dist[:4], np.eye(3), Kn, (w, h), cv2.CV_32FC1)
    else:
        Kn, _ = cv2.getOptimalNewCameraMatrix(Kc, dist, (w, h), 0, (w, h))
        mx, my = cv2.initUndistortRectifyMap(Kc, dist, None, Kn, (w, h), cv2.CV_32FC1)
    Kn = np.array(Kn, dtype=np.float64)
    Kn[:2, 2] += 0.5
    return mx, my, Kn


# ---------------------------------------------------------------------- import
def _signature(cap: Capture, downscale: int, aabb, orient: bool) -> str:
    h = hashlib.sha256()
    src = cap.source if cap.source.is_file() else None
    h.update(src.read_bytes() if src is not None else str(cap.source).encode())
    h.update(json.dumps([downscale, None if aabb is None else np.asarray(aabb, float).tolist(), orient]).encode())
    for v in cap.views:
        st = v.image_path.stat()
        h.update(f"{v.name}|{v.image_path}|{st.st_size}|{st.st_mtime_ns}|{v.K.tolist()}|{v.dist.tolist()}|"
                 f"{v.c2w.tolist()}".encode())
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


def import_capture(src, scene_dir, downscale: int = 1, aabb=None, orient: bool = True, images=None,
                   progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Import the capture at ``src`` into ``scene_dir`` (see module docstring). Re-importing with
    the same inputs reuses the scene (nothing is recomputed)."""
    from ovnerf.scene.store import SceneStore

    if int(downscale) != downscale or downscale < 1:
        raise UserError(f"--downscale must be an integer ≥ 1, got {downscale}")
    downscale = int(downscale)
    cap = load_capture(src, images)
    validate(cap)
    scene_dir = Path(scene_dir)
    sig = _signature(cap, downscale, aabb, orient)
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
                                list(info.get("notes", [])))
        for p in ("images", "transforms.json"):  # an import of other inputs: replace it
            q = scene_dir / p
            shutil.rmtree(q) if q.is_dir() else q.unlink()
    c2ws = np.stack([v.c2w for v in cap.views])
    T = orientation(c2ws) if orient else np.eye(4)
    c2ws = apply_transform(T, c2ws)
    lo, hi, how = capture_bounds(cap, T, c2ws, aabb)
    tmp = scene_dir.with_name(scene_dir.name + ".importing")
    if tmp.exists():
        shutil.rmtree(tmp)
    store = SceneStore(tmp, create=True)
    maps: dict = {}
    for k, v in enumerate(cap.views):
        img = cv2.imread(str(v.image_path), cv2.IMREAD_COLOR)
        if img is None:
            raise UserError(f"{v.name}: not a readable image: {v.image_path}")
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        K = v.K
        if np.any(v.dist != 0):
            key = (v.K.tobytes(), v.dist.tobytes(), v.fisheye, v.w, v.h)
            if key not in maps:
                maps[key] = undistort_maps(v.K, v.dist, v.fisheye, v.w, v.h)
            mx, my, K = maps[key]
            img = cv2.remap(img, mx, my, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if downscale > 1:
            w2, h2 = max(1, round(v.w / downscale)), max(1, round(v.h / downscale))
            img = cv2.resize(img, (w2, h2), interpolation=cv2.INTER_AREA)
            K = np.diag([w2 / v.w, h2 / v.h, 1.0]) @ K
        store.add_frame(PosedFrame(v.name, np.ascontiguousarray(img), K, c2ws[k], float(k)))
        if progress is not None:
            progress(k + 1, len(cap.views))
    scene_from_source = T
    record = {"source": str(cap.source), "kind": cap.kind, "signature": sig, "downscale": downscale,
              "oriented": bool(orient), "scene_from_source": scene_from_source.tolist(),
              "bounds_from": how, "notes": cap.notes}
    if cap.applied_transform is not None:
        record["scene_from_colmap"] = (scene_from_source @ cap.applied_transform).tolist()
    store.meta["ovnerf_import"] = record
    store.set_aabb(lo, hi)
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
    return ImportReport(scene_dir, len(cap.views), (W, H), (lo, hi), how, False, cap.notes)
