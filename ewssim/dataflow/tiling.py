"""Tile schedules for a systolic array: written once, used by every dataflow plug-in.

Vocabulary (docs/model-reference.md section "Mapping"):

* A **reduction unit** is what one PE row holds for one output channel: input channel ``c`` of
  a group, kernel row ``r`` and a chunk of ``taps`` consecutive kernel columns starting at
  ``s0``.  Without ARF reuse ``taps = 1`` and a unit is one element of the GEMM reduction axis.
  Units are ordered channel-fastest, ``unit = (r * n_chunks + chunk) * C_g + c``, so that
  consecutive PE rows hold consecutive input channels: a codebook sub-vector of ``d`` channels
  lands on ``d`` adjacent rows.
* A **fold** is a block of up to ``rows`` units (reduction fold) x ``cols`` output channels
  (output fold).  When a whole group fits in the array (depthwise and small grouped convs), up
  to ``min(rows // U_g, cols // N_g)`` groups are packed block-diagonally into one tile.
* A **tile** is one fold with a range of output pixels streaming through it.
* The **WRF** of every PE holds ``wrf_depth // taps`` weight *sets* (slots).  A tile needs its
  set in a slot; a missing set is loaded into the least recently used slot, and that load may
  only start once the slot's previous occupant is no longer used: ``release[i]`` is the tile
  after that occupant's last use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ewssim.hw.array import TileSchedule
from ewssim.hw.hardware import LayerHardware, ceil_div
from ewssim.workload.layers import Layer


@dataclass(frozen=True)
class FoldPlan:
    """How a layer's GEMM is cut into folds (independent of pixel chunking)."""

    taps: int           # kernel columns per PE (ARF window), 1 without ARF reuse
    n_chunks: int       # kernel-column chunks per kernel row: ceil(S / taps)
    units: int          # reduction units per group: C_g * R * n_chunks
    k_folds: int        # ceil(units / rows)
    n_folds: int        # ceil(N_g / cols)
    pack: int           # groups packed per tile (1 unless a whole group fits)
    group_packs: int    # ceil(groups / pack)
    pixels: int         # output pixels per group (the stream length T)


def block_groups(layer: Layer) -> int:
    """Independent GEMM blocks: conv groups, or the heads of a matmul (each head has its own
    second operand, so heads behave as groups; a conv's ``batch`` only lengthens the stream)."""
    return layer.batch if layer.kind == "matmul" else layer.groups


def stream_pixels(layer: Layer) -> int:
    return layer.out_h * layer.out_w * (1 if layer.kind == "matmul" else layer.batch)


def fold_plan(layer: Layer, rows: int, cols: int, taps: int, allow_pack: bool = True) -> FoldPlan:
    taps = max(1, min(taps, layer.kernel_w))
    n_chunks = ceil_div(layer.kernel_w, taps)
    groups = block_groups(layer)
    c_g = layer.in_c // layer.groups
    n_g = layer.out_c // layer.groups
    units = c_g * layer.kernel_h * n_chunks
    k_folds = ceil_div(units, rows)
    n_folds = ceil_div(n_g, cols)
    pack = 1
    if allow_pack and groups > 1 and units <= rows and n_g <= cols:
        pack = max(1, min(rows // units, cols // n_g, groups))
    return FoldPlan(taps=taps, n_chunks=n_chunks, units=units, k_folds=k_folds,
                    n_folds=n_folds, pack=pack, group_packs=ceil_div(groups, pack),
                    pixels=stream_pixels(layer))


def unit_table(layer: Layer, plan: FoldPlan) -> np.ndarray:
    """(U, 3) array: unit -> (channel in group, kernel row, first kernel column)."""
    c_g = layer.in_c // layer.groups
    u = np.arange(plan.units)
    c = u % c_g
    rc = u // c_g
    r = rc // plan.n_chunks
    s0 = (rc % plan.n_chunks) * plan.taps
    return np.stack([c, r, s0], axis=1).astype(np.int64)


def _tile_grid(layer: Layer, plan: FoldPlan, rows: int, cols: int, chunk: int | None):
    """Per-tile loop indices and ranges in execution order: group-pack, output fold, pixel
    chunk, reduction fold (``chunk=None``: one chunk of all pixels)."""
    T = plan.pixels
    pix_edges = [0, T] if chunk is None else list(range(0, T, chunk)) + [T]
    axes = (np.arange(plan.group_packs), np.arange(plan.n_folds),
            np.arange(len(pix_edges) - 1), np.arange(plan.k_folds))
    G, NF, PC, KF = (a.ravel() for a in np.meshgrid(*axes, indexing="ij"))
    n_g = layer.out_c // layer.groups
    g0 = G * plan.pack
    g1 = np.minimum(g0 + plan.pack, block_groups(layer))
    n0 = NF * cols
    n1 = np.minimum(n0 + cols, n_g)
    u0 = KF * rows
    u1 = np.minimum(u0 + rows, plan.units)
    edges = np.asarray(pix_edges, dtype=np.int64)
    set_id = (G * plan.n_folds + NF) * plan.k_folds + KF
    return g0, g1, n0, n1, u0, u1, edges[PC], edges[PC + 1], set_id


def wrf_slots(set_id: np.ndarray, slots: int, period: int | None = None,
              pass_len: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """LRU allocation of weight sets to the WRF's ``slots``, a scan over tiles:
    (tile loads its set?, release tile of the slot it loads into or -1).

    With the loop structure given (``period``: the reduction folds ``K``, repeated per pixel
    chunk; ``pass_len``: tiles per pass), the steady part of every pass is filled in at once,
    exactly: with ``K <= slots`` the first chunk loads the pass's sets and every later chunk
    finds them resident; with ``K > slots``, once ``slots`` consecutive tiles have missed the
    slots are used round-robin, so every later tile misses and evicts the set of the tile
    ``slots`` before it."""
    n = set_id.shape[0]
    needs_load = np.zeros(n, dtype=bool)
    release = np.full(n, -1, dtype=np.int64)
    slot_of: dict[int, int] = {}
    occupant = [-1] * slots
    last_use = [-1] * slots
    tile_slot = [0] * n
    sid = set_id.tolist()
    misses = 0          # consecutive misses up to here
    i = 0
    while i < n:
        if period and pass_len:
            pos = i % pass_len
            end = i - pos + pass_len
            if period > slots and misses >= slots and end - i > 1:
                # round-robin: every tile to the end of the pass misses and evicts the set
                # of the tile `slots` before it
                needs_load[i:end] = True
                release[i:end] = np.arange(i, end) - slots + 1
                for j in range(i, end):
                    tile_slot[j] = tile_slot[j - slots]
                slot_of.clear()
                for j in range(end - slots, end):
                    k = tile_slot[j]
                    occupant[k] = sid[j]
                    last_use[k] = j
                    slot_of[sid[j]] = k
                misses += end - i
                i = end
                continue
            if period <= slots and pos >= period and pos % period == 0 and end - i > period:
                # hits to the end of the pass: each set last used in the final chunk
                for kf in range(period):
                    last_use[slot_of[sid[i + kf]]] = end - period + kf
                for j in range(i, end):
                    tile_slot[j] = tile_slot[j - period]
                misses = 0
                i = end
                continue
        s_ = sid[i]
        k = slot_of.get(s_)
        if k is None:
            k = min(range(slots), key=lambda j: last_use[j])  # free slots have last_use -1
            if occupant[k] >= 0:
                del slot_of[occupant[k]]
                release[i] = last_use[k] + 1
            occupant[k] = s_
            slot_of[s_] = k
            needs_load[i] = True
            misses += 1
        else:
            misses = 0
        last_use[k] = i
        tile_slot[i] = k
        i += 1
    return needs_load, release


def build_schedule(layer: Layer, lhw: LayerHardware, chunk: int | None) -> TileSchedule:
    """Tiles in execution order for ``layer`` on ``lhw``.

    ``chunk``: output pixels per tile (PRF depth or an L1 block) with the reduction folds
    innermost (loop order group-pack, output fold, pixel chunk, reduction fold); ``None``
    streams all pixels through each fold (group-pack, output fold, reduction fold).

    Weight loads: the hardware's load mode ``"lines"`` -- the weight loader writes one line
    (one column's weights for one tap) every ``line_cycles`` cycles, so a tile takes
    ``used_cols * taps * line_cycles + load_latency`` cycles; ``"rows"`` -- weights shift in
    from the top edge, one array row per cycle, ``rows`` cycles per tile whatever is used
    (SCALE-Sim).  ``logical_rows`` reduction units per tile cross ``pe_rows`` physical PEs
    (they differ on the sparsity-aware array).
    """
    hw = lhw.hw
    rows, cols = lhw.logical_rows, hw.cols
    plan = fold_plan(layer, rows, cols, lhw.taps(layer), hw.allow_pack)
    t = plan.taps
    slots = max(1, hw.wrf_depth // (lhw.entries_per_set or t))
    # one slot cannot be written while in use; and weights that shift in from the top edge
    # ("rows") pass through PEs still computing, so only line loads can be double-buffered
    double_buffer = lhw.double_buffer and slots >= 2 and hw.load_mode == "lines"
    g0, g1, n0, n1, u0, u1, p0, p1, set_id = _tile_grid(layer, plan, rows, cols, chunk)
    per_pass = len(set_id) // (plan.group_packs * plan.n_folds)
    needs_load, release = wrf_slots(set_id, slots, plan.k_folds, per_pass)
    used_cols = (g1 - g0) * (n1 - n0)
    if hw.load_mode == "rows":
        load = np.where(needs_load, lhw.pe_rows, 0)
    else:
        lc = lhw.line_cycles()
        per_line = lc((g1 - g0) * (u1 - u0)) if callable(lc) else lc
        load = np.where(needs_load, used_cols * t * per_line + lhw.load_latency, 0)
    drain = np.full(len(set_id), cols, dtype=np.int64) if hw.drain_full_width else used_cols
    return TileSchedule(
        g0=g0.astype(np.int64), g1=g1.astype(np.int64),
        n0=n0.astype(np.int64), n1=n1.astype(np.int64),
        u0=u0.astype(np.int64), u1=u1.astype(np.int64), p0=p0, p1=p1,
        load_cycles=load.astype(np.int64), release=release, drain_cols=drain.astype(np.int64),
        taps=t, rows=lhw.pe_rows, cols=cols, double_buffer=double_buffer,
        logical_rows=rows, slot_cycles=lhw.slot_cycles, units=unit_table(layer, plan),
        pack=plan.pack, extra_cycles=-block_groups(layer) if hw.scalesim_layer_offset else 0,
    )
