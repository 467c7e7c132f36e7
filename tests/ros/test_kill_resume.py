"""Kill -9 the trainer node during training, restart it: the dataset is intact, the last
checkpoint loads, and a resumed Train goal continues from that checkpoint's iteration."""
import signal

import numpy as np
import pytest
import yaml

from ovnerf.checkpoint import load_checkpoint
from ovnerf.scene.store import SceneStore
from ovnerf_msgs.action import Train
from ovnerf_msgs.srv import Query

from ros_harness import Harness, wait_for

ITERS = 40
VOCAB = ["wall", "floor", "table", "chair"]


def params_file(path, out_dir):
    p = {"output_dir": str(out_dir),
         "training": {"vocabulary": VOCAB, "iterations": ITERS,
                      "options": ["foundation.sam=none", "foundation.dino=none", "batch_rays=256",
                                  "stage1_iters=1000", "checkpoint_every=5"]}}
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": p}}))
    return path


def start(spawn, params):
    return spawn(["-m", "ovnerf_ros.main", "trainer", "--print-ready", "--exit-on-stdin-close",
                  "--ros-args", "--params-file", str(params)], ready_line="READY", timeout=120)


def send_goal(h, resume, feedback):
    from rclpy.action import ActionClient
    # After a kill -9 the dead server's endpoints linger in DDS discovery until their lease
    # expires, so wait_for_server() can succeed on the stale entry and the first request be
    # lost before the new server has matched. Resend (the server rejects a goal while busy,
    # so a late duplicate can never start a second run).
    for attempt in range(4):
        client = ActionClient(h.driver, Train, "/ovnerf/train")
        assert client.wait_for_server(timeout_sec=30)
        fut = client.send_goal_async(Train.Goal(resume=resume, use_rsr=True, use_cse=False),
                                     feedback_callback=lambda f: feedback.append(f.feedback))
        try:
            wait_for(fut.done, timeout=30, what="goal accepted")
        except AssertionError:
            if attempt == 3:
                raise
            continue
        assert fut.result().accepted
        return client, fut.result()


@pytest.mark.timeout(900)
def test_kill9_during_training_then_resume(tmp_path, spawn_ros_process):
    from ovnerf.synthetic.generate import generate_room_scene
    generate_room_scene(tmp_path / "run" / "scene", seed=2, width=48, height=36, n_frames=12)
    before = SceneStore(tmp_path / "run" / "scene", create=False)
    names, images = before.names(), [f.image.copy() for f in before.frames()]
    params = params_file(tmp_path / "p.yaml", tmp_path / "run")
    h = Harness()
    try:
        node = start(spawn_ros_process, params)
        feedback = []
        client, gh = send_goal(h, False, feedback)
        wait_for(lambda: any(f.stage == "stage1" for f in feedback), timeout=300, period=0.2, what="stage1")
        # the node keeps serving while it trains (separate callback groups, multi-threaded executor)
        q = h.driver.create_client(Query, "/ovnerf/query")
        assert q.wait_for_service(timeout_sec=10)
        fut = q.call_async(Query.Request(text="table"))
        wait_for(fut.done, timeout=60, what="query during training")
        assert not fut.result().success and "no trained model" in fut.result().message
        wait_for(lambda: any(f.stage == "stage1" and f.iteration >= 12 for f in feedback), timeout=600,
                 period=0.2, what="iteration 12")
        node.send_signal(signal.SIGKILL)                      # kill -9 in the middle of training
        node.wait(timeout=30)
        assert node.returncode == -signal.SIGKILL

        after = SceneStore(tmp_path / "run" / "scene", create=False)
        assert after.names() == names
        assert all(np.array_equal(a, f.image) for a, f in zip(images, after.frames()))
        assert not (tmp_path / "run" / "checkpoints" / "checkpoint.pt").exists()   # unfinished: not served
        partial, = (tmp_path / "run" / "checkpoints" / "runs").glob("*/checkpoint.pt")
        ck = load_checkpoint(partial, build=False)
        saved = int(ck["iteration"])
        assert saved >= 5 and saved % 5 == 0

        node2 = start(spawn_ros_process, params)             # restart: serves the checkpoint, resumes
        feedback2 = []
        client2, gh2 = send_goal(h, True, feedback2)
        res = gh2.get_result_async()
        wait_for(res.done, timeout=600, period=0.5, what="resumed training")
        result = res.result().result
        assert result.success, result.message
        assert result.iterations_done == ITERS
        first = [f.iteration for f in feedback2 if f.stage == "stage1"][0]
        assert first >= saved, (first, saved)                 # continued, not restarted from 0
        assert int(load_checkpoint(result.checkpoint, build=False)["iteration"]) == ITERS
        assert result.checkpoint == str(tmp_path / "run" / "checkpoints" / "checkpoint.pt")   # finished: served
        assert f"trained {ITERS - saved} iterations in this goal ({ITERS} in total)" in result.message
        print(f"\n[kill-9] killed at >= 12 of {ITERS} iterations; checkpoint at {saved}; resumed from {first}")
        node2.stdin.close()
    finally:
        h.close()
