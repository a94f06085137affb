"""The systolic array: cycles of a tile schedule, closed form inside each tile.

Geometry: ``rows`` (L) PEs along the reduction axis, ``cols`` (H) along the output axis.  An
activation for stream slot ``s`` enters row ``i`` at the left edge at ``base + s + i`` and moves
one column per cycle, so PE ``(i, j)`` works on slot ``s`` at cycle ``base + s + i + j``.  With
``taps`` cycles per pixel, PE ``(i, j)`` spends cycles ``base + q*taps + i + j + [0, taps)`` on
pixel ``q`` and adds the partial sum arriving from the PE above in the last of those cycles; the
result for pixel ``q`` leaves the bottom of column ``j`` at the end of cycle
``base + q*taps + (L - 1) + j + taps - 1``.

A tile of ``P`` pixels therefore occupies the left edge for ``P * taps`` cycles (its *stream*)
and its last result leaves ``L + D - 2`` cycles after the stream ends, ``D`` being the columns
its last wave must cross (``drain_cols``).  Back-to-back tiles pipeline: each PE switches to the
next tile's weights when the next tile's first slot reaches it.

Weight loads (docs/model-reference.md, "Array timing"):

* with WRF double buffering, the loader (one load at a time, in tile order) may write tile
  ``i``'s weights once the slot it overwrites is released: when tile ``release[i]`` has started
  in the bottom row, i.e. at ``base[release[i]] + L - 1``;
* without it, a load starts only when every earlier tile has drained out of the array;
* a tile starts streaming when its weights are all loaded and the previous tile's stream ended.

``schedule_times`` returns every tile's start (``base``), and ``schedule_cycles`` the layer's
cycle count: the end of the last result plus ``extra_cycles``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import simpy

from ewssim.hw.port import succeed_at

#: the shortest run of plain tiles worth a fast-forward attempt
_MIN_JUMP = 4


@dataclass
class TileSchedule:
    """Structure of arrays, one entry per array tile, in execution order.

    A tile keeps one set of weights stationary in the array while output pixels ``p0:p1`` stream
    through it, ``taps`` cycles per pixel.  Groups ``g0:g1`` are packed block-diagonally: packed
    group ``j`` puts its reduction units ``u0:u1`` on rows ``j*(u1-u0)...`` and its output
    channels ``n0:n1`` on columns ``j*(n1-n0)...`` (one group per tile unless a whole group
    fits in the array, see :mod:`ewssim.dataflow.tiling`).

    ``drain_cols[i]`` is how many columns the last wave of tile ``i`` must cross to leave the
    array (the used columns for ewssim's own dataflows; the full width for SCALE-Sim parity).
    ``load_cycles[i]`` is the time the weight path needs to put tile ``i``'s weights into the
    PEs (0 when they are already resident in the WRF).  ``release[i]`` names the tile whose
    start frees the WRF bank that tile ``i`` loads into (-1: a bank is free from the start).
    """

    g0: np.ndarray
    g1: np.ndarray
    n0: np.ndarray
    n1: np.ndarray
    u0: np.ndarray
    u1: np.ndarray
    p0: np.ndarray
    p1: np.ndarray
    load_cycles: np.ndarray
    release: np.ndarray
    drain_cols: np.ndarray
    taps: int
    rows: int
    cols: int
    double_buffer: bool
    pack: int = 1
    #: reduction units per tile (the logical rows); differs from ``rows`` (the physical PEs a
    #: partial sum crosses) only on the sparsity-aware array
    logical_rows: int = 0
    #: cycles per (pixel, tap) slot: 1, or NNZ_a for time-unrolled activation blocks (S2TA-AW)
    slot_cycles: int = 1
    #: cycles added once per layer (used by the SCALE-Sim parity plug-in; 0 otherwise)
    extra_cycles: int = 0
    #: reduction unit -> (channel-in-group, kernel row, first kernel column) lookup, shape (U, 3)
    units: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 3), np.int64))

    def __len__(self) -> int:
        return int(self.n0.shape[0])

    @property
    def stream_cycles(self) -> np.ndarray:
        return (self.p1 - self.p0) * self.taps * self.slot_cycles

    @property
    def used_cols(self) -> np.ndarray:
        return (self.g1 - self.g0) * (self.n1 - self.n0)

    @property
    def used_rows(self) -> np.ndarray:
        return (self.g1 - self.g0) * (self.u1 - self.u0)


def column(x: np.ndarray) -> memoryview:
    """An array to be read one element at a time in a Python loop: a memoryview of it gives
    plain Python ints and bools about as fast as a list, several times faster than numpy
    indexing, and costs nothing to make from a contiguous array (a list costs a Python object
    per element, although the fast-forward reads only a few of a long run's tiles)."""
    return memoryview(np.ascontiguousarray(x))


def _plain_end(s: TileSchedule) -> memoryview:
    """Per tile, the first tile at or after it that does not repeat its predecessor (same
    stream, load, drain and WRF slot distance; a load into an empty slot never repeats)."""
    n = len(s)
    idx = np.arange(n)
    has = s.load_cycles > 0
    off = np.where(s.release >= 0, idx - s.release, -1)
    same = np.ones(n, bool)
    if n:
        same[0] = False
    for x in (s.stream_cycles, s.load_cycles, s.drain_cols, off):
        same[1:] &= x[1:] == x[:-1]
    same &= ~has | (off >= 0) | (not s.double_buffer)
    stops = np.append(np.flatnonzero(~same), n)
    return column(stops[np.searchsorted(stops, idx)])


def schedule_times(s: TileSchedule) -> tuple[np.ndarray, int]:
    """(start cycle of every tile, total cycles) for ideal memory.

    Runs of tiles that repeat their predecessor are fast-forwarded once their times advance
    by the same amount per tile over a window longer than the recurrence looks back (the
    WRF slot distance + 2): the recurrence is max-plus, so every later tile of the run is the
    previous one shifted (see :meth:`GatedArray._fast_forward`)."""
    L = s.rows
    stream, load, release, drain = (column(x) for x in (
        s.stream_cycles, s.load_cycles, s.release, s.drain_cols))
    n = len(stream)
    base = [0] * n
    rdy = [0] * n     # load end of every tile (0: no load)
    fin = [0] * (n + 1)   # finish after each tile
    plain_end = _plain_end(s) if n > _MIN_JUMP else [0] * n
    loader_free = 0   # when the weight path can begin the next load
    prev_end = 0      # when the left edge is free (previous tile's stream ended)
    finish = 0        # end of the last result so far (exclusive)
    db = s.double_buffer
    next_try = 0
    i = 0
    while i < n:
        ready = 0
        if load[i]:
            if db:
                r = release[i]
                free = base[r] + L - 1 if r >= 0 else 0
            else:
                free = finish
            start = loader_free if loader_free > free else free
            ready = start + load[i]
            loader_free = ready
        b = prev_end if prev_end > ready else ready
        base[i] = b
        rdy[i] = ready
        prev_end = b + stream[i]
        end = prev_end + L + drain[i] - 2
        if end > finish:
            finish = end
        fin[i + 1] = finish
        i += 1
        if i < n and plain_end[i] - i >= _MIN_JUMP and i >= next_try:
            te = plain_end[i]
            off = i - release[i] if db and load[i] else 0
            lo = i - off - 3
            d = base[i - 1] - base[i - 2] if i >= 2 else 0
            ok = lo >= 0 and d > 0 and plain_end[lo + 1] == te
            j = lo + 1
            while ok and j < i:
                ok = (base[j] - base[j - 1] == d and fin[j + 1] - fin[j] == d
                      and rdy[j] - rdy[j - 1] == (d if load[j] else 0))
                j += 1
            if not ok:
                next_try = i + 4
                continue
            m = te - i
            base[i:te] = range(base[i - 1] + d, base[i - 1] + d * (m + 1), d)
            fin[i + 1:te + 1] = range(fin[i] + d, fin[i] + d * (m + 1), d)
            if load[i]:
                rdy[i:te] = range(rdy[i - 1] + d, rdy[i - 1] + d * (m + 1), d)
                loader_free = rdy[te - 1]
            prev_end = base[te - 1] + stream[te - 1]
            finish = fin[te]
            i = te
    return np.asarray(base, dtype=np.int64), finish + s.extra_cycles


def schedule_cycles(s: TileSchedule) -> int:
    return schedule_times(s)[1]


# ============================================================================ with memories

def _shift_tail(arr: list, i: int, n: int, d: int, look: int) -> None:
    """Fill ``arr[i:i+n]`` as ``arr[i-1]`` advanced by ``d`` per entry -- only its last
    ``look`` entries: nothing reads further back into a fast-forwarded run than the WRF slot
    distance + 2 tiles (the next tiles' slot releases; the next fast-forward's window lies in
    its own run), and writing millions of unread times would cost more than the run."""
    k = max(i, i + n - look)
    v = arr[i - 1] + d * (k - i + 1)
    arr[k:i + n] = range(v, v + d * (i + n - k), d)


def _first_of(env, events: list) -> simpy.Event:
    """An event that succeeds when the first of ``events`` is processed (as simpy's ``AnyOf``,
    without its bookkeeping of every event's value)."""
    wake = simpy.Event(env)

    def fire(_e):
        if not wake.triggered:
            wake.succeed()
    for ev in events:
        ev.callbacks.append(fire)
    return wake


class GatedArray:
    """The array and its weight path over a whole network, gated by the memories.

    Two cursors advance through the network in simulated time (docs/model-reference.md §4):

    * the **weight path** performs its actions in order (:mod:`ewssim.dataflow.blocks`): a
      codebook (re)load into the CRF takes ``cycles`` once the loader is free and its weight
      block is in L1; a tile load starts when the loader is free, its block is in L1, the WRF
      slot it overwrites is released (double buffering: the tile named by ``release`` has
      started in the bottom row; otherwise: every earlier tile has drained) and, for a layer's
      loads into empty slots, the previous layer has finished;
    * the **array** starts tile ``k`` when the previous tile's stream has ended, its load is
      done, its activation block is in L1, the output slot of its output block is free and
      (first tile of a layer) the previous layer has finished.

    Between the memories' events each cursor runs as far as it can (closed form per tile);
    when both wait for an event that has not happened, the process waits for it.  The times
    it computes never lie before the current cycle, so every release and completion reaches
    the memories' processes in time.

    Arrays are over the network's tiles ``t`` and weight actions ``a`` (global indices):
    ``stream, load, lat, drain, release, rows, db, layer`` per tile; ``act_block`` /
    ``act_last``, ``out_block`` / ``out_first`` / ``out_last`` per tile; ``kind, tile,
    cycles, w_block, w_last`` per action; ``layer_first`` / ``layer_last`` per layer.
    """

    def __init__(self, env, t: dict, a: dict, layer_first, layer_last, act, wgt, out,
                 out_complete, look_back: int):
        self.env = env
        self.out_complete = out_complete
        self.t, self.a = t, a
        self.layer_first, self.layer_last = list(layer_first), list(layer_last)
        self.act, self.wgt, self.out = act, wgt, out
        n = len(t["stream"])
        self.base = [0] * n
        self.load_start = [-1] * n
        self.load_ready = [0] * n
        self.finish_before = [0] * (n + 1)   # latest result end among tiles < t
        self.action_start = [0] * len(a["kind"])
        self.action_end = [0] * len(a["kind"])
        #: per action: the cycle before which a load waits for compute (its WRF slot, the
        #: previous layer); tiles whose start a memory gate delayed (for stall attribution)
        self.load_gate = [0] * len(a["kind"])
        self.mem_tiles: set[int] = set()
        self.layer_end = [0] * len(self.layer_first)
        self.layer_of_first = {f: i for i, f in enumerate(self.layer_first)}
        self.jumped = [0] * len(self.layer_first)    # tiles fast-forwarded, per layer
        #: how far back in a fast-forwarded run a later tile may look (its WRF slot's tile)
        self.look = look_back + 3
        self.done = simpy.Event(env)

    # ------------------------------------------------------------------ the process
    def run(self):
        """The process: both cursors, as the class describes.  One function of about 125
        lines on purpose: it is the engine's inner loop (every tile that is not
        fast-forwarded passes through it), and the per-tile arrays are bound to locals once;
        split into methods, each tile would pay for the calls and attribute lookups."""
        env = self.env
        t, a = self.t, self.a
        n_t, n_a = len(t["stream"]), len(a["kind"])
        stream, lat, drain, release = t["stream"], t["lat"], t["drain"], t["release"]
        loadc, rows, db, layer_of = t["load"], t["rows"], t["db"], t["layer"]
        act_block, act_last = t["act_block"], t["act_last"]
        out_block, out_first, out_last = t["out_block"], t["out_first"], t["out_last"]
        kind, a_tile, a_cyc, w_block, w_last = (a["kind"], a["tile"], a["cycles"],
                                                 a["w_block"], a["w_last"])
        load_action = t["load_action"]
        act, wgt, out = self.act, self.wgt, self.out
        base, ls, lr, fb = self.base, self.load_start, self.load_ready, self.finish_before
        plain_end = t["plain_end"]
        next_try = 0
        ai = 0            # next weight action
        ti = 0            # next tile
        loader_free = 0
        prev_end = 0
        finish = 0
        while ti < n_t or ai < n_a:
            waits = []
            progress = True
            while progress:
                progress = False
                # ---- weight path
                while ai < n_a:
                    wb = w_block[ai]
                    if wgt.ready_at[wb] < 0:
                        waits.append(wgt.ready_event(wb))
                        break
                    wready = wgt.ready_at[wb]
                    if kind[ai] == 0:          # codebook (re)load
                        start = max(loader_free, wready)
                        end = start + a_cyc[ai]
                        read_end = end
                        self.mem_tiles.add(a_tile[ai])
                    else:
                        k = a_tile[ai]
                        lay = layer_of[k]
                        gate = 0
                        if db[k]:
                            r = release[k]
                            if r >= 0:
                                if r >= ti:
                                    break          # that tile has not started yet
                                gate = base[r] + rows[k] - 1
                            else:
                                if ti < self.layer_first[lay]:
                                    break          # the previous layer is still running
                                gate = self._layer_start(lay)
                        else:
                            if ti < k:
                                break              # earlier tiles still to drain
                            gate = max(fb[k], self._layer_start(lay))
                        cstart = max(loader_free, gate)
                        start = max(cstart, wready)
                        if wready > cstart:
                            self.mem_tiles.add(k)
                        self.load_gate[ai] = gate
                        end = start + loadc[k]
                        read_end = end - lat[k]
                        ls[k], lr[k] = start, end
                    self.action_start[ai], self.action_end[ai] = start, end
                    loader_free = end
                    if w_last[ai]:
                        wgt.release(wb, read_end)
                    ai += 1
                    progress = True
                # ---- array
                while ti < n_t:
                    k = ti
                    b = prev_end
                    if load_action[k] >= 0:
                        if load_action[k] >= ai:
                            break                  # its load is not done
                        b = max(b, lr[k])
                    lay = layer_of[k]
                    if k == self.layer_first[lay]:
                        b = max(b, self._layer_start(lay))
                    cb = b
                    ab = act_block[k]
                    if ab >= 0:
                        if act.ready_at[ab] < 0:
                            waits.append(act.ready_event(ab))
                            break
                        b = max(b, act.ready_at[ab])
                    if out_first[k]:
                        ob = out_block[k]
                        if ob >= out.halves:
                            rel = out.released_at[ob - out.halves]
                            if rel < 0:
                                waits.append(out.slot_free_event(ob))
                                break
                            b = max(b, rel)
                    if b > cb:
                        self.mem_tiles.add(k)
                    base[k] = b
                    prev_end = b + stream[k]
                    end = prev_end + rows[k] + drain[k] - 2
                    if end > finish:
                        finish = end
                    fb[k + 1] = finish
                    if act_last[k]:
                        act.release(act_block[k], prev_end + rows[k] - 1)
                    if out_last[k]:
                        self.complete(out_block[k], finish)
                    if k == self.layer_last[lay]:
                        self.layer_end[lay] = finish
                    ti += 1
                    progress = True
                    if plain_end[ti if ti < n_t else n_t - 1] - ti >= _MIN_JUMP and \
                            ti >= next_try:
                        jumped = self._fast_forward(ti, ai, loader_free)
                        if jumped is None:
                            next_try = ti + 4
                        else:
                            ti, ai, loader_free, prev_end, finish = jumped
            if ti >= n_t and ai >= n_a:
                break
            if not waits:
                raise RuntimeError(f"array and weight path wait for each other (tile {ti}, "
                                   f"action {ai})")
            yield _first_of(env, waits)        # also for one event: one wake path
        self.done.succeed()

    def _fast_forward(self, ti: int, ai: int, loader_free: int):
        """Jump over the rest of a run of plain tiles once it is in a steady state.

        Tiles ``ti .. te-1`` repeat their predecessor (``t["plain"]``: same parameters and
        blocks, no block opened or closed, loads back to back), so the recurrence that times
        them (start, load start and end, result end; max-plus, shift-equivariant) depends only
        on the last few tiles.  Those may include *regular* tiles (same parameters, opening or
        closing a block) whose memory gates did not bind: their times followed the same
        recurrence (:meth:`_quiet`).  If over a window longer than its look-back (the WRF slot
        distance + 2) every one of those times advanced by the same ``D`` per tile, every
        later tile of the run is the previous one shifted by ``D``: fill them in at once.
        The memory gates cannot bind inside the run (its blocks were ready before its first
        tile).  Returns the new (tile, action, loader_free, prev_end, finish) or ``None``."""
        t, a = self.t, self.a
        plain_end = t["plain_end"]
        te = plain_end[ti]
        loads = t["load"][ti] > 0
        off = ti - t["release"][ti] if loads and t["db"][ti] else 0
        w = off + 3
        lo = ti - w
        if lo < 0:
            return None
        if plain_end[lo + 1] != te and not self._quiet(lo + 1, ti):
            return None
        base, fb = self.base, self.finish_before
        d = base[ti - 1] - base[ti - 2]
        if d <= 0:
            return None
        for j in range(lo + 1, ti):
            if base[j] - base[j - 1] != d or fb[j + 1] - fb[j] != d:
                return None
        ls, lr = self.load_start, self.load_ready
        lt = ti - 1
        if loads:
            if ai == 0 or a["kind"][ai - 1] != 1:
                return None
            lt = a["tile"][ai - 1]
            if not ti - 1 <= lt < te:
                return None
            for j in range(lo + 1, lt + 1):
                if ls[j] - ls[j - 1] != d or lr[j] - lr[j - 1] != d:
                    return None
            if self.load_gate[ai - 1] - self.load_gate[ai - 2] != d:
                return None
        n = te - ti
        _shift_tail(base, ti, n, d, self.look)
        _shift_tail(fb, ti + 1, n, d, self.look)
        if loads and lt < te - 1:
            m = te - 1 - lt
            for arr in (ls, lr):
                _shift_tail(arr, lt + 1, m, d, self.look)
            for arr in (self.action_start, self.action_end, self.load_gate):
                _shift_tail(arr, ai, m, d, self.look)
            ai += m
            loader_free = lr[te - 1]
        self.jumped[t["layer"][ti]] += n
        return te, ai, loader_free, base[te - 1] + t["stream"][te - 1], fb[te]

    def _quiet(self, j: int, ti: int) -> bool:
        """Whether every tile ``j .. ti-1`` is plain, or regular with no memory gate binding
        (its times then follow the plain recurrence: a window of them may show a steady state,
        as across the boundary of two blocks that were ready in time)."""
        plain_end, regular, mem = self.t["plain_end"], self.t["regular"], self.mem_tiles
        while j < ti:
            if plain_end[j] == j:                   # not plain
                if not regular[j] or j in mem:
                    return False
                j += 1
            else:
                j = plain_end[j]
        return True

    def _layer_start(self, lay: int) -> int:
        """When layer ``lay`` may begin: the previous layer's last result is out."""
        return self.layer_end[lay - 1] if lay else 0

    def complete(self, ob: int, when: int) -> None:
        """Output block ``ob``'s last result leaves the array at ``when``."""
        succeed_at(self.out_complete[ob], when)
