"""RGB-only training through the Train action (over real rclpy + Fast DDS, in-process executor
thread): keyframes without depth (a camera without ``depth_topic``) train with the default
``training.depth_weight`` / ``free_space_weight`` (> 0) as no-ops — the feedback losses carry the
colour and semantic terms but no depth or free-space term — and the result is a servable model.
The RGB-D path is exercised end to end by tests/ros/test_end_to_end.py."""
import json
from pathlib import Path

import pytest

from ovnerf.checkpoint import load_checkpoint
from ovnerf.scene.frames import PosedFrame
from ovnerf.scene.store import SceneStore
from ovnerf_msgs.action import Train
from ovnerf_msgs.srv import RenderView
from ovnerf_ros import conversions as cv

from ros_harness import Harness, defaults, wait_for

ITERS = 20
VOCAB = ["wall", "floor", "table", "chair"]


def rgb_only_scene(tmp_path) -> Path:
    """The demo room's keyframes with labels but without their depth (an RGB camera)."""
    from ovnerf.synthetic.generate import generate_room_scene
    src = SceneStore(generate_room_scene(tmp_path / "demo", seed=1, width=48, height=36, n_frames=6),
                     create=False)
    dst = SceneStore(tmp_path / "run" / "scene")
    dst.set_class_names(src.class_names)
    for f in src.frames():
        dst.add_frame(PosedFrame(f.name, f.image, f.K, f.c2w, f.timestamp, depth=None, labels=f.labels))
    return dst.root


@pytest.mark.timeout(600)
def test_train_action_without_depth(tmp_path):
    from rclpy.action import ActionClient
    from ovnerf_ros.trainer_node import TrainerNode
    scene = rgb_only_scene(tmp_path)
    assert all(f.depth is None for f in SceneStore(scene, create=False).frames())
    h = Harness()
    try:
        node = h.add(TrainerNode(defaults=defaults(**{
            "output_dir": str(tmp_path / "run"), "training.vocabulary": VOCAB, "training.iterations": ITERS,
            "training.options": ["foundation.sam=none", "foundation.dino=none", "foundation.sim_dim=64",
                                 "field.n_voxels_init=4096", "field.n_voxels_final=8000", "field.max_samples=32",
                                 "batch_rays=256", "stage1_iters=12", "cse_every=4", "checkpoint_every=0"],
            "render.max_side": 32}), context=h.context))
        assert node.p["training.depth_weight"] > 0 and node.p["training.free_space_weight"] > 0
        client = ActionClient(h.driver, Train, "/ovnerf/train")
        assert client.wait_for_server(timeout_sec=30)
        feedback = []
        send = client.send_goal_async(Train.Goal(use_rsr=True, use_cse=True, resume=False),
                                      feedback_callback=lambda f: feedback.append(f.feedback))
        wait_for(send.done, timeout=30, what="goal accepted")
        res = send.result().get_result_async()
        wait_for(res.done, timeout=500, period=0.2, what="training result")
        result = res.result().result
        assert result.success, result.message
        assert result.iterations_done == ITERS
        losses = [json.loads(f.losses_json) for f in feedback if f.stage.startswith("stage") and f.iteration > 0]
        assert losses and all("color" in l for l in losses), losses[:3]
        assert not any({"depth", "free"} & set(l) for l in losses), losses[:3]
        tc = load_checkpoint(result.checkpoint, build=False)["train_config"]
        assert tc["depth_weight"] > 0                              # set, but a no-op without depth
        rc = h.driver.create_client(RenderView, "/ovnerf/render")     # the new model is served
        assert rc.wait_for_service(timeout_sec=10)
        c2w = SceneStore(scene, create=False).frames()[0].c2w
        fut = rc.call_async(RenderView.Request(camera_pose=cv.matrix_to_pose(c2w)))
        wait_for(fut.done, timeout=60, what="render")
        r = fut.result()
        assert r.success and (r.rgb.height, r.rgb.width) == (24, 32), r.message
        print(f"\n[rgb-only] {ITERS} it; last losses {losses[-1]}; psnr {result.psnr:.1f}")
    finally:
        h.close()
