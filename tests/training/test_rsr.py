"""RSR on hand-made maps with exact answers (rules in ovnerf/semantics/rsr.py's docstring)."""
import numpy as np
import pytest
import torch

from ovnerf.semantics.rsr import region_semantic_ranking as rsr


def T(a):
    return torch.tensor(a, dtype=torch.long)


def M(*rows_list):
    return torch.tensor(np.array(rows_list, dtype=bool))


def test_majority_inside_region_and_uncovered_pixels_keep_labels():
    S = T([[0, 1, 1, 2],
           [0, 1, 0, 2]])
    R = M([[1, 1, 1, 0],
           [1, 1, 1, 0]])
    out = rsr(S, R, num_classes=3)
    # inside counts: class0 = 3, class1 = 3 -> tie -> lowest id 0; column 3 is in no region
    assert out.tolist() == [[0, 0, 0, 2], [0, 0, 0, 2]]


def test_strict_majority():
    S = T([[1, 1, 0, 2]])
    R = M([[1, 1, 1, 0]])
    assert rsr(S, R, 3).tolist() == [[1, 1, 1, 2]]


def test_ties_go_to_lowest_class_id():
    S = T([[2, 2, 1, 1, 0]])
    R = M([[1, 1, 1, 1, 0]])
    assert rsr(S, R, 3).tolist() == [[1, 1, 1, 1, 0]]


def test_smaller_region_wins_on_overlap():
    S = T([[0, 0, 0, 0, 1, 1]])
    big = [1, 1, 1, 1, 1, 1]      # 4 zeros, 2 ones -> 0
    small = [0, 0, 0, 1, 1, 1]    # 1 zero, 2 ones -> 1
    assert rsr(S, M(*[[big], [small]]).reshape(2, 1, 6), 2).tolist() == [[0, 0, 0, 1, 1, 1]]
    # order of the regions in the list does not matter
    assert rsr(S, M(*[[small], [big]]).reshape(2, 1, 6), 2).tolist() == [[0, 0, 0, 1, 1, 1]]


def test_overlap_pixels_count_in_every_region():
    # A = cols 0..4, B = cols 2..4 (smaller).  Outside B, A holds two 0s; the overlap holds three 1s.
    # Counting the overlap, A's majority is 1 (3 vs 2); without it, it would be 0.
    S = T([[0, 0, 1, 1, 1, 2]])
    A = [[1, 1, 1, 1, 1, 0]]
    B = [[0, 0, 1, 1, 1, 0]]
    out = rsr(S, M(A, B), 3)
    assert out.tolist() == [[1, 1, 1, 1, 1, 2]]


def test_equal_area_lower_index_wins():
    S = T([[0, 0, 1, 1]])
    r0 = [[1, 1, 1, 0]]  # 0,0,1 -> 0
    r1 = [[0, 1, 1, 1]]  # 0,1,1 -> 1
    assert rsr(S, M(r0, r1), 2).tolist() == [[0, 0, 0, 1]]
    assert rsr(S, M(r1, r0), 2).tolist() == [[0, 1, 1, 1]]


def test_empty_and_all_void_regions_paint_nothing():
    S = T([[-1, -1, 1, 0]])
    empty = [[0, 0, 0, 0]]
    void = [[1, 1, 0, 0]]  # only void pixels -> no class -> unchanged (stays void)
    out = rsr(S, M(empty, void), 2)
    assert out.tolist() == [[-1, -1, 1, 0]]


def test_void_pixels_inside_a_region_take_its_class_and_are_not_counted():
    S = T([[-1, -1, -1, 1, 0, 0]])
    # region counts: class1 = 1, class0 = 2 -> 0 (the three voids don't vote for anything)
    R = M([[1, 1, 1, 1, 1, 1]])
    assert rsr(S, R, 2).tolist() == [[0, 0, 0, 0, 0, 0]]
    # a custom ignore index, and out-of-range ids also count as void
    S2 = T([[7, 7, 7, 1, 0, 9]])
    assert rsr(S2, R, 2, ignore_index=7).tolist() == [[0, 0, 0, 0, 0, 0]]
    # void outside any region stays void
    S3 = T([[-1, 1, 1]])
    assert rsr(S3, M([[0, 1, 1]]), 2).tolist() == [[-1, 1, 1]]


def test_small_region_with_only_void_does_not_mask_bigger_region():
    S = T([[0, 0, 0, -1]])
    big = [[1, 1, 1, 1]]
    tiny_void = [[0, 0, 0, 1]]  # smaller but paints nothing -> big region's class shows
    assert rsr(S, M(big, tiny_void), 1).tolist() == [[0, 0, 0, 0]]


def test_no_regions_returns_copy():
    S = T([[0, 1], [1, -1]])
    out = rsr(S, torch.zeros(0, 2, 2, dtype=torch.bool), 2)
    assert torch.equal(out, S) and out.data_ptr() != S.data_ptr()


def test_2d_example():
    S = T([[0, 0, 1, 1],
           [0, 2, 1, 1],
           [2, 2, 2, 1],
           [2, 2, 0, 0]])
    left = M([1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0])   # 0,0,0,2,2,2,2,2 -> 2
    top_left = M([1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0])  # 0,0,0,2 -> 0
    right = M([0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 0, 0])  # 1,1,1,1,2,1 -> 1
    out = rsr(S, torch.stack([left, top_left, right]), 3)
    assert out.tolist() == [[0, 0, 1, 1],
                            [0, 0, 1, 1],
                            [2, 2, 1, 1],
                            [2, 2, 0, 0]]


def _reference(S, R, C, ignore=-1):
    """Slow, literal implementation of the documented rules."""
    S = np.asarray(S)
    out = S.copy()
    K = R.shape[0]
    areas = R.reshape(K, -1).sum(1)
    order = sorted(range(K), key=lambda k: (-areas[k], -k))  # paint large->small, equal: higher idx first
    for k in order:
        vals = S[R[k]]
        vals = vals[(vals != ignore) & (vals >= 0) & (vals < C)]
        if vals.size == 0:
            continue
        counts = np.bincount(vals, minlength=C)
        out[R[k]] = int(np.argmax(counts))  # numpy argmax: first max = lowest id
    return out


@pytest.mark.parametrize("seed", range(5))
def test_random_against_reference(seed):
    rng = np.random.default_rng(seed)
    H, W, C, K = 13, 17, 5, 9
    S = rng.integers(-1, C, size=(H, W))
    R = np.zeros((K, H, W), bool)
    for k in range(K):  # random rectangles, some duplicated areas, one empty
        if k == 3:
            continue
        y0, x0 = rng.integers(0, H - 2), rng.integers(0, W - 2)
        y1, x1 = rng.integers(y0 + 1, H + 1), rng.integers(x0 + 1, W + 1)
        R[k, y0:y1, x0:x1] = True
    R[5] = R[1]  # same area -> lower index wins
    out = rsr(S, R, C)  # numpy in -> numpy out
    assert isinstance(out, np.ndarray) and out.dtype == S.dtype
    np.testing.assert_array_equal(out, _reference(S, R, C))


def test_batched_equals_single():
    rng = np.random.default_rng(7)
    B, H, W, C, K = 3, 8, 9, 4, 5
    S = torch.tensor(rng.integers(0, C, size=(B, H, W)))
    R = torch.tensor(rng.random((B, K, H, W)) > 0.6)
    out = rsr(S, R, C)
    for b in range(B):
        assert torch.equal(out[b], rsr(S[b], R[b], C))


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        rsr(torch.zeros(4, 4, dtype=torch.long), torch.zeros(2, 4, 5, dtype=torch.bool), 2)
