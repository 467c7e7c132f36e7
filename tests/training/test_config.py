"""TrainConfig: paper defaults, CPU preset, overrides."""
import pytest

from ovnerf.errors import UserError
from ovnerf.training.config import TrainConfig


def test_paper_defaults():
    c = TrainConfig()
    assert (c.iterations, c.batch_rays, c.stage1_iters, c.cse_every, c.cse_novel_views) == (15000, 4096, 10000, 1000, 60)
    assert (c.lr_volume, c.lr_mlp, c.lr_decay_target, tuple(c.betas)) == (2e-2, 1e-4, 0.1, (0.9, 0.99))
    assert c.lr_factor() ** c.iterations == pytest.approx(0.1)
    assert c.stage(9999) == 1 and c.stage(10000) == 2
    assert c.replace(use_cse=False).stage(14000) == 1


def test_cpu_preset_is_smaller_and_consistent():
    c = TrainConfig.cpu_preset()
    assert c.iterations <= 3000 and c.stage1_iters < c.iterations and c.geometry_warmup_iters < c.stage1_iters


def test_overrides_from_strings_and_dict():
    c = TrainConfig.cpu_preset().override(["use_cse=false", "iterations=300", "lr_volume=0.01",
                                           "upsample_iters=[10, 20]", "betas=[0.8, 0.9]"])
    assert c.use_cse is False and c.iterations == 300 and c.lr_volume == 0.01
    assert c.upsample_iters == (10, 20) and c.betas == (0.8, 0.9)
    d = c.to_dict()
    assert TrainConfig.from_dict(d) == c


@pytest.mark.parametrize("bad", [["nosuchkey=1"], ["iterations=abc"], ["iterations"], ["use_rsr=maybe"],
                                 ["iterations=0"], ["temperature=-1"]])
def test_bad_overrides_raise_user_error(bad):
    with pytest.raises(UserError):
        TrainConfig().override(bad)
