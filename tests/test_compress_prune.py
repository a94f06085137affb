"""N:M pruning: exactly N kept per group of M, and they are the largest magnitudes."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ewssim.compress.layout import from_subvectors, real_positions, to_subvectors
from ewssim.compress.prune import check_nm, nm_mask

_PATTERNS = [(1, 4), (2, 4), (3, 4), (2, 8), (4, 8), (1, 2), (4, 4), (1, 1)]


@st.composite
def _case(draw):
    n, m = draw(st.sampled_from(_PATTERNS))
    groups = draw(st.integers(1, 6))
    rows = draw(st.integers(1, 6))
    vals = st.floats(-100, 100, allow_nan=False, width=32)
    x = draw(arrays(np.float32, (rows, groups * m), elements=vals))
    return x, n, m


@settings(max_examples=80, deadline=None)
@given(_case())
def test_nm_mask_keeps_largest(case):
    x, n, m = case
    keep = nm_mask(x, n, m)
    assert keep.shape == x.shape
    assert check_nm(keep, n, m).size == 0
    g = np.abs(x).reshape(-1, m)
    k = keep.reshape(-1, m)
    for row, kr in zip(g, k, strict=True):
        if n < m:
            assert row[kr].min() >= row[~kr].max()


@settings(max_examples=40, deadline=None)
@given(o=st.integers(1, 4), c=st.integers(1, 20), r=st.integers(1, 3), s=st.integers(1, 3),
       d=st.sampled_from([1, 2, 4, 8]))
def test_layout_round_trip_and_order(o, c, r, s, d):
    w = np.arange(o * c * r * s, dtype=np.float32).reshape(o, c, r, s) + 1
    x = to_subvectors(w, d)
    cp = -(-c // d) * d
    assert x.shape == (o * r * s * cp // d, d)
    assert np.array_equal(from_subvectors(x, w.shape, d), w)
    real = real_positions(w.shape, d)
    assert np.all(x[~real] == 0) and np.all(x[real] > 0)
    # sub-vector 0 = output channel 0, tap (0, 0), channels 0..d-1
    assert np.array_equal(x[0][: min(d, c)], w[0, : min(d, c), 0, 0])
