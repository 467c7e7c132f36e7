from ovnerf.cli import main
from ovnerf.scene.store import SceneStore


def test_generate_scene_command(tmp_path, capsys):
    out = tmp_path / "s"
    args = ["generate-scene", str(out), "--frames", "3", "--width", "32", "--height", "24", "--seed", "2", "--bag"]
    assert main(args) == 0
    assert len(SceneStore(out, create=False)) == 3
    assert (out / "bag" / "metadata.yaml").exists() and (out / "room.json").exists()
    assert main(args) == 2                     # exists: one clear error, no traceback
    assert "already holds a scene" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0
