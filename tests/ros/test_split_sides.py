"""Collector and trainer as separate processes (robot side / training side) over DDS, sharing the
dataset directory: keyframes published to the collector process show up in the trainer
process's /ovnerf/training_status, and /ovnerf/save_dataset reports them."""
import json

import numpy as np
import yaml
from std_srvs.srv import Trigger

from ovnerf_msgs.msg import TrainingStatus

from ros_harness import Harness, pose, texture, wait_for


def test_collector_and_trainer_processes(tmp_path, spawn_ros_process):
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump({"/**": {"ros__parameters": {"output_dir": str(tmp_path / "run"),
                                                                   "publish": {"status_period": 0.2}}}}))
    for side in ("collector", "trainer"):
        spawn_ros_process(["-m", "ovnerf_ros.main", side, "--print-ready", "--exit-on-stdin-close",
                           "--ros-args", "--params-file", str(params)], ready_line="READY", timeout=120)
    h = Harness()
    try:
        status = []
        h.driver.create_subscription(TrainingStatus, "/ovnerf/training_status", status.append, 10)
        h.wait_connected()
        h.send_info()
        for t in np.arange(1.0, 2.01, 0.05):
            h.send_tf(float(t), pose((float(t), 0, 1)))
        for t in (1.1, 1.3, 1.5, 1.7):
            h.send_image(t, texture())
        wait_for(lambda: status and status[-1].num_keyframes == 4, timeout=30, what="trainer sees 4 keyframes")
        assert status[-1].state == "idle" and status[-1].checkpoint == ""
        cl = h.driver.create_client(Trigger, "/ovnerf/save_dataset")
        assert cl.wait_for_service(timeout_sec=10)
        fut = cl.call_async(Trigger.Request())
        wait_for(fut.done, timeout=10, what="save_dataset")
        info = json.loads(fut.result().message)
        assert fut.result().success and info["keyframes"] == 4 and info["keyframes_added"] == 4
    finally:
        h.close()
