"""Exact timing of the array (ewssim/hw/array.py) on hand-made inputs.

:meth:`GatedArray.run` is driven with hand-made tiles, weight actions and L1 buffers whose
blocks are ready (or freed) at chosen cycles: the loader and the left edge start free at
cycle 0, blocks ready (or slots freed) at cycle 0 count as such, activation block 0 gates its
tiles, a WRF slot released by tile 0, the weight release of a codebook and of a load (its
latency), the first tile of a layer waits for the previous layer, the output slot of block
``halves``, the process wakes on the first of two memory events, a deadlock's message, the
fast-forward's retry every 4 tiles and its refusal once the weight path has loaded the tile
after the run.  :func:`schedule_times`: the fast-forward window must cover the WRF slot
distance, must not span a change of run, needs steady loads and result ends; an empty
schedule's times are int64.  Every expected cycle is worked out by hand in the comments.
Written to kill surviving mutants (docs/testing.md); a mutant that treats a block ready at
cycle 0 as not ready spins at cycle 0 and is caught by mutmut's timeout."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from ewssim.hw.array import GatedArray, TileSchedule, schedule_times
from ewssim.hw.l1 import L1Buffer


def _tiles(n: int, **cols) -> dict:
    """Per-tile columns: stream 1, no load, rows 1, drain 1, double buffered, one layer, no
    activation block, one output block (opened by tile 0, closed by the last), nothing plain."""
    t = dict(stream=[1] * n, load=[0] * n, lat=[0] * n, drain=[1] * n, release=[-1] * n,
             rows=[1] * n, db=[True] * n, layer=[0] * n, act_block=[-1] * n,
             act_last=[False] * n, out_block=[0] * n, out_first=[True] + [False] * (n - 1),
             out_last=[False] * (n - 1) + [True], load_action=[-1] * n,
             plain_end=list(range(n)), regular=[False] * n)
    t.update(cols)
    return t


def _actions(**cols) -> dict:
    a = dict(kind=[], tile=[], cycles=[], w_block=[], w_last=[])
    a.update(cols)
    return a


def _drive(t: dict, a: dict | None = None, *, layers=((0, None),), act_ready=(),
           wgt_ready=(), out_n=1, out_halves=2, out_hold=0, out_pre=(), look_back=0):
    """Run the array process to its end.  ``act_ready`` / ``wgt_ready``: the cycle each block
    is filled; an output block's slot is freed ``out_hold`` cycles after its completion;
    ``out_pre``: (block, cycle) slots freed before the run (blocks no tile writes)."""
    env = simpy.Environment()
    a = a or _actions()
    n = len(t["stream"])
    act = L1Buffer(env, "act", 2, len(act_ready))
    wgt = L1Buffer(env, "weight", 2, len(wgt_ready))
    out = L1Buffer(env, "out", out_halves, out_n)
    for b, when in out_pre:
        out.release(b, when)

    def feed(buf, times):
        for b, when in sorted(times, key=lambda x: x[1]):
            yield env.timeout(when - env.now)
            buf.mark_ready(b)

    for buf, times in ((act, act_ready), (wgt, wgt_ready)):
        for b, when in enumerate(times):
            if when == 0:                # ready before the array process first looks
                buf.mark_ready(b)
        env.process(feed(buf, [(b, w) for b, w in enumerate(times) if w > 0]))
    complete = [simpy.Event(env) for _ in range(out_n)]
    done = {}
    for ob, ev in enumerate(complete):
        def free(_e, ob=ob):
            done[ob] = int(env.now)
            out.release(ob, int(env.now) + out_hold)
        ev.callbacks.append(free)
    first = [f for f, _ in layers]
    last = [n - 1 if e is None else e for _, e in layers]
    g = GatedArray(env, t, a, first, last, act, wgt, out, complete, look_back)
    env.process(g.run())
    env.run()
    assert g.done.triggered
    return g, act, wgt, out, done


# ------------------------------------------------------------------ the loader and the edge

def test_load_from_a_block_ready_at_cycle_zero_starts_at_zero():
    # tile 0 loads 3 cycles (latency 1) from weight block 0, filled at cycle 0: the loader is
    # free at 0 and the block does not hold the load up (not a memory-gated tile).
    # load 0..3, the block's last read at 3 - 1 = 2; stream 3..5, result out at
    # 5 + rows 2 + drain 2 - 2 = 7
    t = _tiles(1, stream=[2], load=[3], lat=[1], rows=[2], drain=[2], load_action=[0])
    a = _actions(kind=[1], tile=[0], cycles=[3], w_block=[0], w_last=[True])
    g, _, wgt, out, done = _drive(t, a, wgt_ready=[0])
    assert (g.action_start, g.action_end, g.load_gate) == ([0], [3], [0])
    assert (g.load_start, g.load_ready) == ([0], [3])
    assert g.base == [3] and g.finish_before == [0, 7] and g.layer_end == [7]
    assert wgt.released_at == [2]
    assert g.mem_tiles == set()
    assert done == {0: 7} and out.released_at == [7]


def test_first_tile_starts_at_zero_on_an_activation_block_ready_at_zero():
    # stream 0..2; activation block 0 read last at 2 + rows 2 - 1 = 3; out at 2 + 2 + 1 - 2
    t = _tiles(1, stream=[2], rows=[2], act_block=[0], act_last=[True])
    g, act, _, _, done = _drive(t, act_ready=[0])
    assert g.base == [0] and g.finish_before == [0, 3]
    assert act.released_at == [3] and g.mem_tiles == set() and done == {0: 3}


def test_activation_block_zero_gates_its_tiles():
    # block 0 is filled at 4: tile 0 starts at 4 (a memory-gated tile), tile 1 at 4 + 2;
    # results out at 4 + 2 + 3 + 2 - 2 = 9 and 11; block 0 read last at 8 + 3 - 1 = 10
    t = _tiles(2, stream=[2, 2], rows=[3, 3], drain=[2, 2], act_block=[0, 0],
               act_last=[False, True])
    g, act, _, _, done = _drive(t, act_ready=[4])
    assert g.base == [4, 6] and g.finish_before == [0, 9, 11]
    assert act.released_at == [10] and g.mem_tiles == {0} and done == {0: 11}


# ------------------------------------------------------------------ the weight path

def test_codebook_and_load_release_their_weight_blocks():
    # codebook (block 0, ready at 2): 2..6, released at its end 6; the load of tile 0
    # (block 1, ready at 1) waits for the loader: 6..8, latency 1 -> released at 7;
    # stream 8..9, out at 9 + 1 + 1 - 2 = 9
    t = _tiles(1, load=[2], lat=[1], load_action=[1])
    a = _actions(kind=[0, 1], tile=[0, 0], cycles=[4, 2], w_block=[0, 1], w_last=[True, True])
    g, _, wgt, _, done = _drive(t, a, wgt_ready=[2, 1])
    assert (g.action_start, g.action_end) == ([2, 6], [6, 8])
    assert (g.load_start, g.load_ready, g.load_gate) == ([6], [8], [0, 0])
    assert wgt.released_at == [6, 7]
    assert g.base == [8] and g.finish_before == [0, 9] and done == {0: 9}
    assert g.mem_tiles == {0}          # a codebook load marks its tile


def test_slot_released_by_tile_zero_waits_for_it_in_the_bottom_row():
    # rows 3, double buffered.  tile 0: load 0..2, stream 2..6, out 6 + 3 + 2 - 2 = 9;
    # tile 1 loads into tile 0's slot, free when tile 0 starts in the bottom row:
    # 2 + 3 - 1 = 4; load 4..7, stream 7..8, out 8 + 3 + 1 - 2 = 10
    t = _tiles(2, stream=[4, 1], load=[2, 3], release=[-1, 0], rows=[3, 3], drain=[2, 1],
               load_action=[0, 1])
    a = _actions(kind=[1, 1], tile=[0, 1], cycles=[2, 3], w_block=[0, 0],
                 w_last=[False, True])
    g, _, wgt, _, done = _drive(t, a, wgt_ready=[0])
    assert (g.load_start, g.load_ready, g.load_gate) == ([0, 4], [2, 7], [0, 4])
    assert g.base == [2, 7] and g.finish_before == [0, 9, 10]
    assert wgt.released_at == [7] and done == {0: 10} and g.mem_tiles == set()


# ------------------------------------------------------------------ layers and outputs

def test_first_tile_of_a_layer_waits_for_the_previous_layer():
    # layer 0 (tile 0): stream 0..2, out 2 + 2 + 3 - 2 = 5; layer 1 (tile 1) may start only
    # then, though the edge is free at 2: stream 5..6, out 6 + 2 + 3 - 2 = 9
    t = _tiles(2, stream=[2, 1], rows=[2, 2], drain=[3, 3], layer=[0, 1], out_block=[0, 1],
               out_first=[True, True], out_last=[True, True])
    g, _, _, _, done = _drive(t, layers=((0, 0), (1, 1)), out_n=2)
    assert g.base == [0, 5] and g.layer_end == [5, 9] and g.finish_before == [0, 5, 9]
    assert done == {0: 5, 1: 9} and g.mem_tiles == set()


def test_output_block_of_index_halves_waits_for_its_slot():
    # one output slot: tile 0 fills block 0 (out at 2, drained 3 cycles later: free at 5);
    # tile 1 opens block 1 in the same slot: starts at 5, not 2 (a memory-gated tile)
    t = _tiles(2, stream=[2, 1], out_block=[0, 1], out_first=[True, True],
               out_last=[True, True])
    g, _, _, out, done = _drive(t, out_n=2, out_halves=1, out_hold=3)
    assert g.base == [0, 5] and g.finish_before == [0, 2, 6]
    assert done == {0: 2, 1: 6} and out.released_at == [5, 9] and g.mem_tiles == {1}


def test_output_slot_freed_at_cycle_zero_is_free():
    # block 1 shares its slot with block 0, freed at cycle 0: tile 0 starts at 0, out at 1
    t = _tiles(1, out_block=[1])
    g, _, _, _, done = _drive(t, out_n=2, out_halves=1, out_pre=((0, 0),))
    assert g.base == [0] and done == {1: 1} and g.mem_tiles == set()


# ------------------------------------------------------------------ fast-forward

def test_no_fast_forward_when_the_tile_after_the_run_is_loaded():
    # 25 tiles, stream 2, rows 2, drain 1, loads of 1 cycle from a block ready at 0; tiles
    # 0..5 load into empty slots, tile k >= 6 into tile k-6's (slot distance 6); tiles 7..22
    # plain.  Loads 0..5 back to back (k..k+1); tile 0 starts at 1, then every tile when the
    # edge frees: base k = 1 + 2k, result out at base + 3.  Load k >= 6 waits for tile
    # k-6 in the bottom row (1 + 2(k-6) + 1 = 2k - 10) and the loader: k..k+1 up to k = 10,
    # then 2k-10..2k-9.  The weight path loads 6 tiles per turn (0..5, 6..11, ...), so when
    # the array reaches tile 19 (first fast-forward try after the window is steady) it has
    # loaded up to tile 23, the first tile after the run: no jump.
    n = 25
    t = _tiles(n, stream=[2] * n, load=[1] * n, rows=[2] * n,
               release=[-1] * 6 + list(range(n - 6)), load_action=list(range(n)),
               plain_end=list(range(7)) + [23] * 16 + [23, 24])
    a = _actions(kind=[1] * n, tile=list(range(n)), cycles=[1] * n, w_block=[0] * n,
                 w_last=[False] * (n - 1) + [True])
    g, _, wgt, _, done = _drive(t, a, wgt_ready=[0], look_back=6)
    ls = [k for k in range(11)] + [2 * k - 10 for k in range(11, n)]
    assert g.load_start == ls and g.load_ready == [x + 1 for x in ls]
    assert g.load_gate == [0] * 6 + [2 * k - 10 for k in range(6, n)]
    assert g.base == [1 + 2 * k for k in range(n)]
    assert g.finish_before == [0] + [2 * k + 4 for k in range(n)]
    assert g.jumped == [0]
    assert done == {0: 52} and wgt.released_at == [2 * 24 - 9]


def test_fast_forward_tries_every_fourth_tile_and_jumps_a_run_of_four():
    # 10 tiles, stream 2, no loads, no memory gates: tile k starts at 2k, result out at
    # 2k + 2.  Tiles 1..8 plain (tile 9 ends the run).  The first try (tile 1) has no
    # window before tile 0 and fails; the next is 4 tiles later, at tile 5: window 3..4
    # steady (2 per tile), the 4 tiles 5..8 are filled in at once.
    n = 10
    t = _tiles(n, stream=[2] * n, plain_end=[0] + [9] * 8 + [9])
    g, _, _, _, done = _drive(t, look_back=5)
    assert g.jumped == [4]
    assert g.base == [2 * k for k in range(n)]
    assert g.finish_before == [0] + [2 * k + 2 for k in range(n)]
    assert done == {0: 20} and g.layer_end == [20]


def test_deadlock_raises_with_tile_and_action():
    # tile 0 waits for its load (action 0), which loads tile 1 single buffered: it waits for
    # tile 0 to drain, and no memory event can end the wait
    t = _tiles(2, load=[0, 1], db=[False, False], load_action=[0, -1])
    a = _actions(kind=[1], tile=[1], cycles=[1], w_block=[0], w_last=[True])
    with pytest.raises(RuntimeError,
                       match=r"^array and weight path wait for each other \(tile 0, action 0\)$"):
        _drive(t, a, wgt_ready=[0])


def test_array_wakes_on_the_first_of_two_memory_events():
    # at cycle 0 the weight path waits for weight block 0 (ready at 10) and the array for
    # activation block 0 (ready at 3): the process wakes at 3, starts tile 0 there and hands
    # its output block over at its result end 3 + 1 + 1 + 1 - 2 = 4 (not at 10).  Tile 1
    # loads 10..11 and streams 11..12, result out at 12; block 0 read last at 12 + 1 - 1
    t = _tiles(2, load=[0, 1], load_action=[-1, 0], act_block=[0, 0],
               act_last=[False, True], out_block=[0, 1], out_first=[True, True],
               out_last=[True, True])
    a = _actions(kind=[1], tile=[1], cycles=[1], w_block=[0], w_last=[True])
    g, act, wgt, _, done = _drive(t, a, act_ready=[3], wgt_ready=[10], out_n=2)
    assert g.base == [3, 11] and g.finish_before == [0, 4, 12]
    assert done == {0: 4, 1: 12}
    assert (g.load_start, g.load_ready) == ([-1, 10], [0, 11])
    assert act.released_at == [12] and wgt.released_at == [11] and g.mem_tiles == {0, 1}


# ------------------------------------------------------------------ schedule_times

def test_fast_forward_window_covers_the_wrf_slot_distance():
    # 16 tiles, stream 1, load 1, rows 4, drain 1, double buffered, slot distance 3.
    # Tiles 0..2 load into empty slots back to back (0..1, 1..2, 2..3) and start at 1, 2, 3;
    # tile k >= 3 loads when tile k-3 is in the bottom row (base + 3): tile 3 loads 4..5,
    # starts 5; 4: 5..6, 6; 5: 6..7, 7; 6: 8..9, 9; ... a period of 3 tiles advancing 1, 1, 2:
    # base k = 1 + k + k // 3.  A window shorter than the slot distance + 2 would see two
    # steps of 1 and extrapolate them.  Last result: 21 + 1 + 4 + 1 - 2 = 25.
    n = 16
    z = np.zeros(n, np.int64)
    s = TileSchedule(g0=z, g1=z + 1, n0=z, n1=z + 1, u0=z, u1=z + 1, p0=z, p1=z + 1,
                     load_cycles=z + 1,
                     release=np.asarray([-1, -1, -1] + list(range(n - 3)), np.int64),
                     drain_cols=z + 1, taps=1, rows=4, cols=4, double_buffer=True)
    base, total = schedule_times(s)
    assert base.tolist() == [1 + k + k // 3 for k in range(n)]
    assert base.tolist()[:8] == [1, 2, 3, 5, 6, 7, 9, 10]
    assert total == 25


def _uniform(stream, load, release, drain, *, rows, db=True) -> TileSchedule:
    n = len(stream)
    z = np.zeros(n, np.int64)
    a = lambda x: np.asarray(x, np.int64)  # noqa: E731
    return TileSchedule(g0=z, g1=z + 1, n0=z, n1=z + 1, u0=z, u1=z + 1, p0=z, p1=a(stream),
                        load_cycles=a(load), release=a(release), drain_cols=a(drain), taps=1,
                        rows=rows, cols=4, double_buffer=db)


def test_fast_forward_does_not_extrapolate_across_a_new_run():
    # no loads: tile k starts when tile k-1's stream ends (0, 2, 4, then 3 apart); tiles 0..1
    # advance 2 per tile, tiles 2..6 (a new run) 3: the last result 16 + 3 + 2 + 2 - 2 = 21
    for db in (True, False):
        s = _uniform([2, 2, 3, 3, 3, 3, 3], [0] * 7, [-1] * 7, [3, 3, 2, 2, 2, 2, 2], rows=2,
                     db=db)
        base, total = schedule_times(s)
        assert base.tolist() == [0, 2, 4, 7, 10, 13, 16] and total == 21


def test_fast_forward_needs_the_loads_steady_too():
    # rows 5, double buffered, slot distance 5.  Tiles 0..4 load 5 cycles each into empty
    # slots (0..25), tile 5 2 cycles (25..27); tiles 6..12 stream 5 without loads.  Tiles
    # 13..25 stream 4 and load 5: their loads (gated by tile k-5 in the bottom row, base + 4)
    # run back to back from 46 and fall behind by a cycle per tile: 13..17 end 51..71 (gate
    # bound), 18..25 end 76..111 (loader bound), while the tiles advance 4 (67..115): a window
    # of steady starts but not steady loads.  Tile 26 loads 111..116 and starts when the edge
    # frees (119); tile 27 loads 116..121 and starts at 121; last result 121+1+5+4-2 = 129.
    stream = [4] * 5 + [3] + [5] * 7 + [4] * 13 + [1, 1]
    load = [5] * 5 + [2] + [0] * 7 + [5] * 15
    release = [-1] * 5 + list(range(23))
    drain = [5] * 5 + [4] + [3] * 7 + [1] * 13 + [4, 4]
    base, total = schedule_times(_uniform(stream, load, release, drain, rows=5))
    assert base.tolist() == [5, 10, 15, 20, 25, 29, 32, 37, 42, 47, 52, 57, 62] + \
        [67 + 4 * k for k in range(13)] + [119, 121]
    assert total == 129


def test_times_of_an_empty_schedule_are_an_int64_array():
    base, total = schedule_times(_uniform([], [], [], [], rows=3))
    assert base.dtype == np.int64 and base.shape == (0,) and total == 0


def test_fast_forward_needs_the_result_ends_steady_too():
    # rows 1, no loads: tile k starts at k.  Tile 0 (drain 20) ends at 1 + 1 + 20 - 2 = 20;
    # tiles 1..11 (drain 1, 2..11 a plain run) end at k + 1 <= 12: the layer ends at 20.  The
    # starts advance 1 per tile but the last result end does not move: nothing to extrapolate.
    n = 12
    base, total = schedule_times(_uniform([1] * n, [0] * n, [-1] * n, [20] + [1] * (n - 1),
                                          rows=1))
    assert base.tolist() == list(range(n)) and total == 20
