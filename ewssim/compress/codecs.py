"""Bit-level codecs of the compressed-layer format: index dtypes, MSB-first bit packing and the
three N:M mask encodings (bitmap, positions, combinatorial), with their validating decoders.

Bit packing is MSB first (``numpy.packbits`` order); the unused bits of the last byte are zero.
Every decoder raises :class:`~ewssim.errors.InputError` naming the source and the field.
"""

from __future__ import annotations

import math

import numpy as np

from ewssim.errors import InputError

from .format import MASK_ENCODINGS, clog2, mask_bits_per_group


def index_dtype(k: int) -> np.dtype:
    """Smallest unsigned dtype that holds indices ``0 .. k-1``."""
    if k <= 1 << 8:
        return np.dtype(np.uint8)
    if k <= 1 << 16:
        return np.dtype(np.uint16)
    return np.dtype(np.uint32)


# --------------------------------------------------------------------------- bit packing
def pack_uint(values: np.ndarray, width: int) -> np.ndarray:
    """Pack non-negative integers, ``width`` bits each, MSB first, into uint8."""
    v = np.asarray(values, dtype=np.uint64).ravel()
    if width == 0 or v.size == 0:
        return np.zeros(0, dtype=np.uint8)
    shifts = np.arange(width - 1, -1, -1, dtype=np.uint64)
    bits = ((v[:, None] >> shifts) & np.uint64(1)).astype(np.uint8)
    return np.packbits(bits.ravel())


def unpack_bits(data: np.ndarray, nbits: int, src: str, fld: str) -> np.ndarray:
    need = (nbits + 7) // 8
    if data.dtype != np.uint8 or data.ndim != 1:
        raise InputError(f"must be a 1-D uint8 array, got {data.dtype} with shape {data.shape}",
                         source=src, field=fld)
    if data.size != need:
        raise InputError(f"has {data.size} bytes, expected {need} for {nbits} bits",
                         source=src, field=fld)
    bits = np.unpackbits(data)
    if bits[nbits:].any():
        raise InputError("padding bits after the last value are not zero", source=src, field=fld)
    return bits[:nbits]


def unpack_uint(data: np.ndarray, width: int, count: int, src: str = "<memory>",
                fld: str = "data") -> np.ndarray:
    """Inverse of :func:`pack_uint` (validates length and padding): int64 ``(count,)``."""
    bits = unpack_bits(data, width * count, src, fld)
    if width == 0:
        return np.zeros(count, dtype=np.int64)
    weights = (1 << np.arange(width - 1, -1, -1, dtype=np.int64))
    return bits.reshape(count, width).astype(np.int64) @ weights


# --------------------------------------------------------------------------- mask encodings
def _comb_table(m: int, n: int) -> np.ndarray:
    """``T[p, i] = C(p, i)`` for p < m, i <= n (int64)."""
    return np.array([[math.comb(p, i) for i in range(n + 1)] for p in range(m)], dtype=np.int64)


def encode_mask(mask: np.ndarray, n: int, m: int, encoding: str) -> np.ndarray:
    """Bool ``(n_sub, d)`` N:M mask -> packed uint8 in ``encoding`` (empty when N = M)."""
    if n == m:
        return np.zeros(0, dtype=np.uint8)
    g = np.asarray(mask, dtype=bool).reshape(-1, m)
    if encoding == "bitmap":
        return np.packbits(g.ravel())
    pos = np.nonzero(g)[1].reshape(-1, n)  # ascending within each group
    if encoding == "positions":
        return pack_uint(pos, clog2(m))
    if encoding == "combinatorial":
        t = _comb_table(m, n)
        rank = t[pos, np.arange(1, n + 1)].sum(axis=1)  # combinatorial number system
        return pack_uint(rank, clog2(math.comb(m, n)))
    raise ValueError(f"unknown mask encoding {encoding!r}")


def decode_mask(data: np.ndarray, n_sub: int, d: int, n: int, m: int, encoding: str,
                src: str = "<memory>") -> np.ndarray:
    """Packed mask -> bool ``(n_sub, d)``; raises InputError(field='mask') unless exactly N:M."""
    if n == m:
        return np.ones((n_sub, d), dtype=bool)
    if encoding not in MASK_ENCODINGS:
        raise InputError(f"unknown mask encoding {encoding!r}", source=src,
                         field="mask_encoding", allowed=", ".join(MASK_ENCODINGS))
    groups = n_sub * d // m
    bits_each = mask_bits_per_group(encoding, n, m)
    if encoding == "bitmap":
        g = unpack_bits(data, groups * m, src, "mask").reshape(groups, m).astype(bool)
        bad = np.flatnonzero(g.sum(axis=1) != n)
        if bad.size:
            i = int(bad[0])
            raise InputError(f"M-group {i} keeps {int(g[i].sum())} weights, not exactly N={n} "
                             f"of M={m} ({bad.size} bad groups)", source=src, field="mask",
                             allowed=f"exactly {n} set bits per {m}")
        return g.reshape(n_sub, d)
    if encoding == "positions":
        vals = unpack_uint(data, clog2(m), groups * n, src, "mask")
    else:
        vals = unpack_uint(data, bits_each, groups, src, "mask")
    if encoding == "positions":
        pos = vals.reshape(groups, n)
        bad = np.flatnonzero((pos >= m).any(axis=1) | (np.diff(pos, axis=1) <= 0).any(axis=1))
        if bad.size:
            i = int(bad[0])
            raise InputError(f"M-group {i} has positions {pos[i].tolist()}: not {n} distinct "
                             f"increasing positions below M={m}", source=src, field="mask",
                             allowed=f"{n} increasing positions in 0..{m - 1}")
    else:  # combinatorial
        total = math.comb(m, n)
        bad = np.flatnonzero(vals >= total)
        if bad.size:
            i = int(bad[0])
            raise InputError(f"M-group {i} has rank {int(vals[i])} >= C({m},{n})={total}",
                             source=src, field="mask", allowed=f"0..{total - 1}")
        t = _comb_table(m, n)
        r = vals.copy()
        pos = np.empty((groups, n), dtype=np.int64)
        for i in range(n, 0, -1):  # greedy unranking, vectorised over groups
            p = np.searchsorted(t[:, i], r, side="right") - 1
            pos[:, i - 1] = p
            r -= t[p, i]
    g = np.zeros((groups, m), dtype=bool)
    np.put_along_axis(g, pos, True, axis=1)
    return g.reshape(n_sub, d)
