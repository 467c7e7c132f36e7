"""The 3DOVS crop recipe: exact geometry, exact accumulation, and the open_clip backend on a tiny
random CLIP (each scale's map = the per-cell mean of open_clip's own embedding of each crop)."""
import pytest
import torch
import torch.nn.functional as F

from ovnerf.foundation import crops_3dovs as c3
from ovnerf.foundation.base import l2_normalize
from ovnerf.foundation.clip_3dovs import OpenCLIP3DOVS
from ovnerf.foundation.registry import build_text_image

from .test_openclip import tiny_dir  # noqa: F401 (fixture)


def test_patch_sizes_grid_and_crop_count_of_a_640x480_view():
    assert c3.grid_size(480, 640) == (60, 80)
    assert c3.patch_sizes(60, 80) == [12, 8, 6]
    # stride 3/2/1: (17 x 24) + (27 x 37) + (55 x 75)
    assert c3.crop_count(480, 640) == 17 * 24 + 27 * 37 + 55 * 75 == 5532


def test_crop_geometry_exact_small_grid():
    # h=41, w=50: p = 8 (stride 2), 5 (stride 1), 4 (stride 1)
    assert c3.patch_sizes(41, 50) == [8, 5, 4]
    b = c3.crop_boxes(41, 50, 8)
    # y: (41-8)//2 + 1 = 17 origins + 1 extra (remainder 1) -> 0,2,...,34 ; x: 42//2+1 = 22 -> 0..42
    ys = torch.arange(18) * 2
    xs = torch.arange(22) * 2
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    want = torch.stack([xx.reshape(-1), yy.reshape(-1), xx.reshape(-1) + 8, (yy.reshape(-1) + 8).clamp(max=41)], 1)
    assert torch.equal(b, want)
    assert int(b[-1, 3]) == 41 and int(b[-1, 3] - b[-1, 1]) == 7  # the extra crop is clipped
    # every cell is covered at every scale
    for boxes in c3.all_crop_boxes(41, 50, jitter=True, seed=3):
        acc = c3.Accumulator(41, 50, 1)
        acc.add(boxes, torch.zeros(len(boxes), 1))
        assert int(acc.sums()[1].min()) >= 1


def test_jitter_pushes_sides_outwards_by_at_most_p_over_4_and_is_seeded():
    plain = c3.crop_boxes(60, 80, 12)
    g = torch.Generator().manual_seed(0)
    jit = c3.crop_boxes(60, 80, 12, jitter=True, generator=g)
    grow = torch.cat([plain[:, :2] - jit[:, :2], jit[:, 2:] - plain[:, 2:]], 1)
    assert int(grow.min()) >= 0 and int(grow.max()) == 3
    assert float((grow > 0).float().mean()) > 0.5
    assert torch.equal(c3.all_crop_boxes(60, 80, seed=5)[0], c3.all_crop_boxes(60, 80, seed=5)[0])
    assert not torch.equal(c3.all_crop_boxes(60, 80, seed=5)[0], c3.all_crop_boxes(60, 80, seed=6)[0])


def test_accumulation_is_the_per_cell_mean_of_covering_crops():
    g = torch.Generator().manual_seed(0)
    h, w, D = 7, 9, 5
    boxes = c3.crop_boxes(h, w, 3, jitter=True, generator=g)
    emb = torch.randn(len(boxes), D, generator=g)
    acc = c3.Accumulator(h, w, D)
    acc.add(boxes[:10], emb[:10])  # fed in two batches
    acc.add(boxes[10:], emb[10:])
    ref = torch.zeros(h, w, D)
    cnt = torch.zeros(h, w)
    for (x0, y0, x1, y1), e in zip(boxes.tolist(), emb):
        ref[y0:y1, x0:x1] += e
        cnt[y0:y1, x0:x1] += 1
    assert torch.allclose(acc.mean(), ref / cnt[..., None], atol=1e-5)
    assert torch.equal(acc.sums()[1], cnt)


@pytest.fixture(scope="module")
def tiny3dovs(tiny_dir):
    return build_text_image({"clip": "openclip", "clip_model": f"local-dir:{tiny_dir}", "clip_batch_size": 64})


def test_backend_shapes_and_scale_equivalence_with_open_clip(tiny3dovs, room_views):
    torch.set_num_threads(1)
    b = tiny3dovs
    assert isinstance(b, OpenCLIP3DOVS) and b.fingerprint()["recipe"] == "3dovs"
    frames, _ = room_views
    img = frames[0].image  # 160x120 -> grid 15x20, patches 3/2/1 cells
    ms = b.multiscale_features(frames[0])
    assert ms.shape == (3, 15, 20, 32)
    assert torch.allclose(ms.norm(dim=-1), torch.ones(3, 15, 20), atol=1e-4)
    small = b.downsample(img)
    ref_small = F.interpolate(torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255, (15, 20),
                              mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)[0]
    assert torch.allclose(small, ref_small, atol=1e-6)
    boxes = c3.all_crop_boxes(15, 20, jitter=True, seed=0)
    R = b.input_size
    for s in range(3):
        ref = torch.zeros(15, 20, 32)
        cnt = torch.zeros(15, 20)
        with torch.no_grad():
            for x0, y0, x1, y1 in boxes[s].tolist():  # open_clip on each crop, one at a time
                crop = F.interpolate(small[None, :, y0:y1, x0:x1], (R, R), mode="bilinear", align_corners=False)
                e = b.model.encode_image((crop - b.mean) / b.std)[0]
                ref[y0:y1, x0:x1] += e
                cnt[y0:y1, x0:x1] += 1
        assert torch.allclose(ms[s], l2_normalize(ref / cnt[..., None]), atol=1e-4), s
