"""CropCLIPTeacher — a **SIMULATION** of 3DOVS dense CLIP features built on CLIP's mechanism.

Not CLIP. No CLIP weights exist here; this teacher runs the *real* 3DOVS crop code
(:mod:`ovnerf.foundation.crops_3dovs`: 1/8 grid, patches ⌊min/5⌋, ⌊/7⌋, ⌊/10⌋, stride p/4,
seeded jitter, per-cell accumulation) on the **ground-truth label image** and replaces the CLIP
image encoder by a model of what CLIP returns for a crop:

    e_k = α · Σ_c w_c t_{σ_k(c)} + β · u_img + ν · ε_k          (then accumulated, normalised)

* **Class mixture.** a_c = fraction of the crop's pixels of class c (void pixels: a "clutter"
  direction t_void); w_c ∝ a_c^γ · saliency_c, Σ w = 1. saliency_c = exp(σ_s · z_c), z_c a
  standard normal seeded by the class name (some classes dominate a crop more than their area).
  t_c: the class text embedding of the WordNet text encoder (itself a SIMULATION of CLIP's text
  side, :mod:`.wordnet_text`) — so the image side and the text side share one space.
* **Modality gap.** u_img: one unit vector shared by every crop of every image, and u_txt one
  shared by every text: t_c = normalise(t_c^WordNet + text_gap · u_txt), cos(u_img, u_txt) =
  gap_cos (CLIP's image and text embeddings occupy two narrow cones: image–text cosines sit near
  0.2–0.3, texts of different classes are far more alike than their WordNet vectors). β ≫ α
  puts the features in that regime.
* **Crop noise.** ε_k = sem_noise · α · Σ_c z_c t_c (z_c ~ N(0, 1/C): random evidence for
  every class, CLIP's crop-to-crop instability) + noise · g (g isotropic, expected norm 1), per
  crop, seeded by (view, scale).
* **Confusions** σ_k(c): class c of crop k is read as another class c' with probability
  p_conf_min + p_conf · (1 − a_c)^κ (more likely when c fills little of the crop); c' is drawn from
  softmax_j(sim(c, j) / τ), j ≠ c, with sim = the cosine of the WordNet class embeddings (the
  class-similarity matrix: rug↔floor, chair↔table are close, lamp↔window far). Both draws are a
  hash of (seed, scale, class, the **coarse 3D cell** of the crop centre): the crop centre pixel is
  back-projected with the frame's depth and pose and binned into cubes of ``cell`` metres, so
  nearby views make the same mistake there and distant ones do not (frames without depth use a
  per-view cell).

Parameters are fixed (``DEFAULTS``) and were chosen on the calibration figures of
``ovnerf calibrate-teacher`` on the demo room's training views (targets, fixed before any
ablation: cos(feature, true text) 0.20–0.35; median top-1 − top-2 margin ≤ 0.05; 2D mIoU of the
relevancy S 10–25 %; share of ground-truth segments whose majority label in S is right
55–75 %) — never on ablation results. Output: (3, ⌊H/8⌋, ⌊W/8⌋, D) like the real backend.
"""
from __future__ import annotations

import numpy as np
import torch

from ovnerf.errors import UserError
from ovnerf.foundation.base import TextImageBackend, l2_normalize
from ovnerf.foundation.crops_3dovs import DOVS_DIVISORS, DOVS_DOWN, Accumulator, all_crop_boxes, grid_size
from ovnerf.foundation.simulated_teacher import ground_truth_labels
from ovnerf.foundation.wordnet_text import WordNetTextEncoder, seed_of

# Calibrated on the demo room (seed 0, 320×240, 27 training views) with ``ovnerf calibrate-teacher``
# (figures in docs/ABLATION.md); fixed before the ablation was run.
DEFAULTS = dict(alpha=0.2, beta=1.0, noise=0.55, sem_noise=8.0, gamma=0.6, saliency_sigma=0.3,
                p_conf=0.4, p_conf_min=0.1, conf_power=1.0, sim_tau=0.1, cell=0.15, text_gap=1.5,
                gap_cos=0.2)

_M61 = (1 << 61) - 1


def hash_uniform(*keys: torch.Tensor) -> torch.Tensor:
    """Deterministic uniforms in [0, 1) from integer tensors (broadcast): a multiply-xorshift hash
    in int64 (no generator state, so equal keys give equal numbers in any view)."""
    h = torch.zeros((), dtype=torch.int64)
    for i, k in enumerate(keys):
        h = (h * 1000003 + k.to(torch.int64) * (2 * i + 7919)) & _M61
        h = h ^ (h >> 29)
        h = (h * 0x5DEECE66D + 11) & _M61
        h = h ^ (h >> 31)
    return (h & ((1 << 40) - 1)).to(torch.float64) / float(1 << 40)


class CropCLIPTeacher(TextImageBackend):
    name = "crop-clip-teacher (SIMULATION of 3DOVS CLIP crops, not CLIP)"
    is_simulation = True
    selection_temperature = 0.01

    def __init__(self, label_names: list[str] | None = None, dim: int = 512, seed: int = 0,
                 down: int = DOVS_DOWN, divisors=DOVS_DIVISORS, jitter: bool = True, device="cpu", **params):
        unknown = set(params) - set(DEFAULTS)
        if unknown:
            raise UserError(f"crop teacher: unknown parameter(s) {sorted(unknown)} (known: {sorted(DEFAULTS)})")
        self.p = {**DEFAULTS, **{k: float(v) for k, v in params.items()}}
        self.label_names = list(label_names or [])
        self.dim = int(dim)
        self.seed = int(seed)
        self.down = int(down)
        self.divisors = tuple(int(d) for d in divisors)
        self.jitter = bool(jitter)
        self.device = torch.device(device)
        self.text_encoder = WordNetTextEncoder(dim=self.dim, seed=self.seed)
        self._tables = None

    def fingerprint(self) -> dict:
        return {"name": self.name, "dim": self.dim, "seed": self.seed, "down": self.down,
                "divisors": list(self.divisors), "jitter": self.jitter, "params": self.p,
                "label_names": self.label_names, "text": self.text_encoder.fingerprint()}

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """normalise(t_wordnet + text_gap · u_txt): every text shares the text-modality direction."""
        t = self.text_encoder.encode_text(list(texts)).float().cpu()
        return l2_normalize(t + self.p["text_gap"] * self.modality()[0][None]).to(self.device)

    def modality(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(u_txt, u_img): unit modality directions with cos(u_txt, u_img) = gap_cos; the part of
        u_img not along u_txt is orthogonal to the label classes' WordNet vectors (a random one
        would favour one class by ±0.05 — the whole top-1 margin — in every image)."""
        u_txt = self._gauss("<text modality>")
        perp = self._gauss("<image modality>")
        basis = [u_txt[:, None]]
        if self.label_names:
            basis.append(self.text_encoder.encode_text(self.label_names).float().cpu().T)
        Q = torch.linalg.qr(torch.cat(basis, 1).double())[0].float()
        perp = l2_normalize(perp - Q @ (Q.T @ perp))
        r = self.p["gap_cos"]
        return u_txt, l2_normalize(r * u_txt + (1 - r * r) ** 0.5 * perp)

    def _gauss(self, *key) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed_of(self.seed, *key))
        return l2_normalize(torch.randn(self.dim, generator=g))

    def tables(self):
        """(T_ext (C+1, D): class texts + clutter, u_img (D,), saliency (C+1,), confusion CDF (C, C))."""
        if self._tables is None:
            C = len(self.label_names)
            T = self.text_encoder.encode_text(self.label_names).float().cpu()
            T_ext = torch.cat([T, self._gauss("<clutter>")[None]])
            u_img = self.modality()[1]
            z = torch.stack([torch.randn(1, generator=torch.Generator().manual_seed(seed_of(self.seed, "sal", n)))[0]
                             for n in self.label_names + ["<clutter>"]])
            sal = torch.exp(self.p["saliency_sigma"] * z)
            sim = T @ T.T
            logits = sim / self.p["sim_tau"] - torch.eye(C) * 1e9
            cdf = torch.softmax(logits, dim=1).cumsum(1) if C > 1 else torch.ones(C, C)
            cdf[:, -1] = 1.0
            self._tables = (T_ext, u_img, sal, cdf)
        return self._tables

    # ------------------------------------------------------------------ image side
    def _cells(self, frame, cx: torch.Tensor, cy: torch.Tensor) -> torch.Tensor:
        """(N, 3) int64 coarse 3D cell of the pixels (cx, cy) (back-projected with depth)."""
        depth = getattr(frame, "depth", None)
        if depth is None or frame.K is None or frame.c2w is None:
            v = seed_of(self.seed, "view-cell", frame.name) % 1000003
            return torch.full((len(cx), 3), v, dtype=torch.int64)
        d = torch.as_tensor(np.asarray(depth), dtype=torch.float64)
        H, W = d.shape
        z = d[cy.clamp(0, H - 1), cx.clamp(0, W - 1)]
        K = torch.as_tensor(np.asarray(frame.K), dtype=torch.float64)
        c2w = torch.as_tensor(np.asarray(frame.c2w), dtype=torch.float64)
        x = (cx.double() + 0.5 - K[0, 2]) / K[0, 0] * z
        y = (cy.double() + 0.5 - K[1, 2]) / K[1, 1] * z
        pw = torch.stack([x, y, z], 1) @ c2w[:3, :3].T + c2w[:3, 3]
        cell = torch.floor(pw / self.p["cell"]).to(torch.int64)
        far = ~(z > 0)  # unknown depth: a cell of its own per view
        cell[far] = seed_of(self.seed, "view-cell", frame.name) % 1000003
        return cell

    @torch.no_grad()
    def multiscale_features(self, frame) -> torch.Tensor:
        labels = ground_truth_labels(frame, self.label_names, "the simulated crop teacher")
        H, W = labels.shape
        C = len(self.label_names)
        p = self.p
        T_ext, u_img, sal, cdf = self.tables()
        lab = torch.where(labels >= 0, labels, torch.full_like(labels, C))
        onehot = torch.nn.functional.one_hot(lab, C + 1).double()
        integ = torch.zeros(H + 1, W + 1, C + 1, dtype=torch.float64)
        integ[1:, 1:] = onehot.cumsum(0).cumsum(1)
        h, w = grid_size(H, W, self.down)
        maps = []
        for s, boxes in enumerate(all_crop_boxes(h, w, self.divisors, self.jitter, self.seed)):
            px0 = torch.round(boxes[:, 0].double() * W / w).long()
            px1 = torch.round(boxes[:, 2].double() * W / w).long()
            py0 = torch.round(boxes[:, 1].double() * H / h).long()
            py1 = torch.round(boxes[:, 3].double() * H / h).long()
            counts = integ[py1, px1] - integ[py0, px1] - integ[py1, px0] + integ[py0, px0]   # (N, C+1)
            a = (counts / counts.sum(1, keepdim=True).clamp_min(1)).float()
            # confusions, seeded by the coarse 3D cell of the crop centre
            cell = self._cells(frame, (px0 + px1) // 2, (py0 + py1) // 2)              # (N, 3)
            cls = torch.arange(C)
            key = [torch.tensor(self.seed), torch.tensor(s), cell[:, None, 0], cell[:, None, 1], cell[:, None, 2],
                   cls[None, :]]
            u1 = hash_uniform(*key, torch.tensor(1)).float()                           # (N, C)
            u2 = hash_uniform(*key, torch.tensor(2)).float()
            present = a[:, :C] > 0
            confused = present & (u1 < p["p_conf_min"] + p["p_conf"] * (1 - a[:, :C]).pow(p["conf_power"]))
            target = torch.searchsorted(cdf.expand(len(a), C, C).contiguous(), u2[..., None]).squeeze(-1).clamp(max=C - 1)
            wgt = a.pow(p["gamma"]) * sal[None]
            wgt = wgt / wgt.sum(1, keepdim=True).clamp_min(1e-12)
            moved = torch.where(confused, wgt[:, :C], torch.zeros_like(wgt[:, :C]))
            wgt_eff = wgt.clone()
            wgt_eff[:, :C] -= moved
            wgt_eff[:, :C].scatter_add_(1, target, moved)
            mix = wgt_eff @ T_ext                                                       # (N, D)
            g = torch.Generator().manual_seed(seed_of(self.seed, "crop-noise", frame.name, s))
            eps = torch.randn(len(a), self.dim, generator=g) / np.sqrt(self.dim)
            z = torch.randn(len(a), C, generator=g) / np.sqrt(C)
            e = (p["alpha"] * (mix + p["sem_noise"] * z @ T_ext[:C]) + p["beta"] * u_img[None]
                 + p["noise"] * eps)
            acc = Accumulator(h, w, self.dim)
            acc.add(boxes, e)
            maps.append(acc.mean())
        return l2_normalize(torch.stack(maps)).to(self.device)
