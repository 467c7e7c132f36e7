"""`ovnerf preprocess/train SCENE --workspace WS`: one layout (WS/cache, WS/checkpoints), the
scene only read, outputs inside the scene refused with one line."""
import hashlib

from ovnerf.app.workspace import Workspace
from ovnerf.checkpoint import load_checkpoint
from ovnerf.cli import main

from .conftest import render_room


def _tree_digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def test_preprocess_and_train_into_a_workspace(tmp_path, capsys):
    from ovnerf.scene.store import SceneStore
    frames, classes = render_room(48, 36, n_views=3, seed=2)
    scene = tmp_path / "scene"
    store = SceneStore(scene)
    store.set_class_names(classes)
    for f in frames:
        store.add_frame(f)
    before = _tree_digest(scene)
    ws = tmp_path / "ws"
    assert main(["preprocess", str(scene), "--vocab", ",".join(classes), "--workspace", str(ws),
                 "--sam", "none", "--dino", "none", "--no-progress"]) == 0
    assert main(["train", str(scene), "--workspace", str(ws), "--preset", "cpu", "--no-progress",
                 "--set", "iterations=6", "--set", "batch_rays=64", "--set", "field.max_samples=16",
                 "--set", "use_cse=false"]) == 0
    w = Workspace(ws, scene=scene)
    ck = load_checkpoint(w.checkpoint, build=False)
    assert ck["iteration"] == 6 and ck["vocabulary"] == classes
    assert (ws / "cache" / "manifest.json").is_file() and w.metrics.is_file()
    assert _tree_digest(scene) == before                    # the input scene is never written
    capsys.readouterr()
    assert main(["train", str(scene), "--workspace", str(scene / "out"), "--preset", "cpu"]) == 2
    assert "inside the input scene" in capsys.readouterr().err
    assert main(["train", str(scene), "--preset", "cpu"]) == 2      # no output named
    assert "--workspace" in capsys.readouterr().err
