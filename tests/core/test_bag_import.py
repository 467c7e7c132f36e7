"""`ovnerf import-bag`: demo scene -> bag (ovnerf.synthetic.bag_export) -> import -> same poses, K, images."""
import numpy as np
import pytest

from ovnerf.errors import UserError
from ovnerf.scene.bag_import import import_bag
from ovnerf.scene.store import SceneStore


@pytest.fixture(scope="module")
def demo_bag(tmp_path_factory):
    from ovnerf.synthetic.bag_export import export_bag
    from ovnerf.synthetic.generate import generate_room_scene
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


DEPTH = "/camera/depth/image_raw"


def test_import_depth_round_trip(demo_bag, tmp_path):
    """Demo room with depth -> bag (16UC1 mm) -> import --depth-topic: depth within 1 mm (exact here)."""
    from ovnerf.cli import main
    scene, bag = demo_bag
    rep = import_bag(bag, tmp_path / "out", "/camera/color/image_raw", "/camera/color/camera_info",
                     depth_topic=DEPTH)
    assert rep.imported == 8 and rep.with_depth == 8 and not rep.depth_rejected and not rep.skipped
    src, dst = SceneStore(scene, create=False), SceneStore(tmp_path / "out", create=False)
    for a, b in zip(src.frames(), dst.frames()):
        assert b.depth is not None and b.depth.dtype == np.float32 and b.depth.shape == a.depth.shape
        assert np.abs(b.depth - a.depth).max() <= 1e-3 + 1e-6
        assert np.array_equal(b.depth > 0, a.depth > 0)
    assert main(["import-bag", str(bag), str(tmp_path / "cli"), "--depth-topic", DEPTH, "--max-frames", "2"]) == 0
    assert all(f.depth is not None for f in SceneStore(tmp_path / "cli", create=False).frames())
    # without --depth-topic (old behaviour): no depth stored
    rep = import_bag(bag, tmp_path / "rgb", "/camera/color/image_raw", "/camera/color/camera_info", max_frames=2)
    assert rep.with_depth == 0
    assert all(f.depth is None for f in SceneStore(tmp_path / "rgb", create=False).frames())


def test_import_old_bag_and_bad_depth(tmp_path):
    """A bag without a depth topic imports as before; --depth-topic on it is one clear error; a
    depth stream of the wrong size or encoding is counted and the colour frames are imported."""
    from ovnerf.synthetic.bag_export import export_bag
    from ovnerf.synthetic.generate import generate_room_scene
    scene = generate_room_scene(tmp_path / "scene", seed=2, width=32, height=24, n_frames=3)
    old = export_bag(scene, tmp_path / "old", depth=False)
    rep = import_bag(old, tmp_path / "o1", "/camera/color/image_raw", "/camera/color/camera_info")
    assert rep.imported == 3 and rep.with_depth == 0
    with pytest.raises(UserError, match="depth topic"):
        import_bag(old, tmp_path / "o2", "/camera/color/image_raw", "/camera/color/camera_info", depth_topic=DEPTH)
    # the colour images published on the depth topic too: wrong encoding for depth
    rep = import_bag(old, tmp_path / "o3", "/camera/color/image_raw", "/camera/color/camera_info",
                     depth_topic="/camera/color/image_raw")
    assert rep.imported == 3 and rep.with_depth == 0 and rep.depth_rejected["encoding"] == 3
