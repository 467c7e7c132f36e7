"""segment_anything AMG plumbing with a tiny randomly initialised Sam of the real architecture."""
from functools import partial

import numpy as np
import pytest
import torch

from ovnerf.errors import MissingWeightsError, UserError
from ovnerf.foundation.registry import build_regions
from ovnerf.foundation.sam_torch import TorchSamRegions


def tiny_sam():
    from segment_anything.modeling import (ImageEncoderViT, MaskDecoder, PromptEncoder, Sam,
                                           TwoWayTransformer)
    torch.manual_seed(0)
    E = 32
    return Sam(
        image_encoder=ImageEncoderViT(depth=1, embed_dim=32, img_size=64, mlp_ratio=2,
                                      norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), num_heads=2,
                                      patch_size=16, qkv_bias=True, use_rel_pos=True,
                                      global_attn_indexes=[0], window_size=2, out_chans=E),
        prompt_encoder=PromptEncoder(embed_dim=E, image_embedding_size=(4, 4), input_image_size=(64, 64),
                                     mask_in_chans=8),
        mask_decoder=MaskDecoder(num_multimask_outputs=3,
                                 transformer=TwoWayTransformer(depth=1, embedding_dim=E, mlp_dim=64, num_heads=2),
                                 transformer_dim=E, iou_head_depth=1, iou_head_hidden_dim=16),
        pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375])


def test_amg_plumbing_shapes_and_order():
    regions = TorchSamRegions(tiny_sam(), "tiny", points_per_side=4, points_per_batch=8,
                              pred_iou_thresh=-10.0, stability_score_thresh=0.0, nms_thresh=1.0)
    img = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    masks = regions.generate(img)
    assert masks.dtype == bool and masks.shape[1:] == (48, 64)
    assert 1 <= len(masks) <= 4 * 4 * 3  # ≤ 3 multimask outputs per grid point
    area = masks.reshape(len(masks), -1).sum(1)
    assert np.all(np.diff(area) <= 0) and area.min() >= 1
    fp = regions.fingerprint()
    assert fp["points_per_side"] == 4 and fp["box_nms_thresh"] == 1.0


def test_strict_thresholds_filter_everything():
    regions = TorchSamRegions(tiny_sam(), "tiny", points_per_side=2, pred_iou_thresh=10.0)
    img = np.zeros((32, 32, 3), dtype=np.uint8)
    assert regions.generate(img).shape == (0, 32, 32)


def test_missing_checkpoint_and_bad_type(tmp_path):
    with pytest.raises(MissingWeightsError) as ei:
        build_regions({"sam": "torch", "sam_checkpoint": str(tmp_path / "sam_vit_b_01ec64.pth"),
                       "sam_model_type": "vit_b"})
    msg = str(ei.value)
    assert "sam_vit_b_01ec64.pth" in msg and "sam_checkpoint" in msg and "segment-anything" in msg
    with pytest.raises(UserError, match="sam_model_type"):
        TorchSamRegions.from_checkpoint(tmp_path / "x.pth", "vit_xxl")
