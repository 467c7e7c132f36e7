import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore
from scipy.spatial.transform import Rotation

from ovnerf.synthetic.bag_export import (BASE_FRAME, CAMERA_LINK_FRAME, DEPTH_TOPIC, IMAGE_TOPIC, INFO_TOPIC, MAP_FRAME,
                                    OPTICAL_FRAME, TF_STATIC_TOPIC, TF_TOPIC, export_bag,
                                    split_camera_pose)
from ovnerf.errors import UserError
from ovnerf.scene.store import SceneStore


def _mat(tr):
    M = np.eye(4)
    q = tr.rotation
    M[:3, :3] = Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix()
    M[:3, 3] = [tr.translation.x, tr.translation.y, tr.translation.z]
    return M


def test_split_camera_pose_recomposes():
    rng = np.random.default_rng(0)
    for _ in range(20):
        c2w = np.eye(4)
        c2w[:3, :3] = Rotation.random(random_state=rng.integers(1 << 30)).as_matrix()
        c2w[:3, 3] = rng.normal(size=3)
        base, link = split_camera_pose(c2w)
        assert base[2, 3] == 0.0 and np.allclose(base[:3, 2], [0, 0, 1])
        from ovnerf.synthetic.bag_export import R_LINK_OPTICAL
        T = np.eye(4)
        T[:3, :3] = R_LINK_OPTICAL
        np.testing.assert_allclose(base @ link @ T, c2w, atol=1e-12)


def test_bag_round_trip(small_scene, tmp_path):
    store = SceneStore(small_scene, create=False)
    bag = export_bag(small_scene, tmp_path / "bag")
    assert (bag / "metadata.yaml").exists() and list(bag.glob("*.mcap"))
    ts = get_typestore(Stores.ROS2_KILTED)
    static, dyn, infos, images, depths = {}, {}, [], [], []
    with AnyReader([bag], default_typestore=ts) as reader:
        assert {c.topic for c in reader.connections} == {IMAGE_TOPIC, INFO_TOPIC, TF_TOPIC, TF_STATIC_TOPIC,
                                                          DEPTH_TOPIC}
        for conn, t_ns, raw in reader.messages():
            msg = reader.deserialize(raw, conn.msgtype)
            if conn.topic in (TF_TOPIC, TF_STATIC_TOPIC):
                for tr in msg.transforms:
                    key = (tr.header.frame_id, tr.child_frame_id)
                    stamp = tr.header.stamp.sec * 1_000_000_000 + tr.header.stamp.nanosec
                    (static if conn.topic == TF_STATIC_TOPIC else dyn).setdefault(key, {})[stamp] = _mat(tr.transform)
            elif conn.topic == INFO_TOPIC:
                infos.append(msg)
            elif conn.topic == DEPTH_TOPIC:
                depths.append(msg)
            else:
                images.append((t_ns, msg))
    assert set(static) == {(BASE_FRAME, CAMERA_LINK_FRAME), (CAMERA_LINK_FRAME, OPTICAL_FRAME)}
    assert set(dyn) == {(MAP_FRAME, BASE_FRAME)}
    names = store.names()
    assert len(images) == len(infos) == len(depths) == len(names)
    T_static = next(iter(static[(BASE_FRAME, CAMERA_LINK_FRAME)].values())) @ \
        next(iter(static[(CAMERA_LINK_FRAME, OPTICAL_FRAME)].values()))
    for (t_ns, img), info, dimg, name in zip(images, infos, depths, names):
        f = store.load(name)
        # depth: 16UC1 mm registered to the colour image (same size, stamp, frame), the stored mm exactly
        assert dimg.encoding == "16UC1" and (dimg.height, dimg.width, dimg.step) == (f.height, f.width, 2 * f.width)
        assert dimg.header.frame_id == img.header.frame_id and dimg.header.stamp == img.header.stamp
        mm = np.frombuffer(bytes(dimg.data), dtype="<u2").reshape(f.height, f.width)
        assert (mm > 0).mean() > 0.9
        np.testing.assert_array_equal(mm.astype(np.float32) * np.float32(0.001), f.depth)
        assert t_ns == round(f.timestamp * 1e6) * 1000
        assert img.header.frame_id == OPTICAL_FRAME and img.encoding == "rgb8"
        assert (img.height, img.width, img.step) == (f.height, f.width, 3 * f.width)
        assert bytes(img.data) == f.image.tobytes()
        K = np.asarray(info.k).reshape(3, 3)
        np.testing.assert_array_equal(K, f.K)
        np.testing.assert_array_equal(np.asarray(info.p).reshape(3, 4)[:, :3], f.K)
        assert (info.height, info.width) == (f.height, f.width)
        stamp = img.header.stamp.sec * 1_000_000_000 + img.header.stamp.nanosec
        c2w = dyn[(MAP_FRAME, BASE_FRAME)][stamp] @ T_static
        np.testing.assert_allclose(c2w, f.c2w, atol=1e-6)


def test_bag_without_depth(small_scene, tmp_path):
    bag = export_bag(small_scene, tmp_path / "bag", depth=False)
    with AnyReader([bag], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        assert DEPTH_TOPIC not in {c.topic for c in reader.connections}


def test_bag_refuses_to_overwrite(small_scene, tmp_path):
    export_bag(small_scene, tmp_path / "b")
    with pytest.raises(UserError):
        export_bag(small_scene, tmp_path / "b")
    with pytest.raises(UserError):
        export_bag(tmp_path / "nothing")
