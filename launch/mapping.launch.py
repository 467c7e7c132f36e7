"""Launch the OV-NeRF mapping nodes.

    ros2 launch ovnerf_ros mapping.launch.py                          # collector + trainer, one process
    ros2 launch ovnerf_ros mapping.launch.py side:=collector          # robot: collect keyframes
    ros2 launch ovnerf_ros mapping.launch.py side:=trainer            # GPU machine: train + serve
    ros2 launch ovnerf_ros mapping.launch.py config:=/path/my.yaml output_dir:=/data/run1 \
        image_topic:=/cam/image camera_info_topic:=/cam/info camera_frame:=cam_optical use_sim_time:=true

Arguments left empty keep the value from the config file (default: the package's
config/ovnerf.yaml). The collector and trainer sides share the dataset directory
(``output_dir``) and talk over DDS (``/ovnerf/*`` services, action and topics).
The console scripts ``ovnerf_mapping_node`` / ``ovnerf_collector_node`` /
``ovnerf_trainer_node`` start the same nodes without the launch system.
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

SIDES = {"all": "ovnerf_mapping_node", "collector": "ovnerf_collector_node", "trainer": "ovnerf_trainer_node"}
# launch argument -> (parameter name, type)
OVERRIDES = {
    "output_dir": ("output_dir", str),
    "image_topic": ("image_topic", str),
    "camera_info_topic": ("camera_info_topic", str),
    "map_frame": ("map_frame", str),
    "camera_frame": ("camera_frame", str),
    "pose_source": ("pose_source", str),
    "device": ("device", str),
}


def default_config() -> str:
    try:
        from ament_index_python.packages import get_package_share_directory
        return os.path.join(get_package_share_directory("ovnerf_ros"), "config", "ovnerf.yaml")
    except Exception:  # not installed through ament (e.g. a source checkout)
        return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "config", "ovnerf.yaml")


def _nodes(context, *args, **kwargs):
    side = LaunchConfiguration("side").perform(context).strip()
    if side not in SIDES:
        raise RuntimeError(f"side:={side} is not one of {sorted(SIDES)}")
    config = LaunchConfiguration("config").perform(context).strip() or default_config()
    overrides = {}
    for arg, (param, _) in OVERRIDES.items():
        value = LaunchConfiguration(arg).perform(context)
        if value != "":
            overrides[param] = value
    use_sim_time = LaunchConfiguration("use_sim_time").perform(context).strip().lower() in ("true", "1", "yes")
    overrides["use_sim_time"] = use_sim_time
    return [Node(package="ovnerf_ros", executable=SIDES[side], output="screen", emulate_tty=True,
                 parameters=[config, overrides])]


def generate_launch_description() -> LaunchDescription:
    args = [
        DeclareLaunchArgument("side", default_value="all", choices=list(SIDES),
                              description="all: one process; collector: robot side; trainer: training/serving side"),
        DeclareLaunchArgument("config", default_value="", description="parameter YAML ('' = package config/ovnerf.yaml)"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock (bag playback, simulation)"),
    ]
    for arg in OVERRIDES:
        args.append(DeclareLaunchArgument(arg, default_value="", description=f"overrides parameter '{OVERRIDES[arg][0]}' ('' = from config)"))
    return LaunchDescription(args + [OpaqueFunction(function=_nodes)])
