"""Every ROS parameter of the ovnerf nodes: name, type, description, validated range / choices.

Every TrainConfig field is reachable as ``training.<field>`` (generated from the dataclass:
``TRAIN_SPECS``; unset = the preset's value, validated by TrainConfig itself); the Train goal
sets iterations / use_rsr / use_cse, and ``training.options`` ('key=value', also ``field.*`` and
``foundation.*``, see :mod:`ovnerf.app.options`) wins over everything.

Defaults come from ``config/ovnerf.yaml`` (the ``/**: ros__parameters:`` section, nested keys
joined with dots); a ``--ros-args --params-file FILE`` given to a node overrides them.
Each parameter is declared with a :class:`ParameterDescriptor` carrying its description and a
``FloatingPointRange`` / ``IntegerRange``; string choices and non-empty strings are checked by an
on-set callback. An invalid value is rejected with a reason — at start-up
(``InvalidParameterValueException`` → the entry point prints one line and exits 2) and at run
time (``ros2 param set`` gets ``successful=False`` and the reason).
"""
from __future__ import annotations

import dataclasses
from array import array
from dataclasses import dataclass
from pathlib import Path

import yaml
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter

from ovnerf.errors import UserError
from ovnerf.foundation.registry import choices
from ovnerf.training.config import TrainConfig

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "config" / "ovnerf.yaml"


@dataclass(frozen=True)
class Spec:
    name: str
    type: type            # bool, int, float, str, list (of str)
    description: str
    range: tuple | None = None        # (lo, hi) for int/float
    choices: tuple | None = None      # allowed strings
    nonempty: bool = False
    groups: tuple = ("collector", "trainer")
    element: type = str               # element type of a list
    optional: bool = False            # may be left unset (declared without a value)


_C, _T = ("collector",), ("trainer",)
SPECS: tuple[Spec, ...] = (
    Spec("output_dir", str, "Dataset root: scene/ (keyframes), cache/, checkpoints/ below it", nonempty=True),
    Spec("map_frame", str, "Fixed frame of poses and 3D results (REP-105 'map')", nonempty=True),
    # ---- collector
    Spec("camera_frame", str, "Camera optical frame (x right, y down, z forward); '' = the image's header.frame_id", groups=_C),
    Spec("image_topic", str, "sensor_msgs/Image colour topic (rgb8/bgr8/rgba8/bgra8/mono8)", nonempty=True, groups=_C),
    Spec("use_compressed", bool, "Subscribe sensor_msgs/CompressedImage on image_topic + '/compressed' instead", groups=_C),
    Spec("camera_info_topic", str, "sensor_msgs/CameraInfo topic", nonempty=True, groups=_C),
    Spec("pose_source", str, "Where camera poses come from: 'tf' (/tf, /tf_static) or 'topic' (PoseStamped)",
         choices=("tf", "topic"), groups=_C),
    Spec("pose_topic", str, "geometry_msgs/PoseStamped topic (map <- camera optical) when pose_source = topic",
         nonempty=True, groups=_C),
    Spec("labels_topic", str, "Optional ground-truth label image topic (mono8/8UC1 class ids, 255 = void, same "
         "stamps as the colour images; simulators' semantic cameras) stored with each keyframe; '' = off", groups=_C),
    Spec("depth_topic", str, "Optional sensor_msgs/Image depth topic registered (aligned) to the colour camera "
         "(16UC1 millimetres or 32FC1 metres, NaN/0 = unknown; same size as the colour image, never resized; "
         "paired by stamp within stamp_tolerance) stored with each keyframe for depth supervision; '' = off",
         groups=_C),
    Spec("class_names", list, "Class names of the label ids (written to the store when it has none)", groups=_C),
    Spec("stamp_tolerance", float, "Max |image stamp - depth/label image stamp| (s) when pairing side images. "
         "Poses are never taken from a nearby stamp: they are interpolated between the transforms around "
         "the image's stamp", range=(0.0, 5.0), groups=_C),
    Spec("future_tolerance", float, "Image / transform stamps more than this (s) ahead of the node clock are "
         "rejected (counted) without touching the pose history or the newest image stamp", range=(0.0, 3600.0),
         groups=_C),
    Spec("pose_timeout", float, "Seconds an image waits for transforms on both sides of its stamp (and for "
         "camera_info, depth/label images) before it is dropped (counted no_pose_timeout)",
         range=(0.0, 60.0), groups=_C),
    Spec("tf_cache", float, "Seconds of transform history kept", range=(1.0, 3600.0), groups=_C),
    Spec("max_pending", int, "Images waiting for a pose at most (oldest dropped first)", range=(1, 10000), groups=_C),
    Spec("queue_depth", int, "KEEP_LAST depth of the image, camera_info and depth/label subscriptions: messages "
         "beyond it are dropped by DDS before the node sees them (estimated from stamp gaps: "
         "estimated_dds_lost)", range=(1, 10000), groups=_C),
    Spec("qos.reliability", str, "Reliability of those subscriptions ('best_effort' also matches best-effort "
         "camera drivers; 'reliable' makes a reliable publisher wait instead of dropping)",
         choices=("reliable", "best_effort"), groups=_C),
    Spec("store.png_compression", int, "PNG compression of stored keyframes (0 = stored: ~1 ms a 640x480 frame, "
         "3x the disk; 1-9 = zlib level: smaller, 20-80 ms a frame on a slow CPU)", range=(0, 9), groups=_C),
    Spec("keyframe.min_translation", float, "New keyframe after this camera translation (m)", range=(0.0, 100.0), groups=_C),
    Spec("keyframe.min_rotation_deg", float, "... or after this camera rotation (deg)", range=(0.0, 180.0), groups=_C),
    Spec("keyframe.min_sharpness", float, "Blur gate: min variance of the Laplacian (0 = off)", range=(0.0, 1.0e6), groups=_C),
    Spec("keyframe.max_keyframes", int, "Stop adding keyframes beyond this count", range=(1, 1000000), groups=_C),
    # ---- trainer / server
    Spec("device", str, "Torch device for training and rendering ('cpu', 'cuda', 'cuda:1')", nonempty=True, groups=_T),
    Spec("checkpoint", str, "Checkpoint to serve at start ('' = the latest under output_dir/checkpoints)", groups=_T),
    Spec("training.preset", str, "Training schedule preset", choices=("cpu", "paper"), groups=_T),
    Spec("training.iterations", int, "Training iterations (0 = the preset's)", range=(0, 10000000), groups=_T),
    Spec("training.vocabulary", list, "Class names (text) the field is trained with", groups=_T),
    Spec("training.options", list, "Extra TrainConfig overrides 'key=value' (e.g. 'batch_rays=512')", groups=_T),
    Spec("training.depth_weight", float, "Depth supervision weight: L1 between rendered and measured z-depth (m) "
         "(TrainConfig.depth_weight; our RGB-D addition, not OV-NeRF). A no-op when the keyframes carry no "
         "depth (collector depth_topic empty); 0 = off", range=(0.0, 1000.0), groups=_T),
    Spec("training.free_space_weight", float, "Line-of-sight free-space loss weight: penalises density more than "
         "free_space_margin in front of the measured surface (TrainConfig.free_space_weight). Active only "
         "with depth_weight > 0 and keyframes that carry depth, else a no-op; 0 = off",
         range=(0.0, 1000.0), groups=_T),
    Spec("training.free_space_margin", float, "Free-space margin (m) in front of the measured depth "
         "(TrainConfig.free_space_margin)", range=(0.0, 10.0), groups=_T),
    Spec("training.backend", str, "Text-image teacher (foundation registry): 'simulated' (a SIMULATION for "
         "labelled demo scenes), 'openclip' (3DOVS crops) or 'maskclip' (dense)", choices=choices("clip"), groups=_T),
    Spec("training.clip_model", str, "open_clip model name for openclip/maskclip (e.g. ViT-B-16; '' = default)", groups=_T),
    Spec("training.clip_pretrained", str, "open_clip pretrained tag (e.g. laion2b_s34b_b88k, openai), downloaded "
         "into open_clip's cache when online; '' = none (then training.clip_checkpoint)", groups=_T),
    Spec("training.clip_checkpoint", str, "Local open_clip weights file ('' = none; OpenAI TorchScript .pt works)", groups=_T),
    Spec("query.threshold", float, "Relevancy threshold of the query mask (LERF: min pairwise softmax vs object/things/stuff/texture + the request's negatives)", range=(0.01, 0.99), groups=_T),
    Spec("query.max_points", int, "Max object points returned", range=(1, 1000000), groups=_T),
    Spec("query.standoff", float, "Navigation goal distance from the object's footprint (m)", range=(0.0, 20.0), groups=_T),
    Spec("query.max_side", int, "Resolution (longest side, px) of the views used for 3D localisation", range=(8, 2048), groups=_T),
    Spec("query.max_views", int, "Keyframes rendered for 3D localisation", range=(1, 1000), groups=_T),
    Spec("query.ground_z", float, "Height of the floor in the map frame (nav goal z)", range=(-100.0, 100.0), groups=_T),
    Spec("query.deadline", float, "A query still running after this many seconds is stopped and answered "
         "success=False (0 = no deadline)", range=(0.0, 3600.0), groups=_T),
    Spec("render.max_pixels", int, "Largest render / query view (width x height) a request may ask for; "
         "larger requests are answered success=False", range=(64, 67108864), groups=_T),
    Spec("render.deadline", float, "A render still running after this many seconds is stopped and answered "
         "success=False (0 = no deadline)", range=(0.0, 3600.0), groups=_T),
    Spec("render.max_side", int, "Default render resolution (longest side) when no camera_info is given", range=(8, 4096), groups=_T),
    Spec("publish.cloud_period", float, "Period (s) of the class-coloured PointCloud2 (0 = on request only)", range=(0.0, 3600.0), groups=_T),
    Spec("publish.cloud_points", int, "Points in the published cloud", range=(100, 2000000), groups=_T),
    Spec("publish.status_period", float, "Period (s) of TrainingStatus and diagnostics", range=(0.1, 60.0), groups=_T),
    Spec("feedback_period", float, "Train action feedback period (s); at most 1 s (>= 1 Hz)", range=(0.05, 1.0), groups=_T),
)
BY_NAME = {s.name: s for s in SPECS}

# Every TrainConfig field is the parameter ``training.<field>`` (generic: no per-field plumbing).
# Those documented above keep their description and range; the others are declared without a
# value (unset = the preset's) unless the YAML gives one. The Train goal sets GOAL_FIELDS.
GOAL_FIELDS = ("iterations", "use_rsr", "use_cse")
TRAIN_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in GOAL_FIELDS)


def _train_spec(name: str, default) -> Spec:
    if isinstance(default, (bool, int, float, str)):
        typ, elem = type(default), str
    else:  # tuples
        typ, elem = list, float if default and isinstance(default[0], float) else int
    return Spec(f"training.{name}", typ, f"TrainConfig.{name} (unset = the preset's value; "
                "see ovnerf/training/config.py)", groups=_T, element=elem, optional=True)


TRAIN_SPECS: tuple[Spec, ...] = tuple(_train_spec(f, getattr(TrainConfig(), f)) for f in TRAIN_FIELDS
                                      if f"training.{f}" not in BY_NAME)
ALL_BY_NAME = {**BY_NAME, **{s.name: s for s in TRAIN_SPECS}}


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def load_defaults(path: str | Path | None = None) -> dict:
    """Flat {name: value} from the ``/**: ros__parameters`` section of a YAML file."""
    path = Path(path or DEFAULT_CONFIG)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"cannot read parameter file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a ROS parameter file")
    params = {}
    for section in data.values():  # '/**' and node-specific sections
        if isinstance(section, dict) and isinstance(section.get("ros__parameters"), dict):
            params.update(flatten(section["ros__parameters"]))
    return params


def check_value(spec: Spec, value) -> str | None:
    """None when ``value`` is acceptable for ``spec``, else the reason."""
    if value is None and spec.optional:  # declared without a value
        return None
    if spec.type is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if spec.type is list:
        if value is None:  # declared without a value (empty list default)
            return None
        ok = (float, int) if spec.element is float else spec.element
        if not isinstance(value, (list, tuple, array)) or not all(
                isinstance(v, ok) and not isinstance(v, bool) for v in value):
            return f"{spec.name} must be a list of {spec.element.__name__}s"
        return _check_train_field(spec, list(value))
    if not isinstance(value, spec.type) or (spec.type is int and isinstance(value, bool)):
        return f"{spec.name} must be of type {spec.type.__name__}, got {value!r}"
    if spec.range is not None and not (spec.range[0] <= value <= spec.range[1]):
        return f"{spec.name} = {value} is out of range [{spec.range[0]}, {spec.range[1]}]"
    if spec.choices is not None and value not in spec.choices:
        return f"{spec.name} = {value!r} is not one of {list(spec.choices)}"
    if spec.nonempty and isinstance(value, str) and not value.strip():
        return f"{spec.name} must not be empty"
    return _check_train_field(spec, value)


def _check_train_field(spec: Spec, value) -> str | None:
    """TrainConfig's own validation for ``training.<field>`` (the reason when it refuses)."""
    field = spec.name[len("training."):]
    if not spec.name.startswith("training.") or field not in TRAIN_FIELDS:
        return None
    try:
        TrainConfig.cpu_preset().replace(**{field: value})
    except UserError as exc:
        return str(exc)
    return None


def train_values(params: "Parameters") -> dict:
    """{field: value} of the ``training.<field>`` parameters that are set."""
    out = {}
    for f in TRAIN_FIELDS:
        v = params[f"training.{f}"]
        if v is not None:
            out[f] = v
    return out


def _descriptor(spec: Spec) -> ParameterDescriptor:
    desc = spec.description
    if spec.choices:
        desc += f" (one of: {', '.join(spec.choices)})"
    d = ParameterDescriptor(name=spec.name, description=desc)
    if spec.range is not None and spec.type is float:
        d.floating_point_range = [FloatingPointRange(from_value=float(spec.range[0]), to_value=float(spec.range[1]), step=0.0)]
    elif spec.range is not None and spec.type is int:
        d.integer_range = [IntegerRange(from_value=int(spec.range[0]), to_value=int(spec.range[1]), step=1)]
    return d


class Parameters:
    """Declares the parameters of ``groups`` on ``node`` and reads their live values."""

    def __init__(self, node: Node, groups: tuple[str, ...], defaults: dict | None = None):
        self.node = node
        defaults = load_defaults() if defaults is None else defaults
        self.specs = [s for s in SPECS + TRAIN_SPECS if set(s.groups) & set(groups)]
        node.add_on_set_parameters_callback(self._validate)
        for s in self.specs:
            if s.name not in defaults and not s.optional:
                raise UserError(f"parameter '{s.name}' has no default in {DEFAULT_CONFIG}")
            value = defaults.get(s.name)
            if s.type is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if s.type is list and value is not None:
                value = [s.element(v) for v in value]
            if value is None or value == []:  # unset, or [] (which has no type): declared by type
                value = _PARAM_TYPES[s.element if s.type is list else s.type, s.type is list]
            node.declare_parameter(s.name, value, _descriptor(s))

    def _validate(self, params) -> SetParametersResult:
        for p in params:
            spec = ALL_BY_NAME.get(p.name)
            if spec is None:
                continue
            reason = check_value(spec, p.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def __getitem__(self, name: str):
        try:
            v = self.node.get_parameter(name).value
        except ParameterUninitializedException:
            v = None
        spec = ALL_BY_NAME[name]
        if spec.type is list:
            return None if (v is None and spec.optional) else [spec.element(x) for x in (v or [])]
        return v


_PARAM_TYPES = {(bool, False): Parameter.Type.BOOL, (int, False): Parameter.Type.INTEGER,
                (float, False): Parameter.Type.DOUBLE, (str, False): Parameter.Type.STRING,
                (str, True): Parameter.Type.STRING_ARRAY, (int, True): Parameter.Type.INTEGER_ARRAY,
                (float, True): Parameter.Type.DOUBLE_ARRAY}
