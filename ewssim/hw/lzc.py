"""Cascaded leading-zero counters: the N:M mask decoder of the MVQ weight loader.

Published (MVQ, ASPLOS 2025): the assignment-aware weight loader decodes the N:M mask of an
M-group with cascaded leading-zero counters (LZC).  Modelled here (docs/model-reference.md §6):

* The M mask bits of a group enter the cascade as an M-bit word with group position 0 at the
  word's most significant end (``msb_first`` order, the order the bitmap is stored in: bit
  packing is MSB first).  A mask given with bit ``i`` = position ``i`` (``msb_first=False``, the
  default of :func:`decode_groups`) is bit-reversed first, which in hardware is wiring.
* Stage ``j`` (``j = 0 .. N-1``) computes the leading-zero count of the remaining word, which is
  the group position of its first set bit; it emits that position, clears the bit and passes the
  rest to stage ``j+1``.  N stages emit the N kept positions in ascending order.
* :func:`lzc` is a priority encoder built as a binary tree (log2 width levels of "is the upper
  half zero?"), evaluated with integer bit operations on whole arrays, never ``np.nonzero``.
* A group that does not have exactly N set bits is a hardware fault (a stage finds an empty
  word, or bits are left after stage N-1): :class:`ValueError` naming the first bad group.
  The file loader already rejects such masks; this is a second line of defence.
* Timing: each stage takes ``stage_cycles`` cycles and is pipelined, so a decoder accepts one
  group per cycle and its latency is ``N * stage_cycles``; ``decoders`` cascades work in
  parallel.  Activity: one decode per group, N LZC evaluations per group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ewssim.errors import InputError

__all__ = ["LZCDecoder", "bit_reverse", "decode_groups", "lzc", "lzc_cascade", "popcount"]

MAX_WIDTH = 64
_U64 = np.uint64


def _check_width(width: int) -> int:
    if isinstance(width, bool) or not isinstance(width, int | np.integer) or \
            not 1 <= width <= MAX_WIDTH:
        raise ValueError(f"LZC width must be an integer in 1..{MAX_WIDTH}, got {width!r}")
    return int(width)


def _words(words, width: int) -> np.ndarray:
    w = np.asarray(words)
    if w.dtype.kind not in "ui" and w.size:
        raise ValueError(f"LZC words must be integers, got dtype {w.dtype}")
    if w.size and w.dtype.kind == "i" and int(w.min()) < 0:
        raise ValueError("LZC words must be non-negative")
    w = w.astype(_U64)
    if width < 64 and w.size and int(w.max()) >> width:
        i = int(np.argmax((w >> _U64(width)) != 0))
        raise ValueError(f"word {i} = {int(w.ravel()[i])} does not fit in {width} bits")
    return w


def _ones(bits: int) -> np.uint64:
    return _U64((1 << bits) - 1)


def lzc(words, width: int) -> np.ndarray:
    """Leading-zero count of every ``width``-bit word (``width`` for a zero word), int64.

    A priority encoder: the word is left-aligned in ``W = 2**ceil(log2 width)`` bits, then each
    of the ``log2 W`` tree levels asks "are the upper ``s`` bits zero?", adds ``s`` to the count
    if so and shifts them out.  One final level looks at the last bit.
    """
    width = _check_width(width)
    w = _words(words, width)
    big = 1 << (width - 1).bit_length()  # W: next power of two >= width
    full = _ones(big)
    x = (w << _U64(big - width)) & full
    count = np.zeros(w.shape, dtype=np.int64)
    s = big // 2
    while s >= 1:
        top_zero = (x >> _U64(big - s)) == 0
        count += np.where(top_zero, s, 0)
        x = np.where(top_zero, (x << _U64(s)) & full, x)
        s //= 2
    count += ((x >> _U64(big - 1)) == 0).astype(np.int64)  # last bit (all-zero word)
    return np.minimum(count, width)


def popcount(words, width: int) -> np.ndarray:
    """Number of set bits of every ``width``-bit word (int64); loop over bit positions."""
    width = _check_width(width)
    w = _words(words, width)
    out = np.zeros(w.shape, dtype=np.int64)
    for b in range(width):
        out += ((w >> _U64(b)) & _U64(1)).astype(np.int64)
    return out


def bit_reverse(words, width: int) -> np.ndarray:
    """Reverse the ``width`` low bits of every word (bit ``i`` -> bit ``width-1-i``), uint64."""
    width = _check_width(width)
    w = _words(words, width)
    out = np.zeros(w.shape, dtype=_U64)
    for b in range(width):
        out |= ((w >> _U64(b)) & _U64(1)) << _U64(width - 1 - b)
    return out


def lzc_cascade(words, n: int, m: int, *, group_ids=None) -> np.ndarray:
    """N-stage LZC cascade over ``msb_first`` M-bit group words (group position 0 = MSB).

    Returns int64 positions ``(G, n)``, ascending per group.  Raises :class:`ValueError` naming
    the first group that does not have exactly ``n`` set bits (its index, or
    ``group_ids[index]`` when given, e.g. the group's number in the layer).
    """
    m = _check_width(m)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 1 <= n <= m:
        raise ValueError(f"N must be an integer in 1..M={m}, got {n!r}")
    w = _words(words, m).ravel()
    pos = np.empty((w.size, n), dtype=np.int64)
    empty = np.zeros(w.size, dtype=bool)
    for j in range(n):  # stage j
        c = lzc(w, m)
        empty |= c == m
        pos[:, j] = c
        hit = np.where(c < m, _U64(1) << (_U64(m - 1) - np.minimum(c, m - 1).astype(_U64)),
                       _U64(0))
        w = w & ~hit  # clear the emitted bit, pass the rest on
    bad = empty | (w != 0)
    if bad.any():
        i = int(np.argmax(bad))
        ones = int(popcount(np.asarray(words).ravel()[i:i + 1], m)[0])
        name = i if group_ids is None else int(np.asarray(group_ids).ravel()[i])
        raise ValueError(f"LZC decoder fault: M-group {name} has {ones} set bits, not exactly "
                         f"N={n} of M={m} ({int(bad.sum())} bad groups)")
    return pos


def decode_groups(masks, n: int, m: int, *, msb_first: bool = False,
                  group_ids=None) -> np.ndarray:
    """Decode M-bit group masks into their ``n`` set positions, ascending: int64 ``(G, n)``.

    ``masks`` is a uint array ``(G,)``; by default bit ``i`` of a mask is group position ``i``
    (bitmap encoding); ``msb_first=True`` takes position 0 at bit ``m-1`` (the stored order).
    Raises :class:`ValueError` naming the first group without exactly ``n`` set bits.
    """
    m = _check_width(m)
    w = _words(masks, m).ravel()
    if not msb_first:
        w = bit_reverse(w, m)  # wiring: position 0 to the LZC's most significant input
    return lzc_cascade(w, n, m, group_ids=group_ids)


@dataclass
class LZCCounters:
    """Activity of an LZC mask decoder."""

    groups: int = 0  # M-groups decoded (one cascade pass each)
    lzc_evals: int = 0  # leading-zero-count evaluations = groups * N

    def as_dict(self) -> dict[str, int]:
        return {"groups": self.groups, "lzc_evals": self.lzc_evals}


class LZCDecoder:
    """``decoders`` parallel N-stage LZC cascades for N:M masks, with activity and timing.

    ``stage_cycles`` (modelled, default 1): cycles per cascade stage; stages are pipelined, so
    each cascade accepts one group per cycle and has latency ``N * stage_cycles``.
    """

    def __init__(self, n: int, m: int, *, stage_cycles: int = 1, decoders: int = 1):
        for fld, v, lo in (("nm", m, 1), ("nm", n, 1), ("lzc_stage_cycles", stage_cycles, 0),
                           ("lzc_decoders", decoders, 1)):
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
                raise InputError(f"must be an integer >= {lo}, got {v!r}", field=fld)
        if n > m or m > MAX_WIDTH:
            raise InputError(f"N:M = {n}:{m} needs 1 <= N <= M <= {MAX_WIDTH}", field="nm")
        self.n, self.m = int(n), int(m)
        self.stage_cycles = int(stage_cycles)
        self.decoders = int(decoders)
        self.counters = LZCCounters()

    @property
    def latency(self) -> int:
        """Cycles from a group entering the cascade to its last position leaving it."""
        return self.n * self.stage_cycles

    def cycles(self, groups: int) -> int:
        """Cycles to decode ``groups`` groups, pipelined: ``ceil(groups/decoders) - 1 +
        latency`` (0 for no groups)."""
        if groups <= 0:
            return 0
        return math.ceil(groups / self.decoders) - 1 + self.latency

    def decode(self, masks, *, msb_first: bool = False, group_ids=None) -> np.ndarray:
        """:func:`decode_groups` with activity counting (counted only when no fault)."""
        pos = decode_groups(masks, self.n, self.m, msb_first=msb_first, group_ids=group_ids)
        self.counters.groups += pos.shape[0]
        self.counters.lzc_evals += pos.shape[0] * self.n
        return pos

    def reset(self) -> None:
        self.counters = LZCCounters()
