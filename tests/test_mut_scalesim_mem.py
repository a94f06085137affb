"""Helpers of the SCALE-Sim memory model (ewssim/hw/scalesim_mem.py) against plain loops.

The SCALE-Sim parity tests compare whole layers with SCALE-Sim's recorded reports; these check
helpers on their own, on random inputs (hypothesis), against the definition in their
docstrings written as a loop: two vectorised helpers of the ifmap read model (random demand
streams) and the ofmap words each demand line writes (random GEMM folds)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ewssim.hw.scalesim_mem import (
    _Folds,
    _gemm_shape,
    _group_scan,
    _OfmapDemand,
    _previous_occurrence,
)


def previous_occurrence_loop(addr: list[int], passes: int) -> list[int]:
    stream = list(addr) * passes
    seen: dict[int, int] = {}
    out = []
    for i, a in enumerate(stream):
        out.append(seen.get(a, -1))
        seen[a] = i
    return out


def group_scan_loop(prev: list[int], G: int) -> tuple[int, int | None]:
    """Greedy groups of G new addresses: an element is new when its previous occurrence lies
    before the start of the current group."""
    start, count, reads, last = 0, 0, 0, None
    for i, p in enumerate(prev):
        if p < start:
            count += 1
        if count == G:
            reads, last, start, count = reads + G, i, i + 1, 0
    return reads + count, last


streams = st.lists(st.integers(0, 6), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None, database=None)
@given(addr=streams, passes=st.integers(1, 3))
def test_previous_occurrence_equals_the_loop(addr, passes):
    got = _previous_occurrence(np.array(addr, dtype=np.int64), passes)
    assert got.dtype == np.int64          # indices
    assert got.tolist() == previous_occurrence_loop(addr, passes)


@settings(max_examples=300, deadline=None, database=None)
@given(addr=streams, passes=st.integers(1, 2), G=st.integers(1, 5))
def test_group_scan_equals_the_loop(addr, passes, G):
    prev = previous_occurrence_loop(addr, passes)
    assert _group_scan(np.array(prev, dtype=np.int64), G) == group_scan_loop(prev, G)


def test_examples():
    # a b a c b | a b a c b: the second pass's first a refers to the first pass's last a
    assert _previous_occurrence(np.array([0, 1, 0, 2, 1]), 2).tolist() == \
        [-1, -1, 0, -1, 1, 2, 4, 5, 3, 6]
    # groups of 2 new addresses over a b a c b: {a, b} closes at 1, {a, c} at 3, b is left
    assert _group_scan(np.array([-1, -1, 0, -1, 1]), 2) == (5, 3)
    # a group that closes exactly at the end
    assert _group_scan(np.array([-1, -1, 0, -1]), 2) == (4, 3)
    assert _group_scan(np.array([-1]), 3) == (1, None)


def ofmap_words_per_line(g: _Folds) -> list[int]:
    """Fold line ``l`` of column fold ``fc`` writes the pixels ``t = l - (2*rows - 1) - j``
    in ``[0, T)`` of the columns ``j < nc(fc)``."""
    out = []
    for i in range(g.n_lines):
        f, line = divmod(i, g.Pl)
        nc = g.nc(f // g.Fr)
        out.append(sum(0 <= line - (2 * g.rows - 1) - j < g.T for j in range(nc)))
    return out


@settings(max_examples=150, deadline=None, database=None)
@given(m=st.integers(1, 9), k=st.integers(1, 9), n=st.integers(1, 9), rows=st.integers(1, 4),
       cols=st.integers(1, 4), data=st.data())
def test_ofmap_demand_equals_the_loop(m, k, n, rows, cols, data):
    g = _Folds(_gemm_shape(m, k, n), rows, cols)
    od = _OfmapDemand(g)
    words = ofmap_words_per_line(g)
    cum = [0]
    for w in words:
        cum.append(cum[-1] + w)
    assert [od.cum(i) for i in range(g.n_lines + 2)] == cum + [cum[-1]]
    assert [od.count(i) for i in range(g.n_lines)] == words
    assert cum[-1] == m * n * g.Fr    # every output word once per row fold (partial sums)
    i0 = data.draw(st.integers(0, g.n_lines))
    need = data.draw(st.integers(1, cum[-1] + 1))
    want = next((i for i in range(i0, g.n_lines) if cum[i + 1] - cum[i0] >= need), g.n_lines)
    assert od.first_line_reaching(i0, need) == want
    for y in range(-2, 8):
        assert _OfmapDemand._ramp(y, 3) == sum(max(y - j, 0) for j in range(3))
