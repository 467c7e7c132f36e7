"""End to end over DDS (the issue's "done when"), RGB-D: a player process publishes the demo bag
(colour images + aligned 16UC1 depth + camera_info + /tf + /tf_static, plus the simulated
semantic camera the simulated CLIP teacher needs) -> the mapping node (separate process,
collector + trainer, ``depth_topic`` set) stores keyframes with their depth (equal to the room's
rendered depth within 1 mm; every keyframe counted in ``keyframes_with_depth``) -> the Train
action runs a small CPU schedule with feedback whose losses carry the depth and free-space terms
(training.depth_weight / free_space_weight, recorded in the checkpoint's train_config) ->
/ovnerf/query "table" returns a mask and a centroid within 0.6 m of the true table centre
(room.json) -> /ovnerf/render returns images of the requested sizes. Prints end-to-end time,
query latency and the node's peak memory. (RGB-only training through the Train action:
tests/ros/test_train_rgb_only.py.)
"""
import json
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from ovnerf.checkpoint import load_checkpoint
from ovnerf.scene.store import SceneStore
from ovnerf_msgs.action import Train
from ovnerf_msgs.srv import Query, RenderView
from ovnerf_ros import conversions as cv
from std_srvs.srv import Trigger

from ros_harness import Harness, wait_for

HERE = Path(__file__).resolve().parent
DEPTH_TOPIC = "/camera/depth/image_raw"                    # ovnerf.synthetic.bag_export.DEPTH_TOPIC
ITERATIONS = 360
TABLE_TOLERANCE_M = 0.6
VOCAB = ["wall", "floor", "table", "chair", "sofa", "cabinet"]


def write_params(path, out_dir, classes, extra=None):
    params = {
        "output_dir": str(out_dir), "labels_topic": "/camera/semantic/labels", "class_names": list(classes),
        "depth_topic": DEPTH_TOPIC,
        "pose_timeout": 3.0,
        "keyframe": {"min_translation": 0.05, "min_rotation_deg": 5.0},
        "training": {"vocabulary": VOCAB, "iterations": ITERATIONS,
                          # a small field and schedule (as tests/training/test_semantic_fit.py): minutes on 2 cores
                     "options": ["foundation.sam=none", "foundation.dino=none", "foundation.sim_dim=64",
                                 "foundation.sim_patch=4", "field.n_voxels_init=4096", "field.n_voxels_final=64000",
                                 "field.max_samples=48", "upsample_iters=[80,160]", "alpha_mask_iters=[120]",
                                 "geometry_warmup_frac=0.2", "batch_rays=512", "stage1_iters=260",
                                 "cse_every=50", "cse_novel_views=2", "checkpoint_every=100"]},
        "query": {"max_side": 48, "max_views": 24},
        "render": {"max_side": 64},
    }
    params.update(extra or {})
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
    return path


def peak_rss_mb(pid) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from ovnerf.synthetic.bag_export import export_bag
    from ovnerf.synthetic.generate import generate_room_scene, load_room_info
    root = tmp_path_factory.mktemp("e2e")
    scene = generate_room_scene(root / "demo", seed=0, width=64, height=48, n_frames=24)
    bag = export_bag(scene, root / "bag")
    return scene, bag, load_room_info(scene)


@pytest.mark.timeout(2100)
def test_bag_to_query_end_to_end(demo, tmp_path, spawn_ros_process):
    scene, bag, room = demo
    t0 = time.time()
    table = [i for i in room["instances"] if i["class"] == "table"][0]
    centre = np.asarray(table.get("centre", table.get("center")), dtype=np.float64)
    params = write_params(tmp_path / "params.yaml", tmp_path / "run", room["classes"])
    node = spawn_ros_process(["-m", "ovnerf_ros.main", "all", "--print-ready", "--exit-on-stdin-close",
                              "--ros-args", "--params-file", str(params)], ready_line="READY", timeout=120)
    h = Harness()
    try:
        player = spawn_ros_process([str(HERE / "bag_player.py"), str(bag), "--rate", "8",
                                    "--labels-scene", str(scene), "--wait-depth"])
        out, err = player.communicate(timeout=180)
        assert player.returncode == 0 and "DONE 24 24" in out, (out, err[-2000:])
        run_scene = tmp_path / "run" / "scene"
        wait_for(lambda: (run_scene / "transforms.json").exists() and len(SceneStore(run_scene, create=False)) >= 10,
                 timeout=30, what="keyframes on disk")
        time.sleep(2.0)
        store = SceneStore(run_scene, create=False)
        n_kf = len(store)
        assert all(f.labels is not None for f in store.frames())
        t_collect = time.time() - t0

        # ---- every keyframe carries its depth: the room's rendered depth (bag: 16UC1 mm), 1 mm
        truth = {round(f.timestamp, 6): f.depth for f in SceneStore(scene, create=False).frames()}
        depth_err_mm = 0.0
        for f in store.frames():
            gt = truth[round(f.timestamp, 6)]
            assert f.depth is not None and f.depth.shape == gt.shape == (48, 64), f.name
            known = gt > 0
            assert known.mean() > 0.9 and np.array_equal(f.depth > 0, known), f.name
            depth_err_mm = max(depth_err_mm, float(np.abs(f.depth[known] - gt[known]).max()) * 1000.0)
        assert depth_err_mm <= 1.0, depth_err_mm
        save = h.driver.create_client(Trigger, "/ovnerf/save_dataset")
        assert save.wait_for_service(timeout_sec=10)
        fut = save.call_async(Trigger.Request())
        wait_for(fut.done, timeout=10, what="save_dataset")
        status = json.loads(fut.result().message)
        assert status["keyframes"] == n_kf and status["keyframes_with_depth"] == n_kf, status
        assert not any(k.startswith("rejected_depth") for k in status), status

        # ---- train (action) with feedback
        from rclpy.action import ActionClient
        client = ActionClient(h.driver, Train, "/ovnerf/train")
        assert client.wait_for_server(timeout_sec=30)
        feedback = []
        goal = Train.Goal(use_rsr=True, use_cse=True, resume=False)
        t_train = time.time()
        send = client.send_goal_async(goal, feedback_callback=lambda f: feedback.append((time.time(), f.feedback)))
        wait_for(send.done, timeout=30, what="goal accepted")
        gh = send.result()
        assert gh.accepted
        res_fut = gh.get_result_async()
        wait_for(res_fut.done, timeout=1500, period=0.5, what="training result")
        result = res_fut.result().result
        train_s = time.time() - t_train
        assert result.success, result.message
        assert result.iterations_done == ITERATIONS and Path(result.checkpoint).is_file()
        stages = {f.stage for _, f in feedback}
        assert {"preprocess", "stage1"} <= stages, stages
        train_fb = [f for _, f in feedback if f.stage.startswith("stage")]
        assert train_fb[-1].iteration > 0 and json.loads(train_fb[-1].losses_json)
        # the depth supervision is on: L1 z-depth and free-space terms in every training step's losses
        losses = [json.loads(f.losses_json) for f in train_fb if f.iteration > 0]   # iteration 0: none yet
        assert losses and all({"depth", "free"} <= set(l) for l in losses), losses[:3]
        depth_first, depth_last = losses[0]["depth"], losses[-1]["depth"]
        assert np.isfinite(depth_last) and depth_last < depth_first, (depth_first, depth_last)
        tc = load_checkpoint(result.checkpoint, build=False)["train_config"]
        assert tc["depth_weight"] > 0 and tc["free_space_weight"] > 0, tc
        # ~2 feedback messages per second (feedback_period 0.5 s): at least 1 per 2 s of training
        assert len(feedback) >= train_s / 2.0

        # ---- query "table" at the 3 keyframes that see most of it
        table_id = room["classes"].index("table")                  # store labels use the room's ids
        views = sorted(store.frames(), key=lambda f: -int((f.labels == table_id).sum()))[:3]
        cl = h.driver.create_client(Query, "/ovnerf/query")
        assert cl.wait_for_service(timeout_sec=10)
        ious, latencies = [], []
        for f in views:
            tq = time.time()
            fut = cl.call_async(Query.Request(text="table", use_pose=True, camera_pose=cv.matrix_to_pose(f.c2w)))
            wait_for(fut.done, timeout=120, what="query")
            latencies.append(time.time() - tq)
            r = fut.result()
            assert r.success, r.message
            mask = cv.image_to_array(r.mask) == 255
            assert mask.shape == (48, 64) and r.relevancy.encoding == "32FC1"
            gt = f.labels == table_id
            ious.append((mask & gt).sum() / max((mask | gt).sum(), 1))
        best = views[int(np.argmax(ious))]
        iou, query_s = max(ious), float(np.mean(latencies))
        assert iou > 0.2, ious                                     # the mask covers the table
        c = np.array([r.centroid.x, r.centroid.y, r.centroid.z])
        dist = float(np.linalg.norm(c - centre))
        print(f"\n[e2e] table centroid {c.round(3)} vs true centre {centre.round(3)}: {dist:.3f} m; "
              f"mask IoU vs GT {[round(float(i), 2) for i in ious]}; query {latencies} s; train {train_s:.1f} s; {r.message}")
        assert dist < TABLE_TOLERANCE_M, (c, centre)
        assert r.points.width > 0 and r.nav_goal.header.frame_id == "map" and len(r.grasps.poses) >= 1
        empty = h.driver.create_client(Query, "/ovnerf/query").call_async(Query.Request(text=""))
        wait_for(empty.done, timeout=30, what="empty query")
        assert not empty.result().success

        # ---- render: requested intrinsics and the default camera
        rc = h.driver.create_client(RenderView, "/ovnerf/render")
        K = best.K * 0.5
        K[2, 2] = 1.0
        f1 = rc.call_async(RenderView.Request(camera_pose=cv.matrix_to_pose(best.c2w),
                                              camera_info=cv.K_to_camera_info(K, 24, 32)))
        wait_for(f1.done, timeout=60, what="render")
        rr = f1.result()
        assert rr.success, rr.message
        assert (rr.rgb.height, rr.rgb.width) == (24, 32) and (rr.depth.height, rr.depth.width) == (24, 32)
        assert (rr.labels.height, rr.labels.width) == (24, 32) and len(rr.legend) == len(VOCAB)
        f2 = rc.call_async(RenderView.Request(camera_pose=cv.matrix_to_pose(best.c2w)))
        wait_for(f2.done, timeout=60, what="render default camera")
        assert f2.result().success and (f2.result().rgb.height, f2.result().rgb.width) == (48, 64)
        labels = cv.image_to_array(rr.labels)
        assert labels.dtype == np.uint16

        total_s = time.time() - t0
        print(f"\n[e2e] keyframes {n_kf}; collect {t_collect:.1f} s; train {ITERATIONS} it {train_s:.1f} s "
              f"(feedback msgs {len(feedback)}); query latency {query_s:.2f} s; table centroid error "
              f"{dist:.3f} m; mask IoU vs GT {iou:.2f}; psnr {result.psnr:.1f}; test mIoU {result.miou:.2f} "
              f"mAcc {result.macc:.2f}; depth loss {depth_first:.3f} -> {depth_last:.3f} "
              f"(free {losses[0]['free']:.3f} -> {losses[-1]['free']:.3f}); stored depth err {depth_err_mm:.2f} mm; "
              f"node peak RSS {peak_rss_mb(node.pid):.0f} MiB; end-to-end {total_s:.1f} s")
    finally:
        h.close()
