"""Every TrainConfig field is a ROS parameter ``training.<field>`` (generated, no per-field
plumbing): unset = the preset's value, set over DDS like `ros2 param set`, validated by
TrainConfig itself, carried into the next Train goal's TrainConfig; ``training.options`` wins;
``training.backend`` offers every text-image backend of the foundation registry."""

from ovnerf.app.run import build_configs
from ovnerf.foundation.registry import choices
from ovnerf.training.config import TrainConfig
from ovnerf_msgs.action import Train
from ovnerf_ros.parameters import TRAIN_FIELDS

from ros_harness import defaults, remote_parameter_setter
from test_trainer_services import harness  # noqa: F401 - the fixture


def test_every_train_config_field_is_a_parameter(harness, tmp_path):
    from ovnerf_ros.trainer_node import TrainerNode
    h = harness
    node = h.add(TrainerNode(defaults=defaults(output_dir=str(tmp_path)), context=h.context))
    assert len(TRAIN_FIELDS) > 30 and all(node.has_parameter(f"training.{f}") for f in TRAIN_FIELDS)
    cpu = TrainConfig.cpu_preset()
    cfg, _, found = build_configs(node.job_spec(Train.Goal()))
    assert cfg.batch_rays == cpu.batch_rays and cfg.upsample_iters == cpu.upsample_iters   # unset: preset's
    assert found.clip == "simulated"

    set_remote = remote_parameter_setter(h, "ovnerf_trainer")

    assert set_remote("training.batch_rays", 333).successful
    assert set_remote("training.upsample_iters", [5, 7]).successful
    assert set_remote("training.betas", [0.8, 0.95]).successful
    assert set_remote("training.cse_pseudo_rsr", False).successful
    r = set_remote("training.lr_decay_target", 2.0)           # TrainConfig.validate refuses, with its reason
    assert not r.successful and "lr_decay_target" in r.reason
    assert "maskclip" in choices("clip")
    assert set_remote("training.backend", "maskclip").successful
    cfg, _, found = build_configs(node.job_spec(Train.Goal()))
    assert (cfg.batch_rays, cfg.upsample_iters, cfg.betas, cfg.cse_pseudo_rsr) == (333, (5, 7), (0.8, 0.95), False)
    assert cfg.lr_decay_target == cpu.lr_decay_target and found.clip == "maskclip"
    assert set_remote("training.options", ["batch_rays=64", "field.max_samples=8", "foundation.sam=none"]).successful
    cfg, fcfg, found = build_configs(node.job_spec(Train.Goal()))
    assert cfg.batch_rays == 64 and fcfg.max_samples == 8 and found.sam == "none"
