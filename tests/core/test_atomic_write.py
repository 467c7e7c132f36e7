"""ovnerf.atomic_write: exact content after success; on a failing writer the target is unchanged
and no temporary file is left behind."""
import os

import pytest

from ovnerf.atomic_write import atomic_open, atomic_save, atomic_write_bytes, fsync_dir, temp_path


def test_write_bytes_exact_and_replaces(tmp_path):
    p = tmp_path / "a.bin"
    data = bytes(range(256)) * 3
    atomic_write_bytes(p, data)
    assert p.read_bytes() == data
    atomic_write_bytes(p, memoryview(b"xyz"))  # bytes-like, shorter: fully replaced
    assert p.read_bytes() == b"xyz"
    assert os.listdir(tmp_path) == ["a.bin"]


def test_temp_name_hidden_beside_target(tmp_path):
    t = temp_path(tmp_path / "x.json")
    assert t.parent == tmp_path and t.name == f".x.json.tmp-{os.getpid()}"


def test_failing_writer_leaves_target_and_no_temp(tmp_path):
    p = tmp_path / "ckpt.pt"
    p.write_bytes(b"old")

    def writer(f):
        f.write(b"partial new content")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        atomic_save(p, writer)
    assert p.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["ckpt.pt"]

    with pytest.raises(KeyError):
        with atomic_open(tmp_path / "new.bin") as f:
            f.write(b"abc")
            raise KeyError("boom")
    assert os.listdir(tmp_path) == ["ckpt.pt"]  # never created, temp removed


def test_atomic_save_and_make_parents(tmp_path):
    p = tmp_path / "d1" / "d2" / "f.txt"
    with pytest.raises(FileNotFoundError):
        atomic_write_bytes(p, b"1")
    assert atomic_save(p, lambda f: f.write(b"hello\n"), make_parents=True) == p
    assert p.read_bytes() == b"hello\n"
    assert os.listdir(p.parent) == ["f.txt"]


def test_fsync_dir_is_best_effort(tmp_path):
    fsync_dir(tmp_path)
    fsync_dir(tmp_path / "does-not-exist")  # no error
