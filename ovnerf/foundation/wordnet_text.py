"""WordNetTextEncoder — a **SIMULATION** of a CLIP text encoder whose geometry comes from WordNet.

No CLIP weights are reachable here, so the simulated teacher needs a text side with real lexical
semantics: synonyms must coincide, a hypernym must be close to its hyponyms and unrelated nouns far
apart, so that a field distilled from the teacher answers words it never saw (open vocabulary)
the way a CLIP-distilled field does. WordNet 3.0 (Debian ``wordnet-base`` +
``wordnet-sense-index``, copied into the venv's NLTK data dir by ``scripts/setup.sh``) supplies it.

Embedding of a synset s (dimension ``dim``, deterministic given ``seed``)::

    e(s) = normalise( g(s) + Σ_{a ∈ hypernym ancestors of s} γ^{d(s,a)} · ι(a) · g(a) )

``g(x)``: a unit Gaussian vector seeded by SHA-256(seed, synset name) (quasi-orthogonal in 512-D);
``d(s,a)``: hypernym steps from s to a (shortest); γ = ``decay`` (0.7); ι(a) =
clamp((depth(a) − 4) / 3, 0, 1) for nouns (depth = WordNet min_depth; the vague top of the
hierarchy — entity, object, whole, artifact — carries no similarity), 1 for verbs. Adjectives link
to the head adjective of their cluster (``similar_tos``) at one step.

A word (or a phrase WordNet lists as one lemma, e.g. "coffee table") maps to a blend of its noun
senses, chosen like a visual model would read it: the senses that are whole objects (descendants
of ``whole.n.02``: artifacts, living things) or, if none, physical entities, or, if none, all noun
senses; weighted by their SemCor frequency (``cntlist``), senses never seen in SemCor dropped when
any sense was seen, and the first sense alone when none was. Words without a noun sense use their
first adjective, then verb, then adverb sense. So "couch" → sofa.n.01 exactly as "sofa" does,
"carpet" → rug.n.01 as "rug"; "seat" blends seat.n.03 (furniture for sitting, the hypernym of
chair and sofa) and seat.n.04. ``EXTRA_SENSES`` adds the few senses common usage has and
WordNet 3.0 lacks (a "bookshelf" is also a bookcase), at half weight.

Phrases WordNet lacks combine their words: stop words ("a", "the", "to", "on", ...) dropped,
the head is the last word with a noun sense, the other words are modifiers:
e = normalise(e_head + 0.5 · mean(e_modifiers)) ("wooden table" ≈ table, "potted plant" ≈ plant).
A word WordNet does not know raises :class:`UnknownWordError` (a :class:`UserError`) naming it —
never a random vector.

Simulation-specific choices (deviations from CLIP): one fixed sense blend per word, no context,
no visual attributes beyond WordNet's adjectives; documented in docs/ARCHITECTURE.md.
"""
from __future__ import annotations

import functools
import hashlib
import re
import warnings

import torch

from ovnerf.errors import UserError

SETUP_HINT = ("WordNet 3.0 is read with nltk from the venv's NLTK data dir "
              "(<venv>/nltk_data/corpora/wordnet): run scripts/setup.sh (apt packages wordnet-base "
              "wordnet-sense-index; it copies them there and writes the lexnames table)")
STOP_WORDS = frozenset("a an the of to on in at for with and or some something anything any "
                       "that which this these those by from into onto my your its".split())
_VOID_DEPTH, _DEPTH_RAMP = 4, 3.0
# Senses common usage has and WordNet 3.0 lacks (blended in at half weight). WordNet's only
# "bookshelf" is a single shelf (shelf.n.01); in rooms (and in the demo) a bookshelf is a bookcase.
EXTRA_SENSES = {"bookshelf": ("bookcase.n.01",), "bookshelves": ("bookcase.n.01",)}


class UnknownWordError(UserError):
    """A word of a query that WordNet does not contain."""


@functools.lru_cache(maxsize=1)
def wordnet():
    """The WordNet 3.0 corpus reader (nltk), cached; UserError with the setup hint if absent."""
    try:
        import nltk  # heavy (~1.5 s to import): only the simulated teachers' text side
        from nltk.corpus.reader.wordnet import WordNetCorpusReader
    except ImportError as e:  # pragma: no cover - nltk is pinned in requirements.txt
        raise UserError(f"the WordNet text encoder needs nltk ({e}); {SETUP_HINT}") from None
    try:
        root = nltk.data.find("corpora/wordnet")
    except LookupError:
        raise UserError(f"WordNet not found by nltk (searched {', '.join(nltk.data.path)}); "
                        f"{SETUP_HINT}") from None
    try:
        with warnings.catch_warnings():  # "multilingual functions are not available": not used here
            warnings.simplefilter("ignore")
            return WordNetCorpusReader(root, None)
    except (OSError, ValueError, LookupError) as e:
        raise UserError(f"WordNet at {root} is unreadable ({e}); {SETUP_HINT}") from None


def normalise_text(text: str) -> str:
    return " ".join(re.sub(r"[_\-]+", " ", str(text)).lower().split())


def seed_of(*parts) -> int:
    """A 63-bit seed from SHA-256 of the parts (deterministic across runs and machines)."""
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "little") % (2**63)


class WordNetTextEncoder:
    """``encode_text(list[str]) -> (M, dim)`` L2-normalised; ``similarity(a, b)`` = cosine.

    A SIMULATION of a CLIP text encoder (``is_simulation = True``; the name says so)."""

    name = "wordnet-text (SIMULATION of a CLIP text encoder, WordNet 3.0)"
    is_simulation = True

    def __init__(self, dim: int = 512, seed: int = 0, decay: float = 0.7, modifier_weight: float = 0.5,
                 device="cpu"):
        if dim < 8:
            raise UserError("WordNet text encoder: dim ≥ 8 required")
        self.dim = int(dim)
        self.seed = int(seed)
        self.decay = float(decay)
        self.modifier_weight = float(modifier_weight)
        self.device = torch.device(device)
        self.wn = wordnet()
        self._whole = self.wn.synset("whole.n.02")
        self._physical = self.wn.synset("physical_entity.n.01")
        self._text_cache: dict[str, torch.Tensor] = {}

    def fingerprint(self) -> dict:
        return {"name": self.name, "wordnet": self.wn.get_version(), "dim": self.dim, "seed": self.seed,
                "decay": self.decay, "modifier_weight": self.modifier_weight}

    # ------------------------------------------------------------------ public API
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """(M, dim) float32 unit rows; UnknownWordError for a word WordNet lacks."""
        if len(texts) == 0:
            return torch.zeros(0, self.dim, device=self.device)
        return torch.stack([self._encode_one(t) for t in texts]).to(self.device)

    def similarity(self, a: str, b: str) -> float:
        e = self.encode_text([a, b])
        return float(e[0] @ e[1])

    def senses(self, text: str) -> list[tuple[str, float]]:
        """The (synset name, weight) blend a single word or WordNet lemma maps to (for reports)."""
        return [(s.name(), w) for s, w in self._word_senses(normalise_text(text).replace(" ", "_"))]

    # ------------------------------------------------------------------ internals
    def _gauss(self, key: str) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed_of(self.seed, key))
        v = torch.randn(self.dim, generator=g)
        return v / v.norm()

    @functools.lru_cache(maxsize=None)
    def _synset_vec(self, name: str) -> torch.Tensor:
        s = self.wn.synset(name)
        v = self._gauss(s.name()).clone()
        if s.pos() in ("a", "s"):
            for h in s.similar_tos():
                v += self.decay * self._gauss(h.name())
            return v / v.norm()
        dist: dict = {}
        frontier, d = [s], 0
        while frontier:  # breadth-first over hypernyms: shortest distance to every ancestor
            d += 1
            nxt = []
            for x in frontier:
                for h in x.hypernyms() + x.instance_hypernyms():
                    if h not in dist and h != s:
                        dist[h] = d
                        nxt.append(h)
            frontier = nxt
        for a, k in dist.items():
            iota = 1.0 if s.pos() != "n" else min(1.0, max(0.0, (a.min_depth() - _VOID_DEPTH) / _DEPTH_RAMP))
            if iota > 0:
                v += (self.decay ** k) * iota * self._gauss(a.name())
        return v / v.norm()

    def _lemma_count(self, s, word: str) -> int:
        base = {word, self.wn.morphy(word, s.pos()) or word}
        return sum(l.count() for l in s.lemmas() if l.name().lower() in base)

    @functools.lru_cache(maxsize=None)
    def _word_senses(self, word: str) -> tuple:
        own = self._wordnet_senses(word)
        extra = EXTRA_SENSES.get(word, ())
        if not extra:
            return own
        w_own = 0.5 if own else 0.0
        return tuple((s, w * w_own) for s, w in own) + tuple(
            (self.wn.synset(n), (1.0 - w_own) / len(extra)) for n in extra)

    def _wordnet_senses(self, word: str) -> tuple:
        nouns = self.wn.synsets(word, pos="n")
        if nouns:
            def under(root):
                return [s for s in nouns if root in s.closure(lambda x: x.hypernyms() + x.instance_hypernyms())]
            cands = under(self._whole) or under(self._physical) or nouns
            counts = [self._lemma_count(s, word) for s in cands]
            if sum(counts) == 0:
                return ((cands[0], 1.0),)
            tot = float(sum(counts))
            return tuple((s, c / tot) for s, c in zip(cands, counts) if c > 0)
        for pos in ("a", "s", "v", "r"):
            ss = self.wn.synsets(word, pos=pos)
            if ss:
                return ((ss[0], 1.0),)
        return ()

    def _word_vec(self, word: str) -> torch.Tensor | None:
        senses = self._word_senses(word)
        if not senses:
            return None
        v = sum(w * self._synset_vec(s.name()) for s, w in senses)
        return v / v.norm()

    def _has_noun(self, word: str) -> bool:
        return bool(self.wn.synsets(word, pos="n"))

    def _encode_one(self, text: str) -> torch.Tensor:
        key = normalise_text(text)
        if key in self._text_cache:
            return self._text_cache[key]
        if not key:
            raise UnknownWordError("empty text: nothing to embed")
        v = self._word_vec(key.replace(" ", "_"))  # a word, or a phrase WordNet lists as a lemma
        if v is None:
            words = [w for w in key.split() if w not in STOP_WORDS]
            unknown = [w for w in words if not self._word_senses(w)]
            if unknown or not words:
                raise UnknownWordError(
                    f"unknown word{'s' if len(unknown) > 1 else ''} "
                    f"{', '.join(repr(w) for w in unknown) or repr(key)} in '{text}': not in WordNet "
                    f"{self.wn.get_version()} (the simulated text encoder embeds only WordNet words)")
            heads = [i for i, w in enumerate(words) if self._has_noun(w)]
            h = heads[-1] if heads else len(words) - 1
            mods = [self._word_vec(w) for i, w in enumerate(words) if i != h]
            v = self._word_vec(words[h])
            if mods:
                v = v + self.modifier_weight * torch.stack(mods).mean(0)
            v = v / v.norm()
        self._text_cache[key] = v.float()
        return self._text_cache[key]
