"""Render the demo room with Open3D's ray-casting renderer (Embree, ``open3d.t.geometry.RaycastingScene``).

Per pixel ``(u, v)`` (pixel centre at ``(u+0.5, v+0.5)``, see docs/ARCHITECTURE.md) the camera ray
is ``o = c2w[:3,3]``, ``d = c2w[:3,:3] · ((u+0.5−cx)/fx, (v+0.5−cy)/fy, 1)`` (OpenCV camera axes).
``d`` is deliberately *not* normalised: Open3D returns ``t_hit`` in units of ``|d|``, so ``t_hit``
is the z-depth along the optical axis — exactly the project's depth convention.

Outputs per pixel: ``depth`` (float32 metres, 0 where nothing is hit), ``labels`` (int16 class id
of the hit triangle, −1 where nothing is hit), ``instances`` (int32 instance id, −1), and the
colour

    c = albedo(p, n) · (ambient + Σ_l I_l · max(0, n·l̂) · vis_l · f(|L_l − p|)) + e · albedo(p, n)

with ``albedo`` the material's procedural texture (:mod:`ovnerf.synthetic.textures`) at the hit point
``p``, ``n`` the triangle normal turned towards the camera, point lights ``L_l`` of intensity
``I_l``, soft distance falloff ``f(r) = 1 / (1 + (r / 2.5 m)²)``, ``vis_l`` ∈ {0, 1} from a
shadow ray (``test_occlusions`` from ``p + 1 mm · n`` towards the light; optional), and emission
``e`` (window, lamp shades). A display gamma ``c^(1/1.15)`` is applied before 8-bit quantisation.
With ``ssaa = s > 1`` the colour is the mean over an s×s grid of sub-pixel rays (anti-aliasing);
depth, labels and instances always come from the pixel-centre ray, so they stay exact.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d

from ovnerf.synthetic.room import Room
from ovnerf.synthetic.textures import albedo, emission

_INVALID = np.iinfo(np.uint32).max


@dataclass
class RenderOutput:
    image: np.ndarray      # uint8 H×W×3 RGB
    depth: np.ndarray      # float32 H×W z-depth, metres (0 = no hit)
    labels: np.ndarray     # int16 H×W class ids (−1 = no hit)
    instances: np.ndarray  # int32 H×W instance ids (−1 = no hit)


def intrinsics_from_hfov(width: int, height: int, hfov_deg: float) -> np.ndarray:
    """Pinhole K (square pixels) with horizontal field of view ``hfov_deg`` and the principal
    point at the image centre (``cx = W/2`` in the pixel-centre-at-u+0.5 convention)."""
    if not (1.0 < hfov_deg < 179.0):
        raise ValueError(f"hfov_deg must be in (1, 179), got {hfov_deg}")
    f = (width / 2.0) / np.tan(np.deg2rad(hfov_deg) / 2.0)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def camera_rays(K: np.ndarray, c2w: np.ndarray, height: int, width: int, ssaa: int = 1) -> np.ndarray:
    """Rays (H·s, W·s, 6) float32 ``[o, d]`` with z-unit directions (see module docstring); with
    ``ssaa = s`` the sub-pixel sample ``(i, j)`` of pixel ``(u, v)`` sits at
    ``(u + (i+0.5)/s, v + (j+0.5)/s)``."""
    s = int(ssaa)
    u = (np.arange(width * s, dtype=np.float64) + 0.5) / s
    v = (np.arange(height * s, dtype=np.float64) + 0.5) / s
    uu, vv = np.meshgrid(u, v)
    d_cam = np.stack([(uu - K[0, 2]) / K[0, 0], (vv - K[1, 2]) / K[1, 1], np.ones_like(uu)], axis=-1)
    d = d_cam @ np.asarray(c2w, np.float64)[:3, :3].T
    o = np.broadcast_to(np.asarray(c2w, np.float64)[:3, 3], d.shape)
    return np.concatenate([o, d], axis=-1).astype(np.float32)


class RoomRenderer:
    """Holds the Embree scene of one :class:`~ovnerf.synthetic.room.Room`; :meth:`render` is
    re-entrant and deterministic (no random sampling)."""

    def __init__(self, room: Room, ambient: float = 0.38, light_scale: float = 0.75,
                 shadows: bool = True, nthreads: int = 0):
        self.room = room
        mesh = room.mesh()
        self.mesh = mesh
        tmesh = o3d.t.geometry.TriangleMesh()
        tmesh.vertex.positions = o3d.core.Tensor(mesh.vertices)
        tmesh.triangle.indices = o3d.core.Tensor(mesh.triangles)
        self.scene = o3d.t.geometry.RaycastingScene(nthreads=nthreads) if _accepts_nthreads() \
            else o3d.t.geometry.RaycastingScene()
        self.scene.add_triangles(tmesh)
        self.ambient = float(ambient)
        self.lights = [(np.asarray(p, np.float32), float(i) * light_scale) for p, i in room.lights]
        self.shadows = bool(shadows)
        self.nthreads = int(nthreads)

    def _cast(self, rays: np.ndarray) -> dict:
        out = self.scene.cast_rays(o3d.core.Tensor(rays), nthreads=self.nthreads)
        return {k: out[k].numpy() for k in ("t_hit", "primitive_ids", "primitive_normals")}

    def _shade(self, rays: np.ndarray, hit: dict) -> np.ndarray:
        """Linear colour (N,3) float32 of N rays (flattened) — see module docstring."""
        t = hit["t_hit"]
        prim = hit["primitive_ids"]
        ok = prim != _INVALID
        color = np.zeros((len(t), 3), np.float32)
        if not ok.any():
            return color
        idx = np.nonzero(ok)[0]
        o, d = rays[idx, :3].astype(np.float64), rays[idx, 3:].astype(np.float64)
        p = o + t[idx, None].astype(np.float64) * d
        n = hit["primitive_normals"][idx].astype(np.float32)
        flip = np.einsum("ij,ij->i", n, d.astype(np.float32)) > 0
        n[flip] *= -1
        mat = self.mesh.tri_material[prim[idx]]
        alb = albedo(self.room.materials, mat, p, n)
        light = np.full(len(idx), self.ambient, np.float32)
        for L, inten in self.lights:
            to_l = (L[None, :].astype(np.float64) - p).astype(np.float32)
            dist = np.linalg.norm(to_l, axis=1)
            cos = np.maximum(np.einsum("ij,ij->i", n, to_l) / np.maximum(dist, 1e-6), 0.0)
            contrib = inten * cos / (1.0 + (dist / 2.5) ** 2)
            if self.shadows:
                lit = cos > 0
                if lit.any():
                    origin = (p[lit] + 1e-3 * n[lit]).astype(np.float32)
                    srays = np.concatenate([origin, to_l[lit]], axis=1)
                    occ = self.scene.test_occlusions(o3d.core.Tensor(srays), tnear=1e-4, tfar=0.999,
                                                     nthreads=self.nthreads).numpy()
                    vis = np.ones(len(idx), np.float32)
                    vis[np.nonzero(lit)[0][occ]] = 0.0
                    contrib = contrib * vis
            light += contrib.astype(np.float32)
        color[idx] = alb * light[:, None] + alb * emission(self.room.materials, mat)[:, None]
        return color

    def render(self, K: np.ndarray, c2w: np.ndarray, height: int, width: int,
               ssaa: int = 1) -> RenderOutput:
        """RGB, z-depth, class labels and instance ids of one view (see module docstring)."""
        rays = camera_rays(K, c2w, height, width, 1).reshape(-1, 6)
        hit = self._cast(rays)
        prim = hit["primitive_ids"]
        ok = prim != _INVALID
        depth = np.where(ok, hit["t_hit"], 0.0).astype(np.float32).reshape(height, width)
        safe = np.where(ok, prim, 0)
        labels = np.where(ok, self.mesh.tri_class[safe], -1).astype(np.int16).reshape(height, width)
        inst = np.where(ok, self.mesh.tri_instance[safe], -1).astype(np.int32).reshape(height, width)
        if ssaa <= 1:
            color = self._shade(rays, hit).reshape(height, width, 3)
        else:
            s = int(ssaa)
            srays = camera_rays(K, c2w, height, width, s).reshape(-1, 6)
            c = self._shade(srays, self._cast(srays)).reshape(height, s, width, s, 3)
            color = c.mean(axis=(1, 3))
        img = np.clip(color, 0.0, 1.0) ** (1.0 / 1.15)
        image = np.round(img * 255.0).astype(np.uint8)
        return RenderOutput(image=image, depth=depth, labels=labels, instances=inst)


def _accepts_nthreads() -> bool:
    try:
        o3d.t.geometry.RaycastingScene(nthreads=1)
        return True
    except TypeError:
        return False
