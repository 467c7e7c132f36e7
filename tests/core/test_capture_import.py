"""`ovnerf import`: instant-ngp / nerfstudio transforms.json and COLMAP text models into a scene.

Validation lists every problem before anything is written; distortion is undone (an analytic
planar scene seen through a distorted lens comes back as the pinhole image); --downscale scales
images and intrinsics together; orientation brings gravity to +z; the scene box comes from the
sparse points (COLMAP) or the view rays, clipped to instant-ngp's aabb_scale cube; importing
the same inputs again reuses the scene."""
import json
import math

import cv2
import numpy as np
import pytest

from ovnerf.cli import main
from ovnerf.errors import UserError
from ovnerf.scene.capture_import import import_capture, load_capture, undistort_maps, view_ray_bounds
from ovnerf.scene.conventions import look_at, opencv_to_opengl
from ovnerf.scene.store import SceneStore
from ovnerf.synthetic.phone_capture import distort_image

W, H = 64, 48
K = np.array([[50.0, 0, 32.0], [0, 50.0, 24.0], [0, 0, 1]])
DIST = (-0.25, 0.06, 0.002, -0.001)


def plane_render(Kr, h, w):
    """A pinhole camera looking at a textured plane z = 1: texture of the normalised coordinates."""
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    x, y = (u + 0.5 - Kr[0, 2]) / Kr[0, 0], (v + 0.5 - Kr[1, 2]) / Kr[1, 1]
    g = 0.5 + 0.25 * np.sin(7 * x) + 0.25 * np.cos(5 * y + 2 * x)
    return np.clip(np.stack([g, 1 - g, 0.5 * g + 0.25], -1) * 255, 0, 255).astype(np.uint8)


def poses(n=12, radius=2.0):
    out = []
    for i in range(n):
        a = 2 * np.pi * i / n
        out.append(look_at([radius * np.cos(a), radius * np.sin(a), 1.0 + 0.1 * np.sin(3 * a)], [0, 0, 0.5]))
    return out


def write_ngp(root, c2ws, images, dist=(0, 0, 0, 0), extra=None):
    (root / "images").mkdir(parents=True, exist_ok=True)
    frames = []
    for i, (c2w, img) in enumerate(zip(c2ws, images)):
        cv2.imwrite(str(root / "images" / f"{i:03d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        frames.append({"file_path": f"images/{i:03d}.png", "transform_matrix": opencv_to_opengl(c2w).tolist()})
    meta = {"fl_x": K[0, 0], "fl_y": K[1, 1], "cx": K[0, 2], "cy": K[1, 2], "w": W, "h": H,
            "k1": dist[0], "k2": dist[1], "p1": dist[2], "p2": dist[3], "frames": frames, **(extra or {})}
    (root / "transforms.json").write_text(json.dumps(meta))
    return root / "transforms.json"


def test_undistortion_restores_the_pinhole_image():
    distorted = distort_image(plane_render, K, DIST, H, W, pad=16)
    mx, my, Kn = undistort_maps(K, np.array(DIST), False, W, H)
    und = cv2.remap(distorted, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    truth = plane_render(Kn, H, W)
    err_raw = np.abs(distorted.astype(float) - plane_render(K, H, W)).mean()
    err = np.abs(und.astype(float)[2:-2, 2:-2] - truth[2:-2, 2:-2]).mean()
    print(err_raw, err)
    assert err_raw > 5.0          # the lens visibly bends the image
    assert err < 2.0              # undistorted = the pinhole image with K_new (8-bit, bilinear)


def test_validation_lists_every_problem_and_writes_nothing(tmp_path):
    img = plane_render(K, H, W)
    src = write_ngp(tmp_path / "cap", poses(4), [img] * 4)
    (tmp_path / "cap" / "images" / "001.png").unlink()
    cv2.imwrite(str(tmp_path / "cap" / "images" / "002.png"), np.zeros((10, 20, 3), np.uint8))
    with pytest.raises(UserError) as e:
        import_capture(src, tmp_path / "ws" / "scene")
    msg = str(e.value)
    assert "2 problem(s)" in msg and "001" in msg and "image missing" in msg and "002" in msg and "20x10" in msg
    assert not (tmp_path / "ws").exists()


def test_transforms_import_downscale_orientation_reuse(tmp_path):
    # a capture whose world is tilted and shifted (as SfM returns it), with distortion + aabb_scale
    tilt = np.eye(4)
    tilt[:3, :3] = cv2.Rodrigues(np.array([0.5, -0.3, 0.2]))[0]
    tilt[:3, 3] = [0.3, -0.2, 0.4]
    c2ws = [tilt @ p for p in poses()]
    img = distort_image(plane_render, K, DIST, H, W, pad=16)
    src = write_ngp(tmp_path / "cap", c2ws, [img] * len(c2ws), DIST, {"aabb_scale": 1})
    rep = import_capture(src, tmp_path / "ws" / "scene", downscale=2)
    assert not rep.reused and rep.size == (32, 24)
    assert any("aabb_scale" in n for n in rep.notes) and any("distortion" in n for n in rep.notes)
    st = SceneStore(tmp_path / "ws" / "scene", create=False)
    Ks, h, w = st.intrinsics(st.names()[0])
    _, _, Kn = undistort_maps(K, np.array(DIST), False, W, H)
    assert (h, w) == (24, 32) and np.allclose(Ks[:2, :3], Kn[:2, :3] / 2)
    assert st.load(st.names()[0]).image.shape == (24, 32, 3)
    c2w = np.stack([st.pose(n) for n in st.names()])
    up = -c2w[:, :3, 1].mean(0)
    assert up[2] / np.linalg.norm(up) > 0.999 and np.abs(c2w[:, :3, 3].mean(0)).max() < 1e-6
    # relative poses are kept (a rigid transform): distances between cameras unchanged
    d_src = np.linalg.norm(c2ws[0][:3, 3] - c2ws[5][:3, 3])
    assert np.linalg.norm(c2w[0, :3, 3] - c2w[5, :3, 3]) == pytest.approx(d_src)
    lo, hi = st.aabb()
    half = 1 / (2 * 0.33)  # aabb_scale 1 cube around the source origin, moved by the orientation
    T = np.array(st.meta["ovnerf_import"]["scene_from_source"])
    assert np.linalg.norm((lo + hi) / 2 - T[:3, 3]) < math.sqrt(3) * half
    assert np.all(hi - lo <= 2 * half * math.sqrt(3) + 1e-9)
    mtime = (tmp_path / "ws" / "scene" / "transforms.json").stat().st_mtime_ns
    again = import_capture(src, tmp_path / "ws" / "scene", downscale=2)
    assert again.reused and (tmp_path / "ws" / "scene" / "transforms.json").stat().st_mtime_ns == mtime


def test_view_ray_bounds_cover_the_looked_at_region():
    """Cameras on a ring looking at an object at (0,0,0.5): the box holds the object and the cameras."""
    c2ws = np.stack(poses(16))
    lo, hi = view_ray_bounds(c2ws, np.stack([K] * 16), np.array([[W, H]] * 16, float))
    assert np.all(lo < [-2, -2, 0.4]) and np.all(hi > [2, 2, 1.0])
    assert np.all(hi - lo < 8.0)


def _write_colmap_text(d, c2ws, img_names, points):
    d.mkdir(parents=True)
    (d / "cameras.txt").write_text(f"1 OPENCV {W} {H} {K[0,0]} {K[1,1]} {K[0,2]} {K[1,2]} {DIST[0]} {DIST[1]} "
                                   f"{DIST[2]} {DIST[3]}\n")
    lines = []
    for i, (c2w, name) in enumerate(zip(c2ws, img_names)):
        w2c = np.linalg.inv(c2w)
        R = w2c[:3, :3]
        # quaternion (w, x, y, z) of R
        qw = math.sqrt(max(0, 1 + R[0, 0] + R[1, 1] + R[2, 2])) / 2
        qx = math.copysign(math.sqrt(max(0, 1 + R[0, 0] - R[1, 1] - R[2, 2])) / 2, R[2, 1] - R[1, 2])
        qy = math.copysign(math.sqrt(max(0, 1 - R[0, 0] + R[1, 1] - R[2, 2])) / 2, R[0, 2] - R[2, 0])
        qz = math.copysign(math.sqrt(max(0, 1 - R[0, 0] - R[1, 1] + R[2, 2])) / 2, R[1, 0] - R[0, 1])
        t = w2c[:3, 3]
        lines += [f"{i + 1} {qw} {qx} {qy} {qz} {t[0]} {t[1]} {t[2]} 1 {name}", ""]
    (d / "images.txt").write_text("\n".join(lines) + "\n")
    (d / "points3D.txt").write_text("".join(f"{i + 1} {p[0]} {p[1]} {p[2]} 128 128 128 0.5\n"
                                            for i, p in enumerate(points)))


def test_colmap_model_bounds_from_sparse_points(tmp_path, capsys):
    c2ws = poses(10)
    cap = tmp_path / "colmap"
    (cap / "images").mkdir(parents=True)
    names = [f"img{i}.png" for i in range(10)]
    for n in names:
        cv2.imwrite(str(cap / "images" / n), plane_render(K, H, W))
    rng = np.random.default_rng(0)
    pts = rng.uniform([-0.5, -0.4, 0.1], [0.5, 0.4, 0.9], (400, 3))
    _write_colmap_text(cap / "sparse" / "0", c2ws, names, pts)
    c = load_capture(cap)
    assert c.kind == "colmap" and len(c.views) == 10 and np.allclose(c.views[3].c2w, c2ws[3], atol=1e-6)
    assert c.views[0].dist[:2].tolist() == pytest.approx(DIST[:2])
    rc = main(["import", str(cap), "--workspace", str(tmp_path / "ws"), "--no-orient", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0 and "sparse points (400)" in out
    lo, hi = SceneStore(tmp_path / "ws" / "scene", create=False).aabb()
    assert np.all(lo < [-0.45, -0.35, 0.15]) and np.all(hi > [0.45, 0.35, 0.85])
    assert np.all(lo > [-0.6, -0.5, 0.0]) and np.all(hi < [0.6, 0.5, 1.0])   # the points, not the cameras


def test_trainer_default_box_without_depth_is_the_looked_at_region():
    """RGB-only frames: the trainer's default box is the view-ray box cut by the frustum box."""
    from ovnerf.scene.bounds import rgb_only_bounds, scene_bounds
    from ovnerf.scene.frames import PosedFrame
    frames = [PosedFrame(f"f{i}", np.zeros((H, W, 3), np.uint8), K, p) for i, p in enumerate(poses(16))]
    lo, hi = rgb_only_bounds(frames)
    flo, fhi = scene_bounds(frames, depth=False)
    assert np.all(lo >= flo - 1e-9) and np.all(hi <= fhi + 1e-9)
    assert np.prod(hi - lo) < 0.7 * np.prod(fhi - flo)            # tighter than the 4 m frusta (0.59)
    assert np.all(lo < [-2, -2, 0.4]) and np.all(hi > [2, 2, 1.0])  # cameras and the object inside
