"""An analytic stand-in for a trained SemanticField over the tiny room of ``conftest.py``, and a
region backend that reads the image it is given.

``AnalyticField`` is opaque at the room's walls/floor/ceiling (the shell between the room and the
AABB) and inside the three spheres; it renders a flat colour per class and the class's text
embedding as its feature, EXCEPT in a "wrong patch" of the floor (x ∈ PATCH_X, y ∈ PATCH_Y),
which renders the floor's colour but the *wall*'s feature. So the rendered segmentation has a
wrong patch that the rendered RGB does not show: region proposals computed from the rendered
RGB (one region per connected flat-colour segment) let RSR repaint it as floor. It implements
exactly what ``ovnerf.field.renderer.render_rays`` reads from a field, so CSE renders it through
the real renderer.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
from scipy import ndimage

from conftest import AABB, ROOM, SPHERES

PATCH_X = (-0.3, 0.3)
PATCH_Y = (-1.5, -0.5)
COLOURS = torch.tensor([[0.8, 0.75, 0.6], [0.3, 0.35, 0.8], [0.9, 0.1, 0.1], [0.1, 0.8, 0.2],
                        [0.1, 0.2, 0.9]])


def true_class(pts: torch.Tensor) -> torch.Tensor:
    """(N,3) → (N,) long: sphere class if inside a sphere, floor (0) below z=0, else wall (1)."""
    cls = torch.where(pts[:, 2] <= float(ROOM[0][2]), 0, 1)
    for c, r, _, k in SPHERES:
        inside = (pts - torch.tensor(c, dtype=pts.dtype)).norm(dim=-1) <= r
        cls = torch.where(inside, torch.full_like(cls, k), cls)
    return cls


def in_patch(pts: torch.Tensor) -> torch.Tensor:
    return ((pts[:, 0] >= PATCH_X[0]) & (pts[:, 0] <= PATCH_X[1]) & (pts[:, 1] >= PATCH_Y[0])
            & (pts[:, 1] <= PATCH_Y[1]))


class _Head:
    def __init__(self, table: torch.Tensor):
        self.table = table

    def hidden(self, app):
        return app @ self.table

    def project(self, h, weight_sum=None):
        return h


class AnalyticField(torch.nn.Module):
    """Channels of ``app``: one-hot over the 5 classes + 1 for "floor with the wall's feature"."""

    def __init__(self, text_emb: torch.Tensor, with_patch: bool = True):
        super().__init__()
        self.cfg = SimpleNamespace(white_bg=False, near=0.0, early_stop_segments=1, weight_threshold=1e-4,
                                   semantic_density_grad=True)
        self.aabb = torch.tensor(np.stack(AABB), dtype=torch.float32)
        self.with_patch = with_patch
        t = torch.nn.functional.normalize(text_emb.float(), dim=-1)
        self.feature_head = _Head(torch.cat([t, t[1:2]]))           # patch: the wall's feature
        self.colour = torch.cat([COLOURS, COLOURS[0:1]])           # patch: the floor's colour
        self.dino_head = None

    @property
    def device(self):
        return torch.device("cpu")

    def sampling(self):
        return 0.01, 512

    def has_alpha_mask(self):
        return False

    def density(self, pts):
        lo, hi = torch.tensor(ROOM[0], dtype=pts.dtype), torch.tensor(ROOM[1], dtype=pts.dtype)
        solid = ((pts < lo) | (pts > hi)).any(-1)
        for c, r, _, _ in SPHERES:
            solid |= (pts - torch.tensor(c, dtype=pts.dtype)).norm(dim=-1) <= r
        return torch.where(solid, 1e3, 0.0).to(pts.dtype)

    def app_feature(self, pts):
        cls = true_class(pts)
        if self.with_patch:
            cls = torch.where((cls == 0) & in_patch(pts), torch.full_like(cls, 5), cls)
        return torch.nn.functional.one_hot(cls, 6).to(pts.dtype)

    def rgb(self, app, viewdirs):
        return app @ self.colour.to(app)


class ColourRegions:
    """A region backend that READS the image: one mask per connected segment of equal quantised
    colour (8-bit colours rounded to multiples of 32), segments under ``min_area`` pixels dropped;
    sorted by area, largest first. Records every image it was given."""
    name = "colour-segments (test)"

    def __init__(self, min_area: int = 4):
        self.min_area = min_area
        self.seen: list[np.ndarray] = []

    def generate(self, image):
        img = np.asarray(image)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3, (img.dtype, img.shape)
        self.seen.append(img.copy())
        q = (img.astype(np.int32) + 16) // 32
        key = q[..., 0] * 4096 + q[..., 1] * 64 + q[..., 2]
        masks = []
        for k in np.unique(key):
            lab, n = ndimage.label(key == k)
            for i in range(1, n + 1):
                m = lab == i
                if m.sum() >= self.min_area:
                    masks.append(m)
        masks.sort(key=lambda m: -int(m.sum()))
        return np.stack(masks) if masks else np.zeros((0,) + img.shape[:2], bool)
