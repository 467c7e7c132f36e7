"""Raw image buffers (ROS ``sensor_msgs/Image`` layout) ↔ numpy, without ROS.

A raw image is (encoding, height, width, step, data bytes, is_bigendian); row ``r`` starts at
byte ``r * step`` (``step`` ≥ width × bytes-per-pixel; any padding is ignored).

Decoding for colour input (:func:`decode_color`) returns uint8 H×W×3 **RGB**:
``rgb8`` as is, ``bgr8`` channel-reversed, ``rgba8``/``bgra8`` alpha dropped, ``mono8`` grey
replicated to 3 channels. Anything else raises :class:`UserError` naming the encoding.
:func:`decode_labels` reads a ``mono8``/``8UC1`` class-id image (255 = void → −1, int16).
:func:`decode_compressed` decodes a JPEG/PNG ``CompressedImage`` payload with ``cv2.imdecode``.
Encoding (:func:`encode`) supports ``rgb8``, ``bgr8``, ``mono8``, ``mono16``, ``16UC1``,
``32FC1`` (little-endian, tightly packed).
"""
from __future__ import annotations

import cv2
import numpy as np

from ovnerf.errors import UserError

# encoding -> (channels, numpy dtype)
_LAYOUT = {
    "rgb8": (3, np.uint8), "bgr8": (3, np.uint8), "rgba8": (4, np.uint8), "bgra8": (4, np.uint8),
    "mono8": (1, np.uint8), "8UC1": (1, np.uint8), "8UC3": (3, np.uint8),
    "mono16": (1, np.uint16), "16UC1": (1, np.uint16), "32FC1": (1, np.float32),
}
COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")


def _as_bytes_array(data) -> np.ndarray:
    if isinstance(data, (list, tuple)):
        return np.asarray(data, dtype=np.uint8)
    return np.frombuffer(data, dtype=np.uint8)  # bytes, array.array('B'), ndarray, memoryview


def decode_array(encoding: str, height: int, width: int, step: int, data, is_bigendian: bool = False) -> np.ndarray:
    """The pixel array (H×W or H×W×C, dtype of the encoding) of a raw buffer; validates sizes."""
    if encoding not in _LAYOUT:
        raise UserError(f"unsupported image encoding '{encoding}' (supported: {', '.join(_LAYOUT)})")
    ch, dtype = _LAYOUT[encoding]
    height, width, step = int(height), int(width), int(step)
    if height <= 0 or width <= 0:
        raise UserError(f"image has an empty size {width}x{height}")
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


def decode_color(encoding: str, height: int, width: int, step: int, data, is_bigendian: bool = False) -> np.ndarray:
    """uint8 H×W×3 RGB from a colour/mono raw buffer (see module docstring)."""
    if encoding not in COLOR_ENCODINGS:
        raise UserError(f"unsupported colour image encoding '{encoding}' "
                        f"(supported: {', '.join(COLOR_ENCODINGS)})")
    arr = decode_array(encoding, height, width, step, data, is_bigendian)
    if encoding == "rgb8":
        return arr.copy()
    if encoding == "bgr8":
        return np.ascontiguousarray(arr[..., ::-1])
    if encoding == "rgba8":
        return np.ascontiguousarray(arr[..., :3])
    if encoding == "bgra8":
        return np.ascontiguousarray(arr[..., 2::-1])
    return np.repeat(arr[..., None], 3, axis=2)  # mono8


def decode_labels(encoding: str, height: int, width: int, step: int, data, is_bigendian: bool = False) -> np.ndarray:
    """int16 H×W class ids (−1 = void) from a ``mono8``/``8UC1`` label image (255 = void)."""
    lab = decode_array(encoding, height, width, step, data, is_bigendian)
    if lab.ndim != 2 or lab.dtype != np.uint8:
        raise UserError(f"label image must be mono8/8UC1, got {encoding}")
    lab16 = lab.astype(np.int16)
    lab16[lab == 255] = -1
    return lab16


def decode_compressed(data, fmt: str = "") -> np.ndarray:
    """uint8 H×W×3 RGB from a compressed (JPEG/PNG) payload."""
    buf = _as_bytes_array(data)
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    if img is None:
        raise UserError(f"could not decode compressed image (format '{fmt}', {buf.size} bytes)")
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
