"""`ovnerf import-bag`: demo scene -> bag (ovnerf.demo.bag_export) -> import -> same poses, K, images."""
import numpy as np
import pytest

from ovnerf.errors import UserError
from ovnerf.scene.bag_import import import_bag
from ovnerf.scene.store import SceneStore


@pytest.fixture(scope="module")
def demo_bag(tmp_path_factory):
    from ovnerf.demo.bag_export import export_bag
    from ovnerf.demo.generate import generate_room_scene
    root = tmp_path_factory.mktemp("bag")
    scene = generate_room_scene(root / "scene", seed=1, width=48, height=36, n_frames=8)
    return scene, export_bag(scene, root / "bag")


def test_import_reproduces_poses_intrinsics_images(demo_bag, tmp_path):
    scene, bag = demo_bag
    rep = import_bag(bag, tmp_path / "out", "/camera/color/image_raw", "/camera/color/camera_info",
                     camera_frame="camera_color_optical_frame")
    assert rep.imported == 8 and rep.images == 8 and not rep.skipped
    src, dst = SceneStore(scene, create=False), SceneStore(tmp_path / "out", create=False)
    for a, b in zip(src.frames(), dst.frames()):
        assert np.allclose(a.c2w, b.c2w, atol=1e-6)
        assert np.array_equal(a.K, b.K)
        assert np.array_equal(a.image, b.image)
        assert a.timestamp == pytest.approx(b.timestamp, abs=1e-6)


def test_import_keyframe_threshold_appends_and_cli(demo_bag, tmp_path):
    from ovnerf.cli import main
    scene, bag = demo_bag
    rep = import_bag(bag, tmp_path / "out", "/camera/color/image_raw", "/camera/color/camera_info",
                     min_translation=100.0, min_rotation_deg=180.0)      # only the first frame moves "enough"
    assert rep.imported == 1 and rep.skipped["not_keyframe"] == 7
    rc = main(["import-bag", str(bag), str(tmp_path / "out"), "--max-frames", "2"])   # appends
    assert rc == 0
    assert SceneStore(tmp_path / "out", create=False).names() == ["kf_000000", "kf_000001", "kf_000002"]


def test_import_errors(demo_bag, tmp_path):
    from ovnerf.cli import main
    _, bag = demo_bag
    with pytest.raises(UserError, match="not in"):
        import_bag(bag, tmp_path / "o", "/nope", "/camera/color/camera_info")
    with pytest.raises(UserError, match="not found"):
        import_bag(tmp_path / "missing.mcap", tmp_path / "o", "/a", "/b")
    rep = import_bag(bag, tmp_path / "o2", "/camera/color/image_raw", "/camera/color/camera_info",
                     map_frame="odom_nonexistent")
    assert rep.imported == 0 and rep.skipped["no_pose"] == 8
    assert main(["import-bag", str(tmp_path / "missing"), str(tmp_path / "o3")]) == 2
