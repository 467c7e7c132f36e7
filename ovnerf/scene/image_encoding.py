"""Raw image buffers (ROS ``sensor_msgs/Image`` layout) ↔ numpy, without ROS.

A raw image is (encoding, height, width, step, data bytes, is_bigendian); row ``r`` starts at
byte ``r * step`` (``step`` ≥ width × bytes-per-pixel; any padding is ignored).

Decoding for colour input (:func:`decode_color`) returns uint8 H×W×3 **RGB**:
``rgb8`` as is, ``bgr8`` channel-reversed, ``rgba8``/``bgra8`` alpha dropped, ``mono8`` grey
replicated to 3 channels. Anything else raises :class:`UserError` naming the encoding.
:func:`decode_labels` reads a ``mono8``/``8UC1`` class-id image (255 = void → −1, int16).
:func:`decode_compressed` decodes a JPEG/PNG ``CompressedImage`` payload with ``cv2.imdecode``
after reading its size from the header (PNG ``IHDR``, JPEG ``SOFn``; :func:`compressed_size`)
so a wrong-size image or a decompression bomb is refused before any pixel is decoded; a
``compressedDepth`` payload (``image_transport``'s depth codec: a 12-byte header + PNG) is
recognised by its format string and refused as colour. Every decoder takes ``expected`` (H, W):
a size other than that raises :class:`SizeMismatch` before the pixels are copied.
Encoding (:func:`encode`) supports ``rgb8``, ``bgr8``, ``mono8``, ``mono16``, ``16UC1``,
``32FC1`` (little-endian, tightly packed).
"""
from __future__ import annotations

import cv2
import numpy as np

from ovnerf.errors import UserError
from ovnerf.scene.input_checks import check_size

# encoding -> (channels, numpy dtype)
_LAYOUT = {
    "rgb8": (3, np.uint8), "bgr8": (3, np.uint8), "rgba8": (4, np.uint8), "bgra8": (4, np.uint8),
    "mono8": (1, np.uint8), "8UC1": (1, np.uint8), "8UC3": (3, np.uint8),
    "mono16": (1, np.uint16), "16UC1": (1, np.uint16), "32FC1": (1, np.float32),
}
COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
MAX_PIXELS = 8192 * 8192  # no expected size known: refuse larger images before decoding


class SizeMismatch(UserError):
    """The image's size (read from its header) is not the expected one."""


def check_expected(height: int, width: int, expected, what: str = "image") -> None:
    """SizeMismatch unless (height, width) == expected (None: only the MAX_PIXELS cap)."""
    if expected is not None and (int(height), int(width)) != tuple(expected):
        raise SizeMismatch(f"{what} is {width}x{height} but camera_info says {expected[1]}x{expected[0]}")
    if int(height) * int(width) > MAX_PIXELS:
        raise UserError(f"{what} of {width}x{height} pixels is larger than {MAX_PIXELS} pixels")


def _as_bytes_array(data) -> np.ndarray:
    if isinstance(data, (list, tuple)):
        return np.asarray(data, dtype=np.uint8)
    return np.frombuffer(data, dtype=np.uint8)  # bytes, array.array('B'), ndarray, memoryview


def decode_array(encoding: str, height: int, width: int, step: int, data, is_bigendian: bool = False,
                 expected=None) -> np.ndarray:
    """The pixel array (H×W or H×W×C, dtype of the encoding) of a raw buffer; validates sizes
    (and ``expected`` (H, W), before touching the pixels)."""
    if encoding not in _LAYOUT:
        raise UserError(f"unsupported image encoding '{encoding[:40]}' (supported: {', '.join(_LAYOUT)})")
    ch, dtype = _LAYOUT[encoding]
    height, width, step = int(height), int(width), int(step)
    if height <= 0 or width <= 0:
        raise UserError(f"image has an empty size {width}x{height}")
    check_expected(height, width, expected)
    row = width * ch * np.dtype(dtype).itemsize
    if step < row:
        raise UserError(f"image step {step} is smaller than width*bytes_per_pixel = {row}")
    buf = _as_bytes_array(data)
    if buf.size != step * height:
        raise UserError(f"image data has {buf.size} bytes, expected step*height = {step * height}")
    rows = buf.reshape(height, step)[:, :row]
    dt = np.dtype(dtype).newbyteorder(">" if is_bigendian else "<")
    arr = np.ascontiguousarray(rows).view(dt).astype(dtype, copy=False)
    return arr.reshape(height, width, ch) if ch > 1 else arr.reshape(height, width)


def decode_color(encoding: str, height: int, width: int, step: int, data, is_bigendian: bool = False,
                 expected=None) -> np.ndarray:
    """uint8 H×W×3 RGB from a colour/mono raw buffer (see module docstring)."""
    if encoding not in COLOR_ENCODINGS:
        raise UserError(f"unsupported colour image encoding '{encoding[:40]}' "
                        f"(supported: {', '.join(COLOR_ENCODINGS)})")
    arr = decode_array(encoding, height, width, step, data, is_bigendian, expected)
    if encoding == "rgb8":
        return arr.copy()
    if encoding == "bgr8":
        return np.ascontiguousarray(arr[..., ::-1])
    if encoding == "rgba8":
        return np.ascontiguousarray(arr[..., :3])
    if encoding == "bgra8":
        return np.ascontiguousarray(arr[..., 2::-1])
    return np.repeat(arr[..., None], 3, axis=2)  # mono8


def decode_labels(encoding: str, height: int, width: int, step: int, data, is_bigendian: bool = False,
                  expected=None) -> np.ndarray:
    """int16 H×W class ids (−1 = void) from a ``mono8``/``8UC1`` label image (255 = void)."""
    lab = decode_array(encoding, height, width, step, data, is_bigendian, expected)
    if lab.ndim != 2 or lab.dtype != np.uint8:
        raise UserError(f"label image must be mono8/8UC1, got {encoding}")
    lab16 = lab.astype(np.int16)
    lab16[lab == 255] = -1
    return lab16


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def compressed_size(buf: np.ndarray) -> tuple[int, int, str]:
    """(height, width, 'png' | 'jpeg') read from a PNG's IHDR or a JPEG's SOF marker, without
    decoding; UserError when the payload is neither or its header is cut short."""
    b = bytes(buf[:8])
    if b == _PNG_MAGIC:
        if buf.size < 24 or bytes(buf[12:16]) != b"IHDR":
            raise UserError("PNG header is truncated (no IHDR chunk)")
        w, h = int.from_bytes(bytes(buf[16:20]), "big"), int.from_bytes(bytes(buf[20:24]), "big")
        return h, w, "png"
    if b[:2] == b"\xff\xd8":
        i, n = 2, int(buf.size)
        while i + 4 <= n:
            if buf[i] != 0xFF:
                raise UserError(f"JPEG header is corrupt (no marker at byte {i})")
            marker = int(buf[i + 1])
            if marker == 0xFF:          # fill byte
                i += 1
                continue
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            seg = int(buf[i + 2]) << 8 | int(buf[i + 3])
            if marker in _JPEG_SOF:
                if i + 9 > n:
                    break
                h = int(buf[i + 5]) << 8 | int(buf[i + 6])
                w = int(buf[i + 7]) << 8 | int(buf[i + 8])
                return h, w, "jpeg"
            if marker == 0xDA:           # start of scan before any frame header
                break
            i += 2 + seg
        raise UserError("JPEG header has no frame size (SOF marker)")
    raise UserError("cannot decode the compressed payload: it is neither PNG nor JPEG")


def decode_compressed(data, fmt: str = "", expected=None) -> np.ndarray:
    """uint8 H×W×3 RGB from a compressed (JPEG/PNG) payload; size checked from the header first."""
    fmt = str(fmt)
    if "compresseddepth" in fmt.lower().replace(" ", ""):
        raise UserError(f"'{fmt[:60]}' is a compressedDepth (depth) payload, not a colour image")
    buf = _as_bytes_array(data)
    if not buf.size:
        raise UserError(f"empty compressed image (format '{fmt[:60]}')")
    h, w, kind = compressed_size(buf)
    check_size(h, w, f"compressed {kind} image")
    check_expected(h, w, expected, f"compressed {kind} image")
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if img is None:
        raise UserError(f"could not decode compressed {kind} image (format '{fmt[:60]}', {buf.size} bytes)")
    if img.shape[:2] != (h, w):
        raise UserError(f"compressed {kind} image decoded to {img.shape[1]}x{img.shape[0]}, its header says {w}x{h}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def encode(array: np.ndarray, encoding: str) -> tuple[int, int, int, bytes]:
    """(height, width, step, data) of ``array`` in ``encoding`` (little-endian, no padding).
    ``bgr8`` takes an RGB array and reverses the channels."""
    a = np.asarray(array)
    if encoding not in ("rgb8", "bgr8", "mono8", "mono16", "16UC1", "32FC1"):
        raise UserError(f"cannot encode images as '{encoding}'")
    ch, dtype = _LAYOUT[encoding]
    if ch == 3:
        if a.ndim != 3 or a.shape[2] != 3:
            raise UserError(f"{encoding} needs an HxWx3 array, got {a.shape}")
        if encoding == "bgr8":
            a = a[..., ::-1]
    elif a.ndim != 2:
        raise UserError(f"{encoding} needs an HxW array, got {a.shape}")
    a = np.ascontiguousarray(a.astype(np.dtype(dtype).newbyteorder("<"), copy=False))
    h, w = a.shape[:2]
    return h, w, w * ch * a.itemsize, a.tobytes()
