"""SimulatedCLIPTeacher — a **simulation** of CLIP relevancy features, not CLIP.

No package registry reachable here ships CLIP weights, so the demo and the scientific tests use
this stand-in. It reads the ground-truth label map of a rendered frame (``frame.labels``, ids
into ``label_names``) and produces features with the typical failure modes of dense CLIP
features, so that RSR and CSE have something real to fix:

1. **Shifted boundaries**: the label map is translated by a per-view random offset of up to
   ``round(noise · patch / 2)`` pixels (edge-replicated).
2. **View-inconsistent confusions between plausible pairs** (``DEFAULT_CONFUSIONS``: floor↔rug,
   table↔chair, wall↔picture, ...): in each view, independently per class c that has a partner
   p, with probability ``noise`` a random low-frequency blob covering ~15–45 % of c's pixels is
   relabelled p; with probability ``noise / 4`` *all* of c is relabelled p in that view.
   The draws depend on (seed, frame name), so views disagree with each other.
3. **Coarse resolution**: class fractions are pooled to a patch grid
   (h, w) = (⌈H/patch⌉, ⌈W/patch⌉); the feature of a cell is Σ_c frac_c · t_c (+ frac_void ·
   t_void, a fixed clutter vector).
4. **Blur**: cell features are mixed with their 3×3 neighbourhood mean with weight min(1, noise).
5. **Noise**: i.i.d. Gaussian of expected norm 0.6 · noise is added; features L2-normalised.

Text side: :class:`ovnerf.foundation.wordnet_text.WordNetTextEncoder` (also a SIMULATION): class
and query embeddings grounded in WordNet 3.0, so synonyms coincide (couch = sofa), hypernyms are
near their hyponyms (furniture ~ table, chair, sofa) and unrelated nouns are near-orthogonal. The
image side (step 3) mixes the *same* class embeddings, so a field distilled from this teacher
answers words outside its vocabulary through cosine similarity, as a CLIP-distilled field does.
A word WordNet lacks raises UnknownWordError (UserError). Label names and vocabulary entries that
are equal (case/space-insensitive) get the same embedding.

``is_simulation = True``; its ``name`` says so, and the CLI/logs print it.
"""
from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F

from ovnerf.errors import UserError
from ovnerf.foundation.base import TextImageBackend, l2_normalize
from ovnerf.foundation.wordnet_text import WordNetTextEncoder, seed_of as _seed_of

log = logging.getLogger(__name__)

DEFAULT_CONFUSIONS = [
    ("floor", "rug"), ("table", "chair"), ("wall", "picture"), ("sofa", "cushion"),
    ("bed", "pillow"), ("cabinet", "shelf"), ("window", "curtain"), ("door", "wall"),
    ("desk", "table"), ("ceiling", "wall"), ("lamp", "light"), ("book", "shelf"),
    ("plant", "vase"), ("tv", "monitor"), ("blanket", "bed"), ("counter", "cabinet"),
    ("bookshelf", "book"), ("bookshelf", "cabinet"), ("box", "cabinet"), ("door", "cabinet"),
    ("window", "picture"),
]


def ground_truth_labels(frame, label_names, who: str) -> torch.Tensor:
    """(H, W) long label ids of ``frame`` for a simulated teacher; UserError without labels, class
    names, or with an id ≥ len(label_names)."""
    if getattr(frame, "labels", None) is None:
        raise UserError(f"{who} needs ground-truth labels (frame '{frame.name}' has none): for real "
                        "images use --clip openclip --clip-checkpoint FILE, or train geometry and colour "
                        "only with `ovnerf train SCENE --clip none`")
    if not label_names:
        raise UserError(f"{who} needs the scene's class names (label_names)")
    labels = torch.as_tensor(np.asarray(frame.labels), dtype=torch.long)
    if labels.numel() and int(labels.max()) >= len(label_names):
        raise UserError(f"frame '{frame.name}': label id {int(labels.max())} ≥ number of class names "
                        f"({len(label_names)})")
    return labels


def _norm(name: str) -> str:
    return " ".join(str(name).lower().split())


class SimulatedCLIPTeacher(TextImageBackend):
    name = "simulated-clip-teacher (SIMULATION, not CLIP)"
    is_simulation = True

    def __init__(self, label_names: list[str] | None = None, dim: int = 512, patch: int = 16,
                 noise: float = 0.5, seed: int = 0, confusions=None, device="cpu"):
        if not 0.0 <= float(noise) <= 1.0:
            raise UserError(f"simulated teacher: noise must be in [0, 1], got {noise}")
        if patch < 1 or dim < 8:
            raise UserError("simulated teacher: patch ≥ 1 and dim ≥ 8 required")
        self.label_names = list(label_names or [])
        self.dim = int(dim)
        self.patch = int(patch)
        self.noise = float(noise)
        self.seed = int(seed)
        self.confusions = [(_norm(a), _norm(b)) for a, b in (confusions if confusions is not None
                                                              else DEFAULT_CONFUSIONS)]
        self.device = torch.device(device)
        self.text_encoder = WordNetTextEncoder(dim=self.dim, seed=self.seed)
        self.build_config = {"clip": "simulated", "sim_dim": self.dim, "sim_seed": self.seed,
                             "sim_noise": self.noise, "sim_patch": self.patch}

    def fingerprint(self) -> dict:
        return {"name": self.name, "dim": self.dim, "patch": self.patch, "noise": self.noise,
                "seed": self.seed, "label_names": self.label_names,
                "confusions": [list(p) for p in self.confusions],
                "text": self.text_encoder.fingerprint()}

    # ------------------------------------------------------------------ text side
    def _gauss(self, key: str) -> torch.Tensor:
        g = torch.Generator().manual_seed(_seed_of(self.seed, key))
        return l2_normalize(torch.randn(self.dim, generator=g))

    def partners(self, name: str) -> list[str]:
        n = _norm(name)
        return [b if a == n else a for a, b in self.confusions if n in (a, b)]

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        return self.text_encoder.encode_text(list(texts)).to(self.device)

    # ------------------------------------------------------------------ image side
    def multiscale_features(self, frame) -> torch.Tensor:
        labels = ground_truth_labels(frame, self.label_names, "the simulated CLIP teacher")
        H, W = labels.shape
        C = len(self.label_names)
        g = torch.Generator().manual_seed(_seed_of(self.seed, "view", frame.name))
        n = self.noise

        # 1. shifted boundaries
        r = int(round(n * self.patch / 2))
        if r > 0:
            dy, dx = (int(v) for v in torch.randint(-r, r + 1, (2,), generator=g))
            rows = (torch.arange(H) - dy).clamp(0, H - 1)
            cols = (torch.arange(W) - dx).clamp(0, W - 1)
            labels = labels[rows][:, cols]

        # 2. confusions between plausible pairs (extra partner names appended after label_names)
        names = [_norm(x) for x in self.label_names]
        extra: list[str] = []
        partner = torch.full((C,), -1, dtype=torch.long)
        for c, nm in enumerate(names):
            ps = self.partners(nm)
            if ps:
                p = ps[int(torch.randint(len(ps), (1,), generator=g))]
                if p in names:
                    partner[c] = names.index(p)
                else:
                    if p not in extra:
                        extra.append(p)
                    partner[c] = C + extra.index(p)
        u = torch.rand(C, generator=g)
        frac = torch.rand(C, generator=g) * 0.30 + 0.15
        frac = torch.where(u < n / 4, torch.full_like(frac, 2.0), torch.where(u < n, frac, torch.zeros_like(frac)))
        frac = torch.where(partner >= 0, frac, torch.zeros_like(frac))
        valid = labels >= 0
        safe = labels.clamp_min(0)
        if bool((frac > 0).any()):
            bh, bw = max(2, H // (2 * self.patch)), max(2, W // (2 * self.patch))
            field = torch.rand(C, 1, bh, bw, generator=g)
            field = F.interpolate(field, (H, W), mode="bilinear", align_corners=False)[:, 0]
            val = torch.gather(field, 0, safe[None])[0]  # field of each pixel's own class
            conf = valid & (val < frac[safe])
            labels = torch.where(conf, partner[safe], labels)

        # 3. coarse class fractions on the patch grid
        Ctot = C + len(extra)
        onehot = F.one_hot(torch.where(labels >= 0, labels, torch.full_like(labels, Ctot)), Ctot + 1)
        h, w = -(-H // self.patch), -(-W // self.patch)
        fr = F.adaptive_avg_pool2d(onehot.permute(2, 0, 1)[None].float(), (h, w))[0]  # (Ctot+1,h,w)
        emb = torch.cat([self.encode_text(self.label_names + extra).cpu(),
                         self._gauss("<void clutter>")[None]])
        feat = torch.einsum("chw,cd->dhw", fr, emb)

        # 4. blur, 5. noise
        b = min(1.0, n)
        if b > 0:
            nb = F.avg_pool2d(feat[None], 3, stride=1, padding=1, count_include_pad=False)[0]
            feat = (1 - b) * feat + b * nb
        feat = feat + 0.6 * n * torch.randn(feat.shape, generator=g) / np.sqrt(self.dim)
        feat = l2_normalize(feat.permute(1, 2, 0))
        return feat[None].to(self.device)
