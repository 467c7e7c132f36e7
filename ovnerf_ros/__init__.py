"""ROS 2 layer of ovnerf: nodes, message conversions, parameters. No numerics."""
