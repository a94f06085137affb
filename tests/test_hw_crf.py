"""Codebook register file: lookups, reload and read counting, port timing, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ewssim.errors import InputError
from ewssim.hw.crf import CodebookRegisterFile


def _codebook(rng, g, k, d, lo=-127):
    return rng.integers(lo, 128, size=(g, k, d)).astype(np.int8)


def _reference_reloads(seq, slots, g_count):
    """Plain direct-mapped simulation: preload groups 0..min(G,slots)-1, then count switches."""
    held = [-1] * slots
    reloads = 0
    for g in range(min(g_count, slots)):
        held[g % slots] = g
        reloads += 1
    for g in seq:
        if held[g % slots] != g:
            held[g % slots] = g
            reloads += 1
    return reloads, held


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.sampled_from([2, 4, 16, 64]), st.sampled_from([4, 8, 16]),
       st.integers(1, 4), st.integers(0, 2**32 - 1), st.integers(0, 40))
def test_lookup_reads_and_reloads(g_count, k, d, slots, seed, n):
    rng = np.random.default_rng(seed)
    cb = _codebook(rng, g_count, k, d)
    crf = CodebookRegisterFile(k, d, groups=slots)
    crf.load_codebook(cb)
    idx = rng.integers(0, k, size=n).astype(np.uint16)
    grp = np.sort(rng.integers(0, g_count, size=n)) if seed % 2 else \
        rng.integers(0, g_count, size=n)
    out = crf.lookup(idx, grp)
    assert out.dtype == np.int8 and out.shape == (n, d)
    assert np.array_equal(out, cb[grp, idx.astype(int)])
    reloads, held = _reference_reloads(grp.tolist(), slots, g_count)
    assert crf.counters.as_dict() == {"reads": n, "reloads": reloads,
                                      "reload_bytes": reloads * k * d}
    assert crf.resident_groups.tolist() == held
    assert crf.storage_bits == k * d * 8 * slots


def test_group_switches_by_hand():
    rng = np.random.default_rng(1)
    cb = _codebook(rng, 2, 16, 8)
    crf = CodebookRegisterFile(16, 8)  # one group at a time
    crf.load_codebook(cb)
    assert crf.counters.reloads == 1 and crf.counters.reload_bytes == 128
    crf.lookup([1, 2], 0)
    crf.lookup([3, 4, 5], [1, 1, 0])  # switch to 1, back to 0
    assert crf.counters.as_dict() == {"reads": 5, "reloads": 3, "reload_bytes": 384}
    both = CodebookRegisterFile(16, 8, groups=2)  # the whole layer resident
    both.load_codebook(cb)
    both.lookup([3, 4, 5], [1, 1, 0])
    assert both.counters.as_dict() == {"reads": 3, "reloads": 2, "reload_bytes": 256}
    assert both.storage_bits == 2 * 16 * 8 * 8
    # a codebook with fewer entries than the CRF writes only its own k*d bytes
    small = CodebookRegisterFile(256, 8)
    small.load_codebook(cb[0])
    assert small.counters.reload_bytes == 16 * 8 and small.storage_bits == 256 * 8 * 8


@pytest.mark.parametrize("line_length", [16, 32, 64])
@pytest.mark.parametrize("d", [4, 8, 16])
def test_line_cycles_for_port_counts(line_length, d):
    spl = line_length // d
    for ports in sorted({1, 2, 4, spl}):
        crf = CodebookRegisterFile(16, d, line_length=line_length, ports=ports)
        assert crf.subvectors_per_line == spl
        assert crf.line_cycles() == math.ceil(spl / ports)
        assert crf.stall_cycles() == crf.line_cycles() - 1
        for s in range(0, 2 * spl + 1):
            assert crf.line_cycles(s) == -(-s // ports)
    default = CodebookRegisterFile(16, d, line_length=line_length)
    assert default.ports == spl and default.line_cycles() == 1 and default.stall_cycles() == 0


def test_port_examples():
    crf = CodebookRegisterFile(256, 8, line_length=64, ports=3)
    assert crf.line_cycles() == 3 and crf.stall_cycles() == 2
    assert crf.line_cycles(0) == 0 and crf.stall_cycles(0) == 0
    assert CodebookRegisterFile(256, 8, line_length=20).subvectors_per_line == 3


def test_validation():
    rng = np.random.default_rng(2)
    crf = CodebookRegisterFile(4, 8)
    with pytest.raises(ValueError, match="before a codebook"):
        crf.lookup([0])
    crf.load_codebook(_codebook(rng, 2, 4, 8))
    with pytest.raises(ValueError, match="index 4 at lookup 1 is out of range 0..3"):
        crf.lookup([0, 4])
    with pytest.raises(ValueError, match="index -1"):
        crf.lookup(np.array([-1]))
    with pytest.raises(ValueError, match="codebook group 2"):
        crf.lookup([0], 2)
    with pytest.raises(ValueError, match="integers"):
        crf.lookup([0.5])
    assert crf.counters.reads == 0  # nothing counted for rejected lookups
    with pytest.raises(ValueError, match="does not fit"):
        crf.load_codebook(_codebook(rng, 1, 8, 8))
    with pytest.raises(ValueError, match="does not fit"):
        crf.load_codebook(_codebook(rng, 1, 4, 4))
    with pytest.raises(ValueError, match="int8"):
        crf.load_codebook(np.zeros((1, 4, 8), dtype=np.int16))
    bad = np.zeros((1, 4, 8), dtype=np.int8)
    bad[0, 1, 2] = -128
    with pytest.raises(ValueError, match="-128"):
        crf.load_codebook(bad)
    with pytest.raises(InputError, match="crf_ports"):
        CodebookRegisterFile(4, 8, ports=0)
    with pytest.raises(InputError, match="'k'"):
        CodebookRegisterFile(0, 8)
