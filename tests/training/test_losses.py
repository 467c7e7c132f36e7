"""Losses against independent computations."""
import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon

from ovnerf.training import losses as L


def test_color_loss_is_mse():
    a = torch.tensor([[0.0, 0.5, 1.0], [0.2, 0.2, 0.2]])
    b = torch.tensor([[0.0, 0.0, 0.0], [0.2, 0.4, 0.2]])
    assert L.color_loss(a, b).item() == pytest.approx((0.25 + 1.0 + 0.04) / 6)


def test_feature_loss_minus_cosine():
    f = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    g = torch.tensor([[5.0, 0.0], [0.0, -1.0], [1.0, 0.0]])
    expected = -(1.0 + -1.0 + 1 / np.sqrt(2)) / 3
    assert L.feature_loss(f, g).item() == pytest.approx(expected, abs=1e-6)


def test_semantic_ce_matches_manual_and_ignores_void():
    torch.manual_seed(0)
    t = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    f = torch.randn(6, 8)
    tgt = torch.tensor([0, 3, -1, 2, 1, -1])
    tau = 0.1
    cos = (torch.nn.functional.normalize(f, dim=-1) @ t.T).numpy().astype(np.float64) / tau
    logp = cos - np.log(np.exp(cos).sum(1, keepdims=True))
    keep = [0, 1, 3, 4]
    expected = -np.mean([logp[i, tgt[i]] for i in keep])
    assert L.semantic_ce_loss(f, t, tgt, tau).item() == pytest.approx(expected, rel=1e-5)


def test_semantic_ce_all_void_is_zero_and_differentiable():
    f = torch.randn(3, 4, requires_grad=True)
    loss = L.semantic_ce_loss(f, torch.eye(4)[:2], torch.full((3,), -1), 0.2)
    loss.backward()
    assert loss.item() == 0.0 and f.grad is not None


def test_js_matrix_against_scipy():
    rng = np.random.default_rng(0)
    p = rng.random((5, 3)) + 0.01
    p /= p.sum(1, keepdims=True)
    js = L.js_divergence_matrix(torch.tensor(np.log(p))).numpy()
    for i in range(5):
        for j in range(5):
            assert js[i, j] == pytest.approx(jensenshannon(p[i], p[j]) ** 2, abs=1e-9)
    assert np.allclose(np.diag(js), 0, atol=1e-12)


def test_dino_distribution_loss_hand_computed():
    # two rays: DINO cos = 1 (identical) -> f = 1 - 0.7 = 0.3 on all 4 pairs (diagonal included)
    t = torch.eye(2)
    f = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # ray 0 -> class 0, ray 1 -> class 1
    d = torch.tensor([[1.0, 1.0], [1.0, 1.0]])
    tau = 0.5
    loss, parts = L.dino_distribution_loss(f, t, d, temperature=tau, shift=0.7, w_pos=1.0, w_neg=1.0)
    p0 = np.exp([2.0, 0.0]); p0 /= p0.sum()
    p1 = p0[::-1]
    js01 = jensenshannon(p0, p1) ** 2
    expected_pos = 0.3 * 2 * js01 / 4
    assert parts["dino_pos"] == pytest.approx(expected_pos, rel=1e-5)
    assert parts["dino_neg"] == 0.0
    assert loss.item() == pytest.approx(expected_pos, rel=1e-5)


def test_dino_distribution_loss_gradient_pulls_similar_and_pushes_dissimilar():
    torch.manual_seed(0)
    t = torch.nn.functional.normalize(torch.randn(3, 16), dim=-1)
    # DINO: rays 0,1 similar; ray 2 orthogonal to them
    d = torch.tensor([[1.0, 0.0], [1.0, 0.05], [0.0, 1.0]])
    f = torch.randn(3, 16, requires_grad=True)
    opt = torch.optim.SGD([f], lr=0.05)
    p_before = torch.softmax(L.segmentation_logits(f, t, 0.2), -1).detach()
    js_before = L.js_divergence_matrix(p_before.log())
    for _ in range(200):
        opt.zero_grad()
        loss, _ = L.dino_distribution_loss(f, t, d, w_pos=1.0, w_neg=1.0)
        loss.backward()
        opt.step()
    p = torch.softmax(L.segmentation_logits(f, t, 0.2), -1).detach()
    js = L.js_divergence_matrix(p.log())
    assert js[0, 1] < 0.5 * js_before[0, 1]
    assert js[0, 2] > js_before[0, 2] and js[1, 2] > js_before[1, 2]


def test_dino_feature_loss_and_psnr():
    a, b = torch.zeros(4, 3), torch.full((4, 3), 0.1)
    assert L.dino_feature_loss(a, b).item() == pytest.approx(0.01)
    assert L.psnr_from_mse(0.01) == pytest.approx(20.0)
