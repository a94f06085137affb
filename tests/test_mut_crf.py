"""Exact behaviour of the codebook register file's timing (ewssim/hw/crf.py): line cycles
for an array of line lengths (empty lines included) and the errors for negative lengths.
Written to kill surviving mutants (docs/testing.md)."""

from __future__ import annotations

import numpy as np
import pytest

from ewssim.errors import InputError
from ewssim.hw.crf import CodebookRegisterFile


def test_line_cycles_of_an_array_of_lengths_round_up():
    crf = CodebookRegisterFile(4, 8, line_length=64, ports=3)
    got = crf.line_cycles(np.array([0, 1, 3, 4, 7], dtype=np.int32))
    assert got.dtype == np.int64
    assert got.tolist() == [0, 1, 1, 2, 3]          # ceil(n / 3); an empty line takes 0
    assert crf.line_cycles(np.array([], dtype=np.int64)).tolist() == []


def test_negative_line_lengths_are_rejected():
    crf = CodebookRegisterFile(4, 8, ports=2)
    with pytest.raises(ValueError, match=r"^subvectors_per_line must be >= 0$"):
        crf.line_cycles(np.array([2, -1]))
    with pytest.raises(InputError) as e:
        crf.line_cycles(-1)
    assert e.value.field == "subvectors_per_line"
    assert str(e.value) == "field 'subvectors_per_line': must be an integer >= 0, got -1"
    assert crf.line_cycles(0) == 0 and crf.stall_cycles(0) == 0


def test_configuration_errors_name_their_field():
    for kwargs, fld, got in ((dict(k=0, d=8), "k", "0"), (dict(k=True, d=8), "k", "True"),
                             (dict(k=4, d=0), "d", "0"),
                             (dict(k=4, d=8, line_length=0), "array.rows", "0"),
                             (dict(k=4, d=8, ports=0), "crf_ports", "0"),
                             (dict(k=4, d=8, groups=0), "crf_groups", "0")):
        with pytest.raises(InputError) as e:
            CodebookRegisterFile(**kwargs)
        assert e.value.field == fld
        assert str(e.value) == f"field '{fld}': must be an integer >= 1, got {got}"


def test_slots_start_empty_and_a_one_entry_codebook_loads():
    crf = CodebookRegisterFile(4, 2, groups=3)
    assert crf.resident_groups.tolist() == [-1, -1, -1]
    crf.load_codebook(np.array([[[5, 6]]], dtype=np.int8))       # G = 1, k' = 1
    assert crf.resident_groups.tolist() == [0, -1, -1]
    assert crf.lookup([0, 0]).tolist() == [[5, 6], [5, 6]]
    with pytest.raises(ValueError, match=r"^codebook holds -128, which the sign negation "
                                         r"cannot represent$"):
        crf.load_codebook(np.array([[1, -128]], dtype=np.int8))


def test_reloads_accumulate_over_layers():
    crf = CodebookRegisterFile(2, 2)
    cb = np.array([[[1, 2], [3, 4]], [[5, 6], [7, 8]]], dtype=np.int8)   # G = 2
    crf.load_codebook(cb)
    crf.load_codebook(cb)
    assert crf.counters.as_dict() == {"reads": 0, "reloads": 2, "reload_bytes": 8}
    # the default group is 0, which is resident: no reload
    assert crf.lookup([1]).tolist() == [[3, 4]]
    assert crf.counters.reloads == 2


def test_lookup_errors_and_group_shapes():
    crf = CodebookRegisterFile(2, 2)
    with pytest.raises(ValueError, match=r"^CRF lookup before a codebook was loaded$"):
        crf.lookup([0])
    crf.load_codebook(np.array([[[1, 2], [3, 4]], [[5, 6], [7, 8]]], dtype=np.int8))
    with pytest.raises(ValueError, match=r"^CRF codebook groups must be integers, got float64$"):
        crf.lookup([0], 0.0)
    with pytest.raises(ValueError, match=r"^1 groups for 3 indices$"):
        crf.lookup([0, 1, 0], np.array([1]))
    # a column of groups is read in order
    assert crf.lookup([0, 1], np.array([[1], [0]])).tolist() == [[5, 6], [3, 4]]


def _plain_reloads(seq, slots, resident):
    """Reloads of a lookup sequence, one lookup at a time (direct-mapped slots)."""
    n = 0
    for g in seq:
        if resident[g % slots] != g:
            resident[g % slots] = g
            n += 1
    return n


def test_reloads_follow_the_lookup_order_in_long_sequences():
    rng = np.random.default_rng(7)
    cb = rng.integers(-127, 128, size=(6, 2, 2)).astype(np.int8)
    crf = CodebookRegisterFile(2, 2, groups=2)
    crf.load_codebook(cb)
    resident = [0, 1]
    for _ in range(3):
        seq = rng.integers(0, 6, size=300)
        want = crf.counters.reloads + _plain_reloads(seq, 2, resident)
        crf.lookup(np.zeros(300, dtype=np.int64), seq)
        assert crf.counters.reloads == want
        assert crf.resident_groups.tolist() == resident
