import numpy as np

from ovnerf.synthetic.render import RoomRenderer, camera_rays, intrinsics_from_hfov
from ovnerf.synthetic.room import build_room
from ovnerf.synthetic.trajectory import camera_trajectory


def _setup(w=64, h=48):
    room = build_room(0)
    tr = camera_trajectory(room.width, room.depth, 8, path=room.path, pitch_deg=20.0)
    return room, RoomRenderer(room), intrinsics_from_hfov(w, h, 75.0), tr


def test_floor_and_ceiling_depth_match_the_planes():
    room, r, K, tr = _setup()
    fl, ce = room.classes.index("floor"), room.classes.index("ceiling")
    for c2w in tr.c2w[[0, 3, 6]]:
        out = r.render(K, c2w, 48, 64)
        rays = camera_rays(K, c2w, 48, 64)            # z-unit directions: t = z-depth
        oz, dz = rays[..., 2].astype(np.float64), rays[..., 5].astype(np.float64)
        floor = out.labels == fl
        assert floor.sum() > 100
        np.testing.assert_allclose(out.depth[floor], (0.0 - oz[floor]) / dz[floor], rtol=1e-4, atol=1e-4)
        ceil = out.labels == room.classes.index("ceiling")
        if ceil.any():
            np.testing.assert_allclose(out.depth[ceil], (room.height - oz[ceil]) / dz[ceil], rtol=1e-4, atol=1e-4)
        assert out.labels.min() >= 0 and np.all(out.depth > 0)   # closed room: every ray hits


def test_depth_is_z_depth_and_labels_match_instances():
    room, r, K, tr = _setup()
    out = r.render(K, tr.c2w[2], 48, 64)
    # back-project the pixels: they must lie on the surface of their labelled instance's AABB
    v, u = np.mgrid[0:48, 0:64]
    x = (u + 0.5 - K[0, 2]) / K[0, 0] * out.depth
    y = (v + 0.5 - K[1, 2]) / K[1, 1] * out.depth
    pts = np.stack([x, y, out.depth], -1) @ tr.c2w[2][:3, :3].T + tr.c2w[2][:3, 3]
    for inst in np.unique(out.instances):
        obj = room.objects[inst]
        lo, hi = obj.aabb
        sel = out.instances == inst
        assert np.all(pts[sel] >= lo - 1e-3) and np.all(pts[sel] <= hi + 1e-3), obj.name
        assert np.all(out.labels[sel] == room.classes.index(obj.class_name))


def test_image_is_lit_textured_and_deterministic():
    room, r, K, tr = _setup()
    a = r.render(K, tr.c2w[1], 48, 64)
    b = r.render(K, tr.c2w[1], 48, 64)
    np.testing.assert_array_equal(a.image, b.image)
    assert a.image.dtype == np.uint8 and a.image.shape == (48, 64, 3)
    assert 40 < a.image.mean() < 220
    wall = a.labels == room.classes.index("wall")
    assert a.image[wall].std(axis=0).max() > 5.0      # texture/shading, not a flat colour
    aa = r.render(K, tr.c2w[1], 48, 64, ssaa=2)
    np.testing.assert_array_equal(aa.labels, a.labels)
    assert np.abs(aa.image.astype(int) - a.image).mean() < 20
