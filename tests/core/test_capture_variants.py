"""`ovnerf import` on the capture variants researchers bring (tiny images, no training).

Each variant either imports with the numbers it implies (intrinsics from camera_angle_x, sizes
read from the images, pixels in stored order, alpha on white, 16-bit → 8-bit) or ends in one
error (exit 2) that lists every problem, grouped by reason, before anything is written."""
import json
import math

import cv2
import numpy as np
import pytest
from PIL import Image

from ovnerf.cli import main
from ovnerf.errors import UserError
from ovnerf.scene.capture_import import import_capture, load_capture
from ovnerf.scene.conventions import look_at, opencv_to_opengl
from ovnerf.scene.store import SceneStore

W, H, F = 40, 30, 35.0


def poses(n=6):
    return [look_at([2 * np.cos(2 * np.pi * i / n), 2 * np.sin(2 * np.pi * i / n), 1.0], [0, 0, 0.5])
            for i in range(n)]


def image(i, w=W, h=H):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * 5 + i * 7) % 256, (y * 7) % 256, np.full_like(x, 128)], -1).astype(np.uint8)


def write_capture(root, n=6, meta=None, frame=None, ext=".png"):
    """A transforms.json capture (global fl_x/w/h unless ``meta`` edits them); ``frame(i, fr)`` edits frames."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    frames = []
    for i, p in enumerate(poses(n)):
        cv2.imwrite(str(root / "images" / f"{i:03d}{ext}"), cv2.cvtColor(image(i), cv2.COLOR_RGB2BGR))
        fr = {"file_path": f"images/{i:03d}{ext}", "transform_matrix": opencv_to_opengl(p).tolist()}
        if frame:
            frame(i, fr)
        frames.append(fr)
    m = {"fl_x": F, "fl_y": F, "cx": W / 2, "cy": H / 2, "w": W, "h": H, "frames": frames}
    if meta:
        meta(m)
    (root / "transforms.json").write_text(json.dumps(m))
    return root


def run_cli(capsys, src, ws, *extra):
    rc = main(["import", str(src), "--workspace", str(ws), "--no-progress", *extra])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return rc, out.out, out.err


def test_nerf_synthetic_convention(tmp_path, capsys):
    """file_path without extension, camera_angle_x only, no w/h, RGBA, 3x4 matrices."""
    angle = 0.6911112070083618                                 # NeRF-synthetic's lego
    cap = tmp_path / "lego"
    (cap / "train").mkdir(parents=True)
    frames = []
    for i, p in enumerate(poses()):
        rgba = np.dstack([image(i), np.full((H, W), 255, np.uint8)])
        rgba[:, :10, 3] = 0                                    # transparent background on the left
        rgba[:, 10:20, 3] = 128
        Image.fromarray(rgba, "RGBA").save(cap / "train" / f"r_{i}.png")
        frames.append({"file_path": f"./train/r_{i}", "rotation": 0.0126,
                       "transform_matrix": opencv_to_opengl(p)[:3].tolist()})
    (cap / "transforms_train.json").write_text(json.dumps({"camera_angle_x": angle, "frames": frames}))
    rc, out, err = run_cli(capsys, cap / "transforms_train.json", tmp_path / "ws")
    assert rc == 0, err
    assert "6 image(s) with alpha: composited onto white" in out
    st = SceneStore(tmp_path / "ws" / "scene", create=False)
    assert st.names() == [f"r_{i}" for i in range(6)]
    K, h, w = st.intrinsics("r_2")
    f = 0.5 * W / math.tan(0.5 * angle)                        # 57.63 px for a 40 px wide image
    assert (w, h) == (W, H) and K[0, 0] == pytest.approx(f) and K[1, 1] == pytest.approx(f)
    assert (K[0, 2], K[1, 2]) == (W / 2, H / 2)
    im = st.load("r_2").image
    assert np.all(im[:, :10] == 255)                           # alpha 0 → white
    expect = np.round(image(2)[:, 10:20] * (128 / 255) + 255 * (127 / 255)).astype(int)
    assert np.abs(im[:, 10:20].astype(int) - expect).max() <= 1
    assert np.array_equal(im[:, 20:], image(2)[:, 20:])


def test_per_frame_intrinsics_sizes_from_images_gray_16bit(tmp_path, capsys):
    """nerfstudio per-frame fl_x/fl_y; no w/h/cx/cy anywhere: each frame's size comes from its image."""
    def meta(m):
        for k in ("fl_x", "fl_y", "cx", "cy", "w", "h"):
            m.pop(k)

    def frame(i, fr):
        fr.update(fl_x=F + i, fl_y=F + 2 * i)

    cap = write_capture(tmp_path / "cap", meta=meta, frame=frame)
    cv2.imwrite(str(cap / "images" / "003.png"), np.zeros((60, 80, 3), np.uint8))
    gray16 = (np.arange(W * H, dtype=np.uint16).reshape(H, W) * 50)
    cv2.imwrite(str(cap / "images" / "004.png"), gray16)
    rc, out, err = run_cli(capsys, cap, tmp_path / "ws")
    assert rc == 0, err
    st = SceneStore(tmp_path / "ws" / "scene", create=False)
    K3, h3, w3 = st.intrinsics("003")
    assert (w3, h3) == (80, 60) and np.allclose(K3[:2], [[F + 3, 0, 40], [0, F + 6, 30]])
    K1, h1, w1 = st.intrinsics("001")
    assert (w1, h1) == (W, H) and np.allclose(K1[:2], [[F + 1, 0, 20], [0, F + 2, 15]])
    im4 = st.load("004").image
    assert np.all(im4[..., 0] == im4[..., 2])                  # grey → RGB
    assert np.abs(im4[..., 0].astype(int) - np.round(gray16 / 257).astype(int)).max() <= 1   # 16 → 8 bit


def test_exif_orientation_is_not_applied(tmp_path, capsys):
    """Phone JPEGs with EXIF orientation 6: pixels in stored order (as COLMAP / nerfstudio computed
    the intrinsics); intrinsics of the rotated image are refused with the reason."""
    cap = write_capture(tmp_path / "cap", ext=".jpg")
    for i in range(6):
        im = Image.fromarray(image(i))
        ex = im.getexif()
        ex[0x0112] = 6
        im.save(cap / "images" / f"{i:03d}.jpg", exif=ex.tobytes(), quality=100)
    rc, out, err = run_cli(capsys, cap, tmp_path / "ws")
    assert rc == 0, err
    assert "EXIF orientation tags ignored on 6 image(s)" in out
    st = SceneStore(tmp_path / "ws" / "scene", create=False)
    im = st.load("001").image
    assert im.shape == (H, W, 3) and np.abs(im.astype(int) - image(1)).mean() < 3
    j = json.loads((cap / "transforms.json").read_text())
    j.update(w=H, h=W, cx=H / 2, cy=W / 2)
    (cap / "transforms.json").write_text(json.dumps(j))
    rc, out, err = run_cli(capsys, cap, tmp_path / "ws2")
    assert rc == 2 and "image is 40x30, the intrinsics say 30x40 (EXIF orientation 6" in err
    assert not (tmp_path / "ws2" / "scene").exists()


def test_every_problem_is_listed_once_grouped_and_nothing_written(tmp_path, capsys):
    bad = {1: {"transform_matrix": [[float("nan")] * 4] * 4},
           2: {"fl_x": 0},
           3: {"file_path": "images/000.png"},
           4: {"camera_model": "EQUIRECTANGULAR"},
           5: {"w": "wide"},
           7: {"k4": 0.01}}

    def frame(i, fr):
        fr.update(bad.get(i, {}))
        if i == 6:   # a reflection
            fr["transform_matrix"] = (np.array(fr["transform_matrix"]) @ np.diag([-1, 1, 1, 1])).tolist()

    cap = write_capture(tmp_path / "cap", n=12, frame=frame)
    (cap / "images" / "008.png").unlink()
    (cap / "images" / "009.png").write_bytes(b"not a png")
    for i in (10, 11):
        cv2.imwrite(str(cap / "images" / f"{i:03d}.png"), np.zeros((H, W, 3), np.uint8) if i == 10 else
                    np.zeros((50, 60, 3), np.uint8))
    rc, out, err = run_cli(capsys, cap, tmp_path / "ws")
    lines = err.strip().splitlines()
    assert rc == 2 and lines[0] == f"ovnerf import: error: 10 problem(s) in {cap / 'transforms.json'} (nothing was imported):"
    body = "\n".join(lines[1:])
    for part in ("frame 1 (images/001.png): 'transform_matrix' holds NaN or infinite values",
                 "frame 3 (images/000.png): the same image as frame 0 (listed twice)",
                 "frame 4 (images/004.png): camera_model EQUIRECTANGULAR is not supported",
                 "frame 5 (images/005.png): 'w' must be a number, got \"wide\"",
                 "frame 7 (images/007.png): 'k4' (an r^8 radial term) is not supported",
                 "008.png: image missing", "009.png: not a readable image (UnidentifiedImageError)",
                 "002: focal lengths must be positive (fl_x 0, fl_y 35)",
                 "006: the pose's rotation is a reflection (determinant -1)",
                 "011: image is 60x50, the intrinsics say 40x30"):
        assert part in body, part
    assert len(lines) == 11 and not (tmp_path / "ws").exists()
    # the same reason on many frames is one line
    cap2 = write_capture(tmp_path / "cap2", meta=lambda m: m.update(camera_model="EQUIRECTANGULAR"))
    rc, out, err = run_cli(capsys, cap2, tmp_path / "ws2")
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 2 and "6 problem(s)" in lines[0]
    assert "(6): frame 0 (images/000.png), frame 1" in lines[1] and "ns-process-data" in lines[1]


def test_truncated_image_stops_the_import_before_a_scene_exists(tmp_path, capsys):
    cap = write_capture(tmp_path / "cap", ext=".jpg")
    noise = np.random.default_rng(0).integers(0, 255, (H, W, 3)).astype(np.uint8)
    Image.fromarray(noise).save(cap / "images" / "002.jpg", quality=95)
    data = (cap / "images" / "002.jpg").read_bytes()
    (cap / "images" / "002.jpg").write_bytes(data[: int(0.9 * len(data))])   # header intact
    rc, out, err = run_cli(capsys, cap, tmp_path / "ws")
    assert rc == 2 and "1 problem(s)" in err and "002.jpg: not a readable image (OSError: image file is truncated" in err
    assert not (tmp_path / "ws" / "scene").exists() and not (tmp_path / "ws" / "scene.importing").exists()


def test_degenerate_camera_positions_and_single_frame(tmp_path):
    def same_point(i, fr):
        for r in range(3):
            fr["transform_matrix"][r][3] = 0.3

    cap = write_capture(tmp_path / "cap", frame=same_point)
    with pytest.raises(UserError, match="all 6 cameras are at one point: no parallax"):
        import_capture(cap, tmp_path / "ws" / "scene")
    rep = import_capture(cap, tmp_path / "ws" / "scene", aabb=([-1, -1, -1], [1, 1, 1]))
    assert rep.frames == 6 and rep.bounds_from == "--aabb"
    with pytest.raises(UserError, match="need at least 2 frames with a pose, found 1"):
        import_capture(write_capture(tmp_path / "one", n=1), tmp_path / "ws1" / "scene")


def test_camera_angle_out_of_range_and_defaults(tmp_path):
    cap = write_capture(tmp_path / "cap", meta=lambda m: [m.pop(k) for k in ("fl_x", "fl_y")] and
                        m.update(camera_angle_x=0, camera_angle_y=1.0))
    with pytest.raises(UserError, match=r"'camera_angle_x' must be a field of view in \(0, π\) radians, got 0 \(6\)"):
        import_capture(cap, tmp_path / "ws" / "scene")
    j = json.loads((cap / "transforms.json").read_text())
    j.update(camera_angle_x=1.2)
    (cap / "transforms.json").write_text(json.dumps(j))
    assert load_capture(cap).views[0].K is None    # resolved by validate, once the size is known
    import_capture(cap, tmp_path / "ws" / "scene")
    K, _, _ = SceneStore(tmp_path / "ws" / "scene", create=False).intrinsics("000")
    assert K[0, 0] == pytest.approx(20 / math.tan(0.6)) and K[1, 1] == pytest.approx(15 / math.tan(0.5))


def _qvec(R):
    from scipy.spatial.transform import Rotation
    x, y, z, w = Rotation.from_matrix(R).as_quat()
    return w, x, y, z


CAMS = {"SIMPLE_PINHOLE": [F, 20, 15], "PINHOLE": [F, F + 1, 20, 15], "SIMPLE_RADIAL": [F, 20, 15, -0.05],
        "RADIAL": [F, 20, 15, -0.05, 0.01], "OPENCV": [F, F, 20, 15, -0.05, 0.01, 0.001, 0.001],
        "OPENCV_FISHEYE": [F, F, 20, 15, 0.02, 0.01, 0.0, 0.0], "RADIAL_FISHEYE": [F, 20, 15, 0.03, 0.004]}


def _colmap(root, models, binary=False, missing=(), extra=0):
    import pycolmap
    m = root / "sparse" / "0"
    m.mkdir(parents=True)
    (root / "images").mkdir()
    (m / "cameras.txt").write_text("".join(f"{j + 1} {mod} {W} {H} {' '.join(map(str, CAMS[mod]))}\n"
                                           for j, mod in enumerate(models)))
    lines = []
    for i, c2w in enumerate(poses(len(models))):
        w2c = np.linalg.inv(c2w)
        lines += [f"{i + 1} {' '.join(map(str, _qvec(w2c[:3, :3])))} {' '.join(map(str, w2c[:3, 3]))} {i + 1} "
                  f"im_{i}_ü.png", ""]
        if i not in missing:
            cv2.imwrite(str(root / "images" / f"im_{i}_ü.png"), image(i))
    (m / "images.txt").write_text("\n".join(lines) + "\n")
    (m / "points3D.txt").write_text("".join(f"{i + 1} {0.1 * np.sin(i)} {0.1 * np.cos(i)} {0.5 + 0.01 * i} 1 2 3 0.1\n"
                                            for i in range(50)))
    for e in range(extra):
        cv2.imwrite(str(root / "images" / f"extra{e}.png"), image(0))
    if binary:
        rec = pycolmap.Reconstruction(str(m))
        for f in m.iterdir():
            f.unlink()
        rec.write_binary(str(m))
    return root


def test_colmap_camera_models_binary_and_image_sets(tmp_path, capsys):
    models = list(CAMS)
    cap = _colmap(tmp_path / "cap", models, binary=True, extra=3)
    assert (cap / "sparse" / "0" / "images.bin").is_file()
    c = load_capture(cap)
    assert [v.fisheye for v in c.views] == [m.endswith("FISHEYE") for m in models]
    assert c.views[1].K[1, 1] == F + 1 and c.views[3].dist.tolist() == pytest.approx([-0.05, 0.01, 0, 0])
    assert c.views[6].dist.tolist() == pytest.approx([0.03, 0.004, 0, 0])       # RADIAL_FISHEYE → OpenCV fisheye
    rc, out, err = run_cli(capsys, cap, tmp_path / "ws")
    assert rc == 0, err
    assert "3 image(s) in" in out and "are not in the COLMAP model: ignored" in out and "sparse points (50)" in out
    st = SceneStore(tmp_path / "ws" / "scene", create=False)
    assert len(st) == 7 and np.allclose(st.intrinsics("im_1__")[0][:2], [[F, 0, 20], [0, F + 1, 15]])
    cap2 = _colmap(tmp_path / "cap2", models[:4], missing=(1, 3))
    rc, out, err = run_cli(capsys, cap2, tmp_path / "ws2")
    assert rc == 2 and "2 problem(s)" in err and "image missing (the folder COLMAP read is given with --images) (2): " in err and "im_3_ü.png" in err


def test_a_raw_capture_given_to_train_points_to_import(tmp_path):
    """`ovnerf train CAPTURE` on an un-imported capture: its distortion / missing keys are refused, not ignored."""
    cap = write_capture(tmp_path / "cap", meta=lambda m: m.update(k1=-0.1))
    with pytest.raises(UserError, match="lens distortion or camera_model OPENCV, which training would ignore "
                                        r"\(a capture, not a scene: import it first with `ovnerf import"):
        SceneStore(cap, create=False)
    cap2 = write_capture(tmp_path / "cap2", meta=lambda m: m.pop("w"))
    with pytest.raises(UserError, match="frame 0 has no intrinsics key 'w' .*ovnerf import"):
        SceneStore(cap2, create=False)
    assert len(SceneStore(write_capture(tmp_path / "cap3"), create=False)) == 6   # pinhole: readable as is


def test_colmap_layouts_images_folder_and_hints(tmp_path, capsys):
    """project/sparse/0 given directly finds project/images; other models are named; a NeRF-synthetic
    folder (transforms_train.json ...) and downscaled images get a hint."""
    cap = _colmap(tmp_path / "proj", ["PINHOLE", "PINHOLE", "PINHOLE"])
    (cap / "sparse" / "1").mkdir()
    rc, out, err = run_cli(capsys, cap / "sparse" / "0", tmp_path / "ws")
    assert rc == 0, err
    assert "holds other models (1): using 0" in out
    rc, out, err = run_cli(capsys, cap / "sparse" / "0", tmp_path / "ws2", "--images", str(tmp_path))
    assert rc == 2 and "image missing (the folder COLMAP read is given with --images) (3)" in err
    syn = tmp_path / "syn"
    syn.mkdir()
    for split in ("train", "test"):
        (syn / f"transforms_{split}.json").write_text("{}")
    rc, out, err = run_cli(capsys, syn, tmp_path / "ws3")
    assert rc == 2 and "give one of transforms_test.json, transforms_train.json" in err
    small = write_capture(tmp_path / "small", meta=lambda m: m.update(w=4 * W, h=4 * H))
    rc, out, err = run_cli(capsys, small, tmp_path / "ws4")
    assert rc == 2 and "(images 4x smaller than the intrinsics: import the full-size images" in err


def test_absurd_distortion_is_refused_and_pinhole_with_coefficients_is_undistorted(tmp_path):
    for i, (model, coeffs) in enumerate((("OPENCV", {"k1": -5.0}), ("OPENCV", {"k1": 1e9}),
                                         ("OPENCV_FISHEYE", {"k1": 5.0}))):
        cap = write_capture(tmp_path / f"cap{i}", meta=lambda m: m.update(camera_model=model, **coeffs))
        with pytest.raises(UserError, match=r"6 problem\(s\)(.|\n)*do not describe a lens over this 40x30 image "
                                            r"\(undistorting it would fold or leave the image\) \(6\)"):
            import_capture(cap, tmp_path / f"ws{i}" / "scene")
    # nerfstudio applies k1.. whatever camera_model says; so do we (a real lens: accepted)
    cap = write_capture(tmp_path / "pin", meta=lambda m: m.update(camera_model="PINHOLE", k1=-0.1, k2=0.02))
    rep = import_capture(cap, tmp_path / "wsp" / "scene")
    K, _, _ = SceneStore(tmp_path / "wsp" / "scene", create=False).intrinsics("000")
    assert any("undistorted" in n for n in rep.notes) and 30 < K[0, 0] < F


def test_a_failed_reimport_keeps_the_previous_scene(tmp_path, capsys):
    cap = write_capture(tmp_path / "cap", ext=".jpg")
    assert run_cli(capsys, cap, tmp_path / "ws")[0] == 0
    noise = np.random.default_rng(1).integers(0, 255, (H, W, 3)).astype(np.uint8)
    Image.fromarray(noise).save(cap / "images" / "004.jpg", quality=95)
    data = (cap / "images" / "004.jpg").read_bytes()
    (cap / "images" / "004.jpg").write_bytes(data[: int(0.9 * len(data))])
    rc, out, err = run_cli(capsys, cap, tmp_path / "ws")
    assert rc == 2 and "004.jpg: not a readable image" in err
    st = SceneStore(tmp_path / "ws" / "scene", create=False)
    assert len(st) == 6 and st.load("004").image.shape == (H, W, 3)     # the previous import, whole


def test_aabb_with_a_negative_first_number_parses(tmp_path, capsys):
    """`--aabb -1,-1,0,1,1,2` (a box around the origin starts with '-') reached argparse as an option."""
    cap = write_capture(tmp_path / "cap")
    rc, out, err = run_cli(capsys, cap, tmp_path / "ws", "--aabb", "-1.5,-1,-0.5,1.5,1,2")
    assert rc == 0, err
    lo, hi = SceneStore(tmp_path / "ws" / "scene", create=False).aabb()
    assert lo.tolist() == [-1.5, -1, -0.5] and hi.tolist() == [1.5, 1, 2] and "from --aabb" in out


def test_a_raw_capture_read_as_a_scene_keeps_stored_pixel_order(tmp_path):
    """A pinhole capture trained as is (no import) reads its EXIF-rotated JPEGs as `ovnerf import` does."""
    cap = write_capture(tmp_path / "cap", ext=".jpg")
    im = Image.fromarray(image(1))
    ex = im.getexif()
    ex[0x0112] = 6
    im.save(cap / "images" / "001.jpg", exif=ex.tobytes(), quality=100)
    got = SceneStore(cap, create=False).load("001").image
    assert got.shape == (H, W, 3) and np.abs(got.astype(int) - image(1)).mean() < 3


def test_intrinsics_ranges_projective_rows_and_numeric_strings(tmp_path):
    def frame(i, fr):
        if i == 1:
            fr["transform_matrix"][3] = [0, 0, 0.5, 1]
        if i == 2:
            fr.update(cx=5000)
        if i == 3:
            fr.update(fl_x=0.001)

    cap = write_capture(tmp_path / "cap", frame=frame, meta=lambda m: m.update(fl_y=str(F), w=str(W)))
    with pytest.raises(UserError) as e:
        import_capture(cap, tmp_path / "ws" / "scene")
    msg = str(e.value)
    assert msg.startswith("3 problem(s)") and "frame 1 (images/001.png): 'transform_matrix' last row must be" in msg
    assert "002: intrinsics: principal point (5000, 15) is far outside the 40x30 image" in msg
    assert "003: intrinsics: focal length fx = 0.001 is outside [0.4, 4000] for a 40x30 image" in msg
    # numbers written as strings ("35.0") are numbers
    cap2 = write_capture(tmp_path / "cap2", meta=lambda m: m.update(fl_y=str(F + 1), w=str(W)))
    import_capture(cap2, tmp_path / "ws2" / "scene")
    assert SceneStore(tmp_path / "ws2" / "scene", create=False).intrinsics("000")[0][1, 1] == F + 1


def test_bom_json_and_incomplete_colmap_model(tmp_path, capsys):
    cap = write_capture(tmp_path / "cap")
    text = (cap / "transforms.json").read_text()
    (cap / "transforms.json").write_bytes(b"\xef\xbb\xbf" + text.encode())       # a Windows tool's BOM
    assert import_capture(cap, tmp_path / "ws" / "scene").frames == 6
    col = _colmap(tmp_path / "col", ["PINHOLE", "PINHOLE"])
    (col / "sparse" / "0" / "points3D.txt").unlink()
    rc, out, err = run_cli(capsys, col, tmp_path / "ws2")
    assert rc == 2 and err.strip().endswith("not a readable COLMAP sparse model (no points3D.bin/.txt)")


def test_applied_scale_scales_the_ply_points(tmp_path):
    """nerfstudio: poses already carry applied_scale, the ply does not (its loader multiplies it in)."""
    import open3d as o3d
    cap = write_capture(tmp_path / "cap", meta=lambda m: m.update(applied_scale=0.5, ply_file_path="sparse_pc.ply"))
    pts = np.random.default_rng(0).uniform([-1, -1, 0], [1, 1, 1], (2000, 3))
    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    o3d.io.write_point_cloud(str(cap / "sparse_pc.ply"), pc)
    rep = import_capture(cap, tmp_path / "ws" / "scene", orient=False)
    assert rep.bounds_from == "sparse points (2000)" and any("applied to the ply points" in n for n in rep.notes)
    lo, hi = rep.aabb
    assert np.allclose(lo, [-0.5, -0.5, 0.0], atol=0.06) and np.allclose(hi, [0.5, 0.5, 0.5], atol=0.06)


def test_instant_ngp_fov_in_degrees_and_its_fisheye(tmp_path):
    cap = write_capture(tmp_path / "cap", meta=lambda m: [m.pop(k) for k in ("fl_x", "fl_y")] and m.update(x_fov=60.0))
    import_capture(cap, tmp_path / "ws" / "scene")
    K, _, _ = SceneStore(tmp_path / "ws" / "scene", create=False).intrinsics("000")
    assert K[0, 0] == pytest.approx(20 / math.tan(math.radians(30))) and K[1, 1] == K[0, 0]
    cap2 = write_capture(tmp_path / "cap2", meta=lambda m: m.update(is_fisheye=True))
    with pytest.raises(UserError, match="instant-ngp's fisheye / f-theta lens is not supported"):
        import_capture(cap2, tmp_path / "ws2" / "scene")


def test_hostile_paths_and_json(tmp_path, capsys):
    """A NUL in a path, a 5000-character name, a 100 000-deep JSON: listed problems, not tracebacks."""
    def frame(i, fr):
        if i == 1:
            fr["file_path"] = "a\x00b.png"
        if i == 2:
            fr["file_path"] = "x" * 5000
    cap = write_capture(tmp_path / "cap", frame=frame)
    rc, out, err = run_cli(capsys, cap, tmp_path / "ws")
    assert rc == 2 and "2 problem(s)" in err
    assert "frame 1 (a?b.png): 'file_path' must be a path string" in err and "xxxx: image missing" in err
    deep = tmp_path / "deep"
    deep.mkdir()
    (deep / "transforms.json").write_text('{"frames":' + "[" * 100000 + "]" * 100000 + "}")
    rc, out, err = run_cli(capsys, deep, tmp_path / "ws2")
    assert rc == 2 and "not a readable JSON file (maximum recursion depth exceeded" in err


@pytest.mark.parametrize("name,keep,reason", [("points3D.bin", 0.95, "points3D.bin is truncated"),
                                              ("cameras.bin", -8, "cameras.bin is truncated"),
                                              ("images.bin", 0.5, "images.bin is truncated")])
def test_damaged_colmap_binary_files(tmp_path, capsys, name, keep, reason):
    """pycolmap loops forever on a truncated points3D.bin and reads a cameras.bin missing its last
    parameter silently: the files' layouts are walked first."""
    cap = _colmap(tmp_path / "cap", ["OPENCV", "PINHOLE"], binary=True)
    f = cap / "sparse" / "0" / name
    data = f.read_bytes()
    f.write_bytes(data[:keep] if keep < 0 else data[: int(keep * len(data))])
    rc, out, err = run_cli(capsys, cap, tmp_path / "ws")
    assert rc == 2 and f"not a readable COLMAP sparse model ({reason} (its records run past the end" in err


def test_a_camera_far_from_the_others_is_named(tmp_path, capsys):
    """A georeferenced capture (positions ~5e6 m) imports; one camera at 1e300 (a broken pose) is named."""
    def frame(i, fr):
        fr["transform_matrix"][0][3] += 5e6
        if i == 4:
            fr["transform_matrix"][1][3] = 1e300
    cap = write_capture(tmp_path / "cap", frame=frame)
    rc, out, err = run_cli(capsys, cap, tmp_path / "ws")
    assert rc == 2 and err.strip().splitlines()[1:] == ["  - 004: the camera is more than 1e+05 m from the others' median"]
    assert "Warning" not in err
    j = json.loads((cap / "transforms.json").read_text())
    j["frames"][4]["transform_matrix"][1][3] = 0.0
    (cap / "transforms.json").write_text(json.dumps(j))
    rc, out, err = run_cli(capsys, cap, tmp_path / "ws")
    assert rc == 0, err
    c = np.stack([p[:3, 3] for p in (SceneStore(tmp_path / "ws" / "scene", create=False).pose(f"{i:03d}")
                                    for i in range(6))])
    assert np.abs(c.mean(0)).max() < 1e-6 and np.abs(c).max() < 3      # centred


def test_rotation_only_capture_with_sparse_points_is_refused(tmp_path):
    """SfM of a camera turning on the spot: centres within 1e-5 of each other, points 3 m apart."""
    import open3d as o3d

    def frame(i, fr):
        for r in range(3):
            fr["transform_matrix"][r][3] = 0.3 + 1e-5 * np.sin(i + r)
    cap = write_capture(tmp_path / "cap", frame=frame, meta=lambda m: m.update(ply_file_path="pc.ply"))
    pts = np.random.default_rng(0).uniform(-1.5, 1.5, (500, 3))
    o3d.io.write_point_cloud(str(cap / "pc.ply"), o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts)))
    with pytest.raises(UserError, match="all 6 cameras are at one point"):
        import_capture(cap, tmp_path / "ws" / "scene")
