"""Exact behaviour of the LZC mask decoder object (ewssim/hw/lzc.py): its default bit order
(bit i = group position i) and the layer group number its faults name.  Written to kill
surviving mutants (docs/testing.md)."""

from __future__ import annotations

import numpy as np
import pytest

from ewssim.errors import InputError
from ewssim.hw.lzc import LZCDecoder, lzc, lzc_cascade, popcount


def test_decoder_default_order_is_bit_i_position_i():
    dec = LZCDecoder(2, 4)
    # 0b0011: bits 0 and 1 -> positions 0, 1 (MSB first they would be positions 2, 3)
    assert dec.decode(np.array([0b0011, 0b1010], dtype=np.uint8)).tolist() == [[0, 1], [1, 3]]
    assert dec.decode(np.array([0b0011]), msb_first=True).tolist() == [[2, 3]]
    assert dec.counters.as_dict() == {"groups": 3, "lzc_evals": 6}


def test_decoder_fault_names_the_group_ids_given():
    dec = LZCDecoder(2, 4)
    with pytest.raises(ValueError, match=r"M-group 17 has 3 set bits, not exactly N=2 of M=4 "
                                         r"\(1 bad groups\)"):
        dec.decode(np.array([0b0011, 0b0111]), group_ids=np.array([16, 17]))
    assert dec.counters.groups == 0


def test_decoder_configuration_bounds_and_fields():
    assert LZCDecoder(2, 4).decoders == 1 and LZCDecoder(2, 4).cycles(4) == 4 - 1 + 2
    assert LZCDecoder(1, 1).latency == 1
    assert LZCDecoder(4, 4, stage_cycles=0).latency == 0
    assert LZCDecoder(1, 64).m == 64
    for args, kwargs, fld, msg in (
            ((2, 0), {}, "nm", "must be an integer >= 1, got 0"),
            ((0, 4), {}, "nm", "must be an integer >= 1, got 0"),
            ((2, 4), dict(stage_cycles=-1), "lzc_stage_cycles", "must be an integer >= 0, got -1"),
            ((2, 4), dict(decoders=0), "lzc_decoders", "must be an integer >= 1, got 0"),
            ((5, 4), {}, "nm", "N:M = 5:4 needs 1 <= N <= M <= 64"),
            ((1, 65), {}, "nm", "N:M = 1:65 needs 1 <= N <= M <= 64")):
        with pytest.raises(InputError) as e:
            LZCDecoder(*args, **kwargs)
        assert e.value.field == fld
        assert str(e.value) == f"field '{fld}': {msg}"
    with pytest.raises(InputError, match=r"^field 'nm': must be an integer >= 1, got True$"):
        LZCDecoder(True, 4)


def test_popcount_is_int64_and_cascade_rejects_a_bool_n():
    got = popcount(np.array([0b1011, 0], dtype=np.uint8), 4)
    assert got.dtype == np.int64 and got.tolist() == [3, 0]
    with pytest.raises(ValueError, match=r"^N must be an integer in 1..M=4, got True$"):
        lzc_cascade(np.array([0b1000]), True, 4)


def test_word_checks_name_the_first_word_that_does_not_fit():
    with pytest.raises(ValueError, match=r"^word 2 = 20 does not fit in 4 bits$"):
        lzc(np.array([1, 2, 20, 3, 40]), 4)
    with pytest.raises(ValueError, match=r"^LZC words must be non-negative$"):
        lzc(np.array([3, -1]), 4)
    with pytest.raises(ValueError, match=r"^LZC width must be an integer in 1\.\.64, got True$"):
        lzc(np.array([1]), True)
