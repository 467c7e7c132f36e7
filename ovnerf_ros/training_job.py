"""The Train action: a goal and the live ``training.*`` parameters → :class:`ovnerf.app.run.RunSpec`
→ :func:`ovnerf.app.run.run` (preprocess → train → evaluate over the node's workspace) in a
worker thread; feedback while it runs, cancel between views / iterations.

No numerics and no option parsing here: the run path and the ``key=value`` parser are the core's
(:mod:`ovnerf.app`); the ``training.<field>`` parameters reach TrainConfig generically
(:func:`ovnerf_ros.parameters.train_values`).
"""
from __future__ import annotations

import json
import threading
import time
import traceback
from typing import Callable

import numpy as np

from ovnerf.app.run import RunResult, RunSpec, Stopped, run
from ovnerf.app.workspace import Workspace
from ovnerf.errors import UserError
from ovnerf.scene.input_checks import clip_message
from ovnerf_msgs.action import Train
from ovnerf_ros.parameters import Parameters, train_values


def run_spec(goal: Train.Goal, p: Parameters) -> RunSpec:
    """The run of goal ``goal``: its fields, else the live ``training.*`` parameters."""
    return RunSpec(vocabulary=list(goal.vocabulary) or p["training.vocabulary"],
                   preset=goal.preset or p["training.preset"],
                   iterations=int(goal.iterations) or p["training.iterations"],
                   use_rsr=bool(goal.use_rsr), use_cse=bool(goal.use_cse), resume=bool(goal.resume),
                   train=train_values(p), options=clip_options(p) + list(p["training.options"]),
                   backend=p["training.backend"],
                   device=p["device"])


def clip_options(p: Parameters) -> list[str]:
    """``foundation.clip_*=value`` overrides from the non-empty training.clip_model / clip_pretrained /
    clip_checkpoint parameters (training.options, listed after them, still win)."""
    return [f"foundation.{k}={p['training.' + k]}" for k in ("clip_model", "clip_pretrained", "clip_checkpoint")
            if str(p["training." + k]).strip()]


def finite(x: float, default: float = 0.0) -> float:
    return float(x) if x is not None and np.isfinite(x) else default


class TrainingJob:
    """One Train goal at a time: progress for feedback / status, the worker thread, the result."""

    def __init__(self, workspace: Workspace, logger):
        self.ws = workspace
        self.log = logger
        self.state, self.message = "idle", ""
        self.serving = False                   # a model is being served (by the node)
        self.progress = {"stage": "", "iteration": 0, "total": 0, "losses": {}, "psnr": float("nan"),
                         "eta_s": float("nan"), "message": ""}

    def served(self, path) -> None:
        self.serving = True
        self.state, self.message = "ready", f"serving {path}"

    def report(self, stage, iteration, total, losses, psnr, eta_s, message="") -> None:
        self.progress = {"stage": stage, "iteration": int(iteration), "total": int(total),
                         "losses": dict(losses), "psnr": psnr, "eta_s": eta_s, "message": message}
        self.state = "preprocessing" if stage == "preprocess" else "training"

    def feedback(self) -> Train.Feedback:
        pr = self.progress
        fb = Train.Feedback(stage=pr["stage"], iteration=pr["iteration"], total_iterations=pr["total"],
                            loss=finite(pr["losses"].get("total", float("nan"))), psnr=finite(pr["psnr"]),
                            eta_s=finite(pr["eta_s"], -1.0))
        fb.losses_json = json.dumps({k: finite(v) for k, v in pr["losses"].items()})
        return fb

    def execute(self, goal_handle, spec: RunSpec, period: float, serve: Callable[[str], None],
                finished: Callable[[], None], served_path: Callable[[], str] = lambda: "") -> Train.Result:
        """Run ``spec`` in a worker thread, publishing feedback every ``period`` s; ``serve(path)``
        loads the new checkpoint when the run finished (promoted), ``finished()`` runs before the
        goal ends (succeed / canceled / abort); ``served_path()`` names the model served so far
        (said in the message of a cancelled / failed goal). The result's ``iterations_done`` is the
        model's total; its message also gives the iterations run by this goal."""
        result = Train.Result()
        stop = threading.Event()
        out: dict = {}

        def work():
            try:
                out["result"] = run(self.ws, spec, self.report, stop.is_set)
            except Stopped:
                out["error"] = "cancelled during preprocessing"
            except UserError as exc:
                out["error"] = str(exc)
            except Exception as exc:  # noqa: BLE001 - reported, the node stays up
                out["error"] = f"training failed: {type(exc).__name__}: {exc}"
                self.log.error(traceback.format_exc())

        self.progress.update(stage="preprocess", iteration=0, total=0, message="")
        self.state, self.message = "preprocessing", "training started"
        worker = threading.Thread(target=work, name="ovnerf-train", daemon=True)
        t0 = time.time()
        worker.start()
        while worker.is_alive():
            if goal_handle.is_cancel_requested and not stop.is_set():
                stop.set()
                self.log.info("cancel requested: stopping after the current iteration")
            goal_handle.publish_feedback(self.feedback())
            worker.join(timeout=period)
        res: RunResult | None = out.get("result")
        result.duration_s = float(time.time() - t0)
        previous = served_path() or "no model"
        if res is not None and res.promoted:      # only a finished run replaces the served model
            try:
                serve(res.checkpoint)
            except UserError as exc:
                self.log.error(f"trained checkpoint cannot be served: {exc}")
        if res is not None:
            result.checkpoint, result.iterations_done = res.checkpoint, res.iterations_done
            result.psnr, result.miou, result.macc = finite(res.psnr), finite(res.miou), finite(res.macc)
        finished()
        if "error" in out:
            result.success, result.message = False, clip_message(f"{out['error']}; still serving {previous}")
            self.state, self.message = ("ready" if self.serving else "error"), result.message
            goal_handle.canceled() if goal_handle.is_cancel_requested else goal_handle.abort()
            return result
        if not res.promoted:                      # stopped by a cancel
            result.success = False
            result.message = (f"cancelled after {res.iterations_run} iterations in this goal (model at "
                              f"{res.iterations_done}/{res.total}); partial checkpoint {res.checkpoint} not "
                              f"served; still serving {previous}")
            goal_handle.canceled()
        else:
            result.success = True
            result.message = (f"trained {res.iterations_run} iterations in this goal ({res.iterations_done} in "
                              f"total) in {result.duration_s:.0f} s; serving {res.checkpoint}")
            goal_handle.succeed()
        self.message = result.message
        self.progress["stage"] = "done" if result.success else self.progress["stage"]
        return result
