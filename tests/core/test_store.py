import json

import numpy as np
import pytest

from ovnerf.errors import UserError
from ovnerf.scene.conventions import look_at, opencv_to_opengl
from ovnerf.scene.frames import PosedFrame
from ovnerf.scene.store import SceneStore


def _frame(i, rng, H=12, W=16, depth=True, labels=True):
    K = np.array([[20.0, 0, 8.0], [0, 21.0, 6.0], [0, 0, 1]])
    lab = rng.integers(-1, 4, size=(H, W)).astype(np.int16) if labels else None
    dep = (rng.uniform(0.3, 5.0, size=(H, W)).astype(np.float32) if depth else None)
    if dep is not None:
        dep[0, 0] = 0.0
    return PosedFrame(name=f"frame_{i:05d}", image=rng.integers(0, 256, (H, W, 3), dtype=np.uint8), K=K,
                      c2w=look_at([np.cos(i), np.sin(i), 1.0], [0, 0, 0]), timestamp=100.0 + i,
                      depth=dep, labels=lab)


def test_roundtrip_and_nerfstudio_layout(tmp_path):
    rng = np.random.default_rng(0)
    store = SceneStore(tmp_path / "scene")
    store.set_class_names(["chair", "table", "wall", "floor"])
    frames = [_frame(i, rng) for i in range(3)]
    for f in frames:
        store.add_frame(f)
    meta = json.loads((tmp_path / "scene" / "transforms.json").read_text())
    assert meta["ovnerf_classes"] == ["chair", "table", "wall", "floor"]
    assert meta["fl_x"] == 20.0 and meta["w"] == 16 and meta["h"] == 12
    fr0 = meta["frames"][0]
    assert fr0["file_path"] == "images/frame_00000.png" and fr0["depth_file_path"] == "depth/frame_00000.png"
    np.testing.assert_allclose(fr0["transform_matrix"], opencv_to_opengl(frames[0].c2w))
    assert "fl_x" not in fr0  # same as global
    reopened = SceneStore(tmp_path / "scene")
    assert reopened.names() == [f.name for f in frames] and len(reopened) == 3
    for f in frames:
        g = reopened.load(f.name)
        np.testing.assert_array_equal(g.image, f.image)
        np.testing.assert_allclose(g.c2w, f.c2w, atol=1e-12)
        np.testing.assert_allclose(g.K, f.K)
        assert g.timestamp == f.timestamp
        np.testing.assert_array_equal(g.labels, f.labels)  # -1 void survives (255 on disk)
        np.testing.assert_allclose(g.depth, f.depth, atol=0.0005 + 1e-6)  # mm quantisation
        assert g.depth[0, 0] == 0.0
    assert reopened.names()[-1] == "frame_00002"


def test_per_frame_intrinsics_and_continue(tmp_path):
    rng = np.random.default_rng(1)
    store = SceneStore(tmp_path)
    store.add_frame(_frame(0, rng, depth=False, labels=False))
    f1 = _frame(1, rng, H=10, W=14, depth=False, labels=False)
    f1.K = np.array([[30.0, 0, 7.0], [0, 31.0, 5.0], [0, 0, 1]])
    SceneStore(tmp_path).add_frame(f1)  # reopen and continue
    s = SceneStore(tmp_path)
    g = s.load(f1.name)
    assert g.image.shape == (10, 14, 3) and g.depth is None and g.labels is None
    np.testing.assert_allclose(g.K, f1.K)
    np.testing.assert_allclose(s.load("frame_00000").K[0, 0], 20.0)


def test_split_every_tenth(tmp_path):
    rng = np.random.default_rng(2)
    s = SceneStore(tmp_path)
    for i in range(23):
        s.add_frame(_frame(i, rng, H=4, W=4, depth=False, labels=False))
    train, test = s.split()
    assert test == ["frame_00000", "frame_00010", "frame_00020"]
    assert len(train) == 20 and not set(train) & set(test)


def test_errors(tmp_path):
    rng = np.random.default_rng(3)
    s = SceneStore(tmp_path)
    f = _frame(0, rng)
    s.add_frame(f)
    with pytest.raises(UserError, match="already exists"):
        s.add_frame(f)
    bad = _frame(1, rng)
    bad.name = "../evil"
    with pytest.raises(UserError, match="invalid frame name"):
        s.add_frame(bad)
    bad = _frame(2, rng)
    bad.image = bad.image.astype(np.float32)
    with pytest.raises(UserError, match="uint8"):
        s.add_frame(bad)
    assert len(SceneStore(tmp_path)) == 1  # nothing half-written was recorded
    with pytest.raises(UserError, match="no frame named"):
        s.load("nope")
    (tmp_path / "images" / "frame_00000.png").write_bytes(b"garbage")
    with pytest.raises(UserError, match="not a readable image"):
        s.load("frame_00000")
    (tmp_path / "transforms.json").write_text("{not json")
    with pytest.raises(UserError, match="not a readable JSON"):
        SceneStore(tmp_path)
    (tmp_path / "transforms.json").write_text(json.dumps({"foo": 1}))
    with pytest.raises(UserError, match="no 'frames'"):
        SceneStore(tmp_path)
    with pytest.raises(UserError, match="no transforms.json"):
        SceneStore(tmp_path / "empty", create=False)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UserError, match="not a directory"):
        SceneStore(tmp_path / "afile")


def test_reads_external_nerfstudio_file(tmp_path):
    import cv2
    (tmp_path / "images").mkdir()
    img = np.zeros((6, 8, 3), np.uint8)
    img[..., 0] = 200  # red in RGB
    cv2.imwrite(str(tmp_path / "images" / "a.jpg"), img[..., ::-1])
    gl = opencv_to_opengl(look_at([0, -2, 1], [0, 0, 0]))
    meta = {"fl_x": 10, "fl_y": 10, "cx": 4, "cy": 3, "w": 8, "h": 6,
            "frames": [{"file_path": "./images/a.jpg", "transform_matrix": gl[:3].tolist()}]}
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    f = SceneStore(tmp_path).load("a")
    assert f.image[0, 0, 0] > 190 and f.image[0, 0, 2] < 10
    np.testing.assert_allclose(f.c2w, look_at([0, -2, 1], [0, 0, 0]), atol=1e-12)
