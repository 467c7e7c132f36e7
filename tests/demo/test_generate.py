import json

import numpy as np
import pytest

from ovnerf.synthetic.generate import generate_room_scene, load_room_info
from ovnerf.errors import UserError
from ovnerf.scene.store import SceneStore

from .conftest import SMALL


def test_scene_directory_contents(small_scene):
    store = SceneStore(small_scene, create=False)
    assert len(store) == SMALL["n_frames"]
    info = load_room_info(small_scene)
    assert store.class_names == info["classes"]
    f = store.load(store.names()[0])
    assert f.image.shape == (60, 80, 3) and f.labels.shape == (60, 80) and f.depth.shape == (60, 80)
    assert f.K[0, 2] == pytest.approx(40.0) and f.K[1, 2] == pytest.approx(30.0)
    stamps = [store.load(n).timestamp for n in store.names()[:3]]
    np.testing.assert_allclose(np.diff(stamps), 0.2, atol=1e-6)
    # at least 10 classes visible along the trajectory
    seen = set()
    for fr in store.frames():
        seen |= set(np.unique(fr.labels).tolist())
    assert -1 not in seen and len(seen) >= 10
    # ground truth instances: every class has one, AABBs inside the room
    W, D, H = info["room_size"]
    classes = {d["class"] for d in info["instances"]}
    assert classes == set(info["classes"])
    for d in info["instances"]:
        if d["class"] not in ("wall", "floor", "ceiling"):
            assert -W / 2 - 1e-6 <= d["aabb_min"][0] and d["aabb_max"][0] <= W / 2 + 1e-6
            assert -1e-6 <= d["aabb_min"][2] and d["aabb_max"][2] <= H + 1e-6


def test_same_seed_byte_identical_labels(small_scene, tmp_path):
    again = generate_room_scene(tmp_path / "again", **SMALL)
    for sub in ("labels", "depth", "images"):
        for p in sorted((small_scene / sub).iterdir()):
            assert (again / sub / p.name).read_bytes() == p.read_bytes(), f"{sub}/{p.name}"
    a = json.loads((small_scene / "room.json").read_text())
    b = json.loads((again / "room.json").read_text())
    assert a == b


def test_other_seed_differs(small_scene, tmp_path):
    other = generate_room_scene(tmp_path / "other", **{**SMALL, "seed": 1, "n_frames": 1})
    assert (other / "labels/frame_00000.png").read_bytes() != (small_scene / "labels/frame_00000.png").read_bytes()


def test_bad_arguments_and_existing_scene(small_scene, tmp_path):
    with pytest.raises(UserError):
        generate_room_scene(small_scene, **SMALL)
    for bad in ({"width": 0}, {"n_frames": 0}, {"seed": -1}, {"layout": "castle"}, {"hfov_deg": 200.0},
                {"camera_height": 5.0}):
        with pytest.raises(UserError):
            generate_room_scene(tmp_path / "bad", **{**SMALL, **bad})
    out = generate_room_scene(tmp_path / "ow", **{**SMALL, "n_frames": 2, "width": 16, "height": 12})
    out = generate_room_scene(out, **{**SMALL, "n_frames": 1, "width": 16, "height": 12}, overwrite=True)
    assert len(SceneStore(out, create=False)) == 1
