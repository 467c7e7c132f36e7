"""Synthetic scenes: the procedural demo room (geometry, textures, trajectory, ray-cast renderer),
written as a scene directory (``generate``) or a ROS 2 bag (``bag_export``)."""
