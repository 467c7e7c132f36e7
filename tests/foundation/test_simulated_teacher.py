"""SimulatedCLIPTeacher: a labelled simulation with CLIP-like failure modes."""
import numpy as np
import pytest
import torch

from ovnerf.errors import UserError
from ovnerf.foundation.simulated_teacher import SimulatedCLIPTeacher

from .conftest import CLASSES, miou, teacher_relevancy


def _miou(teacher, frame):
    T = teacher.encode_text(CLASSES)
    S = teacher_relevancy(teacher, frame, T)
    return miou(S.numpy(), frame.labels, len(CLASSES)), S


def test_is_named_as_simulation():
    t = SimulatedCLIPTeacher(CLASSES)
    assert t.is_simulation and "SIMULATION" in t.name and "not CLIP" in t.name
    assert t.fingerprint()["noise"] == 0.5


def test_text_side_is_the_wordnet_encoder():
    t = SimulatedCLIPTeacher(CLASSES, dim=512)
    T = t.encode_text(["floor", "Rug", "table", " chair ", "wall", "carpet", "floor"])
    assert T.shape == (7, 512) and torch.allclose(T.norm(dim=1), torch.ones(7), atol=1e-5)
    assert torch.allclose(T[0], T[6])                       # same name, same vector
    assert torch.allclose(T[1], T[5], atol=1e-6)            # synonyms: carpet = rug (rug.n.01)
    cos = T @ T.T
    assert cos[2, 3] > 0.2                                  # table ~ chair (both furniture)
    assert abs(float(cos[0, 2])) < 0.15                     # unrelated names ~orthogonal
    assert torch.allclose(T, t.text_encoder.encode_text(["floor", "rug", "table", "chair", "wall", "rug", "floor"]))
    assert torch.allclose(t.encode_text(["rug"]), SimulatedCLIPTeacher(CLASSES).encode_text(["rug"]))


def test_features_coarse_normalised_and_deterministic(room_views):
    frames, _ = room_views
    t = SimulatedCLIPTeacher(CLASSES, patch=16, noise=0.5, seed=3)
    ms = t.multiscale_features(frames[0])
    assert ms.shape == (1, 8, 10, 512)  # ceil(120/16) x ceil(160/16)
    assert torch.allclose(ms.norm(dim=-1), torch.ones(1, 8, 10), atol=1e-5)
    assert torch.equal(ms, t.multiscale_features(frames[0]))
    assert t.select_scale(ms, t.encode_text(CLASSES)).eq(0).all()


def test_noise_level_controls_quality(room_views):
    frames, _ = room_views
    scores = {n: np.mean([_miou(SimulatedCLIPTeacher(CLASSES, noise=n, seed=s), f)[0]
                          for f in frames for s in range(3)]) for n in (0.0, 0.5, 0.9)}
    print("simulated teacher mIoU by noise level:", {k: round(v, 3) for k, v in scores.items()})
    assert scores[0.0] > 0.75            # only the coarse 16-px grid is lost
    assert scores[0.0] > scores[0.5] + 0.05 > scores[0.9] + 0.05


def test_confusions_are_view_inconsistent(room_views):
    frames, _ = room_views
    t = SimulatedCLIPTeacher(CLASSES, noise=0.8, seed=0)
    # same frame content under different names: different per-view error draws
    f0 = frames[0]
    renamed = type(f0)(name="another_view", image=f0.image, K=f0.K, c2w=f0.c2w, labels=f0.labels)
    a = _miou(t, f0)[1]
    b = _miou(t, renamed)[1]
    assert (a != b).float().mean() > 0.02
    # the errors are mostly confusions of a class with its partner
    gt = torch.from_numpy(f0.labels.astype(np.int64))
    wrong = (a != gt) & (gt >= 0)
    pairs = {(1, 2), (2, 1), (3, 4), (4, 3), (0, 5), (5, 0)}
    is_pair = torch.tensor([[(int(g), int(p)) in pairs for p in range(6)] for g in range(6)])
    frac_pair = is_pair[gt[wrong], a[wrong]].float().mean()
    assert frac_pair > 0.5


def test_needs_labels(room_views):
    frames, _ = room_views
    f0 = frames[0]
    nolab = type(f0)(name="x", image=f0.image, K=f0.K, c2w=f0.c2w)
    with pytest.raises(UserError, match="ground-truth labels"):
        SimulatedCLIPTeacher(CLASSES).multiscale_features(nolab)
    with pytest.raises(UserError):
        SimulatedCLIPTeacher(CLASSES, noise=1.5)
