"""RViz / monitoring outputs of the trainer node (mixed into :class:`ovnerf_ros.trainer_node.TrainerNode`):
the class-coloured ``/ovnerf/field_cloud`` (timer and ``/ovnerf/publish_cloud``) and
``/ovnerf/training_status`` + ``/diagnostics`` (keyframe count read through the store, so frames
still in its journal count)."""
from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from ovnerf.errors import UserError
from ovnerf.query import class_palette
from ovnerf.scene.input_checks import clip_message
from ovnerf.scene.store import SceneStore
from ovnerf_msgs.msg import TrainingStatus
from ovnerf_ros import conversions as cv
from ovnerf_ros.training_job import finite


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
