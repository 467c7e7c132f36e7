"""The two-stage OV-NeRF trainer.

Per iteration i (0-based; "iteration" counts completed steps):

1. schedule events at the start of step i (TensoRF order): grid upsampling at
   TrainConfig's ``upsample_iters`` (voxel counts log-linear between FieldConfig's n_voxels_init/final; the
   optimizer is rebuilt, its lr set to lr0·factor^i), alpha-mask update at ``alpha_mask_iters``;
   in Stage II (i ≥ T, CSE on), every ``cse_every`` iterations from T: CSE (pseudo maps S̄ for
   the training views, novel views with S+; see ``cse.py``).
2. a batch of ``batch_rays`` pixels drawn uniformly over all training pixels (RayBank), plus in
   Stage II with PMS ``novel_ray_fraction·batch_rays`` pixels of the novel views; one
   ``render_rays(perturb=True)`` call; loss
       L = w_color·L_color + w_feat·L_feat + w_sem·CE(target) [Stage I]
           | w_pmu·CE(S̄ or Stage-I target) + w_pms·CE(S+) [Stage II]
           + L_dino(3DOVS) + w_dino_feat·L_dinofeat + TV/L1
           [+ depth_weight·L_depth when depth_weight > 0 and the frames carry depth — our
              RGB-D addition, not in OV-NeRF; also during the colour-only warm-up]
           [+ free_space_weight·L_free (line-of-sight empty space, with depth_weight > 0)],
   Stage-I target = S~ (RSR map) or S (use_rsr=False).
3. Adam step, every lr × factor (= lr_decay_target^(1/iterations)).

Determinism: a dedicated ``torch.Generator`` (seeded by ``seed``) draws the rays and the sample
jitter; its state, the global RNGs, the optimizer, the field (incl. grid resolution and alpha mask)
and the CSE state are in every checkpoint, so a resumed run reproduces an uninterrupted one.

Progress: ``callback(Progress)`` at most every ``progress_interval_s`` seconds, at every stage
change / CSE event and at the end. ``should_stop()`` is polled between iterations; when it
returns True a checkpoint is written and ``train`` returns (``TrainResult.stopped``).
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ovnerf.checkpoint import (CHECKPOINT_NAME, capture_rng_state, load_checkpoint, restore_rng_state,
                               save_checkpoint)
from ovnerf.errors import UserError
from ovnerf.field.renderer import distortion_loss, render_rays
from ovnerf.field.selection import mix_scales
from ovnerf.field.semantic_field import FieldConfig, SemanticField
from ovnerf.field.visibility_mask import visibility_grid
from ovnerf.query import View
from ovnerf.scene.bounds import rgb_only_bounds, scene_bounds
from ovnerf.semantic_point_map import build_point_map, save_point_map
from ovnerf.training import losses as L
from ovnerf.training.config import TrainConfig
from ovnerf.training.cse import NovelViews, make_novel_views, pseudo_maps
from ovnerf.training.raybank import RayBank, target_attr

log = logging.getLogger(__name__)

__all__ = ["Trainer", "Progress", "TrainResult"]

GEOMETRY_ONLY_FEATURE_DIM = 8   # feature/DINO head width of a field trained without semantics (unused)


@dataclass
class Progress:
    stage: int
    iteration: int          # completed iterations
    total: int
    losses: dict
    psnr: float
    eta_s: float
    message: str = ""


@dataclass
class TrainResult:
    checkpoint: Path | None
    iteration: int
    total: int
    stopped: bool
    losses: dict = dc_field(default_factory=dict)
    psnr: float = float("nan")
    elapsed_s: float = 0.0
    iters_per_s: float = 0.0
    start_iteration: int = 0        # the iteration this call of train() started from (resume)

    @property
    def completed(self) -> bool:
        return self.iteration >= self.total


def _load_targets(targets, names):
    """``targets[name]`` for each training view (a PreprocessCache or a dict name → ViewTargets)."""
    try:
        return [targets[n] for n in names]
    except KeyError as exc:
        raise UserError(f"no preprocessed targets for view {exc}") from None


class Trainer:
    """Trainer(frames, cache, text_emb, field_cfg, train_cfg, region_backend=None, device, out_dir).

    frames: training PosedFrames; cache: view name → ViewTargets (a ``PreprocessCache`` or a dict;
    each with ``clip_feat``, ``relevancy``, ``rsr``, ``regions``, optional ``dino``); text_emb (M,D);
    vocabulary: class names (M). ``cache=None`` and ``text_emb=None``: **geometry and colour
    only** (``--clip none``: no CLIP teacher); every step is a colour (+ depth / anti-fog) step,
    the checkpoint has an empty vocabulary. ``aabb``:
    (min, max) or None (``ovnerf.scene.bounds.scene_bounds(frames)`` with depth, else
    ``rgb_only_bounds(frames)``: the region the cameras look at). ``views``: extra
    cameras stored in the checkpoint for the query layer (default: the training cameras).
    """

    def __init__(self, frames, cache, text_emb, field_cfg: FieldConfig | None = None,
                 train_cfg: TrainConfig | None = None, region_backend=None, device="cpu",
                 out_dir=None, vocabulary: list[str] | None = None, aabb=None, meta: dict | None = None,
                 text_encoder: dict | None = None):
        self.cfg = train_cfg or TrainConfig()
        self.cfg.validate()
        if cache is None and self.cfg.use_cse:  # nothing semantic to self-enhance
            self.cfg = self.cfg.replace(use_cse=False)
        self.device = torch.device(device)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.frames = list(frames)
        self.region_backend = region_backend
        self.meta = dict(meta or {})
        # which text encoder made text_emb (text_encoder_record.record_of): from the argument or
        # the preprocess manifest; the checkpoint keeps it so queries can embed new text
        manifest = getattr(cache, "manifest", None)
        self.text_encoder = text_encoder or (manifest.get("text_encoder") if isinstance(manifest, dict) else None)
        self.semantic = cache is not None
        if self.semantic != (text_emb is not None):
            raise UserError("give both the preprocess cache and the text embeddings, or neither (RGB only)")
        fc = field_cfg or FieldConfig()
        targets = _load_targets(cache, [f.name for f in self.frames]) if self.semantic else None
        self.bank = RayBank(self.frames, targets, device=self.device,
                            multiscale=self.cfg.scale_selection == "learned")
        if not self.semantic:  # no features to fit: an empty vocabulary, a token-size feature head
            self.bank.feat_dim, fc = GEOMETRY_ONLY_FEATURE_DIM, FieldConfig.from_dict(
                {**fc.to_dict(), "dino_dim": GEOMETRY_ONLY_FEATURE_DIM})
            text_emb = torch.zeros(0, GEOMETRY_ONLY_FEATURE_DIM)
        self.text_emb = F.normalize(torch.as_tensor(np.asarray(text_emb) if not isinstance(text_emb, torch.Tensor)
                                                    else text_emb).float(), dim=-1).to(self.device)
        M = int(self.text_emb.shape[0])
        self.vocabulary = list(vocabulary) if vocabulary is not None else [f"class_{i}" for i in range(M)]
        if len(self.vocabulary) != M:
            raise UserError(f"{len(self.vocabulary)} class names but {M} text embeddings")
        if self.text_emb.shape[1] != self.bank.feat_dim:
            raise UserError(f"text embeddings have D={self.text_emb.shape[1]} but the cached CLIP "
                            f"features have D={self.bank.feat_dim}")
        self.regions = [target_attr(t, "regions") for t in targets] if targets is not None else []
        del targets
        upd = {"feature_dim": self.bank.feat_dim}
        if self.bank.dino_dim:
            upd["dino_dim"] = self.bank.dino_dim
        upd["n_scales"] = self.bank.n_scales if self.bank.feat_ms is not None else 1
        self.field_cfg = FieldConfig.from_dict({**fc.to_dict(), **upd})
        if aabb is None:
            has_depth = any(getattr(f, "depth", None) is not None for f in self.frames)
            aabb = scene_bounds(self.frames) if has_depth else rgb_only_bounds(self.frames)
        self._seed_everything(self.cfg.seed)
        self.field = SemanticField(self.field_cfg, aabb, device=self.device)
        self._diag = float((self.field.aabb[1] - self.field.aabb[0]).norm())  # distortion-loss unit
        # anti-fog terms (TrainConfig.anti_fog): "on", or "auto" = on unless depth supervises the
        # geometry (frames with depth AND depth_weight > 0; depth that is not used removes no fog)
        depth_supervised = self.bank.depth is not None and self.cfg.depth_weight > 0
        self.anti_fog = self.cfg.anti_fog == "on" or (self.cfg.anti_fog == "auto" and not depth_supervised)
        self.visibility = self.cfg.visibility_mask == "on" or (self.cfg.visibility_mask == "auto" and self.anti_fog)
        self.mask_stats: dict = {}  # the last alpha-mask update (update_alpha_mask)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(self.cfg.seed)
        self.iteration = 0
        self.novel: NovelViews | None = None
        self.last_cse_iter = -1
        self.point_map = None
        self.optimizer = self._make_optimizer(0)
        ups = tuple(self.cfg.upsample_iters)
        self._voxels = dict(zip(ups, self.field_cfg.voxel_schedule(len(ups))))

    # ------------------------------------------------------------------ setup helpers
    @staticmethod
    def _seed_everything(seed: int) -> None:
        torch.manual_seed(seed)
        np.random.seed(seed % (2 ** 32))
        random.seed(seed)

    def _make_optimizer(self, iteration: int) -> torch.optim.Optimizer:
        scale = self.cfg.lr_factor() ** iteration
        groups = self.field.param_groups(self.cfg.lr_volume * scale, self.cfg.lr_mlp * scale)
        return torch.optim.Adam(groups, betas=tuple(self.cfg.betas))

    @property
    def checkpoint_path(self) -> Path | None:
        return self.out_dir / CHECKPOINT_NAME if self.out_dir is not None else None

    # ------------------------------------------------------------------ checkpoints
    def save(self, path=None) -> Path:
        path = Path(path) if path is not None else self.checkpoint_path
        if path is None:
            raise UserError("no output directory for the checkpoint")
        state = {"pseudo": self.bank.pseudo, "novel": self.novel.state() if self.novel is not None else None,
                 "last_cse_iter": self.last_cse_iter,
                 "occupancy": self.field.occupancy.state() if self.field.occupancy is not None else None}
        views = [[f.K, f.c2w, f.height, f.width] for f in self.frames]
        out = save_checkpoint(path, field=self.field, field_config=self.field_cfg.to_dict(),
                              vocabulary=self.vocabulary, text_emb=self.text_emb,
                              train_config=self.cfg.to_dict(), iteration=self.iteration,
                              optimizer=self.optimizer, rng=capture_rng_state(self.generator),
                              trainer_state=state, views=views,
                              meta={**self.meta, "train_views": self.bank.names},
                              text_encoder=self.text_encoder)
        if self.cfg.point_map_views > 0 and self.semantic:  # no features: no semantic point map
            save_point_map(self.build_point_map(), out)
        return out

    def build_point_map(self):
        """The semantic point map of the current field (``self.point_map``; see
        :mod:`ovnerf.semantic_point_map`), from the training views."""
        was_training = self.field.training
        self.field.eval()
        self.point_map = build_point_map(self.field, [View(f.K, f.c2w, f.height, f.width) for f in self.frames],
                                         max_views=self.cfg.point_map_views, max_side=self.cfg.point_map_side,
                                         chunk=self.cfg.render_chunk, iteration=self.iteration)
        self.field.train(was_training)
        return self.point_map

    def resume(self, path=None) -> int:
        """Restore a checkpoint written by this trainer (same scene/cache); returns the iteration."""
        path = Path(path) if path is not None else self.checkpoint_path
        ck = load_checkpoint(path, device=self.device, build=False)
        if list(ck["vocabulary"]) != self.vocabulary:
            raise UserError(f"checkpoint {path} was trained with another vocabulary")
        if ck.get("optimizer") is None or ck.get("rng") is None:
            raise UserError(f"checkpoint {path} has no training state to resume from")
        self.field.load_state_dict({k: v.to(self.device) for k, v in ck["field_state"].items()})
        self.iteration = int(ck["iteration"])
        self.optimizer = self._make_optimizer(self.iteration)
        try:
            self.optimizer.load_state_dict(ck["optimizer"])
        except (ValueError, KeyError) as exc:
            raise UserError(f"checkpoint {path}: optimizer state does not match the field ({exc})") from None
        st = ck.get("trainer_state") or {}
        if st.get("pseudo") is not None:
            if st["pseudo"].numel() != self.bank.n_pixels:
                raise UserError(f"checkpoint {path}: pseudo maps do not match the training views")
            self.bank.pseudo = st["pseudo"].to(self.device)
        self.novel = NovelViews.from_state(st["novel"], self.device) if st.get("novel") else None
        self.last_cse_iter = int(st.get("last_cse_iter", -1))
        self.field.restore_occupancy(st.get("occupancy"))
        restore_rng_state(ck["rng"], self.generator)
        return self.iteration

    # ------------------------------------------------------------------ schedule
    def _events(self, i: int) -> list[str]:
        msgs = []
        if i in self._voxels and i > 0:
            res = self.field.upsample(int(self._voxels[i]))
            self.optimizer = self._make_optimizer(i)
            msgs.append(f"grid upsampled to {res}")
        if i in set(self.cfg.alpha_mask_iters) and i > 0:
            msgs.append(self.update_alpha_mask())
        every = int(self.cfg.occupancy_every)
        if every > 0 and i > 0 and i % every == 0 and not self.field.has_alpha_mask():
            occ = self.field.update_occupancy(self.generator)
            msgs.append(f"occupancy grid updated ({occ:.1%} occupied)")
        cfg = self.cfg
        if self.semantic and cfg.stage(i) == 2 and (i - cfg.stage1_iters) % cfg.cse_every == 0 and self.last_cse_iter != i:
            msgs.append(self.run_cse(i))
            if self.out_dir is not None and cfg.point_map_views > 0:
                self.save()  # the checkpoint and its semantic point map after every CSE event
        return msgs

    def update_alpha_mask(self) -> str:
        """TensoRF's alpha mask from density, AND (with the visibility mask on) the cells that some
        training camera sees; ``self.mask_stats`` keeps the fractions. Returns a log line."""
        cfg = self.cfg
        done = sum(1 for j in cfg.alpha_mask_iters if 0 < j < self.iteration)  # earlier updates
        if not self.visibility or done < cfg.visibility_after:
            occ = self.field.update_alpha_mask()
            self.mask_stats = {"occupied": occ}
            return f"alpha mask updated ({occ:.1%} occupied)"
        res = self.field.alpha_mask_res()
        vis = visibility_grid(self.field, self.frames, res, cfg.visibility_side, cfg.visibility_transmittance,
                              cfg.visibility_margin, ray_chunk=cfg.render_chunk,
                              min_weight=cfg.visibility_min_weight)
        density = self.field.density_mask(res)   # evaluated once: stored AND'ed, and reported alone
        occ = self.field.set_alpha_mask(density & vis.visible.to(density.device))
        self.mask_stats = {"occupied": occ, **vis.summary(density)}
        s = self.mask_stats
        return (f"alpha mask updated ({occ:.1%} occupied; density alone {s['density']:.1%}, of which "
                f"{s['outside_frusta']:.1%} outside every training frustum, {s['occluded']:.1%} "
                f"occluded from every training camera and {s['faint']:.1%} too faint in every one dropped)")

    def run_cse(self, i: int) -> str:
        cfg = self.cfg
        self.field.eval()
        t0 = time.time()
        parts = []
        if cfg.cse_pmu:
            maps = pseudo_maps(self.field, self.bank, self.regions, self.text_emb,
                               use_rsr=cfg.cse_pseudo_rsr, chunk=cfg.render_chunk)
            self.bank.set_pseudo(maps)
            parts.append(f"{len(maps)} pseudo maps")
        if cfg.cse_pms and cfg.cse_novel_views > 0:
            if cfg.cse_pseudo_rsr and self.region_backend is None:
                log.warning("CSE: no region backend, novel-view pseudo maps are not refined by RSR")
            H, W = self.bank.hw[0].tolist()
            self.novel = make_novel_views(self.field, self.bank.c2w, self.bank.K[0], H, W,
                                          cfg.cse_novel_views, cfg.seed + i, self.region_backend,
                                          self.text_emb, use_rsr=cfg.cse_pseudo_rsr, chunk=cfg.render_chunk)
            parts.append(f"{self.novel.n} novel views")
        self.field.train()
        self.last_cse_iter = i
        return f"CSE at {i}: " + ", ".join(parts or ["nothing to do"]) + f" ({time.time() - t0:.1f} s)"

    # ------------------------------------------------------------------ one step
    def _stage1_target(self) -> str:
        return "rsr" if self.cfg.use_rsr else "relevancy"

    def step(self, i: int) -> tuple[dict, float]:
        cfg = self.cfg
        stage = cfg.stage(i)
        warmup = i < cfg.geometry_warmup_iters or not self.semantic  # colour-only step
        use_pmu = stage == 2 and cfg.cse_pmu and self.bank.pseudo is not None
        use_pms = stage == 2 and cfg.cse_pms and self.novel is not None and self.novel.n > 0
        target = None if not self.semantic else "pseudo" if use_pmu else self._stage1_target()
        want_dino_feat = cfg.w_dino_feat > 0 and self.bank.dino is not None and not warmup
        want_dino_pairs = (cfg.w_dino_pos > 0 or cfg.w_dino_neg > 0) and self.bank.dino is not None and not warmup
        idx = self.bank.sample(cfg.batch_rays, self.generator)
        b = self.bank.gather(idx, target=target, with_dino=want_dino_feat or want_dino_pairs)
        rays_o, rays_d = b.rays_o, b.rays_d
        n_train = rays_o.shape[0]
        n_novel = int(round(cfg.novel_ray_fraction * cfg.batch_rays)) if use_pms else 0
        if n_novel:
            no, nd, ntgt = self.novel.sample(n_novel, self.generator)
            rays_o, rays_d = torch.cat([rays_o, no]), torch.cat([rays_d, nd])
        learned_sel = self.bank.feat_ms is not None and self.field.selection is not None
        outputs = [] if warmup else (["feature", "selection"] if learned_sel and cfg.w_feat > 0 else ["feature"])
        if cfg.w_color > 0 or warmup:
            outputs.append("rgb")
        if want_dino_feat:
            outputs.append("dino")
        want_depth = cfg.depth_weight > 0 and b.depth is not None
        if want_depth:
            outputs.append("depth")
        want_free = want_depth and cfg.free_space_weight > 0
        want_dist = self.anti_fog and cfg.w_distortion > 0 and i >= cfg.distortion_from
        out = render_rays(self.field, rays_o, rays_d, outputs=outputs, perturb=True, generator=self.generator,
                          return_weights=want_free or want_dist)
        terms: dict[str, torch.Tensor] = {}
        mse = torch.tensor(float("nan"))
        if "rgb" in out:
            mse = L.color_loss(out["rgb"][:n_train], b.rgb)
            terms["color"] = (cfg.w_color if not warmup else 1.0) * mse
        if want_depth:
            terms["depth"] = cfg.depth_weight * L.depth_loss(out["depth"][:n_train] * b.z_scale, b.depth)
        if want_free:
            terms["free"] = cfg.free_space_weight * L.free_space_loss(
                out["weights"][:n_train], out["t"][:n_train], b.z_scale, b.depth, cfg.free_space_margin)
        if self.anti_fog and cfg.w_opacity > 0:
            terms["opacity"] = cfg.w_opacity * self._opacity_term()
        if want_dist:
            terms["distortion"] = cfg.w_distortion * distortion_loss(
                out["weights"][:n_train], out["t"][:n_train], out["delta"][:n_train], self._diag)
        if warmup:
            return self._finish_step(terms, mse)
        feat = out["feature"][:n_train]
        if cfg.w_feat > 0:
            target_feat = mix_scales(out["selection"][:n_train], b.feat_ms) if "selection" in out else b.feat
            terms["feat"] = cfg.w_feat * L.feature_loss(feat, target_feat)
        ce = L.semantic_ce_loss(feat, self.text_emb, b.target, cfg.temperature)
        if stage == 1:
            terms["sem"] = cfg.w_sem * ce
        else:
            terms["pmu" if use_pmu else "sem"] = (cfg.w_pmu if use_pmu else cfg.w_sem) * ce
            if n_novel:
                terms["pms"] = cfg.w_pms * L.semantic_ce_loss(out["feature"][n_train:], self.text_emb, ntgt,
                                                              cfg.temperature)
        if want_dino_pairs:
            dl, _ = L.dino_distribution_loss(feat, self.text_emb, b.dino, cfg.dino_temperature, cfg.dino_shift,
                                             cfg.w_dino_pos, cfg.w_dino_neg, cfg.dino_pair_rays)
            terms["dino"] = dl
        if want_dino_feat:
            terms["dino_feat"] = cfg.w_dino_feat * L.dino_feature_loss(out["dino"][:n_train], b.dino)
        if cfg.w_tv_density > 0 or cfg.w_tv_app > 0:
            terms["tv"] = self.field.tv_loss(cfg.w_tv_density, cfg.w_tv_app)
        if cfg.w_l1 > 0:
            terms["l1"] = cfg.w_l1 * self.field.l1_loss()
        return self._finish_step(terms, mse)

    def _opacity_term(self) -> torch.Tensor:
        """mean α over one render step at uniform random points of the box (see TrainConfig.w_opacity)."""
        lo, hi = self.field.aabb[0], self.field.aabb[1]
        u = torch.rand(self.cfg.opacity_points, 3, device=self.device, generator=self.generator)
        sigma = self.field.density(lo + u * (hi - lo))
        return (1.0 - torch.exp(-sigma * self.field.step_size)).mean()

    def _finish_step(self, terms: dict, mse: torch.Tensor) -> tuple[dict, float]:
        cfg = self.cfg
        loss = sum(terms.values())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        factor = cfg.lr_factor()
        for g in self.optimizer.param_groups:
            g["lr"] *= factor
        vals = {k: float(v.detach()) for k, v in terms.items()}
        vals["total"] = float(loss.detach())
        mse = mse.detach()
        return vals, L.psnr_from_mse(mse) if torch.isfinite(mse) else float("nan")

    # ------------------------------------------------------------------ loop
    def train(self, callback: Callable[[Progress], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> TrainResult:
        cfg = self.cfg
        total = cfg.iterations
        start_iter = self.iteration
        t_start = time.time()
        last_report = 0.0
        losses, psnr = {}, float("nan")
        prev_stage = cfg.stage(self.iteration)
        self.field.train()

        def report(msg=""):
            elapsed = time.time() - t_start
            done = self.iteration - start_iter
            r = done / elapsed if elapsed > 0 and done > 0 else 0.0
            eta = (total - self.iteration) / r if r > 0 else float("nan")
            if callback is not None:
                callback(Progress(cfg.stage(max(self.iteration - 1, 0)), self.iteration, total, dict(losses),
                                  psnr, eta, msg))

        if callback is not None:
            report(f"stage {prev_stage} from iteration {self.iteration}")
        stopped = False
        while self.iteration < total:
            i = self.iteration
            msgs = self._events(i)
            stage = cfg.stage(i)
            losses, psnr = self.step(i)
            self.iteration = i + 1
            now = time.time()
            if msgs or stage != prev_stage:
                if stage != prev_stage:
                    msgs.insert(0, f"stage {stage}")
                for m in msgs:
                    log.info(m)
                report("; ".join(msgs))
                last_report = now
                prev_stage = stage
            elif now - last_report >= cfg.progress_interval_s:
                report()
                last_report = now
            if not np.isfinite(losses["total"]):
                raise RuntimeError(f"training diverged at iteration {i} (loss {losses['total']})")
            if cfg.checkpoint_every > 0 and self.iteration % cfg.checkpoint_every == 0 \
                    and self.iteration < total and self.out_dir is not None:
                self.save()
            if should_stop is not None and self.iteration < total and should_stop():
                stopped = True
                break
        ckpt = self.save() if self.out_dir is not None else None
        elapsed = time.time() - t_start
        done = self.iteration - start_iter
        report("stopped" if stopped else "done")
        return TrainResult(ckpt, self.iteration, total, stopped, losses, psnr, elapsed,
                           done / elapsed if elapsed > 0 else 0.0, start_iteration=start_iter)
