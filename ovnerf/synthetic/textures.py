"""Procedural surface textures for the demo room (numpy, deterministic, vectorised).

A :class:`Material` names a pattern ``kind`` and its parameters; :func:`albedo` evaluates the
diffuse colour (RGB in [0, 1]) of many surface points at once. Patterns are *solid/planar
textures*: they are functions of the hit point's world coordinates ``p`` (metres), so no UV
unwrapping is needed. Planar patterns use the two world axes spanning the surface, chosen by
the dominant axis of the surface normal (``planar_coords``):

    |n_z| largest → (u, v) = (x, y);   |n_x| largest → (y, z);   |n_y| largest → (x, z)

i.e. on vertical surfaces ``v`` is the height. Material ``origin`` shifts the coordinates so that
patterns that need a frame (rug border, painting, tape on a box) are placed relative to their
object.

Noise is hash-based value noise on the integer lattice (period 1024 cells) (smoothstep-interpolated trilinearly) and
its fractal sum (fBm); the hash depends only on the lattice coordinates and the material's
``seed``, so every pattern is a pure function of (material, p, n): identical inputs give
byte-identical outputs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

KINDS = ("plain", "wood", "planks", "tiles", "fabric", "stripes", "rug", "painting", "sky",
         "foliage", "cardboard", "metal", "books")


@dataclass(frozen=True)
class Material:
    """A procedural surface.

    ``kind``: one of :data:`KINDS`. ``color_a`` / ``color_b`` / ``color_c``: RGB in [0, 1]
    (their role depends on the kind). ``scale``: pattern period in metres (plank width, tile
    size, stripe width, ring spacing...). ``axis``: grain direction for wood (0=x, 1=y, 2=z).
    ``origin`` / ``extent``: the object's frame for framed patterns (rug, painting, cardboard):
    coordinates are ``p - origin`` and ``extent`` the half size (metres). ``emission``: fraction
    of the albedo added regardless of lighting (window sky, lamp shade). ``seed``: noise seed.
    """

    kind: str
    color_a: tuple = (0.8, 0.8, 0.8)
    color_b: tuple = (0.5, 0.5, 0.5)
    color_c: tuple = (0.2, 0.2, 0.2)
    scale: float = 0.2
    axis: int = 0
    origin: tuple = (0.0, 0.0, 0.0)
    extent: tuple = (0.5, 0.5, 0.5)
    emission: float = 0.0
    seed: int = 0
    name: str = field(default="", compare=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown material kind {self.kind!r} (known: {', '.join(KINDS)})")


# ----------------------------------------------------------------------------- noise
_TABLE = 1024  # lattice hash period (cells); a power of two


@lru_cache(maxsize=8192)
def _tables(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded permutation of 0..1023 and 1024 uniform values (Perlin-style hashing)."""
    rng = np.random.default_rng(int(seed) & 0xFFFFFFFF)
    return rng.permutation(_TABLE).astype(np.int64), rng.random(_TABLE, dtype=np.float32)


def hash3(ix: np.ndarray, iy: np.ndarray, iz: np.ndarray, seed: int) -> np.ndarray:
    """Uniform pseudo-random value in [0, 1) per integer lattice point (vectorised):
    ``V[P[(P[(P[ix] + iy) mod 1024] + iz) mod 1024]]`` with a seeded permutation ``P``."""
    P, V = _tables(seed)
    m = _TABLE - 1
    h = P[np.asarray(ix, np.int64) & m]
    h = P[(h + np.asarray(iy, np.int64)) & m]
    return V[P[(h + np.asarray(iz, np.int64)) & m]]


def value_noise(p: np.ndarray, seed: int = 0) -> np.ndarray:
    """Smooth value noise in [0, 1] at points ``p`` (N,3); lattice spacing 1. Trilinear
    interpolation (smoothstep weights) of :func:`hash3` at the 8 surrounding lattice points."""
    p = np.asarray(p, dtype=np.float64)
    i0 = np.floor(p)
    f = (p - i0).astype(np.float32)
    w = f * f * (3.0 - 2.0 * f)  # smoothstep
    i0 = i0.astype(np.int64)
    P, V = _tables(seed)
    m = _TABLE - 1
    hx = [P[(i0[:, 0] + dx) & m] for dx in (0, 1)]
    hxy = [[P[(hx[dx] + i0[:, 1] + dy) & m] for dy in (0, 1)] for dx in (0, 1)]
    val = [[[V[P[(hxy[dx][dy] + i0[:, 2] + dz) & m]] for dz in (0, 1)] for dy in (0, 1)]
           for dx in (0, 1)]
    wx, wy, wz = w[:, 0], w[:, 1], w[:, 2]

    def lerp(a, b, t):
        return a + (b - a) * t

    x00 = lerp(val[0][0][0], val[1][0][0], wx)
    x10 = lerp(val[0][1][0], val[1][1][0], wx)
    x01 = lerp(val[0][0][1], val[1][0][1], wx)
    x11 = lerp(val[0][1][1], val[1][1][1], wx)
    return lerp(lerp(x00, x10, wy), lerp(x01, x11, wy), wz)


def fbm(p: np.ndarray, octaves: int = 4, seed: int = 0) -> np.ndarray:
    """Fractal sum of value noise, normalised to [0, 1]: Σ_k 0.5^k noise(2^k p) / Σ_k 0.5^k."""
    p = np.asarray(p, dtype=np.float64)
    total = np.zeros(p.shape[0], dtype=np.float32)
    amp, norm = 1.0, 0.0
    for k in range(octaves):
        total += np.float32(amp) * value_noise(p * (2.0 ** k), seed + 101 * k)
        norm += amp
        amp *= 0.5
    return total / np.float32(norm)


# ----------------------------------------------------------------------------- helpers
def planar_coords(p: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) in the plane of the surface (see module docstring)."""
    a = np.abs(n)
    dom = np.argmax(a, axis=1)
    u = np.where(dom == 0, p[:, 1], p[:, 0])
    v = np.where(dom == 2, p[:, 1], p[:, 2])
    return u.astype(np.float32), v.astype(np.float32)


def _lerp(c0, c1, t: np.ndarray) -> np.ndarray:
    c0 = np.asarray(c0, dtype=np.float32)
    c1 = np.asarray(c1, dtype=np.float32)
    t = np.asarray(t, dtype=np.float32)[:, None]
    return c0 * (1.0 - t) + c1 * t


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _tint(seed_ids: np.ndarray, seed: int, amount: float) -> np.ndarray:
    """Per-cell brightness factor 1 ± amount from integer cell ids (N,2)."""
    r = hash3(seed_ids[:, 0], seed_ids[:, 1], np.zeros_like(seed_ids[:, 0]), seed)
    return (1.0 - amount + 2.0 * amount * r).astype(np.float32)


# ----------------------------------------------------------------------------- patterns
def _wood(m: Material, p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Wood grain: growth rings around a line along ``axis``, warped by fBm, plus streaks."""
    q = p - np.asarray(m.origin)
    ax = m.axis
    o1, o2 = [i for i in range(3) if i != ax]
    warp = fbm(q * np.array([0.8 if i == ax else 6.0 for i in range(3)]), 3, m.seed)
    r = np.sqrt(q[:, o1] ** 2 + (q[:, o2] + 0.37) ** 2) / m.scale + 3.0 * warp
    ring = _smoothstep(0.55, 0.95, np.abs(np.sin(np.pi * r)).astype(np.float32))
    streak = value_noise(q * np.array([2.0 if i == ax else 90.0 for i in range(3)]), m.seed + 7)
    t = np.clip(0.65 * ring + 0.35 * streak, 0.0, 1.0)
    return _lerp(m.color_a, m.color_b, t)


def _planks(m: Material, p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Floor planks of width ``scale`` along u, length 6·scale along v, staggered, with seams."""
    q = p - np.asarray(m.origin)
    u, v = planar_coords(q, n)
    w = m.scale
    length = 6.0 * w
    row = np.floor(u / w)
    v_shift = v + (hash3(row.astype(np.int64), np.zeros_like(row, dtype=np.int64),
                         np.zeros_like(row, dtype=np.int64), m.seed + 3) * length)
    col = np.floor(v_shift / length)
    fu = u / w - row
    fv = v_shift / length - col
    ids = np.stack([row, col], axis=1).astype(np.int64)
    tint = _tint(ids, m.seed + 11, 0.12)
    # grain along v inside each plank (rings across u, warped)
    grain_q = np.stack([fu * w * 8.0 + row * 3.1, v_shift * 0.6, col * 1.7], axis=1)
    grain = fbm(grain_q * np.array([6.0, 1.5, 1.0]), 3, m.seed)
    fine = value_noise(np.stack([u * 120.0, v * 4.0, row], axis=1), m.seed + 5)
    t = np.clip(0.6 * _smoothstep(0.35, 0.75, grain) + 0.4 * fine, 0, 1)
    col_rgb = _lerp(m.color_a, m.color_b, t) * tint[:, None]
    seam = np.minimum(np.minimum(fu, 1 - fu) * w, np.minimum(fv, 1 - fv) * length)
    seam_mask = _smoothstep(0.002, 0.006, seam)
    dark = np.asarray(m.color_c, np.float32)
    return col_rgb * seam_mask[:, None] + dark * (1 - seam_mask)[:, None]


def _tiles(m: Material, p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Square tiles of size ``scale`` in a checker of color_a/color_b, grout color_c."""
    q = p - np.asarray(m.origin)
    u, v = planar_coords(q, n)
    s = m.scale
    iu, iv = np.floor(u / s), np.floor(v / s)
    fu, fv = u / s - iu, v / s - iv
    checker = ((iu + iv) % 2).astype(np.float32)
    ids = np.stack([iu, iv], axis=1).astype(np.int64)
    base = _lerp(m.color_a, m.color_b, checker) * _tint(ids, m.seed, 0.06)[:, None]
    base *= (0.92 + 0.08 * fbm(q * 9.0, 2, m.seed + 1))[:, None]
    grout = np.minimum(np.minimum(fu, 1 - fu), np.minimum(fv, 1 - fv)) * s
    g = _smoothstep(0.003, 0.007, grout)
    return base * g[:, None] + np.asarray(m.color_c, np.float32) * (1 - g)[:, None]


def _fabric(m: Material, p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Woven fabric: fine weave (period ``scale``) × blotchy fBm between color_a and color_b."""
    q = p - np.asarray(m.origin)
    u, v = planar_coords(q, n)
    s = m.scale
    weave = 0.5 + 0.25 * (np.sin(2 * np.pi * u / s) * np.sign(np.sin(np.pi * v / s))
                          + np.sin(2 * np.pi * v / s) * np.sign(np.sin(np.pi * u / s)))
    blotch = fbm(q * 4.0, 4, m.seed)
    base = _lerp(m.color_a, m.color_b, _smoothstep(0.3, 0.75, blotch))
    return base * (0.82 + 0.18 * weave.astype(np.float32))[:, None]


def _stripes(m: Material, p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Wallpaper: vertical stripes of width ``scale`` (color_a / color_b) with thin color_c lines."""
    q = p - np.asarray(m.origin)
    u, v = planar_coords(q, n)
    s = m.scale
    k = np.floor(u / s)
    f = u / s - k
    stripe = (k % 2).astype(np.float32)
    line = 1.0 - _smoothstep(0.0, 0.04, np.abs(f - 0.5))
    base = _lerp(m.color_a, m.color_b, stripe)
    base = base * (1 - line)[:, None] + np.asarray(m.color_c, np.float32) * line[:, None]
    # small motif dots on the light stripes
    dot_u = (u / s - k - 0.5) * s
    dot_v = (np.mod(v, s) - 0.5 * s)
    dots = (1 - stripe) * (1 - _smoothstep(0.012, 0.02, np.sqrt(dot_u ** 2 + dot_v ** 2)))
    base = base * (1 - 0.25 * dots)[:, None]
    return base * (0.94 + 0.06 * fbm(q * 6.0, 3, m.seed))[:, None]


def _rug(m: Material, p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Persian-style rug: border band (color_c), diamond lattice of color_a / color_b inside."""
    q = p - np.asarray(m.origin)
    ex, ey = float(m.extent[0]), float(m.extent[1])
    x, y = q[:, 0], q[:, 1]
    border_dist = np.minimum(ex - np.abs(x), ey - np.abs(y))
    s = m.scale
    d = np.abs(np.mod(x / s + y / s, 1.0) - 0.5) + np.abs(np.mod(x / s - y / s, 1.0) - 0.5)
    diamond = _smoothstep(0.45, 0.55, d)
    inner = _lerp(m.color_a, m.color_b, diamond)
    ring = (np.abs(border_dist - 0.12) < 0.02).astype(np.float32)
    inner = inner * (1 - ring)[:, None] + np.asarray(m.color_b, np.float32) * ring[:, None]
    in_border = (border_dist < 0.08).astype(np.float32)
    out = inner * (1 - in_border)[:, None] + np.asarray(m.color_c, np.float32) * in_border[:, None]
    pile = value_noise(q * np.array([150.0, 150.0, 1.0]), m.seed)
    return out * (0.85 + 0.15 * pile)[:, None]


def _painting(m: Material, p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Abstract landscape: sky gradient, a sun disc and fBm hills, in the canvas plane."""
    q = p - np.asarray(m.origin)
    u, v = planar_coords(q, n)
    h = float(m.extent[2])
    vn = (v / h + 1.0) * 0.5  # 0 at the bottom, 1 at the top of the canvas
    sky = _lerp(m.color_a, (0.95, 0.85, 0.6), np.clip(1.2 - vn, 0, 1))
    hill = 0.45 + 0.18 * fbm(np.stack([u * 2.5, np.zeros_like(u), np.zeros_like(u)], 1), 4, m.seed)
    land = _lerp(m.color_b, m.color_c, np.clip((hill - vn) * 4, 0, 1))
    land *= (0.8 + 0.2 * fbm(np.stack([u * 20, v * 20, np.zeros_like(u)], 1), 3, m.seed + 2))[:, None]
    is_land = _smoothstep(-0.01, 0.01, hill - vn)
    sun = 1 - _smoothstep(0.08, 0.1, np.sqrt((u - 0.2 * m.extent[0]) ** 2 + (vn - 0.75) ** 2 * h * h * 4))
    sky = sky * (1 - sun)[:, None] + np.array([1.0, 0.9, 0.3], np.float32) * sun[:, None]
    return sky * (1 - is_land)[:, None] + land * is_land[:, None]


def _sky(m: Material, p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Window view: blue sky gradient with fBm clouds (brighter towards the horizon)."""
    q = p - np.asarray(m.origin)
    u, v = planar_coords(q, n)
    vn = np.clip((v / float(m.extent[2]) + 1) * 0.5, 0, 1)
    sky = _lerp(m.color_b, m.color_a, vn)
    cloud = _smoothstep(0.5, 0.75, fbm(np.stack([u * 2.0, v * 4.0, np.zeros_like(u)], 1), 5, m.seed))
    return sky * (1 - cloud)[:, None] + np.float32(0.97) * cloud[:, None]


def _foliage(m: Material, p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Leaves: high-frequency cellular-ish noise between dark and light green."""
    q = p - np.asarray(m.origin)
    leaf = fbm(q * 25.0, 3, m.seed)
    vein = value_noise(q * 70.0, m.seed + 1)
    t = np.clip(_smoothstep(0.3, 0.7, leaf) * 0.8 + 0.2 * vein, 0, 1)
    return _lerp(m.color_a, m.color_b, t)


def _cardboard(m: Material, p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Cardboard: brown with fibres; a tape strip of color_c along x through ``origin`` on top."""
    q = p - np.asarray(m.origin)
    fib = fbm(q * np.array([40.0, 40.0, 40.0]), 3, m.seed)
    base = _lerp(m.color_a, m.color_b, fib)
    on_top = np.abs(n[:, 2]) > 0.5
    on_side = np.abs(n[:, 0]) > 0.5
    tape = (np.abs(q[:, 1]) < 0.04) & (on_top | on_side)
    base[tape] = np.asarray(m.color_c, np.float32) * (0.9 + 0.1 * fib[tape])[:, None]
    # printed arrow-ish mark on the ±y faces
    mark = (np.abs(n[:, 1]) > 0.5) & (np.abs(q[:, 0]) < 0.06) & (np.abs(q[:, 2]) < 0.08)
    base[mark] *= 0.35
    return base


def _metal(m: Material, p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Brushed metal: streaks along ``axis``."""
    q = p - np.asarray(m.origin)
    st = value_noise(q * np.array([2.0 if i == m.axis else 200.0 for i in range(3)]), m.seed)
    return _lerp(m.color_a, m.color_b, st)


def _books(m: Material, p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Book cover colour (color_a) with a lighter title band (color_b) near the spine's top."""
    q = p - np.asarray(m.origin)
    h = float(m.extent[2])
    band = (np.abs(q[:, 2] - 0.55 * h) < 0.12 * h).astype(np.float32)
    base = _lerp(m.color_a, m.color_b, band)
    return base * (0.9 + 0.1 * value_noise(q * 60.0, m.seed))[:, None]


def _plain(m: Material, p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Painted surface: color_a with faint fBm mottling towards color_b."""
    q = p - np.asarray(m.origin)
    t = fbm(q / max(m.scale, 1e-3), 3, m.seed)
    return _lerp(m.color_a, m.color_b, 0.35 * t)


_PATTERNS = {"plain": _plain, "wood": _wood, "planks": _planks, "tiles": _tiles, "fabric": _fabric,
             "stripes": _stripes, "rug": _rug, "painting": _painting, "sky": _sky,
             "foliage": _foliage, "cardboard": _cardboard, "metal": _metal, "books": _books}


def albedo(materials: list[Material], material_ids: np.ndarray, points: np.ndarray,
           normals: np.ndarray) -> np.ndarray:
    """Diffuse colour (N,3) float32 in [0,1] of ``points`` (N,3) with unit ``normals`` (N,3) on
    surfaces of material ``material_ids`` (N,) (indices into ``materials``)."""
    points = np.asarray(points, dtype=np.float64)
    normals = np.asarray(normals, dtype=np.float32)
    out = np.zeros((points.shape[0], 3), dtype=np.float32)
    for mid in np.unique(material_ids):
        sel = np.nonzero(material_ids == mid)[0]
        m = materials[int(mid)]
        out[sel] = _PATTERNS[m.kind](m, points[sel], normals[sel])
    return np.clip(out, 0.0, 1.0)


def emission(materials: list[Material], material_ids: np.ndarray) -> np.ndarray:
    """Per-point emission factor (N,) float32 from each material's ``emission``."""
    table = np.array([m.emission for m in materials], dtype=np.float32)
    return table[np.asarray(material_ids, dtype=np.int64)]
