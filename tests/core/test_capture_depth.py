"""`ovnerf import` of nerfstudio ``depth_file_path`` depth: uint16 millimetres × depth_unit_scale ×
applied_scale, through the colour image's undistortion map (nearest: never blended) and
--downscale (min-valid pooling); 0 / NaN / inf / negative = unknown; missing, unreadable and
wrong-size depth files listed with the other problems before anything is written."""
import json

import cv2
import numpy as np
import pytest

from ovnerf.cli import main
from ovnerf.errors import UserError
from ovnerf.scene.capture_import import downscale_depth, import_capture, read_depth, undistort_maps
from ovnerf.scene.conventions import look_at, opencv_to_opengl
from ovnerf.scene.store import SceneStore

W, H = 64, 48
K = np.array([[50.0, 0, 32.0], [0, 50.0, 24.0], [0, 0, 1]])
DIST = (-0.25, 0.06, 0.002, -0.001)
EDGE = 16                       # colour and depth edge (column, in the distorted source image)
NEAR_MM, FAR_MM = 1500, 3000    # left of the edge / right of it
HOLE = (slice(20, 28), slice(40, 48))   # depth 0 (unknown), painted red in the colour image
APPLIED_SCALE = 0.5


def source_pair():
    img = np.full((H, W, 3), 255, np.uint8)
    img[:, :EDGE] = 0
    img[HOLE] = (255, 0, 0)
    z = np.full((H, W), FAR_MM, np.uint16)
    z[:, :EDGE] = NEAR_MM
    z[HOLE] = 0
    return img, z


def write_capture(root, n=8, depth_writer=None):
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "depth").mkdir(parents=True, exist_ok=True)
    img, z = source_pair()
    frames = []
    for i in range(n):
        a = 2 * np.pi * i / n
        c2w = look_at([2 * np.cos(a), 2 * np.sin(a), 1.0 + 0.1 * np.sin(3 * a)], [0, 0, 0.5])
        cv2.imwrite(str(root / "images" / f"{i:03d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        rel = f"depth/{i:03d}.png"
        (depth_writer or (lambda p, d, i: cv2.imwrite(str(p), d)))(root / rel, z, i)
        frames.append({"file_path": f"images/{i:03d}.png", "depth_file_path": rel,
                       "transform_matrix": opencv_to_opengl(c2w).tolist()})
    meta = {"fl_x": K[0, 0], "fl_y": K[1, 1], "cx": K[0, 2], "cy": K[1, 2], "w": W, "h": H,
            "k1": DIST[0], "k2": DIST[1], "p1": DIST[2], "p2": DIST[3], "applied_scale": APPLIED_SCALE,
            "frames": frames}
    (root / "transforms.json").write_text(json.dumps(meta))
    return root / "transforms.json"


def test_depth_follows_the_colour_through_undistortion_and_downscale(tmp_path, capsys):
    cap = write_capture(tmp_path / "cap")
    ws = tmp_path / "ws"
    assert main(["import", str(cap), "--workspace", str(ws), "--downscale", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "depth imported on 8 frames (unit scale 0.001 m, median 3.00 m)" in out
    assert "not imported" not in out and "--set depth_weight=1.0" in out
    store = SceneStore(ws / "scene", create=False)
    near, far = NEAR_MM * 1e-3 * APPLIED_SCALE, FAR_MM * 1e-3 * APPLIED_SCALE   # scene units (poses' scale)
    for f in store.frames():
        assert f.depth is not None and f.depth.shape == (H // 2, W // 2) == f.image.shape[:2]
        z, rgb = f.depth, f.image.astype(int)
        # only the source's values: nothing blended across the edge (linear remap / area resize would)
        assert np.all(np.isin(np.round(z, 4), np.round([0.0, near, far], 4)))
        black = rgb.max(-1) < 30
        white = rgb.min(-1) > 225
        red = (rgb[..., 0] > 225) & (rgb[..., 1:].max(-1) < 30)
        assert black.sum() > 20 and white.sum() > 100 and red.sum() > 4
        # registered: the depth edge and the hole lie where the colour's do after undistortion
        np.testing.assert_allclose(z[black], near, atol=1e-6)
        np.testing.assert_allclose(z[white], far, atol=1e-6)
        assert np.all(z[red] == 0)
    # registered pixel for pixel: the source depth at each output pixel's source position (the lens
    # map, nearest), then the 2x2 nearest known depth
    mx, my, _ = undistort_maps(K, np.array(DIST), False, W, H)
    _, zsrc = source_pair()
    r, c = np.rint(my).astype(int), np.rint(mx).astype(int)
    inside = (r >= 0) & (r < H) & (c >= 0) & (c < W)
    full = np.where(inside, zsrc[r.clip(0, H - 1), c.clip(0, W - 1)], 0) * 1e-3 * APPLIED_SCALE
    expect = downscale_depth(full.astype(np.float32), W // 2, H // 2)
    z = store.load(store.names()[0]).depth
    assert np.mean(np.abs(z - expect) > 1e-6) < 0.01   # (rounding ties at x.5 may differ)
    # a known pixel: well left of the edge, well right of it (after undistortion and /2)
    z = store.load(store.names()[0]).depth
    assert z[12, 2] == pytest.approx(0.75, abs=1e-6) and z[12, 24] == pytest.approx(1.5, abs=1e-6)
    # `ovnerf train` says the depth is there and how to use it (its default is the paper's RGB only)
    assert main(["train", str(ws / "scene"), "--workspace", str(ws), "--clip", "none", "--preset", "cpu",
                 "--set", "iterations=1", "--set", "batch_rays=64", "--no-eval", "--no-progress"]) == 0
    assert "the frames carry depth, unused" in capsys.readouterr().out
    # the same inputs are reused; another unit scale re-imports (float metres given as mm → ×1000 off)
    rep = import_capture(cap, ws / "scene", downscale=2)
    assert rep.reused and rep.depth["frames"] == 8
    rep = import_capture(cap, ws / "scene", downscale=2, depth_unit_scale=1e-4)
    assert not rep.reused and rep.depth["median_m"] == pytest.approx(0.3)
    assert SceneStore(ws / "scene", create=False).load("000").depth[12, 24] == pytest.approx(0.15, abs=1e-6)


def test_depth_problems_listed_with_the_others_and_nothing_written(tmp_path):
    def writer(path, z, i):
        if i == 1:
            return                                   # missing
        if i == 2:
            z = np.zeros((30, 30), np.uint16)        # another size (and aspect)
        if i == 3:
            z = np.dstack([z, z, z]).astype(np.uint8)   # colour, not a depth image
        if i == 4:
            path.write_bytes(b"not a png")           # unreadable
            return
        cv2.imwrite(str(path), z)
    cap = write_capture(tmp_path / "cap", depth_writer=writer)
    meta = json.loads(cap.read_text())
    meta["frames"][5]["transform_matrix"][3] = [0, 0, 1, 1]   # a non-depth problem, listed too
    cap.write_text(json.dumps(meta))
    with pytest.raises(UserError) as exc:
        import_capture(cap, tmp_path / "ws" / "scene")
    msg = str(exc.value)
    assert "5 problem(s)" in msg
    assert "depth image missing" in msg and "depth/001.png" in msg
    assert "002: depth image is 30x30, the image 64x48" in msg
    assert "single-channel" in msg and "depth/003.png" in msg
    assert "not a readable depth image" in msg and "depth/004.png" in msg
    assert "last row" in msg
    assert not (tmp_path / "ws").exists()


def test_depth_values_units_and_pooling(tmp_path):
    p = tmp_path / "d.npy"
    np.save(p, np.array([[np.nan, np.inf, -np.inf], [-1.0, 0.0, 2.5]], np.float32))
    np.testing.assert_array_equal(read_depth(p, 1.0), [[0, 0, 0], [0, 0, 2.5]])
    q = tmp_path / "d.png"
    cv2.imwrite(str(q), np.array([[0, 1234], [65535, 7]], np.uint16))
    np.testing.assert_allclose(read_depth(q, 1e-3 * 0.5), [[0, 0.617], [32.7675, 0.0035]], rtol=1e-6)
    z = np.array([[0, 2, 5, 5], [3, 0, 5, 5], [0, 0, 1, 9], [0, 0, 9, 9]], np.float32)
    np.testing.assert_array_equal(downscale_depth(z, 2, 2), [[2, 5], [0, 1]])   # nearest known, never a mean
    assert downscale_depth(np.ones((5, 5), np.float32) * 4, 2, 2).tolist() == [[4, 4], [4, 4]]
    with pytest.raises(UserError, match="depth-unit-scale"):
        import_capture(tmp_path, tmp_path / "ws", depth_unit_scale=0)
