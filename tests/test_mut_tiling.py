"""Exact tile schedules of ewssim/dataflow/tiling.py: fold plans, the unit table, the tile grid,
the WRF's LRU slot allocation (its steady-state shortcuts against a plain LRU written out
here) and the load, drain and flag fields of ``build_schedule``.  Written to kill surviving
mutants (docs/testing.md)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from helpers import build_schedule

from ewssim.dataflow import tiling
from ewssim.dataflow.tiling import FoldPlan, fold_plan, unit_table, wrf_slots
from ewssim.workload.layers import Layer

CONV = Layer("c", "conv", 7, 8, 6, 10, kernel_h=3, kernel_w=5, pad_h=1, pad_w=2)   # 7 x 8 out
DW = Layer("dw", "conv", 6, 6, 12, 12, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1, groups=12)
MM = Layer("m", "matmul", 3, 5, 4, 6, batch=2)
SMALL = Layer("s", "conv", 3, 2, 3, 5, kernel_w=3, pad_w=1)                        # 3 x 2 out


def test_fold_plan_of_a_conv_with_taps():
    # taps 2 over 5 columns: 3 chunks; 6 channels x 3 rows x 3 chunks = 54 units
    assert fold_plan(CONV, 8, 4, 2) == FoldPlan(taps=2, n_chunks=3, units=54, k_folds=7,
                                                n_folds=3, pack=1, group_packs=1, pixels=56)
    # taps clamped to the kernel width, and to at least 1
    assert fold_plan(CONV, 8, 4, 9) == FoldPlan(taps=5, n_chunks=1, units=18, k_folds=3,
                                                n_folds=3, pack=1, group_packs=1, pixels=56)
    assert fold_plan(CONV, 8, 4, 0) == FoldPlan(taps=1, n_chunks=5, units=90, k_folds=12,
                                                n_folds=3, pack=1, group_packs=1, pixels=56)
    # a whole group fits, but there is only one group: no packing
    assert fold_plan(CONV, 90, 10, 1).pack == 1


def test_fold_plan_packs_depthwise_groups():
    # 3 units and 1 output channel per group: min(8 // 3, 4 // 1, 12) = 2 groups per tile
    assert fold_plan(DW, 8, 4, 3) == FoldPlan(taps=3, n_chunks=1, units=3, k_folds=1,
                                              n_folds=1, pack=2, group_packs=6, pixels=36)
    assert fold_plan(DW, 8, 4, 3, allow_pack=False).pack == 1
    assert fold_plan(DW, 8, 4, 3, False).group_packs == 12
    assert fold_plan(DW, 9, 4, 1).pack == 1                       # 9 units: 9 // 9 = 1
    assert fold_plan(DW, 9, 40, 3).pack == 3                      # rows bound: 9 // 3
    assert fold_plan(DW, 64, 5, 3).pack == 5                      # cols bound
    assert fold_plan(DW, 64, 64, 3) == FoldPlan(taps=3, n_chunks=1, units=3, k_folds=1,
                                                n_folds=1, pack=12, group_packs=1, pixels=36)
    assert fold_plan(DW, 2, 4, 3).pack == 1                       # a group does not fit
    grouped = Layer("g", "conv", 4, 4, 8, 8, groups=4)            # 2 units, 2 channels
    assert fold_plan(grouped, 4, 3, 1).pack == 1                  # 3 // 2 = 1
    assert fold_plan(grouped, 4, 4, 1).pack == 2


def test_matmul_heads_are_groups_and_conv_batch_lengthens_the_stream():
    assert tiling.block_groups(MM) == 2 and tiling.stream_pixels(MM) == 15
    assert fold_plan(MM, 4, 4, 1) == FoldPlan(taps=1, n_chunks=1, units=4, k_folds=1,
                                              n_folds=2, pack=1, group_packs=2, pixels=15)
    conv_b = Layer("cb", "conv", 3, 3, 2, 2, batch=3)
    assert tiling.block_groups(conv_b) == 1 and tiling.stream_pixels(conv_b) == 27
    assert tiling.block_groups(DW) == 12 and tiling.stream_pixels(DW) == 36


def test_unit_table_is_channel_fastest():
    u = unit_table(CONV, fold_plan(CONV, 8, 4, 2))
    assert u.shape == (54, 3) and u.dtype == np.int64
    assert u[:8].tolist() == [[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0], [4, 0, 0], [5, 0, 0],
                              [0, 0, 2], [1, 0, 2]]
    assert u[17].tolist() == [5, 0, 4] and u[18].tolist() == [0, 1, 0]
    assert u[53].tolist() == [5, 2, 4]
    g = Layer("g", "conv", 4, 4, 8, 6, kernel_h=2, kernel_w=2, groups=2)   # 4 channels a group
    assert unit_table(g, fold_plan(g, 4, 4, 1)).tolist() == [
        [0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0], [0, 0, 1], [1, 0, 1], [2, 0, 1], [3, 0, 1],
        [0, 1, 0], [1, 1, 0], [2, 1, 0], [3, 1, 0], [0, 1, 1], [1, 1, 1], [2, 1, 1], [3, 1, 1]]


def _lru(set_id, slots):
    """The WRF allocation written out: LRU, free slots first in index order."""
    occupant, last = [None] * slots, [-1] * slots
    load, release = [], []
    for i, s in enumerate(set_id):
        if s in occupant:
            k = occupant.index(s)
            load.append(False)
            release.append(-1)
        else:
            k = min(range(slots), key=lambda j: last[j])
            load.append(True)
            release.append(last[k] + 1 if occupant[k] is not None else -1)
            occupant[k] = s
        last[k] = i
    return load, release


def _grid(passes, chunks, k):
    return np.array([p * k + kf for p in range(passes) for _ in range(chunks)
                     for kf in range(k)], dtype=np.int64)


@pytest.mark.parametrize("passes,chunks,k,slots", [
    (1, 5, 3, 2), (2, 4, 3, 2), (3, 3, 4, 2), (2, 5, 5, 3), (2, 3, 2, 1), (1, 1, 4, 2),
    (2, 4, 2, 2), (3, 5, 2, 3), (2, 3, 3, 4), (2, 6, 1, 1), (1, 4, 1, 2), (2, 2, 3, 3),
    (3, 4, 3, 3), (2, 5, 4, 4), (1, 2, 5, 3), (2, 3, 6, 5), (4, 3, 2, 5)])
def test_wrf_slots_shortcuts_equal_plain_lru(passes, chunks, k, slots):
    sid = _grid(passes, chunks, k)
    want_load, want_release = _lru(sid.tolist(), slots)
    for args in ((), (k, chunks * k)):
        load, release = wrf_slots(sid, slots, *args)
        assert load.dtype == bool and release.dtype == np.int64
        assert load.tolist() == want_load, args
        assert release.tolist() == want_release, args


def test_wrf_slots_exact_round_robin_and_resident_passes():
    # K = 3 > 2 slots: every tile misses and evicts the set of the tile 2 before it
    load, release = wrf_slots(_grid(1, 3, 3), 2, 3, 9)
    assert load.tolist() == [True] * 9
    assert release.tolist() == [-1, -1, 1, 2, 3, 4, 5, 6, 7]
    # K = 2 <= 3 slots: the first chunk loads, the rest hit; the next pass evicts the LRU
    load, release = wrf_slots(_grid(2, 3, 2), 3, 2, 6)
    assert load.tolist() == [True, True, False, False, False, False,
                             True, True, False, False, False, False]
    assert release.tolist() == [-1, -1, -1, -1, -1, -1, -1, 5, -1, -1, -1, -1]
    # unstructured ids: LRU with a hit refreshing its slot
    load, release = wrf_slots(np.array([7, 8, 7, 9, 8, 7]), 2)
    assert load.tolist() == [True, True, False, True, True, True]
    assert release.tolist() == [-1, -1, -1, 2, 3, 4]


def _fields(s):
    return {f: getattr(s, f).tolist() for f in
            ("g0", "g1", "n0", "n1", "u0", "u1", "p0", "p1", "load_cycles", "release",
             "drain_cols")}


def test_build_schedule_line_loads_whole_stream():
    # 9 units over 4 rows: 3 reduction folds; 5 channels over 2 columns: 3 output folds
    s = build_schedule(SMALL, rows=4, cols=2, wrf_depth=2, double_buffer=True, line_cycles=3,
                       load_latency=5)
    assert _fields(s) == {
        "g0": [0] * 9, "g1": [1] * 9,
        "n0": [0, 0, 0, 2, 2, 2, 4, 4, 4], "n1": [2, 2, 2, 4, 4, 4, 5, 5, 5],
        "u0": [0, 4, 8] * 3, "u1": [4, 8, 9] * 3, "p0": [0] * 9, "p1": [6] * 9,
        # used columns x taps x line cycles + latency: 2*1*3 + 5, then 1*1*3 + 5
        "load_cycles": [11] * 6 + [8] * 3,
        "release": [-1, -1, 1, 2, 3, 4, 5, 6, 7],
        "drain_cols": [2] * 6 + [1] * 3}
    assert (s.taps, s.rows, s.cols, s.logical_rows, s.pack, s.slot_cycles) == (1, 4, 2, 4, 1, 1)
    assert s.double_buffer is True and s.extra_cycles == 0
    assert s.units.tolist() == unit_table(SMALL, fold_plan(SMALL, 4, 2, 1)).tolist()
    for f in ("g0", "g1", "n0", "n1", "u0", "u1", "load_cycles", "drain_cols"):
        assert getattr(s, f).dtype == np.int64


def test_build_schedule_pixel_chunks():
    s = build_schedule(SMALL, rows=4, cols=2, chunk=4, wrf_depth=3, double_buffer=False)
    f = _fields(s)
    assert f["p0"] == [0, 0, 0, 4, 4, 4] * 3 and f["p1"] == [4, 4, 4, 6, 6, 6] * 3
    assert f["u0"] == [0, 4, 8] * 6 and f["n0"] == [0] * 6 + [2] * 6 + [4] * 6
    # K = 3 <= 3 slots: each pass loads its three sets once, the second chunk hits
    assert f["load_cycles"] == [2, 2, 2, 0, 0, 0] * 2 + [1, 1, 1, 0, 0, 0]
    # the next pass evicts each set after its last use in the previous pass's last chunk
    assert f["release"] == [-1, -1, -1, -1, -1, -1, 4, 5, 6, -1, -1, -1, 10, 11, 12,
                            -1, -1, -1]
    assert s.double_buffer is False
    s = build_schedule(SMALL, rows=4, cols=2, chunk=2, wrf_depth=3, double_buffer=False)
    assert s.p0.tolist()[:9] == [0, 0, 0, 2, 2, 2, 4, 4, 4]
    assert s.p1.tolist()[:9] == [2, 2, 2, 4, 4, 4, 6, 6, 6]


def test_build_schedule_packed_groups_and_callable_line_time():
    seen = []

    def lc(units):
        seen.append(units.tolist())
        return units + 1

    s = build_schedule(DW, rows=8, cols=4, taps=3, wrf_depth=3, double_buffer=True,
                       line_cycles=lc, load_latency=2)
    f = _fields(s)
    assert f["g0"] == [0, 2, 4, 6, 8, 10] and f["g1"] == [2, 4, 6, 8, 10, 12]
    assert f["n0"] == [0] * 6 and f["n1"] == [1] * 6 and f["u0"] == [0] * 6
    assert f["u1"] == [3] * 6 and f["p1"] == [36] * 6
    # line time of (2 groups x 3 units) = 7; 2 columns x 3 taps x 7 + 2
    assert seen == [[6] * 6] and f["load_cycles"] == [44] * 6
    assert f["drain_cols"] == [2] * 6 and s.pack == 2 and s.taps == 3
    # 1 slot (3 // 3): no double buffering; each group pack evicts the one before
    assert f["release"] == [-1, 1, 2, 3, 4, 5] and s.double_buffer is False


def test_build_schedule_row_loads_full_drain_and_sets():
    s = build_schedule(SMALL, rows=4, cols=2, wrf_depth=2, double_buffer=True,
                       load_mode="rows", drain_full_width=True, logical_rows=3)
    f = _fields(s)
    # 9 units over 3 logical rows; rows mode: pe_rows (4) cycles per load, never buffered
    assert f["u0"] == [0, 3, 6] * 3 and f["u1"] == [3, 6, 9] * 3
    assert f["load_cycles"] == [4] * 9 and f["drain_cols"] == [2] * 9
    assert s.double_buffer is False and s.rows == 4 and s.logical_rows == 3
    # entries_per_set sizes the slots: 4 // 2 = 2 slots (double buffered), 4 // 3 = 1
    s = build_schedule(SMALL, rows=4, cols=2, wrf_depth=4, double_buffer=True,
                       entries_per_set=2, slot_cycles=3)
    assert s.double_buffer is True and s.slot_cycles == 3
    assert s.release.tolist() == [-1, -1, 1, 2, 3, 4, 5, 6, 7]
    s = build_schedule(SMALL, rows=4, cols=2, wrf_depth=4, double_buffer=True,
                       entries_per_set=3)
    assert s.double_buffer is False and s.release.tolist() == [-1, 1, 2, 3, 4, 5, 6, 7, 8]
    # without entries_per_set a set takes `taps` entries: 4 // 3 = 1 slot
    s = build_schedule(SMALL, rows=9, cols=2, taps=3, wrf_depth=4, double_buffer=True)
    assert s.double_buffer is False and s.taps == 3
    s = build_schedule(SMALL, rows=9, cols=2, taps=3, wrf_depth=6, double_buffer=True)
    assert s.double_buffer is True
    s = build_schedule(SMALL, rows=4, cols=2, wrf_depth=1, double_buffer=True)
    assert s.double_buffer is False


def test_build_schedule_scalesim_layer_offset():
    hw = SimpleNamespace(cols=4, wrf_depth=1, load_mode="rows", drain_full_width=True,
                         allow_pack=False, scalesim_layer_offset=True)
    lhw = SimpleNamespace(hw=hw, logical_rows=4, pe_rows=4, double_buffer=False,
                          entries_per_set=None, slot_cycles=1, load_latency=0,
                          taps=lambda layer: layer.kernel_w, line_cycles=lambda: 1)
    assert tiling.build_schedule(MM, lhw, None).extra_cycles == -2
    assert tiling.build_schedule(DW, lhw, None).taps == 3          # the layer's own taps
    assert tiling.build_schedule(DW, lhw, None).extra_cycles == -12
    hw.scalesim_layer_offset = False
    assert tiling.build_schedule(DW, lhw, None).extra_cycles == 0


def test_build_schedule_loop_order_and_distinct_sets():
    # 3 heads x 2 output folds: group-pack outer, output fold inner; 8 slots keep every set,
    # so each tile loads its own (distinct) set once
    m3 = Layer("m", "matmul", 2, 2, 4, 6, batch=3)
    s = build_schedule(m3, rows=4, cols=4, wrf_depth=8, double_buffer=False)
    assert s.g0.tolist() == [0, 0, 1, 1, 2, 2] and s.n0.tolist() == [0, 4, 0, 4, 0, 4]
    assert s.load_cycles.tolist() == [4, 2, 4, 2, 4, 2]
    # 3 output folds x 2 reduction folds, 4 slots: six distinct sets, the last two evict
    k2 = Layer("k", "conv", 2, 2, 8, 6)
    s = build_schedule(k2, rows=4, cols=2, wrf_depth=4, double_buffer=False)
    assert s.n0.tolist() == [0, 0, 2, 2, 4, 4] and s.u0.tolist() == [0, 4] * 3
    assert s.load_cycles.tolist() == [2] * 6
    assert s.release.tolist() == [-1, -1, -1, -1, 1, 2]
    # rows mode with resident sets: the second pixel chunk loads nothing
    s = build_schedule(k2, rows=4, cols=2, wrf_depth=4, chunk=2, double_buffer=False,
                       load_mode="rows")
    assert s.load_cycles.tolist() == [4, 4, 0, 0] * 3


def test_build_schedule_line_time_of_each_reduction_fold_and_packing_switch():
    k2 = Layer("k", "conv", 2, 2, 8, 6)
    s = build_schedule(k2, rows=3, cols=2, wrf_depth=8, double_buffer=False,
                       line_cycles=lambda units: units + 1)
    assert s.u0.tolist() == [0, 3, 6] * 3 and s.u1.tolist() == [3, 6, 8] * 3
    # 2 columns x (units + 1): 3 units -> 8, the last fold's 2 units -> 6
    assert s.load_cycles.tolist() == [8, 8, 6] * 3
    g2 = Layer("g", "conv", 4, 4, 4, 4, groups=2)          # two groups fit: packed
    s = build_schedule(g2, rows=4, cols=4, wrf_depth=2, double_buffer=False)
    assert s.g0.tolist() == [0] and s.g1.tolist() == [2] and s.pack == 2
    s = build_schedule(DW, rows=8, cols=4, taps=3, wrf_depth=3, double_buffer=False,
                       allow_pack=False)
    assert s.pack == 1 and s.g0.tolist() == list(range(12))
