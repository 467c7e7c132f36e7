"""On-disk keyframe store in nerfstudio's layout.

Layout under ``root``::

    transforms.json       nerfstudio metadata (+ "ovnerf_*" keys nerfstudio ignores)
    images/NAME.png       RGB, 8 bit
    depth/NAME.png        optional, uint16 millimetres (0 = unknown)      -> "depth_file_path"
    labels/NAME.png       optional, uint8 class ids, 255 = void            -> "ovnerf_label_path"

``transforms.json``: global intrinsics ``fl_x, fl_y, cx, cy, w, h`` (+ "camera_model": "OPENCV");
a frame carries its own intrinsics keys only where they differ (nerfstudio reads per-frame keys
first). ``transform_matrix`` is the camera-to-world pose in the **OpenGL** convention (converted
from/to OpenCV by :mod:`ovnerf.scene.conventions`). Per frame also ``"timestamp"`` (seconds).
Class names are stored in ``transforms.json["ovnerf_classes"]``; an imported capture's scene box
(world metres, written by ``ovnerf import``) in ``transforms.json["ovnerf_aabb"]`` =
``[[x0,y0,z0],[x1,y1,z1]]``.

Writing scales with the store (an append-only journal): :meth:`SceneStore.add_frame` writes the
frame's PNGs (temporary name + atomic rename), then appends one JSON line to ``frames.jsonl``
(the frame's entry with full intrinsics and the byte size of each file) and fsyncs it — one
fsync per keyframe, the same cost at 10 or 10,000 keyframes. ``transforms.json`` is rewritten
(atomically: temporary file, fsync, rename; so it is valid for nerfstudio at every instant) on
the first frame, then when the journal holds ≥ 10 % of the store (+16) or ``compact_interval`` s
have passed, and on :meth:`flush`; the journal is then emptied. Opening a store reads the journal
first, then ``transforms.json``, and appends the journal entries that ``transforms.json`` lacks,
skipping a torn last line and any entry whose files are missing or shorter than recorded (lost
in a power cut). So a crash never makes the store point at a missing or half-written image,
and a reader always sees every keyframe written so far. Opening for writing (``create=True``)
removes the temporary files of writers that are no longer running (``.NAME.tmp-PID`` whose
PID is dead). Reopening a store continues it. The train/test split puts every 10th frame
(index % 10 == 0, in store order) into the test set, as in the paper.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import cv2
import numpy as np

from ovnerf.atomic_write import atomic_write_bytes  # also imported from here by ovnerf.synthetic.generate
from ovnerf.errors import UserError
from ovnerf.scene.conventions import opencv_to_opengl, opengl_to_opencv
from ovnerf.scene.depth_image import encode_depth_mm
from ovnerf.scene.frames import PosedFrame

_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_TMP_RE = re.compile(r"^\..+\.tmp-(\d+)$")
JOURNAL = "frames.jsonl"
_SUBDIRS = ("images", "depth", "labels")
_INTR_KEYS = ("fl_x", "fl_y", "cx", "cy", "w", "h")
_DIST_KEYS = ("k1", "k2", "k3", "k4", "p1", "p2")
_IMPORT_HINT = " (a capture, not a scene: import it first with `ovnerf import CAPTURE --workspace WS`)"
DEPTH_SCALE = 1000.0  # uint16 units per metre
VOID_U8 = 255


def _encode_png(arr: np.ndarray, level: int | None = None) -> bytes:
    params = [] if level is None else [cv2.IMWRITE_PNG_COMPRESSION, int(level)]
    if level == 0:  # stored, unfiltered: ~1 ms at 640x480 (3x the bytes)
        params += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]
    ok, buf = cv2.imencode(".png", arr, params)
    if not ok:
        raise UserError("could not encode PNG")
    return buf.tobytes()


def _intrinsics_dict(K: np.ndarray, h: int, w: int) -> dict:
    return {"fl_x": float(K[0, 0]), "fl_y": float(K[1, 1]), "cx": float(K[0, 2]),
            "cy": float(K[1, 2]), "w": int(w), "h": int(h)}


class SceneStore:
    """Read/write a nerfstudio-style scene directory (see module docstring).

    ``SceneStore(root, create=True)`` creates ``root`` if needed; an existing
    ``transforms.json`` (+ journal) is loaded and continued. A corrupt or foreign file raises one
    :class:`~ovnerf.errors.UserError` naming the file and the problem. ``png_compression``
    (0–9, None = OpenCV's default) trades disk for admission speed (0: stored, ~1 ms a frame).
    One writer at a time; any number of readers.
    """

    def __init__(self, root, create: bool = True, compact_interval: float = 2.0,
                 png_compression: int | None = None):
        self.root = Path(root)
        self.meta_path = self.root / "transforms.json"
        self.journal_path = self.root / JOURNAL
        self.compact_interval = float(compact_interval)
        self.png_compression = png_compression
        self.cleaned: list[str] = []            # leftovers of killed writers removed at open
        self._journal = None                    # append handle (opened on the first write)
        self._journaled = 0                     # entries in the journal not yet in transforms.json
        self._last_compact = time.monotonic()
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"scene path is not a directory: {self.root}")
        journal = self._read_journal()          # before transforms.json: see module docstring
        if self.meta_path.exists():
            self.meta = self._read_meta()
        elif create or journal:
            if create:
                self.root.mkdir(parents=True, exist_ok=True)
            self.meta = {"camera_model": "OPENCV", "frames": []}
        else:
            raise UserError(f"no transforms.json in {self.root} (not a scene directory)")
        self._index = {self._frame_name(f): i for i, f in enumerate(self.meta["frames"])}
        if len(self._index) != len(self.meta["frames"]):
            raise UserError(f"{self.meta_path}: duplicate frame file names")
        for rec in journal:
            self._replay(rec)
        if create:
            self._clean_leftovers()
            if self._journaled:
                self.flush()

    # ------------------------------------------------------------------ metadata
    def _read_meta(self) -> dict:
        try:
            meta = json.loads(self.meta_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise UserError(f"{self.meta_path}: not a readable JSON file ({exc})") from None
        if not isinstance(meta, dict) or not isinstance(meta.get("frames"), list):
            raise UserError(f"{self.meta_path}: not a nerfstudio transforms.json (no 'frames' list)")
        for i, fr in enumerate(meta["frames"]):
            if not isinstance(fr, dict) or "file_path" not in fr or "transform_matrix" not in fr:
                raise UserError(f"{self.meta_path}: frame {i} lacks 'file_path' or 'transform_matrix'")
            try:
                m = np.asarray(fr["transform_matrix"], dtype=np.float64)
            except (TypeError, ValueError):
                m = None
            if m is None or m.shape not in ((4, 4), (3, 4)) or not np.all(np.isfinite(m)):
                raise UserError(f"{self.meta_path}: frame {i} has an invalid 'transform_matrix'")
            for k in _INTR_KEYS:
                if k not in fr and k not in meta:
                    raise UserError(f"{self.meta_path}: frame {i} has no intrinsics key '{k}'{_IMPORT_HINT}")
            model = str(fr.get("camera_model", meta.get("camera_model", "OPENCV"))).upper()
            if model not in ("OPENCV", "PINHOLE", "SIMPLE_PINHOLE") or any(
                    fr.get(k, meta.get(k)) not in (None, 0, 0.0) for k in _DIST_KEYS):
                raise UserError(f"{self.meta_path}: frame {i} has lens distortion or camera_model {model}, "
                                f"which training would ignore{_IMPORT_HINT}")
        classes = meta.get("ovnerf_classes", [])
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise UserError(f"{self.meta_path}: 'ovnerf_classes' must be a list of strings")
        return meta

    def _read_journal(self) -> list[dict]:
        """Parsed journal records; a torn (unparsable) line is skipped."""
        try:
            raw = self.journal_path.read_bytes()
        except OSError:
            return []
        out = []
        for line in raw.split(b"\n"):
            try:
                rec = json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(rec, dict) and isinstance(rec.get("frame"), dict) and isinstance(rec.get("files"), dict):
                out.append(rec)
        return out

    def _replay(self, rec: dict) -> None:
        """Append a journal record's frame unless it is known or its files are incomplete."""
        full = rec["frame"]
        try:
            name = self._frame_name(full)
            complete = all(self._resolve(rel).stat().st_size == int(size) for rel, size in rec["files"].items())
        except (KeyError, TypeError, ValueError, OSError):
            return
        if name in self._index or not complete:
            return
        self._append_entry(full)
        self._journaled += 1

    def _append_entry(self, full: dict) -> dict:
        """Add a frame entry carrying full intrinsics: global keys from the first frame, per-frame
        keys only where they differ (nerfstudio reads per-frame keys first)."""
        if not all(k in self.meta for k in _INTR_KEYS):
            self.meta.update({k: full[k] for k in _INTR_KEYS})
        entry = {k: v for k, v in full.items() if k not in _INTR_KEYS}
        for k in _INTR_KEYS:
            if not np.isclose(self.meta[k], full[k]):
                entry[k] = full[k]
        if entry.get("depth_file_path"):
            self.meta["ovnerf_depth_scale"] = 1.0 / DEPTH_SCALE
        self.meta["frames"].append(entry)
        self._index[self._frame_name(entry)] = len(self.meta["frames"]) - 1
        return entry

    def _clean_leftovers(self) -> None:
        """Remove ``.NAME.tmp-PID`` files of writers that are no longer running."""
        for d in (self.root, *(self.root / s for s in _SUBDIRS)):
            try:
                names = os.listdir(d)
            except OSError:
                continue
            for n in names:
                m = _TMP_RE.match(n)
                if m is None or _pid_alive(int(m.group(1))):
                    continue
                try:
                    (d / n).unlink()
                    self.cleaned.append(str(d / n))
                except OSError:
                    pass

    @property
    def journaled(self) -> int:
        """Frames written since ``transforms.json`` was last rewritten (they are in the journal)."""
        return self._journaled

    def flush_due(self) -> bool:
        """True when frames wait in the journal and ``compact_interval`` s passed since the last
        rewrite (for a writer's idle timer: a stream that stops still gets a complete file)."""
        return self._journaled > 0 and time.monotonic() - self._last_compact >= self.compact_interval

    def flush(self) -> None:
        """Rewrite ``transforms.json`` with every frame (atomic, fsynced) and empty the journal."""
        atomic_write_bytes(self.meta_path, json.dumps(self.meta).encode())  # C encoder: 4x faster than indent
        self._last_compact = time.monotonic()
        if self._journaled or self.journal_path.exists():
            with open(self.journal_path, "ab") as f:
                f.truncate(0)
        self._journaled = 0

    def close(self) -> None:
        """Flush (when the journal holds frames) and release the journal."""
        if self._journaled:
            self.flush()
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def next_name(self, prefix: str = "kf_") -> str:
        """A free frame name: ``prefix`` + the store's count (6 digits), 'b' appended while taken."""
        name = f"{prefix}{len(self):06d}"
        while name in self:
            name += "b"
        return name

    @staticmethod
    def _frame_name(fr: dict) -> str:
        return Path(fr["file_path"]).stem

    # ------------------------------------------------------------------ queries
    def __len__(self) -> int:
        return len(self.meta["frames"])

    def __contains__(self, name: str) -> bool:
        return name in self._index

    def names(self) -> list[str]:
        return [self._frame_name(f) for f in self.meta["frames"]]

    @property
    def class_names(self) -> list[str]:
        return list(self.meta.get("ovnerf_classes", []))

    def set_class_names(self, names: list[str]) -> None:
        names = [str(n) for n in names]
        if len(names) > VOID_U8:
            raise UserError(f"at most {VOID_U8} classes fit the uint8 label PNGs, got {len(names)}")
        self.meta["ovnerf_classes"] = names
        self.flush()

    def aabb(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The stored scene box ``(min (3,), max (3,))`` or None."""
        box = self.meta.get("ovnerf_aabb")
        if box is None:
            return None
        try:
            b = np.asarray(box, dtype=np.float64)
        except (TypeError, ValueError):
            b = np.zeros(0)
        if b.shape != (2, 3) or not np.all(np.isfinite(b)) or not np.all(b[1] > b[0]):
            raise UserError(f"{self.meta_path}: 'ovnerf_aabb' must be [[x0,y0,z0],[x1,y1,z1]] with max > min")
        return b[0], b[1]

    def set_aabb(self, lo, hi) -> None:
        self.meta["ovnerf_aabb"] = [[float(x) for x in lo], [float(x) for x in hi]]
        self.flush()

    def split(self) -> tuple[list[str], list[str]]:
        """(train_names, test_names): frame i (store order) is a test frame iff i % 10 == 0."""
        names = self.names()
        return ([n for i, n in enumerate(names) if i % 10 != 0],
                [n for i, n in enumerate(names) if i % 10 == 0])

    def intrinsics(self, name: str) -> tuple[np.ndarray, int, int]:
        """(K 3×3 float64, H, W) of a frame (per-frame keys override global ones)."""
        fr = self._frame_meta(name)
        v = {k: fr.get(k, self.meta.get(k)) for k in _INTR_KEYS}
        K = np.array([[v["fl_x"], 0, v["cx"]], [0, v["fl_y"], v["cy"]], [0, 0, 1]], dtype=np.float64)
        return K, int(v["h"]), int(v["w"])

    def pose(self, name: str) -> np.ndarray:
        """OpenCV-convention c2w (4×4 float64) of a frame, without reading its image."""
        m = np.asarray(self._frame_meta(name)["transform_matrix"], dtype=np.float64)
        if m.shape == (3, 4):
            m = np.vstack([m, [0, 0, 0, 1]])
        return opengl_to_opencv(m)

    def _frame_meta(self, name: str) -> dict:
        if name not in self._index:
            raise UserError(f"no frame named '{name}' in {self.root}")
        return self.meta["frames"][self._index[name]]

    def _resolve(self, rel: str) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else self.root / p

    def _read_png(self, rel: str, flags: int, what: str, name: str) -> np.ndarray:
        path = self._resolve(rel)
        if not path.is_file():
            raise UserError(f"{what} of frame '{name}' is missing: {path}")
        img = cv2.imread(str(path), flags)
        if img is None:
            raise UserError(f"{what} of frame '{name}' is not a readable image: {path}")
        return img

    def load(self, name: str) -> PosedFrame:
        fr = self._frame_meta(name)
        K, h, w = self.intrinsics(name)
        # stored pixel order (EXIF orientation not applied), as `ovnerf import`, COLMAP and nerfstudio
        img = self._read_png(fr["file_path"], cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION, "image", name)
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        if img.shape[:2] != (h, w):
            raise UserError(f"image of frame '{name}' is {img.shape[1]}x{img.shape[0]}, "
                            f"transforms.json says {w}x{h}")
        depth = labels = None
        if fr.get("depth_file_path"):
            d = self._read_png(fr["depth_file_path"], cv2.IMREAD_UNCHANGED, "depth", name)
            if d.ndim != 2 or d.shape != (h, w):
                raise UserError(f"depth of frame '{name}' must be a single-channel {w}x{h} PNG")
            scale = float(self.meta.get("ovnerf_depth_scale", 1.0 / DEPTH_SCALE))
            depth = d.astype(np.float32) * np.float32(scale)
        if fr.get("ovnerf_label_path"):
            lab = self._read_png(fr["ovnerf_label_path"], cv2.IMREAD_UNCHANGED, "labels", name)
            if lab.ndim != 2 or lab.shape != (h, w) or lab.dtype != np.uint8:
                raise UserError(f"labels of frame '{name}' must be a uint8 single-channel {w}x{h} PNG")
            labels = lab.astype(np.int16)
            labels[lab == VOID_U8] = -1
        return PosedFrame(name=name, image=img, K=K, c2w=self.pose(name),
                          timestamp=float(fr.get("timestamp", 0.0)), depth=depth, labels=labels)

    def frames(self, names: list[str] | None = None) -> list[PosedFrame]:
        return [self.load(n) for n in (self.names() if names is None else names)]

    # ------------------------------------------------------------------ writing
    def add_frame(self, frame: PosedFrame) -> str:
        """Append a frame; returns its name. Raises UserError on a duplicate name or bad arrays."""
        name = frame.name
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise UserError(f"invalid frame name {name!r} (use letters, digits, '_', '-', '.')")
        if name in self._index:
            raise UserError(f"frame '{name}' already exists in {self.root}")
        img = np.asarray(frame.image)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise UserError(f"frame '{name}': image must be uint8 HxWx3 RGB, got {img.dtype} {img.shape}")
        h, w = img.shape[:2]
        K = np.asarray(frame.K, dtype=np.float64)
        c2w = np.asarray(frame.c2w, dtype=np.float64)
        if K.shape != (3, 3) or not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
            raise UserError(f"frame '{name}': K must be a finite 3x3 matrix with positive focal lengths")
        if c2w.shape != (4, 4) or not np.all(np.isfinite(c2w)):
            raise UserError(f"frame '{name}': c2w must be a finite 4x4 matrix")
        for what, arr in (("depth", frame.depth), ("labels", frame.labels)):
            if arr is not None and np.asarray(arr).shape != (h, w):
                raise UserError(f"frame '{name}': {what} must be {h}x{w}, got {np.asarray(arr).shape}")

        full: dict = {"file_path": f"images/{name}.png",
                      "transform_matrix": opencv_to_opengl(c2w).tolist(),
                      "timestamp": float(frame.timestamp), **_intrinsics_dict(K, h, w)}
        lab8 = None
        if frame.labels is not None:
            lab = np.asarray(frame.labels).astype(np.int64)
            if lab.max(initial=-1) >= VOID_U8 or lab.min(initial=0) < -1:
                raise UserError(f"frame '{name}': label ids must be in [-1, {VOID_U8 - 1}]")
            lab8 = np.where(lab < 0, VOID_U8, lab).astype(np.uint8)
        files = {full["file_path"]: cv2.cvtColor(img, cv2.COLOR_RGB2BGR)}
        if frame.depth is not None:
            full["depth_file_path"] = f"depth/{name}.png"
            files[full["depth_file_path"]] = encode_depth_mm(frame.depth)
        if lab8 is not None:
            full["ovnerf_label_path"] = f"labels/{name}.png"
            files[full["ovnerf_label_path"]] = lab8
        sizes = {}
        for rel, arr in files.items():  # atomic rename; made durable by the journal's fsync below
            data = _encode_png(arr, self.png_compression)
            atomic_write_bytes(self.root / rel, data, make_parents=True, durable=False)
            sizes[rel] = len(data)
        line = (json.dumps({"frame": full, "files": sizes}) + "\n").encode()
        if self._journal is None:
            self._journal = open(self.journal_path, "ab")
        end = self._journal.seek(0, os.SEEK_END)
        try:
            self._journal.write(line)
            self._journal.flush()
            os.fsync(self._journal.fileno())   # the one fsync of a keyframe
        except BaseException:
            try:                               # no torn line for the next append to join
                self._journal.truncate(end)
            except (OSError, ValueError):
                pass
            raise
        self._append_entry(full)
        self._journaled += 1
        if (len(self) == 1 or self._journaled >= 0.1 * len(self) + 16
                or time.monotonic() - self._last_compact >= self.compact_interval):
            try:
                self.flush()
            except OSError:
                pass  # the frame is safe in the journal; transforms.json is rewritten next time
        return name


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True
