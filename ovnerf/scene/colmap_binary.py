"""Structural check of a COLMAP binary sparse model before pycolmap reads it.

pycolmap 4.2 trusts the counts in the files: on a truncated or corrupted ``points3D.bin`` it
loops without end, and a ``cameras.bin`` cut inside the last camera's parameters is read without
an error (with garbage intrinsics). :func:`check_binary_model` walks the three files' layouts
(COLMAP's ``reconstruction_io_binary``: little-endian counts, then fixed-size records and
variable-length names / tracks) and returns one reason per file whose records do not end exactly
at the end of the file. Walking reads only the counts (Python ``struct``): ~1 s per million
3D points.

- ``cameras.bin``: u64 n; n × (i32 id, i32 model id, u64 width, u64 height, f64 × params(model));
- ``images.bin``: u64 n; n × (u32 id, f64 × 7 pose, u32 camera id, name + NUL, u64 m, m × 24 B);
- ``points3D.bin``: u64 n; n × (u64 id, f64 × 3, u8 × 3, f64 error, u64 t, t × 8 B).
"""
from __future__ import annotations

import struct
from pathlib import Path

# COLMAP camera model id -> number of parameters (src/colmap/sensor/models.h)
MODEL_PARAMS = {0: 3, 1: 4, 2: 4, 3: 5, 4: 8, 5: 8, 6: 12, 7: 5, 8: 4, 9: 5, 10: 12, 11: 16}
_U64 = struct.Struct("<Q")


class _Truncated(Exception):
    pass


def _u64(buf: bytes, pos: int) -> int:
    if pos + 8 > len(buf):
        raise _Truncated
    return _U64.unpack_from(buf, pos)[0]


def _walk_cameras(buf: bytes) -> int:
    n, pos = _u64(buf, 0), 8
    for _ in range(n):
        if pos + 24 > len(buf):
            raise _Truncated
        model = struct.unpack_from("<i", buf, pos + 4)[0]
        if model not in MODEL_PARAMS:
            raise ValueError(f"unknown camera model id {model}")
        pos += 24 + 8 * MODEL_PARAMS[model]
        if pos > len(buf):
            raise _Truncated
    return pos


def _walk_images(buf: bytes) -> int:
    n, pos = _u64(buf, 0), 8
    for _ in range(n):
        pos += 64                                   # id, qvec, tvec, camera id
        end = buf.find(b"\0", pos)
        if end < 0:
            raise _Truncated
        pos = end + 1
        pos += 8 + 24 * _u64(buf, pos)
        if pos > len(buf):
            raise _Truncated
    return pos


def _walk_points(buf: bytes) -> int:
    n, pos = _u64(buf, 0), 8
    for _ in range(n):
        pos += 51 + 8 * _u64(buf, pos + 43)        # id, xyz, rgb, error | track length, track
        if pos > len(buf):
            raise _Truncated
    return pos


def check_binary_model(model_dir) -> list[str]:
    """Reasons (one per damaged file) why the ``.bin`` files in ``model_dir`` are not whole COLMAP
    binary files; empty when they are (or when the model is in text form)."""
    problems = []
    for name, walk in (("cameras.bin", _walk_cameras), ("images.bin", _walk_images),
                       ("points3D.bin", _walk_points)):
        path = Path(model_dir) / name
        if not path.is_file():
            continue
        buf = path.read_bytes()
        try:
            end = walk(buf)
        except _Truncated:
            problems.append(f"{name} is truncated (its records run past the end of the file)")
            continue
        except ValueError as exc:
            problems.append(f"{name} is corrupt ({exc})")
            continue
        if end < len(buf):
            problems.append(f"{name} is corrupt ({len(buf) - end} bytes after its last record)")
    return problems
