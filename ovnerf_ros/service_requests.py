"""Request handling shared by the trainer node's services (mixed into
:class:`ovnerf_ros.trainer_node.TrainerNode`): every error becomes ``success=False`` with a reason cut
to a few hundred characters; the request's camera is validated (pose rigid and within 1e5 m,
intrinsics plausible, at most ``render.max_pixels``) before anything is rendered; deadlines from
``query.deadline`` / ``render.deadline``; one render (one query) at a time, a second one refused
at once instead of queueing behind it; the default camera is the store's last keyframe."""
from __future__ import annotations

import threading
import time
import traceback
from contextlib import contextmanager

from ovnerf.errors import UserError
from ovnerf.query import SemanticMap, View
from ovnerf.scene.input_checks import check_position, clip_message
from ovnerf.scene.store import SceneStore
from ovnerf_ros import conversions as cv


class ServiceRequestsMixin:
    """Needs on the node: ``p``, ``scene_dir``, ``get_logger()``."""

    def _answer(self, resp, handler):
        """Run ``handler()`` (which fills ``resp``); any error becomes ``success=False`` + reason
        (a UserError's message as is; anything else 'internal error', traceback logged)."""
        try:
            handler()
        except UserError as exc:
            resp.success, resp.message = False, clip_message(exc)
        except Exception as exc:  # noqa: BLE001 - reported, the node stays up
            self.get_logger().error(traceback.format_exc())
            resp.success, resp.message = False, clip_message(f"internal error: {type(exc).__name__}: {exc}")
        return resp

    def _store_views(self) -> list[View]:
        try:
            store = SceneStore(self.scene_dir, create=False)
        except UserError:
            return []
        out = []
        for n in store.names():
            K, H, W = store.intrinsics(n)
            out.append(View(K, store.pose(n), H, W))
        return out

    def _default_view(self, smap: SemanticMap) -> View:
        """The last keyframe of the store (the collector may still be adding), else the last
        training view of the checkpoint; scaled to render.max_side."""
        views = self._store_views() or smap.views
        if not views:
            raise UserError("no default camera: no keyframes and no views in the checkpoint")
        return views[-1].scaled(self.p["render.max_side"])

    def _request_view(self, smap: SemanticMap | None, pose, info, use_pose: bool = True) -> View:
        """The request's camera, validated (pose rigid and within 1e5 m, intrinsics plausible, at
        most ``render.max_pixels``) before anything is rendered; ``smap`` None: checks only."""
        c2w = check_position(cv.pose_to_matrix(pose, what="camera_pose"), "camera_pose") if use_pose else None
        K = None
        if info.width != 0:
            K, H, W = cv.camera_info_to_K(info)
            if H * W > self.p["render.max_pixels"]:
                raise UserError(f"requested {W}x{H} = {H * W} pixels is more than render.max_pixels = "
                                f"{self.p['render.max_pixels']}")
        if smap is None:
            return None
        default = self._default_view(smap) if (c2w is None or K is None) else None
        if K is None:
            K, H, W = default.K, default.H, default.W
        return View(K, default.c2w if c2w is None else c2w, H, W)

    def _deadline(self, name: str) -> float | None:
        s = self.p[name]
        return time.monotonic() + s if s > 0 else None

    @staticmethod
    @contextmanager
    def _exclusive(lock: threading.Lock, what: str):
        """Hold ``lock`` for one {what}; refuse (UserError) when another one holds it."""
        if not lock.acquire(blocking=False):
            raise UserError(f"another {what} is running; send this one when it has finished")
        try:
            yield
        finally:
            lock.release()
