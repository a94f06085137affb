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

from dataclasses import dataclass

import numpy as np

from ewssim.dataflow.base import LayerContext, TileSchedule
from ewssim.dataflow.tiling import block_groups, stream_pixels
from ewssim.dataflow.traffic import valid_taps
from ewssim.hw.hardware import LayerHardware, ceil_div
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


def _runs(keys: list) -> list[tuple[int, int]]:
    """(first, last) index of each run of equal consecutive keys."""
    out, start = [], 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[start]:
            out.append((start, i - 1))
            start = i
    return out


def _pack(sizes: list[int], half: int, groups: list | None = None) -> list[tuple[int, int]]:
    """Greedy: consecutive items share a block while their bytes fit ``half`` (and, with
    ``groups``, belong to the same group)."""
    out: list[tuple[int, int]] = []
    start, acc = 0, 0
    for i, b in enumerate(sizes):
        new = i > start and (acc + b > half or (groups is not None and groups[i] != groups[start]))
        if new:
            out.append((start, i - 1))
            start, acc = i, 0
        acc += b
    if sizes:
        out.append((start, len(sizes) - 1))
    return out


def _stream(first: list[int], last: list[int], nbytes: list[int], consumers: int) -> StreamBlocks:
    of = np.full(consumers, -1, np.int64)
    for b, (f, la) in enumerate(zip(first, last, strict=True)):
        of[f:la + 1] = b
    return StreamBlocks(np.asarray(first, np.int64), np.asarray(last, np.int64),
                        np.asarray(nbytes, np.int64), of)


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
    units = int(s.units.shape[0]) if s.units.shape[0] else None
    whole = act_bytes(layer, lhw, 0, stream_pixels(layer), 0, groups)
    all_units = (0, units if units is not None else layer.in_c // layer.groups)
    if whole <= half:
        return _stream([0], [n - 1], [whole], n), [(0, stream_pixels(layer), 0, groups,
                                                    *all_units)]
    g0s, g1s, n0s = s.g0.tolist(), s.g1.tolist(), s.n0.tolist()
    p0s, p1s, u0s, u1s = s.p0.tolist(), s.p1.tolist(), s.u0.tolist(), s.u1.tolist()
    fp: dict[tuple[int, int], int] = {}

    def size(p0, p1, g0, g1, u0, u1) -> int:
        key = (p0, p1)
        if key not in fp:
            fp[key] = layer.input_footprint(p0, p1)
        return int(_stored(lhw, fp[key] * _channels(layer, u0, u1) * (g1 - g0)))
    first, last, nbytes, spans = [], [], [], []
    for k in range(n):
        g0, g1, p0, p1, u0, u1 = g0s[k], g1s[k], p0s[k], p1s[k], u0s[k], u1s[k]
        if first and spans[-1][2] == g0 and n0s[first[-1]] == n0s[k]:
            h = spans[-1]
            hull = (min(h[0], p0), max(h[1], p1), g0, g1, min(h[4], u0), max(h[5], u1))
            hb = size(*hull)
            if hb <= half:
                spans[-1], last[-1], nbytes[-1] = hull, k, hb
                continue
        b = size(p0, p1, g0, g1, u0, u1)
        if b > half:
            raise MappingInvalid(f"the input of {p1 - p0} pixels ({b} B) exceeds half of the L1 "
                                 f"activation buffer ({half} B)")
        first.append(k)
        last.append(k)
        nbytes.append(b)
        spans.append((p0, p1, g0, g1, u0, u1))
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


def _codebook_groups_of(s: TileSchedule, layer: Layer, lhw: LayerHardware, i: int) -> set[int]:
    """Codebook groups (blocks of output channels) tile ``i``'s columns use."""
    per = layer.out_c // lhw.format.codebook_groups
    n_g = layer.out_c // layer.groups
    out = set()
    for g in range(int(s.g0[i]), int(s.g1[i])):
        o0, o1 = g * n_g + int(s.n0[i]), g * n_g + int(s.n1[i])
        out.update(range(o0 // per, (o1 - 1) // per + 1))
    return out


def _weight_actions(s: TileSchedule, layer: Layer, lhw: LayerHardware, header: int):
    """(kind, tile, bytes, cycles) of every weight-path action in order: the layer's codebook
    loads (initial fill, and least-recently-used reloads when the CRF holds fewer groups than
    the layer has) before the loads that need them."""
    hw, f = lhw.hw, lhw.format
    per_tile = _tile_weight_bytes(s, layer, lhw)
    loads = np.flatnonzero(s.load_cycles > 0).tolist()
    kinds, tiles, nbytes, cycles, data = [], [], [], [], []

    def set_of(t):
        return ("set", int(s.g0[t]), int(s.n0[t]), int(s.u0[t]))
    if not lhw.decoder:
        for j, t in enumerate(loads):
            kinds.append(LOAD)
            tiles.append(t)
            nbytes.append(int(per_tile[t]) + (header if j == 0 else 0))
            cycles.append(0)
            data.append(set_of(t))
        return kinds, tiles, nbytes, cycles, data
    groups = f.codebook_groups
    cap = hw.crf_groups or groups
    width = hw.crf_write_bytes_per_cycle or f.d
    group_bytes = f.k * f.d
    resident: list[int] = []  # least recently used first
    for j, t in enumerate(loads):
        need = _codebook_groups_of(s, layer, lhw, t)
        if len(need) > cap:
            raise MappingInvalid(f"a tile needs {len(need)} codebook groups, the CRF holds {cap}")
        if j == 0:  # the initial fill: the first groups, and every group's scale
            fill = list(range(min(groups, cap)))
            kinds.append(CRF)
            tiles.append(t)
            nbytes.append(header - groups * group_bytes + len(fill) * group_bytes)
            cycles.append(ceil_div(len(fill) * group_bytes, width))
            data.append(("codebooks", *fill))
            resident = fill
        missing = sorted(need - set(resident))
        for g in missing:
            if len(resident) == cap:
                resident.pop(0)
            resident.append(g)
            kinds.append(CRF)
            tiles.append(t)
            nbytes.append(group_bytes)
            cycles.append(ceil_div(group_bytes, width))
            data.append(("codebooks", g))
        for g in sorted(need):
            resident.remove(g)
            resident.append(g)
        kinds.append(LOAD)
        tiles.append(t)
        nbytes.append(int(per_tile[t]))
        cycles.append(0)
        data.append(set_of(t))
    return kinds, tiles, nbytes, cycles, data


def _weight_blocks(s: TileSchedule, layer: Layer, lhw: LayerHardware, kinds, tiles, nbytes):
    """Greedy packing of consecutive actions into half-buffer blocks; a pass that reloads its
    weights and whose distinct weights fit a half is a block of its own."""
    half = lhw.hw.memory.l1_weight_bytes // _halves(lhw)
    if nbytes and max(nbytes) > half:
        raise MappingInvalid(f"one weight action reads {max(nbytes)} B, more than half of the "
                             f"L1 weight buffer ({half} B)")
    passes = [(int(s.g0[t]), int(s.n0[t])) for t in tiles]
    sets = [(int(s.g0[t]), int(s.n0[t]), int(s.u0[t])) for t in tiles]
    units: list[tuple[int, int, int, bool]] = []  # (first, last, bytes, standalone)
    for f, la in _runs(passes):
        distinct: dict = {}
        crf, loads = 0, 0
        for a in range(f, la + 1):
            if kinds[a] == LOAD:
                distinct.setdefault(sets[a], nbytes[a])
                loads += 1
            else:
                crf += nbytes[a]
        resident = sum(distinct.values()) + crf
        if loads > len(distinct) and resident <= half:
            units.append((f, la, resident, True))
        else:
            units.extend((a, a, nbytes[a], False) for a in range(f, la + 1))
    first, last, blk, standalone = [], [], [], []
    for u in units:
        f, la, b, alone = u
        if first and not alone and not standalone[-1] and blk[-1] + b <= half:
            last[-1] = la
            blk[-1] += b
            continue
        first.append(f)
        last.append(la)
        blk.append(b)
        standalone.append(alone)
    return _stream(first, last, blk, len(kinds))


def _weight_pieces(w: StreamBlocks, data: list, nbytes: list[int], passes: list,
                   stage: int):
    """Bytes each weight block brings into L2 first, and which block's L1 fill lets them
    leave the L2 staging ring.  A pass (group pack x output fold) whose blocks read some
    weights more than once (a pixel-chunked order reloading its WRFs), and whose distinct
    weights fit the L2 staging share, keeps them in L2 while it runs: each block fetches from
    DRAM only the weights it is the first of the pass to use, later blocks read L2 alone, and
    all of them leave with the pass's last block.  Otherwise every block is fetched from DRAM
    whole and leaves with its own fill."""
    nb = len(w)
    pieces = w.nbytes.copy()
    free_at = np.arange(nb, dtype=np.int64)
    # blocks of each pass (a block never spans two passes that both re-read)
    block_pass = [passes[int(w.first[b])] for b in range(nb)]
    for f, la in _runs(block_pass):
        a0, a1 = int(w.first[f]), int(w.last[la])
        first_use: dict = {}
        for i in range(a0, a1 + 1):
            first_use.setdefault(data[i], i)
        distinct = sum(nbytes[i] for i in first_use.values())
        if len(first_use) == a1 - a0 + 1 or la == f or distinct > stage:
            continue
        pieces[f:la + 1] = 0
        for i in first_use.values():
            pieces[w.of[i]] += nbytes[i]
        free_at[f:la + 1] = la
    return pieces, free_at


# ----------------------------------------------------------------------------- outputs
def _out_blocks(s: TileSchedule, layer: Layer, lhw: LayerHardware, psums_in_prf: bool):
    hw = lhw.hw
    half = hw.memory.l1_out_bytes // _halves(lhw)
    n = len(s)
    keys = list(zip(s.g0.tolist(), s.n0.tolist(), s.p0.tolist(), s.p1.tolist(), strict=True))
    runs = _runs(keys)
    cells = [int((s.p1[f] - s.p0[f]) * s.used_cols[f]) for f, _ in runs]
    width = hw.data.act_bits if psums_in_prf else hw.data.psum_bits
    buf = [int(_bytes(c, width)) for c in cells]
    if buf and max(buf) > half:
        raise MappingInvalid(f"a pass keeps {max(buf)} B in the L1 output buffer, more than half "
                             f"({half} B)")
    ratio = lhw.act_storage_ratio
    drain = [int(_bytes(c, hw.data.act_bits)) for c in cells]
    if ratio < 1.0:
        drain = [int(np.ceil(d * ratio)) for d in drain]
    first, last, nbytes, occ = [], [], [], []
    for bf, bl in _pack(buf, half):
        first.append(runs[bf][0])
        last.append(runs[bl][1])
        nbytes.append(sum(drain[bf:bl + 1]))
        occ.append(sum(buf[bf:bl + 1]))
    return _stream(first, last, nbytes, n), np.asarray(occ, np.int64)


# ----------------------------------------------------------------------------- the layer

def layer_blocks(s: TileSchedule, layer: Layer, lhw: LayerHardware, ctx: LayerContext, *,
                 psums_in_prf: bool, header_bytes: int = 0) -> LayerBlocks:
    """The L1 blocks of one mapping.  ``header_bytes``: the weight format's per-layer bytes
    (codebooks and scales) read with the first weight action.  Raises :class:`MappingInvalid`
    when a chunk's working set does not fit its buffer."""
    hw = lhw.hw
    act, spans = _act_blocks(s, layer, lhw)
    a2 = hw.l2_act_bytes
    bits = hw.data.act_bits
    in_bytes = layer.input_bytes(bits)
    out_bytes = layer.output_bytes(bits)
    if ctx.input_on_chip:
        src = "l2"
    elif in_bytes + (out_bytes if ctx.output_on_chip else 0) <= a2:
        src = "staged"
    else:
        src = "stream"
    pieces = _act_pieces(layer, lhw, spans) if src == "staged" else \
        np.zeros(len(act), np.int64)
    kinds, tiles, nbytes, cycles, data = _weight_actions(s, layer, lhw, header_bytes)
    w = _weight_blocks(s, layer, lhw, kinds, tiles, nbytes)
    passes = [(int(s.g0[t]), int(s.n0[t])) for t in tiles]
    w_piece, w_free_at = _weight_pieces(w, data, nbytes, passes, hw.l2_stage_bytes)
    out, occ = _out_blocks(s, layer, lhw, psums_in_prf)
    w_src = "l2" if layer.kind == "matmul" and ctx.input_on_chip else "dram"
    group_bytes = lhw.format.k * lhw.format.d if lhw.decoder else 0
    crf_bytes = sum((len(dt) - 1) * group_bytes for kd, dt in zip(kinds, data, strict=True)
                    if kd == CRF)
    return LayerBlocks(act=act, act_src=src, act_piece=pieces, w=w, w_piece=w_piece,
                       w_free_at=w_free_at, w_kind=np.asarray(kinds, np.int64),
                       w_tile=np.asarray(tiles, np.int64),
                       w_cycles=np.asarray(cycles, np.int64), w_src=w_src, out=out,
                       out_buf=occ, out_dest="l2" if ctx.output_on_chip else "dram",
                       crf_bytes=crf_bytes)
