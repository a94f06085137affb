"""Exact behaviour of the array's timing (ewssim/hw/array.py) on hand-made tile schedules: the
schedule's derived columns, the plain-run detection, the tile recurrence with and without
WRF double buffering, the fast-forward against a plain loop, and the pieces of
:class:`GatedArray` that can be driven without the memories.  Written to kill surviving
mutants (docs/testing.md)."""

from __future__ import annotations

import numpy as np
import pytest
import simpy
from test_fast_forward import _naive_times
from test_reference_memory import KV_CACHE, run_both

from ewssim.config import preset
from ewssim.hw.array import (
    _MIN_JUMP,
    GatedArray,
    TileSchedule,
    _first_of,
    _plain_end,
    _shift_tail,
    schedule_cycles,
    schedule_times,
)
from ewssim.workload.layers import Layer, Network


def _sched(stream, load, release, drain, *, rows=3, db=True, extra=0, taps=1,
           slot_cycles=1) -> TileSchedule:
    """One tile per entry; ``stream`` in pixels (times ``taps * slot_cycles`` cycles)."""
    n = len(stream)
    z = np.zeros(n, np.int64)
    return TileSchedule(g0=z, g1=z + 1, n0=z, n1=z + 1, u0=z, u1=z + 1, p0=z,
                        p1=np.asarray(stream, np.int64), load_cycles=np.asarray(load, np.int64),
                        release=np.asarray(release, np.int64),
                        drain_cols=np.asarray(drain, np.int64), taps=taps, rows=rows, cols=4,
                        double_buffer=db, extra_cycles=extra, slot_cycles=slot_cycles)


# ------------------------------------------------------------------ TileSchedule

def test_schedule_columns_and_defaults():
    a = np.asarray
    s = TileSchedule(g0=a([0, 2]), g1=a([2, 3]), n0=a([1, 0]), n1=a([4, 5]), u0=a([0, 3]),
                     u1=a([5, 4]), p0=a([2, 0]), p1=a([7, 3]), load_cycles=a([1, 0]),
                     release=a([-1, 0]), drain_cols=a([6, 5]), taps=3, rows=8, cols=8,
                     double_buffer=True, slot_cycles=2)
    assert len(s) == 2
    assert s.stream_cycles.tolist() == [5 * 3 * 2, 3 * 3 * 2]
    assert s.used_cols.tolist() == [2 * 3, 1 * 5]
    assert s.used_rows.tolist() == [2 * 5, 1 * 1]
    assert (s.pack, s.logical_rows, s.extra_cycles) == (1, 0, 0)
    assert s.units.shape == (0, 3) and s.units.dtype == np.int64
    t = _sched([1], [0], [-1], [1])
    assert t.slot_cycles == 1 and len(_sched([], [], [], [])) == 0


# ------------------------------------------------------------------ _plain_end

def test_plain_end_marks_runs_of_repeating_tiles():
    # tiles:          0  1  2  3  4  5  6  7
    s = _sched([2, 2, 2, 3, 3, 3, 3, 3], [1, 1, 1, 1, 1, 1, 1, 1],
               [-1, -1, 0, 1, 2, 3, 4, 4], [4, 4, 4, 4, 4, 4, 4, 4])
    # off = i - release: -1 -1 2 2 2 2 2 3; stream changes at 3; off changes at 2 and 7
    # tile 1 repeats tile 0 but loads into an empty slot (release -1) under double buffering
    assert list(_plain_end(s)) == [0, 1, 2, 3, 7, 7, 7, 7]


def test_plain_end_each_column_breaks_a_run():
    base = dict(stream=[2] * 4, load=[1] * 4, release=[-1, 0, 1, 2], drain=[3] * 4)
    # tile 1 is the first with a slot distance (1); tiles 2 and 3 repeat it
    assert list(_plain_end(_sched(**base))) == [0, 1, 4, 4]
    for key, val in (("stream", 5), ("load", 2), ("drain", 1), ("release", 1)):
        cols = {k: list(v) for k, v in base.items()}
        cols[key][3] = val
        assert list(_plain_end(_sched(**cols))) == [0, 1, 3, 3], key
    # no load: an empty slot does not matter
    assert list(_plain_end(_sched([2] * 4, [0] * 4, [-1] * 4, [3] * 4))) == [0, 4, 4, 4]
    # without double buffering a load into an "empty" slot repeats as well
    assert list(_plain_end(_sched([2] * 4, [1] * 4, [-1] * 4, [3] * 4, db=False))) == [0, 4, 4, 4]
    assert list(_plain_end(_sched([2] * 4, [1] * 4, [-1] * 4, [3] * 4))) == [0, 1, 2, 3]
    assert list(_plain_end(_sched([], [], [], []))) == []
    assert list(_plain_end(_sched([2], [1], [-1], [3]))) == [0]


# ------------------------------------------------------------------ schedule_times

def test_times_without_loads_and_shrinking_drain():
    # rows 3: tile 0 streams 0..1, ends 1 + 3 + 8 - 2 = 10; tile 1 streams 1..2, ends 4 < 10
    s = _sched([1, 1], [0, 0], [-1, -1], [8, 1], extra=5)
    base, total = schedule_times(s)
    assert base.tolist() == [0, 1] and base.dtype == np.int64
    assert total == 15 and schedule_cycles(s) == 15


def test_times_double_buffered_release_gate_binds():
    # tile 0: load 0..2, stream 2..6, ends 6 + 3 + 2 - 2 = 9
    # tile 1: its slot frees when tile 0 starts in the bottom row: 2 + 3 - 1 = 4; load 4..7,
    #         stream 7..8, ends 8 + 3 + 1 - 2 = 10
    s = _sched([4, 1], [2, 3], [-1, 0], [2, 1])
    base, total = schedule_times(s)
    assert base.tolist() == [2, 7] and total == 10


def test_times_single_buffered_load_waits_for_drain():
    # tile 1's load starts when tile 0 has drained (9): load 9..12, stream 12..13, ends 15
    s = _sched([4, 1], [2, 3], [-1, 0], [2, 1], db=False)
    base, total = schedule_times(s)
    assert base.tolist() == [2, 12] and total == 15


def test_times_loader_busy_and_stream_bound():
    # rows 3, db: tile 0 load 0..2 stream 2..6 end 9; tile 1 (empty slot) load 2..7,
    # stream 7..10 end 12; tile 2 slot of tile 0 free at 4, loader free at 7: load 7..8,
    # stream waits for the edge: 10..12 end 16; tile 3 resident: 12..13 end 16
    s = _sched([4, 3, 2, 1], [2, 5, 1, 0], [-1, -1, 0, -1], [2, 1, 3, 2], extra=1)
    base, total = schedule_times(s)
    assert base.tolist() == [2, 7, 10, 12] and total == 17


def test_times_taps_and_slot_cycles_scale_the_stream():
    s = _sched([2, 1], [0, 0], [-1, -1], [1, 1], taps=3, slot_cycles=2, rows=1)
    # tile 0 streams 0..12, tile 1 12..18, ends 18 + 1 + 1 - 2 = 18
    assert schedule_times(s)[0].tolist() == [0, 12] and schedule_cycles(s) == 18


def test_times_empty_schedule():
    base, total = schedule_times(_sched([], [], [], [], extra=3))
    assert base.tolist() == [] and total == 3


def _check(s) -> None:
    base, total = schedule_times(s)
    want, want_total = _naive_times(s)
    assert base.tolist() == want
    assert total == want_total


def test_fast_forward_long_runs_match_the_plain_loop():
    n = 40
    # stream-bound, no loads
    _check(_sched([3] * n, [0] * n, [-1] * n, [2] * n))
    # load-bound, double buffered, slot distance 2
    _check(_sched([1] * n, [4] * n, [-1, -1] + list(range(n - 2)), [3] * n, rows=5))
    # release-bound: slot distance 1, long drain path
    _check(_sched([2] * n, [1] * n, [-1] + list(range(n - 1)), [2] * n, rows=9))
    # single buffered: every load waits for the drain
    _check(_sched([2] * n, [3] * n, [-1] * n, [4] * n, db=False, rows=4, extra=2))
    # runs of different lengths back to back, with a warm-up that is not yet steady
    stream = [7, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 5, 5, 5, 5, 5, 5, 5]
    m = len(stream)
    _check(_sched(stream, [2] * m, [-1, -1, -1] + list(range(m - 3)), [4] * m, rows=6))
    _check(_sched(stream, [0] * m, [-1] * m, [1] * m, rows=2))
    _check(_sched(stream, [5] * m, [-1] * m, [3] * m, db=False))


def test_a_loader_ahead_of_the_array_is_not_fast_forwarded():
    """Six tiles with long loads fill the six WRF slots; then 20 tiles stream 2 cycles and
    load 1: the loader runs ahead (its loads end every cycle) while the array starts a tile
    every 2 cycles.  Over the look-back window the starts and finishes advance by 2 per tile
    but the load ends by 1, so the run is not yet steady and must not be jumped; a jump would
    also advance the loader by 2 per tile and delay the last tile's 50-cycle load.  110
    cycles, as the plain loop gives (a window check that compared load ends two tiles apart
    jumps here and gives 112)."""
    stream, load = [1] * 6 + [2] * 20 + [1], [5] * 6 + [1] * 20 + [50]
    n = len(stream)
    s = _sched(stream, load, [i - 6 if i >= 6 else -1 for i in range(n)], [1] * n, rows=1)
    _check(s)
    assert schedule_cycles(s) == 110


def test_a_steady_state_with_a_period_of_several_tiles_is_not_jumped():
    """Six WRF slots, 2-cycle loads, 12 rows: a slot is free 11 cycles after its previous
    tile started, so six tiles take 13 cycles -- the starts advance 2, 2, 2, 2, 2, 3 and never
    by the same amount per tile.  Every entry of the look-back window must be compared: a
    check of every second entry sees only 2s, jumps, and starts the last tile at 40 instead
    of 41."""
    n = 19
    s = _sched([1] * n, [2] * n, [i - 6 if i >= 6 else -1 for i in range(n)], [3] * n, rows=12)
    _check(s)
    base, total = schedule_times(s)
    assert np.diff(base).tolist() == [2, 2, 2, 2, 2, 3] * 3
    assert total == 55


def test_fast_forward_random_schedules_match_the_plain_loop():
    rng = np.random.default_rng(7)
    for _ in range(60):
        n = int(rng.integers(5, 40))
        runs, stream, load, drain = [], [], [], []
        while len(stream) < n:
            k = int(rng.integers(1, 12))
            st, ld, dr = (int(rng.integers(1, 5)), int(rng.integers(0, 5)),
                          int(rng.integers(1, 5)))
            stream += [st] * k
            load += [ld] * k
            drain += [dr] * k
            runs.append(k)
        n = len(stream)
        dist = int(rng.integers(1, 4))
        release = [i - dist if i >= dist else -1 for i in range(n)]
        for db in (True, False):
            _check(_sched(stream, load, release, drain, rows=int(rng.integers(1, 7)), db=db,
                          extra=int(rng.integers(0, 3))))


def test_min_jump():
    assert _MIN_JUMP == 4


# ------------------------------------------------------------------ _shift_tail

def test_shift_tail_fills_only_the_last_entries():
    arr = [10, 13, 0, 0, 0, 0, 0, 0]
    _shift_tail(arr, 2, 6, 3, 4)         # entries 2..7 would be 16..31; only the last 4
    assert arr == [10, 13, 0, 0, 22, 25, 28, 31]
    arr = [5, 0, 0, 9]
    _shift_tail(arr, 1, 2, 2, 10)        # look covers the whole run
    assert arr == [5, 7, 9, 9]
    arr = [5, 0, 0, 9]
    _shift_tail(arr, 1, 2, 2, 2)         # look exactly the run
    assert arr == [5, 7, 9, 9]
    arr = [5, 0, 0, 9]
    _shift_tail(arr, 1, 2, 2, 1)
    assert arr == [5, 0, 9, 9]


# ------------------------------------------------------------------ _first_of

def test_first_of_fires_once_on_the_first_event():
    env = simpy.Environment()
    a, b = env.timeout(5), env.timeout(3)
    wake = _first_of(env, [a, b])
    seen = []
    wake.callbacks.append(lambda _e: seen.append(env.now))
    env.run(until=4)
    assert wake.triggered and seen == [3]
    env.run()                            # the second event must not succeed it again
    assert seen == [3] and wake.ok


# ------------------------------------------------------------------ GatedArray pieces

def _gated(t: dict, a: dict, *, look_back: int = 20, layers=((0, None),)) -> GatedArray:
    env = simpy.Environment()
    n = len(t["stream"])
    t = dict(t)
    t.setdefault("layer", [0] * n)
    t.setdefault("regular", [False] * n)
    first = [f for f, _ in layers]
    last = [n - 1 if e is None else e for _, e in layers]
    return GatedArray(env, t, a, first, last, None, None, None, [], look_back)


def test_gated_array_starts_empty():
    t = dict(stream=[1, 2, 3], load=[0] * 3, release=[-1] * 3, db=[True] * 3,
             plain_end=[0, 1, 2])
    g = _gated(t, dict(kind=[1, 1], tile=[0, 1]), look_back=2, layers=((0, 0), (1, 2)))
    assert g.base == [0, 0, 0] and g.load_start == [-1, -1, -1]
    assert g.load_ready == [0, 0, 0] and g.finish_before == [0, 0, 0, 0]
    assert g.action_start == [0, 0] and g.action_end == [0, 0] and g.load_gate == [0, 0]
    assert g.mem_tiles == set() and g.layer_end == [0, 0] and g.jumped == [0, 0]
    assert g.layer_first == [0, 1] and g.layer_last == [0, 2]
    assert g.layer_of_first == {0: 0, 1: 1}
    assert g.look == 5 and not g.done.triggered
    g.layer_end = [5, 9]
    assert [g._layer_start(i) for i in range(3)] == [0, 5, 9]


def test_complete_succeeds_the_output_event_at_its_cycle():
    g = _gated(dict(stream=[1], load=[0], release=[-1], db=[True], plain_end=[0]),
               dict(kind=[], tile=[]))
    env = g.env
    g.out_complete = [simpy.Event(env), simpy.Event(env)]
    seen = []
    for i, ev in enumerate(g.out_complete):
        ev.callbacks.append(lambda _e, i=i: seen.append((i, env.now)))
    g.complete(1, 7)
    g.complete(0, 0)
    env.run()
    assert seen == [(0, 0), (1, 7)]


def test_quiet_walks_plain_runs_and_quiet_regular_tiles():
    t = dict(stream=[1] * 8, load=[0] * 8, release=[-1] * 8, db=[True] * 8,
             plain_end=[0, 1, 5, 5, 5, 5, 6, 7], regular=[False, True, False, False, False,
                                                         True, False, True])
    g = _gated(t, dict(kind=[], tile=[]))
    assert g._quiet(1, 6)                # regular 1, plain 2..4, regular 5
    assert not g._quiet(1, 7)            # 6 is neither plain nor regular
    assert g._quiet(7, 8)
    assert not g._quiet(0, 2)            # 0 is neither plain nor regular
    assert g._quiet(3, 3) and g._quiet(2, 5) and g._quiet(5, 6)
    assert not g._quiet(6, 7)
    g.mem_tiles.add(5)                   # a memory gate bound tile 5
    assert not g._quiet(1, 6) and g._quiet(1, 5)


def _no_load_array(look_back=20, plain4=True, mem=()):
    # tiles 2..11 repeat (or 5..11 with tile 4 regular); stream 3, no loads, empty slots
    n = 12
    plain_end = [0, 1] + [12] * 10
    regular = [False] * n
    if not plain4:
        plain_end[2:5] = [4, 4, 4]       # 2..3 plain, 4 a regular tile, 5.. plain
        regular[4] = True
    t = dict(stream=[3] * n, load=[0] * n, release=[-1] * n, db=[True] * n,
             plain_end=plain_end, regular=regular)
    g = _gated(t, dict(kind=[1, 1, 0], tile=[0, 1, 0]), look_back=look_back)
    g.base[:6] = [0, 1, 2, 4, 7, 10]     # steady (3 per tile) from tile 4
    g.finish_before[:7] = [0, 4, 5, 6, 8, 11, 14]
    g.mem_tiles.update(mem)
    return g


def test_fast_forward_without_loads():
    g = _no_load_array()
    # window of 3 tiles (3..5 step; tile 3 steps by 2 and lies outside it)
    assert g._fast_forward(6, 3, 7) == (12, 3, 7, 28 + 3, 32)
    assert g.base == [0, 1, 2, 4, 7, 10, 13, 16, 19, 22, 25, 28]
    assert g.finish_before == [0, 4, 5, 6, 8, 11, 14, 17, 20, 23, 26, 29, 32]
    assert g.jumped == [6]
    g = _no_load_array()
    assert g._fast_forward(6, 0, 7) == (12, 0, 7, 31, 32)


def test_fast_forward_fills_only_what_is_looked_back_at():
    g = _no_load_array(look_back=1)      # the last 4 of each run
    assert g._fast_forward(6, 3, 7) == (12, 3, 7, 31, 32)
    assert g.base == [0, 1, 2, 4, 7, 10, 0, 0, 19, 22, 25, 28]
    assert g.finish_before == [0, 4, 5, 6, 8, 11, 14, 0, 0, 23, 26, 29, 32]


def test_fast_forward_window_may_cross_a_quiet_regular_tile():
    g = _no_load_array(plain4=False)
    assert g._fast_forward(6, 3, 7) == (12, 3, 7, 31, 32)
    assert _no_load_array(plain4=False, mem=[4])._fast_forward(6, 3, 7) is None
    assert _no_load_array(plain4=False, mem=[3])._fast_forward(6, 3, 7) == (12, 3, 7, 31, 32)


def test_fast_forward_refuses_unsteady_or_too_early_windows():
    g = _no_load_array()
    g.base[3] = 5                        # 5 -> 7: the window's first step is 2
    assert g._fast_forward(6, 3, 7) is None and g.base[6:] == [0] * 6
    g = _no_load_array()
    g.finish_before[5] = 12              # a result-end step of 4, then 2
    assert g._fast_forward(6, 3, 7) is None
    g = _no_load_array()
    g.finish_before[6] = 13
    assert g._fast_forward(6, 3, 7) is None
    g = _no_load_array()
    g.base[5] = 7                        # no advance: D = 0
    assert g._fast_forward(6, 3, 7) is None
    g = _no_load_array()
    g.base[:3] = [0, 3, 6]
    g.finish_before[:4] = [0, 3, 4, 5]
    g.t["plain_end"][1:3] = [12, 12]
    assert g._fast_forward(2, 3, 7) is None      # window would start before tile 0
    assert g._fast_forward(3, 3, 7) is None      # window 1..2: 3, 3; fb steps 1: no
    assert g.jumped == [0]


def _load_array(**over):
    # 16 tiles, double buffered, each loads 1 cycle into the slot of the tile 2 before;
    # tiles 2..15 repeat.  Tiles 0..7 started, loads done up to tile 8 (action 8).
    n = 16
    t = dict(stream=[2] * n, load=[1] * n, release=[-1, -1] + list(range(n - 2)),
             db=[True] * n, plain_end=[0, 1] + [16] * 14)
    a = dict(kind=[1] * n, tile=list(range(n)))
    for k, v in over.items():
        (a if k in a else t)[k] = v
    g = _gated(t, a)
    g.base[:8] = [0, 3, 6, 9, 11, 13, 15, 17]            # steady (2 per tile) from tile 4
    g.finish_before[:9] = [0, 5, 8, 11, 14, 16, 18, 20, 22]
    g.load_start[:9] = [-1, 2, 5, 8, 10, 12, 14, 16, 18]
    g.load_ready[:9] = [0, 3, 6, 9, 11, 13, 15, 17, 19]
    g.action_start[:9] = g.load_start[:9]
    g.action_end[:9] = g.load_ready[:9]
    g.load_gate[7:9] = [10, 12]
    return g


def test_fast_forward_with_loads():
    g = _load_array()
    # window: slot distance 2 + 3 = 5 tiles (4..7)
    assert g._fast_forward(8, 9, 19) == (16, 16, 33, 33 + 2, 38)
    assert g.base == [0, 3, 6, 9, 11, 13, 15, 17] + list(range(19, 34, 2))
    assert g.finish_before == [0, 5, 8, 11, 14, 16, 18, 20, 22] + list(range(24, 39, 2))
    assert g.load_start == [-1, 2, 5, 8, 10, 12, 14, 16, 18] + list(range(20, 33, 2))
    assert g.load_ready == [0, 3, 6, 9, 11, 13, 15, 17, 19] + list(range(21, 34, 2))
    assert g.action_start == g.load_start and g.action_end == g.load_ready
    assert g.load_gate == [0] * 7 + list(range(10, 27, 2))
    assert g.jumped == [8]


def test_fast_forward_with_loads_of_two_cycles():
    g = _load_array(load=[2] * 16)
    assert g._fast_forward(8, 9, 19) == (16, 16, 33, 35, 38)


def test_fast_forward_with_loads_refusals():
    g = _load_array()
    g.base[4] = 12                       # tile 4 steps by 3: inside the 5-tile window
    g.finish_before[5] = 17
    assert g._fast_forward(8, 9, 19) is None
    g = _load_array()
    g.load_start[4] = 9                  # load start steps 1 then 3 at tiles 4, 5
    assert g._fast_forward(8, 9, 19) is None
    g = _load_array()
    g.load_ready[8] = 20                 # the last load (tile 8) is checked too
    assert g._fast_forward(8, 9, 19) is None
    g = _load_array()
    g.load_gate[7] = 11                  # the last two gates step by 1
    assert g._fast_forward(8, 9, 19) is None
    assert _load_array()._fast_forward(8, 0, 19) is None           # no load done yet
    assert _load_array(kind=[1] * 8 + [0] + [1] * 7)._fast_forward(8, 9, 19) is None
    g = _load_array(tile=list(range(8)) + [6] + list(range(9, 16)))
    assert g._fast_forward(8, 9, 19) is None                       # last load lags
    g = _load_array(plain_end=[0, 1] + [6] * 5 + [16] * 9)
    assert g._fast_forward(8, 9, 19) is None    # tile 6 neither plain nor regular
    g = _load_array()
    assert g._fast_forward(8, 8, 17) is None    # last load action is tile 7's: lags


def test_fast_forward_window_from_tile_zero():
    t = dict(stream=[3] * 12, load=[0] * 12, release=[-1] * 12, db=[True] * 12,
             plain_end=[0] + [12] * 11)
    g = _gated(t, dict(kind=[], tile=[]))
    g.base[:3] = [0, 3, 6]
    g.finish_before[:4] = [0, 4, 7, 10]
    assert g._fast_forward(3, 0, 0) == (12, 0, 0, 36, 37)     # window 1..2 (tiles 0..2)
    assert g.base == list(range(0, 34, 3))
    assert g.finish_before == [0] + list(range(4, 38, 3))
    t["plain_end"] = [0, 1, 2] + [12] * 9                      # tile 1 neither plain nor regular
    g = _gated(t, dict(kind=[], tile=[]))
    g.base[:3] = [0, 3, 6]
    g.finish_before[:4] = [0, 4, 7, 10]
    assert g._fast_forward(3, 0, 0) is None


def test_fast_forward_quiet_window_starts_at_its_first_tile():
    g = _no_load_array(plain4=False)
    g.t["plain_end"][2] = 2              # tile 2 (before the window) is neither: irrelevant
    assert g._fast_forward(6, 3, 7) == (12, 3, 7, 31, 32)


def test_fast_forward_needs_an_advance_of_at_least_one():
    g = _no_load_array()
    g.base[:6] = [0, 1, 2, 4, 4, 4]
    g.finish_before[:7] = [0, 4, 5, 6, 8, 8, 8]
    assert g._fast_forward(6, 3, 7) is None
    g = _no_load_array()
    g.base[:6] = [0, 1, 2, 4, 5, 6]
    g.finish_before[:7] = [0, 4, 5, 6, 8, 9, 10]
    g.jumped = [5]
    assert g._fast_forward(6, 3, 7) == (12, 3, 7, 12 + 3, 16)
    assert g.base[6:] == list(range(7, 13)) and g.jumped == [11]


def test_fast_forward_with_loads_more_cases():
    g = _load_array(kind=[1] * 7 + [0] + [1] * 8)    # only the last action must be a load
    g.jumped = [1]
    assert g._fast_forward(8, 9, 19) == (16, 16, 33, 35, 38) and g.jumped == [9]
    g = _load_array()
    g.load_start[3] = 7                  # outside the window: tile 4 steps by 3
    assert g._fast_forward(8, 9, 19) is None
    assert _load_array(tile=list(range(8)) + [16] + list(range(9, 16)))._fast_forward(
        8, 9, 19) is None                # a load past the run
    # the first action is tile 8's load (tiles 0..7 hand-made as resident)
    g = _load_array(kind=[1] * 8, tile=list(range(8, 16)))
    g.load_gate = [12, 0, 0, 0, 0, 0, 0, 10]
    g.action_start, g.action_end = [18] + [0] * 7, [19] + [0] * 7
    assert g._fast_forward(8, 1, 19) == (16, 8, 33, 35, 38)
    assert g.load_gate == list(range(12, 27, 2))
    assert g.action_start == list(range(18, 33, 2)) and g.action_end == list(range(19, 34, 2))
    # loads done up to tile 14: one more to fill in
    g = _load_array()
    g.base[:8] = [1, 3, 5, 7, 9, 11, 13, 15]
    g.load_start[:15] = list(range(0, 29, 2))
    g.load_ready[:15] = list(range(1, 30, 2))
    g.load_gate[:16] = list(range(0, 32, 2))
    assert g._fast_forward(8, 15, 29) == (16, 16, 31, 33, 38)
    assert g.load_start[15] == 30 and g.load_ready[15] == 31 and g.load_gate[15] == 30


# ------------------------------------------------------------------ GatedArray.run, exact

# small networks whose timing is gated by the WRF slots, the loader, single buffering, the
# DRAM and codebook reloads; the cycle-by-cycle reference (ewssim/engine/reference.py, which
# plans and steps everything itself) gives every layer's cycles and stalls
RUN_CASES = [
    (Network("a", (Layer("f1", "linear", 1, 6, 40, 8), Layer("f2", "linear", 1, 6, 8, 6))),
     preset("ews").replace({"array.rows": 4, "array.cols": 4, "array.wrf_depth": 1,
                            "memory.dram_bytes_per_cycle": 4.0,
                            "memory.dram_latency_cycles": 7})),
    (Network("b", (Layer("c", "conv", 4, 4, 6, 6, kernel_h=3, kernel_w=3, pad_h=1,
                         pad_w=1),)),
     preset("ws").replace({"array.rows": 4, "array.cols": 4, "array.wrf_depth": 2,
                           "dataflow.wrf_double_buffer": False,
                           "memory.l1_double_buffer": False,
                           "memory.dram_bytes_per_cycle": 2.0})),
    (Network("c", (Layer("f", "linear", 1, 4, 64, 4),)),
     preset("mvq").replace({"array.rows": 8, "array.cols": 4,
                            "weights.codebook_groups": 2, "weights.crf_groups": 1,
                            "memory.dram_bytes_per_cycle": 1.0})),
    KV_CACHE,
    # compute-bound: the WRF slot, the drain and the CRF reloads gate the loads
    (Network("d", (Layer("f1", "linear", 1, 3, 64, 8), Layer("f2", "linear", 1, 3, 8, 8))),
     preset("ews").replace({"array.rows": 4, "array.cols": 4, "array.wrf_depth": 1,
                            "memory.dram_bytes_per_cycle": 64.0,
                            "memory.dram_latency_cycles": 0})),
    (Network("h", (Layer("f1", "linear", 1, 2, 64, 8), Layer("f2", "linear", 1, 2, 8, 8))),
     preset("ews").replace({"array.rows": 4, "array.cols": 4, "array.wrf_depth": 2,
                            "memory.dram_bytes_per_cycle": 64.0,
                            "memory.dram_latency_cycles": 0})),
    (Network("e", (Layer("c", "conv", 3, 3, 8, 8, kernel_h=3, kernel_w=3, pad_h=1,
                         pad_w=1),)),
     preset("ws").replace({"array.rows": 4, "array.cols": 4, "array.wrf_depth": 1,
                           "dataflow.wrf_double_buffer": False,
                           "memory.dram_bytes_per_cycle": 64.0,
                           "memory.dram_latency_cycles": 0})),
    (Network("g", (Layer("f", "linear", 1, 2, 64, 8),)),
     preset("mvq").replace({"array.rows": 8, "array.cols": 4, "weights.codebook_groups": 2,
                            "weights.crf_groups": 1, "memory.dram_bytes_per_cycle": 64.0,
                            "memory.dram_latency_cycles": 0})),
]


@pytest.mark.parametrize("net,arch", RUN_CASES, ids=["wrf1", "single", "reload", "kv",
                                                     "wrf1-fast", "wrf2-fast", "single-fast",
                                                     "reload-fast"])
def test_gated_array_run_equals_reference(net, arch):
    got = run_both(net, arch, 0)
    assert got is not None
    res, ref, _ = got
    for r, q in zip(res, ref.layers, strict=True):
        assert (r.total_cycles, r.stall_cycles) == (q.cycles, q.stall_cycles)
        assert {k: v for k, v in r.stalls.items() if v} == \
            {k: v for k, v in q.stalls.items() if v}
    assert sum(r.total_cycles for r in res) == ref.cycles
