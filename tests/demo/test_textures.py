import numpy as np
import pytest

from ovnerf.synthetic.textures import KINDS, Material, albedo, fbm, value_noise


def _points(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.uniform(-1.0, 1.0, (n, 3))
    normals = np.zeros((n, 3))
    normals[np.arange(n), rng.integers(0, 3, n)] = 1.0
    return p, normals


def test_noise_range_continuity_and_determinism():
    p, _ = _points()
    v = value_noise(p * 3, seed=5)
    assert v.min() >= 0.0 and v.max() <= 1.0 and v.std() > 0.1
    np.testing.assert_array_equal(v, value_noise(p * 3, seed=5))
    assert not np.array_equal(v, value_noise(p * 3, seed=6))
    # smooth: a 1 mm step changes the (unit-lattice) noise by far less than its range
    assert np.abs(value_noise(p * 3 + 1e-3, seed=5) - v).max() < 0.02
    f = fbm(p, 4, seed=1)
    assert 0.0 <= f.min() and f.max() <= 1.0


@pytest.mark.parametrize("kind", KINDS)
def test_every_material_is_textured_and_deterministic(kind):
    m = Material(kind, (0.8, 0.3, 0.2), (0.2, 0.5, 0.7), (0.1, 0.1, 0.1), scale=0.1,
                 extent=(1.0, 1.0, 1.0), seed=3)
    p, n = _points()
    ids = np.zeros(len(p), dtype=np.int64)
    a = albedo([m], ids, p, n)
    assert a.shape == (len(p), 3) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert a.std(axis=0).max() > 0.02, f"{kind} looks like a flat colour"
    np.testing.assert_array_equal(a, albedo([m], ids, p, n))


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError):
        Material("marble")
