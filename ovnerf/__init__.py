"""OV-NeRF core library: scene data, foundation models, TensoRF semantic field, training, queries.

Never imports rclpy: the ROS 2 layer lives in `ovnerf_ros`.
"""

__version__ = "0.1.0"
