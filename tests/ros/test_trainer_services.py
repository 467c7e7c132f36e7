"""Trainer/server node over real DDS (in-process executor thread): query/render before any model,
empty query text, corrupt checkpoint, invalid render pose, serving a checkpoint (sizes), and
open-vocabulary queries (text encoder rebuilt from the checkpoint's record)."""
import numpy as np
import pytest
import rclpy
import torch

from ovnerf.checkpoint import save_checkpoint
from ovnerf.field.semantic_field import FieldConfig, SemanticField
from ovnerf.scene.conventions import look_at
from ovnerf_msgs.srv import Query, RenderView
from ovnerf_ros import conversions as cv
from std_srvs.srv import Trigger

from ros_harness import Harness, defaults, wait_for


@pytest.fixture
def harness():
    h = Harness()
    yield h
    h.close()


def make_trainer(h, out):
    from ovnerf_ros.trainer_node import TrainerNode
    node = h.add(TrainerNode(defaults=defaults(output_dir=str(out), **{"render.max_side": 32}), context=h.context))
    return node


def call(h, srv_type, name, request, timeout=60.0):
    client = h.driver.create_client(srv_type, name)
    assert client.wait_for_service(timeout_sec=10.0), f"{name} not available"
    fut = client.call_async(request)
    wait_for(fut.done, timeout=timeout, what=f"{name} response")
    h.driver.destroy_client(client)
    return fut.result()


def _write_checkpoint(path):
    torch.manual_seed(0)
    field = SemanticField(FieldConfig.cpu_preset(feature_dim=16, dino_dim=8), (-np.ones(3), np.ones(3)))
    K = np.array([[30.0, 0, 16], [0, 30.0, 12], [0, 0, 1]])
    c2w = look_at((0.0, -2.5, 0.5), (0, 0, 0))
    save_checkpoint(path, field=field, field_config=field.cfg.to_dict(), vocabulary=["table", "chair"],
                    text_emb=torch.nn.functional.normalize(torch.randn(2, 16), dim=-1),
                    views=[[K, c2w, 24, 32]])
    return K, c2w


def test_requests_before_training_and_empty_text(harness, tmp_path):
    h = harness
    make_trainer(h, tmp_path)
    r = call(h, Query, "/ovnerf/query", Query.Request(text="table"))
    assert not r.success and "no trained model" in r.message
    r = call(h, Query, "/ovnerf/query", Query.Request(text="   "))
    assert not r.success and "empty" in r.message
    r = call(h, RenderView, "/ovnerf/render", RenderView.Request())
    assert not r.success and "no trained model" in r.message
    r = call(h, Trigger, "/ovnerf/load_checkpoint", Trigger.Request())
    assert not r.success and "no checkpoint" in r.message
    r = call(h, Trigger, "/ovnerf/publish_cloud", Trigger.Request())
    assert not r.success


def test_corrupt_checkpoint_then_valid_one(harness, tmp_path):
    h = harness
    ck = tmp_path / "checkpoints" / "checkpoint.pt"
    ck.parent.mkdir(parents=True)
    ck.write_bytes(b"PK\x03\x04 this is not a checkpoint" * 10)
    node = make_trainer(h, tmp_path)                       # starts anyway, in state "error"
    assert node.state == "error" and "corrupt" in node.message
    r = call(h, Trigger, "/ovnerf/load_checkpoint", Trigger.Request())
    assert not r.success and "corrupt" in r.message
    r = call(h, Query, "/ovnerf/query", Query.Request(text="table"))
    assert not r.success and "no trained model" in r.message

    K, c2w = _write_checkpoint(ck)                         # a valid (untrained) checkpoint appears
    r = call(h, Trigger, "/ovnerf/load_checkpoint", Trigger.Request())
    assert r.success, r.message

    # render at the default camera (the checkpoint's view, longest side render.max_side = 32)
    r = call(h, RenderView, "/ovnerf/render", RenderView.Request(camera_pose=cv.matrix_to_pose(c2w)))
    assert r.success, r.message
    assert (r.rgb.height, r.rgb.width, r.rgb.encoding) == (24, 32, "rgb8")
    assert (r.depth.height, r.depth.width, r.depth.encoding) == (24, 32, "32FC1")
    assert (r.labels.encoding, r.labels_color.encoding) == ("mono16", "rgb8")
    assert [c.name for c in r.legend] == ["table", "chair"]
    # explicit intrinsics
    req = RenderView.Request(camera_pose=cv.matrix_to_pose(c2w), camera_info=cv.K_to_camera_info(K / 2 + np.diag([0, 0, 0.5]), 12, 16))
    r = call(h, RenderView, "/ovnerf/render", req)
    assert r.success and (r.rgb.height, r.rgb.width) == (12, 16)

    # invalid poses: NaN, non-unit quaternion; invalid intrinsics
    bad = cv.matrix_to_pose(c2w)
    bad.position.x = float("nan")
    r = call(h, RenderView, "/ovnerf/render", RenderView.Request(camera_pose=bad))
    assert not r.success and "NaN" in r.message
    bad = cv.matrix_to_pose(c2w)
    bad.orientation.w, bad.orientation.x = 2.0, 1.0
    r = call(h, RenderView, "/ovnerf/render", RenderView.Request(camera_pose=bad))
    assert not r.success and "unit quaternion" in r.message
    info = cv.K_to_camera_info(np.zeros((3, 3)), 12, 16)
    r = call(h, RenderView, "/ovnerf/render", RenderView.Request(camera_pose=cv.matrix_to_pose(c2w), camera_info=info))
    assert not r.success and "focal" in r.message

    # a query on the (untrained) field answers without crashing; this checkpoint records no text
    # encoder, so a word outside the vocabulary is refused naming why (vocabulary words still work)
    r = call(h, Query, "/ovnerf/query", Query.Request(text="sofa"))
    assert not r.success and "does not record which text encoder" in r.message
    r = call(h, Query, "/ovnerf/query", Query.Request(text="table", use_pose=True, camera_pose=cv.matrix_to_pose(c2w)))
    assert r.relevancy.encoding == "32FC1" and (r.mask.height, r.mask.width) == (24, 32)
    assert node.state == "ready"


def _write_open_checkpoint(path, K, c2w):
    """A checkpoint whose vocabulary embeddings come from the simulated (WordNet) text encoder,
    with its record; the field is opaque everywhere and its feature is the embedding of "sofa"."""
    from ovnerf.foundation.registry import build_text_image
    from ovnerf.foundation.text_encoder_record import record_of
    enc = build_text_image({"clip": "simulated", "sim_dim": 16})
    vocab = ["table", "chair", "sofa"]
    emb = enc.encode_text(vocab)
    torch.manual_seed(0)
    field = SemanticField(FieldConfig.cpu_preset(feature_dim=16, dino_dim=8, density_shift=2.0), (-np.ones(3), np.ones(3)))
    with torch.no_grad():
        field.feature_head.mlp[-1].weight.zero_()
        field.feature_head.mlp[-1].bias.copy_(emb[2])
    save_checkpoint(path, field=field, field_config=field.cfg.to_dict(), vocabulary=vocab, text_emb=emb,
                    views=[[K, c2w, 24, 32]], text_encoder=record_of(enc))


def test_open_vocabulary_query_over_dds(harness, tmp_path):
    """A word outside the vocabulary ("couch") is answered (success, relevancy from the rebuilt
    encoder) with the embedding the offline path computes; an unknown word gets a reason."""
    from ovnerf.foundation.wordnet_text import WordNetTextEncoder
    from ovnerf.query import SemanticMap
    h = harness
    ck = tmp_path / "checkpoints" / "checkpoint.pt"
    K = np.array([[30.0, 0, 16], [0, 30.0, 12], [0, 0, 1]])
    c2w = look_at((0.0, -2.5, 0.5), (0, 0, 0))
    _write_open_checkpoint(ck, K, c2w)
    node = make_trainer(h, tmp_path)
    assert node.state == "ready", node.message
    pose = cv.matrix_to_pose(c2w)
    r = call(h, Query, "/ovnerf/query", Query.Request(text="couch", use_pose=True, camera_pose=pose))
    assert r.success, r.message
    rel = cv.image_to_array(r.relevancy)
    assert rel.shape == (24, 32) and rel.min() > 0.99            # the field IS a sofa: couch = sofa
    node_emb = node.smap.text_encoder.encode_text(["couch"])[0]   # what the node embedded (cached)
    offline = WordNetTextEncoder(dim=16, seed=0).encode_text(["couch"])[0]
    assert float(node_emb @ offline) >= 0.999
    off = SemanticMap.load(ck).relevancy("couch", [], K, c2w, 24, 32)
    assert np.allclose(rel, off["relevancy"], atol=1e-4)
    # negatives=[text] keeps the canonical negatives (not a whole-scene score of 1 by default)
    r2 = call(h, Query, "/ovnerf/query", Query.Request(text="couch", negatives=["couch"], use_pose=True, camera_pose=pose))
    assert r2.success and np.allclose(cv.image_to_array(r2.relevancy), rel)
    r = call(h, Query, "/ovnerf/query", Query.Request(text="xyzzyq"))
    assert not r.success and "unknown word 'xyzzyq'" in r.message
    r = call(h, Query, "/ovnerf/query", Query.Request(text="table"))   # vocabulary: checkpoint embedding
    assert r.relevancy.encoding == "32FC1"
