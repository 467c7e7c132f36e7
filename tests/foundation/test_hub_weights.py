"""SAM / DINO weights through the libraries' caches: a cached file is used, offline → one line."""
import urllib.error

import pytest
import torch

from ovnerf.errors import UserError
from ovnerf.foundation import hub_weights


def test_sam_from_torch_hub_cache_or_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    calls = []

    def offline(url, dst, progress=True):
        calls.append(url)
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    want = tmp_path / "hub" / "checkpoints" / "sam_vit_b_01ec64.pth"
    with pytest.raises(UserError) as ei:
        hub_weights.sam_checkpoint("vit_b")
    msg = str(ei.value)
    assert "\n" not in msg and "vit_b" in msg and str(want) in msg and "URLError" in msg
    assert calls == [hub_weights.SAM_URLS["vit_b"]]
    want.write_bytes(b"cached")                       # in the cache: no download attempted
    assert hub_weights.sam_checkpoint("vit_b") == want and len(calls) == 1
    with pytest.raises(UserError, match="vit_x"):
        hub_weights.sam_checkpoint("vit_x")


def test_dino_timm_offline_is_one_line(monkeypatch, tmp_path):
    import timm

    def offline(*a, **k):
        raise OSError("We couldn't connect to 'https://huggingface.co'")
    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(UserError) as ei:
        hub_weights.timm_pretrained("vit_base_patch8_224.dino")
    msg = str(ei.value)
    assert "\n" not in msg and "vit_base_patch8_224.dino" in msg and "models--timm--vit_base_patch8_224.dino" in msg
