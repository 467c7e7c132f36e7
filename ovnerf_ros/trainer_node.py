"""Trainer/server node: the Train action, query and render services, RViz outputs.

- ``/ovnerf/train`` (ovnerf_msgs/action/Train): preprocessing + two-stage training of the scene
  store under ``output_dir`` in a worker thread (:mod:`ovnerf_ros.training_job`); feedback every
  ``feedback_period`` s (≤ 1 s); cancel stops between iterations; one goal at a time (others
  rejected). A run trains into its own checkpoint and is served only when it finishes; a
  cancelled or failed goal keeps serving the previous model.
- ``/ovnerf/query`` (Query.srv), ``/ovnerf/render`` (RenderView.srv): answered from the served
  checkpoint (:class:`ovnerf.query.SemanticMap`) while training goes on. Query, render and the
  cloud each have their own callback group (MultiThreadedExecutor), so a long render never
  delays a query; requests are validated before they queue for anything, and a second render
  (query) while one runs is refused at once (busy) instead of waiting. Requests larger than ``render.max_pixels`` are refused; a render / query still
  running after ``render.deadline`` / ``query.deadline`` s stops between ray chunks and answers
  success=False. Every number of a request is validated first (intrinsics, pose, threshold,
  max_points); error messages are cut to a few hundred characters.
- ``/ovnerf/load_checkpoint`` and ``/ovnerf/publish_cloud`` (std_srvs/Trigger).
- Topics: ``/ovnerf/semantic_image`` (rgb8), ``/ovnerf/relevancy_image`` (32FC1),
  ``/ovnerf/query_mask`` (mono8), ``/ovnerf/field_cloud`` (PointCloud2, class colours),
  ``/ovnerf/query_markers`` (MarkerArray), ``/ovnerf/training_status`` (TrainingStatus),
  ``/diagnostics``.

Every request error is answered with ``success=False`` and the reason; nothing here lets an
exception escape a callback.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile
from sensor_msgs.msg import Image, PointCloud2
from std_srvs.srv import Trigger
from visualization_msgs.msg import MarkerArray

from ovnerf.app.run import RunSpec
from ovnerf.app.workspace import Workspace
from ovnerf.errors import NotTrainedError, UserError
from ovnerf.query import SemanticMap
from ovnerf.scene.input_checks import check_unit_interval, clip_message
from ovnerf_msgs.action import Train
from ovnerf_msgs.msg import TrainingStatus
from ovnerf_msgs.srv import Query, RenderView
from ovnerf_ros import conversions as cv
from ovnerf_ros.parameters import Parameters
from ovnerf_ros.service_requests import ServiceRequestsMixin
from ovnerf_ros.trainer_outputs import TrainerOutputsMixin, fill_query_response, fill_render_response
from ovnerf_ros.training_job import TrainingJob, run_spec

LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)


class TrainerNode(ServiceRequestsMixin, TrainerOutputsMixin, Node):
    def __init__(self, node_name: str = "ovnerf_trainer", defaults: dict | None = None, **kwargs):
        super().__init__(node_name, **kwargs)
        self.p = Parameters(self, ("trainer",), defaults)
        self.ws = Workspace(self.p["output_dir"])
        self.output_dir, self.scene_dir = self.ws.root, self.ws.scene_dir
        self._lock = threading.Lock()          # guards smap / checkpoint / busy
        self.smap: SemanticMap | None = None
        self.checkpoint = ""
        self.busy = False
        self.job = TrainingJob(self.ws, self.get_logger())

        train_group = ReentrantCallbackGroup()
        query_group, render_group = ReentrantCallbackGroup(), ReentrantCallbackGroup()   # one at a time: _exclusive
        cloud_group, misc_group = MutuallyExclusiveCallbackGroup(), MutuallyExclusiveCallbackGroup()
        self._query_lock, self._render_lock = threading.Lock(), threading.Lock()
        self.action = ActionServer(self, Train, "/ovnerf/train", execute_callback=self._execute,
                                   goal_callback=self._on_goal, cancel_callback=lambda _: CancelResponse.ACCEPT,
                                   callback_group=train_group)
        self.create_service(Query, "/ovnerf/query", self._on_query, callback_group=query_group)
        self.create_service(RenderView, "/ovnerf/render", self._on_render, callback_group=render_group)
        self.create_service(Trigger, "/ovnerf/load_checkpoint", self._on_load, callback_group=misc_group)
        self.create_service(Trigger, "/ovnerf/publish_cloud", self._on_publish_cloud, callback_group=cloud_group)
        self.pub_semantic = self.create_publisher(Image, "/ovnerf/semantic_image", 2)
        self.pub_relevancy = self.create_publisher(Image, "/ovnerf/relevancy_image", 2)
        self.pub_mask = self.create_publisher(Image, "/ovnerf/query_mask", 2)
        self.pub_cloud = self.create_publisher(PointCloud2, "/ovnerf/field_cloud", LATCHED)
        self.pub_markers = self.create_publisher(MarkerArray, "/ovnerf/query_markers", LATCHED)
        self.pub_status = self.create_publisher(TrainingStatus, "/ovnerf/training_status", 10)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(self.p["publish.status_period"], self._publish_status, callback_group=misc_group)
        if self.p["publish.cloud_period"] > 0:
            self.create_timer(self.p["publish.cloud_period"], self._publish_cloud_safe, callback_group=cloud_group)
        self._load_initial()
        self.get_logger().info(f"serving /ovnerf/train, /ovnerf/query, /ovnerf/render on {self.output_dir} "
                               f"(model: {self.checkpoint or 'none yet'})")

    @property
    def state(self) -> str:
        return self.job.state

    @property
    def message(self) -> str:
        return self.job.message

    # ------------------------------------------------------------------ model
    def _load_initial(self) -> None:
        path = self.p["checkpoint"] or self.ws.latest_checkpoint()
        if not path:
            return
        try:
            self._load(Path(path))
        except UserError as exc:
            self.job.state, self.job.message = "error", f"cannot serve checkpoint: {exc}"
            self.get_logger().error(self.job.message)

    def _load(self, path: Path) -> None:
        smap = SemanticMap.load(path, device=self.p["device"])
        with self._lock:
            smap.adopt_text_encoder(self.smap)  # same encoder record: keep the built one + its cache
        if not smap.views:
            smap.views = self._store_views()
        with self._lock:
            self.smap, self.checkpoint = smap, str(path)
        self.job.served(path)

    def _require_map(self) -> SemanticMap:
        with self._lock:
            smap = self.smap
        if smap is None:
            raise NotTrainedError("no trained model yet: run the /ovnerf/train action or /ovnerf/load_checkpoint")
        return smap

    # ------------------------------------------------------------------ training
    def _on_goal(self, goal) -> GoalResponse:
        with self._lock:
            if self.busy:
                self.get_logger().warning("train goal rejected: a training run is already active")
                return GoalResponse.REJECT
            self.busy = True
        return GoalResponse.ACCEPT

    def job_spec(self, g: Train.Goal) -> RunSpec:
        return run_spec(g, self.p)

    def _execute(self, goal_handle) -> Train.Result:
        def finished():
            with self._lock:
                self.busy = False
        return self.job.execute(goal_handle, self.job_spec(goal_handle.request), self.p["feedback_period"],
                                lambda path: self._load(Path(path)), finished, lambda: self.checkpoint)

    # ------------------------------------------------------------------ services
    def _on_query(self, req: Query.Request, resp: Query.Response) -> Query.Response:
        return self._answer(resp, lambda: self._query(req, resp))

    def _on_render(self, req: RenderView.Request, resp: RenderView.Response) -> RenderView.Response:
        return self._answer(resp, lambda: self._render(req, resp))

    def _query(self, req: Query.Request, resp: Query.Response) -> None:
        t0 = time.time()
        deadline = self._deadline("query.deadline")
        text = req.text.strip()
        if not text:
            raise UserError("query text is empty")
        if len(text) > 200 or len(req.negatives) > 64:
            raise UserError(f"query too long ({len(text)} characters, {len(req.negatives)} negatives; "
                            f"at most 200 and 64)")
        thr = self.p["query.threshold"] if req.threshold == 0 else check_unit_interval(req.threshold, "threshold")
        if not 0.0 < thr < 1.0:
            raise UserError(f"threshold {thr} must be in (0, 1) (0 = the node's query.threshold)")
        if req.max_points > 1_000_000:
            raise UserError(f"max_points {req.max_points} is more than 1000000")
        self._request_view(None, req.camera_pose, req.camera_info, req.use_pose)   # validate first
        with self._exclusive(self._query_lock, "query"):
            self._run_query(req, resp, text, thr, deadline, t0)

    def _run_query(self, req, resp, text: str, thr: float, deadline, t0: float) -> None:
        smap = self._require_map()
        view = self._request_view(smap, req.camera_pose, req.camera_info, req.use_pose)
        negatives = [n for n in req.negatives if n.strip()]
        rel = smap.relevancy(text, negatives, view.K, view.c2w, view.H, view.W, threshold=thr, deadline=deadline)
        mask = rel["mask"].astype(np.uint8) * 255
        header = cv.make_header(self.p["map_frame"], self.get_clock().now().to_msg())
        resp.relevancy = cv.array_to_image(rel["relevancy"].astype(np.float32), "32FC1", header)
        resp.mask = cv.array_to_image(mask, "mono8", header)
        self.pub_relevancy.publish(resp.relevancy)
        self.pub_mask.publish(resp.mask)
        max_points = int(req.max_points) or self.p["query.max_points"]
        loc = smap.localize(text, negatives, threshold=thr, max_points=max_points,
                            max_views=self.p["query.max_views"], max_side=self.p["query.max_side"],
                            standoff=self.p["query.standoff"], ground_z=self.p["query.ground_z"],
                            deadline=deadline)
        fill_query_response(resp, loc, header)
        self.pub_markers.publish(cv.query_markers(text, loc.centroid, loc.aabb_min, loc.aabb_max,
                                                  loc.nav_goal, header))
        resp.success = True
        resp.message = (f"'{text}': {loc.points.shape[0]} points from {loc.views_used} views, "
                        f"score {loc.score:.2f}, {time.time() - t0:.2f} s")

    def _render(self, req: RenderView.Request, resp: RenderView.Response) -> None:
        deadline = self._deadline("render.deadline")
        self._request_view(None, req.camera_pose, req.camera_info, True)   # validate first
        smap = self._require_map()
        view = self._request_view(smap, req.camera_pose, req.camera_info, True)
        with self._exclusive(self._render_lock, "render"):
            out = smap.render(view.K, view.c2w, view.H, view.W, deadline=deadline)
        header = cv.make_header(self.p["map_frame"], self.get_clock().now().to_msg())
        fill_render_response(resp, out, smap.class_names, header)
        self.pub_semantic.publish(resp.labels_color)
        resp.success, resp.message = True, f"rendered {view.W}x{view.H}"

    def _on_load(self, request, response):
        path = self.p["checkpoint"] or self.ws.latest_checkpoint()
        if not path:
            response.success, response.message = False, f"no checkpoint under {self.ws.checkpoint_dir}"
            return response
        try:
            self._load(Path(path))
            response.success, response.message = True, f"loaded {path}"
        except UserError as exc:
            response.success, response.message = False, clip_message(exc)
        return response
