"""Helpers shared by the sub-command modules (parser set-up, opening the scene argument).

- :func:`command_parser`: the sub-parser of a command, described by the first paragraph of the
  command module's docstring.
- :func:`add_runtime_arguments`: the ``--device`` (torch device, default ``cpu``) and
  ``--no-progress`` options common to the heavy commands.
- :func:`open_scene`: the scene directory argument as a read-only
  :class:`~ovnerf.scene.store.SceneStore`; a path without ``transforms.json`` is one
  :class:`~ovnerf.errors.UserError`.
- :func:`workspace_from_args`: the :class:`~ovnerf.app.workspace.Workspace` of a command that
  reads SCENE and writes outputs (``--workspace`` and the explicit directory options).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ovnerf.app.workspace import Workspace
from ovnerf.errors import UserError
from ovnerf.scene.store import SceneStore


def command_parser(subparsers, name: str, doc: str, help: str) -> argparse.ArgumentParser:
    """``subparsers.add_parser(name, help=help, description=<first paragraph of doc>)``."""
    return subparsers.add_parser(name, help=help, description=doc.split("\n\n")[0])


def add_runtime_arguments(p: argparse.ArgumentParser) -> None:
    """Adds ``--device`` (default ``cpu``) and ``--no-progress``."""
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def require_scene_dir(path: Path) -> None:
    """:class:`UserError` unless ``path/transforms.json`` is a file."""
    if not (Path(path) / "transforms.json").is_file():
        raise UserError(f"not a scene directory (no transforms.json): {path}")


def open_scene(path: Path):
    """The existing scene at ``path`` (``SceneStore(path, create=False)``), after
    :func:`require_scene_dir`."""
    require_scene_dir(path)
    return SceneStore(path, create=False)


def workspace_from_args(scene: Path, workspace: Path | None, cache: Path | None = None,
                        checkpoints: Path | None = None):
    """``--workspace WS``: WS/cache, WS/checkpoints, WS/runs, refused inside SCENE. Without it
    the explicit directories (cache default SCENE/preprocess), rooted at the checkpoint directory."""
    if workspace is not None:
        return Workspace(workspace, scene=scene, cache=cache, checkpoints=checkpoints).check_outside_scene()
    root = checkpoints if checkpoints is not None else Path(scene) / "preprocess"
    return Workspace(root, scene=scene, cache=cache if cache is not None else Path(scene) / "preprocess",
                     checkpoints=checkpoints)
