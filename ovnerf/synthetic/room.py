"""A procedural, furnished indoor room (the built-in demo scene's geometry).

World frame: the room's map frame, z up, metres; the floor is the plane z = 0 and the interior
is x ∈ [−W/2, W/2], y ∈ [−D/2, D/2], z ∈ [0, H]. Walls, floor and ceiling are 0.1 m slabs
outside that box, so every surface seen from inside belongs to a closed solid.

Every object is built from Open3D primitives (``TriangleMesh.create_box / create_cylinder /
create_sphere``) moved into place, and carries per-triangle ids: class (index into
:data:`CLASSES` order restricted to the classes present, see :attr:`Room.classes`), material
(index into :attr:`Room.materials`, see :mod:`ovnerf.synthetic.textures`) and instance.

Layout (``layout="default"``, a living room), randomised by ``seed`` under constraints:
room size W ∈ [6.4, 7.2], D ∈ [5.0, 5.8], H ∈ [2.6, 2.9]; the robot path of
:func:`ovnerf.synthetic.trajectory.plan_path` (a loop ≈ 1.2 m from the walls plus a crossing along
x = 0) is kept clear by ``PATH_CLEARANCE`` around every object standing on the floor (the rug
is flat and may be driven over); objects stand on the floor (or on the cabinet), do not
intersect each other (footprints are separated by ≥ 5 cm) and keep the door's swing area free.
Wall-mounted objects (door, window, picture) occupy disjoint wall intervals; the picture hangs
above the sofa when possible; the table with its chairs (facing it) stands in the x < 0 half,
the rug lies in the x > 0 half; the bookshelf, cabinet (with a table lamp on it), sofa (with
cushions), floor lamp, plant and boxes stand against the walls or in corners.
``layout="bedroom"``: the same, with a single bed (+ pillow) along a wall instead of the sofa
(+ cushions). Class ids are positions in :attr:`Room.classes` (the classes present, in
:data:`CLASSES` order), so the default layout's ids are 0..16.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import open3d as o3d

from ovnerf.synthetic.textures import Material
from ovnerf.synthetic.trajectory import plan_path

CLASSES = ("wall", "floor", "ceiling", "door", "window", "picture", "rug", "table", "chair",
           "sofa", "cushion", "bookshelf", "book", "lamp", "plant", "box", "cabinet", "bed", "pillow")
LAYOUTS = ("default", "bedroom")
PATH_MARGIN = 1.2       # distance of the loop's extreme points from the walls (m)
PATH_CLEARANCE = 0.32   # free space between the robot path and any floor object (m)
GAP = 0.05              # minimum gap between footprints (m)
_FRAMED = ("rug", "painting", "sky", "cardboard", "books")  # textures laid out in the part's frame


# ----------------------------------------------------------------------------- geometry
@dataclass
class Part:
    """One primitive: vertices (V,3) float64, triangles (T,3) int64, a material."""

    vertices: np.ndarray
    triangles: np.ndarray
    material: Material

    def moved(self, R: np.ndarray, t: np.ndarray) -> "Part":
        return Part(self.vertices @ R.T + t, self.triangles, self.material)


def _from_o3d(mesh: o3d.geometry.TriangleMesh, material: Material) -> Part:
    return Part(np.asarray(mesh.vertices, dtype=np.float64).copy(),
                np.asarray(mesh.triangles, dtype=np.int64).copy(), material)


def box(lo, hi, material: Material) -> Part:
    """Axis-aligned box [lo, hi] (open3d ``create_box`` translated)."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    size = hi - lo
    if np.any(size <= 0):
        raise ValueError(f"degenerate box {lo} {hi}")
    m = o3d.geometry.TriangleMesh.create_box(width=size[0], height=size[1], depth=size[2])
    p = _from_o3d(m, material)
    p.vertices += lo
    return p


def cylinder(cx: float, cy: float, z0: float, radius: float, height: float, material: Material,
             resolution: int = 20) -> Part:
    """Vertical cylinder with its base centre at (cx, cy, z0)."""
    m = o3d.geometry.TriangleMesh.create_cylinder(radius=radius, height=height,
                                                  resolution=resolution, split=1)
    p = _from_o3d(m, material)
    p.vertices += np.array([cx, cy, z0 + height / 2.0])
    return p


def ellipsoid(center, radii, material: Material, resolution: int = 10) -> Part:
    """Sphere (open3d ``create_sphere``) scaled per axis by ``radii``, centred at ``center``."""
    m = o3d.geometry.TriangleMesh.create_sphere(radius=1.0, resolution=resolution)
    p = _from_o3d(m, material)
    p.vertices = p.vertices * np.asarray(radii, float) + np.asarray(center, float)
    return p


def _rot_z_quarter(k: int) -> np.ndarray:
    """Exact rotation about z by k·90°."""
    c, s = [(1, 0), (0, 1), (-1, 0), (0, -1)][k % 4]
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=np.float64)


@dataclass
class RoomObject:
    """One instance: its class, a readable name and its parts (world coordinates)."""

    class_name: str
    name: str
    parts: list[Part]
    instance_id: int = -1

    @property
    def vertices(self) -> np.ndarray:
        return np.concatenate([p.vertices for p in self.parts])

    @property
    def aabb(self) -> tuple[np.ndarray, np.ndarray]:
        v = self.vertices
        return v.min(axis=0), v.max(axis=0)


@dataclass
class RoomMesh:
    """All objects merged: ``vertices`` (V,3) float32, ``triangles`` (T,3) uint32 and per-triangle
    ``tri_class`` / ``tri_material`` / ``tri_instance`` (T,) int32."""

    vertices: np.ndarray
    triangles: np.ndarray
    tri_class: np.ndarray
    tri_material: np.ndarray
    tri_instance: np.ndarray


@dataclass
class Room:
    """A generated room. ``classes``: class names present (label id = index); ``materials``:
    the material table; ``objects``: instances; ``lights``: list of (position (3,), intensity);
    ``path``: the robot path (P,2) the layout keeps clear."""

    width: float
    depth: float
    height: float
    seed: int
    layout: str
    classes: list[str]
    materials: list[Material]
    objects: list[RoomObject]
    lights: list[tuple[np.ndarray, float]]
    path: np.ndarray
    margin: float = PATH_MARGIN
    _mesh: RoomMesh | None = field(default=None, repr=False)

    def mesh(self) -> RoomMesh:
        if self._mesh is None:
            mat_index = {id(m): i for i, m in enumerate(self.materials)}
            verts, tris, cls, mats, inst = [], [], [], [], []
            offset = 0
            for obj in self.objects:
                cid = self.classes.index(obj.class_name)
                for p in obj.parts:
                    verts.append(p.vertices)
                    tris.append(p.triangles + offset)
                    offset += len(p.vertices)
                    n = len(p.triangles)
                    cls.append(np.full(n, cid, np.int32))
                    mats.append(np.full(n, mat_index[id(p.material)], np.int32))
                    inst.append(np.full(n, obj.instance_id, np.int32))
            self._mesh = RoomMesh(np.concatenate(verts).astype(np.float32),
                                  np.concatenate(tris).astype(np.uint32),
                                  np.concatenate(cls), np.concatenate(mats), np.concatenate(inst))
        return self._mesh

    def instances(self) -> list[dict]:
        """Per-instance ground truth: id, name, class, class_id, aabb_min, aabb_max, centre."""
        out = []
        for obj in self.objects:
            lo, hi = obj.aabb
            out.append({"id": obj.instance_id, "name": obj.name, "class": obj.class_name,
                        "class_id": self.classes.index(obj.class_name),
                        "aabb_min": [round(float(x), 6) for x in lo],
                        "aabb_max": [round(float(x), 6) for x in hi],
                        "centre": [round(float(x), 6) for x in (lo + hi) / 2]})
        return out


# ----------------------------------------------------------------------------- materials
def _c(rgb) -> tuple:
    return tuple(float(x) for x in np.clip(rgb, 0, 1))


class _Palette:
    """Seeded random materials."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.count = 0

    def _seed(self) -> int:
        self.count += 1
        return int(self.rng.integers(0, 2**31 - 1))

    def jitter(self, rgb, amount=0.06) -> tuple:
        return _c(np.asarray(rgb) + self.rng.uniform(-amount, amount, 3))

    def wood(self, light=(0.62, 0.42, 0.24), dark=(0.42, 0.26, 0.13), scale=0.02) -> Material:
        return Material("wood", self.jitter(light), self.jitter(dark, 0.04), scale=scale,
                        seed=self._seed())

    def fabric(self, a, b=None, scale=0.004) -> Material:
        a = self.jitter(a)
        b = _c(np.asarray(a) * 0.75) if b is None else self.jitter(b)
        return Material("fabric", a, b, scale=scale, seed=self._seed())

    def plain(self, a, b=None, scale=0.3) -> Material:
        a = self.jitter(a, 0.03)
        b = _c(np.asarray(a) * 0.85) if b is None else b
        return Material("plain", a, b, scale=scale, seed=self._seed())

    def make(self, kind, a, b=(0.5, 0.5, 0.5), c=(0.2, 0.2, 0.2), **kw) -> Material:
        return Material(kind, _c(a), _c(b), _c(c), seed=self._seed(), **kw)


# ----------------------------------------------------------------------------- layout helpers
class _Layout:
    """Footprint bookkeeping: rectangles (xmin, ymin, xmax, ymax, height) on the floor."""

    def __init__(self, W, D, H, path):
        self.W, self.D, self.H = W, D, H
        self.path = path
        self.rects: list[tuple[float, float, float, float, float]] = []
        self.wall_intervals: dict[int, list[tuple[float, float, str]]] = {k: [] for k in range(4)}

    @staticmethod
    def footprint(parts: list[Part]) -> tuple[float, float, float, float, float]:
        v = np.concatenate([p.vertices for p in parts])
        return (v[:, 0].min(), v[:, 1].min(), v[:, 0].max(), v[:, 1].max(), v[:, 2].max())

    def inside(self, r, pad=0.0) -> bool:
        return (r[0] >= -self.W / 2 - 1e-9 + pad and r[2] <= self.W / 2 + 1e-9 - pad
                and r[1] >= -self.D / 2 - 1e-9 + pad and r[3] <= self.D / 2 + 1e-9 - pad)

    def path_distance(self, r) -> float:
        dx = np.maximum(np.maximum(r[0] - self.path[:, 0], self.path[:, 0] - r[2]), 0.0)
        dy = np.maximum(np.maximum(r[1] - self.path[:, 1], self.path[:, 1] - r[3]), 0.0)
        return float(np.sqrt(dx * dx + dy * dy).min())

    def collides(self, r, gap=GAP) -> bool:
        for q in self.rects:
            if r[0] < q[2] + gap and q[0] < r[2] + gap and r[1] < q[3] + gap and q[1] < r[3] + gap:
                return True
        return False

    def free(self, r, clearance=PATH_CLEARANCE) -> bool:
        return self.inside(r) and not self.collides(r) and self.path_distance(r) >= clearance

    def wall_length(self, wall: int) -> float:
        return self.W if wall % 2 == 0 else self.D

    def wall_pose(self, wall: int, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(R, origin) mapping a local frame (x along the wall, +y into the room, z up, wall
        plane at y = 0) onto wall ``wall`` (0: y=−D/2, 1: x=+W/2, 2: y=+D/2, 3: x=−W/2) at
        position ``t`` along it."""
        R = _rot_z_quarter(wall)
        W2, D2 = self.W / 2, self.D / 2
        origin = {0: (t, -D2, 0.0), 1: (W2, t, 0.0), 2: (-t, D2, 0.0), 3: (-W2, -t, 0.0)}[wall]
        return R, np.asarray(origin, float)

    def interval_free(self, wall, lo, hi) -> bool:
        return all(hi + GAP <= a or lo - GAP >= b for a, b, _ in self.wall_intervals[wall])


def _place(parts: list[Part], R: np.ndarray, t: np.ndarray) -> list[Part]:
    return [p.moved(R, t) for p in parts]


def _wall_frame(parts: list[Part], gap: float = 0.03) -> tuple[list[Part], float]:
    """Shift a model so that it is centred in x and its back is ``gap`` in front of the wall
    (y_min = gap); returns (parts, width)."""
    v = np.concatenate([p.vertices for p in parts])
    lo, hi = v.min(axis=0), v.max(axis=0)
    shift = np.array([-(lo[0] + hi[0]) / 2, gap - lo[1], 0.0])
    return _place(parts, np.eye(3), shift), float(hi[0] - lo[0])


def _finalise_materials(parts: list[Part]) -> None:
    """Give framed textures their part's frame and wood/metal grain their part's long axis."""
    for p in parts:
        m = p.material
        lo, hi = p.vertices.min(axis=0), p.vertices.max(axis=0)
        if m.kind in _FRAMED:
            p.material = replace(m, origin=tuple(float(x) for x in (lo + hi) / 2),
                                 extent=tuple(float(x) for x in np.maximum((hi - lo) / 2, 1e-3)))
        elif m.kind in ("wood", "metal"):
            p.material = replace(m, axis=int(np.argmax(hi - lo)))


# ----------------------------------------------------------------------------- object models
# Every model is built in a local frame: x along its width, +y towards its front, back at
# y = 0 (against the wall), floor at z = 0, centred at x = 0.
def _table(w, d, h, top: Material, leg: Material) -> list[Part]:
    t = 0.04
    parts = [box((-w / 2, -d / 2, h - t), (w / 2, d / 2, h), top)]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(box((sx * (w / 2 - 0.06) - 0.025, sy * (d / 2 - 0.06) - 0.025, 0),
                             (sx * (w / 2 - 0.06) + 0.025, sy * (d / 2 - 0.06) + 0.025, h - t), leg))
    return parts


def _chair(seat_mat: Material, frame: Material) -> list[Part]:
    """A chair facing +y (its back towards −y), centred at the origin."""
    w, d, sh = 0.44, 0.44, 0.45
    parts = [box((-w / 2, -d / 2, sh - 0.05), (w / 2, d / 2, sh), seat_mat),
             box((-w / 2, -d / 2, sh), (w / 2, -d / 2 + 0.05, sh + 0.45), seat_mat)]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(box((sx * (w / 2 - 0.03) - 0.02, sy * (d / 2 - 0.03) - 0.02, 0),
                             (sx * (w / 2 - 0.03) + 0.02, sy * (d / 2 - 0.03) + 0.02, sh - 0.05),
                             frame))
    return parts


def _sofa(w, fabric: Material, foot: Material) -> list[Part]:
    d, seat_h, back_h, arm = 0.88, 0.44, 0.86, 0.18
    parts = [box((-w / 2, 0.0, 0.1), (w / 2, d, seat_h - 0.12), fabric),             # base
             box((-w / 2 + arm, 0.2, seat_h - 0.12), (w / 2 - arm, d, seat_h), fabric),  # seat
             box((-w / 2, 0.0, seat_h - 0.12), (w / 2, 0.22, back_h), fabric),        # back
             box((-w / 2, 0.0, seat_h - 0.12), (-w / 2 + arm, d, 0.64), fabric),      # arms
             box((w / 2 - arm, 0.0, seat_h - 0.12), (w / 2, d, 0.64), fabric)]
    for sx in (-1, 1):
        for y in (0.06, d - 0.06):
            parts.append(cylinder(sx * (w / 2 - 0.08), y, 0.0, 0.03, 0.1, foot, 10))
    return parts


def _bed(length, frame: Material, sheet: Material, blanket: Material,
         pillow: Material) -> tuple[list[Part], list[Part]]:
    """A single bed lying along the wall (its long side against it), headboard at −x."""
    d, h = 0.95, 0.3
    bed = [box((-length / 2, 0.0, 0.0), (length / 2, d, h), frame),                          # frame
           box((-length / 2, 0.0, 0.0), (-length / 2 + 0.05, d, 0.9), frame),                # headboard
           box((length / 2 - 0.04, 0.0, 0.0), (length / 2, d, 0.5), frame),                  # footboard
           box((-length / 2 + 0.05, 0.02, h), (length / 2 - 0.04, d - 0.02, h + 0.2), sheet),  # mattress
           box((-length / 2 + 0.55, 0.0, h + 0.12), (length / 2 - 0.02, d + 0.01, h + 0.24), blanket)]
    pil = [ellipsoid((-length / 2 + 0.3, d / 2, h + 0.27), (0.2, 0.33, 0.08), pillow, 12)]
    return bed, pil


def _cushion(x, mat: Material) -> list[Part]:
    # a plump cushion leaning on the sofa back, resting on the seat
    return [ellipsoid((x, 0.32, 0.62), (0.2, 0.09, 0.19), mat, resolution=12)]


def _bookshelf(pal: _Palette, w, h, wood: Material, rng) -> tuple[list[Part], list[list[Part]]]:
    d, t = 0.34, 0.025
    parts = [box((-w / 2, 0.0, 0.0), (-w / 2 + t, d, h), wood),
             box((w / 2 - t, 0.0, 0.0), (w / 2, d, h), wood),
             box((-w / 2, 0.0, 0.0), (w / 2, 0.015, h), wood)]
    n_shelves = 5
    levels = np.linspace(0.0, h - t, n_shelves)
    for z in levels:
        parts.append(box((-w / 2 + t, 0.015, z), (w / 2 - t, d, z + t), wood))
    books = []
    palette = [(0.65, 0.12, 0.1), (0.1, 0.25, 0.55), (0.15, 0.45, 0.2), (0.8, 0.6, 0.15),
               (0.35, 0.15, 0.4), (0.85, 0.85, 0.8), (0.1, 0.1, 0.12), (0.7, 0.35, 0.1)]
    for z0, z1 in zip(levels[:-1], levels[1:]):
        shelf_h = z1 - z0 - t
        x = -w / 2 + t + 0.01
        x_end = w / 2 - t - rng.uniform(0.03, 0.25)
        while True:
            bw = rng.uniform(0.025, 0.05)
            if x + bw > x_end:
                break
            bh = shelf_h * rng.uniform(0.6, 0.9)
            bd = rng.uniform(0.18, 0.26)
            col = palette[int(rng.integers(len(palette)))]
            mat = pal.make("books", pal.jitter(col, 0.05), (0.9, 0.85, 0.6))
            books.append([box((x, 0.04, z0 + t), (x + bw, 0.04 + bd, z0 + t + bh), mat)])
            x += bw + rng.uniform(0.0, 0.006)
    return parts, books


def _cabinet(w, d, h, body: Material, top: Material, knob: Material) -> list[Part]:
    parts = [box((-w / 2, 0.0, 0.08), (w / 2, d, h - 0.03), body),
             box((-w / 2 - 0.01, 0.0, h - 0.03), (w / 2 + 0.01, d + 0.01, h), top)]
    for sx in (-1, 1):
        for y in (0.05, d - 0.05):
            parts.append(box((sx * (w / 2 - 0.05) - 0.02, y - 0.02, 0.0),
                             (sx * (w / 2 - 0.05) + 0.02, y + 0.02, 0.08), top))
    # door seams and knobs on the front face
    parts.append(box((-0.004, d, 0.12), (0.004, d + 0.005, h - 0.07), top))
    for sx in (-1, 1):
        parts.append(ellipsoid((sx * 0.06, d + 0.015, h * 0.6), (0.018, 0.018, 0.018), knob, 8))
    return parts


def _floor_lamp(pole: Material, shade: Material) -> list[Part]:
    return [cylinder(0, 0, 0.0, 0.16, 0.03, pole, 20),
            cylinder(0, 0, 0.03, 0.015, 1.35, pole, 10),
            cylinder(0, 0, 1.3, 0.2, 0.32, shade, 24)]


def _table_lamp(base: Material, shade: Material) -> list[Part]:
    return [ellipsoid((0, 0, 0.12), (0.09, 0.09, 0.12), base, 12),
            cylinder(0, 0, 0.22, 0.012, 0.12, base, 8),
            cylinder(0, 0, 0.3, 0.15, 0.2, shade, 24)]


def _plant(pot: Material, leaves: Material, rng) -> list[Part]:
    h = rng.uniform(0.32, 0.42)
    parts = [cylinder(0, 0, 0.0, 0.2, h, pot, 24), cylinder(0, 0, h, 0.015, 0.35, leaves, 6)]
    for k in range(5):
        a = 2 * np.pi * k / 5 + rng.uniform(-0.3, 0.3)
        r = rng.uniform(0.08, 0.16)
        parts.append(ellipsoid((r * np.cos(a), r * np.sin(a), h + rng.uniform(0.35, 0.75)),
                               (rng.uniform(0.16, 0.22),) * 2 + (rng.uniform(0.15, 0.25),),
                               leaves, 10))
    parts.append(ellipsoid((0, 0, h + 0.95), (0.17, 0.17, 0.22), leaves, 10))
    return parts


# ----------------------------------------------------------------------------- the room
def build_room(seed: int = 0, layout: str = "default") -> Room:
    """Build the demo room for ``seed`` (deterministic: same seed → identical geometry).

    Layout sampling is rejection-based; in the rare case that a draw cannot place everything,
    the draw is repeated with the random stream ``(seed, attempt)`` — still deterministic."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r} (known: {', '.join(LAYOUTS)})")
    err = None
    for attempt in range(20):
        rng = np.random.default_rng(seed if attempt == 0 else [seed, attempt])
        try:
            return _build_room(rng, seed, layout)
        except _PlacementError as exc:
            err = exc
    raise RuntimeError(f"could not lay out the room for seed {seed}: {err}")


class _PlacementError(RuntimeError):
    pass


def _build_room(rng: np.random.Generator, seed: int, layout: str) -> Room:
    W = float(np.round(rng.uniform(6.4, 7.2), 2))
    D = float(np.round(rng.uniform(5.0, 5.8), 2))
    H = float(np.round(rng.uniform(2.6, 2.9), 2))
    path = plan_path(W, D, PATH_MARGIN)
    lay = _Layout(W, D, H, path)
    pal = _Palette(rng)
    objects: list[RoomObject] = []

    def add(cls: str, name: str, parts: list[Part]) -> RoomObject:
        _finalise_materials(parts)
        obj = RoomObject(cls, name, parts)
        objects.append(obj)
        return obj

    # ---- shell
    t = 0.1
    wall_mat = pal.make("stripes", pal.jitter((0.86, 0.82, 0.72), 0.04),
                        pal.jitter((0.78, 0.72, 0.62), 0.04), pal.jitter((0.55, 0.45, 0.35), 0.05),
                        scale=float(rng.uniform(0.09, 0.14)))
    accent = pal.make("stripes", pal.jitter((0.55, 0.65, 0.72), 0.06),
                      pal.jitter((0.48, 0.58, 0.66), 0.06), (0.85, 0.85, 0.82), scale=0.2)
    accent_wall = int(rng.integers(4))
    slabs = [((-W / 2 - t, -D / 2 - t, 0), (W / 2 + t, -D / 2, H)),   # wall 0 (y = -D/2)
             ((W / 2, -D / 2 - t, 0), (W / 2 + t, D / 2 + t, H)),     # wall 1 (x = +W/2)
             ((-W / 2 - t, D / 2, 0), (W / 2 + t, D / 2 + t, H)),     # wall 2 (y = +D/2)
             ((-W / 2 - t, -D / 2 - t, 0), (-W / 2, D / 2 + t, H))]   # wall 3 (x = -W/2)
    for k, (lo, hi) in enumerate(slabs):
        add("wall", f"wall_{k}", [box(lo, hi, accent if k == accent_wall else wall_mat)])
    floor_kind = "planks" if rng.uniform() < 0.7 else "tiles"
    if floor_kind == "planks":
        floor_mat = pal.make("planks", pal.jitter((0.72, 0.52, 0.32)), pal.jitter((0.52, 0.34, 0.19)),
                             (0.2, 0.13, 0.08), scale=float(rng.uniform(0.16, 0.22)))
    else:
        floor_mat = pal.make("tiles", pal.jitter((0.82, 0.8, 0.76)), pal.jitter((0.45, 0.45, 0.48)),
                             (0.3, 0.3, 0.3), scale=0.4)
    add("floor", "floor", [box((-W / 2 - t, -D / 2 - t, -t), (W / 2 + t, D / 2 + t, 0.0), floor_mat)])
    add("ceiling", "ceiling", [box((-W / 2 - t, -D / 2 - t, H), (W / 2 + t, D / 2 + t, H + t),
                                   pal.plain((0.93, 0.93, 0.9), scale=0.5))])

    def wall_item(wall, tpos, local_parts, width, kind):
        R, o = lay.wall_pose(wall, tpos)
        parts = _place(local_parts, R, o)
        lay.wall_intervals[wall].append((tpos - width / 2, tpos + width / 2, kind))
        return parts

    def random_wall_spot(width, kinds_ok=()):
        for _ in range(200):
            wall = int(rng.integers(4))
            L = lay.wall_length(wall)
            tpos = float(rng.uniform(-L / 2 + width / 2 + 0.25, L / 2 - width / 2 - 0.25))
            if lay.interval_free(wall, tpos - width / 2, tpos + width / 2):
                return wall, tpos
        raise _PlacementError("no free wall interval")

    # ---- door (with its swing area kept free)
    door_w, door_h = 0.9, 2.05
    wall, tpos = random_wall_spot(door_w + 0.2)
    door_mat = pal.wood((0.78, 0.62, 0.42), (0.62, 0.46, 0.3), scale=0.03)
    trim = pal.plain((0.95, 0.95, 0.93))
    local = [box((-door_w / 2, 0.0, 0.0), (door_w / 2, 0.035, door_h), door_mat),
             box((-door_w / 2 - 0.07, 0.0, 0.0), (-door_w / 2, 0.05, door_h + 0.07), trim),
             box((door_w / 2, 0.0, 0.0), (door_w / 2 + 0.07, 0.05, door_h + 0.07), trim),
             box((-door_w / 2, 0.0, door_h), (door_w / 2, 0.05, door_h + 0.07), trim),
             box((-door_w / 2 + 0.12, 0.035, 0.35), (door_w / 2 - 0.12, 0.05, 0.95), door_mat),
             box((-door_w / 2 + 0.12, 0.035, 1.15), (door_w / 2 - 0.12, 0.05, 1.85), door_mat),
             ellipsoid((door_w / 2 - 0.1, 0.07, 1.0), (0.03, 0.03, 0.03),
                       pal.make("metal", (0.8, 0.75, 0.55), (0.6, 0.55, 0.4)), 8)]
    add("door", "door", wall_item(wall, tpos, local, door_w + 0.14, "door"))
    R, o = lay.wall_pose(wall, tpos)
    swing = _place([box((-door_w / 2, 0.0, 0.0), (door_w / 2, door_w, 0.01), trim)], R, o)
    lay.rects.append(lay.footprint(swing))

    # ---- window (a sky panel behind a white frame with a cross bar)
    win_w, win_z0, win_z1 = float(rng.uniform(1.1, 1.5)), 0.95, min(2.15, H - 0.35)
    wall, tpos = random_wall_spot(win_w + 0.2)
    sky = pal.make("sky", (0.55, 0.72, 0.95), (0.85, 0.9, 0.97), emission=0.6)
    frame = pal.plain((0.96, 0.96, 0.95))
    fw = 0.06
    local = [box((-win_w / 2, 0.0, win_z0), (win_w / 2, 0.01, win_z1), sky),
             box((-win_w / 2 - fw, 0.0, win_z0 - fw), (win_w / 2 + fw, 0.06, win_z0), frame),
             box((-win_w / 2 - fw, 0.0, win_z1), (win_w / 2 + fw, 0.06, win_z1 + fw), frame),
             box((-win_w / 2 - fw, 0.0, win_z0), (-win_w / 2, 0.06, win_z1), frame),
             box((win_w / 2, 0.0, win_z0), (win_w / 2 + fw, 0.06, win_z1), frame),
             box((-0.02, 0.0, win_z0), (0.02, 0.04, win_z1), frame),
             box((-win_w / 2, 0.0, (win_z0 + win_z1) / 2 - 0.02), (win_w / 2, 0.04, (win_z0 + win_z1) / 2 + 0.02), frame),
             box((-win_w / 2 - 0.1, 0.0, win_z0 - fw - 0.04), (win_w / 2 + 0.1, 0.14, win_z0 - fw), frame)]
    add("window", "window", wall_item(wall, tpos, local, win_w + 0.2, "window"))

    def against_wall(local_parts, width, tall: bool, tries=300, walls=None, t_range=None):
        """Place a wall-backed model at a free random spot; returns world parts or None."""
        for _ in range(tries):
            wall = int(rng.integers(4)) if walls is None else int(rng.choice(walls))
            L = lay.wall_length(wall)
            lo, hi = (-L / 2 + width / 2 + 0.02, L / 2 - width / 2 - 0.02) if t_range is None else t_range
            if hi <= lo:
                continue
            tpos = float(rng.uniform(lo, hi))
            if tall and not all(tpos + width / 2 + GAP <= lo_ or tpos - width / 2 - GAP >= hi_
                                for lo_, hi_, kind in lay.wall_intervals[wall]
                                if kind in ("window", "picture")):
                continue
            R, o = lay.wall_pose(wall, tpos)
            parts = _place(local_parts, R, o)
            r = lay.footprint(parts)
            if lay.free(r):
                lay.rects.append(r)
                return parts, wall, tpos
        return None

    # ---- table group (x < 0 half, inside the loop) and the rug (x > 0 half)
    a, b = W / 2 - PATH_MARGIN, D / 2 - PATH_MARGIN
    top_mat = pal.wood((0.66, 0.45, 0.26), (0.45, 0.28, 0.14), scale=0.015)
    leg_mat = pal.wood((0.4, 0.26, 0.15), (0.28, 0.17, 0.09), scale=0.01)
    seat_mat = pal.fabric(rng.choice([(0.7, 0.25, 0.2), (0.25, 0.4, 0.6), (0.3, 0.5, 0.35)]))
    chair_frame = pal.wood((0.3, 0.2, 0.12), (0.2, 0.12, 0.07), scale=0.01)
    for attempt in range(60):
        tw = float(rng.uniform(0.9, 1.1)) if attempt < 40 else 0.8
        td = float(rng.uniform(0.65, 0.75)) if attempt < 40 else 0.6
        cx = float(-a / 2 + rng.uniform(-0.15, 0.15))
        cy = float(rng.uniform(-0.15, 0.15))
        long_y = bool(rng.uniform() < 0.7)    # table's long side along y (fits the half-ellipse)
        Rt = _rot_z_quarter(1 if long_y else 0)
        table_parts = _place(_table(tw, td, 0.74, top_mat, leg_mat), Rt, np.array([cx, cy, 0.0]))
        r = lay.footprint(table_parts)
        if not lay.free(r, PATH_CLEARANCE + 0.1):
            continue
        chairs, chair_rects = [], []
        # chair k at the table side k (0: -y side, 1: +x, 2: +y, 3: -x), facing the table
        half = {0: td / 2, 2: td / 2, 1: tw / 2, 3: tw / 2} if not long_y else \
               {0: tw / 2, 2: tw / 2, 1: td / 2, 3: td / 2}
        for k in rng.permutation(4):
            k = int(k)
            dirv = np.array([[0, -1], [1, 0], [0, 1], [-1, 0]][k], float)
            pos = np.array([cx, cy]) + dirv * (half[k] + 0.12)
            # the chair model faces +y; rot_z(k·90°) turns +y into −dirv (towards the table)
            cparts = _place(_chair(seat_mat, chair_frame), _rot_z_quarter(k), np.array([pos[0], pos[1], 0.0]))
            rc = lay.footprint(cparts)
            if lay.free(rc) and not any(rc[0] < q[2] + GAP and q[0] < rc[2] + GAP and rc[1] < q[3] + GAP
                                        and q[1] < rc[3] + GAP for q in chair_rects):
                chairs.append(cparts)
                chair_rects.append(rc)
        if len(chairs) >= 2:
            lay.rects += [r] + chair_rects
            add("table", "table", table_parts)
            for i, cparts in enumerate(chairs):
                add("chair", f"chair_{i}", cparts)
            break
    else:
        raise _PlacementError(f"seed {seed}: could not place the table group")

    rug_w = float(min(a - 0.2, rng.uniform(1.5, 2.1)))
    rug_d = float(min(1.6 * b, rng.uniform(1.8, 2.4)))
    rcx = float(a / 2 + rng.uniform(-0.1, 0.1))
    rug_mat = pal.make("rug", pal.jitter((0.62, 0.18, 0.15)), pal.jitter((0.85, 0.72, 0.5)),
                       pal.jitter((0.15, 0.18, 0.35)), scale=float(rng.uniform(0.25, 0.35)))
    rug_parts = [box((rcx - rug_w / 2, -rug_d / 2, 0.0), (rcx + rug_w / 2, rug_d / 2, 0.012), rug_mat)]

    if layout == "default":
        # ---- sofa (+ cushions and the picture above it)
        sofa_w = float(rng.uniform(1.8, 2.2))
        sofa_fabric = pal.fabric(rng.choice([(0.35, 0.38, 0.45), (0.55, 0.45, 0.35), (0.3, 0.42, 0.36),
                                             (0.6, 0.55, 0.5)]))
        foot = pal.wood((0.25, 0.16, 0.1), (0.18, 0.1, 0.05), scale=0.01)
        res = against_wall(_sofa(sofa_w, sofa_fabric, foot), sofa_w, tall=False)
        if res is None:
            raise _PlacementError(f"seed {seed}: could not place the sofa")
        sofa_parts, sofa_wall, sofa_t = res
        add("sofa", "sofa", sofa_parts)
        Rs, os_ = lay.wall_pose(sofa_wall, sofa_t)
        cush_cols = [(0.85, 0.6, 0.2), (0.75, 0.2, 0.25), (0.9, 0.88, 0.8), (0.2, 0.5, 0.55)]
        for i, x in enumerate((-sofa_w / 2 + 0.42, sofa_w / 2 - 0.42)):
            cm = pal.fabric(cush_cols[int(rng.integers(len(cush_cols)))], scale=0.006)
            add("cushion", f"cushion_{i}", _place(_cushion(x, cm), Rs, os_))
    else:
        # ---- bedroom: a single bed along a wall (+ a pillow; the picture above it)
        sofa_w = float(rng.uniform(1.9, 2.05))
        frame = pal.wood((0.5, 0.34, 0.2), (0.34, 0.21, 0.11), scale=0.012)
        sheet = pal.fabric((0.9, 0.9, 0.88), scale=0.003)
        blanket = pal.fabric(rng.choice([(0.3, 0.4, 0.65), (0.65, 0.3, 0.3), (0.4, 0.55, 0.4)]), scale=0.008)
        bed_local, pillow_local = _bed(sofa_w, frame, sheet, blanket,
                                       pal.fabric((0.95, 0.93, 0.88), scale=0.004))
        res = against_wall(bed_local + pillow_local, sofa_w, tall=False)
        if res is None:
            raise _PlacementError(f"seed {seed}: could not place the bed")
        all_parts, sofa_wall, sofa_t = res
        add("bed", "bed", all_parts[:len(bed_local)])
        add("pillow", "pillow", all_parts[len(bed_local):])

    canvas = pal.make("painting", pal.jitter((0.45, 0.6, 0.85)), pal.jitter((0.35, 0.55, 0.25)),
                      pal.jitter((0.2, 0.35, 0.15)))
    frame_mat = pal.wood((0.35, 0.22, 0.12), (0.2, 0.12, 0.06), scale=0.008)
    pw, ph = float(rng.uniform(0.8, 1.1)), float(rng.uniform(0.55, 0.7))
    pz = float(min(1.55, H - 0.45 - ph / 2))
    pic_local = [box((-pw / 2 - 0.05, 0.0, pz - ph / 2 - 0.05), (pw / 2 + 0.05, 0.03, pz + ph / 2 + 0.05), frame_mat),
                 box((-pw / 2, 0.0, pz - ph / 2), (pw / 2, 0.04, pz + ph / 2), canvas)]
    if lay.interval_free(sofa_wall, sofa_t - pw / 2 - 0.05, sofa_t + pw / 2 + 0.05):
        pic_wall, pic_t = sofa_wall, sofa_t
    else:
        pic_wall, pic_t = random_wall_spot(pw + 0.1)
    add("picture", "picture", wall_item(pic_wall, pic_t, pic_local, pw + 0.1, "picture"))

    # ---- bookshelf with books
    shelf_w, shelf_h = float(rng.uniform(0.8, 1.0)), float(min(1.85, H - 0.5))
    shelf_wood = pal.wood((0.55, 0.38, 0.22), (0.38, 0.24, 0.12), scale=0.012)
    shelf_local, books_local = _bookshelf(pal, shelf_w, shelf_h, shelf_wood, rng)
    for _ in range(10):
        res = against_wall(shelf_local + [p for bk in books_local for p in bk], shelf_w, tall=True)
        if res is not None:
            break
    if res is None:
        raise _PlacementError(f"seed {seed}: could not place the bookshelf")
    all_parts, wall_s, t_s = res
    add("bookshelf", "bookshelf", all_parts[:len(shelf_local)])
    n_books = len(books_local)
    for i in range(n_books):
        add("book", f"book_{i}", [all_parts[len(shelf_local) + i]])

    # ---- cabinet with a table lamp on it
    cab_w, cab_d, cab_h = float(rng.uniform(1.0, 1.3)), 0.45, float(rng.uniform(0.7, 0.85))
    cab_body = pal.plain(rng.choice([(0.9, 0.9, 0.88), (0.3, 0.35, 0.4), (0.75, 0.6, 0.45)]), scale=0.2)
    cab_top = pal.wood((0.6, 0.42, 0.25), (0.42, 0.27, 0.14), scale=0.012)
    knob = pal.make("metal", (0.75, 0.75, 0.75), (0.55, 0.55, 0.58))
    lamp_base = pal.plain(rng.choice([(0.2, 0.45, 0.5), (0.8, 0.75, 0.65), (0.5, 0.2, 0.2)]), scale=0.05)
    lamp_shade = pal.fabric((0.97, 0.92, 0.8), scale=0.003)
    lamp_shade = replace(lamp_shade, emission=0.35)
    lamp_x = float(rng.uniform(-cab_w / 2 + 0.2, cab_w / 2 - 0.2))
    lamp_local = _place(_table_lamp(lamp_base, lamp_shade), np.eye(3), np.array([lamp_x, cab_d / 2, cab_h]))
    cab_local = _cabinet(cab_w, cab_d, cab_h, cab_body, cab_top, knob)
    res = against_wall(cab_local + lamp_local, cab_w + 0.02, tall=False)
    if res is None:
        raise _PlacementError(f"seed {seed}: could not place the cabinet")
    all_parts, _, _ = res
    add("cabinet", "cabinet", all_parts[:len(cab_local)])
    add("lamp", "table_lamp", all_parts[len(cab_local):])

    # ---- floor lamp, plant, boxes: corners first, then along walls
    def corner_or_wall(local_parts, tall):
        local_parts, width = _wall_frame(local_parts)
        corners = [(w, s) for w in range(4) for s in (-1, 1)]
        order = rng.permutation(len(corners))
        for idx in order:
            wall, side = corners[int(idx)]
            L = lay.wall_length(wall)
            tc = side * (L / 2 - width / 2 - 0.08)
            res = against_wall(local_parts, width, tall, tries=3, walls=[wall], t_range=(tc - 0.03, tc + 0.03))
            if res is not None:
                return res
        return against_wall(local_parts, width, tall)

    pole = pal.make("metal", (0.25, 0.25, 0.27), (0.12, 0.12, 0.13))
    fl_shade = replace(pal.fabric((0.95, 0.88, 0.72), scale=0.003), emission=0.35)
    res = corner_or_wall(_floor_lamp(pole, fl_shade), True)
    if res is not None:
        add("lamp", "floor_lamp", res[0])

    pot = pal.plain(rng.choice([(0.72, 0.38, 0.24), (0.85, 0.85, 0.82), (0.3, 0.3, 0.32)]), scale=0.05)
    leaves = pal.make("foliage", pal.jitter((0.12, 0.35, 0.1), 0.04), pal.jitter((0.35, 0.6, 0.2), 0.05))
    res = corner_or_wall(_plant(pot, leaves, rng), True)
    if res is None:
        raise _PlacementError(f"seed {seed}: could not place the plant")
    add("plant", "plant", res[0])

    # boxes: a stack of 2–3 cardboard boxes
    n_boxes = int(rng.integers(2, 4))
    stack_local: list[list[Part]] = []
    z = 0.0
    bw0 = float(rng.uniform(0.45, 0.6))
    for i in range(n_boxes):
        bw = bw0 * (1.0 - 0.15 * i)
        bd = bw * float(rng.uniform(0.7, 0.9))
        bh = float(rng.uniform(0.25, 0.4))
        off = float(rng.uniform(-0.04, 0.04))
        card = pal.make("cardboard", pal.jitter((0.72, 0.55, 0.35), 0.04), pal.jitter((0.6, 0.44, 0.27), 0.03),
                        (0.85, 0.78, 0.6))
        stack_local.append([box((-bw / 2 + off, 0.02, z), (bw / 2 + off, 0.02 + bd, z + bh), card)])
        z += bh
    flat = [p for s in stack_local for p in s]
    res = corner_or_wall(flat, False)
    if res is None:
        raise _PlacementError(f"seed {seed}: could not place the boxes")
    for i, p in enumerate(res[0]):
        add("box", f"box_{i}", [p])

    add("rug", "rug", rug_parts)

    # ---- ids, class list, materials, lights
    present = {o.class_name for o in objects}
    classes = [c for c in CLASSES if c in present]
    for i, o in enumerate(objects):
        o.instance_id = i
    materials: list[Material] = []
    seen: set[int] = set()
    for o in objects:
        for p in o.parts:
            if id(p.material) not in seen:
                seen.add(id(p.material))
                materials.append(p.material)
    lights = [(np.array([-W / 4, 0.0, H - 0.3]), 1.0), (np.array([W / 4, 0.0, H - 0.3]), 1.0)]
    return Room(W, D, H, seed, layout, classes, materials, objects, lights, path)
