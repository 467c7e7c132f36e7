"""`ovnerf preprocess` end to end on a SceneStore directory (simulated teacher, real ONNX SAM)."""
import pytest

from ovnerf.cli import main
from ovnerf.preprocess.cache import PreprocessCache

from .conftest import render_room


@pytest.fixture(scope="module")
def scene_dir(tmp_path_factory):
    from ovnerf.scene.store import SceneStore
    frames, classes = render_room(96, 72, n_views=3, seed=1)
    root = tmp_path_factory.mktemp("scene")
    store = SceneStore(root)
    store.set_class_names(classes)
    for f in frames:
        store.add_frame(f)
    return root


def test_cli_preprocess_builds_cache(scene_dir, tmp_path, capsys):
    cache = tmp_path / "cache"
    rc = main(["preprocess", str(scene_dir), "--vocab", "wall,floor,rug,table,chair,picture",
               "--cache", str(cache), "--sam-points", "4", "--dino", "none", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "SIMULATED" in out
    c = PreprocessCache(cache)
    assert c.view_names() == ["view001", "view002"]  # view000 is a test frame (index % 10 == 0)
    v = c.load_view("view001")
    assert v.rsr.shape == (72, 96) and v.dino is None


def test_cli_missing_weights_is_one_clear_error(scene_dir, tmp_path, capsys):
    rc = main(["preprocess", str(scene_dir), "--vocab", "wall", "--cache", str(tmp_path / "c"),
               "--sam", "torch", "--sam-checkpoint", str(tmp_path / "sam_vit_h_4b8939.pth")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "sam_vit_h_4b8939.pth" in err and "sam_checkpoint" in err and "segment-anything" in err
    rc = main(["preprocess", str(scene_dir), "--vocab", "wall", "--clip", "openclip",
               "--cache", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert rc == 2 and "clip_checkpoint" in err


def test_cli_bad_scene(tmp_path, capsys):
    assert main(["preprocess", str(tmp_path), "--vocab", "wall"]) == 2
    assert "not a scene directory" in capsys.readouterr().err
