"""Training losses of OV-NeRF (all take per-ray tensors; means over rays).

Notation: N rays, D CLIP dim, Dd DINO dim, M classes; F̂ (N,D) rendered CLIP feature, t (M,D)
L2-normalised text embeddings, τ temperature.

- ``color_loss``        L_color = mean_r ||Ĉ(r) − C(r)||²  (mean over rays and channels, = MSE).
- ``feature_loss``      L_feat  = −mean_r cos(F̂(r), F(r))   with F(r) the (selected) CLIP feature.
- ``segmentation_logits``  Ŝ(r)_c = cos(t_c, F̂(r)) / τ.
- ``semantic_ce_loss``  L_sem = CE(softmax(Ŝ(r)), S(r)) averaged over rays with S(r) ≠ ignore.
- ``dino_distribution_loss``  3DOVS's feature-distribution alignment (Liu et al. 2023, "Weakly
  Supervised 3D Open-vocabulary Segmentation", ``CorrelationLoss`` in their code): with
  p_i = softmax(Ŝ_i) the rendered class distribution of ray i and d_i the DINO feature of its
  pixel, over all pairs (i, j) of a ray subset,
      f_ij = cos(d_i, d_j) − shift   (no gradient)
      JS_ij = ½ KL(p_i ‖ m_ij) + ½ KL(p_j ‖ m_ij),   m_ij = ½ (p_i + p_j)
      L_pos = Σ_ij max(f_ij, 0) · JS_ij / #{f_ij > 0}
      L_neg = Σ_ij min(f_ij, 0) · JS_ij / #{f_ij < 0}
      L_dino = w_pos · L_pos + w_neg · L_neg
  i.e. rays that DINO finds similar are pulled to the same class distribution and rays it finds
  dissimilar are pushed apart (L_neg ≤ 0). 3DOVS defaults: shift 0.7, w_pos 200, w_neg 0.22,
  τ 0.2. (3DOVS samples the pairs within image patches; we take them among the sampled rays of
  the batch, which may come from different views — DINO features are view-consistent.)
- ``dino_feature_loss`` regression of the field's DINO head: mean_r ||D̂(r) − d(r)||² (optional;
  3DOVS has no DINO head, OV-NeRF's design card renders one, so its weight is a config option).
- ``depth_loss``  (our addition, not in OV-NeRF: optional RGB-D supervision)
      L_depth = mean_{r: z(r) > 0} |ẑ(r) − z(r)|,   ẑ(r) = (Σ_k w_k t_k) · (d_r · a)
  with Σ w t the renderer's expected distance along the unit ray d_r, a the camera's optical
  axis (``ray_z_scale``) and z the sensor's z-depth in metres (0 = unknown, left out). The
  expected depth is not divided by the accumulated opacity, so free-space density in front of
  the surface (the "fog" of few-view inside-out scenes) and missing opacity both raise it.
- ``free_space_loss``  (our addition, with ``depth_loss``; the line-of-sight "empty" term of
  Urban Radiance Fields, Rematas et al. 2022)
      L_free = mean_{r: z(r) > 0} Σ_{k: t_k·a_r < z(r) − ε} w_k
  the share of each ray's light absorbed in front of the measured surface (ε = ``margin``, in
  metres of z). It drives the free-space density to zero, which the depth L1 alone does not (a
  thin uniform fog barely moves the expected depth), so the alpha mask can mark the air empty.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ovnerf.semantics.relevancy import segmentation_logits

__all__ = ["color_loss", "feature_loss", "segmentation_logits", "semantic_ce_loss",
           "dino_distribution_loss", "dino_feature_loss", "js_divergence_matrix", "psnr_from_mse", "depth_loss",
           "free_space_loss"]


def color_loss(rgb_pred: torch.Tensor, rgb_gt: torch.Tensor) -> torch.Tensor:
    """L2 photometric loss: mean over rays and channels of (Ĉ − C)²."""
    return F.mse_loss(rgb_pred, rgb_gt)


def feature_loss(feat_pred: torch.Tensor, feat_gt: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """−mean cos(F̂, F) (no normalisation needed by the caller)."""
    return -F.cosine_similarity(feat_pred, feat_gt.to(feat_pred.dtype), dim=-1, eps=eps).mean()


def semantic_ce_loss(feat_pred: torch.Tensor, text_emb: torch.Tensor, target: torch.Tensor,
                     temperature: float, ignore_index: int = -1) -> torch.Tensor:
    """Cross-entropy of softmax(cos(t_c, F̂)/τ) against ``target`` (N,) class ids.

    Rays with ``target == ignore_index`` are left out; if none is left the loss is 0 (keeps the
    graph, so ``backward`` still works)."""
    logits = segmentation_logits(feat_pred, text_emb, temperature)
    target = target.long()
    valid = target != ignore_index
    if not bool(valid.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[valid], target[valid])


def js_divergence_matrix(log_p: torch.Tensor) -> torch.Tensor:
    """Pairwise Jensen–Shannon divergences (natural log) between the rows of ``log_p`` (n, M)
    (log-probabilities): JS_ij = ½ Σ_c p_ic log(p_ic/m_ijc) + ½ Σ_c p_jc log(p_jc/m_ijc)."""
    p = log_p.exp()
    m = torch.log(((p[:, None, :] + p[None, :, :]) * 0.5).clamp_min(1e-30))  # (n, n, M)
    kl_im = (p[:, None, :] * (log_p[:, None, :] - m)).sum(-1)
    kl_jm = (p[None, :, :] * (log_p[None, :, :] - m)).sum(-1)
    return 0.5 * (kl_im + kl_jm)


def dino_distribution_loss(feat_pred: torch.Tensor, text_emb: torch.Tensor, dino_gt: torch.Tensor,
                           temperature: float = 0.2, shift: float = 0.7, w_pos: float = 200.0,
                           w_neg: float = 0.22, max_pairs_rays: int | None = 256,
                           generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
    """3DOVS feature-distribution alignment (formula in the module docstring).

    feat_pred (N,D) rendered CLIP features, dino_gt (N,Dd) DINO features of the rays' pixels.
    ``max_pairs_rays`` caps the ray subset (the first n rays are used — the batch is already a
    uniform random sample; memory is n²·M). Returns ``(loss, {"dino_pos": .., "dino_neg": ..})``.
    """
    n = feat_pred.shape[0] if max_pairs_rays is None else min(feat_pred.shape[0], max_pairs_rays)
    fp, dg = feat_pred[:n], dino_gt[:n].to(feat_pred.dtype)
    log_p = F.log_softmax(segmentation_logits(fp, text_emb, temperature), dim=-1)
    with torch.no_grad():
        dn = F.normalize(dg, dim=-1, eps=1e-8)
        f_corr = dn @ dn.T - shift
        f_pos = f_corr.clamp(min=0)
        f_neg = f_corr.clamp(max=0)
        n_pos = torch.count_nonzero(f_pos).clamp_min(1)
        n_neg = torch.count_nonzero(f_neg).clamp_min(1)
    js = js_divergence_matrix(log_p)
    l_pos = (f_pos * js).sum() / n_pos
    l_neg = (f_neg * js).sum() / n_neg
    loss = w_pos * l_pos + w_neg * l_neg
    return loss, {"dino_pos": float(l_pos.detach()), "dino_neg": float(l_neg.detach())}


def dino_feature_loss(dino_pred: torch.Tensor, dino_gt: torch.Tensor) -> torch.Tensor:
    """L2 regression of the rendered DINO feature: mean over rays and channels of (D̂ − d)²."""
    return F.mse_loss(dino_pred, dino_gt.to(dino_pred.dtype))


def depth_loss(pred_z: torch.Tensor, gt_z: torch.Tensor) -> torch.Tensor:
    """L1 z-depth loss in metres over the rays with a known depth (``gt_z > 0``, finite).

    pred_z (N,) rendered z-depth (renderer depth × ``ray_z_scale``), gt_z (N,) sensor z-depth.
    No valid ray → 0 (keeps the graph)."""
    gt_z = gt_z.to(pred_z.dtype)
    valid = torch.isfinite(gt_z) & (gt_z > 0)
    if not bool(valid.any()):
        return pred_z.sum() * 0.0
    return (pred_z[valid] - gt_z[valid]).abs().mean()


def free_space_loss(weights: torch.Tensor, t: torch.Tensor, z_scale: torch.Tensor, gt_z: torch.Tensor,
                    margin: float) -> torch.Tensor:
    """Σ of the weights in front of the measured surface, mean over rays with known depth.

    weights/t (N,S) as returned by ``render_rays(..., return_weights=True)`` (t along the unit
    ray), z_scale (N,) ray distance → z factor, gt_z (N,) sensor z-depth (0 = unknown), margin ε
    in metres. No valid ray → 0 (keeps the graph)."""
    gt_z = gt_z.to(weights.dtype)
    valid = torch.isfinite(gt_z) & (gt_z > 0)
    if not bool(valid.any()):
        return weights.sum() * 0.0
    front = (t * z_scale.to(t.dtype)[:, None]) < (gt_z - margin)[:, None]
    return (weights * front)[valid].sum(-1).mean()


def psnr_from_mse(mse: float | torch.Tensor) -> float:
    """PSNR in dB for images in [0, 1]: −10 log10(MSE)."""
    mse = float(mse)
    return float("inf") if mse <= 0 else -10.0 * torch.log10(torch.tensor(mse)).item()
