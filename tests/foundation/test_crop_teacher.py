"""CropCLIPTeacher (a SIMULATION of 3DOVS CLIP crops on the ground-truth labels): shapes, the CLIP
regime (modality gap), and confusions shared by nearby views through the coarse 3D cell."""
import numpy as np
import torch

from ovnerf.foundation.crop_teacher import CropCLIPTeacher, hash_uniform
from ovnerf.experiments.calibrate_teacher import teacher_calibration
from ovnerf.scene.frames import PosedFrame

NAMES = ["wall", "floor", "table", "chair", "rug", "picture"]


def _frame(name, shift=0.0, depth=2.0, labels=None):
    H, W = 96, 128
    if labels is None:
        labels = np.zeros((H, W), np.int16)
        labels[60:] = 1
        labels[40:70, 30:70] = 2
        labels[20:40, 90:120] = 5
    K = np.array([[100.0, 0, W / 2], [0, 100.0, H / 2], [0, 0, 1]])
    c2w = np.eye(4)
    c2w[0, 3] = shift
    return PosedFrame(name, np.zeros((H, W, 3), np.uint8), K, c2w, 0.0,
                      np.full((H, W), depth, np.float32), labels)


def test_shapes_normalised_and_in_clips_regime():
    t = CropCLIPTeacher(NAMES, dim=64)
    ms = t.multiscale_features(_frame("a"))
    assert ms.shape == (3, 12, 16, 64)
    assert torch.allclose(ms.norm(dim=-1), torch.ones(3, 12, 16), atol=1e-5)
    T = t.encode_text(NAMES)
    cos = torch.einsum("shwd,md->shwm", ms, T)
    # image-text cosines sit in a narrow band far from 1 (modality gap), texts are alike
    assert 0.05 < float(cos.mean()) < 0.4 and float(cos.max()) < 0.6
    tt = T @ T.T
    assert float(tt[~torch.eye(6, dtype=bool)].min()) > 0.5
    assert "SIMULATION" in t.name and t.is_simulation


def test_confusions_are_shared_by_nearby_views_not_by_distant_ones():
    t = CropCLIPTeacher(NAMES, dim=64, p_conf=1.0, p_conf_min=0.5, noise=0.0, sem_noise=0.0, cell=0.5)
    a = t.multiscale_features(_frame("a"))
    near = t.multiscale_features(_frame("b", shift=0.01))  # same 3D cells, other view (other jitter noise 0)
    far = t.multiscale_features(_frame("c", shift=40.0))   # other cells
    d_near = float((a - near).norm(dim=-1).mean())
    d_far = float((a - far).norm(dim=-1).mean())
    assert d_near < 0.5 * d_far


def test_hash_uniform_is_deterministic_and_uniform():
    k = torch.arange(20000)
    u = hash_uniform(torch.tensor(3), k, torch.tensor(1))
    assert torch.equal(u, hash_uniform(torch.tensor(3), k, torch.tensor(1)))
    assert 0.0 <= float(u.min()) and float(u.max()) < 1.0
    assert abs(float(u.mean()) - 0.5) < 0.01
    assert not torch.equal(u, hash_uniform(torch.tensor(3), k, torch.tensor(2)))


def test_calibration_figures_are_computed():
    t = CropCLIPTeacher(NAMES, dim=64)
    c = teacher_calibration([_frame("a"), _frame("b", shift=0.3)], NAMES, t, min_segment_frac=0.01)
    assert c.n_views == 2 and c.n_segments == 8
    for v in (c.cos_true, c.margin, c.miou, c.segment_majority):
        assert 0.0 <= v <= 1.0
    assert set(c.inside()) == {"cos_true", "margin", "miou", "segment_majority"}
    assert "inside" in c.table() or "OUTSIDE" in c.table()
