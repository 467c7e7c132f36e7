"""Depth supervision parameters of the trainer node (training.depth_weight / free_space_weight /
free_space_margin): declared with ranges and defaults from config/ovnerf.yaml, set over DDS like
`ros2 param set`, and carried into the TrainConfig of the next Train goal."""
from ovnerf.app.run import build_configs
from ovnerf_msgs.action import Train
from ovnerf_ros.parameters import load_defaults

from ros_harness import defaults, remote_parameter_setter
from test_trainer_services import harness  # noqa: F401 - the fixture


def test_depth_parameters_reach_the_train_config(harness, tmp_path):
    from ovnerf_ros.trainer_node import TrainerNode
    h = harness
    d = load_defaults()
    assert (d["training.depth_weight"], d["training.free_space_weight"], d["training.free_space_margin"]) == \
        (1.0, 1.0, 0.1)
    node = h.add(TrainerNode(defaults=defaults(output_dir=str(tmp_path)), context=h.context))
    cfg, _, _ = build_configs(node.job_spec(Train.Goal()))
    assert (cfg.depth_weight, cfg.free_space_weight, cfg.free_space_margin) == (1.0, 1.0, 0.1)

    set_remote = remote_parameter_setter(h, "ovnerf_trainer")

    assert set_remote("training.depth_weight", 0.5).successful
    assert set_remote("training.free_space_margin", 0.25).successful
    r = set_remote("training.depth_weight", -1.0)              # out of range: refused with the reason
    assert not r.successful and "out of range" in r.reason
    cfg, _, _ = build_configs(node.job_spec(Train.Goal()))
    assert (cfg.depth_weight, cfg.free_space_weight, cfg.free_space_margin) == (0.5, 1.0, 0.25)
    desc = node.describe_parameters(["training.depth_weight"])[0]
    assert "no-op" in desc.description and desc.floating_point_range[0].from_value == 0.0
    # training.options still win over the parameters
    assert set_remote("training.options", ["depth_weight=0.0"]).successful
    cfg, _, _ = build_configs(node.job_spec(Train.Goal()))
    assert cfg.depth_weight == 0.0 and cfg.free_space_weight == 1.0
