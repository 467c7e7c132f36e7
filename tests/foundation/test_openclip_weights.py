"""open_clip weights the way users get them: pretrained tags through open_clip's cache (offline →
one line naming model, tag and cache path), QuickGELU for OpenAI weights only, OpenAI TorchScript
files through open_clip's OpenAI loader. Tiny models built from the real ViT-B-16 config with
random weights (no real weights exist on this machine)."""
import copy
import os
import subprocess
import sys
from pathlib import Path

import open_clip
import pytest
import torch

from ovnerf.errors import UserError
from ovnerf.foundation.openclip_weights import is_torchscript, load_openclip

REPO = Path(__file__).resolve().parents[2]
TINY = "ViT-B-16-ovnerf-tiny"


def _tiny_cfg():
    """The real ViT-B-16 config with narrow, 1-layer towers (widths multiple of 64: OpenAI's loader
    infers heads = width / 64)."""
    cfg = copy.deepcopy(open_clip.get_model_config("ViT-B-16"))
    cfg["embed_dim"] = 32
    cfg["vision_cfg"].update(width=64, layers=1, image_size=32)
    cfg["text_cfg"].update(width=64, heads=1, layers=1)
    return cfg


def _as_openai_archive(model) -> torch.nn.Module:
    """A module holding ``model``'s weights under OpenAI's state-dict names (OpenAI's released
    checkpoints are TorchScript archives; the loader reads their state_dict; OpenAI keeps the
    causal mask out of it)."""
    root = torch.nn.Module()
    for name, t in model.state_dict().items():
        if name == "attn_mask":
            continue
        *path, leaf = name.split(".")
        mod = root
        for part in path:
            if not hasattr(mod, part):
                mod.add_module(part, torch.nn.Module())
            mod = getattr(mod, part)
        mod.register_buffer(leaf, t.clone())
    return root


def _acts(model):
    return {type(m).__name__ for m in model.modules() if type(m).__name__ in ("GELU", "QuickGELU")}


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A tiny model registered under TINY with the real ViT-B-16 'openai' and 'laion2b_s34b_b88k'
    pretrained configs pointing at a local random-weight file."""
    torch.manual_seed(0)
    cfg = _tiny_cfg()
    model = open_clip.model.CLIP(**cfg)
    path = tmp_path / "tiny.pt"
    torch.save(model.state_dict(), path)
    monkeypatch.setitem(open_clip.factory._MODEL_CONFIGS, TINY, cfg)
    tags = {t: {**open_clip.get_pretrained_cfg("ViT-B-16", t), "file": str(path)}
            for t in ("openai", "laion2b_s34b_b88k")}
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, TINY, tags)
    return cfg, path


def test_quickgelu_for_openai_tags_not_for_laion(tiny):
    m_openai, _, sha, quick = load_openclip(TINY, pretrained="openai")
    assert quick and _acts(m_openai) == {"QuickGELU"}
    m_laion, _, sha2, quick2 = load_openclip(TINY, pretrained="laion2b_s34b_b88k")
    assert not quick2 and _acts(m_laion) == {"GELU"}
    assert sha == sha2 and len(sha) == 64
    # a local file given with the 'openai' tag gets QuickGELU too; without a tag, GELU (LAION-like)
    assert load_openclip(TINY, checkpoint=tiny[1], pretrained="openai")[3] is True
    assert load_openclip(TINY, checkpoint=tiny[1])[3] is False
    with pytest.raises(UserError, match="no pretrained tag 'nope'.*openai"):
        load_openclip(TINY, pretrained="nope")


def test_openai_torchscript_file_loads_with_quickgelu(tiny, tmp_path):
    cfg, _ = tiny
    torch.manual_seed(1)
    ref = open_clip.model.CLIP(**cfg, quick_gelu=True).eval()
    tokens = open_clip.get_tokenizer("ViT-B-16")(["a chair", "a red mug"])
    path = tmp_path / "ViT-B-16.pt"
    torch.jit.save(torch.jit.script(_as_openai_archive(ref)), str(path))
    assert is_torchscript(path) and not is_torchscript(tiny[1])
    model, tok, sha, quick = load_openclip("ViT-B-16", checkpoint=path)
    assert quick and _acts(model) == {"QuickGELU"}
    with torch.no_grad():
        a = model.encode_text(tokens)
        b = ref.encode_text(tokens)
    # same weights (OpenAI's loader round-trips them through fp16, as for the released files)
    assert torch.nn.functional.cosine_similarity(a, b).min() > 0.9999


def test_offline_tag_is_one_line_naming_model_tag_and_cache(tmp_path):
    """HF_HUB_OFFLINE=1 and an empty cache: one UserError line with the model, the tag and the
    cache directory to fill (a fresh interpreter: huggingface_hub reads the variable at import)."""
    code = ("from ovnerf.foundation.openclip_weights import load_openclip\n"
            "from ovnerf.errors import UserError\n"
            "try:\n    load_openclip('ViT-B-16', pretrained='laion2b_s34b_b88k')\n"
            "except UserError as e:\n    print('ERR', e)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    line = out.stdout.strip()
    assert line.startswith("ERR ") and "\n" not in line, (out.stdout, out.stderr)
    assert "ViT-B-16" in line and "laion2b_s34b_b88k" in line and "HF_HUB_OFFLINE=1" in line
    assert str(tmp_path / "hf" / "hub" / "models--laion--CLIP-ViT-B-16-laion2B-s34B-b88K") in line
    assert "Traceback" not in out.stderr
