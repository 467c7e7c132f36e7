"""ROS message ↔ numpy conversions (no other numerics here).

- ``sensor_msgs/Image`` ↔ uint8 RGB / float32 / uint16 arrays (buffer maths in
  :mod:`ovnerf.scene.image_encoding`); ``CompressedImage`` → RGB via ``cv2.imdecode``;
  depth images (``16UC1`` mm / ``32FC1`` m) → float32 metres (:mod:`ovnerf.scene.depth_image`);
  label images (``mono8``, 255 = void) → int16 class ids (−1 = void).
- ``sensor_msgs/CameraInfo`` ↔ (K 3×3, H, W).
- ``geometry_msgs/Pose`` / ``Transform`` ↔ 4×4 (parent ← child); invalid quaternions
  (NaN, not unit within 1e-2) are rejected with :class:`UserError`, never silently normalised.
- ``sensor_msgs/PointCloud2`` with fields x, y, z (float32) and rgb (float32-packed uint32
  0x00RRGGBB, the PCL/RViz convention), built from a numpy structured array.
- ``visualization_msgs/MarkerArray`` for a query result (box, centroid sphere, label text,
  navigation-goal arrow).
"""
from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Pose, PoseArray, PoseStamped, Quaternion, Transform, Vector3
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, PointField
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from ovnerf.errors import UserError
from ovnerf.scene import image_encoding
from ovnerf.scene.depth_image import decode_depth
from ovnerf.scene.input_checks import check_intrinsics, stamp_seconds
from ovnerf.scene.pose_interpolation import pose_from_quaternion, quaternion_from_pose, quaternion_is_valid


# ---------------------------------------------------------------- time
def message_source(info) -> tuple | None:
    """(publisher gid, publication sequence number) of a message (rclpy MessageInfo), when the RMW
    provides them (Fast DDS does): the ingest counts lost messages from the gaps."""
    gid = (info or {}).get("publisher_gid")
    seq = (info or {}).get("publication_sequence_number")
    return (bytes(gid["data"]) if isinstance(gid, dict) else None, seq) if seq else None


def stamp_to_sec(stamp) -> float:
    """Seconds of a ``builtin_interfaces/Time``; NaN when it is not normalised (negative sec,
    nanosec ≥ 1e9), which every consumer rejects."""
    try:
        return stamp_seconds(stamp.sec, stamp.nanosec)
    except UserError:
        return float("nan")


def sec_to_stamp(t: float) -> Time:
    """Normalised stamp of ``t`` seconds, rounded to the nanosecond (999.9999999999 → 1000 s 0 ns,
    not 999 s 0 ns)."""
    sec, nanosec = divmod(int(round(float(t) * 1e9)), 1_000_000_000)
    return Time(sec=sec, nanosec=nanosec)


def make_header(frame_id: str, stamp=None) -> Header:
    return Header(frame_id=frame_id, stamp=stamp if stamp is not None else Time())


# ---------------------------------------------------------------- images
def image_to_rgb(msg: Image, expected=None) -> np.ndarray:
    """uint8 H×W×3 RGB from rgb8 / bgr8 / rgba8 / bgra8 / mono8 (UserError otherwise);
    ``expected`` (H, W) checked before the pixels are copied."""
    return image_encoding.decode_color(msg.encoding, msg.height, msg.width, msg.step, msg.data,
                                       bool(msg.is_bigendian), expected)


def image_to_array(msg: Image) -> np.ndarray:
    """The raw pixel array of any supported encoding (e.g. 32FC1 → float32 H×W)."""
    return image_encoding.decode_array(msg.encoding, msg.height, msg.width, msg.step, msg.data,
                                       bool(msg.is_bigendian))


def image_to_depth(msg: Image) -> np.ndarray:
    """float32 H×W z-depth in metres, 0 = unknown, from ``16UC1`` (mm) or ``32FC1`` (m; NaN → 0);
    UserError for any other encoding (:func:`ovnerf.scene.depth_image.decode_depth`)."""
    return decode_depth(msg.encoding, msg.height, msg.width, msg.step, msg.data, bool(msg.is_bigendian))


def image_to_labels(msg: Image) -> np.ndarray:
    """int16 H×W class ids (−1 = void) from a ``mono8``/``8UC1`` label image (255 = void)."""
    return image_encoding.decode_labels(msg.encoding, msg.height, msg.width, msg.step, msg.data,
                                        bool(msg.is_bigendian))


def compressed_to_rgb(msg: CompressedImage, expected=None) -> np.ndarray:
    """RGB of a JPEG/PNG payload; its size is read from the header and checked first."""
    return image_encoding.decode_compressed(msg.data, msg.format, expected)


def array_to_image(array: np.ndarray, encoding: str, header: Header | None = None) -> Image:
    """``rgb8``/``bgr8`` from RGB uint8, ``mono8``, ``mono16``/``16UC1``, ``32FC1``."""
    h, w, step, data = image_encoding.encode(array, encoding)
    msg = Image(header=header or Header(), height=h, width=w, encoding=encoding,
                is_bigendian=0, step=step)
    msg.data = data
    return msg


# ---------------------------------------------------------------- camera info
def camera_info_to_K(msg: CameraInfo) -> tuple[np.ndarray, int, int]:
    """(K 3×3 float64, height, width); UserError unless the size and K are plausible
    (:func:`ovnerf.scene.input_checks.check_intrinsics`)."""
    K = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
    h, w = int(msg.height), int(msg.width)
    if h <= 0 or w <= 0:
        raise UserError(f"camera_info has an empty image size {w}x{h}")
    return check_intrinsics(K, h, w, "camera_info"), h, w


def K_to_camera_info(K: np.ndarray, height: int, width: int, header: Header | None = None) -> CameraInfo:
    K = np.asarray(K, dtype=np.float64)
    P = np.zeros((3, 4))
    P[:, :3] = K
    return CameraInfo(header=header or Header(), height=int(height), width=int(width),
                      distortion_model="plumb_bob", d=[0.0] * 5, k=K.reshape(-1).tolist(),
                      r=np.eye(3).reshape(-1).tolist(), p=P.reshape(-1).tolist())


# ---------------------------------------------------------------- poses
def _quat_xyzw(q) -> np.ndarray:
    return np.array([q.x, q.y, q.z, q.w], dtype=np.float64)


def _matrix(t_xyz, q, what: str) -> np.ndarray:
    t = np.asarray(t_xyz, dtype=np.float64)
    qa = _quat_xyzw(q)
    if not np.all(np.isfinite(t)):
        raise UserError(f"{what} translation contains NaN or infinite values")
    if not np.all(np.isfinite(qa)):
        raise UserError(f"{what} orientation contains NaN or infinite values")
    if not quaternion_is_valid(qa):
        raise UserError(f"{what} orientation is not a unit quaternion (norm {np.linalg.norm(qa):.4g})")
    return pose_from_quaternion(t, qa)


def pose_to_matrix(pose: Pose, what: str = "pose") -> np.ndarray:
    p = pose.position
    return _matrix((p.x, p.y, p.z), pose.orientation, what)


def transform_to_matrix(tf: Transform, what: str = "transform") -> np.ndarray:
    t = tf.translation
    return _matrix((t.x, t.y, t.z), tf.rotation, what)


def matrix_to_pose(T: np.ndarray) -> Pose:
    t, q = quaternion_from_pose(T)
    return Pose(position=Point(x=float(t[0]), y=float(t[1]), z=float(t[2])),
                orientation=Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])))


def matrix_to_transform(T: np.ndarray) -> Transform:
    t, q = quaternion_from_pose(T)
    return Transform(translation=Vector3(x=float(t[0]), y=float(t[1]), z=float(t[2])),
                     rotation=Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])))


def matrices_to_pose_array(Ts, header: Header | None = None) -> PoseArray:
    return PoseArray(header=header or Header(), poses=[matrix_to_pose(T) for T in Ts])


def matrix_to_pose_stamped(T: np.ndarray, header: Header | None = None) -> PoseStamped:
    return PoseStamped(header=header or Header(), pose=matrix_to_pose(T))


def vector3(v) -> Vector3:
    return Vector3(x=float(v[0]), y=float(v[1]), z=float(v[2]))


def point(v) -> Point:
    return Point(x=float(v[0]), y=float(v[1]), z=float(v[2]))


# ---------------------------------------------------------------- point clouds
_CLOUD_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<f4")])


def points_to_cloud(points: np.ndarray, colors: np.ndarray | None = None,
                    header: Header | None = None) -> PointCloud2:
    """PointCloud2 (x, y, z, rgb) from (N,3) points and optional (N,3) uint8 RGB colours."""
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    n = pts.shape[0]
    rec = np.zeros(n, dtype=_CLOUD_DTYPE)
    rec["x"], rec["y"], rec["z"] = pts[:, 0], pts[:, 1], pts[:, 2]
    if colors is None:
        colors = np.full((n, 3), 255, dtype=np.uint8)
    c = np.asarray(colors, dtype=np.uint32).reshape(-1, 3)
    packed = (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]
    rec["rgb"] = packed.astype(np.uint32).view(np.float32)
    fields = [PointField(name=nm, offset=4 * i, datatype=PointField.FLOAT32, count=1)
              for i, nm in enumerate(("x", "y", "z", "rgb"))]
    msg = PointCloud2(header=header or Header(), height=1, width=n, fields=fields,
                      is_bigendian=False, point_step=_CLOUD_DTYPE.itemsize,
                      row_step=_CLOUD_DTYPE.itemsize * n, is_dense=True)
    msg.data = rec.tobytes()
    return msg


def cloud_to_points(msg: PointCloud2) -> tuple[np.ndarray, np.ndarray]:
    """((N,3) float32 xyz, (N,3) uint8 RGB) of a cloud written by :func:`points_to_cloud`."""
    names = [f.name for f in msg.fields]
    if names[:3] != ["x", "y", "z"] or msg.point_step != _CLOUD_DTYPE.itemsize:
        raise UserError(f"unsupported PointCloud2 layout: fields {names}, point_step {msg.point_step}")
    rec = np.frombuffer(msg.data, dtype=_CLOUD_DTYPE, count=msg.width * msg.height)
    xyz = np.stack([rec["x"], rec["y"], rec["z"]], axis=1)
    packed = rec["rgb"].view(np.uint32)
    rgb = np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], axis=1).astype(np.uint8)
    return xyz, rgb


# ---------------------------------------------------------------- markers
def _color(rgb, a: float = 1.0) -> ColorRGBA:
    return ColorRGBA(r=float(rgb[0]), g=float(rgb[1]), b=float(rgb[2]), a=float(a))


def query_markers(text: str, centroid, aabb_min, aabb_max, nav_goal: np.ndarray | None,
                  header: Header, ns: str = "ovnerf_query") -> MarkerArray:
    """Box (axis-aligned), centroid sphere, label text and nav-goal arrow of one query result.
    A DELETEALL marker first clears the previous result."""
    lo = np.asarray(aabb_min, dtype=np.float64)
    hi = np.asarray(aabb_max, dtype=np.float64)
    c = np.asarray(centroid, dtype=np.float64)
    out = MarkerArray()
    out.markers.append(Marker(header=header, ns=ns, id=0, action=Marker.DELETEALL))
    box = Marker(header=header, ns=ns, id=1, type=Marker.CUBE, action=Marker.ADD,
                 pose=matrix_to_pose(_translation((lo + hi) / 2)),
                 scale=vector3(np.maximum(hi - lo, 1e-3)), color=_color((0.1, 0.9, 0.2), 0.35))
    sphere = Marker(header=header, ns=ns, id=2, type=Marker.SPHERE, action=Marker.ADD,
                    pose=matrix_to_pose(_translation(c)), scale=vector3((0.06, 0.06, 0.06)),
                    color=_color((1.0, 0.2, 0.1)))
    label = Marker(header=header, ns=ns, id=3, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD,
                   pose=matrix_to_pose(_translation((c[0], c[1], hi[2] + 0.1))),
                   scale=vector3((0.0, 0.0, 0.1)), color=_color((1.0, 1.0, 1.0)), text=text)
    out.markers += [box, sphere, label]
    if nav_goal is not None:
        out.markers.append(Marker(header=header, ns=ns, id=4, type=Marker.ARROW, action=Marker.ADD,
                                  pose=matrix_to_pose(nav_goal), scale=vector3((0.3, 0.05, 0.05)),
                                  color=_color((0.2, 0.4, 1.0))))
    return out


def _translation(t) -> np.ndarray:
    T = np.eye(4)
    T[:3, 3] = np.asarray(t, dtype=np.float64)
    return T
