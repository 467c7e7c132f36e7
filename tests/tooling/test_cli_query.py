"""`ovnerf query CHECKPOINT TEXT --out DIR` and `ovnerf --help` (only commands that exist)."""
import importlib
import json

import cv2
import numpy as np
import pytest
import torch

from ovnerf import cli
from ovnerf.checkpoint import save_checkpoint
from ovnerf.field.semantic_field import FieldConfig, SemanticField
from ovnerf.foundation.registry import build_text_image
from ovnerf.foundation.text_encoder_record import record_of
from ovnerf.scene.conventions import look_at


@pytest.fixture(scope="module")
def sofa_checkpoint(tmp_path_factory):
    """Vocabulary table/chair/sofa from the simulated (WordNet) encoder, its record, and a field
    that is a sofa inside a 0.6 m cube at the origin (empty elsewhere)."""
    enc = build_text_image({"clip": "simulated", "sim_dim": 16})
    vocab = ["table", "chair", "sofa"]
    emb = enc.encode_text(vocab)
    torch.manual_seed(0)
    field = SemanticField(FieldConfig.cpu_preset(feature_dim=16, dino_dim=8), (-np.ones(3), np.ones(3)))
    with torch.no_grad():
        field.feature_head.mlp[-1].weight.zero_()
        field.feature_head.mlp[-1].bias.copy_(emb[2])
    inside = lambda xyz: (xyz.abs() <= 0.3).all(-1)  # noqa: E731
    field.density = lambda xyz: torch.where(inside(xyz), torch.tensor(300.0), torch.tensor(0.0))
    K = np.array([[30.0, 0, 16], [0, 30.0, 12], [0, 0, 1]])
    views = [[K, look_at((2.0 * np.cos(a), 2.0 * np.sin(a), 1.0), (0, 0, 0)), 24, 32]
             for a in np.linspace(0, 2 * np.pi, 6, endpoint=False)]
    ck = tmp_path_factory.mktemp("ck") / "checkpoint.pt"
    save_checkpoint(ck, field=field, field_config=field.cfg.to_dict(), vocabulary=vocab, text_emb=emb,
                    views=views, text_encoder=record_of(enc))
    return ck, field


def test_help_lists_only_existing_commands(capsys):
    import argparse
    for name in cli.COMMANDS:
        assert importlib.util.find_spec(f"ovnerf.commands.{name}") is not None, name
    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert len(sub.choices) == len(cli.COMMANDS) and "query" in sub.choices   # one per existing module
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in sub.choices)


def test_cli_query_out_of_vocabulary(sofa_checkpoint, tmp_path, capsys, monkeypatch):
    ck, field = sofa_checkpoint
    # the checkpoint file stores weights only; the analytic density is re-applied after loading
    from ovnerf import checkpoint as ckmod
    real = ckmod.build_field

    def build(payload, device="cpu"):
        f = real(payload, device)
        f.density = field.density
        return f
    monkeypatch.setattr(ckmod, "build_field", build)
    out = tmp_path / "q"
    assert cli.main(["query", str(ck), "couch", "--out", str(out), "--max-side", "32"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("ovnerf query 'couch': centroid") and "SIMULATED" in line and "\n" not in line
    data = json.loads((out / "query.json").read_text())
    assert data["found_3d"] and np.linalg.norm(data["centroid"]) < 0.3        # inside the sofa cube
    assert data["negatives"] == ["object", "things", "stuff", "texture"] and data["simulation"]
    assert len(data["nav_goal"]) == 4 and data["grasps"] and data["score"] > 0.9
    rel, mask = cv2.imread(str(out / "relevancy.png")), cv2.imread(str(out / "mask.png"), cv2.IMREAD_UNCHANGED)
    assert rel.shape == (24, 32, 3) and mask.shape == (24, 32)
    assert 0 < (mask == 255).mean() < 1 and data["mask_pixels"] == int((mask == 255).sum())
    # an unknown word: exit 2, one line naming it
    assert cli.main(["query", str(ck), "xyzzyq", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown word 'xyzzyq'" in err and "\n" not in err
    assert cli.main(["query", str(ck), "sofa", "--view", "9", "--out", str(out)]) == 2
    assert "--view 9" in capsys.readouterr().err


def test_cli_error_is_readable_not_an_echo_of_a_huge_input(tmp_path, capsys):
    """A hostile 5,000-character argument gets a short error line, not 5 kB echoed back."""
    huge = tmp_path / ("x" * 200) / ("y" * 4800 + ".pt")
    rc = cli.main(["query", str(huge), "sofa", "--out", str(tmp_path / "q")])
    err = capsys.readouterr().err
    assert rc == 2 and "error" in err and len(err) < 1000, (rc, len(err))
