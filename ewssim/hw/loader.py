"""The assignment-aware weight loader of the MVQ accelerator (bit-exact, counted, timed).

Published (MVQ, ASPLOS 2025): the loader reads codeword indices and N:M masks from the L1
weight buffer, looks the codewords up in the codebook register file (CRF, ``L/d`` read ports per
line), decodes the masks with cascaded leading-zero counters and emits, per sub-vector, the
``q = N*d/M`` kept values with their positions for the sparsity-aware array.  SSVQ (ICCV 2025)
adds one sign bit per kept weight.  Modelled here (docs/model-reference.md §6):

* A *line* is one array column's ``L`` weights for one kernel tap: ``L/d`` consecutive
  sub-vectors along the input channels (:func:`line_subvectors`).
* Per sub-vector the loader reads from L1 its index (``ceil(log2 k)`` bits), its ``d/M`` mask
  groups in the layer's encoding and (SSVQ) its ``q`` sign bits, exactly as stored
  (``CompressedLayer.mask_data`` / ``sign_data``, MSB-first packed):

  - ``bitmap``: M bits per group, decoded by an N-stage LZC cascade (:mod:`ewssim.hw.lzc`);
  - ``positions``: N fields of ``ceil(log2 M)`` bits, used directly (no LZC);
  - ``combinatorial``: a ``ceil(log2 C(M,N))``-bit rank, unranked by a comparator bank
    (greedy, N steps; one *combinatorial decode* per group).

  The codeword (a CRF read) is masked (the kept positions are selected) and, with signs,
  conditionally negated (one conditional negation per kept weight).
* Timing: ``load_cycles(lines, spl) = lines * crf.line_cycles(spl) + latency`` with
  ``latency = crf_latency + (N * lzc_stage_cycles if bitmap mask) + (unrank_latency if
  combinatorial mask) + (sign_latency if signs)``; all stages are pipelined at one line per
  ``line_cycles``.
* Faults the file loader already rejects (a mask group without exactly N kept positions,
  positions not increasing, ranks out of range, too few stored bits) raise :class:`ValueError`
  naming the group; a loader configured for another format than the layer's raises
  :class:`~ewssim.errors.InputError` naming the field.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ewssim.compress.format import WeightFormat, clog2, mask_bits_per_group
from ewssim.compress.layer import CompressedLayer
from ewssim.errors import InputError

from .crf import CodebookRegisterFile
from .lzc import LZCDecoder

__all__ = ["LoaderCounters", "WeightLoader", "line_subvectors", "read_fields", "tile_l1_bytes",
           "unrank"]


# --------------------------------------------------------------------------- bit-level helpers
def read_fields(data: np.ndarray, starts, width: int, what: str = "data") -> np.ndarray:
    """Read ``width``-bit MSB-first unsigned fields at bit offsets ``starts`` of packed uint8
    ``data``: int64 of the shape of ``starts`` (loop over the ``width`` bit positions)."""
    starts = np.asarray(starts, dtype=np.int64)
    out = np.zeros(starts.shape, dtype=np.int64)
    if width == 0 or starts.size == 0:
        return out
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim != 1:
        raise ValueError(f"{what} must be packed 1-D uint8, got {data.dtype} {data.shape}")
    last = int(starts.max()) + width - 1
    if int(starts.min()) < 0 or last >= 8 * data.size:
        raise ValueError(f"{what}: bit {last} requested but only {8 * data.size} bits stored")
    for b in range(width):
        off = starts + b
        bit = (data[off >> 3] >> (7 - (off & 7)).astype(np.uint8)) & 1
        out = (out << 1) | bit.astype(np.int64)
    return out


def _comb_table(m: int, n: int) -> np.ndarray:
    """``T[p, i] = C(p, i)`` for ``p < m``, ``i <= n`` (int64)."""
    return np.array([[math.comb(p, i) for i in range(n + 1)] for p in range(m)], dtype=np.int64)


def unrank(ranks, n: int, m: int, *, group_ids=None) -> np.ndarray:
    """Combinatorial-number-system ranks ``(G,)`` -> kept positions ``(G, n)`` ascending.

    The hardware model: N greedy steps, step ``i = N..1`` compares the remaining rank with
    ``C(p, i)`` for every ``p < M`` at once (a comparator bank), takes the largest ``p`` with
    ``C(p, i) <= rank`` and subtracts ``C(p, i)``.  A rank ``>= C(M, N)`` is a fault
    (:class:`ValueError` naming the group).
    """
    r = np.asarray(ranks, dtype=np.int64).ravel().copy()
    total = math.comb(m, n)
    bad = (r < 0) | (r >= total)
    if bad.any():
        i = int(np.argmax(bad))
        name = i if group_ids is None else int(np.asarray(group_ids).ravel()[i])
        raise ValueError(f"combinatorial decoder fault: M-group {name} has rank {int(r[i])}, "
                         f"not in 0..C({m},{n})-1={total - 1}")
    t = _comb_table(m, n)
    pos = np.empty((r.size, n), dtype=np.int64)
    for i in range(n, 0, -1):
        p = (t[None, :, i] <= r[:, None]).sum(axis=1) - 1  # C(p, i) is non-decreasing in p
        pos[:, i - 1] = p
        r -= t[p, i]
    return pos


def tile_l1_bytes(subvectors, fmt: WeightFormat):
    """L1 weight-buffer bytes of a tile holding ``subvectors`` sub-vectors (an int or an array,
    one per tile): the format's exact bits per sub-vector (indices + masks + signs, or dbb
    values + masks) rounded up to bytes once per tile."""
    bits = np.asarray(subvectors, dtype=np.int64) * fmt.subvector_bits
    out = -(-bits // 8)
    return int(out) if out.ndim == 0 else out


def line_subvectors(cl: CompressedLayer, out_channel, r, s, first_block=0,
                    count: int | None = None) -> np.ndarray:
    """Sub-vector ids of lines: output channel ``out_channel``, tap ``(r, s)``, channel blocks
    ``first_block .. first_block+count-1`` (``count`` default: all blocks from ``first_block``).

    Arguments broadcast; the result has their broadcast shape + ``(count,)``.  Follows the
    layout ``i = ((o*kh + r)*kw + s)*(Cp/d) + c`` (docs/compression.md).
    """
    o_n, _, kh, kw = cl.weight_shape
    blocks = cl.padded_channels // cl.format.d
    o, r, s, b0 = (np.asarray(v, dtype=np.int64) for v in (out_channel, r, s, first_block))
    if count is None:
        if b0.ndim:
            raise ValueError("count is required when first_block is an array")
        count = blocks - int(b0)
    for name, v, hi in (("out_channel", o, o_n), ("r", r, kh), ("s", s, kw),
                        ("first_block", b0, blocks)):
        if v.size and (int(v.min()) < 0 or int(v.max()) >= hi):
            raise ValueError(f"{name} out of range 0..{hi - 1}")
    if count < 0 or (b0.size and int(b0.max()) + count > blocks):
        raise ValueError(f"{count} sub-vectors from block {int(b0.max())} exceed the "
                         f"{blocks} channel blocks of a line")
    base = ((o * kh + r) * kw + s) * blocks + b0
    return base[..., None] + np.arange(count, dtype=np.int64)


# --------------------------------------------------------------------------- the loader
@dataclass
class LoaderCounters:
    """Activity of the weight loader (every action it performs)."""

    subvectors: int = 0  # sub-vectors decoded
    index_bits_read: int = 0  # L1 bits: codeword indices
    mask_bits_read: int = 0  # L1 bits: mask data in its encoding
    sign_bits_read: int = 0  # L1 bits: SSVQ signs
    crf_reads: int = 0  # codeword lookups
    lzc_groups: int = 0  # M-groups through the LZC cascade (bitmap)
    lzc_evals: int = 0  # LZC evaluations = lzc_groups * N
    position_reads: int = 0  # M-groups whose positions were read directly (positions)
    comb_decodes: int = 0  # M-groups unranked (combinatorial)
    sign_ops: int = 0  # conditional negations evaluated (one per kept weight with signs)
    sign_negations: int = 0  # weights actually negated (sign bit 1)
    values_emitted: int = 0  # values sent to the array (sparse: q per sub-vector; dense: d)
    zeros_emitted: int = 0  # of those, pruned positions filled with 0 (dense output only)

    @property
    def l1_bits_read(self) -> int:
        return self.index_bits_read + self.mask_bits_read + self.sign_bits_read

    def as_dict(self) -> dict[str, int]:
        out = asdict(self)
        out["l1_bits_read"] = self.l1_bits_read
        return out


def _nonneg_int(v, fld: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
        raise InputError(f"must be an integer >= 0, got {v!r}", field=fld)
    return int(v)


class WeightLoader:
    """Assignment-aware weight loader: L1 indices/masks/signs -> CRF -> mask -> sign -> array.

    ``fmt``: the codebook format it decodes (N:M, ``d`` = ``crf.d``, mask encoding, signs;
    the CRF holds up to ``crf.k`` codewords, so a layer with ``k <= crf.k`` fits).  Latencies
    in cycles, all modelled: ``crf_latency`` (CRF read, default 1), ``lzc_stage_cycles`` (per
    LZC stage, default 1, bitmap only), ``sign_latency`` (conditional negation, default 1, with
    signs), ``unrank_latency`` (combinatorial decoder, default 0: folded into the mask read).
    """

    def __init__(self, crf: CodebookRegisterFile, fmt: WeightFormat, *, crf_latency: int = 1,
                 lzc_stage_cycles: int = 1, sign_latency: int = 1, unrank_latency: int = 0):
        if not isinstance(crf, CodebookRegisterFile):
            raise TypeError("crf must be a CodebookRegisterFile")
        if not fmt.codebook:
            raise InputError(f"the codebook loader decodes vq/mvq/casec/ssvq, not "
                             f"{fmt.method}", field="weights.format")
        if fmt.d != crf.d:
            raise InputError(f"loader d={fmt.d} differs from the CRF's d={crf.d}", field="d")
        self.crf = crf
        self.format = fmt
        self.n, self.m = fmt.nm
        self.d = fmt.d
        self.masked = fmt.pruned
        self.mask_encoding = fmt.mask_encoding
        self.signs = fmt.signs
        self.q = fmt.kept_per_subvector
        self.crf_latency = _nonneg_int(crf_latency, "crf_latency")
        self.lzc_stage_cycles = _nonneg_int(lzc_stage_cycles, "lzc_stage_cycles")
        self.sign_latency = _nonneg_int(sign_latency, "sign_latency")
        self.unrank_latency = _nonneg_int(unrank_latency, "unrank_latency")
        self.lzc = LZCDecoder(self.n, self.m, stage_cycles=self.lzc_stage_cycles) \
            if self.masked else None
        self.counters = LoaderCounters()

    @classmethod
    def for_layer(cls, cl: CompressedLayer, *, line_length: int = 64, ports: int | None = None,
                  crf_groups: int = 1, **latencies) -> WeightLoader:
        """A loader (with its own CRF of the layer's ``k``, ``d``) configured for ``cl``."""
        f = cl.format
        if not f.codebook:
            raise InputError(f"layer {cl.name!r} is {f.method}: no codebook loader",
                             field="method")
        crf = CodebookRegisterFile(f.k, f.d, line_length=line_length, ports=ports,
                                   groups=crf_groups)
        return cls(crf, f, **latencies)

    # ------------------------------------------------------------------ sizes and timing
    @property
    def latency(self) -> int:
        """Pipeline latency: ``crf_latency + N*lzc_stage_cycles (bitmap) + unrank_latency
        (combinatorial) + sign_latency (signs)``."""
        lat = self.crf_latency
        if self.masked and self.mask_encoding == "bitmap":
            lat += self.n * self.lzc_stage_cycles
        if self.masked and self.mask_encoding == "combinatorial":
            lat += self.unrank_latency
        if self.signs:
            lat += self.sign_latency
        return lat

    def load_cycles(self, lines, subvectors_per_line: int | None = None):
        """Cycles to load ``lines`` lines (int or array): ``lines * crf.line_cycles(spl) +
        latency``, 0 for no lines."""
        lines_a = np.asarray(lines, dtype=np.int64)
        per = self.crf.line_cycles(subvectors_per_line)
        out = np.where(lines_a > 0, lines_a * per + self.latency, 0)
        return int(out) if out.ndim == 0 else out

    def stall_cycles(self, lines, subvectors_per_line: int | None = None):
        """CRF port-conflict stall cycles of ``lines`` lines: ``lines * (line_cycles - 1)``."""
        out = np.asarray(lines, dtype=np.int64) * self.crf.stall_cycles(subvectors_per_line)
        return int(out) if out.ndim == 0 else out

    @property
    def subvector_bits(self) -> int:
        """L1 bits read per sub-vector (index + mask + signs)."""
        return self.format.subvector_bits

    def tile_l1_bytes(self, subvectors):
        """L1 bytes of a tile of ``subvectors`` sub-vectors (:func:`tile_l1_bytes`)."""
        return tile_l1_bytes(subvectors, self.format)

    # ------------------------------------------------------------------ functional
    def _check_layer(self, cl: CompressedLayer) -> None:
        """The layer must be stored as this loader decodes: d, N:M, mask encoding, signs, and
        at most the CRF's k codewords (vq, mvq and case C share one storage)."""
        f, src = cl.format, cl.name
        if not f.codebook:
            raise InputError(f"is {f.method}: it has no codebook", source=src, field="method")
        if f.d != self.d:
            raise InputError(f"d={f.d}, loader built for d={self.d}", source=src, field="d")
        if f.nm != self.format.nm:
            raise InputError(f"N:M = {f.nm[0]}:{f.nm[1]}, loader built for "
                             f"{self.n}:{self.m}", source=src, field="nm")
        if f.mask_encoding != self.mask_encoding:
            raise InputError(f"mask encoding {f.mask_encoding!r}, loader built for "
                             f"{self.mask_encoding!r}", source=src, field="mask_encoding")
        if f.signs != self.signs:
            raise InputError(f"{'has' if f.signs else 'has no'} sign bits, loader built "
                             f"{'with' if self.signs else 'without'}", source=src,
                             field="signs")
        if f.k > self.crf.k:
            raise InputError(f"k={f.k} codewords do not fit a CRF of {self.crf.k}",
                             source=src, field="k")

    def begin_layer(self, cl: CompressedLayer) -> None:
        """Check ``cl`` against the configuration and load its codebook into the CRF."""
        self._check_layer(cl)
        self.crf.load_codebook(cl.codebook)

    def _mask_positions(self, cl: CompressedLayer, ids: np.ndarray) -> np.ndarray:
        """Kept positions inside each sub-vector, ``(S, q)`` ascending, from the stored mask."""
        s_count = ids.size
        if not self.masked:
            return np.broadcast_to(np.arange(self.d, dtype=np.int64), (s_count, self.d))
        n, m = self.n, self.m
        gps = self.d // m
        groups = (ids[:, None] * gps + np.arange(gps)).ravel()  # layer M-group numbers
        per_group = mask_bits_per_group(self.mask_encoding, n, m)
        start = groups * per_group
        if self.mask_encoding == "bitmap":
            words = read_fields(cl.mask_data, start, m, "mask")  # position 0 = MSB
            pos = self.lzc.decode(words, msb_first=True, group_ids=groups)
        elif self.mask_encoding == "positions":
            w = clog2(m)
            pos = read_fields(cl.mask_data, start[:, None] + w * np.arange(n), w, "mask")
            bad = (pos >= m).any(axis=1) | (np.diff(pos, axis=1) <= 0).any(axis=1)
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"mask decoder fault: M-group {int(groups[i])} has positions "
                                 f"{pos[i].tolist()}, not {n} increasing positions < M={m}")
        else:
            pos = unrank(read_fields(cl.mask_data, start, per_group, "mask"), n, m,
                         group_ids=groups)
        pos = pos.reshape(s_count, gps, n) + (m * np.arange(gps))[None, :, None]
        return pos.reshape(s_count, self.q)

    def _decode(self, cl: CompressedLayer, subvector_ids) -> tuple[np.ndarray, np.ndarray]:
        if self.crf.codebook is not cl.codebook:
            self.begin_layer(cl)
        else:
            self._check_layer(cl)
        ids = np.asarray(subvector_ids)
        if ids.size and ids.dtype.kind not in "ui":
            raise ValueError(f"sub-vector ids must be integers, got {ids.dtype}")
        ids = ids.astype(np.int64).ravel()
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= cl.n_sub):
            i = int(np.argmax((ids < 0) | (ids >= cl.n_sub)))
            raise ValueError(f"sub-vector id {int(ids[i])} out of range 0..{cl.n_sub - 1}")
        s_count = ids.size
        lzc_before = self.lzc.counters.lzc_evals if self.lzc is not None else 0
        lzc_groups_before = self.lzc.counters.groups if self.lzc is not None else 0

        # L1 reads: mask -> kept positions; index -> CRF lookup
        pos = self._mask_positions(cl, ids)  # (S, q)
        grp = ids // (cl.n_sub // cl.format.codebook_groups)
        codewords = self.crf.lookup(cl.indices[ids], grp)  # (S, d) int8
        vals = np.take_along_axis(codewords, pos, axis=1)  # mask: select the kept positions
        neg = None
        if self.signs:
            q = self.q
            neg = read_fields(cl.sign_data, ids[:, None] * q + np.arange(q), 1, "signs") == 1
            vals = np.where(neg, -vals.astype(np.int16), vals).astype(np.int8)

        c = self.counters
        c.subvectors += s_count
        c.index_bits_read += s_count * cl.format.index_bits
        c.crf_reads += s_count
        if self.masked:
            groups = s_count * (self.d // self.m)
            c.mask_bits_read += groups * mask_bits_per_group(self.mask_encoding, self.n, self.m)
            if self.mask_encoding == "bitmap":
                c.lzc_groups += self.lzc.counters.groups - lzc_groups_before
                c.lzc_evals += self.lzc.counters.lzc_evals - lzc_before
            elif self.mask_encoding == "positions":
                c.position_reads += groups
            else:
                c.comb_decodes += groups
        if neg is not None:
            c.sign_bits_read += neg.size
            c.sign_ops += neg.size
            c.sign_negations += int(neg.sum())
        return np.ascontiguousarray(vals), np.ascontiguousarray(pos)

    def decode(self, cl: CompressedLayer, subvector_ids) -> tuple[np.ndarray, np.ndarray]:
        """Sparse output of sub-vectors ``subvector_ids`` (S,): ``(values, positions)``, int8
        and int64 ``(S, q)``, ``q = d*N/M`` kept values per sub-vector with their ascending
        positions inside the sub-vector (equal to ``CompressedLayer.nonzeros()`` rows)."""
        vals, pos = self._decode(cl, subvector_ids)
        self.counters.values_emitted += vals.size
        return vals, pos

    def decode_dense(self, cl: CompressedLayer, subvector_ids) -> np.ndarray:
        """Dense output ``(S, d)`` int8: the kept values at their positions, zeros elsewhere
        (equal to ``CompressedLayer.values()`` rows)."""
        vals, pos = self._decode(cl, subvector_ids)
        out = np.zeros((vals.shape[0], self.d), dtype=np.int8)
        np.put_along_axis(out, pos, vals, axis=1)
        self.counters.values_emitted += out.size
        self.counters.zeros_emitted += out.size - vals.size
        return out

    def reset(self) -> None:
        """Clear the loader's, its CRF's and its LZC's counters."""
        self.counters = LoaderCounters()
        self.crf.reset()
        if self.lzc is not None:
            self.lzc.reset()
