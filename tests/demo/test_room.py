import numpy as np
import pytest

from ovnerf.synthetic.room import PATH_CLEARANCE, build_room

FLOOR_STANDING = {"table", "chair", "sofa", "bed", "bookshelf", "cabinet", "plant"}


def _rect(obj):
    lo, hi = obj.aabb
    return lo[0], lo[1], hi[0], hi[1]


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_same_seed_same_geometry_and_different_seed_differs():
    m1, m2 = build_room(3).mesh(), build_room(3).mesh()
    for k in ("vertices", "triangles", "tri_class", "tri_material", "tri_instance"):
        np.testing.assert_array_equal(getattr(m1, k), getattr(m2, k))
    assert build_room(4).mesh().vertices.shape != m1.vertices.shape or \
        not np.array_equal(build_room(4).mesh().vertices, m1.vertices)


@pytest.mark.parametrize("seed,layout", [(0, "default"), (1, "default"), (2, "default"),
                                         (7, "default"), (0, "bedroom"), (5, "bedroom")])
def test_layout_constraints(seed, layout):
    room = build_room(seed, layout)
    assert ("sofa" in room.classes) == (layout == "default") and ("bed" in room.classes) == (layout == "bedroom")
    W, D, H = room.width, room.depth, room.height
    assert len(room.classes) >= 10
    mesh = room.mesh()
    assert mesh.tri_class.min() >= 0 and mesh.tri_class.max() < len(room.classes)
    assert len(room.materials) == mesh.tri_material.max() + 1
    by = {}
    for o in room.objects:
        by.setdefault(o.class_name, []).append(o)
        if o.class_name in ("wall", "floor", "ceiling"):
            continue
        lo, hi = o.aabb
        # everything inside the room's interior
        assert lo[0] >= -W / 2 - 1e-9 and hi[0] <= W / 2 + 1e-9, o.name
        assert lo[1] >= -D / 2 - 1e-9 and hi[1] <= D / 2 + 1e-9, o.name
        assert lo[2] >= -1e-9 and hi[2] <= H, o.name
    # objects stand on the floor
    for cls in FLOOR_STANDING & set(by):
        for o in by[cls]:
            assert abs(o.aabb[0][2]) < 1e-9, o.name
    assert min(o.aabb[0][2] for o in by["box"]) == pytest.approx(0.0, abs=1e-9)
    assert any(abs(o.aabb[0][2]) < 1e-9 for o in by["lamp"])       # the floor lamp, or ...
    cab = by["cabinet"][0]
    on_cab = [o for o in by["lamp"] if abs(o.aabb[0][2] - cab.aabb[1][2]) < 1e-9]
    assert on_cab                                                   # ... the lamp on the cabinet
    # floor-standing objects do not intersect each other and keep off the robot's path
    floor_objs = [o for c in sorted(FLOOR_STANDING & set(by)) for o in by[c]]
    for i, a in enumerate(floor_objs):
        for b in floor_objs[i + 1:]:
            if {a.class_name, b.class_name} == {"chair", "table"}:
                # chairs are tucked under the table top: no part intersects another in 3-D
                for pa in a.parts:
                    for pb in b.parts:
                        lo = np.maximum(pa.vertices.min(0), pb.vertices.min(0))
                        hi = np.minimum(pa.vertices.max(0), pb.vertices.max(0))
                        assert np.any(lo >= hi), (a.name, b.name)
                continue
            assert not _overlap(_rect(a), _rect(b)), (a.name, b.name)
        r = _rect(a)
        dx = np.maximum(np.maximum(r[0] - room.path[:, 0], room.path[:, 0] - r[2]), 0)
        dy = np.maximum(np.maximum(r[1] - room.path[:, 1], room.path[:, 1] - r[3]), 0)
        assert np.hypot(dx, dy).min() >= PATH_CLEARANCE - 1e-9, a.name
    # chairs around the table, facing it (closer than 0.5 m to its footprint)
    t = _rect(by["table"][0])
    assert len(by["chair"]) >= 2
    for c in by["chair"]:
        cx, cy = (np.asarray(_rect(c)[:2]) + _rect(c)[2:]) / 2
        gap = np.hypot(max(t[0] - cx, 0, cx - t[2]), max(t[1] - cy, 0, cy - t[3]))
        assert gap < 0.5
    # picture and window on a wall: their back touches a wall plane
    for cls in ("picture", "window", "door"):
        lo, hi = by[cls][0].aabb
        touches = min(abs(lo[0] + W / 2), abs(hi[0] - W / 2), abs(lo[1] + D / 2), abs(hi[1] - D / 2))
        assert touches < 1e-9, cls
    assert by["picture"][0].aabb[0][2] > 0.9


def test_instances_ground_truth():
    room = build_room(0)
    inst = room.instances()
    assert [d["id"] for d in inst] == list(range(len(inst)))
    for d in inst:
        assert room.classes[d["class_id"]] == d["class"]
        np.testing.assert_allclose(d["centre"], (np.array(d["aabb_min"]) + d["aabb_max"]) / 2, atol=1e-6)


def test_unknown_layout():
    with pytest.raises(ValueError):
        build_room(0, layout="castle")
