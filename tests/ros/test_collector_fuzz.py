"""Fuzz of the mapping node (collector + trainer in one process, ``ovnerf_ros.main all``) over
real DDS, as a robot would stress it (issue #13): a seeded stream of valid frames mixed with bad
ones (unknown encoding, wrong size, stamps in the future or not normalised, duplicates), bursts,
TF arriving late (0-40 ms behind the images), bad TF (NaN, future, inverted edge, a second
parent, /tf_static for the moving camera), an absurd CameraInfo, and a kill -9 in the middle with
a restart. Asserts: the node never dies; every valid frame is stored as a keyframe except the
ones counted as overflow; every bad input is counted under its reason; every stored pose is
within 1 mm / 0.1 deg of the truth; the killed writer's leftovers are removed at restart; and,
while a large render runs, every bad query / render is answered success=False before that
render finishes (plus a generous 10 s bound per answer; the measured latencies are printed).
"""
import json
import signal
import time

import numpy as np
import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import TransformStamped
from ovnerf_msgs.srv import Query, RenderView
from scipy.spatial.transform import Rotation
from std_srvs.srv import Trigger

from ovnerf.scene.store import SceneStore
from ovnerf_ros import conversions as cv
from ovnerf_ros.tf_buffer import TF_STATIC_QOS

from ros_harness import Harness, wait_for
from test_trainer_services import _write_checkpoint, call

CAM = "camera_color_optical_frame"
H, W = 24, 32
K = np.array([[30.0, 0, 16], [0, 30.0, 12], [0, 0, 1]])
T0 = 1000.0
DT = 0.05          # image period (s); the camera moves 2 cm and 0.5 deg per image
TF_DT = 0.01


def truth(t):
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler("z", 10.0 * (t - T0), degrees=True).as_matrix()
    T[:3, 3] = (0.4 * (t - T0), 0.1 * (t - T0), 1.2)
    return T


def image_msg(stamp, seed, encoding="rgb8", size=(H, W)):
    rgb = (np.random.default_rng(seed).random(size + (3,)) * 255).astype(np.uint8)
    if encoding == "rgb8":
        return cv.array_to_image(rgb, "rgb8", cv.make_header(CAM, cv.sec_to_stamp(stamp)))
    msg = cv.array_to_image(rgb, "rgb8", cv.make_header(CAM, cv.sec_to_stamp(stamp)))
    msg.encoding = encoding
    return msg


def tf_msg(h, samples, parent="map", child=CAM):
    out = []
    for stamp, T in samples:
        ts = TransformStamped()
        ts.header = cv.make_header(parent, cv.sec_to_stamp(stamp) if stamp is not None else cv.sec_to_stamp(0))
        ts.child_frame_id = child
        ts.transform = cv.matrix_to_transform(T)
        out.append(ts)
    return h.TFMessage(transforms=out)


class Robot:
    """Publishes the stream and remembers what a correct collector must count."""

    def __init__(self, h, rng):
        self.h, self.rng = h, rng
        self.pub_static = h.driver.create_publisher(h.TFMessage, "/tf_static", TF_STATIC_QOS)
        self.t = T0                      # next valid image stamp
        self.tf_until = T0 - 0.2         # TF published up to here
        self.valid = 0
        self.bad = {}

    def count(self, key):
        self.bad[key] = self.bad.get(key, 0) + 1

    def tf_up_to(self, stamp):
        ts = np.arange(self.tf_until + TF_DT, stamp + 1e-9, TF_DT)
        if len(ts):
            self.h.pub_tf.publish(tf_msg(self.h, [(float(s), truth(float(s))) for s in ts]))
            self.tf_until = float(ts[-1])

    def valid_image(self):
        self.h.pub_img.publish(image_msg(self.t, int(self.valid)))
        self.valid += 1
        self.t += DT

    def bad_input(self, kind):
        h, now, last = self.h, time.time(), self.t - DT
        if kind == "encoding":
            h.pub_img.publish(image_msg(self.t - DT / 2, 1, "yuv422"))
        elif kind == "size_mismatch":
            h.pub_img.publish(image_msg(self.t - DT / 2, 2, size=(H // 2, W // 2)))
        elif kind == "future_stamp":
            h.pub_img.publish(image_msg(now + 86400.0, 3))
        elif kind == "bad_stamp":
            msg = image_msg(self.t - DT / 2, 4)
            msg.header.stamp.nanosec = 1_500_000_000          # not normalised
            h.pub_img.publish(msg)
        elif kind == "duplicate":
            h.pub_img.publish(image_msg(last, 5))
        elif kind == "tf_invalid":
            msg = tf_msg(h, [(last + 0.001, truth(last))])
            msg.transforms[0].transform.translation.x = float("nan")
            h.pub_tf.publish(msg)
        elif kind == "tf_future_stamp":
            h.pub_tf.publish(tf_msg(h, [(now + 3600.0, truth(last))]))
        elif kind == "tf_loop":
            h.pub_tf.publish(tf_msg(h, [(last, np.eye(4))], parent=CAM, child="map"))
        elif kind == "tf_parent_conflict":
            far = np.eye(4)
            far[0, 3] = 96.5
            h.pub_tf.publish(tf_msg(h, [(last, far)], parent="odom"))
        elif kind == "tf_static_for_moving_frame":
            far = np.eye(4)
            far[0, 3] = 46.5
            self.pub_static.publish(tf_msg(h, [(None, far)]))
        self.count(kind)


BAD = ("encoding", "size_mismatch", "future_stamp", "bad_stamp", "duplicate", "tf_invalid",
       "tf_future_stamp", "tf_loop", "tf_parent_conflict", "tf_static_for_moving_frame")


def params_file(path, out):
    p = {"output_dir": str(out), "camera_frame": CAM, "pose_timeout": 5.0, "queue_depth": 2000,
         "max_pending": 2000, "keyframe": {"min_translation": 0.005, "min_rotation_deg": 0.0},
         "render": {"max_side": 32, "max_pixels": 4096 * 4096, "deadline": 5.0}}
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": p}}))
    return path


def start(spawn, params):
    return spawn(["-m", "ovnerf_ros.main", "all", "--print-ready", "--exit-on-stdin-close",
                  "--ros-args", "--params-file", str(params)], ready_line="READY", timeout=120)


def collector_status(diags):
    for d in reversed(diags):
        for st in d.status:
            if st.name == "ovnerf: collector":
                return {kv.key: kv.value for kv in st.values} | {"_message": st.message}
    return {}


def run_life(h, robot, diags, steps, images_before):
    """One life of the node: camera_info (a bad one first), then ``steps`` steps of the stream."""
    bad_info = cv.K_to_camera_info(np.diag([1e308, 1e308, 1.0]), H, W)     # fx = 1e308: refused
    wait_for(lambda: (h.pub_info.publish(bad_info), collector_status(diags).get("rejected_camera_info"))[1],
             timeout=60, period=0.5, what="bad camera_info counted")
    robot.bad["camera_info"] = 1                                            # (>= 1: resent until seen)
    wait_for(lambda: (h.send_info(K, H, W), collector_status(diags).get("_message", "").endswith("keyframes"))[1],
             timeout=30, period=0.3, what="camera_info accepted")
    robot.tf_up_to(robot.t - DT)
    for _ in range(steps):
        r = robot.rng.random()
        n = 12 if r < 0.1 else 1                               # bursts
        for _ in range(n):
            robot.valid_image()
        if robot.rng.random() < 0.5:                            # every kind in turn, at random steps
            robot.bad_input(BAD[sum(robot.bad.get(k, 0) for k in BAD) % len(BAD)])
        lag = float(robot.rng.choice([0.0, 0.02, 0.04]))        # TF up to 40 ms behind the images
        robot.tf_up_to(robot.t - DT - lag)
        time.sleep(0.01)
    robot.tf_up_to(robot.t + 0.2)                               # the last images get TF after them
    total = images_before + robot.valid

    def settled():
        s = collector_status(diags)
        return s and int(s.get("pending", 1)) == 0 and \
            int(s.get("keyframes_added", 0)) + int(s.get("rejected_overflow", 0)) >= robot.valid
    try:
        wait_for(settled, timeout=60, period=0.2, what=f"{total} valid frames decided")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {collector_status(diags)}; sent {robot.valid} valid, bad {robot.bad}") from None
    reply = call(h, Trigger, "/ovnerf/save_dataset", Trigger.Request())
    assert reply.success, reply.message
    return json.loads(reply.message)


def check_counts(status, robot, life):
    for key, n in robot.bad.items():
        got = int(status.get(f"rejected_{key}", 0))
        assert got == n or (key == "camera_info" and got >= n), (life, key, got, n, status)
    assert status["keyframes_added"] + status.get("rejected_overflow", 0) == robot.valid, (life, status)
    assert status.get("store_errors", 0) == 0


def check_poses(scene):
    store = SceneStore(scene, create=False)
    worst_t = worst_r = 0.0
    for name in store.names():
        c2w, t = store.pose(name), store.load(name).timestamp
        ref = truth(t)
        worst_t = max(worst_t, float(np.linalg.norm(c2w[:3, 3] - ref[:3, 3])))
        worst_r = max(worst_r, float(np.degrees(np.linalg.norm(
            Rotation.from_matrix(c2w[:3, :3].T @ ref[:3, :3]).as_rotvec()))))
    assert worst_t <= 1e-3 and worst_r <= 0.1, (worst_t, worst_r)
    return len(store), worst_t, worst_r


@pytest.mark.timeout(600)
def test_fuzz_stream_kill_and_requests_during_a_render(tmp_path, spawn_ros_process):
    out = tmp_path / "run"
    _write_checkpoint(out / "checkpoints" / "checkpoint.pt")
    params = params_file(tmp_path / "p.yaml", out)
    h = Harness()
    diags = []
    h.driver.create_subscription(DiagnosticArray, "/diagnostics", diags.append, 50)
    rng = np.random.default_rng(13)
    try:
        node = start(spawn_ros_process, params)
        h.wait_connected()
        robot = Robot(h, rng)
        s1 = run_life(h, robot, diags, 30, 0)
        check_counts(s1, robot, "life 1")
        stored1 = s1["keyframes_added"]

        leftover = out / "scene" / "images" / ".kf_999999.png.tmp-999999999"   # a killed writer's
        leftover.write_bytes(b"half a png")
        node.send_signal(signal.SIGKILL)
        node.wait(timeout=30)
        assert check_poses(out / "scene")[0] == stored1                         # nothing stored is lost

        diags.clear()
        node = start(spawn_ros_process, params)
        wait_for(lambda: not leftover.exists(), timeout=30, what="leftover removed at restart")
        robot.valid, robot.bad = 0, {}
        robot.t += 1.0                                                           # the robot drove on
        robot.tf_until = robot.t - 0.2
        s2 = run_life(h, robot, diags, 20, stored1)
        robot.bad.pop("tf_static_for_moving_frame", None)     # latched /tf_static replays: counted >= sent
        s2 = {k: v for k, v in s2.items() if k != "rejected_tf_static_for_moving_frame"}
        check_counts(s2, robot, "life 2")
        n, worst_t, worst_r = check_poses(out / "scene")
        assert n == stored1 + s2["keyframes_added"] and s2["keyframes"] == n

        # bad requests while a large render runs: answered at once, before the render ends
        # 4096x4096 takes ~21 s on an idle 2-core machine (2048x2048: 5.4 s, i.e. less than the deadline);
        # the 5 s deadline stops it, so it outlasts the bad requests (22-123 ms each) by a wide margin
        K2 = np.array([[4000.0, 0, 2048], [0, 4000.0, 2048], [0, 0, 1]])
        c2w = truth(T0)
        rclient = h.driver.create_client(RenderView, "/ovnerf/render")
        assert rclient.wait_for_service(timeout_sec=30)
        render = rclient.call_async(RenderView.Request(camera_pose=cv.matrix_to_pose(c2w),
                                                       camera_info=cv.K_to_camera_info(K2, 4096, 4096)))
        far = c2w.copy()
        far[:3, 3] = 1e30
        nan_pose = cv.matrix_to_pose(c2w)
        nan_pose.orientation.w = float("nan")
        bad = [(Query, Query.Request(text="")), (Query, Query.Request(text="wall", threshold=float("nan"))),
               (Query, Query.Request(text="wall", threshold=-1.0)),
               (Query, Query.Request(text="wall", use_pose=True, camera_pose=cv.matrix_to_pose(far))),
               (RenderView, RenderView.Request(camera_pose=nan_pose)),
               (RenderView, RenderView.Request(camera_pose=cv.matrix_to_pose(c2w),
                                               camera_info=cv.K_to_camera_info(np.diag([1e-30, 1e-30, 1.0]), 24, 32))),
               (RenderView, RenderView.Request(camera_pose=cv.matrix_to_pose(c2w)))]           # busy
        latencies, before_render_end = [], 0
        for srv, req in bad:
            name = "/ovnerf/query" if srv is Query else "/ovnerf/render"
            t = time.monotonic()
            r = call(h, srv, name, req, timeout=30)
            latencies.append(time.monotonic() - t)
            assert not r.success and r.message and len(r.message) <= 400, r.message
            before_render_end += not render.done()
        assert before_render_end == len(bad) and max(latencies) < 10.0, latencies
        wait_for(render.done, timeout=120, what="large render answered")
        assert not render.result().success and "deadline" in render.result().message
        assert node.poll() is None                                              # never crashed
        counted = {k[9:]: s1.get(k, 0) + s2.get(k, 0) for k in sorted(set(s1) | set(s2)) if k.startswith("rejected_")}
        print(f"\n[fuzz] {stored1} + {s2['keyframes_added']} keyframes stored of as many valid frames "
              f"(overflow {counted.get('overflow', 0)}); bad inputs counted {counted}; "
              f"worst pose error {worst_t * 1e3:.4f} mm / {worst_r:.5f} deg; bad requests answered in "
              f"{min(latencies) * 1e3:.0f}-{max(latencies) * 1e3:.0f} ms during a 4096x4096 render")
        node.stdin.close()
        node.wait(timeout=30)
        assert "Traceback" not in node.stderr.read()
    finally:
        h.close()
