"""ovnerf.commands.common: parser helpers and the scene-directory check used by train / render."""
import argparse
import json

import pytest

from ovnerf.commands.common import add_runtime_arguments, command_parser, open_scene, require_scene_dir
from ovnerf.errors import UserError


def test_command_parser_and_runtime_arguments():
    root = argparse.ArgumentParser()
    sub = root.add_subparsers(dest="command")
    p = command_parser(sub, "thing", "First paragraph\nstill first.\n\nSecond paragraph.", help="does a thing")
    add_runtime_arguments(p)
    assert p.description == "First paragraph\nstill first."
    args = root.parse_args(["thing"])
    assert (args.command, args.device, args.no_progress) == ("thing", "cpu", False)
    args = root.parse_args(["thing", "--device", "cuda:1", "--no-progress"])
    assert (args.device, args.no_progress) == ("cuda:1", True)


def test_scene_dir_check(tmp_path):
    with pytest.raises(UserError, match=r"not a scene directory \(no transforms.json\)"):
        require_scene_dir(tmp_path)
    with pytest.raises(UserError, match="not a scene directory"):
        open_scene(tmp_path)
    assert not (tmp_path / "transforms.json").exists()  # nothing created
    (tmp_path / "transforms.json").write_text(json.dumps({"camera_model": "OPENCV", "frames": []}))
    require_scene_dir(tmp_path)
    store = open_scene(tmp_path)
    assert store.names() == []


def test_train_and_render_refuse_non_scene(tmp_path, capsys):
    from ovnerf.cli import main
    assert main(["train", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert main(["render", str(tmp_path / "c.pt"), "--scene", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("not a scene directory (no transforms.json)") == 2
