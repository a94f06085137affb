"""Exact behaviour of the weight-stationary family's shared plug-in code
(ewssim/dataflow/systolic.py): every validation rule with its one-line error (field, problem,
allowed values), the resolved :class:`Hardware` field by field, the candidate chunkings and
the L1 chunk search.  Written to kill surviving mutants (docs/testing.md)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ewssim.compress.format import WeightFormat
from ewssim.config import DataConfig, MemoryConfig, VectorConfig
from ewssim.config.presets import preset
from ewssim.dataflow import dataflow_of, resolve
from ewssim.dataflow.blocks import MappingInvalid
from ewssim.dataflow.systolic import _other_kinds, l1_chunk
from ewssim.errors import InputError
from ewssim.hw.hardware import Hardware
from ewssim.workload.layers import Layer


def _error(name, over):
    with pytest.raises(InputError) as info:
        preset(name).replace(over)
    e = info.value
    return e.field, e.problem, e.allowed


@pytest.mark.parametrize("name, over, field, problem, allowed", [
    ("ws", {"weights.format": "mvq"}, "dataflow.kind",
     "the ws dataflow's weight path decodes int8 weights, not mvq",
     "weights.format = int8, or dataflow.kind = mvq"),
    ("ws", {"weights.format": "dbb"}, "dataflow.kind",
     "the ws dataflow's weight path decodes int8 weights, not dbb",
     "weights.format = int8, or dataflow.kind = s2ta"),
    ("mvq", {"weights.format": "dbb", "weights.nm": "4:8", "array.sparse": False},
     "dataflow.kind",
     "the mvq dataflow's weight path decodes int8, vq, mvq, casec, ssvq weights, not dbb",
     "weights.format = int8, vq, mvq, casec, ssvq, or dataflow.kind = s2ta"),
    # a plug-in built around one format family blames the format
    ("s2ta-w", {"weights.format": "vq", "weights.nm": "1:1", "array.sparse": False},
     "weights.format", "the s2ta dataflow's weight path decodes int8, dbb weights, not vq",
     "weights.format = int8, dbb, or dataflow.kind = mvq"),
    ("ews", {"activations.dbb": True}, "activations.dbb",
     "activation DBB needs the S2TA array", "false, or dataflow.kind = s2ta"),
    ("ews", {"array.sparse": True}, "array.sparse",
     "the ews dataflow has no sparsity-aware array", "false, or dataflow.kind = mvq/s2ta"),
    ("mvq", {"weights.nm": "4:4"}, "array.sparse",
     "the sparsity-aware array needs N:M-pruned weights",
     "false, or weights.format = mvq/casec/dbb with N < M"),
    ("s2ta-w", {"weights.format": "int8"}, "array.sparse",
     "the sparsity-aware array needs N:M-pruned weights",
     "false, or weights.format = mvq/casec/dbb with N < M"),
    ("s2ta-w", {"array.rows": 60}, "array.rows",
     "array.rows = 60 cannot be built from groups of 8 logical PEs", "a multiple of M = 8"),
    ("mvq", {"array.rows": 60}, "array.rows",
     "array.rows = 60 is not a multiple of d = 8: sub-vectors would straddle tiles",
     "a multiple of 8"),
    ("ews", {"memory.l1_weight_bytes": 8191}, "memory.l1_weight_bytes",
     "8191 B cannot hold one 64x64 (logical) weight tile of 4096 B per half", ">= 8192 B"),
    ("ews", {"memory.l1_weight_bytes": 4095, "memory.l1_double_buffer": False},
     "memory.l1_weight_bytes", "4095 B cannot hold one 64x64 (logical) weight tile of 4096 B",
     ">= 4096 B"),
    # 64 x 64 logical weights / d = 512 sub-vectors of 8 + 4 + ... bits: 1024 B
    ("mvq", {"memory.l1_weight_bytes": 2047}, "memory.l1_weight_bytes",
     "2047 B cannot hold one 64x64 (logical) weight tile of 1024 B per half", ">= 2048 B"),
    # 4-bit weights: 64 x 64 / 2
    ("ews", {"memory.l1_weight_bytes": 4095, "data.weight_bits": 4}, "memory.l1_weight_bytes",
     "4095 B cannot hold one 64x64 (logical) weight tile of 2048 B per half", ">= 4096 B"),
])
def test_validation_errors(name, over, field, problem, allowed):
    assert _error(name, over) == (field, problem, allowed)


def test_valid_edges():
    # exactly one tile per half fits
    preset("ews").replace("memory.l1_weight_bytes", 8192)
    preset("ews").replace({"memory.l1_weight_bytes": 4096, "memory.l1_double_buffer": False})
    preset("mvq").replace("memory.l1_weight_bytes", 2048)
    # ideal memory: no tile check
    preset("ews").replace({"memory.l1_weight_bytes": 16, "memory.ideal": True})
    # 2:4 throughput use on 16 rows: 16 physical PEs cover 32 logical rows
    hw = resolve(preset("mvq").replace({"weights.format": "casec", "weights.nm": "2:4",
                                        "array.sparse_use": "throughput", "array.rows": 16}))
    assert (hw.pe_rows, hw.logical_rows, hw.crf_ports, hw.mux_fan_in) == (16, 32, 4, 4)
    # a whole number of 8-PE groups, throughput use (s2ta-w: 4:8)
    assert resolve(preset("s2ta-w").replace("array.rows", 8)).logical_rows == 16
    # N:M with N not dividing rows * N / M evenly in area use: 3:8 on 8 rows -> 3 physical
    hw = resolve(preset("s2ta-w").replace({"weights.nm": "3:8", "array.sparse_use": "area",
                                           "array.rows": 8}))
    assert (hw.pe_rows, hw.logical_rows) == (3, 8)


def test_sparse_groups_in_area_use():
    # 3:8 area use on 16 rows: 6 physical PEs, 6 * 8 // 3 = 16 logical
    assert resolve(preset("s2ta-w").replace({"weights.nm": "3:8", "array.rows": 16,
                                             "array.sparse_use": "area"})).pe_rows == 6
    # 3:8 throughput use on 16 rows: 16 * 8 // 3 = 42 logical rows
    assert resolve(preset("s2ta-w").replace({"weights.nm": "3:8", "array.rows": 16}))\
        .logical_rows == 42


def test_resolve_every_field():
    arch = preset("mvq").replace({
        "name": "x", "clock_mhz": 500.0, "array.rows": 32, "array.cols": 16,
        "array.wrf_depth": 5, "array.arf_depth": 2, "array.prf_depth": 7,
        "array.zero_gating": True, "array.acc_bits": 20, "array.act_pipe_reg": False,
        "array.prf_in_array": False, "dataflow.arf_reuse": False,
        "weights.crf_latency_cycles": 2, "weights.lzc_stage_cycles": 3,
        "weights.sign_latency_cycles": 4, "weights.crf_groups": 1,
        "weights.crf_write_bytes_per_cycle": 5, "activations.nnz": 3, "activations.block": 4,
        "memory.l2_bytes": 200000, "data.psum_bits": 24, "vector.lanes": 8,
        "activations.profile": "dense"})
    assert resolve(arch) == Hardware(
        name="x", dataflow="mvq", clock_mhz=500.0, rows=32, cols=16, pe_rows=8, wrf_depth=5,
        arf_depth=2, prf_depth=7, wrf_double_buffer=True, arf_reuse=False, prf_reuse=True,
        zero_gating=True, sparse=True, sparse_use="area", mux_fan_in=4, time_unrolled=False,
        act_block=4, act_nnz=3,
        weight_format=WeightFormat("mvq", (1, 4), 8, 256, "bitmap", 1), loader="codebook",
        crf_ports=4, crf_latency=2, lzc_stage_cycles=3, sign_latency=4, crf_groups=1,
        crf_write_bytes_per_cycle=5, load_mode="lines", drain_full_width=False,
        allow_pack=True, scalesim_layer_offset=False,
        memory=MemoryConfig(l2_bytes=200000), data=DataConfig(psum_bits=24),
        vector=VectorConfig(lanes=8), act_profile="dense", scalesim=None, acc_bits_cfg=20,
        act_pipe_reg=False, prf_in_array=False)


def test_resolve_per_dataflow():
    ws = resolve(preset("ws"))
    assert (ws.wrf_double_buffer, ws.arf_reuse, ws.prf_reuse) == (False, False, False)
    assert (ws.loader, ws.crf_ports, ws.mux_fan_in, ws.pe_rows, ws.sparse) == \
        ("int8", 0, 0, 64, False)
    assert (ws.load_mode, ws.drain_full_width, ws.allow_pack, ws.scalesim_layer_offset,
            ws.scalesim) == ("lines", False, True, False, None)
    ews = resolve(preset("ews"))
    assert (ews.wrf_double_buffer, ews.arf_reuse, ews.prf_reuse) == (True, True, True)
    ews = resolve(preset("ews").replace({"dataflow.wrf_double_buffer": False,
                                         "dataflow.prf_reuse": False}))
    assert (ews.wrf_double_buffer, ews.arf_reuse, ews.prf_reuse) == (False, True, False)
    sc = resolve(preset("scalesim-ws"))
    assert (sc.load_mode, sc.drain_full_width, sc.allow_pack, sc.scalesim_layer_offset) == \
        ("rows", True, False, True)
    assert sc.scalesim == preset("scalesim-ws").scalesim and sc.dataflow == "scalesim-ws"
    aw = resolve(preset("s2ta-aw"))
    assert (aw.time_unrolled, aw.mux_fan_in, aw.loader, aw.logical_rows, aw.pe_rows) == \
        (True, 0, "dbb", 512, 64)
    w = resolve(preset("s2ta-w"))
    assert (w.time_unrolled, w.mux_fan_in, w.loader, w.logical_rows) == \
        (False, 8, "dbb", 128)
    # activation DBB switched off on the s2ta array
    assert not resolve(preset("s2ta-aw").replace("activations.dbb", False)).time_unrolled
    mvq = resolve(preset("mvq").replace("weights.crf_ports", 3))
    assert (mvq.crf_ports, mvq.pe_rows, mvq.mux_fan_in) == (3, 16, 4)
    vq = resolve(preset("vq"))
    assert (vq.crf_ports, vq.loader, vq.sparse) == (8, "codebook", False)


def _small(**over):
    base = {"array.rows": 8, "array.cols": 4, "memory.l1_weight_bytes": 4096,
            "memory.l2_bytes": 1 << 20}
    base.update(over)
    arch = preset("ews").replace(base)
    return resolve(arch), dataflow_of(arch)


PW = Layer("p", "conv", 1, 64, 4, 4)         # 1 x 1, one row: n pixels read n elements


def test_l1_chunk_bound_by_the_output_buffer():
    # half of 512 B / (4 columns x 4 B) = 16 pixels; the input (16 x 4 B) fits
    hw, _ = _small(**{"memory.l1_out_bytes": 512})
    assert l1_chunk(PW, hw.layer(None)) == 16
    # 8-byte psums... 16-bit psums: 2 B per column
    hw, _ = _small(**{"memory.l1_out_bytes": 512, "data.psum_bits": 16})
    assert l1_chunk(PW, hw.layer(None)) == 32
    # not double-buffered: the whole 512 B
    hw, _ = _small(**{"memory.l1_out_bytes": 512, "memory.l1_double_buffer": False,
                      "memory.l1_act_bytes": 1 << 16})
    assert l1_chunk(PW, hw.layer(None)) == 32
    # capped at the stream's pixels
    hw, _ = _small()
    assert l1_chunk(PW, hw.layer(None)) == 64


def test_l1_chunk_bound_by_the_activation_buffer():
    # input of n pixels: 4 channels x n B; half of 80 B = 40 B -> 10 pixels, reached by
    # halving 64 -> 32 -> 16, then steps of max(1, p // 8): 14, 13, 12, 11, 10
    hw, _ = _small(**{"memory.l1_act_bytes": 80})
    assert l1_chunk(PW, hw.layer(None)) == 10
    hw, _ = _small(**{"memory.l1_act_bytes": 81})
    assert l1_chunk(PW, hw.layer(None)) == 10
    hw, _ = _small(**{"memory.l1_act_bytes": 88})      # 44 B: 11 pixels
    assert l1_chunk(PW, hw.layer(None)) == 11
    # 60 B half: 16 does not fit, 8 does: 16 - 16 // 8 = 14 fits (15 would too: the search
    # steps by an eighth, it does not bisect)
    hw, _ = _small(**{"memory.l1_act_bytes": 120})
    assert l1_chunk(PW, hw.layer(None)) == 14
    # single-buffered: 40 B whole
    hw, _ = _small(**{"memory.l1_act_bytes": 40, "memory.l1_double_buffer": False})
    assert l1_chunk(PW, hw.layer(None)) == 10
    # 8 B half: 32, 16, 8, 4 by halving, then 3, 2
    hw, _ = _small(**{"memory.l1_act_bytes": 16})
    assert l1_chunk(PW, hw.layer(None)) == 2
    hw, _ = _small(**{"memory.l1_act_bytes": 16, "memory.l1_double_buffer": False})
    assert l1_chunk(PW, hw.layer(None)) == 4


def test_l1_chunk_counts_the_packed_groups_and_the_rows():
    # depthwise, 1 channel per group: 8 rows pack min(16, 8 // 1) = 8 groups; a 1x1 kernel
    # reads n pixels x 8 groups: 64 B half -> 8 pixels
    dw = Layer("d", "conv", 1, 36, 16, 16, groups=16)
    hw, _ = _small(**{"memory.l1_act_bytes": 128})
    assert l1_chunk(dw, hw.layer(None)) == 8
    # 3 channels per group, 8 rows: 8 // 3 = 2 groups of 3 channels: 6 B a pixel -> 10
    g = Layer("g", "conv", 1, 36, 12, 12, groups=4)
    hw, _ = _small(**{"memory.l1_act_bytes": 128})
    assert l1_chunk(g, hw.layer(None)) == 10
    # more channels than rows: only 8 of 16 channels per tile -> 8 B a pixel
    wide = Layer("w", "conv", 1, 36, 16, 4)
    assert l1_chunk(wide, hw.layer(None)) == 8
    # 16-bit activations: one pixel is 16 B, the whole 16 B half
    hw, _ = _small(**{"memory.l1_act_bytes": 32, "data.act_bits": 16})
    assert l1_chunk(wide, hw.layer(None)) == 1
    # 2 groups of 8 channels: 8 rows hold one group a tile (8 B a pixel; 64 B half: 8)
    two = Layer("h", "conv", 1, 36, 16, 16, groups=2)
    hw2, _ = _small(**{"memory.l1_act_bytes": 128})
    assert l1_chunk(two, hw2.layer(None)) == 8


def test_a_one_pixel_chunk_is_a_candidate():
    # 8 channels of 16-bit activations a pixel: 16 B, the whole 16 B half: chunks of 1
    wide = Layer("w", "conv", 1, 36, 16, 4)
    hw, flow = _small(**{"memory.l1_act_bytes": 32, "data.act_bits": 16})
    assert flow.chunks(wide, hw.layer(None)) == [("prf16", 16, True), ("stream", None, False),
                                                 ("l1-block1", 1, False)]


def test_l1_chunk_of_one_pixel_that_does_not_fit():
    # 8 B a pixel, a 4 B half (below what the configuration allows): the search stops at 1
    hw, _ = _small()
    tiny = replace(hw, memory=replace(hw.memory, l1_act_bytes=8))
    assert l1_chunk(Layer("w", "conv", 1, 36, 16, 4), tiny.layer(None)) == 1


def test_no_l1_block_when_not_one_column_of_psums_fits():
    # 8 B of output buffer: half of it holds no 4 x 4 B column of psums: chunk 0, no block
    hw, flow = _small()
    tiny = replace(hw, memory=replace(hw.memory, l1_out_bytes=8))
    assert l1_chunk(PW, tiny.layer(None)) == 0
    assert flow.chunks(PW, tiny.layer(None)) == [("prf16", 16, True), ("stream", None, False)]


def test_l1_chunk_worst_chunk_start():
    # 3 x 3 conv, pad 1, 4 x 4 output, one channel: a chunk's input depends on where it
    # starts (the padded top and bottom rows read less)
    conv = Layer("c", "conv", 4, 4, 1, 4, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1)
    fp = conv.input_footprint
    assert (fp(0, 16), fp(0, 8), fp(8, 16), fp(0, 7), fp(7, 14), fp(6, 9)) == \
        (16, 12, 12, 12, 16, 16)
    assert (fp(0, 2), fp(4, 6), fp(6, 8), fp(5, 6)) == (6, 9, 9, 9)
    # 12 B half: 16 (16 B) -> 8 fits -> 14 (16 B); 7 does not fit (7..14: 16 B) -> 7;
    # 3 (6..9: 16 B) does not fit -> 3; 1 fits -> 2 (at most 9 B): 2
    hw, _ = _small(**{"memory.l1_act_bytes": 24})
    assert l1_chunk(conv, hw.layer(None)) == 2
    # 16 B half: the whole stream
    hw, _ = _small(**{"memory.l1_act_bytes": 32})
    assert l1_chunk(conv, hw.layer(None)) == 16


def test_chunks_and_candidates():
    hw, flow = _small(**{"memory.l1_out_bytes": 512})
    lh = hw.layer(None)
    assert flow.chunks(PW, lh) == [("prf16", 16, True), ("stream", None, False),
                                   ("l1-block16", 16, False)]
    # no l1 block when the chunk is the whole stream
    hw2, flow2 = _small()
    assert flow2.chunks(PW, hw2.layer(None)) == [("prf16", 16, True), ("stream", None, False)]
    # no PRF reuse, ideal memory: the stream alone
    hw3, flow3 = _small(**{"dataflow.prf_reuse": False, "memory.ideal": True})
    assert flow3.chunks(PW, hw3.layer(None)) == [("stream", None, False)]
    ms = flow.candidates(PW, lh, PW.weight_bytes())
    # the whole stream keeps 64 pixels x 4 columns x 4 B = 1024 B of psums: over half
    assert [(m.name, m.chunk, m.psums_in_prf, m.notes) for m in (ms[0], ms[2])] == [
        ("prf16", 16, True, []), ("l1-block16", 16, False, [])]
    assert isinstance(ms[1], MappingInvalid)
    assert str(ms[1]) == ("stream: a pass keeps 1024 B in the L1 output buffer, more than "
                          "half (256 B)")
    assert all(m.blocks is not None and m.lhw is lh and m.layer is PW for m in (ms[0], ms[2]))
    # psums in the PRF: 64 pixels x 4 columns of finished outputs pass through it, and the
    # L1 output buffer holds 8-bit outputs (4 chunks x 64 B: one 256 B block) instead of
    # 32-bit psums (256 B per chunk: a block each)
    assert ms[0].traffic.prf_accesses == 256 and ms[2].traffic.prf_accesses == 0
    assert ms[0].blocks.out_buf.tolist() == [256]
    assert ms[2].blocks.out_buf.tolist() == [256] * 4
    assert ms[0].schedule.p1.tolist() == [16, 32, 48, 64]
    lazy = flow.candidates(PW, lh, PW.weight_bytes(), lazy=True)
    assert [m.blocks for m in lazy] == [None, None, None]
    assert lazy[1].name == "stream"
    # packed groups are noted: min(8 rows // 1, 4 columns // 1, 8 groups) = 4
    dw = Layer("d", "conv", 4, 4, 8, 8, groups=8)
    ms = flow.candidates(dw, lh, dw.weight_bytes())
    assert ms[1].notes == ["4 groups packed per tile"]
    dw2 = Layer("d2", "conv", 4, 4, 2, 2, groups=2)
    assert flow.candidates(dw2, lh, dw2.weight_bytes())[1].notes == \
        ["2 groups packed per tile"]
    ideal = flow3.candidates(PW, hw3.layer(None), 123)
    assert len(ideal) == 1 and ideal[0].blocks is None
    assert ideal[0].traffic.as_dict()["dram_weight_read_bytes"] == 123


def test_candidates_report_mappings_that_do_not_fit():
    # ARF reuse: a tile loads 8 rows x 3 taps x 4 columns = 96 B, over half of 64 B
    hw, flow = _small(**{"memory.l1_weight_bytes": 64})
    conv = Layer("c", "conv", 6, 6, 4, 4, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1)
    ms = flow.candidates(conv, hw.layer(None), conv.weight_bytes())
    assert [type(m) for m in ms] == [MappingInvalid] * 2
    assert str(ms[0]) == ("prf16: one weight action reads 96 B, more than half of the L1 "
                          "weight buffer (32 B)")
    assert str(ms[1]).startswith("stream: one weight action reads 96 B")


def test_other_kinds(monkeypatch):
    assert _other_kinds("vq") == ", or dataflow.kind = mvq"
    assert _other_kinds("dbb") == ", or dataflow.kind = s2ta"
    assert _other_kinds("array.sparse") == ", or dataflow.kind = mvq/s2ta"
    assert _other_kinds("activations.dbb") == ", or dataflow.kind = s2ta"
    assert _other_kinds("int8") == ", or dataflow.kind = ws/ews/mvq/s2ta/scalesim-ws"
    assert _other_kinds("nothing") == ""
    # a registered dataflow outside the systolic family is skipped, wherever it is listed
    import ewssim.dataflow as df

    class Other:
        weight_formats = ("vq",)
        sparse_array = activation_dbb = True
    monkeypatch.setattr(df, "DATAFLOWS", {"other": Other, **df.DATAFLOWS})
    assert _other_kinds("vq") == ", or dataflow.kind = mvq"
    assert _other_kinds("array.sparse") == ", or dataflow.kind = mvq/s2ta"
