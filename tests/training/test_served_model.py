"""Issue #13 defect 9: training never loses the served model. A run trains into its own
checkpoint (checkpoints/runs/<time>/) and replaces checkpoints/checkpoint.pt only when it
finishes; a cancelled or failed run leaves the served file byte for byte; resume continues the
newest checkpoint and the result counts this run's iterations and the total. Through the one run
path (ovnerf.app.run.run, which the ROS Train action calls); tiny scene and model."""
import pytest

from ovnerf.app.run import RunSpec, run
from ovnerf.app.workspace import Workspace
from ovnerf.checkpoint import load_checkpoint
from ovnerf.errors import UserError

VOCAB = ["wall", "floor", "table", "chair"]
OPTIONS = ["foundation.sam=none", "foundation.dino=none", "foundation.sim_dim=32", "field.n_voxels_init=2048",
           "field.n_voxels_final=4096", "field.max_samples=16", "batch_rays=64", "stage1_iters=100",
           "checkpoint_every=2", "point_map_views=2", "point_map_side=8"]


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    from ovnerf.synthetic.generate import generate_room_scene
    root = tmp_path_factory.mktemp("served")
    generate_room_scene(root / "scene", seed=1, width=32, height=24, n_frames=5)
    return root


def spec(out, iterations, resume):
    return RunSpec(vocabulary=VOCAB, iterations=iterations, options=OPTIONS, use_cse=False, resume=resume)

def quiet(*a, **k):
    pass

def test_cancel_and_failure_keep_the_served_model(out):
    served = out / "checkpoints" / "checkpoint.pt"
    first = run(Workspace(out), spec(out, 4, resume=False), quiet, lambda: False)
    assert first.promoted and first.checkpoint == str(served)
    assert (first.iterations_run, first.iterations_done) == (4, 4)
    run_maps = list((out / "checkpoints" / "runs").glob("*/checkpoint.pointmap.pt"))
    assert (out / "checkpoints" / "checkpoint.pointmap.pt").is_file() == bool(run_maps)   # promoted with it
    before = served.read_bytes()

    polls = {"training": False, "n": 0}

    def watch(stage, *a):
        polls["training"] = polls["training"] or stage.startswith("stage")

    def stop_soon():                                   # cancel after 3 iterations of an 8-iteration run
        polls["n"] += polls["training"]
        return polls["n"] > 3
    cancelled = run(Workspace(out), spec(out, 8, resume=False), watch, stop_soon)
    assert cancelled.stopped and not cancelled.promoted
    assert served.read_bytes() == before               # the served model did not move
    assert cancelled.checkpoint != str(served) and load_checkpoint(cancelled.checkpoint, build=False)["iteration"] < 8

    polls.update(training=False, n=0)

    def fail_soon():                                   # a failure after 3 iterations
        if stop_soon():
            raise RuntimeError("simulated failure during training")
        return False
    with pytest.raises(RuntimeError):
        run(Workspace(out), spec(out, 8, resume=False), watch, fail_soon)
    assert served.read_bytes() == before

    resumed = run(Workspace(out), spec(out, 8, resume=True), quiet, lambda: False)   # continues the newest partial run
    assert resumed.promoted and resumed.iterations_done == 8
    assert 0 < resumed.iterations_run < 8               # only the iterations this goal ran
    assert load_checkpoint(served, build=False)["iteration"] == 8

def test_bad_vocabulary_fails_before_touching_anything(out):
    served = out / "checkpoints" / "checkpoint.pt"
    before = served.read_bytes() if served.exists() else None
    with pytest.raises(UserError):
        run(Workspace(out), RunSpec(vocabulary=[" ", ""], options=OPTIONS), quiet, lambda: False)
    assert (served.read_bytes() if served.exists() else None) == before
