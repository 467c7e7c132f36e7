"""RViz / monitoring outputs of the trainer node (mixed into :class:`ovnerf_ros.trainer_node.TrainerNode`):
the class-coloured ``/ovnerf/field_cloud`` (timer and ``/ovnerf/publish_cloud``) and
``/ovnerf/training_status`` + ``/diagnostics`` (keyframe count read through the store, so frames
still in its journal count); and the Query / RenderView responses filled from the core's results
(:func:`fill_query_response`, :func:`fill_render_response`)."""
from __future__ import annotations

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from std_msgs.msg import ColorRGBA

from ovnerf.errors import UserError
from ovnerf.query import class_palette, colorize_labels
from ovnerf.scene.input_checks import clip_message
from ovnerf.scene.store import SceneStore
from ovnerf_msgs.msg import ClassColor, TrainingStatus
from ovnerf_ros import conversions as cv
from ovnerf_ros.training_job import finite


def fill_query_response(resp, loc, header) -> None:
    """The 3D part of a Query response from a :class:`ovnerf.query.Localization`."""
    resp.score = float(loc.score)
    resp.centroid = cv.point(loc.centroid)
    resp.bbox_min, resp.bbox_max = cv.vector3(loc.aabb_min), cv.vector3(loc.aabb_max)
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = loc.obb_rotation, loc.obb_center
    resp.bbox_pose = cv.matrix_to_pose(T)
    resp.bbox_size = cv.vector3(loc.obb_size)
    resp.points = cv.points_to_cloud(loc.points, None, header)
    resp.nav_goal = cv.matrix_to_pose_stamped(loc.nav_goal, header)
    resp.grasps = cv.matrices_to_pose_array(loc.grasps, header)


def fill_render_response(resp, out: dict, class_names: list[str], header) -> None:
    """A RenderView response from ``SemanticMap.render``'s images (labels -1 → 65535)."""
    pal = class_palette(len(class_names))
    lab16 = np.where(out["labels"] < 0, 65535, out["labels"]).astype(np.uint16)
    resp.rgb = cv.array_to_image(out["rgb"], "rgb8", header)
    resp.depth = cv.array_to_image(out["depth"].astype(np.float32), "32FC1", header)
    resp.labels = cv.array_to_image(lab16, "mono16", header)
    resp.labels_color = cv.array_to_image(colorize_labels(out["labels"], pal), "rgb8", header)
    resp.legend = [ClassColor(class_id=i, name=n, color=ColorRGBA(r=pal[i, 0] / 255.0, g=pal[i, 1] / 255.0,
                                                                  b=pal[i, 2] / 255.0, a=1.0))
                   for i, n in enumerate(class_names)]


class TrainerOutputsMixin:
    """Needs on the node: ``p``, ``pub_cloud``, ``pub_status``, ``pub_diag``, ``job`` (progress,
    state, message), ``checkpoint``, ``scene_dir``, ``output_dir``, ``_require_map()``."""

    def _publish_cloud(self) -> int:
        smap = self._require_map()
        pts, lab = smap.field_cloud(n=self.p["publish.cloud_points"])
        pal = class_palette(len(smap.class_names))
        header = cv.make_header(self.p["map_frame"], self.get_clock().now().to_msg())
        self.pub_cloud.publish(cv.points_to_cloud(pts, pal[lab] if len(pal) else None, header))
        return int(pts.shape[0])

    def _publish_cloud_safe(self) -> None:
        try:
            self._publish_cloud()
        except UserError:
            pass

    def _on_publish_cloud(self, request, response):
        try:
            n = self._publish_cloud()
            response.success, response.message = True, f"published {n} points on /ovnerf/field_cloud"
        except UserError as exc:
            response.success, response.message = False, clip_message(exc)
        return response

    # ------------------------------------------------------------------ status
    def _publish_status(self) -> None:
        pr, state, message = self.job.progress, self.job.state, self.job.message
        try:
            n_kf = len(SceneStore(self.scene_dir, create=False))   # transforms.json + the journal
        except UserError:
            n_kf = 0
        stamp = self.get_clock().now().to_msg()
        msg = TrainingStatus(header=cv.make_header(self.p["map_frame"], stamp), state=state,
                             stage=pr["stage"], iteration=pr["iteration"], total_iterations=pr["total"],
                             loss=finite(pr["losses"].get("total", float("nan"))), psnr=finite(pr["psnr"]),
                             eta_s=finite(pr["eta_s"], -1.0), num_keyframes=n_kf, checkpoint=self.checkpoint,
                             message=message)
        self.pub_status.publish(msg)
        st = DiagnosticStatus(name="ovnerf: trainer", hardware_id=str(self.output_dir), message=f"{state}: {message}")
        st.level = DiagnosticStatus.ERROR if state == "error" else DiagnosticStatus.OK
        st.values = [KeyValue(key="state", value=state), KeyValue(key="checkpoint", value=self.checkpoint),
                     KeyValue(key="iteration", value=str(pr["iteration"])), KeyValue(key="keyframes", value=str(n_kf))]
        self.pub_diag.publish(DiagnosticArray(header=cv.make_header("", stamp), status=[st]))
