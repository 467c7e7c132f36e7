"""One on-disk layout for every run (CLI, ROS trainer node, demo, ablation, bench).

    WORKSPACE/
      scene/          keyframes (SceneStore: transforms.json, images/, depth/, labels/) — or an
                      input scene elsewhere, which is only read (outputs never go into it)
      cache/          preprocess cache (manifest.json, text.npz, views/<name>/*.npz)
      checkpoints/    checkpoint.pt (+ metrics.json of the last evaluation)
      runs/           per-run outputs of experiments and renders (runs/<name>/...)

``Workspace(root)`` is the whole layout under ``root`` (the ROS ``output_dir``, ``ovnerf demo
--out``); ``Workspace(root, scene=SCENE)`` keeps an input scene where it is (``ovnerf ...
SCENE --workspace WS``; :meth:`check_outside_scene` refuses outputs inside that input scene).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ovnerf.checkpoint import CHECKPOINT_NAME
from ovnerf.errors import UserError

METRICS_NAME = "metrics.json"


@dataclass(frozen=True)
class Workspace:
    root: Path
    scene_dir: Path
    cache_dir: Path
    checkpoint_dir: Path
    runs_dir: Path

    def __init__(self, root, scene=None, cache=None, checkpoints=None):
        root = Path(root).expanduser()
        set_ = object.__setattr__
        set_(self, "root", root)
        set_(self, "scene_dir", Path(scene).expanduser() if scene is not None else root / "scene")
        set_(self, "cache_dir", Path(cache).expanduser() if cache is not None else root / "cache")
        set_(self, "checkpoint_dir", Path(checkpoints).expanduser() if checkpoints is not None
             else root / "checkpoints")
        set_(self, "runs_dir", root / "runs")

    def check_outside_scene(self) -> "Workspace":
        """UserError when an output directory lies inside the scene (an input, never written)."""
        scene = self.scene_dir.resolve()
        for what, p in (("workspace", self.root), ("cache", self.cache_dir), ("checkpoints", self.checkpoint_dir)):
            q = p.resolve()
            if q == scene or scene in q.parents:
                raise UserError(f"the {what} directory {p} lies inside the input scene {self.scene_dir}; "
                                "choose a workspace outside it (outputs never go into the input scene)")
        return self

    @property
    def checkpoint(self) -> Path:
        """Where training writes (and resumes from) its checkpoint."""
        return self.checkpoint_dir / CHECKPOINT_NAME

    @property
    def metrics(self) -> Path:
        return self.checkpoint_dir / METRICS_NAME

    def latest_checkpoint(self) -> Path | None:
        return self.checkpoint if self.checkpoint.is_file() else None

    def has_scene(self) -> bool:
        return (self.scene_dir / "transforms.json").is_file()

    def run_dir(self, name: str) -> Path:
        """``runs/<name>`` (created)."""
        if not name or "/" in name or name in (".", ".."):
            raise UserError(f"bad run name {name!r}")
        d = self.runs_dir / name
        d.mkdir(parents=True, exist_ok=True)
        return d
