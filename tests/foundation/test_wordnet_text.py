"""WordNetTextEncoder (a SIMULATION of a CLIP text encoder): WordNet geometry, phrases, unknown words."""
import pytest
import torch

from ovnerf.errors import UserError
from ovnerf.foundation.wordnet_text import UnknownWordError, WordNetTextEncoder


@pytest.fixture(scope="module")
def enc():
    return WordNetTextEncoder(dim=512, seed=0)


def test_shape_norm_deterministic(enc):
    e = enc.encode_text(["chair", "Potted  plant", "wooden-table"])
    assert e.shape == (3, 512) and e.dtype == torch.float32
    assert torch.allclose(e.norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.allclose(e, WordNetTextEncoder(dim=512, seed=0).encode_text(["chair", "potted plant", "wooden table"]))
    assert enc.encode_text([]).shape == (0, 512)
    assert enc.is_simulation and "SIMULATION" in enc.name


def test_synonyms_are_one_synset(enc):
    assert [s for s, _ in enc.senses("couch")] == ["sofa.n.01"]
    assert enc.similarity("couch", "sofa") > 0.9999
    assert enc.similarity("carpet", "rug") > 0.9999
    assert enc.similarity("tv", "television") > 0.95         # same senses, other SemCor counts


def test_hypernyms_near_hyponyms_unrelated_far(enc):
    for hypo in ("chair", "table", "sofa", "bookshelf", "cabinet"):
        assert enc.similarity("furniture", hypo) > 0.25, hypo
    for other in ("wall", "floor", "window", "book", "plant", "lamp"):
        assert enc.similarity("furniture", other) < 0.15, other
    for hypo in ("chair", "sofa"):
        assert enc.similarity("seat", hypo) > 0.35, hypo
    assert enc.similarity("seat", "wall") < 0.15
    unrelated = ["wall", "book", "lamp", "plant", "box", "pillow", "window"]
    e = enc.encode_text(unrelated)
    off = (e @ e.T)[~torch.eye(len(unrelated), dtype=torch.bool)]
    assert off.abs().max() < 0.2 and off.abs().mean() < 0.08


def test_phrases_combine_their_words(enc):
    assert enc.similarity("potted plant", "plant") > 0.8
    assert enc.similarity("wooden table", "table") > 0.8
    assert enc.similarity("wooden table", "table") > enc.similarity("wooden table", "chair") + 0.3
    assert enc.similarity("the red chair", "chair") > 0.8          # stop word dropped, head = chair
    assert enc.similarity("red ball", "green ball") < enc.similarity("red ball", "ball")
    # a phrase WordNet lists as one lemma is that synset, not a mix of its words
    assert [s for s, _ in enc.senses("coffee table")] == ["coffee_table.n.01"]


def test_unknown_words_are_refused_by_name(enc):
    with pytest.raises(UnknownWordError, match=r"unknown word 'xyzzyq'"):
        enc.encode_text(["xyzzyq"])
    with pytest.raises(UnknownWordError, match=r"'blorptastic'.*not in WordNet"):
        enc.encode_text(["blorptastic chair"])
    with pytest.raises(UserError):
        enc.encode_text(["   "])
