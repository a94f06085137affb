"""Operand traffic of a tile schedule, per memory level.  Shared by every dataflow plug-in.

L1 <-> array counts are exact, per tile (docs/model-reference.md, "Traffic"):

* activations: each used PE row reads, per pixel, the activations new to its window: ``taps``
  when its window restarts (first pixel of the tile or of an output row), else
  ``min(taps, stride_w / dil_w)`` when the window slides by whole taps (``taps`` otherwise);
  with ``taps = 1`` that is one read per row per pixel (im2col, as SCALE-Sim counts);
* weights: every load reads the tile's real weights (padded taps of the last kernel-column
  chunk are generated as zeros, not read);
* partial sums: a tile that is not the last reduction fold of its pixels writes psums
  (``psum_bits``) unless they stay in the PRF; a tile that is not the first reads them back; the
  last fold writes finished outputs (``act_bits``).

L2 and DRAM traffic follow from whether working sets fit the buffers (``buffer_traffic``).
"""

from __future__ import annotations

import math

import numpy as np

from ewssim.dataflow.base import TileSchedule, Traffic
from ewssim.hw.hardware import LayerHardware, ceil_div
from ewssim.workload.layers import Layer


def _bytes(count: int, bits: int) -> int:
    return (int(count) * bits + 7) // 8


def window_step(layer: Layer, taps: int) -> int:
    """New activations per pixel when a row's ARF window slides along an output row."""
    if taps == 1:
        return 1
    if layer.stride_w % layer.dil_w == 0:
        return min(taps, layer.stride_w // layer.dil_w)
    return taps


def act_reads_per_row(s: TileSchedule, layer: Layer) -> np.ndarray:
    """Activation reads of one PE row for each tile."""
    t = s.taps
    pixels = s.p1 - s.p0
    if t == 1:
        return pixels
    ow = layer.out_w
    restarts = 1 + (s.p1 - 1) // ow - s.p0 // ow
    return restarts * t + (pixels - restarts) * window_step(layer, t)


def valid_taps(s: TileSchedule, kernel_w: int) -> np.ndarray:
    """Cumulative count of real weights per unit, shape (U + 1,)."""
    s0 = s.units[:, 2]
    per_unit = np.minimum(s.taps, kernel_w - s0)
    return np.concatenate([[0], np.cumsum(per_unit)])


def _act_reads(s: TileSchedule, layer: Layer, lhw: LayerHardware) -> tuple[int, int]:
    """(activation elements read from L1, bits each).  Time-unrolled activation blocks: per
    physical row (one block) and pixel, the NNZ_a kept activations, each with its position."""
    bits = lhw.hw.data.act_bits
    if lhw.time_unrolled:
        blocks = ceil_div(s.used_rows, lhw.hw.act_block)
        count = int((blocks * (s.p1 - s.p0)).sum()) * lhw.nnz_a
        return count, bits + lhw.act_pos_bits
    return int((act_reads_per_row(s, layer) * s.used_rows).sum()), bits


def array_traffic(s: TileSchedule, layer: Layer, lhw: LayerHardware, *,
                  psums_in_prf: bool) -> Traffic:
    """L1 <-> array traffic and the weight path's activity.

    Weights: an INT8 load reads its real weights; a compressed load reads, per sub-vector of
    ``d`` logical positions, its stored bits (index, mask and sign bits; dbb: values and mask)
    rounded up to bytes once per tile, a codebook load does one CRF read per sub-vector and --
    bitmap masks -- ``N`` LZC evaluations per ``M``-group; the codebook groups are read from L1
    once per layer (with their float32 scales, which go to the output path) and written into
    the CRF, which holds all of them.  ``executed_macs``: :meth:`LayerHardware.executed_macs`.
    """
    d = lhw.hw.data
    f = lhw.format
    pixels = s.p1 - s.p0
    cum = valid_taps(s, layer.kernel_w)
    w_per_tile = (s.g1 - s.g0) * (s.n1 - s.n0) * (cum[s.u1] - cum[s.u0])
    loaded = w_per_tile[s.load_cycles > 0]
    units = s.units.shape[0]
    first = s.u0 == 0
    last = s.u1 == units
    outs = s.used_cols * pixels
    t = Traffic(
        l1_act_read_bytes=_bytes(*_act_reads(s, layer, lhw)),
        l1_out_write_bytes=_bytes(int(outs[last].sum()), d.act_bits),
        int8_weight_bytes=layer.weight_bytes(8),
        executed_macs=lhw.executed_macs(layer.macs),
    )
    if f.int8:
        # a matmul's stationary operand is an activation
        bits = d.act_bits if layer.kind == "matmul" else d.weight_bits
        t.l1_weight_read_bytes = _bytes(int(loaded.sum()), bits)
    else:
        # per sub-vector (dbb: per block) its stored bits: index / values, mask, signs
        lb = f.layer_bits(layer.weight_shape)
        sub = -(-loaded // f.d)
        t.l1_weight_read_bytes = int((-(-sub * f.subvector_bits // 8)).sum()) + \
            (lb.codebook_bits + lb.scale_bits + 7) // 8
        if f.codebook:
            t.crf_reads = int(sub.sum())
            t.crf_reload_bytes = lb.codebook_bits // 8  # all groups, once per layer
        if f.pruned and f.mask_encoding == "bitmap":
            n, m = f.nm
            t.lzc_decodes = int(sub.sum()) * (f.d // m) * n
    _array_actions(t, s, layer, lhw, psums_in_prf, int(loaded.sum()))
    if not psums_in_prf:
        t.l1_psum_read_bytes = _bytes(int(outs[~first].sum()), d.psum_bits)
        t.l1_out_write_bytes += _bytes(int(outs[~last].sum()), d.psum_bits)
    return t


def _array_actions(t: Traffic, s: TileSchedule, layer: Layer, lhw: LayerHardware,
                   psums_in_prf: bool, loaded_weights: int) -> None:
    """Element-level actions inside the array, per tile (docs/model-reference.md §3):

    * every executed MAC reads one weight from the WRF and one activation from the ARF (or the
      activation pipeline register when ``taps = 1``); a PE with an ``M:1`` activation mux
      (spatial sparse array) also drives one mux select;
    * a load writes its weights into the WRFs (only the kept ``N/M`` on the sparse array);
    * an activation read from L1 at a row's left edge is latched by every used PE of the row
      (``act_hops`` = ``arf_writes`` = reads x used columns);
    * a pixel's partial sum crosses all physical rows of each used column (``psum_hops``);
    * in the chunked PRF order every result of every reduction fold is one PRF accumulate.
    """
    pixels = s.p1 - s.p0
    reads_per_row = act_reads_per_row(s, layer)
    t.wrf_reads = t.arf_reads = t.executed_macs
    t.mux_selects = t.executed_macs if lhw.hw.mux_fan_in else 0
    t.wrf_writes = int(round(loaded_weights * lhw.kept_fraction))
    t.act_hops = t.arf_writes = int((reads_per_row * s.used_rows * s.used_cols).sum())
    t.psum_hops = int((pixels * s.used_cols).sum()) * s.rows
    t.prf_accesses = int((pixels * s.used_cols).sum()) if psums_in_prf else 0


def block_traffic(t: Traffic, blocks, lhw: LayerHardware) -> None:
    """L2 and DRAM bytes of a mapping, from its L1 blocks (:mod:`ewssim.dataflow.blocks`):
    every fill reads its bytes from L2, every drain writes its bytes to L2; DRAM moves whole
    bursts (``memory.dram_burst_bytes``) of the staged input pieces or streamed activation
    blocks, of the weight blocks fetched from DRAM, and of the output blocks not kept on
    chip.  The CRF is written by the codebook loads: the initial fill and every reload."""
    burst = lhw.hw.memory.dram_burst_bytes

    def dram(nbytes) -> int:
        nb = np.asarray(nbytes, dtype=np.int64)
        return int((-(-nb // burst) * burst).sum())

    a, w, o = blocks.act, blocks.w, blocks.out
    t.l2_act_read_bytes = int(a.nbytes.sum())
    t.l2_weight_read_bytes = int(w.nbytes.sum())
    t.l2_out_write_bytes = int(o.nbytes.sum())
    t.l2_psum_read_bytes = 0
    if blocks.act_src == "stream":
        t.dram_act_read_bytes = dram(a.nbytes)
    elif blocks.act_src == "staged":
        t.dram_act_read_bytes = dram(blocks.act_piece[blocks.act_piece > 0])
    else:
        t.dram_act_read_bytes = 0
    t.dram_weight_read_bytes = dram(blocks.w_piece[blocks.w_piece > 0]) \
        if blocks.w_src == "dram" else 0
    t.dram_out_write_bytes = dram(o.nbytes) if blocks.out_dest == "dram" else 0
    if lhw.decoder:
        t.crf_reload_bytes = blocks.crf_bytes


def ideal_traffic(t: Traffic, layer: Layer, lhw: LayerHardware, weight_bytes: int) -> None:
    """Ideal memory (no capacities): the input, the weights and the output each cross L2 and
    DRAM once."""
    bits = lhw.hw.data.act_bits
    ratio = lhw.act_storage_ratio
    inp = int(math.ceil(layer.input_bytes(bits) * ratio))
    out = int(math.ceil(layer.output_bytes(bits) * ratio))
    t.l2_act_read_bytes = t.dram_act_read_bytes = inp
    t.l2_weight_read_bytes = t.dram_weight_read_bytes = weight_bytes
    t.l2_out_write_bytes = t.dram_out_write_bytes = out
