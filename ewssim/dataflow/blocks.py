"""What moves into and out of the L1 buffers, block by block (docs/model-reference.md §4).

A mapping's tiles (:mod:`ewssim.dataflow.tiling`) say what the array computes; this module says
which data each L1 fill holds -- the L1 level of the mapping.  The hardware (:mod:`ewssim.hw`)
then decides *when* each block moves.

* **Activation blocks.** A tile reads, for the input channels its reduction units use (in
  each group of its pack), the input of its output pixels
  (:meth:`~ewssim.workload.layers.Layer.input_footprint`).  If the whole layer input fits half
  of the L1 activation buffer (the whole buffer when it is not double-buffered) it is one
  block, read once.  Otherwise consecutive tiles of one group pack and output fold share a
  block while the block's input -- the hull of their pixel ranges times the channels of the
  hull of their unit ranges -- fits; a new output fold starts reading again.  A tile whose
  input does not fit makes the mapping invalid.
* **Weight blocks.** The weight path consumes, in order, *actions*: codebook (re)loads into the
  CRF and tile loads.  Each action reads its bytes from the L1 weight buffer; consecutive
  actions share a block while their bytes fit a half.  When a pass (group pack x output fold)
  reloads its weights per pixel chunk (more reduction folds than WRF slots) and the pass's
  distinct weights fit a half, the pass is one block read once.
* **Output blocks.** A pixel chunk's results accumulate in the L1 output buffer (partial sums
  of ``psum_bits`` unless they stay in the PRF; then finished outputs) and are drained as
  finished outputs (``act_bits``) when its last reduction fold is done; consecutive chunks
  share a block while they fit a half.

Sources and destinations (L2 residency, §4.2): the layer input is already in L2 (the previous
layer's output kept on chip), *staged* (fetched from DRAM into L2 once, ahead of first use, in
pieces: the new input rows each first-pass block needs) when input + kept output fit the L2
activation share, or *streamed* (every activation block read from DRAM on its way to L1).
Weights come from DRAM through the L2 weight staging ring (a matmul's stationary operand is an
activation: from L2 when the input is kept there).  Outputs stay in L2 or go to DRAM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ewssim.dataflow.base import LayerContext, TileSchedule
from ewssim.dataflow.tiling import block_groups, stream_pixels
from ewssim.dataflow.traffic import valid_taps
from ewssim.hw.hardware import LayerHardware, ceil_div
from ewssim.hw.l2 import L2Span
from ewssim.workload.layers import Layer

#: kinds of weight-path actions
CRF, LOAD = 0, 1


class MappingInvalid(Exception):
    """A candidate mapping whose working set does not fit a buffer (the mapper skips it)."""


@dataclass
class StreamBlocks:
    """Blocks of one L1 buffer: block ``b`` serves consumers ``first[b] .. last[b]`` (tiles, or
    weight actions) and moves ``nbytes[b]`` bytes; ``of[c]`` is consumer ``c``'s block."""

    first: np.ndarray
    last: np.ndarray
    nbytes: np.ndarray
    of: np.ndarray

    def __len__(self) -> int:
        return int(self.first.shape[0])


@dataclass
class LayerBlocks:
    act: StreamBlocks          # consumers: tiles
    act_src: str               # "l2" | "staged" | "stream"
    act_piece: np.ndarray      # staged: bytes fetched from DRAM before each block (else 0)
    w: StreamBlocks            # consumers: weight actions
    w_piece: np.ndarray        # per block: bytes fetched from DRAM (or L2's operand) first
    w_free_at: np.ndarray      # per block: the block whose L1 fill frees its staged bytes
    w_kind: np.ndarray         # per action: CRF or LOAD
    w_tile: np.ndarray         # per action: its tile (a CRF op comes before that tile's load)
    w_cycles: np.ndarray       # per action: CRF write cycles (loads: 0, timed by the schedule)
    w_src: str                 # "dram" (through the L2 staging ring) | "l2"
    out: StreamBlocks          # consumers: tiles
    out_buf: np.ndarray        # per block: bytes it occupies in the L1 output buffer
    out_dest: str              # "l2" | "dram"
    crf_bytes: int = 0         # codewords written into the CRF (initial fill and reloads)
    #: the L2 shares these blocks hold for (staged input, kept passes); not compared
    l2_span: L2Span = field(default_factory=L2Span, compare=False)

    @property
    def act_tile_block(self) -> np.ndarray:
        return self.act.of

    def load_action(self) -> np.ndarray:
        """Per tile, the index of its LOAD action (-1: no load)."""
        n = self.out.of.shape[0]
        out = np.full(n, -1, np.int64)
        loads = self.w_kind == LOAD
        out[self.w_tile[loads]] = np.flatnonzero(loads)
        return out


def _bytes(elems, bits: int):
    return -(-np.asarray(elems, dtype=np.int64) * bits // 8)


def _run_starts(*cols: np.ndarray) -> np.ndarray:
    """Indices where a run of equal consecutive key tuples starts (``cols``: the keys'
    columns)."""
    n = len(cols[0])
    change = np.zeros(n, bool)
    if n:
        change[0] = True
    for c in cols:
        change[1:] |= c[1:] != c[:-1]
    return np.flatnonzero(change)


def _greedy(sizes: np.ndarray, half: int) -> np.ndarray:
    """Greedy packing of consecutive items: a block takes items while their bytes fit ``half``
    (its first item always).  Returns the first item of every block."""
    cs = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
    n = len(sizes)
    starts = []
    i = 0
    while i < n:
        starts.append(i)
        j = int(np.searchsorted(cs, cs[i] + half, side="right")) - 2
        i = max(j, i) + 1
    return np.asarray(starts, np.int64)


def _stream(first, last, nbytes, consumers: int) -> StreamBlocks:
    first = np.asarray(first, np.int64)
    last = np.asarray(last, np.int64)
    of = np.full(consumers, -1, np.int64)
    if len(first):
        marks = np.zeros(consumers + 1, np.int64)
        np.add.at(marks, first, 1)
        np.add.at(marks, last + 1, -1)
        covered = np.cumsum(marks[:-1]) > 0
        idx = np.cumsum(np.isin(np.arange(consumers), first)) - 1
        of = np.where(covered, idx, -1)
    return StreamBlocks(first, last, np.asarray(nbytes, np.int64), of)


def _halves(lhw: LayerHardware) -> int:
    return 2 if lhw.hw.memory.l1_double_buffer else 1


# ----------------------------------------------------------------------------- activations

def _channels(layer: Layer, u0: int, u1: int) -> int:
    """Input channels (per group) that reduction units ``u0 .. u1-1`` read: units are ordered
    channel fastest (``unit = (row * chunks + chunk) * C_g + c``), so a range of ``n`` units
    reads ``min(n, C_g)`` channels."""
    return min(u1 - u0, layer.in_c // layer.groups)


def _stored(lhw: LayerHardware, elems) -> np.ndarray:
    """Bytes of ``elems`` activations as L1/L2 store them (activation DBB: compressed)."""
    b = _bytes(elems, lhw.hw.data.act_bits)
    ratio = lhw.act_storage_ratio
    return b if ratio >= 1.0 else np.ceil(b * ratio).astype(np.int64)


def _stored_one(lhw: LayerHardware, elems: int) -> int:
    """:func:`_stored` of one count, in plain integers (the same values; a block search asks
    for many single sizes, where numpy's per-call cost dominates)."""
    b = -(-elems * lhw.hw.data.act_bits // 8)
    ratio = lhw.act_storage_ratio
    return b if ratio >= 1.0 else math.ceil(b * ratio)


def act_bytes(layer: Layer, lhw: LayerHardware, p0: int, p1: int, g0: int, g1: int,
              u0: int = 0, u1: int | None = None) -> int:
    """Bytes of the input that pixels ``p0 .. p1-1`` of packed groups ``g0 .. g1-1`` read
    through reduction units ``u0 .. u1-1`` (default: all channels)."""
    ch = _channels(layer, u0, u1) if u1 is not None else layer.in_c // layer.groups
    return int(_stored(lhw, layer.input_footprint(p0, p1) * ch * (g1 - g0)))


def _act_blocks(s: TileSchedule, layer: Layer, lhw: LayerHardware):
    """Activation blocks and, per block, ``(p0, p1, g0, g1, u0, u1)``: the pixel and unit
    hulls it holds."""
    half = lhw.hw.memory.l1_act_bytes // _halves(lhw)
    n = len(s)
    groups = block_groups(layer)
    cg = layer.in_c // layer.groups
    units = int(s.units.shape[0]) if s.units.shape[0] else cg
    whole = act_bytes(layer, lhw, 0, stream_pixels(layer), 0, groups)
    if whole <= half:
        return _stream([0], [n - 1], [whole], n), [(0, stream_pixels(layer), 0, groups, 0,
                                                    units)]
    g0s, g1s, n0s = s.g0.tolist(), s.g1.tolist(), s.n0.tolist()
    p0s, p1s, u0s, u1s = s.p0.tolist(), s.p1.tolist(), s.u0.tolist(), s.u1.tolist()
    fp: dict[tuple[int, int], int] = {}

    def size(p0, p1, g0, g1, u0, u1) -> int:
        key = (p0, p1)
        if key not in fp:
            fp[key] = layer.input_footprint(p0, p1)
        return _stored_one(lhw, fp[key] * min(u1 - u0, cg) * (g1 - g0))
    first: list[int] = []
    last: list[int] = []
    nbytes: list[int] = []
    spans: list[tuple] = []
    # runs of tiles over the same pixels of one pass (its reduction folds): their units are
    # contiguous, so a whole run joins a block at once when the block still fits
    starts = _run_starts(s.g0, s.n0, s.p0, s.p1).tolist() + [n]
    for r0, r1 in zip(starts[:-1], starts[1:], strict=False):
        g0, g1, p0, p1 = g0s[r0], g1s[r0], p0s[r0], p1s[r0]
        lo, hi = min(u0s[r0:r1]), max(u1s[r0:r1])
        if first and spans[-1][2] == g0 and n0s[first[-1]] == n0s[r0]:
            h = spans[-1]
            hull = (min(h[0], p0), max(h[1], p1), g0, g1, min(h[4], lo), max(h[5], hi))
            hb = size(*hull)
            if hb <= half:
                spans[-1], last[-1], nbytes[-1] = hull, r1 - 1, hb
                continue
        else:
            b = size(p0, p1, g0, g1, lo, hi)
            if b <= half:
                first.append(r0)
                last.append(r1 - 1)
                nbytes.append(b)
                spans.append((p0, p1, g0, g1, lo, hi))
                continue
        # the run does not fit whole: its first tiles may still join the open block ...
        k = r0
        while k < r1 and first and spans[-1][2] == g0 and n0s[first[-1]] == n0s[k]:
            h = spans[-1]
            hull = (min(h[0], p0), max(h[1], p1), g0, g1, min(h[4], u0s[k]), max(h[5], u1s[k]))
            hb = size(*hull)
            if hb > half:
                break
            spans[-1], last[-1], nbytes[-1] = hull, k, hb
            k += 1
        # ... then blocks of the run's own pixels: each takes tiles while their units fit
        while k < r1:
            b = size(p0, p1, g0, g1, u0s[k], u1s[k])
            if b > half:
                raise MappingInvalid(f"the input of {p1 - p0} pixels ({b} B) exceeds half of "
                                     f"the L1 activation buffer ({half} B)")
            lo_j, hi_j = k, r1 - 1            # the last tile j with a block k..j that fits
            while lo_j < hi_j:
                mid = (lo_j + hi_j + 1) // 2
                if size(p0, p1, g0, g1, u0s[k], u1s[mid]) <= half:
                    lo_j = mid
                else:
                    hi_j = mid - 1
            first.append(k)
            last.append(lo_j)
            nbytes.append(size(p0, p1, g0, g1, u0s[k], u1s[lo_j]))
            spans.append((p0, p1, g0, g1, u0s[k], u1s[lo_j]))
            k = lo_j + 1
    return _stream(first, last, nbytes, n), spans


def _act_pieces(layer: Layer, lhw: LayerHardware, spans: list) -> np.ndarray:
    """Staged input: bytes each block needs fetched from DRAM first -- for every channel it
    holds, the input its pixel range adds to what earlier blocks of the same group pack
    already brought (the pixels covered from 0, per channel)."""
    cg = layer.in_c // layer.groups
    pieces = np.zeros(len(spans), np.int64)
    reach: dict[int, np.ndarray] = {}          # per group pack: pixels covered, per channel
    fp: dict[int, int] = {0: 0}

    def f(x: int) -> int:
        if x not in fp:
            fp[x] = layer.input_footprint(0, x)
        return fp[x]
    for b, (_p0, p1, g0, g1, u0, u1) in enumerate(spans):
        r = reach.setdefault(g0, np.zeros(cg, np.int64))
        n = u1 - u0
        ch = np.arange(cg) if n >= cg else (u0 + np.arange(n)) % cg
        have = r[ch]
        short = have < p1
        if not short.any():
            continue
        vals, counts = np.unique(have[short], return_counts=True)
        elems = sum((f(p1) - f(int(v))) * int(c) for v, c in zip(vals, counts, strict=True))
        pieces[b] = int(_stored(lhw, elems * (g1 - g0)))
        r[ch[short]] = p1
    return pieces


# ----------------------------------------------------------------------------- weights

def _tile_weight_bytes(s: TileSchedule, layer: Layer, lhw: LayerHardware) -> np.ndarray:
    """Bytes each tile's load reads from the L1 weight buffer: its real weights (INT8), or
    ``ceil(weights / d)`` sub-vectors of the format's stored bits, rounded up per tile."""
    cum = valid_taps(s, layer.kernel_w)
    w = (s.g1 - s.g0) * (s.n1 - s.n0) * (cum[s.u1] - cum[s.u0])
    f = lhw.format
    if f.int8:
        bits = lhw.hw.data.act_bits if layer.kind == "matmul" else lhw.hw.data.weight_bits
        return _bytes(w, bits)
    return _bytes(-(-w // f.d), f.subvector_bits)


def _weight_actions(s: TileSchedule, layer: Layer, lhw: LayerHardware, header: int):
    """Every weight-path action in order -- the layer's codebook loads (initial fill, and
    least-recently-used reloads when the CRF holds fewer groups than the layer has) before the
    loads that need them -- as arrays: kind, tile, bytes, cycles, data (a code per distinct
    piece of data: >= 0 a tile's weight set, < 0 a set of codebooks) and the codebook groups
    each CRF action writes."""
    hw, f = lhw.hw, lhw.format
    per_tile = _tile_weight_bytes(s, layer, lhw)
    loads = np.flatnonzero(s.load_cycles > 0)
    n = len(loads)
    # a weight set is (group pack, output fold, reduction fold): a code per set
    nn, nu = int(s.n0.max(initial=0)) + 1, int(s.u0.max(initial=0)) + 1
    codes = ((s.g0[loads] * nn + s.n0[loads]) * nu + s.u0[loads]).astype(np.int64)
    if not lhw.decoder:
        nbytes = per_tile[loads].astype(np.int64)
        if n:
            nbytes[0] += header
        return (np.full(n, LOAD, np.int64), loads.astype(np.int64), nbytes,
                np.zeros(n, np.int64), codes, np.zeros(n, np.int64))
    groups = f.codebook_groups
    cap = hw.crf_groups or groups
    width = hw.crf_write_bytes_per_cycle or f.d
    group_bytes = f.k * f.d
    per = layer.out_c // groups
    n_g = layer.out_c // layer.groups
    lo = (s.g0[loads] * n_g + s.n0[loads]) // per
    hi = ((s.g1[loads] - 1) * n_g + s.n1[loads] - 1) // per
    width_need = hi - lo + 1
    if n and int(width_need.max()) > cap:
        raise MappingInvalid(f"a tile needs {int(width_need.max())} codebook groups, the CRF "
                             f"holds {cap}")
    kinds, tiles, nbytes, cycles, data, written = [], [], [], [], [], []
    crf_codes: dict[tuple, int] = {}

    def crf(t: int, gs: list[int], extra: int = 0) -> None:
        kinds.append(CRF)
        tiles.append(t)
        nbytes.append(extra + len(gs) * group_bytes)
        cycles.append(ceil_div(len(gs) * group_bytes, width))
        data.append(-1 - crf_codes.setdefault(tuple(gs), len(crf_codes)))
        written.append(len(gs))
    if not n:
        return tuple(np.zeros(0, np.int64) for _ in range(6))
    fill = list(range(min(groups, cap)))
    crf(int(loads[0]), fill, header - groups * group_bytes)
    if cap >= groups:       # every group stays: the loads alone
        return (np.asarray(kinds + [LOAD] * n, np.int64),
                np.concatenate([[loads[0]], loads]).astype(np.int64),
                np.concatenate([nbytes, per_tile[loads]]).astype(np.int64),
                np.concatenate([cycles, np.zeros(n, np.int64)]).astype(np.int64),
                np.concatenate([data, codes]).astype(np.int64),
                np.concatenate([written, np.zeros(n, np.int64)]).astype(np.int64))
    resident = list(fill)   # least recently used first
    lo_l, hi_l, loads_l, codes_l = lo.tolist(), hi.tolist(), loads.tolist(), codes.tolist()
    for j, t in enumerate(loads_l):
        need = range(lo_l[j], hi_l[j] + 1)
        missing = [g for g in need if g not in resident]
        for g in need:                 # the groups it needs are the most recently used
            if g in resident:
                resident.remove(g)
                resident.append(g)
        for g in missing:
            if len(resident) == cap:
                resident.pop(0)
            resident.append(g)
            crf(t, [g])
        for g in need:
            resident.remove(g)
            resident.append(g)
        kinds.append(LOAD)
        tiles.append(t)
        nbytes.append(int(per_tile[t]))
        cycles.append(0)
        data.append(codes_l[j])
        written.append(0)
    return tuple(np.asarray(x, np.int64) for x in (kinds, tiles, nbytes, cycles, data,
                                                    written))


def _first_uses(pass_id: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Per action: it is the first of its pass to use its data."""
    n = len(data)
    first = np.zeros(n, bool)
    if n:
        key = pass_id * (int(data.max()) - int(data.min()) + 1) + (data - int(data.min()))
        first[np.unique(key, return_index=True)[1]] = True
    return first


def _weight_blocks(s: TileSchedule, lhw: LayerHardware, kinds, tiles, nbytes, data):
    """Greedy packing of consecutive actions into half-buffer blocks; a pass that reloads its
    weights and whose distinct weights fit a half is a block of its own.  Also returns each
    action's pass and whether it is the first of its pass to use its data."""
    half = lhw.hw.memory.l1_weight_bytes // _halves(lhw)
    n = len(kinds)
    if n and int(nbytes.max()) > half:
        raise MappingInvalid(f"one weight action reads {int(nbytes.max())} B, more than half "
                             f"of the L1 weight buffer ({half} B)")
    starts = _run_starts(s.g0[tiles], s.n0[tiles])
    pass_id = np.zeros(n, np.int64)
    if n:
        pass_id[starts[1:]] = 1
        pass_id = np.cumsum(pass_id)
    first_use = _first_uses(pass_id, data)
    is_load = kinds == LOAD
    n_pass = len(starts)
    loads = np.bincount(pass_id, weights=is_load, minlength=n_pass)
    distinct = np.bincount(pass_id, weights=is_load & first_use, minlength=n_pass)
    resident = np.bincount(pass_id, weights=np.where(~is_load | first_use, nbytes, 0),
                           minlength=n_pass)
    alone = (loads > distinct) & (resident <= half)
    bounds = starts.tolist() + [n]
    first: list[int] = []
    last: list[int] = []
    blk: list[int] = []
    cs = np.concatenate([[0], np.cumsum(nbytes)])

    def pack(a0: int, a1: int) -> None:
        """Greedy blocks over the actions a0 .. a1-1 (passes not of their own)."""
        bs = _greedy(nbytes[a0:a1], half).tolist() + [a1 - a0]
        for b0, b1 in zip(bs[:-1], bs[1:], strict=False):
            first.append(a0 + b0)
            last.append(a0 + b1 - 1)
            blk.append(int(cs[a0 + b1] - cs[a0 + b0]))
    open_from = None
    for p in range(n_pass):
        if alone[p]:
            if open_from is not None:
                pack(open_from, bounds[p])
                open_from = None
            first.append(bounds[p])
            last.append(bounds[p + 1] - 1)
            blk.append(int(resident[p]))
        elif open_from is None:
            open_from = bounds[p]
    if open_from is not None:
        pack(open_from, n)
    return _stream(first, last, blk, n), pass_id, first_use


def _weight_pieces(w: StreamBlocks, nbytes: np.ndarray, pass_id: np.ndarray,
                   first_use: np.ndarray, stage: int, span: L2Span):
    """Bytes each weight block brings into L2 first, and which block's L1 fill lets them
    leave the L2 staging ring.  A pass (group pack x output fold) whose blocks read some
    weights more than once (a pixel-chunked order reloading its WRFs), and whose distinct
    weights fit the L2 staging share, keeps them in L2 while it runs: each block fetches from
    DRAM only the weights it is the first of the pass to use, later blocks read L2 alone, and
    all of them leave with the pass's last block.  Otherwise every block is fetched from DRAM
    whole and leaves with its own fill.  (What the blocks of a pass stage -- the last one may
    run into the next pass and bring its first weights -- must fit the ring together: they
    all leave with the last.)  Each comparison with ``stage`` is recorded in ``span``."""
    nb = len(w)
    pieces = w.nbytes.copy()
    free_at = np.arange(nb, dtype=np.int64)
    if not nb:
        return pieces, free_at
    n_pass = int(pass_id.max()) + 1
    actions = np.bincount(pass_id, minlength=n_pass)
    distinct = np.bincount(pass_id, weights=first_use, minlength=n_pass)
    dbytes = np.bincount(pass_id, weights=np.where(first_use, nbytes, 0), minlength=n_pass)
    bpass = pass_id[w.first]
    bstarts = _run_starts(bpass).tolist() + [nb]
    for f, la1 in zip(bstarts[:-1], bstarts[1:], strict=False):
        p = int(bpass[f])
        if (la1 - 1 == f or distinct[p] == actions[p]
                or not span.stage_fits(int(dbytes[p]), stage)):
            continue
        a0, a1 = int(w.first[f]), int(w.last[la1 - 1])
        firsts = a0 + np.flatnonzero(first_use[a0:a1 + 1])
        if not span.stage_fits(int(nbytes[firsts].sum()), stage):
            continue          # with a block that runs into the next pass, they do not fit
        pieces[f:la1] = 0
        np.add.at(pieces, w.of[firsts], nbytes[firsts])
        free_at[f:la1] = la1 - 1
    return pieces, free_at


# ----------------------------------------------------------------------------- outputs
def _out_blocks(s: TileSchedule, lhw: LayerHardware, psums_in_prf: bool):
    hw = lhw.hw
    half = hw.memory.l1_out_bytes // _halves(lhw)
    n = len(s)
    rs = _run_starts(s.g0, s.n0, s.p0, s.p1)
    re = np.append(rs[1:], n) - 1
    cells = (s.p1[rs] - s.p0[rs]) * (s.g1[rs] - s.g0[rs]) * (s.n1[rs] - s.n0[rs])
    width = hw.data.act_bits if psums_in_prf else hw.data.psum_bits
    buf = _bytes(cells, width)
    if len(buf) and int(buf.max()) > half:
        raise MappingInvalid(f"a pass keeps {int(buf.max())} B in the L1 output buffer, more "
                             f"than half ({half} B)")
    drain = _stored(lhw, cells)
    bs = _greedy(buf, half)
    be = np.append(bs[1:], len(buf)) - 1
    nbytes = np.add.reduceat(drain, bs) if len(bs) else np.zeros(0, np.int64)
    occ = np.add.reduceat(buf, bs) if len(bs) else np.zeros(0, np.int64)
    return _stream(rs[bs], re[be], nbytes, n), occ


# ----------------------------------------------------------------------------- the layer

def _l1_blocks(s: TileSchedule, layer: Layer, lhw: LayerHardware, psums_in_prf: bool,
               header_bytes: int, kept: dict | None) -> tuple:
    """What of :func:`layer_blocks` the L2 size does not change: the activation blocks and
    their hulls, the weight actions, blocks and passes, the output blocks.  ``kept``: these
    by schedule, for one hardware apart from its L2 size (a schedule stands for its layer but
    the name and its layer hardware but ``hw``: :func:`ewssim.dataflow.systolic.candidates`),
    looked up and added to; a working set that does not fit is kept as its error."""
    key = (id(s), psums_in_prf, header_bytes)
    hit = kept.get(key) if kept is not None else None
    if hit is not None and hit[0] is s:
        if isinstance(hit[1], MappingInvalid):
            raise hit[1]
        return hit[1]
    try:
        act, spans = _act_blocks(s, layer, lhw)
        weights = _weight_actions(s, layer, lhw, header_bytes)
        kinds, tiles, nbytes, _cycles, data, _written = weights
        w, pass_id, first_use = _weight_blocks(s, lhw, kinds, tiles, nbytes, data)
        out, occ = _out_blocks(s, lhw, psums_in_prf)
    except MappingInvalid as exc:
        if kept is not None:
            kept[key] = (s, exc)
        raise
    res = (act, spans, weights, w, pass_id, first_use, out, occ)
    if kept is not None:
        kept[key] = (s, res)
    return res


def layer_blocks(s: TileSchedule, layer: Layer, lhw: LayerHardware, ctx: LayerContext, *,
                 psums_in_prf: bool, header_bytes: int = 0, kept: dict | None = None
                 ) -> LayerBlocks:
    """The L1 blocks of one mapping.  ``header_bytes``: the weight format's per-layer bytes
    (codebooks and scales) read with the first weight action.  Raises :class:`MappingInvalid`
    when a chunk's working set does not fit its buffer.  ``kept``: the parts the L2 size does
    not change, kept by schedule (:func:`_l1_blocks`)."""
    hw = lhw.hw
    act, spans, weights, w, pass_id, first_use, out, occ = _l1_blocks(
        s, layer, lhw, psums_in_prf, header_bytes, kept)
    kinds, tiles, nbytes, cycles, _data, written = weights
    a2 = hw.l2_act_bytes
    bits = hw.data.act_bits
    in_bytes = layer.input_bytes(bits)
    out_bytes = layer.output_bytes(bits)
    span = L2Span()
    if ctx.input_on_chip:
        src = "l2"
    elif span.act_fits(in_bytes + (out_bytes if ctx.output_on_chip else 0), a2):
        src = "staged"
    else:
        src = "stream"
    pieces = _act_pieces(layer, lhw, spans) if src == "staged" else \
        np.zeros(len(act), np.int64)
    w_piece, w_free_at = _weight_pieces(w, nbytes, pass_id, first_use, hw.l2_stage_bytes,
                                        span)
    w_src = "l2" if layer.operand_from_previous and ctx.input_on_chip else "dram"
    group_bytes = lhw.format.k * lhw.format.d if lhw.decoder else 0
    crf_bytes = int(written.sum()) * group_bytes
    return LayerBlocks(act=act, act_src=src, act_piece=pieces, w=w, w_piece=w_piece,
                       w_free_at=w_free_at, w_kind=kinds, w_tile=tiles, w_cycles=cycles,
                       w_src=w_src, out=out,
                       out_buf=occ, out_dest="l2" if ctx.output_on_chip else "dram",
                       crf_bytes=crf_bytes, l2_span=span)


def attach_blocks(m, ctx: LayerContext, header_bytes: int, kept: dict | None = None) -> None:
    """Give mapping ``m`` its L1 blocks and the L2/DRAM traffic they imply (raises
    :class:`MappingInvalid` when a working set does not fit).  ``kept``: see
    :func:`layer_blocks`."""
    from ewssim.dataflow.traffic import block_traffic

    m.blocks = layer_blocks(m.schedule, m.layer, m.lhw, ctx, psums_in_prf=m.psums_in_prf,
                            header_bytes=header_bytes, kept=kept)
    block_traffic(m.traffic, m.blocks, m.lhw)
