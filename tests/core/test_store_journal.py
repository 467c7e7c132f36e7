"""The scene store's journal (issue #13 defects 6 and 8): one fsync per keyframe, transforms.json
valid (and complete after flush) at every step, readers see journaled frames, a torn journal line
or a frame whose files were lost is skipped, a killed writer's temporary files are removed."""
import json
import os

import numpy as np

from ovnerf.scene.frames import PosedFrame
from ovnerf.scene.store import JOURNAL, SceneStore

K = np.array([[20.0, 0, 8.0], [0, 20.0, 6.0], [0, 0, 1]])


def frame(i):
    img = np.full((12, 16, 3), i, np.uint8)
    c2w = np.eye(4)
    c2w[0, 3] = i
    return PosedFrame(f"kf_{i:06d}", img, K, c2w, timestamp=1.0 + i)


def test_one_fsync_per_keyframe_and_readers_see_everything(tmp_path, monkeypatch):
    store = SceneStore(tmp_path, compact_interval=1e9)
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    for i in range(40):
        n0 = len(calls)
        store.add_frame(frame(i))
        meta = json.loads((tmp_path / "transforms.json").read_text())      # always a valid file
        assert isinstance(meta["frames"], list) and meta["frames"]
        compacted = store.journaled == 0
        assert len(calls) - n0 == (1 if not compacted else 3)               # journal (+ json file + dir)
    assert 0 < store.journaled < 40                                          # batched rewrites
    reader = SceneStore(tmp_path, create=False)                              # transforms.json + journal
    assert reader.names() == [f"kf_{i:06d}" for i in range(40)]
    assert np.allclose(reader.pose("kf_000039")[:3, 3], [39, 0, 0])
    store.flush()
    meta = json.loads((tmp_path / "transforms.json").read_text())
    assert len(meta["frames"]) == 40 and (tmp_path / JOURNAL).stat().st_size == 0


def test_torn_line_lost_files_and_leftovers(tmp_path):
    store = SceneStore(tmp_path, compact_interval=1e9)
    for i in range(3):
        store.add_frame(frame(i))
    store._journal.close()                                                   # the writer is killed here
    with open(tmp_path / JOURNAL, "ab") as f:
        f.write(b'{"frame": {"file_path": "images/kf_0000')                  # torn last line
    (tmp_path / "images" / "kf_000002.png").unlink()                         # lost in a power cut
    dead = tmp_path / "images" / ".kf_000003.png.tmp-999999999"              # temp file of a dead writer
    dead.write_bytes(b"partial")
    live = tmp_path / f".transforms.json.tmp-{os.getppid()}"                 # a live writer's: kept
    live.write_bytes(b"{}")
    reopened = SceneStore(tmp_path)
    assert reopened.names() == ["kf_000000", "kf_000001"]
    assert not dead.exists() and live.exists() and str(dead) in reopened.cleaned
    assert json.loads((tmp_path / "transforms.json").read_text())["frames"][-1]["file_path"] == "images/kf_000001.png"
    reopened.add_frame(frame(2))                                             # continues: the name is free again
    assert SceneStore(tmp_path, create=False).names()[-1] == "kf_000002"
