"""Cascaded LZC mask decoder: bit-exact against plain references, faults, counters, timing."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ewssim.errors import InputError
from ewssim.hw.lzc import LZCDecoder, bit_reverse, decode_groups, lzc, lzc_cascade, popcount

PATTERNS = [(1, 4), (2, 4), (2, 8), (4, 8)]


def ref_lzc(word: int, width: int) -> int:
    return width - int(word).bit_length()


def ref_positions(mask: int, m: int) -> list[int]:
    return [int(i) for i in np.nonzero([(mask >> i) & 1 for i in range(m)])[0]]


def masks_with(n: int, m: int) -> np.ndarray:
    """Every M-bit mask with exactly N ones (bit i = position i), via itertools."""
    return np.array([sum(1 << p for p in c) for c in itertools.combinations(range(m), n)],
                    dtype=np.uint64)


@pytest.mark.parametrize("width", range(1, 13))
def test_lzc_all_words(width):
    words = np.arange(1 << width, dtype=np.uint64)
    want = np.array([ref_lzc(w, width) for w in range(1 << width)])
    got = lzc(words, width)
    assert got.dtype == np.int64 and np.array_equal(got, want)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 64).flatmap(lambda w: st.tuples(st.just(w),
                                                      st.integers(0, (1 << w) - 1))))
def test_lzc_wide_words(wv):
    width, word = wv
    assert int(lzc(np.array([word], dtype=np.uint64), width)[0]) == ref_lzc(word, width)


def test_lzc_keeps_shape_and_rejects_bad_words():
    assert lzc(np.array([[1, 2], [4, 0]]), 3).tolist() == [[2, 1], [0, 3]]
    with pytest.raises(ValueError, match="does not fit in 3 bits"):
        lzc([8], 3)
    with pytest.raises(ValueError, match="non-negative"):
        lzc([-1], 3)
    with pytest.raises(ValueError, match="width"):
        lzc([1], 0)
    with pytest.raises(ValueError, match="integers"):
        lzc([1.0], 4)


def test_bit_reverse_and_popcount():
    words = np.arange(256)
    rev = bit_reverse(words, 8)
    assert [int(v) for v in rev] == [int(f"{w:08b}"[::-1], 2) for w in range(256)]
    assert popcount(words, 8).tolist() == [bin(w).count("1") for w in range(256)]


@pytest.mark.parametrize("n,m", PATTERNS)
def test_decode_all_valid_masks_exhaustive(n, m):
    masks = masks_with(n, m)
    want = np.array([ref_positions(int(x), m) for x in masks])
    assert np.array_equal(decode_groups(masks, n, m), want)
    # the stored (MSB-first) order: position 0 at bit m-1
    assert np.array_equal(decode_groups(bit_reverse(masks, m), n, m, msb_first=True), want)
    # and straight through the cascade, with itertools as the reference
    combos = np.array(list(itertools.combinations(range(m), n)))
    assert np.array_equal(lzc_cascade(bit_reverse(masks, m), n, m), combos)


@pytest.mark.parametrize("m", range(1, 9))
def test_every_mask_with_a_wrong_popcount_is_a_fault(m):
    words = np.arange(1 << m, dtype=np.uint64)
    ones = popcount(words, m)
    for n in range(1, m + 1):
        good = words[ones == n]
        want = np.array([ref_positions(int(x), m) for x in good]).reshape(-1, n)
        assert np.array_equal(decode_groups(good, n, m), want)
        for bad in words[ones != n]:
            batch = np.concatenate([good[:3], [bad], good[:2]]).astype(np.uint64)
            with pytest.raises(ValueError, match=rf"M-group {min(3, good.size)} has "
                                                 rf"{int(popcount([bad], m)[0])} set bits"):
                decode_groups(batch, n, m)


def test_fault_names_the_layer_group_when_given():
    with pytest.raises(ValueError, match="M-group 42 has 3 set bits"):
        decode_groups([0b0011, 0b0111], 2, 4, group_ids=[41, 42])


def test_decoder_counters_latency_and_cycles():
    dec = LZCDecoder(2, 8, stage_cycles=3, decoders=2)
    assert dec.latency == 6
    assert dec.cycles(0) == 0 and dec.cycles(1) == 6 and dec.cycles(2) == 6
    assert dec.cycles(5) == 3 - 1 + 6
    pos = dec.decode(masks_with(2, 8))
    assert pos.shape == (28, 2)
    assert dec.counters.as_dict() == {"groups": 28, "lzc_evals": 56}
    with pytest.raises(ValueError):
        dec.decode([0b111])
    assert dec.counters.groups == 28  # a fault counts nothing
    dec.reset()
    assert dec.counters.lzc_evals == 0
    assert LZCDecoder(1, 4).latency == 1 and LZCDecoder(4, 8).latency == 4


def test_decoder_rejects_bad_configuration():
    with pytest.raises(InputError, match="nm"):
        LZCDecoder(5, 4)
    with pytest.raises(InputError, match="lzc_stage_cycles"):
        LZCDecoder(1, 4, stage_cycles=-1)
    with pytest.raises(ValueError, match="N must be"):
        lzc_cascade([1], 0, 4)
