"""Export a scene directory as a ROS 2 bag (rosbag2 directory with ``metadata.yaml`` + one
``.mcap`` file), written with ``rosbags`` (no ROS installation needed; message types come from
the ROS 2 Kilted typestore, bag format version 8, which Humble … Kilted read).

Topics (one message per frame at the frame's timestamp, in this order per stamp):

- ``/tf`` (``tf2_msgs/msg/TFMessage``): ``map → base_link`` at every image stamp (plus
  ``base_link → camera_link`` here too if that transform is not constant over the scene).
- ``/tf_static`` (``tf2_msgs/msg/TFMessage``, offered with transient-local durability), once at the
  first stamp: ``base_link → camera_link`` (when constant) and
  ``camera_link → camera_color_optical_frame`` (the REP-103 optical rotation:
  optical x = −y_link, y = −z_link, z = x_link).
- ``/camera/color/camera_info`` (``sensor_msgs/msg/CameraInfo``), ``plumb_bob`` with zero
  distortion, ``frame_id = camera_color_optical_frame``.
- ``/camera/depth/image_raw`` (``sensor_msgs/msg/Image``, ``16UC1`` millimetres, 0 = unknown,
  ``step = 2·W``), for the frames that carry depth (the demo room does), with ``depth=True``: the
  scene's z-depth registered to the colour image — same size, stamp and ``frame_id`` as the colour
  image (an RGB-D camera's aligned depth). Rounded to whole mm, as the scene store keeps it, so
  the bag carries the stored depth exactly. Written before the colour image of its stamp.
- ``/camera/color/image_raw`` (``sensor_msgs/msg/Image``, ``rgb8``, ``step = 3·W``).

Poses: the scene's OpenCV ``c2w`` is the pose of ``camera_color_optical_frame`` in ``map``. It is
split as ``c2w = T_map_base · T_base_link · T_link_optical``: ``base_link`` is the camera's
ground projection (x, y, z = 0) with the yaw of the camera's viewing direction; the remainder
(height, pitch, roll) is ``base_link → camera_link``.

Intrinsics: ``CameraInfo.k`` is the scene's K verbatim and ``p = [K | 0]``, exactly as
``ovnerf_ros.conversions.K_to_camera_info`` / ``camera_info_to_K`` map them, so a bag round trip
(export → ``ovnerf import-bag``) reproduces K bit for bit. (Strictly, ROS puts pixel centres at
integer coordinates and this project at ``u + 0.5``; the project treats CameraInfo's K as its own
K throughout, a half-pixel convention choice made in one place: the ROS conversions.)
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import numpy as np
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from scipy.spatial.transform import Rotation

from ovnerf.errors import UserError
from ovnerf.scene.depth_image import encode_depth_mm
from ovnerf.scene.store import SceneStore

IMAGE_TOPIC = "/camera/color/image_raw"
INFO_TOPIC = "/camera/color/camera_info"
DEPTH_TOPIC = "/camera/depth/image_raw"
TF_TOPIC = "/tf"
TF_STATIC_TOPIC = "/tf_static"
MAP_FRAME = "map"
BASE_FRAME = "base_link"
CAMERA_LINK_FRAME = "camera_link"
OPTICAL_FRAME = "camera_color_optical_frame"

# camera_link (x fwd, y left, z up) → optical (x right, y down, z fwd): columns = optical axes
R_LINK_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def _typestore():
    return get_typestore(Stores.ROS2_KILTED)


def split_camera_pose(c2w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T_map_base, T_base_link) with ``c2w = T_map_base @ T_base_link @ T_link_optical``
    (see module docstring)."""
    T_link_opt = np.eye(4)
    T_link_opt[:3, :3] = R_LINK_OPTICAL
    T_map_link = np.asarray(c2w, np.float64) @ np.linalg.inv(T_link_opt)
    fwd = T_map_link[:3, 0]
    if np.hypot(fwd[0], fwd[1]) < 1e-6:      # looking straight up/down: use the link's z axis
        fwd = -T_map_link[:3, 2] * np.sign(fwd[2])
    yaw = np.arctan2(fwd[1], fwd[0])
    T_map_base = np.eye(4)
    T_map_base[:3, :3] = Rotation.from_euler("z", yaw).as_matrix()
    T_map_base[:2, 3] = T_map_link[:2, 3]
    T_base_link = np.linalg.inv(T_map_base) @ T_map_link
    return T_map_base, T_base_link


def export_bag(scene_dir, bag_path=None, *, overwrite: bool = False, depth: bool = True,
               progress: Callable[[int, int], None] | None = None) -> Path:
    """Write the scene at ``scene_dir`` as a rosbag2 directory (default ``scene_dir/bag``);
    returns its path. An existing ``bag_path`` raises UserError unless ``overwrite``.
    ``depth``: also write ``DEPTH_TOPIC`` for the frames that carry depth (none: no such topic)."""
    store = SceneStore(scene_dir, create=False)
    names = store.names()
    if not names:
        raise UserError(f"scene {scene_dir} has no frames to export")
    bag_path = Path(bag_path) if bag_path is not None else Path(scene_dir) / "bag"
    if bag_path.exists():
        if not overwrite:
            raise UserError(f"bag {bag_path} already exists (use overwrite / --overwrite)")
        shutil.rmtree(bag_path) if bag_path.is_dir() else bag_path.unlink()

    ts = _typestore()
    T = ts.types
    Header, Time = T["std_msgs/msg/Header"], T["builtin_interfaces/msg/Time"]
    Image, CameraInfo = T["sensor_msgs/msg/Image"], T["sensor_msgs/msg/CameraInfo"]
    ROI = T["sensor_msgs/msg/RegionOfInterest"]
    TFMessage, TransformStamped = T["tf2_msgs/msg/TFMessage"], T["geometry_msgs/msg/TransformStamped"]
    Transform, Vector3, Quaternion = (T["geometry_msgs/msg/Transform"], T["geometry_msgs/msg/Vector3"],
                                      T["geometry_msgs/msg/Quaternion"])

    def stamp(t: float):
        # float seconds near 1.7e9 carry ~0.2 µs of precision: round to whole microseconds
        ns = int(round(t * 1e6)) * 1000
        return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000), ns

    def tf(parent: str, child: str, M: np.ndarray, t):
        q = Rotation.from_matrix(M[:3, :3]).as_quat()  # x, y, z, w
        return TransformStamped(
            header=Header(stamp=t, frame_id=parent), child_frame_id=child,
            transform=Transform(translation=Vector3(x=float(M[0, 3]), y=float(M[1, 3]), z=float(M[2, 3])),
                                rotation=Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3]))))

    poses = [store.pose(n) for n in names]
    stamps = [float(store.meta["frames"][i].get("timestamp", 0.0)) for i in range(len(names))]
    if any(b <= a for a, b in zip(stamps, stamps[1:])):
        raise UserError(f"scene {scene_dir}: frame timestamps are not strictly increasing")
    splits = [split_camera_pose(c) for c in poses]
    static_link = all(np.allclose(s[1], splits[0][1], atol=1e-9) for s in splits)
    T_link_opt = np.eye(4)
    T_link_opt[:3, :3] = R_LINK_OPTICAL

    latched = Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL,
                  QosTime(0, 0), QosTime(0, 0), QosLiveliness.AUTOMATIC, QosTime(0, 0), False)
    with Writer(bag_path, version=8, storage_plugin=StoragePlugin.MCAP) as w:
        c_tf = w.add_connection(TF_TOPIC, TFMessage.__msgtype__, typestore=ts)
        c_static = w.add_connection(TF_STATIC_TOPIC, TFMessage.__msgtype__, typestore=ts,
                                    offered_qos_profiles=[latched])
        c_info = w.add_connection(INFO_TOPIC, CameraInfo.__msgtype__, typestore=ts)
        c_img = w.add_connection(IMAGE_TOPIC, Image.__msgtype__, typestore=ts)
        with_depth = depth and any(fr.get("depth_file_path") for fr in store.meta["frames"])
        c_depth = w.add_connection(DEPTH_TOPIC, Image.__msgtype__, typestore=ts) if with_depth else None

        t0, ns0 = stamp(stamps[0])
        static = [tf(CAMERA_LINK_FRAME, OPTICAL_FRAME, T_link_opt, t0)]
        if static_link:
            static.insert(0, tf(BASE_FRAME, CAMERA_LINK_FRAME, splits[0][1], t0))
        w.write(c_static, ns0, ts.serialize_cdr(TFMessage(transforms=static), TFMessage.__msgtype__))

        for i, name in enumerate(names):
            frame = store.load(name)
            t, ns = stamp(stamps[i])
            tfs = [tf(MAP_FRAME, BASE_FRAME, splits[i][0], t)]
            if not static_link:
                tfs.append(tf(BASE_FRAME, CAMERA_LINK_FRAME, splits[i][1], t))
            w.write(c_tf, ns, ts.serialize_cdr(TFMessage(transforms=tfs), TFMessage.__msgtype__))

            h, wd = frame.height, frame.width
            K = frame.K
            k = np.asarray(K, np.float64).reshape(-1)
            p = np.array([k[0], 0.0, k[2], 0.0, 0.0, k[4], k[5], 0.0, 0.0, 0.0, 1.0, 0.0])
            hdr = Header(stamp=t, frame_id=OPTICAL_FRAME)
            info = CameraInfo(header=hdr, height=h, width=wd, distortion_model="plumb_bob",
                              d=np.zeros(5), k=k, r=np.eye(3).ravel(), p=p, binning_x=0, binning_y=0,
                              roi=ROI(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))
            w.write(c_info, ns, ts.serialize_cdr(info, CameraInfo.__msgtype__))
            if c_depth is not None and frame.depth is not None:
                mm = encode_depth_mm(frame.depth)
                dimg = Image(header=hdr, height=h, width=wd, encoding="16UC1", is_bigendian=0, step=2 * wd,
                             data=np.ascontiguousarray(mm.astype("<u2")).view(np.uint8).reshape(-1))
                w.write(c_depth, ns, ts.serialize_cdr(dimg, Image.__msgtype__))
            img = Image(header=hdr, height=h, width=wd, encoding="rgb8", is_bigendian=0, step=3 * wd,
                        data=np.ascontiguousarray(frame.image, dtype=np.uint8).reshape(-1))
            w.write(c_img, ns, ts.serialize_cdr(img, Image.__msgtype__))
            if progress is not None:
                progress(i + 1, len(names))
    return bag_path
