"""The cycle-by-cycle reference's own plan of a layer: tiles, WRF slots and L1 blocks, written
again from docs/model-reference.md §1 and §4 with plain loops.

It shares no scheduling code with the engine (:mod:`ewssim.dataflow.tiling`,
:mod:`ewssim.dataflow.blocks`): it reads only the layer, the resolved hardware
(:class:`~ewssim.hw.hardware.LayerHardware`) and the mapping's *choice* -- the pixel chunk and
whether partial sums stay in the PRF -- and builds everything else itself, so that an error in
the engine's plan shows up as a difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ewssim.hw.hardware import LayerHardware
from ewssim.workload.layers import Layer


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


@dataclass
class RefTile:
    g0: int
    g1: int
    n0: int
    n1: int
    u0: int
    u1: int
    p0: int
    p1: int
    set_key: tuple = ()
    load: bool = False
    slot: int = 0
    release: int = -1          # the tile whose start in the bottom row frees the slot (-1: free)
    lines: int = 0
    line_cycles: int = 1
    load_len: int = 0          # cycles of the load, decode latency included


@dataclass
class RefPlan:
    layer: Layer
    lhw: LayerHardware
    taps: int
    units: int                 # reduction units per group
    pack: int
    tiles: list[RefTile] = field(default_factory=list)
    slots: int = 1
    double_buffer: bool = False
    extra_cycles: int = 0      # SCALE-Sim's per-layer cycle index offset (ideal memory only)


def plan_tiles(layer: Layer, lhw: LayerHardware, chunk: int | None, *, taps: int | None = None,
               line_cycles=None, load_latency: int | None = None) -> RefPlan:
    """Tiles in the loop order group pack, output fold, pixel chunk, reduction fold.
    ``taps``, ``line_cycles`` (an int or a function of the used logical rows) and
    ``load_latency`` override what the hardware implies."""
    hw = lhw.hw
    if taps is None:
        taps = hw.arf_depth if hw.arf_reuse else 1
    taps = max(1, min(taps, layer.kernel_w))      # a PE never holds more taps than the kernel
    n_chunks = cdiv(layer.kernel_w, taps)
    cg = layer.in_c // layer.groups
    ng = layer.out_c // layer.groups
    blocks = layer.batch if layer.kind == "matmul" else layer.groups
    units = cg * layer.kernel_h * n_chunks
    rows, cols = lhw.logical_rows, hw.cols
    pack = 1
    if hw.allow_pack and blocks > 1 and units <= rows and ng <= cols:
        pack = max(1, min(rows // units, cols // ng, blocks))
    pixels = layer.out_h * layer.out_w * (1 if layer.kind == "matmul" else layer.batch)
    edges = [0, pixels] if chunk is None else [*range(0, pixels, chunk), pixels]
    plan = RefPlan(layer=layer, lhw=lhw, taps=taps, units=units, pack=pack,
                   extra_cycles=-blocks if hw.scalesim_layer_offset else 0)
    for gp in range(cdiv(blocks, pack)):
        g0, g1 = gp * pack, min(gp * pack + pack, blocks)
        for nf in range(cdiv(ng, cols)):
            n0, n1 = nf * cols, min(nf * cols + cols, ng)
            for c in range(len(edges) - 1):
                for kf in range(cdiv(units, rows)):
                    u0, u1 = kf * rows, min(kf * rows + rows, units)
                    plan.tiles.append(RefTile(g0, g1, n0, n1, u0, u1, edges[c], edges[c + 1],
                                              set_key=(g0, n0, u0)))
    _slots(plan)
    _load_times(plan, line_cycles, load_latency)
    return plan


def _slots(plan: RefPlan) -> None:
    """The WRF's slots, least recently used first (an empty slot before any)."""
    lhw = plan.lhw
    entries = lhw.entries_per_set or plan.taps
    slots = max(1, lhw.hw.wrf_depth // entries)
    plan.slots = slots
    plan.double_buffer = lhw.double_buffer and slots >= 2 and lhw.hw.load_mode == "lines"
    holder = [None] * slots
    last = [-1] * slots
    for i, tile in enumerate(plan.tiles):
        if tile.set_key in holder:
            j = holder.index(tile.set_key)
        else:
            empties = [j for j in range(slots) if holder[j] is None]
            if empties:
                j = empties[0]
            else:
                j = min(range(slots), key=lambda x: last[x])
                tile.release = last[j] + 1
            holder[j] = tile.set_key
            tile.load = True
        tile.slot = j
        last[j] = i


def _load_times(plan: RefPlan, line_cycles, load_latency: int | None) -> None:
    lhw = plan.lhw
    hw = lhw.hw
    lc = lhw.line_cycles() if line_cycles is None else line_cycles
    lat = lhw.load_latency if load_latency is None else load_latency
    for i, tile in enumerate(plan.tiles):
        if not tile.load:
            continue
        used_cols = (tile.g1 - tile.g0) * (tile.n1 - tile.n0)
        used_rows = (tile.g1 - tile.g0) * (tile.u1 - tile.u0)
        tile.lines = used_cols * plan.taps
        if callable(lc):
            tile.line_cycles = int(lc(used_rows))
        elif hasattr(lc, "__len__"):
            tile.line_cycles = int(lc[i])       # one value per tile
        else:
            tile.line_cycles = int(lc)
        if hw.load_mode == "rows":
            tile.load_len = lhw.pe_rows
        else:
            tile.load_len = tile.lines * tile.line_cycles + lat


# ============================================================================ L1 blocks

@dataclass
class RefBlock:
    first: int                  # first consumer (tile or weight action)
    last: int                   # last consumer
    nbytes: int
    piece: int = 0              # bytes fetched from DRAM before the fill (staged / resident)
    free_with: int = -1         # weights: the block whose fill frees its staged bytes
    buf: int = 0                # outputs: bytes held in the L1 output buffer


@dataclass
class RefAction:
    kind: str                   # "crf" | "load"
    tile: int
    nbytes: int
    cycles: int = 0
    data: tuple = ()


def _bytes(elems: int, bits: int) -> int:
    return (elems * bits + 7) // 8


def _stored(layer: Layer, lhw: LayerHardware, elems: int) -> int:
    """Bytes of ``elems`` activations as the array stores them (activation DBB compresses)."""
    b = _bytes(elems, lhw.hw.data.act_bits)
    r = lhw.act_storage_ratio
    if r >= 1.0:
        return b
    import math
    return int(math.ceil(b * r))


def _unit_channels(layer: Layer, u0: int, u1: int) -> set[int]:
    """Input channels (within a group) read by reduction units ``u0 .. u1-1``: a unit's
    channel is ``unit mod C_g`` (model-reference §1)."""
    cg = layer.in_c // layer.groups
    return {u % cg for u in range(u0, u1)}


def act_block_bytes(layer: Layer, lhw: LayerHardware, p0: int, p1: int, g0: int, g1: int,
                    u0: int, u1: int) -> int:
    """Input bytes of pixels ``p0:p1`` for the channels of units ``u0:u1`` in each group of
    the pack."""
    n_ch = len(_unit_channels(layer, u0, u1))
    return _stored(layer, lhw, layer.input_footprint(p0, p1) * n_ch * (g1 - g0))


def act_blocks(plan: RefPlan) -> tuple[list[RefBlock], list[tuple]]:
    """Activation blocks and the (p0, p1, g0, g1, u0, u1) hull each covers."""
    layer, lhw = plan.layer, plan.lhw
    half = lhw.hw.memory.l1_act_bytes // lhw.hw.halves
    blocks_n = layer.batch if layer.kind == "matmul" else layer.groups
    pixels = layer.out_h * layer.out_w * (1 if layer.kind == "matmul" else layer.batch)
    units = plan.units
    whole = act_block_bytes(layer, lhw, 0, pixels, 0, blocks_n, 0, units)
    if whole <= half:
        return [RefBlock(0, len(plan.tiles) - 1, whole)], [(0, pixels, 0, blocks_n, 0, units)]
    out: list[RefBlock] = []
    spans: list[tuple] = []
    for k, t in enumerate(plan.tiles):
        if out and spans[-1][2] == t.g0 and plan.tiles[out[-1].first].n0 == t.n0:
            p0, p1, g0, g1, u0, u1 = spans[-1]
            hull = (min(p0, t.p0), max(p1, t.p1), g0, g1, min(u0, t.u0), max(u1, t.u1))
            hb = act_block_bytes(layer, lhw, *hull)
            if hb <= half:
                out[-1].last, out[-1].nbytes = k, hb
                spans[-1] = hull
                continue
        b = act_block_bytes(layer, lhw, t.p0, t.p1, t.g0, t.g1, t.u0, t.u1)
        if b > half:
            raise ValueError(f"{t.p1 - t.p0} pixels need {b} B of input, half of L1 is {half}")
        out.append(RefBlock(k, k, b))
        spans.append((t.p0, t.p1, t.g0, t.g1, t.u0, t.u1))
    return out, spans


def stage_pieces(plan: RefPlan, blocks: list[RefBlock], spans: list[tuple]) -> None:
    """Staged input: each block brings, for each of its channels, the input its pixel range
    adds to what earlier blocks of its group pack brought."""
    layer = plan.layer
    covered: dict[tuple[int, int], int] = {}       # (pack, channel) -> pixels covered from 0
    for b, (_p0, p1, g0, g1, u0, u1) in zip(blocks, spans, strict=True):
        elems = 0
        for ch in sorted(_unit_channels(layer, u0, u1)):
            have = covered.get((g0, ch), 0)
            if p1 > have:
                before = layer.input_footprint(0, have) if have else 0
                elems += layer.input_footprint(0, p1) - before
                covered[(g0, ch)] = p1
        b.piece = _stored(layer, plan.lhw, elems * (g1 - g0)) if elems else 0


def weight_actions(plan: RefPlan, header: int) -> list[RefAction]:
    lhw = plan.lhw
    hw, f = lhw.hw, lhw.format
    acts: list[RefAction] = []
    first = True
    resident: list[int] = []
    groups = f.codebook_groups
    cap = hw.crf_groups or groups
    width = hw.crf_write_bytes_per_cycle or f.d
    gbytes = f.k * f.d
    for i, tile in enumerate(plan.tiles):
        if not tile.load:
            continue
        nbytes = _tile_weight_bytes(plan, tile)
        key = ("set", tile.g0, tile.n0, tile.u0)
        if not lhw.decoder:
            acts.append(RefAction("load", i, nbytes + (header if first else 0), 0, key))
            first = False
            continue
        need = _groups_of(plan, tile)
        if len(need) > cap:
            raise ValueError(f"a tile needs {len(need)} codebook groups, the CRF holds {cap}")
        if first:
            fill = list(range(min(groups, cap)))
            acts.append(RefAction("crf", i, header - groups * gbytes + len(fill) * gbytes,
                                  cdiv(len(fill) * gbytes, width), ("codebooks", *fill)))
            resident = list(fill)
            first = False
        missing = sorted(set(need) - set(resident))
        for g in sorted(need):         # needed groups first become the most recently used
            if g in resident:
                resident.remove(g)
                resident.append(g)
        for g in missing:
            if len(resident) == cap:
                resident.pop(0)
            resident.append(g)
            acts.append(RefAction("crf", i, gbytes, cdiv(gbytes, width), ("codebooks", g)))
        for g in sorted(need):
            resident.remove(g)
            resident.append(g)
        acts.append(RefAction("load", i, nbytes, 0, key))
    return acts


def _groups_of(plan: RefPlan, tile: RefTile) -> set[int]:
    layer = plan.layer
    per = layer.out_c // plan.lhw.format.codebook_groups
    ng = layer.out_c // layer.groups
    out = set()
    for g in range(tile.g0, tile.g1):
        for o in range(g * ng + tile.n0, g * ng + tile.n1):
            out.add(o // per)
    return out


def _tile_weight_bytes(plan: RefPlan, tile: RefTile) -> int:
    """Real weights of the tile (padded taps of the last kernel-column chunk are not stored),
    as stored: INT8, or ``ceil(weights / d)`` sub-vectors of the format's bits."""
    layer, lhw = plan.layer, plan.lhw
    t = plan.taps
    n_chunks = cdiv(layer.kernel_w, t)
    cg = layer.in_c // layer.groups
    real = 0
    for u in range(tile.u0, tile.u1):
        chunk = (u // cg) % n_chunks
        real += min(t, layer.kernel_w - chunk * t)
    w = real * (tile.g1 - tile.g0) * (tile.n1 - tile.n0)
    f = lhw.format
    if f.int8:
        bits = lhw.hw.data.act_bits if layer.kind == "matmul" else lhw.hw.data.weight_bits
        return _bytes(w, bits)
    return _bytes(cdiv(w, f.d) * f.subvector_bits, 1)


def weight_blocks(plan: RefPlan, acts: list[RefAction]) -> list[RefBlock]:
    """Half-buffer blocks of consecutive actions; a pass that reloads weights and whose
    distinct weights fit a half is one block; then which blocks L2 keeps per pass."""
    lhw = plan.lhw
    half = lhw.hw.memory.l1_weight_bytes // lhw.hw.halves
    tiles = plan.tiles

    def pass_of(a: RefAction):
        return tiles[a.tile].g0, tiles[a.tile].n0
    out: list[RefBlock] = []
    standalone: list[bool] = []
    i = 0
    while i < len(acts):
        j = i
        while j + 1 < len(acts) and pass_of(acts[j + 1]) == pass_of(acts[i]):
            j += 1
        loads = [a for a in acts[i:j + 1] if a.kind == "load"]
        distinct = {}
        for a in loads:
            distinct.setdefault(a.data, a.nbytes)
        crf = sum(a.nbytes for a in acts[i:j + 1] if a.kind == "crf")
        if len(loads) > len(distinct) and sum(distinct.values()) + crf <= half:
            out.append(RefBlock(i, j, sum(distinct.values()) + crf))
            standalone.append(True)
        else:
            for x in range(i, j + 1):
                if acts[x].nbytes > half:
                    raise ValueError("a weight action exceeds half of the L1 weight buffer")
                if out and not standalone[-1] and out[-1].nbytes + acts[x].nbytes <= half:
                    out[-1].last = x
                    out[-1].nbytes += acts[x].nbytes
                else:
                    out.append(RefBlock(x, x, acts[x].nbytes))
                    standalone.append(False)
        i = j + 1
    # which staged bytes each block brings: the blocks that begin in a pass keep the pass's
    # weights in L2 when the pass re-reads some and its distinct weights fit the ring
    for j, b in enumerate(out):
        b.piece, b.free_with = b.nbytes, j
    first_in_pass: list[bool] = []
    seen: set = set()
    for x, a in enumerate(acts):
        if x == 0 or pass_of(a) != pass_of(acts[x - 1]):
            seen = set()
        first_in_pass.append(a.data not in seen)
        seen.add(a.data)
    stage = lhw.hw.l2_stage_bytes
    k = 0
    while k < len(out):
        p = pass_of(acts[out[k].first])
        m = k
        while m + 1 < len(out) and pass_of(acts[out[m + 1].first]) == p:
            m += 1
        mine = [x for x in range(len(acts)) if pass_of(acts[x]) == p]
        distinct = [x for x in mine if first_in_pass[x]]
        # the bytes these blocks stage, all held until the last of them is in L1 (a block
        # that runs into the next pass brings that pass's first weights too)
        kept = [sum(acts[x].nbytes for x in range(b.first, b.last + 1) if first_in_pass[x])
                for b in out[k:m + 1]]
        if m > k and len(distinct) < len(mine) and \
                sum(acts[x].nbytes for x in distinct) <= stage and sum(kept) <= stage:
            for b, piece in zip(out[k:m + 1], kept, strict=True):
                b.piece, b.free_with = piece, m
        k = m + 1
    return out


def out_blocks(plan: RefPlan, psums_in_prf: bool) -> list[RefBlock]:
    lhw = plan.lhw
    hw = lhw.hw
    half = hw.memory.l1_out_bytes // hw.halves
    bits = hw.data.act_bits if psums_in_prf else hw.data.psum_bits
    tiles = plan.tiles
    out: list[RefBlock] = []
    i = 0
    while i < len(tiles):
        t0 = tiles[i]
        j = i
        while j + 1 < len(tiles) and (tiles[j + 1].g0, tiles[j + 1].n0, tiles[j + 1].p0,
                                      tiles[j + 1].p1) == (t0.g0, t0.n0, t0.p0, t0.p1):
            j += 1
        cells = (t0.p1 - t0.p0) * (t0.g1 - t0.g0) * (t0.n1 - t0.n0)
        buf = _bytes(cells, bits)
        drain = _stored(plan.layer, lhw, cells)
        if buf > half:
            raise ValueError(f"a pass keeps {buf} B in the L1 output buffer, half is {half}")
        if out and out[-1].buf + buf <= half:
            out[-1].last, out[-1].nbytes, out[-1].buf = j, out[-1].nbytes + drain, \
                out[-1].buf + buf
        else:
            out.append(RefBlock(i, j, drain, buf=buf))
        i = j + 1
    return out
