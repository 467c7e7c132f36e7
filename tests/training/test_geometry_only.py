"""Training without CLIP (``--clip none``): geometry and colour only, on scenes with no labels.

Trainer API (cache=None) and the CLI (`ovnerf train --clip none --workspace`, `ovnerf eval` and
`ovnerf render` on a scene without labels), the query answer, metrics.json without NaN, and a
failed preprocess that the trainer reports as failed (not "interrupted")."""
import json
import math

import pytest
import torch

from ovnerf.cli import main
from ovnerf.errors import UserError
from ovnerf.field.semantic_field import FieldConfig
from ovnerf.query import SemanticMap
from ovnerf.scene.frames import PosedFrame
from ovnerf.scene.store import SceneStore
from ovnerf.training.config import TrainConfig
from ovnerf.training.trainer import Trainer

from conftest import AABB, make_frames

FIELD = ["field.n_voxels_init=1728", "field.n_voxels_final=4096", "upsample_iters=[20]",
         "alpha_mask_iters=[30]", "field.max_samples=32", "field.rgb_hidden=32"]


def _field():
    return FieldConfig.cpu_preset(n_voxels_init=12 ** 3, n_voxels_final=16 ** 3, max_samples=32, rgb_hidden=32)


@pytest.fixture(scope="module")
def unlabelled_scene(tmp_path_factory):
    """The analytic room as a user's capture: RGB only (no labels, no depth, no class names)."""
    root = tmp_path_factory.mktemp("capture")
    store = SceneStore(root)
    for f in make_frames(n=12, H=24, W=32):
        store.add_frame(PosedFrame(f.name, f.image, f.K, f.c2w, f.timestamp))
    return root


def test_trainer_without_semantics_learns_colour(tmp_path):
    torch.set_num_threads(1)
    frames = [PosedFrame(f.name, f.image, f.K, f.c2w) for f in make_frames(n=12, H=24, W=32)]
    cfg = TrainConfig.cpu_preset(iterations=150, batch_rays=256, progress_interval_s=0.0, checkpoint_every=0,
                                 upsample_iters=(20,), alpha_mask_iters=(30,))
    tr = Trainer(frames[1:], None, None, _field(), cfg, out_dir=tmp_path, aabb=AABB)
    assert not tr.semantic and tr.cfg.use_cse is False and tr.vocabulary == []
    seen = []
    res = tr.train(callback=seen.append)
    assert set(res.losses) == {"color", "total"}   # no semantic term was ever computed (anti_fog off)
    first = next(p.psnr for p in seen if math.isfinite(p.psnr))
    print("train PSNR", first, "->", res.psnr)
    assert res.psnr > first + 4.0                          # colour fitted
    smap = SemanticMap.load(res.checkpoint)
    assert not smap.has_semantics
    f = frames[0]
    out = smap.render(f.K, f.c2w, f.height, f.width)
    assert out["rgb"].shape == (24, 32, 3) and (out["labels"] == -1).all()
    for ask in (lambda: smap.relevancy("chair", None, f.K, f.c2w, f.height, f.width),
                lambda: smap.localize("chair"), lambda: smap.field_cloud()):
        with pytest.raises(UserError, match="no semantic features were trained"):
            ask()


def test_cli_train_eval_render_without_clip(unlabelled_scene, tmp_path, capsys):
    ws = tmp_path / "ws"
    rc = main(["train", str(unlabelled_scene), "--clip", "none", "--workspace", str(ws), "--preset", "cpu",
               "--set", "iterations=40", "--set", "batch_rays=256", "--no-progress", "--sam", "none",
               *sum((["--set", s] for s in FIELD), [])])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "mIoU" not in out and "nan" not in out.lower()
    metrics = json.loads((ws / "checkpoints" / "metrics.json").read_text())
    assert set(metrics) >= {"psnr", "ssim"} and "miou" not in metrics
    assert all(math.isfinite(v) for v in metrics["per_view_psnr"] + [metrics["psnr"], metrics["ssim"]])
    assert not (ws / "cache").exists() and not (unlabelled_scene / "preprocess").exists()

    ck = ws / "checkpoints" / "checkpoint.pt"
    rc = main(["eval", str(ck), "--scene", str(unlabelled_scene), "--json", str(tmp_path / "m.json"),
               "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0 and "PSNR" in out and "SSIM" in out and "trained without semantics" in out
    ev = json.loads((tmp_path / "m.json").read_text())
    assert ev["psnr"] == pytest.approx(metrics["psnr"], abs=1e-6) and "miou" not in ev

    rc = main(["render", str(ck), "--scene", str(unlabelled_scene), "--workspace", str(ws), "--view", "3",
               "--no-progress"])
    assert rc == 0
    files = sorted(p.name for p in (ws / "runs" / "render").iterdir())
    assert files == ["f003_depth.png", "f003_rgb.png"]    # no _labels.png, no legend.json

    # a nerfstudio camera path -> PNG frames + an MP4 (imageio-ffmpeg)
    from ovnerf.scene.conventions import opencv_to_opengl
    st = SceneStore(unlabelled_scene, create=False)
    path = {"render_height": 24, "render_width": 32, "fps": 5,
            "camera_path": [{"camera_to_world": opencv_to_opengl(st.pose(n)).reshape(-1).tolist(), "fov": 50}
                            for n in st.names()[:3]]}
    (tmp_path / "path.json").write_text(json.dumps(path))
    rc = main(["render", str(ck), "--scene", str(unlabelled_scene), "--out", str(tmp_path / "path"),
               "--camera-path", str(tmp_path / "path.json"), "--video", str(tmp_path / "walk.mp4"), "--no-progress"])
    assert rc == 0 and len(list((tmp_path / "path").glob("path_*_rgb.png"))) == 3
    import imageio.v2 as imageio
    with imageio.get_reader(str(tmp_path / "walk.mp4")) as r:
        frames = [f for f in r]
    assert len(frames) == 3 and frames[0].shape == (24, 32, 3)


def test_workspace_inside_scene_is_refused(unlabelled_scene, capsys):
    rc = main(["train", str(unlabelled_scene), "--clip", "none", "--workspace", str(unlabelled_scene / "ws")])
    assert rc == 2 and "inside the input scene" in capsys.readouterr().err


def test_failed_preprocess_is_reported_as_failed(unlabelled_scene, tmp_path, capsys):
    """The simulated teacher cannot run on unlabelled images: the error names the flags to use,
    and train then reports that failure instead of an "interrupted" cache."""
    ws = tmp_path / "ws"
    rc = main(["preprocess", str(unlabelled_scene), "--vocab", "wall,floor", "--workspace", str(ws),
               "--sam-points", "4", "--dino", "none", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "--clip none" in err and "--clip-checkpoint" in err
    rc = main(["train", str(unlabelled_scene), "--workspace", str(ws), "--no-progress", "--sam", "none"])
    err = capsys.readouterr().err
    assert rc == 2 and "failed" in err and "interrupted" not in err and "--clip none" in err


def test_missing_clip_weights_name_the_flag(tmp_path):
    from ovnerf.foundation.registry import build_text_image
    with pytest.raises(UserError) as e:
        build_text_image({"clip": "openclip", "clip_checkpoint": str(tmp_path / "nope.bin")})
    msg = str(e.value)
    assert "--clip-checkpoint" in msg and "--clip none" in msg and "\n" not in msg


def test_anti_fog_auto_follows_depth():
    """anti_fog=auto: on for RGB-only frames, off when depth supervises the geometry (frames with
    depth and depth_weight > 0: depth removes the fog); depth that is not used (weight 0) → on."""
    with_depth = make_frames(n=4, H=12, W=16)
    rgb_only = [PosedFrame(f.name, f.image, f.K, f.c2w) for f in with_depth]
    cfg = TrainConfig.cpu_preset(iterations=2, batch_rays=16, anti_fog="auto")
    assert not Trainer(rgb_only, None, None, _field(), cfg.replace(anti_fog="off"), aabb=AABB).anti_fog
    assert Trainer(rgb_only, None, None, _field(), cfg, aabb=AABB).anti_fog
    assert not Trainer(with_depth, None, None, _field(), cfg.replace(depth_weight=1.0), aabb=AABB).anti_fog
    assert Trainer(with_depth, None, None, _field(), cfg.replace(depth_weight=0.0), aabb=AABB).anti_fog
    assert Trainer(with_depth, None, None, _field(), cfg.replace(anti_fog="on"), aabb=AABB).anti_fog
    assert not Trainer(rgb_only, None, None, _field(), cfg.replace(anti_fog="off"), aabb=AABB).anti_fog
    with pytest.raises(UserError, match="anti_fog"):
        cfg.replace(anti_fog="maybe")


def test_visibility_mask_wiring():
    """visibility_mask: applied at the alpha-mask updates from number ``visibility_after`` on (the
    stored mask is the density mask AND the visible cells: its occupancy is the 'kept' fraction);
    auto = on exactly when the anti-fog terms are."""
    torch.set_num_threads(1)
    with_depth = make_frames(n=4, H=12, W=16)
    rgb_only = [PosedFrame(f.name, f.image, f.K, f.c2w) for f in with_depth]
    cfg = TrainConfig.cpu_preset(iterations=3, batch_rays=16, upsample_iters=(), alpha_mask_iters=(1, 2),
                                 visibility_mask="on", visibility_side=8, checkpoint_every=0)
    msgs = []
    tr = Trainer(rgb_only, None, None, _field(), cfg, aabb=AABB)
    tr.train(callback=lambda p: msgs.append(p.message))
    first, second = [m for m in msgs if "alpha mask" in m]
    assert "outside every training frustum" not in first and "outside every training frustum" in second
    s = tr.mask_stats
    assert s["kept"] + s["outside_frusta"] + s["occluded"] + s["faint"] == pytest.approx(s["density"])
    assert float(tr.field.tensorf.alpha_mask.float().mean()) == pytest.approx(s["kept"]) == pytest.approx(s["occupied"])
    assert s["outside_frusta"] > 0                     # 4 cameras do not see the whole box
    late = Trainer(rgb_only, None, None, _field(), cfg.replace(visibility_after=2), aabb=AABB)
    late.train()
    assert set(late.mask_stats) == {"occupied"}        # density only
    auto = cfg.replace(visibility_mask="auto", anti_fog="auto")   # follows the anti-fog terms
    assert Trainer(rgb_only, None, None, _field(), auto, aabb=AABB).visibility
    assert not Trainer(with_depth, None, None, _field(), auto.replace(depth_weight=1.0), aabb=AABB).visibility
    assert not Trainer(rgb_only, None, None, _field(), auto.replace(anti_fog="off"), aabb=AABB).visibility
    with pytest.raises(UserError, match="visibility_mask"):
        cfg.replace(visibility_mask="maybe")
