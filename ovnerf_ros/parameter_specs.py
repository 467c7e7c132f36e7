"""The ROS parameters of the ovnerf nodes as data: name, type, description, range / choices.

Every TrainConfig field is reachable as ``training.<field>`` (generated from the dataclass:
``TRAIN_SPECS``; unset = the preset's value, validated by TrainConfig itself); backend choices
come from the foundation registry. :mod:`ovnerf_ros.parameters` declares and validates them on a
node. (No rclpy here: the table is plain data.)
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

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
