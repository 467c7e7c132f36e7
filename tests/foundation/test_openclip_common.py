"""ovnerf.foundation.openclip_common: image validation, model placement, text encoding."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ovnerf.errors import UserError
from ovnerf.foundation.openclip_common import OpenCLIPBackend, frame_rgb


def test_frame_rgb_accepts_frames_and_arrays():
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    np.testing.assert_array_equal(frame_rgb(img, "x"), img)
    np.testing.assert_array_equal(frame_rgb(SimpleNamespace(image=img), "x"), img)


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8),
                                 np.zeros((4, 4, 3), np.float32)])
def test_frame_rgb_rejects_with_prefix(bad):
    with pytest.raises(UserError, match=r"^who: image must be uint8 HxWx3 RGB"):
        frame_rgb(bad, "who")


class _TinyText(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(10, 4)

    def encode_text(self, tokens):
        return self.emb(tokens).sum(1)


class _Backend(OpenCLIPBackend):
    def __init__(self, fp16=None):
        self._setup_model(_TinyText().train(), lambda texts: torch.tensor([[len(t) % 10, 1] for t in texts]),
                          "tiny", "abc", "cpu", fp16)

    def multiscale_features(self, frame):
        raise NotImplementedError


def test_setup_model_and_encode_text():
    b = _Backend()
    assert b.device == torch.device("cpu") and b.fp16 is False  # fp16=None → only on CUDA
    assert not b.model.training and b.model_name == "tiny" and b.checkpoint_sha == "abc"
    t = b.encode_text(["ab", "abc", "ab"])
    assert t.shape == (3, 4) and t.dtype == torch.float32
    torch.testing.assert_close(t.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(t[0], t[2])
    assert _Backend(fp16=True).model.emb.weight.dtype == torch.float16
