"""Exact operand traffic of a hand-made tile schedule (ewssim/dataflow/traffic.py): activation
reads per PE row (window restarts and slides), real weights per unit, the L1 bytes and array
actions of an INT8, a codebook and a DBB layer, time-unrolled activation blocks, the L2 / DRAM
bytes of a mapping's blocks (whole bursts) and the ideal memory.  Every number is worked out
by hand in the comments.  Written to kill surviving mutants (docs/testing.md)."""

from __future__ import annotations

from dataclasses import fields
from types import SimpleNamespace as NS

import numpy as np

from ewssim.compress.format import WeightFormat
from ewssim.dataflow.base import Traffic
from ewssim.dataflow.traffic import (
    act_reads_per_row,
    array_traffic,
    block_traffic,
    ideal_traffic,
    valid_taps,
    window_step,
)
from ewssim.hw.array import TileSchedule
from ewssim.workload.layers import Layer


def _sched(tiles, *, taps, rows, cols, units):
    """A schedule from rows (g0, g1, n0, n1, u0, u1, p0, p1, load_cycles)."""
    a = np.array(tiles, dtype=np.int64).T
    n = a.shape[1]
    return TileSchedule(g0=a[0], g1=a[1], n0=a[2], n1=a[3], u0=a[4], u1=a[5], p0=a[6],
                        p1=a[7], load_cycles=a[8], release=np.full(n, -1),
                        drain_cols=a[3] - a[2], taps=taps, rows=rows, cols=cols,
                        double_buffer=False, units=np.array(units, dtype=np.int64))


def test_window_step():
    assert window_step(Layer("a", "conv", 8, 16, 1, 1, kernel_w=3, stride_w=2), 3) == 2
    assert window_step(Layer("a", "conv", 8, 16, 1, 1, kernel_w=3, stride_w=2), 1) == 1
    assert window_step(Layer("a", "conv", 8, 16, 1, 1, kernel_w=3, stride_w=2), 2) == 2
    assert window_step(Layer("a", "conv", 8, 16, 1, 1, kernel_w=3, stride_w=4), 3) == 3
    assert window_step(Layer("a", "conv", 8, 16, 1, 1, kernel_w=3, stride_w=4), 5) == 4
    # stride 3 over dilation 2: not whole taps, the whole window is new
    assert window_step(Layer("a", "conv", 8, 32, 1, 1, kernel_w=3, stride_w=3, dil_w=2), 3) == 3
    # stride 4 over dilation 2: the window slides by 2 taps
    assert window_step(Layer("a", "conv", 8, 32, 1, 1, kernel_w=3, stride_w=4, dil_w=2), 3) == 2


def test_act_reads_per_row_restarts_at_each_output_row():
    layer = Layer("a", "conv", 3, 8, 1, 1, kernel_w=3, stride_w=2, pad_w=1)   # 3 x 4 out
    tiles = [(0, 1, 0, 1, 0, 1, p0, p1, 1) for p0, p1 in ((0, 12), (2, 7), (4, 5), (5, 8))]
    s = _sched(tiles, taps=3, rows=1, cols=1, units=[[0, 0, 0]])
    # restarts 3, 2, 1, 1: 3 taps each, the other pixels slide by stride 2
    got = act_reads_per_row(s, layer)
    assert got.dtype == np.int64
    assert got.tolist() == [3 * 3 + 9 * 2, 2 * 3 + 3 * 2, 3, 3 + 2 * 2]
    s1 = _sched(tiles, taps=1, rows=1, cols=1, units=[[0, 0, 0]])
    assert act_reads_per_row(s1, layer).tolist() == [12, 5, 1, 3]
    # 2 taps sliding by 2: every pixel reads 2 new activations
    s2 = _sched(tiles, taps=2, rows=1, cols=1, units=[[0, 0, 0]])
    assert act_reads_per_row(s2, layer).tolist() == [24, 10, 2, 6]


def test_valid_taps_clip_the_last_kernel_chunk():
    s = _sched([(0, 1, 0, 1, 0, 4, 0, 1, 1)], taps=2, rows=4, cols=1,
               units=[[0, 0, 0], [0, 0, 2], [0, 0, 4], [1, 0, 0]])
    assert valid_taps(s, 5).tolist() == [0, 2, 4, 5, 7]


# a 1 x 5 conv, 4 -> 4 channels, 3 taps (pad 1): 4 units (one per channel), 5 pixels
CONV = Layer("c", "conv", 1, 5, 4, 4, kernel_w=3, pad_w=1)
# (group 1 of a layer's groups: only differences count)
TILES = [(1, 2, 0, 2, 0, 2, 0, 5, 4),     # first fold, 2 columns, pixels 0..4
         (1, 2, 0, 2, 2, 4, 0, 5, 4),     # last fold
         (1, 2, 2, 3, 0, 2, 2, 5, 0),     # first fold, 1 column, pixels 2..4, weights resident
         (1, 2, 2, 4, 2, 4, 2, 5, 2)]     # last fold, 2 columns
UNITS = [[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]]


def _lhw(fmt, *, time_unrolled=False, mux=0, act_block=3):
    data = NS(act_bits=8, weight_bits=4, psum_bits=20)
    hw = NS(data=data, act_block=act_block, mux_fan_in=mux)
    return NS(hw=hw, format=fmt, time_unrolled=time_unrolled, nnz_a=2, act_pos_bits=2,
              kept_fraction=0.25, executed_macs=lambda macs: macs - 40)


INT8 = WeightFormat.make("int8")


def test_array_traffic_of_an_int8_conv_with_psums_in_l1():
    s = _sched(TILES, taps=3, rows=3, cols=4, units=UNITS)
    t = array_traffic(s, CONV, _lhw(INT8), psums_in_prf=False)
    # reads per row: 5 pixels -> 3 + 4 = 7, 3 pixels -> 3 + 2 = 5; x 2 used rows
    assert t.l1_act_read_bytes == (7 + 7 + 5 + 5) * 2
    # loads of tiles 0, 1, 3: 12 + 12 + 12 real weights at 4 bits
    assert t.l1_weight_read_bytes == 36 * 4 // 8
    # outputs (used columns x pixels) 10, 10, 3, 6: last folds write 16 outputs at 8 bits and
    # the first folds 13 psums at 20 bits (33 B); the later folds read 16 psums (40 B)
    assert t.l1_out_write_bytes == 16 + 33
    assert t.l1_psum_read_bytes == 40
    assert t.int8_weight_bytes == 48
    assert t.executed_macs == t.wrf_reads == t.arf_reads == 240 - 40
    assert t.mux_selects == 0 and t.prf_accesses == 0
    assert t.wrf_writes == 9                                    # 36 x 1/4
    # act hops: reads per row x used rows x used columns
    assert t.act_hops == t.arf_writes == 7 * 2 * 2 + 7 * 2 * 2 + 5 * 2 * 1 + 5 * 2 * 2
    assert t.psum_hops == (10 + 10 + 3 + 6) * 3                 # all 3 physical rows
    assert (t.crf_reads, t.crf_reload_bytes, t.lzc_decodes) == (0, 0, 0)
    assert _all_ints(t)


def _all_ints(t):
    return all(type(getattr(t, f.name)) is int for f in fields(t))


def test_array_traffic_psums_in_the_prf_and_a_mux():
    s = _sched(TILES, taps=3, rows=3, cols=4, units=UNITS)
    t = array_traffic(s, CONV, _lhw(INT8, mux=4), psums_in_prf=True)
    assert t.l1_out_write_bytes == 16 and t.l1_psum_read_bytes == 0
    assert t.prf_accesses == 10 + 10 + 3 + 6
    assert t.mux_selects == 200


def test_array_traffic_time_unrolled_activation_blocks():
    s = _sched(TILES, taps=3, rows=3, cols=4, units=UNITS)
    # 2 used rows in blocks of 3: 1 block; 16 pixels x 2 kept activations, 8 + 2 bits each
    t = array_traffic(s, CONV, _lhw(INT8, time_unrolled=True), psums_in_prf=True)
    assert t.l1_act_read_bytes == 16 * 2 * 10 // 8
    assert t.psum_hops == (10 + 10 + 3 + 6) * 3 and t.prf_accesses == 29
    t = array_traffic(s, CONV, _lhw(INT8, time_unrolled=True, act_block=1), psums_in_prf=True)
    assert t.l1_act_read_bytes == 2 * 16 * 2 * 10 // 8


def test_array_traffic_of_a_matmul_reads_activation_bits():
    mm = Layer("m", "matmul", 2, 3, 4, 5)                        # 3 x 2 = 6 pixels
    s = _sched([(0, 1, 0, 5, 0, 4, 0, 6, 1)], taps=1, rows=4, cols=5,
               units=[[c, 0, 0] for c in range(4)])
    t = array_traffic(s, mm, _lhw(INT8), psums_in_prf=False)
    assert t.l1_weight_read_bytes == 20                          # 20 operands at 8 bits
    assert t.l1_act_read_bytes == 6 * 4 and t.l1_out_write_bytes == 30


def test_array_traffic_of_a_codebook_layer():
    f = WeightFormat.make("mvq", d=8, k=16, nm=(2, 4))           # 12 bits per sub-vector
    s = _sched(TILES, taps=3, rows=3, cols=4, units=UNITS)
    t = array_traffic(s, CONV, _lhw(f), psums_in_prf=True)
    # each load: 12 weights = 2 sub-vectors = 24 bits = 3 B; codebook 16 x 8 B + a 4 B scale
    assert t.l1_weight_read_bytes == 3 * 3 + (1024 + 32 + 7) // 8
    assert t.crf_reads == 6 and t.crf_reload_bytes == 128
    assert t.lzc_decodes == 6 * 2 * 2                            # 2 groups of 4, N = 2
    assert _all_ints(t)
    assert t.wrf_writes == 9


def test_array_traffic_of_a_dbb_layer():
    f = WeightFormat.make("dbb", d=8, nm=(2, 4))                 # blocks of 4, 20 bits each
    s = _sched(TILES, taps=3, rows=3, cols=4, units=UNITS)
    t = array_traffic(s, CONV, _lhw(f), psums_in_prf=True)
    # each load: 12 weights = 3 blocks = 60 bits = 8 B; a 4 B scale
    assert t.l1_weight_read_bytes == 3 * 8 + 4
    assert (t.crf_reads, t.crf_reload_bytes, t.lzc_decodes) == (0, 0, 0)


def _blocks(act_src, w_src, out_dest):
    return NS(act=NS(nbytes=np.array([10, 20, 33])), w=NS(nbytes=np.array([5, 40])),
              out=NS(nbytes=np.array([17, 3])), act_src=act_src,
              act_piece=np.array([0, 40, -1, 7, 1]), w_src=w_src,
              w_piece=np.array([0, 50, 1, 16]),
              out_dest=out_dest, crf_bytes=77)


def _preset():
    return Traffic(l2_psum_read_bytes=99, dram_act_read_bytes=99, dram_weight_read_bytes=99,
                   dram_out_write_bytes=99, crf_reload_bytes=5)


def test_block_traffic_moves_whole_bursts():
    lhw = NS(hw=NS(memory=NS(dram_burst_bytes=16)), decoder=object())
    t = _preset()
    block_traffic(t, _blocks("stream", "dram", "dram"), lhw)
    assert (t.l2_act_read_bytes, t.l2_weight_read_bytes, t.l2_out_write_bytes) == (63, 45, 20)
    assert t.l2_psum_read_bytes == 0
    assert t.dram_act_read_bytes == 16 + 32 + 48                 # every streamed block
    assert t.dram_weight_read_bytes == 64 + 16 + 16              # the pieces 50, 1 and 16
    assert t.dram_out_write_bytes == 32 + 16
    assert t.crf_reload_bytes == 77
    t = _preset()
    block_traffic(t, _blocks("staged", "l2", "l2"), NS(hw=lhw.hw, decoder=None))
    assert t.dram_act_read_bytes == 48 + 16 + 16                 # the pieces 40, 7 and 1
    assert (t.dram_weight_read_bytes, t.dram_out_write_bytes) == (0, 0)
    assert t.crf_reload_bytes == 5
    t = _preset()
    block_traffic(t, _blocks("l2", "l2", "l2"), NS(hw=lhw.hw, decoder=None))
    assert t.dram_act_read_bytes == 0
    # int32 byte counts rounded up to a burst past 2**31 - 1
    big = _blocks("stream", "l2", "l2")
    big.act.nbytes = np.array([2**31 - 1], dtype=np.int32)
    block_traffic(t, big, NS(hw=lhw.hw, decoder=None))
    assert t.dram_act_read_bytes == 2**31


def test_ideal_traffic_scales_activations_by_their_storage_ratio():
    layer = Layer("i", "conv", 2, 3, 4, 2)                       # 24 B in, 12 B out
    t = Traffic()
    ideal_traffic(t, layer, NS(hw=NS(data=NS(act_bits=8)), act_storage_ratio=0.7), 50)
    assert (t.l2_act_read_bytes, t.dram_act_read_bytes) == (17, 17)     # ceil(16.8)
    assert (t.l2_out_write_bytes, t.dram_out_write_bytes) == (9, 9)     # ceil(8.4)
    assert (t.l2_weight_read_bytes, t.dram_weight_read_bytes) == (50, 50)
