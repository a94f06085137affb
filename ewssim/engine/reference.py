"""Cycle-by-cycle reference of the systolic array and its weight path, for ONE layer.

An independent implementation of docs/model-reference.md sections 1-3 and 6 (it does not use
:mod:`ewssim.hw.array`): the clock advances one cycle at a time and every PE's state is a numpy
array over the ``L x H`` physical array.  It exists to prove that the fast model (closed form per
tile plus a scan over tiles) is exact; it is slow (a few numpy operations per cycle), so use it on
small layers only.

State per cycle:

* the **left-edge feeder**: physical row 0 receives tile ``k``'s slot ``s = q*t + tau`` at cycle
  ``base_k + s``; physical row ``i`` receives what row 0 received ``i`` cycles earlier (the skew
  register).  A tile starts when the previous one has finished entering row 0 and its own load
  has ended;
* per *logical* reduction row, the **ARF window** at the left edge: the activation tags of the
  previous pixel and of the current one.  An activation not in the window is read from L1 (zero
  padding counts); the window restarts at the first pixel of every tile.  A logical row is fed
  when the first physical row of its mux group receives the slot;
* per PE: the activation register (tile, slot; moves right one column per cycle -- on the
  sparsity-aware array it stands for the ``M`` activations of the PE's mux group, of which the
  ``M:1`` mux picks one), the **tile pointer** (the tile of the last activation seen), the
  **WRF** (``wrf_depth // taps`` slots of ``taps`` entries, each tagged with the weight set it
  holds, plus the mux select and whether the entry holds a real weight), the local accumulator
  and the **psum register** (value and (tile, pixel) tag; moves down one row per cycle);
* the **weight loader**: one load at a time in tile order; ``"lines"`` mode reads one line (one
  column's weights for one tap) every ``line_cycles`` cycles, column by column, tap by tap, and
  writes it into the column's PEs ``load_latency`` cycles after the line's last read cycle
  (docs/model-reference.md section 2, "Weight loads"); ``"rows"`` mode shifts weights in from
  the top edge, one row per cycle, ``L`` cycles.  A load starts when the loader is idle and,
  with double buffering, the tile named by the released slot has started in the bottom row
  (without: every earlier tile's last result is out).  Codebook weights (a
  :class:`~ewssim.compress.format.CompressedLayer`) come THROUGH the weight-loader model
  (:class:`ewssim.hw.loader.WeightLoader`: indices, masks and signs read from the stored bits,
  codewords from the CRF), at most ``crf.ports`` sub-vectors per cycle;
* the WRF slots are allocated with our own LRU (empty slot first); every MAC checks that its
  PE's slot holds the set of the tile it computes (written in an earlier cycle), so a schedule
  that runs a tile whose weights are not resident, or overwrites weights still in use, raises;
* results leave the bottom row and accumulate into the PRF (chunked order) or the L1 output
  buffer (streaming order), where partial-sum reads/writes and output writes are counted.

The **sparsity-aware array** (MVQ; ``schedule.logical_rows != schedule.rows``): each column has
``rows`` physical PEs; an ``M``-group of logical reduction rows is held by ``N`` physical PEs,
each holding a kept value and its position in the group and picking the matching activation of
the group's ``M`` with an ``M:1`` mux.  The partial sum crosses the ``rows`` physical PEs; a
tile covers ``logical_rows = rows * M / N`` reduction units.  Dense layers on that array use the
physical PEs as a dense array (``logical_rows == rows``).

**S2TA-style arrays** (docs/model-reference.md section 2, "S2TA-style arrays").  dbb weights
(:mod:`ewssim.compress`, method ``dbb``: kept INT8 values + positions per block of ``M`` input
channels, no codebook) are read from their stored form (:func:`ewssim.engine.functional.
dbb_subvectors`): one line (a value + position per PE of a column) per ``line_cycles`` cycle(s),
no decode latency.  S2TA-W runs them on the sparsity-aware array above (each physical PE: one
kept weight and a ``BZ:1`` mux).  S2TA-AW (``act_dbb = (BZ, NNZ_a)``, the *time-unrolled tensor
PE*): physical row ``i`` holds a whole weight block -- logical rows ``i*BZ .. i*BZ + BZ - 1`` --
as a WRF set of ``NNZ_w`` (value, position) entries, written one entry per cycle of the line
(``line_cycles >= NNZ_w``); the left edge of row ``i`` receives, per pixel, the dynamic pruning
unit's output for its block, the top-``NNZ_a`` magnitudes (ties: lowest position first;
:func:`ewssim.engine.functional.dbb_prune`), one (value, position) per cycle in ascending
position order, each read from L1 as ``act_bits + ceil(log2 BZ)`` bits; a PE spends ``NNZ_a``
cycles per pixel (``schedule.slot_cycles``), each cycle multiplying the activation by the WRF
entry at the same position (0 if that weight was pruned), and passes its psum down in the
pixel's last cycle.  Activation pruning is lossy: outputs are the convolution of the pruned
input (:func:`ewssim.engine.functional.prune_activations`).

**Zero-value clock gating** (``nonzero_macs``): of the executed MACs, those whose activation
operand is non-zero and -- on the sparsity-aware array, where a PE's weights are pruned -- whose
weight value is non-zero too.  The fast model's ``executed_macs`` with zero gating is the
*expected* value ``macs x (N/M) x act_density`` (capped by ``NNZ_a/BZ`` for a fixed ``NNZ_a``),
so the two agree exactly only when the input's zeros are spread evenly over what every PE sees
(tests/test_reference_s2ta.py says when).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from ewssim.compress.layer import CompressedLayer
from ewssim.engine.functional import conv_view, dbb_prune, dbb_subvectors, dbb_weights, unit_fields
from ewssim.errors import EwssimError
from ewssim.hw.array import TileSchedule
from ewssim.hw.loader import LoaderCounters, WeightLoader, line_subvectors
from ewssim.workload.layers import Layer


class ReferenceSimError(EwssimError):
    """The schedule cannot run on the modelled hardware (or disagrees with the model)."""


@dataclass
class ReferenceResult:
    cycles: int                  # end of the last result (+1), plus extra_cycles
    starts: np.ndarray           # base cycle of every tile
    output: np.ndarray           # int64, layout of ewssim.engine.functional
    act_reads: int = 0           # activations read from L1 at the left edge
    weight_reads: int = 0        # real (logical) weights loaded: INT8 reads, or d per sub-vector
    psum_reads: int = 0          # partial sums read back from the L1 output buffer
    psum_writes: int = 0         # partial sums written to the L1 output buffer
    out_writes: int = 0          # finished outputs written
    executed_macs: int = 0       # physical PE MACs on real weights (padded taps, unused PEs: 0;
    #                              AW: cycles whose activation meets a kept weight)
    nonzero_macs: int = 0        # of those, non-zero activation (and, sparse array, weight)
    act_pos_bits: int = 0        # position bits per activation read (AW: ceil(log2 BZ)), else 0
    crf_reads: int = 0           # CRF lookups (the CRF's own counter, codebook layers)
    crf_cycles: int = 0          # cycles in which the CRF served at least one lookup
    weight_l1_bytes: int = 0     # codebook/dbb layers: L1 bits read, rounded up to bytes per load
    loader: LoaderCounters = field(default_factory=LoaderCounters)  # loader activity (deltas)
    loads: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # tile loads weights
    load_starts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    release: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ends: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # last result cycle


def _lru(set_ids: list[int], slots: int, forced: np.ndarray | None = None
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Our own WRF allocation: (slot of every tile, loads?, release tile).

    With ``forced`` (load flags taken from a schedule) a tile loads exactly when told to; a tile
    told not to load whose set is not resident gets slot 0 (its MACs will then fail the WRF
    check)."""
    n = len(set_ids)
    slot_of_tile = np.zeros(n, np.int64)
    loads = np.zeros(n, bool)
    release = np.full(n, -1, np.int64)
    holder = [-1] * slots       # set in each slot
    last = [-1] * slots         # last tile that used each slot
    for k, sid in enumerate(set_ids):
        load = sid not in holder if forced is None else bool(forced[k])
        if not load:
            j = holder.index(sid) if sid in holder else 0
        else:
            empty = [j for j in range(slots) if holder[j] < 0]
            j = empty[0] if empty else min(range(slots), key=lambda i: last[i])
            if holder[j] >= 0:
                release[k] = last[j] + 1
            holder[j] = sid
            loads[k] = True
        slot_of_tile[k] = j
        last[j] = k
    return slot_of_tile, loads, release


def _counter_delta(after: LoaderCounters, before: LoaderCounters) -> LoaderCounters:
    return LoaderCounters(**{k: getattr(after, k) - getattr(before, k)
                             for k in before.__dataclass_fields__})


def _tile_line_cycles(line_cycles, used_rows: np.ndarray) -> np.ndarray:
    """Per-tile cycles per line from an int, a function of the used logical rows (as
    :func:`ewssim.dataflow.tiling.build_schedule`) or an explicit per-tile array."""
    if callable(line_cycles):
        lc = np.asarray(line_cycles(used_rows), dtype=np.int64)
    else:
        lc = np.asarray(line_cycles, dtype=np.int64)
    lc = np.broadcast_to(lc, used_rows.shape).astype(np.int64)
    if lc.size and int(lc.min()) < 1:
        raise ReferenceSimError(f"line_cycles must be >= 1, got {int(lc.min())}")
    return lc


def simulate(layer: Layer, schedule: TileSchedule, x: np.ndarray,
             w: np.ndarray | CompressedLayer, *, wrf_depth: int, double_buffer: bool,
             psums_in_prf: bool = False, prf_depth: int | None = None,
             line_cycles: int | np.ndarray | Callable[[np.ndarray], np.ndarray] | None = None,
             load_latency: int | None = None, load_mode: str = "lines",
             drain_full_width: bool = False, loader: WeightLoader | None = None,
             act_dbb: tuple[int, int] | None = None,
             check_schedule: bool = True, max_cycles: int = 5_000_000) -> ReferenceResult:
    """Run ``schedule`` cycle by cycle on operands ``x``, ``w`` (layouts:
    :mod:`ewssim.engine.functional`).

    ``w``: integer weights, or a :class:`~ewssim.compress.format.CompressedLayer`.  A dense
    compressed layer runs its INT8 weights; a codebook layer (vq, mvq, casec, ssvq) is decoded
    line by line by ``loader`` (default: ``WeightLoader.for_layer(w, line_length=logical
    rows)``), sparse output (values + positions) on the sparsity-aware array, dense output on a
    dense array.

    ``line_cycles``: cycles per line -- an int, a function of each tile's used logical rows (as
    ``build_schedule``) or a per-tile array; default 1, or for a codebook layer the loader's
    ``crf.line_cycles(ceil(used_rows / d))``.  ``load_latency``: decode pipeline cycles added to
    every load (default 0, or ``loader.latency`` for a codebook layer).  A line's sub-vectors
    are served by the CRF's ports, ``crf.ports`` per cycle; a line that does not fit its
    ``line_cycles`` raises.

    ``double_buffer`` is the WRF double-buffering switch as configured (it is off anyway when
    the WRF holds fewer than two sets); ``psums_in_prf`` says the psums of a tile's pixels stay
    in the PRF across the reduction folds (chunked order; the tiles' pixel ranges must then fit
    ``prf_depth``) rather than round-tripping through the L1 output buffer.

    dbb weights (S2TA) need no loader: one line per cycle (default ``line_cycles = 1``, S2TA-AW
    ``NNZ_w``), latency 0.  ``act_dbb = (BZ, NNZ_a)``: activation DBB on time-unrolled tensor
    PEs (S2TA-AW, module doc); it needs pruned dbb weights with ``M = BZ``, ``taps = 1``,
    ``logical_rows = rows * BZ`` and ``schedule.slot_cycles = NNZ_a``.  Without it a schedule
    with ``slot_cycles > 1`` is refused (no other PE behaviour is defined for it).

    ``check_schedule=True`` checks the schedule's load flags and release tiles against our own
    LRU allocation (and raises on a difference); ``False`` runs the schedule's own flags and
    releases instead, so that a wrong schedule shows up as a hazard in the PEs (weights not
    resident, or overwritten while in use).
    """
    s = schedule
    la = layer
    Lp, H, t = s.rows, s.cols, s.taps
    Ll = s.logical_rows or Lp
    n_tiles = len(s)
    if load_mode not in ("lines", "rows"):
        raise ReferenceSimError(f"unknown load mode {load_mode!r}")

    # ------------------------------------------------------------------ weights and loader
    cl: CompressedLayer | None = None
    if isinstance(w, CompressedLayer):
        if tuple(w.weight_shape) != tuple(la.weight_shape):
            raise ReferenceSimError(f"layer '{la.name}': compressed weights have shape "
                                    f"{tuple(w.weight_shape)}, the layer {la.weight_shape}")
        if w.format.int8:
            w = w.int8_weights
        elif w.format.dbb and not w.format.pruned:
            w = dbb_weights(w)       # every value kept: plain INT8 weights
        else:
            cl = w
    sparse = Ll != Lp
    dbb = cl is not None and cl.format.dbb
    aw = act_dbb is not None
    sc = int(s.slot_cycles)
    E = t                       # WRF entries per set (AW: the block's NNZ_w)
    if aw:
        bz, nnz_a = (int(v) for v in act_dbb)
        if not dbb:
            raise ReferenceSimError(f"layer '{la.name}': activation DBB runs on the tensor PEs "
                                    "only with pruned dbb weights (a dense layer runs as WS)")
        if cl.format.nm[1] != bz or t != 1 or Ll != Lp * bz or not 1 <= nnz_a <= bz:
            raise ReferenceSimError(
                f"layer '{la.name}': a tensor PE holds one weight block of BZ = {bz} with one "
                f"tap: weights {cl.format.nm[0]}:{cl.format.nm[1]}, taps {t}, {Ll} logical "
                f"rows on {Lp} "
                f"physical, NNZ_a = {nnz_a}")
        if sc != nnz_a:
            raise ReferenceSimError(f"layer '{la.name}': the schedule spends {sc} cycle(s) per "
                                    f"slot, the tensor PE NNZ_a = {nnz_a}")
        E = cl.format.nm[0]
        if wrf_depth < E:
            raise ReferenceSimError(f"a tensor PE holds a whole weight block: wrf_depth "
                                    f"{wrf_depth} < NNZ_w = {E}")
    elif sc != 1:
        raise ReferenceSimError(f"layer '{la.name}': slot_cycles = {sc} is defined only for "
                                "time-unrolled activation blocks (act_dbb)")
    per_pix = t * sc            # cycles a PE spends on one pixel
    if cl is None:
        if sparse:
            raise ReferenceSimError(f"layer '{la.name}': the sparsity-aware array "
                                    f"({Ll} logical rows on {Lp} physical) needs N:M-pruned "
                                    "codebook weights (a CompressedLayer)")
        view = conv_view(layer, x, w)
        loader = None
        d = q = 1
        gN = gM = 1
    else:
        if la.kind == "matmul":
            raise ReferenceSimError(f"layer '{la.name}': a matmul has no codebook weights")
        if cl.padded_channels != cl.channels:
            raise ReferenceSimError(f"layer '{la.name}': channels {cl.channels} are not a "
                                    f"multiple of d={cl.format.d} (fit=pad is not modelled here)")
        if load_mode != "lines":
            raise ReferenceSimError("compressed weights are loaded line by line (load_mode "
                                    "'lines')")
        view = conv_view(layer, x, np.zeros(la.weight_shape, np.int64))
    if dbb:
        # S2TA weight path: no codebook, no decoder; blocks read as stored (values + positions)
        loader = None
        d, q = cl.format.d, cl.format.nm[0]
        gN, gM = (cl.format.nm if sparse and not aw else (1, 1))
        if sparse and not aw and Ll * gN != Lp * gM:
            raise ReferenceSimError(f"{Ll} logical rows on {Lp} physical PEs do not match "
                                    f"N:M = {gN}:{gM}")
        dbb_vals, dbb_pos = dbb_subvectors(cl)
        if not sparse:
            # a dense array: the block is expanded to M values, zeros at pruned positions
            dense_blocks = np.zeros((cl.n_sub, d), np.int64)
            np.put_along_axis(dense_blocks, dbb_pos, dbb_vals, axis=1)
            dbb_vals, dbb_pos = dense_blocks, None
        # L1 bits per block: N int8 values + the block's mask in its stored encoding
        block_bits = cl.format.subvector_bits
        if line_cycles is None:
            line_cycles = E if aw else 1
    elif cl is not None:
        if loader is None:
            loader = WeightLoader.for_layer(cl, line_length=Ll)
        loader.begin_layer(cl)
        d = cl.format.d
        q = loader.q
        if sparse:
            if not cl.format.pruned:
                raise ReferenceSimError(f"layer '{la.name}': the sparsity-aware array needs "
                                        "N:M-pruned weights")
            gN, gM = cl.format.nm
            if Ll * gN != Lp * gM:
                raise ReferenceSimError(f"{Ll} logical rows on {Lp} physical PEs do not match "
                                        f"N:M = {gN}:{gM}")
        else:
            gN = gM = 1
        if line_cycles is None:
            crf = loader.crf
            line_cycles = lambda rows: crf.line_cycles(-(-rows // d))  # noqa: E731
        if load_latency is None:
            load_latency = loader.latency
    if line_cycles is None:
        line_cycles = 1
    load_latency = int(load_latency or 0)
    if load_latency < 0:
        raise ReferenceSimError(f"load_latency must be >= 0, got {load_latency}")

    units = unit_fields(layer, t)
    if s.units.shape == units.shape and not np.array_equal(s.units, units):
        raise ReferenceSimError(f"layer '{la.name}': the schedule's unit table differs from the "
                                "model reference's unit order")
    slots = max(1, wrf_depth // E)
    db = double_buffer and slots >= 2
    if db != s.double_buffer:
        raise ReferenceSimError(f"layer '{la.name}': double buffering is {db} here, "
                                f"{s.double_buffer} in the schedule")

    # ------------------------------------------------------------------ per-tile constants
    xp = view.padded_input()
    ohw = la.out_h * la.out_w
    span_h = xp.shape[2] + la.dil_h * la.kernel_h + 1
    span_w = (la.out_w * la.stride_w + (units[:, 2].max(initial=0) + t) * la.dil_w + 1)
    n_ch = xp.shape[1]

    P = (s.p1 - s.p0).astype(np.int64)
    used_rows = ((s.g1 - s.g0) * (s.u1 - s.u0)).astype(np.int64)   # logical
    used_cols = ((s.g1 - s.g0) * (s.n1 - s.n0)).astype(np.int64)
    lcs = _tile_line_cycles(line_cycles, used_rows)
    set_key: dict[tuple, int] = {}
    set_ids = []
    dense_w = cl is None
    W = np.zeros((n_tiles, Lp, H, t) if dense_w else (0,), np.int64)  # dense: weight per PE
    real = np.zeros((n_tiles, Lp, H, t) if dense_w else (0,), bool)   # dense: real weight
    line_ids: list[np.ndarray] = []      # codebook: (used_cols, t, blocks) sub-vector ids, -1
    line_row: list[np.ndarray] = []      # codebook: (used_cols, blocks) first logical row
    col_och = np.full((n_tiles, H), -1, np.int64)       # output channel of every used column
    tag_off = np.zeros(n_tiles + 1, np.int64)           # flat offsets of the feed tables
    tags, vals = [], []
    # AW: per tile, per physical row (block) and cycle slot q*NNZ_a + e, the pruning unit's e-th
    # kept (value, position) of the block for pixel q; and which rows hold a used block
    aw_off = np.zeros(n_tiles + 1, np.int64)
    aw_vals, aw_poss = [], []
    aw_used = np.zeros((n_tiles, Lp), bool)
    for k in range(n_tiles):
        g0, g1 = int(s.g0[k]), int(s.g1[k])
        n0, n1, u0, u1 = int(s.n0[k]), int(s.n1[k]), int(s.u0[k]), int(s.u1[k])
        nu, nc = u1 - u0, n1 - n0
        if used_rows[k] > Ll or used_cols[k] > H:
            raise ReferenceSimError(f"tile {k} needs {used_rows[k]}x{used_cols[k]} PEs, the array "
                                    f"has {Ll}x{H}")
        set_ids.append(set_key.setdefault((g0, g1, n0, n1, u0, u1), len(set_key)))
        tag = np.full((Ll, int(P[k]) * t), -1, np.int64)
        val = np.zeros((Ll, int(P[k]) * t), np.int64)
        pix = np.arange(int(s.p0[k]), int(s.p1[k]))
        b, rem = np.divmod(pix, ohw)
        oh, ow = np.divmod(rem, la.out_w)
        for jg in range(g1 - g0):
            g = g0 + jg
            for j in range(nc):
                col_och[k, jg * nc + j] = g * view.n_g + n0 + j
            for iu in range(nu):
                i = jg * nu + iu
                c, r, s0 = (int(v) for v in units[u0 + iu])
                for tau in range(t):
                    kc = s0 + tau
                    if kc < la.kernel_w and dense_w:
                        W[k, i, jg * nc:(jg + 1) * nc, tau] = view.w[
                            g * view.n_g + n0:g * view.n_g + n1, c, r, kc]
                        real[k, i, jg * nc:(jg + 1) * nc, tau] = True
                    ih = oh * la.stride_h + r * la.dil_h          # padded coordinates
                    iw = ow * la.stride_w + kc * la.dil_w
                    ch = g * view.c_g + c
                    tag[i, tau::t] = ((b * n_ch + ch) * span_h + ih) * span_w + iw
                    inside = (ih < xp.shape[2]) & (iw < xp.shape[3])
                    v = np.zeros(len(pix), np.int64)
                    v[inside] = xp[b[inside], ch, ih[inside], iw[inside]]
                    val[i, tau::t] = v
        if not dense_w:
            # the lines of this tile: column j (packed group jg), tap tau, sub-vector blocks
            if u0 % d or nu % d:
                raise ReferenceSimError(f"tile {k}: reduction units {u0}:{u1} are not aligned "
                                        f"to sub-vectors of d={d}")
            nb = nu // d
            ub = units[u0:u1:d]                                       # (nb, 3)
            cols_j = np.arange(int(used_cols[k]))
            jg = cols_j // nc
            o = (g0 + jg) * view.n_g + n0 + cols_j % nc               # (used_cols,)
            kcol = ub[None, :, 2] + np.arange(t)[:, None]             # (t, nb)
            ok = kcol < la.kernel_w
            ids = line_subvectors(cl, o[:, None, None], ub[None, None, :, 1],
                                  np.where(ok, kcol, 0)[None], (ub[:, 0] // d)[None, None, :],
                                  1)[..., 0]
            line_ids.append(np.where(ok[None], ids, -1))
            line_row.append(jg[:, None] * nu + np.arange(nb)[None, :] * d)
        if aw:
            blk = val.reshape(Lp, bz, int(P[k])).transpose(0, 2, 1)       # (Lp, P, BZ)
            kv, kp = dbb_prune(blk, nnz_a)                                  # (Lp, P, NNZ_a)
            aw_vals.append(kv.ravel())
            aw_poss.append(kp.ravel())
            aw_off[k + 1] = aw_off[k] + kv.size
            aw_used[k] = (tag.reshape(Lp, bz * int(P[k])) >= 0).any(1)
        tags.append(tag.ravel())
        vals.append(val.ravel())
        tag_off[k + 1] = tag_off[k] + tag.size
    tag_flat = np.concatenate(tags) if tags else np.zeros(0, np.int64)
    val_flat = np.concatenate(vals) if vals else np.zeros(0, np.int64)
    aw_val = np.concatenate(aw_vals) if aw_vals else np.zeros(0, np.int64)
    aw_pos = np.concatenate(aw_poss) if aw_poss else np.zeros(0, np.int64)
    if aw and n_tiles and int(lcs.min()) < E:
        raise ReferenceSimError(f"a tensor PE takes one WRF entry per cycle: a line of NNZ_w = "
                                f"{E} entries needs >= {E} cycles, got {int(lcs.min())}")

    sched_loads = s.load_cycles > 0
    slot_of_tile, loads, release = _lru(set_ids, slots, None if check_schedule else sched_loads)
    if not check_schedule:
        release = np.where(loads, s.release, -1)
    if not np.array_equal(loads, sched_loads):
        k = int(np.flatnonzero(loads != sched_loads)[0])
        what = "loads" if loads[k] else "does not load"
        raise ReferenceSimError(f"layer '{la.name}': tile {k} {what} its weights under LRU with "
                                f"{slots} slots, the schedule says the opposite")
    if db and not np.array_equal(release[loads], s.release[loads]):
        k = int(np.flatnonzero(loads & (release != s.release))[0])
        raise ReferenceSimError(f"layer '{la.name}': tile {k}'s load waits for tile "
                                f"{release[k]}, the schedule says {s.release[k]}")
    if psums_in_prf and prf_depth is not None and int(P.max(initial=0)) > prf_depth:
        raise ReferenceSimError(f"a tile streams {int(P.max())} pixels, the PRF holds {prf_depth}")
    n_lines = used_cols * t
    load_len = (np.full(n_tiles, Lp, np.int64) if load_mode == "rows"
                else n_lines * lcs + load_latency)
    load_list = [k for k in range(n_tiles) if loads[k]]

    # how many reduction folds contribute to every (pixel, output channel)
    T = view.pixels
    n_out = view.blocks * view.n_g
    needed = np.zeros((T, n_out), np.int64)
    for k in range(n_tiles):
        och = col_och[k, :used_cols[k]]
        needed[int(s.p0[k]):int(s.p1[k]), och] += 1
    done = np.zeros((T, n_out), np.int64)
    out = np.zeros((T, n_out), np.int64)

    # ------------------------------------------------------------------ state
    edge_tile = np.full(Lp, -1, np.int64)     # what enters each physical row at the left edge
    edge_slot = np.zeros(Lp, np.int64)
    act_tile = np.full((Lp, H), -1, np.int64)
    act_slot = np.zeros((Lp, H), np.int64)
    ptr = np.full((Lp, H), -1, np.int64)      # per-PE tile pointer
    # entries per slot: one per tap; AW: the block's NNZ_w (value, position) entries
    wrf_set = np.full((Lp, H, slots, E), -1, np.int64)
    wrf_w = np.zeros((Lp, H, slots, E), np.int64)
    wrf_sel = np.zeros((Lp, H, slots, E), np.int64)      # mux select / AW: position in block
    wrf_real = np.zeros((Lp, H, slots, E), bool)         # entry holds a real weight
    wrf_when = np.full((Lp, H, slots, E), -1, np.int64)  # cycle of the last write
    acc = np.zeros((Lp, H), np.int64)
    ps_val = np.zeros((Lp, H), np.int64)
    ps_tile = np.full((Lp, H), -1, np.int64)
    ps_q = np.full((Lp, H), -1, np.int64)
    win_prev = np.full((Ll, t), -1, np.int64)
    win_cur = np.full((Ll, t), -1, np.int64)
    lrows = np.arange(Ll)
    lead = lrows // bz if aw else (lrows // gM) * gN   # physical row feeding each logical row
    grp_base = (np.arange(Lp) // gN) * gM     # first logical row of each physical row's group
    II, JJ = np.meshgrid(np.arange(Lp), np.arange(H), indexing="ij")
    set_arr = np.asarray(set_ids, np.int64)
    ports = loader.crf.ports if loader is not None else 1
    cnt0 = replace(loader.counters) if loader is not None else None
    crf0 = loader.crf.counters.reads if loader is not None else 0

    starts = np.full(n_tiles, -1, np.int64)
    ends = np.full(n_tiles, -1, np.int64)
    remaining = P * (H if drain_full_width else used_cols)
    load_start = np.full(n_tiles, -1, np.int64)
    load_end = np.full(n_tiles, -1, np.int64)    # last cycle of the load
    cur_load = -1
    next_load = 0
    load_bits0 = 0                               # loader L1 bits at the start of the load
    line_buf: list = []                          # decoded chunks of the current line
    pending: deque = deque()                     # (write cycle, tile, column, tap, data)
    feed_tile, feed_slot = -1, 0              # row 0 feeder
    next_tile = 0
    load_bits = 0                                # dbb: L1 bits read by the current load
    res = ReferenceResult(cycles=0, starts=starts, output=out,
                          act_pos_bits=(bz - 1).bit_length() if aw else 0)
    finished = 0
    c = 0

    def write_entry(k: int, j: int, e: int, data) -> None:
        """AW: entry ``e`` of every tensor PE of column ``j`` (one block per physical row)."""
        sl = int(slot_of_tile[k])
        wrf_set[:, j, sl, e] = set_ids[k]
        wrf_when[:, j, sl, e] = c
        col_w = np.zeros(Lp, np.int64)
        col_sel = np.zeros(Lp, np.int64)
        col_real = np.zeros(Lp, bool)
        for rows0, v, pos in data:
            if e == 0:
                res.weight_reads += d * len(rows0)
            phys = rows0 // bz
            col_w[phys] = v[:, e]
            col_sel[phys] = pos[:, e]
            col_real[phys] = True
        wrf_w[:, j, sl, e] = col_w
        wrf_sel[:, j, sl, e] = col_sel
        wrf_real[:, j, sl, e] = col_real

    def write_line(k: int, j: int, tau: int, data) -> None:
        if aw:
            write_entry(k, j, *data)
            return
        sl = int(slot_of_tile[k])
        wrf_set[:, j, sl, tau] = set_ids[k]
        wrf_when[:, j, sl, tau] = c
        if dense_w:
            wrf_w[:, j, sl, tau] = W[k, :, j, tau]
            wrf_real[:, j, sl, tau] = real[k, :, j, tau]
            wrf_sel[:, j, sl, tau] = 0
            res.weight_reads += int(real[k, :, j, tau].sum())
            return
        col_w = np.zeros(Lp, np.int64)
        col_sel = np.zeros(Lp, np.int64)
        col_real = np.zeros(Lp, bool)
        for rows0, v, pos in data:
            res.weight_reads += d * len(rows0)
            if sparse:
                # sub-vector at logical rows r0..r0+d-1 -> physical PEs r0*N/M .. + q - 1;
                # PE i of the sub-vector serves M-group i // N and muxes position pos - M*group
                phys = (rows0 * gN // gM)[:, None] + np.arange(q)[None, :]
                sel = pos - (np.arange(q) // gN * gM)[None, :]
                if ((sel < 0) | (sel >= gM)).any():
                    raise ReferenceSimError(f"tile {k}, column {j}, tap {tau}: the loader "
                                            f"gave position(s) outside the PE's {gM}-group "
                                            f"(positions {pos.tolist()})")
                col_w[phys] = v
                col_sel[phys] = sel
                col_real[phys] = True
            else:
                rows = rows0[:, None] + np.arange(d)[None, :]
                col_w[rows] = v
                col_real[rows] = True
        wrf_w[:, j, sl, tau] = col_w
        wrf_sel[:, j, sl, tau] = col_sel
        wrf_real[:, j, sl, tau] = col_real

    while finished < n_tiles:
        if c > max_cycles:
            raise ReferenceSimError(f"layer '{la.name}': no progress after {max_cycles} cycles "
                                    f"(tile {next_tile} waits, load queue at {next_load})")
        # ---- 1. row-0 feeder: continue the current tile or start the next one
        if feed_tile >= 0 and feed_slot + 1 < P[feed_tile] * per_pix:
            feed_slot += 1
        elif next_tile < n_tiles and (not loads[next_tile]
                                      or 0 <= load_end[next_tile] < c):
            feed_tile, feed_slot = next_tile, 0
            starts[next_tile] = c
            next_tile += 1
        else:
            feed_tile = -1
        edge_tile[1:] = edge_tile[:-1]
        edge_slot[1:] = edge_slot[:-1]
        edge_tile[0], edge_slot[0] = feed_tile, feed_slot

        # ---- 2. left edge: ARF window of every logical row, L1 reads
        #         (AW: each row with a used block reads one kept (value, position) per cycle)
        e_tile, e_slot = edge_tile[lead], edge_slot[lead]
        fed = e_tile >= 0
        if aw:
            fed_p = edge_tile >= 0
            res.act_reads += int((fed_p & aw_used[np.where(fed_p, edge_tile, 0),
                                                  np.arange(Lp)]).sum())
        elif fed.any():
            ek = np.where(fed, e_tile, 0)
            flat = tag_off[ek] + lrows * (P[ek] * t) + e_slot
            need = np.where(fed, tag_flat[np.where(fed, flat, 0)], -1)
            tau = e_slot % t
            start_pix = fed & (tau == 0)
            restart = start_pix & (e_slot == 0)
            win_prev[start_pix] = win_cur[start_pix]
            win_prev[restart] = -1
            win_cur[start_pix] = -1
            used = fed & (need >= 0)
            hit = (win_prev == need[:, None]).any(1) | (win_cur == need[:, None]).any(1)
            res.act_reads += int((used & ~hit).sum())
            win_cur[used, tau[used]] = need[used]
        act_tile[:, 1:] = act_tile[:, :-1]
        act_slot[:, 1:] = act_slot[:, :-1]
        act_tile[:, 0] = edge_tile
        act_slot[:, 0] = edge_slot

        # ---- 3. PEs: tile pointer, WRF check, mux, MAC, psum
        valid = act_tile >= 0
        new_ps_tile = np.full((Lp, H), -1, np.int64)
        if valid.any():
            if (act_tile[valid] < ptr[valid]).any():
                raise ReferenceSimError("a PE saw tiles out of order")
            ptr = np.where(valid, act_tile, ptr)
            kk = np.where(valid, act_tile, 0)
            tau = (act_slot // sc) % t
            phase = act_slot % per_pix           # cycle within the pixel
            q_pix = act_slot // per_pix
            col_used = valid & (JJ < used_cols[kk])
            sl = slot_of_tile[kk]
            if aw:   # the whole set (NNZ_w entries) must be resident
                wset = wrf_set[II, JJ, sl]
                stale = col_used & ((wset != set_arr[kk][..., None]).any(-1)
                                    | (wrf_when[II, JJ, sl] >= c).any(-1))
            else:
                wset = wrf_set[II, JJ, sl, tau]
                stale = col_used & ((wset != set_arr[kk]) | (wrf_when[II, JJ, sl, tau] >= c))
            if stale.any():
                i, j = (int(v) for v in np.argwhere(stale)[0])
                raise ReferenceSimError(
                    f"layer '{la.name}': cycle {c}: PE ({i}, {j}) runs tile {kk[i, j]} but its "
                    f"WRF slot {sl[i, j]} holds set {wset[i, j]} (want {set_arr[kk[i, j]]}): "
                    "weights not resident")
            if aw:
                # the kept activation of this cycle (value, position in the block) meets the
                # WRF entry at the same position; none: the weight was pruned (0)
                flat = np.where(valid, aw_off[kk] + II * (P[kk] * sc) + act_slot, 0)
                a_val = np.where(valid, aw_val[flat], 0)
                a_pos = np.where(valid, aw_pos[flat], -1)
                match = (col_used[..., None] & wrf_real[II, JJ, sl]
                         & (wrf_sel[II, JJ, sl] == a_pos[..., None]))
                wv = np.where(match, wrf_w[II, JJ, sl], 0).sum(-1)
                ex = match.any(-1)
            else:
                wv = np.where(col_used, wrf_w[II, JJ, sl, tau], 0)
                # the activation register carries the M activations of the PE's mux group
                # (tile, slot); the mux picks logical row grp_base + select of that tile's feed
                lrow = grp_base[:, None] + wrf_sel[II, JJ, sl, tau]
                a_val = np.where(valid, val_flat[np.where(
                    valid, tag_off[kk] + lrow * (P[kk] * t) + act_slot, 0)], 0)
                ex = col_used & wrf_real[II, JJ, sl, tau]
            res.executed_macs += int(ex.sum())
            nz = ex & (a_val != 0)
            if sparse:
                nz &= wv != 0
            res.nonzero_macs += int(nz.sum())
            prod = wv * a_val
            acc = np.where(valid, np.where(phase == 0, prod, acc + prod), acc)
            fin = valid & (phase == per_pix - 1)
            above = np.zeros((Lp, H), np.int64)
            above[1:] = ps_val[:-1]
            if Lp > 1:
                bad = fin[1:] & ((ps_tile[:-1] != act_tile[1:]) | (ps_q[:-1] != q_pix[1:]))
                if bad.any():
                    i, j = (int(v) for v in np.argwhere(bad)[0])
                    raise ReferenceSimError(f"cycle {c}: PE ({i + 1}, {j}) missed its psum")
            ps_val = np.where(fin, acc + above, 0)
            new_ps_tile = np.where(fin, act_tile, -1)
            ps_q = np.where(fin, q_pix, -1)
            # ---- results leave the bottom row
            out_j = np.flatnonzero(fin[Lp - 1])
            for j in out_j.tolist():
                k = int(act_tile[Lp - 1, j])
                if j >= used_cols[k]:
                    if drain_full_width:
                        remaining[k] -= 1
                        if remaining[k] == 0:
                            ends[k] = c
                            finished += 1
                    continue
                p = int(s.p0[k]) + int(q_pix[Lp - 1, j])
                o = int(col_och[k, j])
                if done[p, o] and not psums_in_prf:
                    res.psum_reads += 1
                out[p, o] += ps_val[Lp - 1, j]
                done[p, o] += 1
                if done[p, o] == needed[p, o]:
                    res.out_writes += 1
                elif not psums_in_prf:
                    res.psum_writes += 1
                remaining[k] -= 1
                if remaining[k] == 0:
                    ends[k] = c
                    finished += 1
        ps_tile = new_ps_tile

        # ---- 4. weight loader
        if cur_load < 0 and next_load < len(load_list):
            k = load_list[next_load]
            if db:
                r = int(release[k])
                ok = r < 0 or ptr[Lp - 1, 0] >= r
            else:
                ok = bool(np.all((ends[:k] >= 0) & (ends[:k] < c)))
            if ok:
                cur_load, load_start[k] = k, c
                next_load += 1
                if loader is not None:
                    load_bits0 = loader.counters.l1_bits_read
        if cur_load >= 0:
            k = cur_load
            m = c - int(load_start[k])
            sl = int(slot_of_tile[k])
            if load_mode == "lines":
                lc = int(lcs[k])
                if m < n_lines[k] * lc:
                    # CRF read phase of line m // lc: up to `ports` sub-vectors per cycle
                    line, phase = divmod(m, lc)
                    j, tau = divmod(line, t)
                    data = None
                    if dbb:
                        # S2TA: the line's blocks read from L1 as stored, no decoder
                        if phase == 0:
                            ids = line_ids[k][j, tau]
                            keep = ids >= 0
                            ids, rows0 = ids[keep], line_row[k][j][keep]
                            load_bits += int(ids.size) * block_bits
                            line_buf = [(rows0, dbb_vals[ids],
                                         None if dbb_pos is None else dbb_pos[ids])]
                        if aw:   # one (value, position) entry per PE and cycle
                            if phase < E:
                                pending.append((c + load_latency, k, j, tau, (phase, line_buf)))
                        elif phase == lc - 1:
                            pending.append((c + load_latency, k, j, tau, line_buf))
                    elif not dense_w:
                        ids = line_ids[k][j, tau]
                        keep = ids >= 0
                        ids, rows0 = ids[keep], line_row[k][j][keep]
                        if ids.size > lc * ports:
                            raise ReferenceSimError(
                                f"tile {k}: a line of {ids.size} sub-vectors cannot be read "
                                f"by {ports} CRF port(s) in {lc} cycle(s)")
                        part = slice(phase * ports, (phase + 1) * ports)
                        if ids[part].size:
                            res.crf_cycles += 1
                            if sparse:
                                v, pos = loader.decode(cl, ids[part])
                            else:
                                v, pos = loader.decode_dense(cl, ids[part]), None
                            line_buf.append((rows0[part], v.astype(np.int64), pos))
                        if phase == lc - 1:
                            data, line_buf = line_buf, []
                    if phase == lc - 1 and not dbb:
                        pending.append((c + load_latency, k, j, tau, data))
            else:  # rows: shift from the top; row i holds its own weights after the last shift
                if m == 0:
                    res.weight_reads += int(real[k].sum())
                if m == Lp - 1:
                    wrf_set[:, :, sl, :] = set_ids[k]
                    wrf_w[:, :, sl, :] = W[k]
                    wrf_real[:, :, sl, :] = real[k]
                    wrf_when[:, :, sl, :] = c
                else:
                    wrf_set[:m + 1, :, sl, :] = -2     # in transit
                    wrf_when[:m + 1, :, sl, :] = c
        while pending and pending[0][0] == c:      # decode pipeline: write lines into PEs
            _, kw_, j, tau, data = pending.popleft()
            write_line(kw_, j, tau, data)
        if cur_load >= 0 and c - int(load_start[cur_load]) == load_len[cur_load] - 1:
            load_end[cur_load] = c
            if loader is not None:
                res.weight_l1_bytes += (loader.counters.l1_bits_read - load_bits0 + 7) // 8
            elif dbb:
                res.weight_l1_bytes += (load_bits + 7) // 8
                load_bits = 0
            cur_load = -1
        c += 1

    if pending:
        raise ReferenceSimError("lines left in the decode pipeline after the last tile")
    res.cycles = int(ends.max(initial=-1)) + 1 + int(s.extra_cycles)
    res.output = view.output_from_pixels(out)
    res.loads, res.load_starts, res.release, res.ends = loads, load_start, release, ends
    if loader is not None:
        res.loader = _counter_delta(loader.counters, cnt0)
        res.crf_reads = loader.crf.counters.reads - crf0
    return res
