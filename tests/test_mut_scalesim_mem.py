"""Helpers of the SCALE-Sim memory model (ewssim/hw/scalesim_mem.py) against plain loops.

The SCALE-Sim parity tests compare whole layers with SCALE-Sim's recorded reports; these check
two vectorised helpers of the ifmap read model on their own, on random demand streams
(hypothesis), against the definition in their docstrings written as a loop."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ewssim.hw.scalesim_mem import _group_scan, _previous_occurrence


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
