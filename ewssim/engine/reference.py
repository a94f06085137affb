"""Cycle-by-cycle reference of the systolic array and its weight path, for ONE layer.

An independent implementation of docs/model-reference.md sections 1-3 (it does not use
:mod:`ewssim.hw.array`): the clock advances one cycle at a time and every PE's state is a numpy
array over the ``L x H`` array.  It exists to prove that the fast model (closed form per tile plus
a scan over tiles) is exact; it is slow (a few numpy operations per cycle), so use it on small
layers only.

State per cycle:

* the **left-edge feeder**: row 0 receives tile ``k``'s slot ``s = q*t + tau`` at cycle
  ``base_k + s``; row ``i`` receives what row 0 received ``i`` cycles earlier (the skew
  register).  A tile starts when the previous one has finished entering row 0 and its own load
  has ended;
* per row, the **ARF window** at the left edge: the activation tags of the previous pixel and of
  the current one.  An activation not in the window is read from L1 (zero padding counts);
  the window restarts at the first pixel of every tile;
* per PE: the activation register (value, tile, slot; moves right one column per cycle), the
  **tile pointer** (the tile of the last activation seen), the **WRF** (``wrf_depth // taps``
  slots of ``taps`` entries, each tagged with the weight set it holds), the local accumulator
  and the **psum register** (value and (tile, pixel) tag; moves down one row per cycle);
* the **weight loader**: one load at a time in tile order; ``"lines"`` mode writes one line
  (one column's ``L`` PEs, one tap) every ``line_cycles`` cycles, column by column, tap by tap;
  ``"rows"`` mode shifts weights in from the top edge, one row per cycle, ``L`` cycles.  A load
  starts when the loader is idle and, with double buffering, the tile named by the released
  slot has started in the bottom row (without: every earlier tile's last result is out);
* the WRF slots are allocated with our own LRU (empty slot first); every MAC checks that its
  PE's slot holds the set of the tile it computes (written in an earlier cycle), so a schedule
  that runs a tile whose weights are not resident, or overwrites weights still in use, raises;
* results leave the bottom row and accumulate into the PRF (chunked order) or the L1 output
  buffer (streaming order), where partial-sum reads/writes and output writes are counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ewssim.engine.functional import conv_view, unit_fields
from ewssim.errors import EwssimError
from ewssim.hw.array import TileSchedule
from ewssim.workload.layers import Layer


class ReferenceSimError(EwssimError):
    """The schedule cannot run on the modelled hardware (or disagrees with the model)."""


@dataclass
class ReferenceResult:
    cycles: int                  # end of the last result (+1), plus extra_cycles
    starts: np.ndarray           # base cycle of every tile
    output: np.ndarray           # int64, layout of ewssim.engine.functional
    act_reads: int = 0           # activations read from L1 at the left edge
    weight_reads: int = 0        # real weights read by the loader
    psum_reads: int = 0          # partial sums read back from the L1 output buffer
    psum_writes: int = 0         # partial sums written to the L1 output buffer
    out_writes: int = 0          # finished outputs written
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


def simulate(layer: Layer, schedule: TileSchedule, x: np.ndarray, w: np.ndarray, *,
             wrf_depth: int, double_buffer: bool, psums_in_prf: bool = False,
             prf_depth: int | None = None, line_cycles: int = 1, load_mode: str = "lines",
             drain_full_width: bool = False, check_schedule: bool = True,
             max_cycles: int = 5_000_000) -> ReferenceResult:
    """Run ``schedule`` cycle by cycle on operands ``x``, ``w`` (layouts:
    :mod:`ewssim.engine.functional`).

    ``double_buffer`` is the WRF double-buffering switch as configured (it is off anyway when
    the WRF holds fewer than two sets); ``psums_in_prf`` says the psums of a tile's pixels stay
    in the PRF across the reduction folds (chunked order; the tiles' pixel ranges must then fit
    ``prf_depth``) rather than round-tripping through the L1 output buffer.

    ``check_schedule=True`` checks the schedule's load flags and release tiles against our own
    LRU allocation (and raises on a difference); ``False`` runs the schedule's own flags and
    releases instead, so that a wrong schedule shows up as a hazard in the PEs (weights not
    resident, or overwritten while in use).
    """
    s = schedule
    view = conv_view(layer, x, w)
    la = layer
    L, H, t = s.rows, s.cols, s.taps
    n_tiles = len(s)
    if load_mode not in ("lines", "rows"):
        raise ReferenceSimError(f"unknown load mode {load_mode!r}")
    units = unit_fields(layer, t)
    if s.units.shape == units.shape and not np.array_equal(s.units, units):
        raise ReferenceSimError(f"layer '{la.name}': the schedule's unit table differs from the "
                             "model reference's unit order")
    slots = max(1, wrf_depth // t)
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
    used_rows = ((s.g1 - s.g0) * (s.u1 - s.u0)).astype(np.int64)
    used_cols = ((s.g1 - s.g0) * (s.n1 - s.n0)).astype(np.int64)
    set_key: dict[tuple, int] = {}
    set_ids = []
    W = np.zeros((n_tiles, L, H, t), np.int64)          # weights each tile puts in each PE
    real = np.zeros((n_tiles, L, H, t), bool)           # real (non-padded) weights
    col_och = np.full((n_tiles, H), -1, np.int64)       # output channel of every used column
    tag_off = np.zeros(n_tiles + 1, np.int64)           # flat offsets of the feed tables
    tags, vals = [], []
    for k in range(n_tiles):
        g0, g1 = int(s.g0[k]), int(s.g1[k])
        n0, n1, u0, u1 = int(s.n0[k]), int(s.n1[k]), int(s.u0[k]), int(s.u1[k])
        nu, nc = u1 - u0, n1 - n0
        if used_rows[k] > L or used_cols[k] > H:
            raise ReferenceSimError(f"tile {k} needs {used_rows[k]}x{used_cols[k]} PEs, the array "
                                 f"has {L}x{H}")
        set_ids.append(set_key.setdefault((g0, g1, n0, n1, u0, u1), len(set_key)))
        tag = np.full((L, int(P[k]) * t), -1, np.int64)
        val = np.zeros((L, int(P[k]) * t), np.int64)
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
                    if kc < la.kernel_w:
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
        tags.append(tag.ravel())
        vals.append(val.ravel())
        tag_off[k + 1] = tag_off[k] + tag.size
    tag_flat = np.concatenate(tags) if tags else np.zeros(0, np.int64)
    val_flat = np.concatenate(vals) if vals else np.zeros(0, np.int64)

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
        raise ReferenceSimError(f"layer '{la.name}': tile {k}'s load waits for tile {release[k]}, "
                             f"the schedule says {s.release[k]}")
    if psums_in_prf and prf_depth is not None and int(P.max(initial=0)) > prf_depth:
        raise ReferenceSimError(f"a tile streams {int(P.max())} pixels, the PRF holds {prf_depth}")
    load_len = (np.full(n_tiles, L, np.int64) if load_mode == "rows"
                else used_cols * t * line_cycles)
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
    edge_tile = np.full(L, -1, np.int64)      # what enters each row at the left edge
    edge_slot = np.zeros(L, np.int64)
    act_tile = np.full((L, H), -1, np.int64)
    act_slot = np.zeros((L, H), np.int64)
    act_val = np.zeros((L, H), np.int64)
    ptr = np.full((L, H), -1, np.int64)       # per-PE tile pointer
    wrf_set = np.full((L, H, slots, t), -1, np.int64)
    wrf_w = np.zeros((L, H, slots, t), np.int64)
    wrf_when = np.full((L, H, slots, t), -1, np.int64)   # cycle of the last write
    acc = np.zeros((L, H), np.int64)
    ps_val = np.zeros((L, H), np.int64)
    ps_tile = np.full((L, H), -1, np.int64)
    ps_q = np.full((L, H), -1, np.int64)
    win_prev = np.full((L, t), -1, np.int64)
    win_cur = np.full((L, t), -1, np.int64)
    rows_idx = np.arange(L)
    cols_idx = np.arange(H)
    II, JJ = np.meshgrid(rows_idx, cols_idx, indexing="ij")
    set_arr = np.asarray(set_ids, np.int64)

    starts = np.full(n_tiles, -1, np.int64)
    ends = np.full(n_tiles, -1, np.int64)
    remaining = P * (H if drain_full_width else used_cols)
    load_start = np.full(n_tiles, -1, np.int64)
    load_end = np.full(n_tiles, -1, np.int64)    # last cycle of the load
    cur_load = -1
    next_load = 0
    feed_tile, feed_slot = -1, 0              # row 0 feeder
    next_tile = 0
    res = ReferenceResult(cycles=0, starts=starts, output=out)
    finished = 0
    c = 0
    while finished < n_tiles:
        if c > max_cycles:
            raise ReferenceSimError(f"layer '{la.name}': no progress after {max_cycles} cycles "
                                 f"(tile {next_tile} waits, load queue at {next_load})")
        # ---- 1. row-0 feeder: continue the current tile or start the next one
        if feed_tile >= 0 and feed_slot + 1 < P[feed_tile] * t:
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

        # ---- 2. left edge: ARF window, L1 reads, activation values
        fed = edge_tile >= 0
        in_val = np.zeros(L, np.int64)
        if fed.any():
            ek = np.where(fed, edge_tile, 0)
            flat = tag_off[ek] + rows_idx * (P[ek] * t) + edge_slot
            need = np.where(fed, tag_flat[np.where(fed, flat, 0)], -1)
            in_val = np.where(fed, val_flat[np.where(fed, flat, 0)], 0)
            tau = edge_slot % t
            start_pix = fed & (tau == 0)
            restart = start_pix & (edge_slot == 0)
            win_prev[start_pix] = win_cur[start_pix]
            win_prev[restart] = -1
            win_cur[start_pix] = -1
            used = fed & (need >= 0)
            hit = (win_prev == need[:, None]).any(1) | (win_cur == need[:, None]).any(1)
            res.act_reads += int((used & ~hit).sum())
            win_cur[used, tau[used]] = need[used]
        act_tile[:, 1:] = act_tile[:, :-1]
        act_slot[:, 1:] = act_slot[:, :-1]
        act_val[:, 1:] = act_val[:, :-1]
        act_tile[:, 0] = edge_tile
        act_slot[:, 0] = edge_slot
        act_val[:, 0] = in_val

        # ---- 3. PEs: tile pointer, WRF check, MAC, psum
        valid = act_tile >= 0
        new_ps_tile = np.full((L, H), -1, np.int64)
        if valid.any():
            if (act_tile[valid] < ptr[valid]).any():
                raise ReferenceSimError("a PE saw tiles out of order")
            ptr = np.where(valid, act_tile, ptr)
            kk = np.where(valid, act_tile, 0)
            tau = act_slot % t
            q = act_slot // t
            col_used = valid & (JJ < used_cols[kk])
            sl = slot_of_tile[kk]
            wset = wrf_set[II, JJ, sl, tau]
            stale = col_used & ((wset != set_arr[kk]) | (wrf_when[II, JJ, sl, tau] >= c))
            if stale.any():
                i, j = (int(v) for v in np.argwhere(stale)[0])
                raise ReferenceSimError(
                    f"layer '{la.name}': cycle {c}: PE ({i}, {j}) runs tile {kk[i, j]} but its "
                    f"WRF slot {sl[i, j]} holds set {wset[i, j]} (want {set_arr[kk[i, j]]}): "
                    "weights not resident")
            wv = np.where(col_used, wrf_w[II, JJ, sl, tau], 0)
            prod = wv * act_val
            acc = np.where(valid, np.where(tau == 0, prod, acc + prod), acc)
            fin = valid & (tau == t - 1)
            above = np.zeros((L, H), np.int64)
            above[1:] = ps_val[:-1]
            if L > 1:
                bad = fin[1:] & ((ps_tile[:-1] != act_tile[1:]) | (ps_q[:-1] != q[1:]))
                if bad.any():
                    i, j = (int(v) for v in np.argwhere(bad)[0])
                    raise ReferenceSimError(f"cycle {c}: PE ({i + 1}, {j}) missed its psum")
            ps_val = np.where(fin, acc + above, 0)
            new_ps_tile = np.where(fin, act_tile, -1)
            ps_q = np.where(fin, q, -1)
            # ---- results leave the bottom row
            out_j = np.flatnonzero(fin[L - 1])
            for j in out_j.tolist():
                k = int(act_tile[L - 1, j])
                if j >= used_cols[k]:
                    if drain_full_width:
                        remaining[k] -= 1
                        if remaining[k] == 0:
                            ends[k] = c
                            finished += 1
                    continue
                p = int(s.p0[k]) + int(q[L - 1, j])
                o = int(col_och[k, j])
                if done[p, o] and not psums_in_prf:
                    res.psum_reads += 1
                out[p, o] += ps_val[L - 1, j]
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
                ok = r < 0 or ptr[L - 1, 0] >= r
            else:
                ok = bool(np.all((ends[:k] >= 0) & (ends[:k] < c)))
            if ok:
                cur_load, load_start[k] = k, c
                next_load += 1
        if cur_load >= 0:
            k = cur_load
            m = c - int(load_start[k])
            sl = int(slot_of_tile[k])
            if load_mode == "lines":
                if m % line_cycles == 0:
                    line = m // line_cycles
                    j, tau = divmod(line, t)
                    wrf_set[:, j, sl, tau] = set_ids[k]
                    wrf_w[:, j, sl, tau] = W[k, :, j, tau]
                    wrf_when[:, j, sl, tau] = c
                    res.weight_reads += int(real[k, :, j, tau].sum())
            else:  # rows: shift from the top; row i holds its own weights after the last shift
                if m == 0:
                    res.weight_reads += int(real[k].sum())
                if m == L - 1:
                    wrf_set[:, :, sl, :] = set_ids[k]
                    wrf_w[:, :, sl, :] = W[k]
                    wrf_when[:, :, sl, :] = c
                else:
                    wrf_set[:m + 1, :, sl, :] = -2     # in transit
                    wrf_when[:m + 1, :, sl, :] = c
            if m == load_len[k] - 1:
                load_end[k] = c
                cur_load = -1
        c += 1

    res.cycles = int(ends.max(initial=-1)) + 1 + int(s.extra_cycles)
    res.output = view.output_from_pixels(out)
    res.loads, res.load_starts, res.release, res.ends = loads, load_start, release, ends
    return res
