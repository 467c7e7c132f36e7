"""open_clip 3DOVS crop backend with a tiny randomly initialised CLIP of the real architecture,
loaded through open_clip's own `local-dir:` path (config + weights on disk)."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ovnerf.errors import MissingWeightsError, UserError
from ovnerf.foundation.base import gather_scale, l2_normalize
from ovnerf.foundation.clip_openclip import OpenCLIPCrops, crop_boxes, spread_to_grid
from ovnerf.foundation.registry import build_text_image

TINY = {"embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 8, "head_width": 32},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from open_clip.model import CLIP
    d = tmp_path_factory.mktemp("tiny_clip")
    torch.manual_seed(0)
    torch.save(CLIP(**TINY).state_dict(), d / "open_clip_pytorch_model.bin")
    (d / "open_clip_config.json").write_text(json.dumps(
        {"model_cfg": TINY, "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}}))
    return d


@pytest.fixture(scope="module")
def backend(tiny_dir):
    return OpenCLIPCrops.from_pretrained(f"local-dir:{tiny_dir}", scales=(0.5, 0.25), stride=0.5,
                                         grid_stride=8, batch_size=64)


def test_shapes_and_normalisation(backend, room_views):
    frames, classes = room_views
    assert backend.dim == 32 and backend.input_size == 32 and not backend.fp16
    T = backend.encode_text(classes)
    assert T.shape == (6, 32) and torch.allclose(T.norm(dim=1), torch.ones(6), atol=1e-5)
    ms = backend.multiscale_features(frames[0])
    assert ms.shape == (2, 15, 20, 32)  # 2 scales, ceil(120/8) x ceil(160/8)
    assert torch.allclose(ms.norm(dim=-1), torch.ones(2, 15, 20), atol=1e-4)
    assert backend.select_scale(ms, T).shape == (15, 20)
    assert "sha256" in backend.fingerprint() and backend.fingerprint()["scales"] == [0.5, 0.25]


def test_batching_does_not_change_results(backend, tiny_dir, room_views):
    frames, _ = room_views
    small = OpenCLIPCrops.from_pretrained(f"local-dir:{tiny_dir}", scales=(0.5, 0.25), stride=0.5,
                                          grid_stride=8, batch_size=3)
    assert torch.allclose(small.multiscale_features(frames[1]), backend.multiscale_features(frames[1]),
                          atol=1e-5)


def test_crop_of_whole_image_is_the_image_embedding(backend):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    x = torch.from_numpy(img).permute(2, 0, 1).float()[None] / 255
    emb = backend.encode_crops(x[0], torch.tensor([[0.0, 0.0, 64.0, 64.0]]))
    ref = F.interpolate(x, (32, 32), mode="area")
    ref = l2_normalize(backend.model.encode_image((ref - backend.mean) / backend.std))
    assert torch.allclose(emb, ref, atol=1e-4)


def test_crop_boxes_cover_the_image():
    for H, W in ((120, 160), (480, 640), (50, 50)):
        for boxes, s in zip(crop_boxes(H, W, (0.5, 0.2), 0.5), (0.5, 0.2)):
            c = max(16, round(s * min(H, W)))  # min_crop = 16
            assert torch.all(boxes[:, 2] - boxes[:, 0] == c) and torch.all(boxes[:, 3] - boxes[:, 1] == c)
            assert boxes[:, 0].min() == 0 and boxes[:, 2].max() == W
            assert boxes[:, 1].min() == 0 and boxes[:, 3].max() == H
            xs = torch.unique(boxes[:, 0])
            assert torch.all(torch.diff(xs) <= round(0.5 * c) + 1)  # consecutive windows overlap


def test_spread_to_grid_known_answer():
    e = torch.eye(4)
    boxes = torch.tensor([[0.0, 0, 4, 4], [4, 0, 8, 4], [0, 0, 8, 8]])
    g = spread_to_grid(boxes, e[:3], 8, 8, 4, 4)  # 4x4 cells of 2 px, centres at 1,3,5,7
    assert torch.allclose(g[0, 0], (e[0] + e[2]) / 2)
    assert torch.allclose(g[1, 1], (e[0] + e[2]) / 2)
    assert torch.allclose(g[0, 3], (e[1] + e[2]) / 2)
    assert torch.allclose(g[3, 3], e[2]) and torch.allclose(g[2, 0], e[2])


def test_scale_selection_on_crafted_field(backend):
    """Cell (0,0): scale 1 is pure class 2, scale 0 ambiguous → 1. Cell (0,1): scale 0 is pure
    class 0, scale 1 a 3-class mixture → 0. Cell (1,0): both pure, scale 0 closer → 0 (tie-free)."""
    D = 8
    T = torch.eye(D)[:4]
    e = torch.eye(D)
    ms = torch.zeros(2, 2, 2, D)
    ms[0, 0, 0], ms[1, 0, 0] = e[0] + e[1], e[2]
    ms[0, 0, 1], ms[1, 0, 1] = e[0], e[0] + e[1] + e[3]
    ms[0, 1, 0], ms[1, 1, 0] = e[3], e[3] + 0.5 * e[2]
    ms[:, 1, 1] = e[1]
    ms = l2_normalize(ms)
    sel = backend.select_scale(ms, T)
    assert sel.tolist() == [[1, 0], [0, 0]]
    dense = gather_scale(ms, sel)
    assert torch.allclose(dense[0, 0], e[2]) and torch.allclose(dense[0, 1], e[0])


def test_missing_and_bad_weights(tmp_path, tiny_dir):
    with pytest.raises(MissingWeightsError) as ei:
        build_text_image({"clip": "openclip", "clip_checkpoint": str(tmp_path / "ViT-B-16.pt")})
    assert "ViT-B-16.pt" in str(ei.value) and "clip_checkpoint" in str(ei.value)
    with pytest.raises(MissingWeightsError):
        build_text_image({"clip": "openclip", "clip_model": f"local-dir:{tmp_path}"})
    f = tmp_path / "w.bin"
    f.write_bytes(b"x")
    with pytest.raises(UserError, match="unknown open_clip model"):
        build_text_image({"clip": "openclip", "clip_model": "NoSuchNet", "clip_checkpoint": str(f)})
    b = build_text_image({"clip": "openclip-fast", "clip_model": f"local-dir:{tiny_dir}", "clip_scales": [0.5]})
    assert isinstance(b, OpenCLIPCrops) and b.scales == (0.5,)


def test_maskclip_dense_variant(tiny_dir, room_views):
    from ovnerf.foundation.clip_maskclip import MaskCLIPDense
    frames, classes = room_views
    b = build_text_image({"clip": "maskclip", "clip_model": f"local-dir:{tiny_dir}"})
    assert isinstance(b, MaskCLIPDense)
    b.long_side = 64
    ms = b.multiscale_features(frames[0])
    assert ms.shape == (1, 6, 8, 32)  # 48x64 input, 8-px patches
    assert torch.allclose(ms.norm(dim=-1), torch.ones(1, 6, 8), atol=1e-4)
    T = b.encode_text(classes)
    assert b.select_scale(ms, T).shape == (6, 8)
    # at the model's native size (32 px = 4x4 patches) the token path equals open_clip's own
    img = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    x = (torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255 - b.mean) / b.std
    v = b.model.visual
    with torch.no_grad():
        ours = b.tokens_before_last_block(x, 4, 4)
        ref = v._embeds(x)
        for blk in v.transformer.resblocks[:-1]:
            ref = blk(ref)
        assert torch.allclose(ours, ref, atol=1e-5)
        # MaskCLIP's last block = attention where every token attends only to itself
        last = v.transformer.resblocks[-1]
        n = ours.shape[1]
        self_only = torch.full((n, n), float("-inf")).fill_diagonal_(0.0)
        ref_out = last.attention(last.ln_1(ours), attn_mask=self_only)
        ref_feat = l2_normalize((v.ln_post(ref_out) @ v.proj)[0, 1:].reshape(4, 4, -1))
    b.long_side = 32
    assert torch.allclose(b.multiscale_features(img)[0], ref_feat, atol=1e-4)
