"""Atomic file writes: a reader, or a crash at any moment, sees either the old file or the new
one, never a torn one. Used by the scene store, the preprocess cache and training checkpoints.

Recipe for ``path``: write to ``.<name>.tmp-<pid>`` in the same directory (same filesystem, so
the rename is atomic), flush and ``fsync`` it, ``os.replace`` it over ``path``, then ``fsync``
the directory so the rename itself is durable. If writing fails, the temporary file is removed,
``path`` is left as it was, and the exception propagates.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

__all__ = ["fsync_dir", "temp_path", "atomic_open", "atomic_write_bytes", "atomic_save"]


def fsync_dir(path) -> None:
    """fsync the directory ``path`` (makes renames/creations in it durable); best effort:
    silently does nothing where directories cannot be opened or fsynced."""
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_path(path) -> Path:
    """The temporary name used while ``path`` is written: ``.<name>.tmp-<pid>`` beside it."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextmanager
def atomic_open(path, *, make_parents: bool = False, durable: bool = True) -> Iterator[BinaryIO]:
    """``with atomic_open(path) as f: f.write(...)``: ``f`` is the temporary file opened ``"wb"``;
    on a normal exit it is fsynced and renamed over ``path`` (see module docstring); on an
    exception it is removed and ``path`` is untouched. ``make_parents`` creates missing parent
    directories first. ``durable=False`` skips both fsyncs (still atomic for readers and for a
    killed process, not for a power cut: the caller makes it durable otherwise, e.g. a journal)."""
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as f:
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    if durable:
        fsync_dir(path.parent)


def atomic_save(path, writer: Callable[[BinaryIO], object], *, make_parents: bool = False) -> Path:
    """Atomically write ``path`` with ``writer(f)`` (``f`` a binary file); returns the path."""
    with atomic_open(path, make_parents=make_parents) as f:
        writer(f)
    return Path(path)


def atomic_write_bytes(path, data, *, make_parents: bool = False, durable: bool = True) -> None:
    """Atomically replace ``path``'s content with ``data`` (bytes-like)."""
    with atomic_open(path, make_parents=make_parents, durable=durable) as f:
        f.write(data)
