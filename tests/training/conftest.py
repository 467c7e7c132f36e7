"""A tiny analytic room (checkered floor, striped walls + ceiling, 3 coloured spheres; exact ray
casting, every ray hits something) and a synthetic preprocess cache built from its ground truth,
for the training tests."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ovnerf.scene.conventions import look_at
from ovnerf.scene.frames import PosedFrame

CLASSES = ["floor", "wall", "red ball", "green ball", "blue ball"]
SPHERES = [  # centre, radius, colour, class
    ((0.45, 0.0, 0.35), 0.35, (0.85, 0.15, 0.1), 2),
    ((-0.4, 0.35, 0.3), 0.3, (0.15, 0.75, 0.2), 3),
    ((-0.25, -0.5, 0.25), 0.25, (0.15, 0.25, 0.85), 4),
]
ROOM = (np.array([-1.5, -1.5, 0.0]), np.array([1.5, 1.5, 1.3]))
AABB = (ROOM[0] - 0.05, ROOM[1] + 0.05)


def cast(K, c2w, H, W):
    """Exact ray casting from inside the room: (rgb uint8 H×W×3, labels int16 H×W, z-depth float32)."""
    v, u = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    d_cam = np.stack([(u + 0.5 - K[0, 2]) / K[0, 0], (v + 0.5 - K[1, 2]) / K[1, 1], np.ones_like(u, float)], -1)
    d = d_cam @ c2w[:3, :3].T
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    o = c2w[:3, 3]
    lo, hi = ROOM
    with np.errstate(divide="ignore", invalid="ignore"):
        t_axes = np.where(d > 0, (hi - o) / d, (lo - o) / d)
    t_axes = np.where(np.abs(d) < 1e-12, np.inf, t_axes)
    axis = t_axes.argmin(-1)
    best_t = t_axes.min(-1)
    p = o + d * best_t[..., None]
    floor = (axis == 2) & (d[..., 2] < 0)
    checker = ((np.floor(p[..., 0] / 0.3) + np.floor(p[..., 1] / 0.3)) % 2).astype(float)
    fc = (0.45 + 0.35 * checker)[..., None] * np.array([0.9, 0.85, 0.7])
    stripes = 0.6 + 0.25 * np.sin(p[..., 2] * 12.0) * np.cos((p[..., 0] + p[..., 1]) * 3.0)
    wc = stripes[..., None] * np.array([0.75, 0.8, 0.95])
    rgb = np.where(floor[..., None], fc, wc)
    lab = np.where(floor, 0, 1)
    for c, r, col, cls in SPHERES:
        oc = o - np.array(c)
        b = (d * oc).sum(-1)
        disc = b * b - (oc @ oc - r * r)
        t = -b - np.sqrt(np.maximum(disc, 0))
        hit = (disc > 0) & (t > 0) & (t < best_t)
        n = (o + d * t[..., None] - np.array(c)) / r
        shade = 0.55 + 0.45 * np.clip(n[..., 2] * 0.8 + n[..., 0] * 0.3, -1, 1)
        best_t = np.where(hit, t, best_t)
        rgb = np.where(hit[..., None], shade[..., None] * np.array(col), rgb)
        lab = np.where(hit, cls, lab)
    depth = best_t * (d @ c2w[:3, 2])
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8), lab.astype(np.int16), depth.astype(np.float32)


def make_frames(n=22, H=30, W=40, radius=1.05, height=0.8):
    f = 0.6 * W
    K = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1.0]])
    frames = []
    for i in range(n):
        a = 2 * np.pi * i / n
        eye = np.array([radius * np.cos(a), radius * np.sin(a), height + 0.1 * np.sin(3 * a)])
        c2w = look_at(eye, np.array([0.0, 0.0, 0.25]))
        img, lab, dep = cast(K, c2w, H, W)
        frames.append(PosedFrame(f"f{i:03d}", img, K, c2w, float(i), dep, lab))
    return frames


def split(frames):
    test = [f for i, f in enumerate(frames) if i % 10 == 0]
    train = [f for i, f in enumerate(frames) if i % 10 != 0]
    return train, test


def text_embeddings(M=len(CLASSES), D=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(M, D, generator=g), dim=-1)


def region_masks(labels, with_box=True):
    """Regions = the GT segments (one per class present) [+ a box over the image centre, which
    RSR paints with its majority class: a wrong region, i.e. target noise]."""
    H, W = labels.shape
    masks = [labels == c for c in np.unique(labels) if c >= 0]
    if with_box:
        box = np.zeros((H, W), bool)
        box[H // 4: 3 * H // 4, W // 4: 3 * W // 4] = True
        masks.append(box)
    return np.stack(masks)


def synthetic_targets(frame, text_emb, feat_down=2, dino_dim=8, noise=0.0, seed=0, box_region=True):
    """A noiseless teacher: CLIP feature of a cell = text embedding of the true class at its centre
    (background: a fixed unit vector); relevancy = argmax cos; RSR with the GT regions."""
    from ovnerf.semantics.rsr import region_semantic_ranking

    H, W = frame.labels.shape
    h, w = H // feat_down, W // feat_down
    yi = ((np.arange(h) + 0.5) * H / h).astype(int)
    xi = ((np.arange(w) + 0.5) * W / w).astype(int)
    lab_c = frame.labels[yi][:, xi]
    D = text_emb.shape[1]
    g = torch.Generator().manual_seed(1234)
    bg = torch.nn.functional.normalize(torch.randn(D, generator=g), dim=0)
    table = torch.cat([text_emb, bg[None]])
    feat = table[torch.as_tensor(np.where(lab_c >= 0, lab_c, len(text_emb)), dtype=torch.long)]
    if noise > 0:
        gn = torch.Generator().manual_seed(seed)
        feat = torch.nn.functional.normalize(feat + noise * torch.randn(feat.shape, generator=gn), dim=-1)
    full = table[torch.as_tensor(np.where(frame.labels >= 0, frame.labels, len(text_emb)), dtype=torch.long)]
    rel = (full @ text_emb.T).argmax(-1).to(torch.int16)
    rel = torch.where(torch.as_tensor(frame.labels) >= 0, rel, torch.full_like(rel, -1))
    regions = torch.as_tensor(region_masks(frame.labels, with_box=box_region))
    rsr = region_semantic_ranking(rel.long(), regions, len(text_emb)).to(torch.int16)
    # DINO stand-in at 1/4 resolution: orthonormal per-class codes (same object: cos 1, different
    # objects: cos 0 — real DINO features are similar within an object, dissimilar across)
    gd = torch.Generator().manual_seed(99)
    codes = torch.linalg.qr(torch.randn(dino_dim, dino_dim, generator=gd))[0][: len(text_emb) + 1]
    hd, wd = H // 4, W // 4
    yd = ((np.arange(hd) + 0.5) * H / hd).astype(int)
    xd = ((np.arange(wd) + 0.5) * W / wd).astype(int)
    lab_d = frame.labels[yd][:, xd]
    dino = codes[torch.as_tensor(np.where(lab_d >= 0, lab_d, len(text_emb)), dtype=torch.long)]
    return {"clip_feat": feat.half(), "relevancy": rel, "rsr": rsr, "regions": regions, "dino": dino.half()}


class BlockRegions:
    """A trivial RegionBackend: fixed 4×4 grid of blocks (for CSE mechanics)."""
    name = "blocks"

    def generate(self, image):
        H, W = image.shape[:2]
        masks = np.zeros((16, H, W), bool)
        for k in range(16):
            i, j = divmod(k, 4)
            masks[k, i * H // 4:(i + 1) * H // 4, j * W // 4:(j + 1) * W // 4] = True
        return masks


@pytest.fixture(scope="session")
def tiny_scene():
    frames = make_frames()
    train, test = split(frames)
    emb = text_embeddings()
    cache = {f.name: synthetic_targets(f, emb) for f in train}
    return {"train": train, "test": test, "text_emb": emb, "cache": cache, "classes": CLASSES, "aabb": AABB}
