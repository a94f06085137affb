"""Exact values of the resolved hardware (ewssim/hw/hardware.py): the derived geometry of
:class:`Hardware` and how one layer's weight format runs on it (:class:`LayerHardware`) --
logical rows, position bits, line and load times, stored activation sizes, executed MACs.
Hardware values are built from a preset and changed field by field with
``dataclasses.replace``, so each rule is seen alone.  Written to kill surviving mutants
(docs/testing.md)."""

from __future__ import annotations

from dataclasses import replace

from ewssim.compress.format import WeightFormat
from ewssim.config import DataConfig, MemoryConfig
from ewssim.config.presets import preset
from ewssim.dataflow import resolve
from ewssim.hw.hardware import ceil_div
from ewssim.workload.layers import Layer

BASE = resolve(preset("ws"))            # dense INT8, 64 x 64, nothing switched on
INT8 = WeightFormat()
MVQ = WeightFormat("mvq", (1, 4), 8, 256, "bitmap", 1)
VQ = WeightFormat("vq", (1, 1), 8, 16, "none", 1)
SSVQ = WeightFormat("ssvq", (1, 1), 4, 16, "none", 1)
DBB38 = WeightFormat("dbb", (3, 8), 8, 1, "positions", 1)
DBB26 = WeightFormat("dbb", (2, 6), 6, 1, "positions", 1)


def hw(**kw):
    return replace(BASE, **kw)


def test_ceil_div_of_ints_and_negatives():
    assert [ceil_div(a, 4) for a in (0, 1, 4, 5, 8, 9)] == [0, 1, 1, 2, 2, 3]
    assert ceil_div(7, 7) == 1 and ceil_div(15, 7) == 3


def test_geometry_and_memory_shares():
    h = hw(rows=12, cols=5, pe_rows=3,
           memory=MemoryConfig(l2_bytes=1000, l2_act_fraction=0.3333, l1_double_buffer=True))
    assert h.physical_pes == 15
    assert h.halves == 2
    assert h.l2_act_bytes == 333 and h.l2_stage_bytes == 667
    single = hw(memory=MemoryConfig(l2_bytes=999, l2_act_fraction=0.5, l1_double_buffer=False))
    assert single.halves == 1
    assert single.l2_act_bytes == 499 and single.l2_stage_bytes == 500


def test_nm_and_logical_rows():
    assert BASE.nm == (1, 1) and BASE.logical_rows == 64
    assert hw(weight_format=DBB38).nm == (3, 8)
    # dense array: the configured rows whatever the format
    assert hw(rows=24, weight_format=DBB38).logical_rows == 24
    # sparse, area use: still the configured rows
    assert hw(rows=24, sparse=True, sparse_use="area", weight_format=DBB38).logical_rows == 24
    # sparse, throughput use: rows * M // N (floor: 24 * 8 / 3 = 64, 10 * 8 / 3 = 26.67)
    thr = hw(rows=10, sparse=True, sparse_use="throughput", weight_format=DBB38)
    assert thr.logical_rows == 26 and isinstance(thr.logical_rows, int)
    # time-unrolled: rows * BZ, before the sparse rule
    tu = hw(rows=10, sparse=True, sparse_use="throughput", weight_format=DBB38,
            time_unrolled=True, act_block=5)
    assert tu.logical_rows == 50


def test_position_bits_channels_and_gating():
    assert BASE.wrf_pos_bits == 0 and BASE.act_pos_bits == 0
    assert hw(sparse=True, weight_format=DBB38).wrf_pos_bits == 3
    assert hw(sparse=True, weight_format=DBB26).wrf_pos_bits == 3     # ceil(log2 6)
    assert hw(sparse=True, weight_format=MVQ).wrf_pos_bits == 2
    assert hw(sparse=False, weight_format=DBB38).wrf_pos_bits == 0
    assert hw(time_unrolled=True, act_block=8).act_pos_bits == 3
    assert hw(time_unrolled=True, act_block=9).act_pos_bits == 4
    assert hw(time_unrolled=True, act_block=1).act_pos_bits == 0
    assert hw(time_unrolled=False, act_block=9).act_pos_bits == 0
    assert hw(mux_fan_in=8, weight_format=DBB26).act_channels == 6
    assert hw(mux_fan_in=0, weight_format=DBB26).act_channels == 1
    assert not BASE.gates_activations
    assert hw(zero_gating=True).gates_activations
    assert hw(time_unrolled=True).gates_activations


def test_accumulator_bits():
    assert hw(acc_bits_cfg=21).acc_bits == 21
    # 8 + 8 + ceil(log2(12 * 3)) = 16 + 6
    assert hw(pe_rows=12, arf_depth=3).acc_bits == 22
    # arf_depth 0 counts as 1: ceil(log2 16) = 4
    assert hw(pe_rows=16, arf_depth=0).acc_bits == 20
    assert hw(pe_rows=16, arf_depth=1,
              data=DataConfig(act_bits=4, weight_bits=16, psum_bits=32)).acc_bits == 24


def test_layer_on_a_dense_array():
    lh = BASE.layer(None)
    assert lh.format == INT8 and lh.hw is BASE
    assert (lh.pe_rows, lh.logical_rows, lh.sparse, lh.time_unrolled, lh.nnz_a,
            lh.density, lh.decoder) == (64, 64, False, False, 1, 1.0, False)
    lh = hw(pe_rows=10, rows=40).layer(DBB38, 0.5)      # a pruned format, dense array
    assert (lh.pe_rows, lh.logical_rows, lh.sparse, lh.density) == (10, 10, False, 0.5)


def test_layer_on_the_sparse_array():
    sp = hw(rows=24, pe_rows=9, sparse=True, sparse_use="area")
    lh = sp.layer(DBB38)
    assert (lh.pe_rows, lh.logical_rows, lh.sparse) == (9, 24, True)    # 9 * 8 // 3
    lh = hw(rows=24, pe_rows=10, sparse=True).layer(DBB38)
    assert lh.logical_rows == 26 and isinstance(lh.logical_rows, int)
    # an unpruned layer on the sparse array: physical PEs only
    lh = sp.layer(INT8)
    assert (lh.pe_rows, lh.logical_rows, lh.sparse) == (9, 9, False)
    lh = sp.layer(VQ)
    assert (lh.logical_rows, lh.sparse, lh.decoder) == (9, False, False)   # loader "int8"
    assert hw(loader="codebook").layer(VQ).decoder
    assert not hw(loader="codebook").layer(INT8).decoder
    assert not hw(loader="dbb").layer(DBB38).decoder


def test_layer_time_unrolled():
    tu = hw(rows=7, pe_rows=7, sparse=True, sparse_use="throughput", time_unrolled=True,
            act_block=8, act_nnz=0)
    lh = tu.layer(DBB38, 0.3)
    # NNZ_a = ceil(0.3 * 8) = 3
    assert (lh.time_unrolled, lh.logical_rows, lh.nnz_a, lh.sparse) == (True, 56, 3, True)
    assert tu.layer(DBB38, 0.5).nnz_a == 4
    assert tu.layer(DBB38, 1.0).nnz_a == 8
    # a fixed NNZ_a, capped at the block
    assert replace(tu, act_nnz=2).layer(DBB38, 0.9).nnz_a == 2
    assert replace(tu, act_nnz=11).layer(DBB38, 0.1).nnz_a == 8
    # a dense layer (not DBB) on the tensor array: no time unrolling
    lh = tu.layer(INT8, 0.3)
    assert (lh.time_unrolled, lh.logical_rows, lh.nnz_a) == (False, 7, 1)
    # DBB but not pruned (N = M): no time unrolling either
    lh = tu.layer(WeightFormat("dbb", (8, 8), 8, 1, "none", 1), 0.3)
    assert (lh.time_unrolled, lh.nnz_a) == (False, 1)


def test_taps_slot_cycles_entries_and_double_buffer():
    conv5 = Layer("c", "conv", 4, 4, 2, 2, kernel_h=5, kernel_w=5, pad_h=2, pad_w=2)
    conv1 = Layer("p", "conv", 4, 4, 2, 2)
    assert BASE.layer(None).taps(conv5) == 1
    reuse = hw(arf_reuse=True, arf_depth=3)
    assert reuse.layer(None).taps(conv5) == 3
    assert hw(arf_reuse=True, arf_depth=9).layer(None).taps(conv5) == 5
    assert reuse.layer(None).taps(conv1) == 1
    assert hw(arf_reuse=True, arf_depth=0).layer(None).taps(conv5) == 1
    tu = hw(rows=4, pe_rows=4, sparse=True, sparse_use="throughput", time_unrolled=True,
            act_block=8, act_nnz=3)
    lh = tu.layer(DBB38, 1.0)
    assert lh.slot_cycles == 3 and lh.entries_per_set == 3
    assert BASE.layer(None).slot_cycles == 1 and BASE.layer(None).entries_per_set is None
    assert hw(wrf_double_buffer=True).layer(None).double_buffer
    assert not BASE.layer(None).double_buffer


def test_crf_ports_and_line_cycles():
    cb = hw(loader="codebook", rows=20, pe_rows=20)
    lh = cb.layer(VQ)                      # d = 8: ceil(20 / 8) = 3 ports
    assert lh.crf_ports == 3
    assert replace(cb, crf_ports=2).layer(VQ).crf_ports == 2
    line = lh.line_cycles()
    assert [line(r) for r in (1, 8, 9, 20)] == [1, 1, 1, 1]
    line2 = replace(cb, crf_ports=2).layer(VQ).line_cycles()
    # ceil(ceil(r / 8) / 2)
    assert [line2(r) for r in (1, 8, 16, 17, 20, 33)] == [1, 1, 1, 2, 2, 3]
    line1 = replace(cb, crf_ports=1).layer(SSVQ).line_cycles()      # d = 4
    assert [line1(r) for r in (1, 4, 5, 13)] == [1, 1, 2, 4]
    assert BASE.layer(None).line_cycles() == 1
    tu = hw(rows=4, pe_rows=4, sparse=True, sparse_use="throughput", time_unrolled=True,
            act_block=8, act_nnz=3)
    assert tu.layer(DBB38).line_cycles() == 3


def test_load_latency():
    cb = hw(loader="codebook", crf_latency=5, lzc_stage_cycles=7, sign_latency=11)
    assert cb.layer(VQ).load_latency == 5
    assert cb.layer(MVQ).load_latency == 5 + 1 * 7          # N = 1 bitmap LZC stage
    assert cb.layer(WeightFormat("mvq", (2, 4), 8, 256, "bitmap", 1)).load_latency == 5 + 14
    assert cb.layer(WeightFormat("mvq", (2, 4), 8, 256, "positions", 1)).load_latency == 5
    assert cb.layer(SSVQ).load_latency == 5 + 11
    assert hw(loader="int8", crf_latency=5).layer(VQ).load_latency == 0
    assert BASE.layer(None).load_latency == 0


def test_weight_bytes_and_storage():
    conv = Layer("c", "conv", 4, 4, 3, 5, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1)
    assert BASE.layer(None).weight_bytes(conv, None) == 135
    h4 = hw(data=DataConfig(act_bits=8, weight_bits=4, psum_bits=32))
    assert h4.layer(None).weight_bytes(conv, None) == 68          # ceil(135 / 2)
    assert BASE.layer(None).weight_bytes(conv, 77) == 77
    assert BASE.layer(None).weight_bytes(conv, 0) == 0
    # activation DBB storage: NNZ_a (8 + 3) bits per block of 8 x 8 bits
    tu = hw(rows=4, pe_rows=4, sparse=True, sparse_use="throughput", time_unrolled=True,
            act_block=8, act_nnz=3)
    lh = tu.layer(DBB38, 1.0)
    assert lh.act_pos_bits == 3
    assert lh.act_storage_ratio == 3 * 11 / 64
    assert tu.layer(DBB38, 0.8).act_storage_ratio == 3 * 11 / 64
    assert replace(tu, act_nnz=0).layer(DBB38, 0.5).act_storage_ratio == 4 * 11 / 64
    assert replace(tu, act_nnz=7).layer(DBB38, 1.0).act_storage_ratio == 1.0   # capped
    assert BASE.layer(None).act_storage_ratio == 1.0 and BASE.layer(None).act_pos_bits == 0
    assert tu.layer(INT8).act_pos_bits == 0 and tu.layer(INT8).act_storage_ratio == 1.0


def test_kept_fraction_and_executed_macs():
    sp = hw(rows=24, pe_rows=9, sparse=True)
    assert sp.layer(DBB38).kept_fraction == 3 / 8
    assert hw(rows=24).layer(DBB38).kept_fraction == 1.0
    assert sp.layer(DBB38).executed_macs(1001) == 375          # 1001 * 3 // 8
    assert hw(rows=24).layer(DBB38).executed_macs(1001) == 1001
    zg = hw(zero_gating=True)
    assert zg.layer(None, 0.3).executed_macs(1001) == 300      # round(300.3)
    assert zg.layer(None, 0.7).executed_macs(1001) == 701      # round(700.7)
    assert zg.layer(None, 0.4).executed_macs(5) == 2
    assert replace(sp, zero_gating=True).layer(DBB38, 0.5).executed_macs(1001) == 188
    assert BASE.layer(None, 0.3).executed_macs(1001) == 1001
    tu = hw(rows=4, pe_rows=4, sparse=True, sparse_use="throughput", time_unrolled=True,
            act_block=8, act_nnz=2)
    # density capped at NNZ_a / BZ = 0.25 for a fixed NNZ_a
    assert tu.layer(DBB38, 0.9).executed_macs(800) == 75       # 800 * 3 // 8 * 0.25
    assert tu.layer(DBB38, 0.1).executed_macs(800) == 30
    assert replace(tu, act_nnz=0).layer(DBB38, 0.9).executed_macs(800) == 270
    # gating on, but a dense layer: not time-unrolled, no cap
    assert tu.layer(INT8, 0.9).executed_macs(800) == 720
