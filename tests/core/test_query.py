"""SemanticMap: rendering, relevancy, 3D localisation, nav goal and grasps on a hand-built field.

The field is a real SemanticField rendered by the real renderer, with analytic density/features:
a "table" box and a "chair" box (σ = 400 /m inside) in a room whose walls are class "wall".
"""
import numpy as np
import pytest
import torch

from ovnerf.errors import NotTrainedError, UserError
from ovnerf.field.semantic_field import FieldConfig, SemanticField
from ovnerf.foundation.text_encoder_record import LazyTextEncoder
from ovnerf.query import SemanticMap, View, gravity_aligned_box, largest_component, query_mask
from ovnerf.semantics.relevancy import CANONICAL_NEGATIVES, lerf_relevancy, query_negatives
from ovnerf.scene.conventions import look_at

TABLE = (np.array([0.6, -0.4, 0.0]), np.array([1.4, 0.2, 0.7]))     # centre (1.0, -0.1, 0.35)
CHAIR = (np.array([-1.2, 0.6, 0.0]), np.array([-0.8, 1.0, 0.9]))
CLASSES = ["wall", "table", "chair"]
D = 8


class _ClassHead(torch.nn.Module):
    """Renderer head protocol (hidden → composited → project): one-hot class → its embedding."""

    def __init__(self, emb):
        super().__init__()
        self.emb = emb

    def hidden(self, app):
        return app[:, :3]

    def project(self, h, weight_sum=None):
        return h @ self.emb

    def forward(self, app):
        return self.project(self.hidden(app))


class BoxField(SemanticField):
    def __init__(self):
        super().__init__(FieldConfig.cpu_preset(feature_dim=D, max_samples=160), (-2.0 * np.ones(3), 2.0 * np.ones(3)))
        g = torch.Generator().manual_seed(0)
        q, _ = torch.linalg.qr(torch.randn(D, D, generator=g))
        self.emb = q[:3].contiguous()                     # orthonormal class embeddings
        self.feature_head = _ClassHead(self.emb)

    def _cls(self, xyz):
        c = torch.zeros(xyz.shape[0], dtype=torch.long)
        for k, (lo, hi) in ((1, TABLE), (2, CHAIR)):
            inside = ((xyz >= torch.tensor(lo, dtype=xyz.dtype)) & (xyz <= torch.tensor(hi, dtype=xyz.dtype))).all(-1)
            c[inside] = k
        return c

    def density(self, xyz):
        c = self._cls(xyz)
        wall = (xyz.abs() > 1.9).any(-1)
        return torch.where((c > 0) | wall, torch.tensor(400.0), torch.tensor(0.0))

    def app_feature(self, xyz):
        return torch.nn.functional.one_hot(self._cls(xyz), self.cfg.app_dim).float()

    def rgb(self, app, viewdirs):
        return app[:, :3]


def _views():
    K = np.array([[40.0, 0, 32], [0, 40.0, 24], [0, 0, 1]])
    eyes = [(-1.5, -1.5, 1.4), (1.5, -1.7, 1.5), (-0.2, -1.8, 1.2), (0.0, 1.7, 1.5)]
    return [View(K, look_at(e, (0.0, 0.0, 0.4)), 48, 64) for e in eyes]


@pytest.fixture(scope="module")
def smap():
    torch.manual_seed(0)
    f = BoxField()
    return SemanticMap(f, CLASSES, f.emb, views=_views())


def test_render_sizes_and_labels(smap):
    v = _views()[0].scaled(32)
    out = smap.render(v.K, v.c2w, 24, 32)
    assert out["rgb"].shape == (24, 32, 3) and out["rgb"].dtype == np.uint8
    assert out["depth"].shape == (24, 32) and out["labels"].dtype == np.int16
    assert set(np.unique(out["labels"])) <= {-1, 0, 1, 2}
    assert (out["labels"] == 1).sum() > 10      # the table is in view
    assert np.all(out["depth"][out["labels"] >= 0] > 0.5)


def test_localize_table_centroid_and_box(smap):
    loc = smap.localize("table", max_side=64)
    centre = (TABLE[0] + TABLE[1]) / 2
    # back-projected points lie on the visible surfaces: the centroid is within 0.25 m of the centre
    assert np.linalg.norm(loc.centroid - centre) < 0.25, loc.centroid
    assert np.all(loc.aabb_min > TABLE[0] - 0.1) and np.all(loc.aabb_max < TABLE[1] + 0.1)
    assert loc.score > 0.9 and loc.points.shape[1] == 3
    # nav goal: on the floor, outside the table, facing it
    g = loc.nav_goal
    assert g[2, 3] == 0.0
    dist = np.linalg.norm(g[:2, 3] - loc.centroid[:2])
    assert dist > 0.6
    to_obj = (loc.centroid[:2] - g[:2, 3]) / dist
    assert np.dot(g[:2, 0], to_obj) > 0.99
    assert np.allclose(g[:3, :3] @ g[:3, :3].T, np.eye(3))
    # grasps: top-down, on the table top
    assert 1 <= len(loc.grasps) <= 5
    for T in loc.grasps:
        assert np.allclose(T[:3, 2], [0, 0, -1])
        assert abs(T[2, 3] - TABLE[1][2]) < 0.1
        assert np.allclose(T[:3, :3].T @ T[:3, :3], np.eye(3), atol=1e-9)


def test_relevancy_map_and_negatives(smap):
    v = _views()[1].scaled(32)
    r = smap.relevancy("chair", None, v.K, v.c2w, 24, 32)
    rel = r["relevancy"]
    assert rel.shape == (24, 32) and 0 <= rel.min() and rel.max() <= 1
    assert np.array_equal(r["mask"], query_mask(rel, r["margin"], r["acc"]))
    assert not (r["mask"] & ~((rel > 0.5) & (r["acc"] >= 0.3))).any()
    lab = smap.render(v.K, v.c2w, 24, 32)["labels"]
    if (lab == 2).any():
        assert rel[lab == 2].mean() > 0.9 and rel[lab == 0].mean() < 0.1


def test_bad_queries(smap):
    v = _views()[0]
    with pytest.raises(UserError, match="empty"):
        smap.localize("  ")
    with pytest.raises(UserError, match="not in the vocabulary"):
        smap.localize("sofa")
    bad = v.c2w.copy()
    bad[0, 0] = np.nan
    with pytest.raises(UserError, match="NaN"):
        smap.render(v.K, bad, 8, 8)
    with pytest.raises(UserError, match="focal"):
        smap.render(np.zeros((3, 3)), v.c2w, 8, 8)
    with pytest.raises(NotTrainedError):
        SemanticMap(None, CLASSES, np.eye(3))


def test_largest_component_and_box_helpers():
    rng = np.random.default_rng(0)
    blob = rng.normal(0, 0.05, (500, 3))
    outliers = np.array([[3.0, 3.0, 3.0], [-3.0, 2.0, 0.0]])
    keep = largest_component(np.vstack([blob, outliers]), 0.05)
    assert keep[:500].mean() > 0.95 and not keep[500:].any()
    P = rng.uniform(-1, 1, (2000, 3)) * [1.0, 0.2, 0.1]
    yaw = np.radians(30)
    Rz = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
    c, R, s = gravity_aligned_box(P @ Rz.T)
    assert abs(abs(R[:2, 0] @ Rz[:2, 0]) - 1) < 1e-3
    assert s[0] == pytest.approx(1.92, abs=0.05) and s[1] == pytest.approx(0.384, abs=0.02)


def test_multiview_votes_outvote_a_confused_view():
    from ovnerf.query import multiview_votes
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 0.1, (40, 3))                    # spot A: the query in views 0, 1, 2
    b = rng.uniform(0, 0.1, (40, 3)) + 2.0              # spot B: query only in view 3, other class in 0-2
    P = np.concatenate([a, b])
    V = np.tile(np.repeat(np.arange(4), 10), 2)
    Q = np.concatenate([V[:40] < 3, V[40:] == 3])
    keep = multiview_votes(P, Q, V, voxel=0.15, min_votes=2, ratio=0.34)
    assert keep[:40].sum() == 30 and not keep[40:].any()


def test_point_map_agrees_with_rendering_and_is_versioned(smap, tmp_path):
    """The 3D query answered from the semantic point map (no rendering) finds the table where the
    rendering path does (centroid within 5 cm); the map file is tied to its field's state."""
    from ovnerf.semantic_point_map import build_point_map, load_point_map, point_map_path, save_point_map

    rendered = smap.localize("table", max_side=64)
    pmap = build_point_map(smap.field, smap.views, max_side=64, voxel=0.02)
    assert pmap.features.dtype == torch.float16 and pmap.fp16_max_cos_error < 1e-3
    mapped = SemanticMap(smap.field, CLASSES, smap.field.emb, views=smap.views, point_map=pmap)
    loc = mapped.localize("table")
    assert np.linalg.norm(loc.centroid - rendered.centroid) < 0.05, (loc.centroid, rendered.centroid)
    assert np.all(loc.aabb_min > TABLE[0] - 0.1) and np.all(loc.aabb_max < TABLE[1] + 0.1)
    assert loc.grasps and abs(loc.grasps[0][2, 3] - TABLE[1][2]) < 0.1
    with pytest.raises(UserError, match="not found"):
        mapped.localize("table", threshold=0.999999)
    ck = tmp_path / "checkpoint.pt"
    save_point_map(pmap, ck)
    assert point_map_path(ck).is_file()
    back = load_point_map(ck, smap.field)
    assert back is not None and torch.equal(back.features, pmap.features)
    other = BoxField()
    with torch.no_grad():
        other.tensorf.density_plane[0].add_(1.0)  # another state of the field: the map is stale
    assert load_point_map(ck, other) is None
    point_map_path(ck).write_bytes(b"garbage")
    assert load_point_map(ck, smap.field) is None


# ---------------------------------------------------------------------- LERF relevancy (hand-made)
def test_lerf_relevancy_is_min_pairwise_softmax():
    cos = torch.tensor([[0.9, 0.1, 0.5, 0.2],      # hardest negative: 0.5
                        [0.2, 0.6, 0.1, 0.0]])     # a negative beats the query
    rel, margin = lerf_relevancy(cos, temperature=0.1)
    pair = torch.stack([torch.softmax(torch.stack([cos[:, 0], cos[:, i]], -1) / 0.1, -1)[:, 0]
                        for i in range(1, 4)], -1)
    assert torch.allclose(rel, pair.min(-1).values, atol=1e-6)
    assert torch.allclose(margin, torch.tensor([0.4, -0.4]))
    assert rel[0] == pytest.approx(1 / (1 + np.exp(-4.0)), abs=1e-6) and rel[1] < 0.02
    with pytest.raises(ValueError):
        lerf_relevancy(cos[:, :1])


def test_query_negatives_rule():
    assert query_negatives("mug") == list(CANONICAL_NEGATIVES) == ["object", "things", "stuff", "texture"]
    assert query_negatives("mug", []) == query_negatives("mug", ["mug", " MUG "]) == list(CANONICAL_NEGATIVES)
    assert query_negatives("Object", ["cup", "cup", "things"]) == ["things", "stuff", "texture", "cup"]


class _HandEncoder:
    """Hand-made embeddings in the BoxField's 8-D space: e0..e2 the classes wall/table/chair,
    e3..e6 the canonical negatives, "desk" close to table, "seat" between chair and table."""

    def __init__(self):
        e = torch.eye(D)
        self.vec = {"wall": e[0], "table": e[1], "chair": e[2], "object": e[3], "things": e[4],
                    "stuff": e[5], "texture": e[6], "desk": 0.9 * e[1] + 0.44 * e[7],
                    "seat": 0.8 * e[2] + 0.3 * e[1] + 0.3 * e[7]}
        self.calls = 0

    def encode_text(self, texts):
        self.calls += 1
        out = []
        for t in texts:
            if t not in self.vec:
                raise UserError(f"unknown word '{t}'")
            out.append(self.vec[t] / self.vec[t].norm())
        return torch.stack(out)


@pytest.fixture(scope="module")
def open_map():
    f = BoxField()
    f.emb = torch.eye(D)[:3].contiguous()              # classes = e0, e1, e2 of the hand-made space
    f.feature_head = _ClassHead(f.emb)
    return SemanticMap(f, CLASSES, f.emb, text_encoder=_HandEncoder(), views=_views())


def test_open_vocabulary_query_and_self_negative(open_map):
    """A word outside the vocabulary ("desk") is answered with the canonical negatives; it finds
    the table, not the chair or the walls; negatives=[text] is the same query (never the whole scene)."""
    m = open_map
    v = _views()[1].scaled(32)
    lab = m.render(v.K, v.c2w, 24, 32)["labels"]
    r = m.relevancy("desk", None, v.K, v.c2w, 24, 32)
    assert r["relevancy"][lab == 1].mean() > 0.99 and r["relevancy"][lab == 0].mean() < 0.6
    assert r["mask"][lab == 1].mean() > 0.9 and r["mask"][lab != 1].mean() < 0.05
    same = m.relevancy("desk", ["desk"], v.K, v.c2w, 24, 32)
    assert np.array_equal(same["mask"], r["mask"])
    assert same["mask"].mean() < 0.5 * (lab >= 0).mean()
    loc = m.localize("desk", ["desk"], max_side=48)
    assert np.all(loc.centroid > TABLE[0] - 0.1) and np.all(loc.centroid < TABLE[1] + 0.1)
    # "seat" is relevant on the chair AND (less) on the table; the peak rule keeps the chair
    r = m.relevancy("seat", None, v.K, v.c2w, 24, 32)
    if (lab == 2).any():
        assert r["relevancy"][lab == 1].mean() > 0.9 and r["margin"][lab == 2].mean() > r["margin"][lab == 1].mean()
        assert r["mask"][lab == 2].mean() > 0.9 and r["mask"][lab == 1].mean() < 0.05
    # vocabulary words keep the checkpoint's embeddings, the encoder is asked only for the rest
    emb, negs = m.query_embeddings("table", ["chair"])
    assert negs == list(CANONICAL_NEGATIVES) + ["chair"]
    assert torch.allclose(emb[0], m.text_emb[1]) and torch.allclose(emb[-1], m.text_emb[2])
    with pytest.raises(UserError, match="unknown word 'xyzzy'"):
        m.relevancy("xyzzy", None, v.K, v.c2w, 24, 32)


def test_without_a_text_encoder_vocabulary_words_still_work(smap):
    m = SemanticMap(smap.field, CLASSES, smap.field.emb, text_encoder=LazyTextEncoder(None), views=_views())
    v = _views()[1].scaled(32)
    r = m.relevancy("chair", None, v.K, v.c2w, 24, 32)       # rest of the vocabulary as negatives
    lab = m.render(v.K, v.c2w, 24, 32)["labels"]
    if (lab == 2).any():
        assert r["relevancy"][lab == 2].mean() > 0.9 and r["relevancy"][lab == 0].mean() < 0.1
    with pytest.raises(UserError, match="does not record which text encoder"):
        m.relevancy("desk", None, v.K, v.c2w, 24, 32)
