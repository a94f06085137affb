"""Exact L1 blocks of ewssim/dataflow/blocks.py: the small helpers (byte rounding, runs,
greedy packing, consumer -> block maps), the activation blocks against a plain tile-by-tile
greedy written out here, the staged input pieces, the weight-path actions (codebook fills and
LRU reloads), the weight blocks and their L2 staging, the output blocks and the sources and
destinations of a layer.  Written to kill surviving mutants (docs/testing.md)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from ewssim.compress.format import WeightFormat
from ewssim.config import MemoryConfig
from ewssim.config.presets import preset
from ewssim.dataflow import LayerContext, resolve, tiling
from ewssim.dataflow import blocks as B
from ewssim.dataflow.blocks import CRF, LOAD, MappingInvalid
from ewssim.workload.layers import Layer

EWS = resolve(preset("ews").replace({"array.rows": 4, "array.cols": 4,
                                     "memory.l1_weight_bytes": 4096}))
CONV = Layer("c", "conv", 4, 4, 2, 8, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1)
ON = LayerContext(input_on_chip=True, output_on_chip=True)


def mem(hw=EWS, act=1 << 16, w=1 << 15, out=1 << 15, db=True, l2=1 << 20, frac=0.75):
    return replace(hw, memory=MemoryConfig(l1_act_bytes=act, l1_weight_bytes=w,
                                           l1_out_bytes=out, l1_double_buffer=db, l2_bytes=l2,
                                           l2_act_fraction=frac))


def sched(tiles, *, units=8, taps=1):
    """A hand-made schedule: ``tiles`` = (g0, g1, n0, n1, u0, u1, p0, p1, load_cycles)."""
    cols = np.asarray(tiles, np.int64).T
    un = np.zeros((units, 3), np.int64)
    return B.TileSchedule(*cols[:8], load_cycles=cols[8], release=np.full(len(tiles), -1),
                          drain_cols=np.full(len(tiles), 4), taps=taps, rows=4, cols=4,
                          double_buffer=True, units=un)


# ----------------------------------------------------------------------------- helpers

def test_bytes_rounding():
    assert B._bytes([3, 8, 0, 1], 12).tolist() == [5, 12, 0, 2]
    assert B._bytes(5, 3) == 2 and B._bytes(16, 8) == 16 and B._bytes(7, 4) == 4
    big = B._bytes(3_000_000_000, 8)
    assert big == 3_000_000_000 and big.dtype == np.int64


def test_run_starts():
    a = np.array([1, 1, 2, 2, 1, 1])
    b = np.array([0, 1, 1, 1, 1, 1])
    assert B._run_starts(a).tolist() == [0, 2, 4]
    assert B._run_starts(a, b).tolist() == [0, 1, 2, 4]
    assert B._run_starts(np.zeros(0, np.int64)).tolist() == []
    assert B._run_starts(np.array([5])).tolist() == [0]


def test_greedy_packing():
    assert B._greedy(np.array([3, 4, 2, 5, 1]), 7).tolist() == [0, 2, 4]
    assert B._greedy(np.array([3, 4, 2, 5, 1]), 6).tolist() == [0, 1, 3]
    assert B._greedy(np.array([3, 4, 2, 5, 1]), 15).tolist() == [0]
    assert B._greedy(np.array([3, 4, 2, 5, 1]), 14).tolist() == [0, 4]
    # an item over the half is a block of its own
    assert B._greedy(np.array([9, 1, 1]), 5).tolist() == [0, 1]
    assert B._greedy(np.array([1, 9, 1]), 5).tolist() == [0, 1, 2]
    assert B._greedy(np.zeros(0, np.int64), 5).tolist() == []
    assert B._greedy(np.zeros(0, np.int64), 5).dtype == np.int64
    assert B._greedy(np.array([2, 2, 2, 2]), 4).tolist() == [0, 2]


def test_stream_maps_consumers_to_blocks():
    st = B._stream([0, 3], [2, 4], [10, 20], 6)
    assert st.of.tolist() == [0, 0, 0, 1, 1, -1] and len(st) == 2
    assert st.first.dtype == np.int64 and st.nbytes.tolist() == [10, 20]
    st = B._stream([1, 3], [1, 4], [7, 8], 5)
    assert st.of.tolist() == [-1, 0, -1, 1, 1]
    st = B._stream([], [], [], 3)
    assert st.of.tolist() == [-1, -1, -1] and len(st) == 0 and st.of.dtype == np.int64
    assert st.first.dtype == np.int64 and st.last.dtype == np.int64


def test_load_action_per_tile():
    lb = B.LayerBlocks(act=None, act_src="l2", act_piece=None, w=None, w_piece=None,
                       w_free_at=None, w_kind=np.array([CRF, LOAD, LOAD, CRF, LOAD]),
                       w_tile=np.array([0, 0, 2, 3, 3]), w_cycles=None, w_src="dram",
                       out=B._stream([0], [4], [1], 5), out_buf=None, out_dest="l2")
    assert lb.load_action().tolist() == [1, -1, 2, 4, -1]
    assert lb.crf_bytes == 0
    assert (CRF, LOAD) == (0, 1)


def test_halves_channels_and_stored_sizes():
    lh = mem(db=True).layer(None)
    assert B._halves(lh) == 2 and B._halves(mem(db=False).layer(None)) == 1
    assert B._channels(CONV, 0, 1) == 1 and B._channels(CONV, 2, 7) == 2
    assert B._channels(Layer("g", "conv", 2, 2, 12, 12, groups=3), 1, 4) == 3
    assert B._channels(Layer("g", "conv", 2, 2, 12, 12, groups=3), 1, 9) == 4
    assert B._stored(lh, [10, 3]).tolist() == [10, 3]
    assert B._stored_one(lh, 10) == 10
    # activation DBB: 3 kept of 8, (8 + 3) bits each: 33 / 64 of the dense bytes
    aw = resolve(preset("s2ta-aw").replace({"array.rows": 8, "array.cols": 4,
                                            "activations.nnz": 3}))
    lh = aw.layer(WeightFormat("dbb", (4, 8), 8, 1, "positions", 1))
    assert lh.act_storage_ratio == 33 / 64
    assert B._stored(lh, [10, 3, 64]).tolist() == [6, 2, 33]
    assert B._stored(lh, [10, 3, 64]).dtype == np.int64
    assert [B._stored_one(lh, x) for x in (10, 3, 64)] == [6, 2, 33]
    assert isinstance(B._stored_one(lh, 10), int)
    h12 = replace(EWS, data=replace(EWS.data, act_bits=16))
    assert B._stored(h12.layer(None), [3]).tolist() == [6]
    h4 = replace(EWS, data=replace(EWS.data, act_bits=4)).layer(None)
    assert B._stored(h4, [3, 4]).tolist() == [2, 2]
    assert [B._stored_one(h4, x) for x in (3, 4, 5)] == [2, 2, 3]
    assert B._stored_one(h12.layer(None), 3) == 6


def test_act_bytes():
    lh = EWS.layer(None)
    # pixels 0..4 (output row 0): input rows 0..1 x 4 columns = 8 per channel, 2 channels
    assert B.act_bytes(CONV, lh, 0, 4, 0, 1) == 16
    assert B.act_bytes(CONV, lh, 0, 4, 0, 1, 0, 1) == 8
    assert B.act_bytes(CONV, lh, 0, 4, 0, 1, 3, 9) == 16
    assert B.act_bytes(CONV, lh, 0, 4, 0, 1, u1=1) == 8           # units from 0
    g = Layer("g", "conv", 1, 6, 6, 6, groups=3)
    assert B.act_bytes(g, lh, 0, 6, 0, 3) == 36 and B.act_bytes(g, lh, 1, 3, 1, 2) == 4
    assert B.act_bytes(g, lh, 1, 3, 0, 2, 0, 1) == 4


# ----------------------------------------------------------------------------- activations

def plain_act_blocks(s, layer, lhw):
    """Tile by tile: a tile joins the open block when it has the same group pack and output
    fold and the hull of the block's and its pixels x the channels of the hull of their units
    fits half of the buffer; otherwise it opens a block."""
    half = lhw.hw.memory.l1_act_bytes // (2 if lhw.hw.memory.l1_double_buffer else 1)
    cg = layer.in_c // layer.groups

    def size(p0, p1, g0, g1, u0, u1):
        elems = layer.input_footprint(p0, p1) * min(u1 - u0, cg) * (g1 - g0)
        return math.ceil(elems * lhw.hw.data.act_bits / 8)
    blocks = []            # [first, last, (p0, p1, g0, g1, u0, u1), n0]
    for t in range(len(s)):
        g0, g1, n0 = int(s.g0[t]), int(s.g1[t]), int(s.n0[t])
        p0, p1, u0, u1 = int(s.p0[t]), int(s.p1[t]), int(s.u0[t]), int(s.u1[t])
        if blocks and blocks[-1][2][2] == g0 and blocks[-1][3] == n0:
            h = blocks[-1][2]
            hull = (min(h[0], p0), max(h[1], p1), g0, g1, min(h[4], u0), max(h[5], u1))
            if size(*hull) <= half:
                blocks[-1][1], blocks[-1][2] = t, hull
                continue
        if size(p0, p1, g0, g1, u0, u1) > half:
            return None
        blocks.append([t, t, (p0, p1, g0, g1, u0, u1), n0])
    return ([b[0] for b in blocks], [b[1] for b in blocks], [size(*b[2]) for b in blocks],
            [b[2] for b in blocks])


LAYERS = [
    (CONV, 4), (CONV, 2), (CONV, 5), (CONV, None),
    (Layer("dw", "conv", 4, 4, 8, 8, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1, groups=8), 4),
    (Layer("g", "conv", 3, 5, 6, 4, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1, groups=2), 3),
    (Layer("wide", "conv", 3, 3, 10, 4, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1), 2),
    (Layer("mm", "matmul", 6, 4, 6, 4, batch=2), 2),
]


@pytest.mark.parametrize("layer, chunk", LAYERS)
def test_act_blocks_equal_a_plain_greedy(layer, chunk):
    seen = set()
    for half in (4, 6, 8, 9, 12, 16, 18, 24, 30, 36, 48, 64, 96):
        for db in (True, False):
            lh = mem(act=half * (2 if db else 1), db=db).layer(None)
            s = tiling.build_schedule(layer, lh, chunk)
            want = plain_act_blocks(s, layer, lh)
            whole = B.act_bytes(layer, lh, 0, tiling.stream_pixels(layer), 0,
                                tiling.block_groups(layer))
            if want is None:
                with pytest.raises(MappingInvalid, match="exceeds half of the L1 activation"):
                    B._act_blocks(s, layer, lh)
                seen.add("invalid")
                continue
            st, spans = B._act_blocks(s, layer, lh)
            if whole <= half:
                assert (st.first.tolist(), st.last.tolist(), st.nbytes.tolist()) == \
                    ([0], [len(s) - 1], [whole])
                seen.add("whole")
                continue
            assert (st.first.tolist(), st.last.tolist(), st.nbytes.tolist()) == want[:3]
            assert [tuple(x) for x in spans] == want[3]
            assert st.of.tolist() == [int(np.searchsorted(want[0], t, "right")) - 1
                                      for t in range(len(s))]
            seen.add(len(want[0]) > 1)
    assert seen


def random_runs(rng, n_runs, *, cg_units=9, pixels=12):
    """Hand-made tiles in runs of one (group pack, output fold, pixel range), each run's
    units ascending and contiguous (as a reduction pass reads them); consecutive runs often
    differ in one key only, pixel ranges in any order.  Group packs: groups 0-1 or 2."""
    tiles = []
    key = [0, 2, 0, 0, 4]                        # g0, g1, n0, p0, p1
    for _ in range(n_runs):
        new = list(key)
        which = rng.integers(0, 4)
        if which == 0:
            new[0] = 2 - new[0]
            new[1] = 3 if new[0] == 2 else 2
        elif which == 1:
            new[2] = 4 - new[2]
        elif which == 2:
            new[3] = int(rng.integers(0, new[4]))
        else:
            new[4] = int(rng.integers(new[3] + 1, pixels + 1))
        if new == key:
            new[2] = 4 - new[2]
        key = new
        ua = int(rng.integers(0, cg_units))
        ub = int(rng.integers(ua + 1, cg_units + 1))
        cuts = sorted({ua, ub, *rng.integers(ua, ub + 1, size=2).tolist()})
        for u0, u1 in zip(cuts[:-1], cuts[1:], strict=True):
            tiles.append((key[0], key[1], key[2], key[2] + 4, u0, u1, key[3], key[4], 1))
    return tiles


def test_act_blocks_of_random_hand_made_schedules_equal_a_plain_greedy():
    # 3 groups of 3 channels, 3 x 3 kernel: 9 units a group; 3 x 4 output pixels
    layer = Layer("rg", "conv", 3, 4, 9, 24, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1,
                  groups=3)
    rng = np.random.default_rng(7)
    kinds = set()
    for _ in range(60):
        s = sched(random_runs(rng, int(rng.integers(2, 7))), units=9)
        half = int(rng.integers(3, 40))
        lh = mem(act=2 * half).layer(None)
        want = plain_act_blocks(s, layer, lh)
        if want is None:
            with pytest.raises(MappingInvalid):
                B._act_blocks(s, layer, lh)
            kinds.add("invalid")
            continue
        st, spans = B._act_blocks(s, layer, lh)
        if B.act_bytes(layer, lh, 0, 12, 0, 3) <= half:
            kinds.add("whole")
            continue
        assert (st.first.tolist(), st.last.tolist(), st.nbytes.tolist()) == want[:3]
        assert [tuple(x) for x in spans] == want[3]
        kinds.add(len(want[0]))
    assert {"invalid", 1, 2, 3} <= kinds


def test_act_blocks_error_names_the_pixels():
    layer = Layer("p", "conv", 1, 8, 4, 4)
    s = sched([(0, 1, 0, 4, 0, 4, 2, 5, 1)], units=4)
    with pytest.raises(MappingInvalid) as info:
        B._act_blocks(s, layer, mem(act=2 * 8).layer(None))
    assert str(info.value) == ("the input of 3 pixels (12 B) exceeds half of the L1 "
                               "activation buffer (8 B)")


def test_act_blocks_whole_layer_boundary():
    # 1 x 1, one row of 8 pixels, 4 channels: the whole input is 32 B; one block at a 32 B
    # half, several at 31 B
    layer = Layer("p", "conv", 1, 8, 4, 4)
    for half, blocks in ((32, 1), (31, 2), (28, 2)):
        lh = mem(act=2 * half).layer(None)
        s = tiling.build_schedule(layer, lh, 4)
        st, _ = B._act_blocks(s, layer, lh)
        assert len(st) == blocks
        if blocks == 1:
            assert st.nbytes.tolist() == [32]


def test_act_blocks_by_hand():
    # CONV with 4-pixel chunks: 16 tiles; two output folds x 4 chunks x 2 reduction folds
    # (units 0..4 = channels of kernel rows 0-1, 4..6 = row 2); a tile reads both channels
    lh = mem(act=2 * 24).layer(None)
    s = tiling.build_schedule(CONV, lh, 4)
    assert s.u0.tolist()[:4] == [0, 4, 0, 4] and s.p0.tolist()[:4] == [0, 0, 4, 4]
    st, spans = B._act_blocks(s, CONV, lh)
    # rows 0-1 of 4 pixels: 8 x 2 = 16 B; pixels 0..8 read input rows 0..2: 24 B; 0..12: 32 B
    assert st.first.tolist() == [0, 4, 8, 12]
    assert st.last.tolist() == [3, 7, 11, 15]
    assert st.nbytes.tolist() == [24, 24, 24, 24]
    assert spans[1] == (8, 16, 0, 1, 0, 6)
    # whole layer: 16 pixels read all 16 input pixels x 2 channels = 32 B
    st, spans = B._act_blocks(s, CONV, mem(act=64).layer(None))
    assert st.nbytes.tolist() == [32] and spans == [(0, 16, 0, 1, 0, 6)]
    st, spans = B._act_blocks(s, CONV, mem(act=32, db=False).layer(None))
    assert st.nbytes.tolist() == [32] and len(s) == 16 and st.last.tolist() == [15]


def test_act_blocks_join_keeps_the_open_blocks_later_pixels():
    # hand-made, pixels backwards: block [t0] holds pixels 4..8; t1 (pixels 0..4) joins it
    # (hull 0..8 x 2 channels = 16 B), t2 would widen it to 6 channels: a block of its own
    layer = Layer("r", "conv", 1, 8, 6, 4)
    s = sched([(0, 1, 0, 4, 0, 2, 4, 8, 1), (0, 1, 0, 4, 0, 2, 0, 4, 1),
               (0, 1, 0, 4, 2, 6, 0, 4, 1)], units=6)
    lh = mem(act=2 * 16).layer(None)
    st, spans = B._act_blocks(s, layer, lh)
    assert (st.first.tolist(), st.last.tolist(), st.nbytes.tolist()) == \
        ([0, 2], [1, 2], [16, 16])
    assert spans == [(0, 8, 0, 1, 0, 2), (0, 4, 0, 1, 2, 6)]


def test_act_blocks_whole_layer_without_a_unit_table():
    # a hand-made schedule with no unit table: the whole-layer block holds every channel
    layer = Layer("r", "conv", 1, 4, 6, 4)
    s = sched([(0, 1, 0, 4, 0, 2, 0, 4, 1), (0, 1, 0, 4, 2, 4, 0, 4, 1)], units=0)
    st, spans = B._act_blocks(s, layer, mem().layer(None))
    assert spans == [(0, 4, 0, 1, 0, 6)] and st.nbytes.tolist() == [24]
    s = sched([(0, 1, 0, 4, 0, 2, 0, 4, 1)], units=5)
    assert B._act_blocks(s, layer, mem().layer(None))[1] == [(0, 4, 0, 1, 0, 5)]


def test_act_blocks_a_tile_joins_the_previous_runs_block():
    # hand-made: the second run's units reach past the first's, so the run as a whole does
    # not fit the open block but its first tile does.  1 x 1 conv, one input row, 6 channels
    layer = Layer("r", "conv", 1, 8, 6, 4)
    s = sched([(0, 1, 0, 4, 0, 2, 0, 4, 1), (0, 1, 0, 4, 2, 4, 0, 4, 1),
               (0, 1, 0, 4, 0, 2, 4, 8, 1), (0, 1, 0, 4, 4, 6, 4, 8, 1)], units=6)
    lh = mem(act=2 * 32).layer(None)
    st, spans = B._act_blocks(s, layer, lh)
    # [t0, t1]: 4 pixels x 4 channels = 16 B; t2 joins: 8 x 4 = 32 B; t3 would make it
    # 8 x 6 = 48 B: a block of its own, 4 x 2 = 8 B
    assert (st.first.tolist(), st.last.tolist(), st.nbytes.tolist()) == \
        ([0, 3], [2, 3], [32, 8])
    assert spans == [(0, 8, 0, 1, 0, 4), (4, 8, 0, 1, 4, 6)]
    assert plain_act_blocks(s, layer, lh)[:3] == ([0, 3], [2, 3], [32, 8])
    # a different output fold never joins
    s2 = sched([(0, 1, 0, 4, 0, 2, 0, 4, 1), (0, 1, 0, 4, 2, 4, 0, 4, 1),
                (0, 1, 4, 8, 0, 2, 4, 8, 1), (0, 1, 4, 8, 4, 6, 4, 8, 1)], units=6)
    st, _ = B._act_blocks(s2, layer, lh)
    # t2, t3 read units 0..6: all 6 channels of 4 pixels
    assert st.first.tolist() == [0, 2] and st.nbytes.tolist() == [16, 24]
    # nor a different group pack
    g = Layer("rg", "conv", 1, 8, 12, 8, groups=2)
    s3 = sched([(0, 1, 0, 4, 0, 2, 0, 4, 1), (0, 1, 0, 4, 2, 4, 0, 4, 1),
                (1, 2, 0, 4, 0, 2, 4, 8, 1), (1, 2, 0, 4, 4, 6, 4, 8, 1)], units=6)
    st, _ = B._act_blocks(s3, g, lh)
    assert st.first.tolist() == [0, 2] and st.nbytes.tolist() == [16, 24]


def test_act_pieces_by_hand():
    lh = EWS.layer(None)
    # pixels 0..4 then 4..8 of CONV, channel-disjoint unit ranges: piece = new input rows
    spans = [(0, 4, 0, 1, 0, 1), (0, 4, 0, 1, 1, 2), (4, 8, 0, 1, 0, 2), (0, 16, 0, 1, 0, 6),
             (0, 8, 1, 2, 0, 2)]
    # block 0: channel 0, rows 0-1: 8; block 1: channel 1: 8; block 2: both channels grow
    # from 8 to 12 (rows 0..2): 2 x 4; block 3: all channels 12 -> 16: 2 x 4; block 4: a new
    # group pack: 2 channels x 12
    assert B._act_pieces(CONV, lh, spans).tolist() == [8, 8, 8, 8, 24]
    # a block of one pixel (input rows 0..1 x columns 0..1)
    assert B._act_pieces(CONV, lh, [(0, 1, 0, 1, 0, 2)]).tolist() == [8]
    assert B._act_pieces(CONV, lh, spans).dtype == np.int64
    # a block that brings nothing new
    assert B._act_pieces(CONV, lh, [(0, 8, 0, 1, 0, 2), (4, 8, 0, 1, 0, 2),
                                    (0, 12, 0, 1, 0, 2)]).tolist() == [24, 0, 2 * (16 - 12)]
    # unit ranges wrap around the channels; two groups in the pack count twice
    g = Layer("g", "conv", 1, 6, 6, 6, groups=2)            # 3 channels per group, 1 x 1
    # block 0: channels 2, 0 (units 2, 3) of pixels 0..2, two groups: 2 x 2 x 2;
    # block 1: all three channels to pixel 4: 2 x ((4 - 2) + (4 - 0) + (4 - 2))
    assert B._act_pieces(g, lh, [(0, 2, 0, 2, 2, 4), (0, 4, 0, 2, 0, 3)]).tolist() == \
        [8, 16]
    # block 0 brings channels 2 and 0 (units 2, 3), so block 1 (unit 0: channel 0) only
    # needs pixels 2..4 of it, in both groups
    assert B._act_pieces(g, lh, [(0, 2, 0, 2, 2, 4), (0, 4, 0, 2, 0, 1)]).tolist() == \
        [8, 4]
    # 16-bit activations
    h16 = replace(EWS, data=replace(EWS.data, act_bits=16)).layer(None)
    assert B._act_pieces(CONV, h16, [(0, 4, 0, 1, 0, 1)]).tolist() == [16]


# ----------------------------------------------------------------------------- weights

def test_tile_weight_bytes():
    lh = EWS.layer(None)
    s = tiling.build_schedule(CONV, lh, 4)
    # taps 3: a tile of units 0..4 holds 4 x 3 weights x 4 columns, of units 4..6: 2 x 3 x 4
    assert B._tile_weight_bytes(s, CONV, lh).tolist()[:2] == [48, 24]
    h4 = replace(EWS, data=replace(EWS.data, weight_bits=4, act_bits=16))
    assert B._tile_weight_bytes(s, CONV, h4.layer(None)).tolist()[:2] == [24, 12]
    mm = Layer("mm", "matmul", 6, 4, 6, 4)
    s = tiling.build_schedule(mm, h4.layer(None), None)
    # a matmul's stationary operand is an activation: act_bits
    assert B._tile_weight_bytes(s, mm, h4.layer(None)).tolist() == [32, 16]
    vq = WeightFormat("vq", (1, 1), 8, 16, "none", 1)        # 4-bit index per 8 weights
    cb = replace(EWS, loader="codebook", arf_reuse=False)
    s = tiling.build_schedule(CONV, cb.layer(vq), None)
    # a tile: 4 units x 1 tap x 4 columns = 16 weights -> 2 sub-vectors x 4 bits = 1 B;
    # units 16..18: 8 weights -> 1 sub-vector: 4 bits -> 1 B
    assert B._tile_weight_bytes(s, CONV, cb.layer(vq)).tolist()[:5] == [1, 1, 1, 1, 1]
    assert B._tile_weight_bytes(s, CONV, cb.layer(vq)).tolist()[4] == 1


def test_tile_weight_bytes_of_codebook_sub_vectors():
    # MVQ 1:4, d = 8, k = 256: 8 index + 8 mask bits = 16 bits a sub-vector
    mvq = WeightFormat("mvq", (1, 4), 8, 256, "bitmap", 1)
    lh = replace(EWS, loader="codebook").layer(mvq)
    assert mvq.subvector_bits == 16
    layer = Layer("c", "conv", 1, 4, 8, 8, groups=2)
    s = sched([(0, 1, 0, 4, 0, 3, 0, 4, 1), (1, 2, 0, 4, 0, 3, 0, 4, 1),
               (0, 2, 0, 2, 0, 4, 0, 4, 1)])
    # 3 units x 4 columns = 12 weights: 2 sub-vectors = 4 B (not 1.5); the packed tile:
    # 2 groups x 2 columns x 4 units = 16 weights: 2 sub-vectors
    assert B._tile_weight_bytes(s, layer, lh).tolist() == [4, 4, 4]


def _codebook_hw(groups=4, cap=0, width=0, k=2, d=2):
    f = WeightFormat("vq", (1, 1), d, k, "none", groups)
    hw = replace(EWS, loader="codebook", arf_reuse=False, crf_groups=cap,
                 crf_write_bytes_per_cycle=width)
    return hw.layer(f), f


def test_weight_actions_without_decoder():
    lh = EWS.layer(None)
    s = sched([(0, 1, 0, 4, 0, 4, 0, 4, 5), (0, 1, 0, 4, 4, 8, 0, 4, 5),
               (0, 1, 0, 4, 0, 4, 4, 8, 0), (0, 1, 4, 8, 0, 4, 0, 4, 5)])
    kinds, tiles, nbytes, cycles, data, written = B._weight_actions(s, CONV, lh, 100)
    assert kinds.tolist() == [LOAD] * 3 and tiles.tolist() == [0, 1, 3]
    per = B._tile_weight_bytes(s, CONV, lh).tolist()
    assert per == [16, 16, 16, 16]
    assert nbytes.tolist() == [116, 16, 16]
    assert cycles.tolist() == [0, 0, 0] and written.tolist() == [0, 0, 0]
    # codes: (g0 * 2 + n0 fold) * 2 + unit fold: n0 in {0, 4}, u0 in {0, 4}
    assert data.tolist() == [(0 * 5 + 0) * 5 + 0, (0 * 5 + 0) * 5 + 4, (0 * 5 + 4) * 5 + 0]
    assert all(x.dtype == np.int64 for x in (kinds, tiles, nbytes, cycles, data, written))
    empty = B._weight_actions(sched([(0, 1, 0, 4, 0, 4, 0, 4, 0)]), CONV, lh, 100)
    assert [x.tolist() for x in empty] == [[]] * 6
    e = np.zeros(0, np.int64)
    none = B.TileSchedule(e, e, e, e, e, e, e, e, load_cycles=e, release=e, drain_cols=e,
                          taps=1, rows=4, cols=4, double_buffer=True)
    assert [x.tolist() for x in B._weight_actions(none, CONV, lh, 100)] == [[]] * 6
    # a load of one cycle is a load; the sets of different group packs or output folds get
    # different codes
    g = Layer("g", "conv", 1, 4, 4, 4, groups=2)
    s = sched([(0, 1, 0, 1, 0, 2, 0, 4, 1), (1, 2, 0, 1, 0, 2, 0, 4, 1),
               (0, 1, 1, 2, 0, 2, 0, 4, 1), (1, 2, 1, 2, 0, 2, 0, 4, 1)])
    kinds, tiles, nbytes, _, data, _ = B._weight_actions(s, g, lh, 0)
    assert tiles.tolist() == [0, 1, 2, 3] and len(set(data.tolist())) == 4


def test_weight_actions_codebook_all_resident():
    lh, f = _codebook_hw(groups=2, cap=0, width=3, k=2, d=2)   # a group: 2 x 2 = 4 B
    out_c8 = Layer("c8", "conv", 1, 4, 4, 8)                   # 4 output channels a group
    s = sched([(0, 1, 0, 4, 0, 4, 0, 4, 5), (0, 1, 4, 8, 0, 4, 0, 4, 5),
               (0, 1, 4, 8, 0, 4, 0, 4, 0)])
    kinds, tiles, nbytes, cycles, data, written = B._weight_actions(s, out_c8, lh, 20)
    assert kinds.tolist() == [CRF, LOAD, LOAD] and tiles.tolist() == [0, 0, 1]
    # the fill: header 20 B (the codebooks' 8 B among them); ceil(8 / 3) write cycles
    assert nbytes.tolist()[0] == 20 and cycles.tolist() == [3, 0, 0]
    assert written.tolist() == [2, 0, 0] and data.tolist()[0] == -1
    # 16 weights / d = 8 sub-vectors x 1 bit -> 1 B
    assert nbytes.tolist()[1:] == [1, 1]
    assert all(x.dtype == np.int64 for x in (kinds, tiles, nbytes, cycles, data, written))
    lh1, _ = _codebook_hw(groups=2, cap=0, width=0, k=2, d=2)  # width 0: d B a cycle
    assert B._weight_actions(s, out_c8, lh1, 20)[3].tolist() == [4, 0, 0]


def test_weight_actions_codebook_lru_reloads():
    # 4 codebook groups of 2 output channels, the CRF holds 2; tiles need groups
    # {0,1}, {2,3}, {0,1}, {1,2}, {1}
    lh, f = _codebook_hw(groups=4, cap=2, width=1, k=2, d=2)   # 4 B a group, 1 B a cycle
    out_c8 = Layer("c8", "conv", 1, 4, 4, 8)
    s = sched([(0, 1, 0, 4, 0, 4, 0, 4, 5), (0, 1, 4, 8, 0, 4, 0, 4, 5),
               (0, 1, 0, 4, 0, 4, 4, 8, 5), (0, 1, 2, 6, 0, 4, 0, 4, 5),
               (0, 1, 2, 4, 0, 4, 0, 4, 5)])
    kinds, tiles, nbytes, cycles, data, written = B._weight_actions(s, out_c8, lh, 20)
    assert kinds.tolist() == [CRF, LOAD, CRF, CRF, LOAD, CRF, CRF, LOAD, CRF, LOAD, LOAD]
    assert tiles.tolist() == [0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4]
    # the fill writes groups 0, 1: 8 B, 8 cycles, and reads the 20 B header less the 8 B of
    # the two codebooks it does not load yet; each reload: one 4 B group, 4 cycles
    assert cycles.tolist() == [8, 0, 4, 4, 0, 4, 4, 0, 4, 0, 0]
    assert nbytes.tolist()[0] == 12
    assert [nbytes.tolist()[i] for i in (2, 3, 5, 6, 8)] == [4] * 5
    assert written.tolist() == [2, 0, 1, 1, 0, 1, 1, 0, 1, 0, 0]
    # distinct codebook sets: (0, 1) -> -1, (2,) -> -2, (3,) -> -3, (0,) -> -4, (1,) -> -5;
    # tile 3 needs 1, 2 with 0, 1 resident: reloads 2 (evicting 0, 1 being more recent)
    crf_data = [d for k, d in zip(kinds.tolist(), data.tolist(), strict=True) if k == CRF]
    assert crf_data == [-1, -2, -3, -4, -5, -2]
    with pytest.raises(MappingInvalid, match="a tile needs 3 codebook groups, the CRF holds 2"):
        B._weight_actions(sched([(0, 1, 0, 5, 0, 4, 0, 4, 5)]), out_c8, lh, 10)   # 0, 1, 2
    z = B._weight_actions(sched([(0, 1, 0, 6, 0, 4, 0, 4, 0)]), out_c8, lh, 10)
    assert [x.tolist() for x in z] == [[]] * 6 and all(x.dtype == np.int64 for x in z)


def test_first_uses():
    assert B._first_uses(np.array([0, 0, 0, 1, 1]), np.array([3, -1, 3, 3, -1])).tolist() == \
        [True, True, False, True, True]
    assert B._first_uses(np.array([0, 0]), np.array([-2, -2])).tolist() == [True, False]
    assert B._first_uses(np.zeros(0, np.int64), np.zeros(0, np.int64)).tolist() == []
    # keys must not collide across passes: data span 0..9
    assert B._first_uses(np.array([0, 1, 1]), np.array([9, 0, 9])).tolist() == \
        [True, True, True]
    assert B._first_uses(np.array([0, 1, 2, 2]), np.array([1, 0, 0, 1])).tolist() == \
        [True] * 4
    # codebook sets are negative: data -2 .. 2 (5 values), set 1 in pass 1 is its first use
    assert B._first_uses(np.array([0, 0, 1]), np.array([-2, 2, 1])).tolist() == \
        [True, True, True]


def test_weight_blocks_greedy_and_alone():
    lh = mem(w=2 * 10).layer(None)
    # pass 0 (n0 0): loads 4, 4, 4 (all distinct); pass 1 (n0 4): loads of sets A, B, A, B
    s = sched([(0, 1, 0, 4, 0, 4, 0, 4, 1), (0, 1, 0, 4, 4, 8, 0, 4, 1),
               (0, 1, 0, 4, 8, 12, 0, 4, 1), (0, 1, 4, 8, 0, 4, 0, 4, 1),
               (0, 1, 4, 8, 4, 8, 0, 4, 1), (0, 1, 4, 8, 0, 4, 4, 8, 1),
               (0, 1, 4, 8, 4, 8, 4, 8, 1)])
    kinds = np.full(7, LOAD)
    tiles = np.arange(7)
    nbytes = np.array([4, 4, 4, 3, 5, 3, 5])
    data = np.array([0, 1, 2, 10, 11, 10, 11])
    w, pass_id, first_use = B._weight_blocks(s, lh, kinds, tiles, nbytes, data)
    assert pass_id.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert first_use.tolist() == [True, True, True, True, True, False, False]
    # pass 0 greedy within 10 B: [4, 4], [4]; pass 1 reloads and its 8 distinct B fit: alone
    assert w.first.tolist() == [0, 2, 3] and w.last.tolist() == [1, 2, 6]
    assert w.nbytes.tolist() == [8, 4, 8]
    # distinct bytes over the half: pass 1 is packed greedily too, after pass 0's open run
    w, _, _ = B._weight_blocks(s, mem(w=2 * 7).layer(None), kinds, tiles, nbytes, data)
    assert w.first.tolist() == [0, 1, 2, 4, 5, 6] and w.nbytes.tolist() == [4, 4, 7, 5, 3, 5]
    # the alone pass comes first, then an open run
    order = [3, 4, 5, 6, 0, 1, 2]
    s2 = sched([s_row for s_row in (
        (0, 1, 4, 8, 0, 4, 0, 4, 1), (0, 1, 4, 8, 4, 8, 0, 4, 1), (0, 1, 4, 8, 0, 4, 4, 8, 1),
        (0, 1, 4, 8, 4, 8, 4, 8, 1), (0, 1, 0, 4, 0, 4, 0, 4, 1), (0, 1, 0, 4, 4, 8, 0, 4, 1),
        (0, 1, 0, 4, 8, 12, 0, 4, 1))])
    w, pass_id, _ = B._weight_blocks(s2, lh, kinds, tiles, nbytes[order], data[order])
    assert pass_id.tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert w.first.tolist() == [0, 4, 6] and w.nbytes.tolist() == [8, 8, 4]
    with pytest.raises(MappingInvalid, match=r"one weight action reads 11 B, more than half "
                                             r"of the L1 weight buffer \(10 B\)"):
        B._weight_blocks(s, lh, kinds, tiles, nbytes + np.array([0, 0, 0, 0, 6, 0, 0]), data)
    w, _, _ = B._weight_blocks(s, mem(w=10, db=False).layer(None), kinds, tiles, nbytes, data)
    assert w.nbytes.tolist() == [8, 4, 8]
    # pass 1's distinct 8 B exactly fill an 8 B half: still alone
    w, _, _ = B._weight_blocks(s, mem(w=2 * 8).layer(None), kinds, tiles, nbytes, data)
    assert w.first.tolist() == [0, 2, 3] and w.nbytes.tolist() == [8, 4, 8]


def test_weight_blocks_passes_alone_and_limits():
    # passes are (group pack, output fold): g0 alone changes the pass
    s = sched([(0, 1, 0, 4, 0, 4, 0, 4, 1), (1, 2, 0, 4, 0, 4, 0, 4, 1),
               (1, 2, 0, 4, 0, 4, 4, 8, 1)])
    kinds = np.array([CRF, LOAD, LOAD, LOAD])
    tiles = np.array([0, 0, 1, 2])
    w, pass_id, _ = B._weight_blocks(s, mem(w=2 * 10).layer(None), kinds, tiles,
                                     np.array([2, 2, 3, 3]), np.array([-1, 0, 1, 1]))
    assert pass_id.tolist() == [0, 0, 1, 1]
    # pass 1 reads set 1 twice (3 B distinct): alone; pass 0 (a CRF write and one load,
    # nothing read twice) is packed greedily
    assert w.first.tolist() == [0, 2] and w.nbytes.tolist() == [4, 3]
    # a CRF write is not a load: pass 0 (CRF + load A) and pass 1 (load B) read nothing
    # twice and share one greedy block
    s2 = sched([(0, 1, 0, 4, 0, 4, 0, 4, 1), (0, 1, 4, 8, 0, 4, 0, 4, 1)])
    w, pass_id, _ = B._weight_blocks(s2, mem(w=2 * 10).layer(None), np.array([CRF, LOAD, LOAD]),
                                     np.array([0, 0, 1]), np.array([2, 2, 2]),
                                     np.array([-1, 0, 1]))
    assert pass_id.tolist() == [0, 0, 1] and w.first.tolist() == [0] and w.nbytes.tolist() == [6]
    # an action of exactly half the buffer is allowed
    w, _, _ = B._weight_blocks(s2, mem(w=2 * 10).layer(None), np.array([LOAD, LOAD]),
                               np.array([0, 1]), np.array([10, 10]), np.array([0, 1]))
    assert w.first.tolist() == [0, 1] and w.nbytes.tolist() == [10, 10]


def test_weight_blocks_of_no_actions():
    s = sched([(0, 1, 0, 4, 0, 4, 0, 4, 0)])
    e = np.zeros(0, np.int64)
    w, pass_id, first_use = B._weight_blocks(s, mem(w=20).layer(None), e, e, e, e)
    assert len(w) == 0 and pass_id.tolist() == [] and first_use.tolist() == []


def _pieces(w, nb, pid, fu, stage, span=None):
    return B._weight_pieces(w, nb, pid, fu, stage, B.L2Span() if span is None else span)


def test_weight_pieces():
    # one pass of four actions (sets A, B, A, B; 3 and 5 B) in two blocks
    w = B._stream([0, 2], [1, 3], [8, 8], 4)
    nbytes = np.array([3, 5, 3, 5])
    pass_id = np.zeros(4, np.int64)
    first_use = np.array([True, True, False, False])
    pieces, free_at = _pieces(w, nbytes, pass_id, first_use, 8)
    # the distinct 8 B fit the 8 B staging share: the first block brings them, both leave
    # with the last
    assert pieces.tolist() == [8, 0] and free_at.tolist() == [1, 1]
    pieces, free_at = _pieces(w, nbytes, pass_id, first_use, 7)
    assert pieces.tolist() == [8, 8] and free_at.tolist() == [0, 1]
    # every action distinct: fetched whole
    pieces, free_at = _pieces(w, nbytes, pass_id, np.ones(4, bool), 100)
    assert pieces.tolist() == [8, 8] and free_at.tolist() == [0, 1]
    # one block: nothing to share
    w1 = B._stream([0], [3], [16], 4)
    pieces, free_at = _pieces(w1, nbytes, pass_id, first_use, 100)
    assert pieces.tolist() == [16] and free_at.tolist() == [0]
    # the last block runs into the next pass and brings its first 4 B too: 12 B > 10 B
    w2 = B._stream([0, 2], [1, 4], [8, 12], 5)
    nb2 = np.array([3, 5, 3, 5, 4])
    pid2 = np.array([0, 0, 0, 0, 1])
    fu2 = np.array([True, True, False, False, True])
    span = B.L2Span()
    pieces, free_at = _pieces(w2, nb2, pid2, fu2, 10, span)
    assert pieces.tolist() == [8, 12] and free_at.tolist() == [0, 1]
    # the same blocks for a staging share of 8 to 11 B: the pass's 8 B fit, the 12 B do not
    assert (span.stage_lo, span.stage_hi, span.act_lo, span.act_hi) == (8, 11, 0, None)
    span = B.L2Span()
    pieces, free_at = _pieces(w2, nb2, pid2, fu2, 12, span)
    assert pieces.tolist() == [8, 4] and free_at.tolist() == [1, 1]
    assert (span.stage_lo, span.stage_hi) == (12, None)
    span = B.L2Span()
    _pieces(w, nbytes, pass_id, first_use, 7, span)
    assert (span.stage_lo, span.stage_hi) == (0, 7)
    # second pass's own blocks: pass 1 with two blocks after pass 0's single block
    w3 = B._stream([0, 1, 3], [0, 2, 4], [5, 8, 8], 5)
    nb3 = np.array([5, 3, 5, 3, 5])
    pid3 = np.array([0, 1, 1, 1, 1])
    fu3 = np.array([True, True, True, False, False])
    pieces, free_at = _pieces(w3, nb3, pid3, fu3, 8)
    assert pieces.tolist() == [5, 8, 0] and free_at.tolist() == [0, 2, 2]
    # pass 1's first set X rides in block 0 (a block is counted with the pass it starts
    # in): pass 1's distinct weights (6 + 3 B) do not fit 8 B although its own blocks
    # would only fetch Y's 3 B: every block fetched whole
    w4 = B._stream([0, 2, 4], [1, 3, 4], [8, 9, 3], 5)
    nb4 = np.array([2, 6, 3, 6, 3])
    pid4 = np.array([0, 1, 1, 1, 1])
    fu4 = np.array([True, True, True, False, False])
    pieces, free_at = _pieces(w4, nb4, pid4, fu4, 8)
    assert pieces.tolist() == [8, 9, 3] and free_at.tolist() == [0, 1, 2]
    pieces, free_at = _pieces(w4, nb4, pid4, fu4, 9)
    assert pieces.tolist() == [8, 3, 0] and free_at.tolist() == [0, 2, 2]
    # pass 0 shares its weights (8 B); the action after its last block is pass 1's first
    # use and is not counted with pass 0
    w5 = B._stream([0, 2, 4], [1, 3, 4], [8, 8, 4], 5)
    nb5 = np.array([3, 5, 3, 5, 4])
    pid5 = np.array([0, 0, 0, 0, 1])
    fu5 = np.array([True, True, False, False, True])
    pieces, free_at = _pieces(w5, nb5, pid5, fu5, 8)
    assert pieces.tolist() == [8, 0, 4] and free_at.tolist() == [1, 1, 2]
    # pass 0's last block brings pass 1's first set: 12 B, over 8 B, fetched whole; pass 1
    # (C, D, C, D; 4 B each) still shares
    w6 = B._stream([0, 2, 5, 7], [1, 4, 6, 7], [8, 12, 8, 4], 8)
    nb6 = np.array([3, 5, 3, 5, 4, 4, 4, 4])
    pid6 = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    fu6 = np.array([True, True, False, False, True, True, False, False])
    pieces, free_at = _pieces(w6, nb6, pid6, fu6, 8)
    assert pieces.tolist() == [8, 12, 4, 0] and free_at.tolist() == [0, 1, 3, 3]
    empty = B._stream([], [], [], 0)
    pieces, free_at = _pieces(empty, np.zeros(0, np.int64), np.zeros(0, np.int64),
                                       np.zeros(0, bool), 8)
    assert pieces.tolist() == [] and free_at.tolist() == []


# ----------------------------------------------------------------------------- outputs

def test_out_blocks():
    # runs: (n0 0, pixels 0..4) x 2 reduction folds, (n0 0, 4..8), (n0 4, 0..4) x 2
    s = sched([(0, 1, 0, 4, 0, 4, 0, 4, 1), (0, 1, 0, 4, 4, 8, 0, 4, 1),
               (0, 1, 0, 4, 0, 4, 4, 7, 1), (0, 1, 4, 6, 0, 4, 0, 4, 1),
               (0, 1, 4, 6, 4, 8, 0, 4, 1)])
    lh = mem(out=2 * 64).layer(None)
    st, occ = B._out_blocks(s, lh, False)
    # psums: 16 cells x 4 B = 64, 12 x 4 = 48, 8 x 4 = 32; drained as 16, 12, 8 B
    # half 64 B: one run a block (48 + 32 > 64)
    assert st.first.tolist() == [0, 2, 3] and st.last.tolist() == [1, 2, 4]
    assert st.nbytes.tolist() == [16, 12, 8] and occ.tolist() == [64, 48, 32]
    st, occ = B._out_blocks(s, mem(out=2 * 112).layer(None), False)
    assert st.first.tolist() == [0, 3] and occ.tolist() == [112, 32]
    assert st.nbytes.tolist() == [28, 8]
    # psums in the PRF: the L1 output buffer holds finished outputs (act_bits)
    st, occ = B._out_blocks(s, mem(out=2 * 20).layer(None), True)
    assert st.first.tolist() == [0, 2] and occ.tolist() == [16, 12 + 8]
    assert st.of.tolist() == [0, 0, 1, 1, 1]
    with pytest.raises(MappingInvalid, match=r"a pass keeps 64 B in the L1 output buffer, "
                                             r"more than half \(63 B\)"):
        B._out_blocks(s, mem(out=2 * 63 + 1).layer(None), False)
    st, occ = B._out_blocks(s, mem(out=64, db=False).layer(None), False)
    assert st.first.tolist() == [0, 2, 3]
    assert occ.dtype == np.int64


def test_out_block_runs_change_with_every_key():
    # consecutive tiles that differ in one key each: group pack, output fold, first pixel,
    # last pixel; the first tile packs two groups (4 pixels x 2 x 4 columns = 32 cells)
    s = sched([(0, 2, 0, 4, 0, 4, 0, 4, 1), (2, 3, 0, 4, 0, 4, 0, 4, 1),
               (2, 3, 4, 8, 0, 4, 0, 4, 1), (2, 3, 4, 8, 0, 4, 2, 4, 1),
               (2, 3, 4, 8, 0, 4, 2, 6, 1)])
    st, occ = B._out_blocks(s, mem(out=2 * 128).layer(None), False)
    # psums: 128, 64, 64, 32, 64 B; half 128: [128], [64, 64], [32, 64]
    assert st.first.tolist() == [0, 1, 3] and st.last.tolist() == [0, 2, 4]
    assert occ.tolist() == [128, 128, 96] and st.nbytes.tolist() == [32, 32, 24]
    st, occ = B._out_blocks(s, mem(out=2 * 64).layer(None), True)
    assert occ.tolist() == [64, 24] and st.first.tolist() == [0, 3]   # 32 + 16 + 16, 8 + 16


def test_out_blocks_of_no_tiles():
    e = np.zeros(0, np.int64)
    s = B.TileSchedule(e, e, e, e, e, e, e, e, load_cycles=e, release=e, drain_cols=e,
                       taps=1, rows=4, cols=4, double_buffer=True)
    st, occ = B._out_blocks(s, mem().layer(None), False)
    assert st.first.tolist() == [] and st.nbytes.tolist() == [] and occ.tolist() == []
    assert occ.dtype == np.int64 and st.of.tolist() == []


# ----------------------------------------------------------------------------- the layer

def test_layer_blocks_sources_and_destinations():
    # CONV: input 2 x 4 x 4 = 32 B, output 8 x 16 = 128 B
    lh = mem(l2=1000, frac=0.2).layer(None)                     # L2 act share: 200 B
    s = tiling.build_schedule(CONV, lh, 4)
    off = LayerContext()
    lb = B.layer_blocks(s, CONV, lh, off, psums_in_prf=False)
    assert (lb.act_src, lb.w_src, lb.out_dest) == ("staged", "dram", "dram")
    assert lb.act_piece.tolist() == [32]
    lb = B.layer_blocks(s, CONV, lh, LayerContext(output_on_chip=True), psums_in_prf=False)
    assert (lb.act_src, lb.out_dest) == ("staged", "l2")          # 32 + 128 <= 200
    lh2 = mem(l2=1000, frac=0.159).layer(None)                    # 159 B
    lb = B.layer_blocks(s, CONV, lh2, LayerContext(output_on_chip=True), psums_in_prf=False)
    assert lb.act_src == "stream" and lb.act_piece.tolist() == [0]
    lh3 = mem(l2=1000, frac=0.16).layer(None)                     # exactly 160 B
    lb = B.layer_blocks(s, CONV, lh3, LayerContext(output_on_chip=True), psums_in_prf=False)
    assert lb.act_src == "staged"
    lh4 = mem(l2=1000, frac=0.031).layer(None)                    # 31 B: not even the input
    assert B.layer_blocks(s, CONV, lh4, off, psums_in_prf=False).act_src == "stream"
    lh5 = mem(l2=1000, frac=0.032).layer(None)
    assert B.layer_blocks(s, CONV, lh5, off, psums_in_prf=False).act_src == "staged"
    lb = B.layer_blocks(s, CONV, lh, ON, psums_in_prf=False)
    assert (lb.act_src, lb.w_src, lb.out_dest) == ("l2", "dram", "l2")
    assert lb.act_piece.dtype == np.int64
    # psums in the PRF: 8 runs of 16 finished 8-bit outputs in the output buffer
    assert B.layer_blocks(s, CONV, lh, ON, psums_in_prf=True).out_buf.tolist() == [128]
    assert lb.act_piece.tolist() == [0] and lb.crf_bytes == 0
    assert lb.w.nbytes.tolist() == [48 + 24 + 48 + 24]          # no header by default
    # weights: the header rides on the first load
    lb = B.layer_blocks(s, CONV, lh, ON, psums_in_prf=False, header_bytes=7)
    # the four loads (48, 24, 48, 24 B) share one block of the 16 KiB half
    assert lb.w.nbytes.tolist() == [48 + 24 + 48 + 24 + 7]
    assert lb.w_kind.tolist() == [LOAD] * 4 and lb.w_tile.tolist() == [0, 1, 8, 9]
    # 8 runs of 4 pixels x 4 columns: 64 B of psums, 16 B drained, each; one block
    assert lb.out_buf.tolist() == [512] and lb.out.nbytes.tolist() == [128]
    # a matmul reading the previous layer's output: from L2 when it is kept there
    mm = Layer("mm", "matmul", 4, 4, 4, 4)
    sm = tiling.build_schedule(mm, lh, None)
    assert B.layer_blocks(sm, mm, lh, ON, psums_in_prf=False).w_src == "l2"
    assert B.layer_blocks(sm, mm, lh, off, psums_in_prf=False).w_src == "dram"
    fixed = replace(mm, operand="dram")
    assert B.layer_blocks(sm, fixed, lh, ON, psums_in_prf=False).w_src == "dram"


def test_layer_blocks_stage_a_reloading_pass_once():
    # one WRF slot, no double buffering: every chunk of 4 pixels reloads its 5 reduction
    # folds (16, 16, 16, 16, 8 B); per output fold 4 chunks: 20 loads, 72 distinct bytes
    hw = replace(EWS, wrf_depth=1, arf_reuse=False, wrf_double_buffer=False)
    lh = mem(hw, w=2 * 40).layer(None)
    s = tiling.build_schedule(CONV, lh, 4)
    lb = B.layer_blocks(s, CONV, lh, ON, psums_in_prf=True)
    # greedy 40 B blocks: [16, 16], [16, 16, 8], ... 8 per output fold
    assert lb.w.first.tolist()[:4] == [0, 2, 5, 7] and lb.w.nbytes.tolist()[:2] == [32, 40]
    # the first two blocks of each fold fetch the fold's weights; all leave with its last
    assert lb.w_piece.tolist() == [32, 40] + [0] * 6 + [32, 40] + [0] * 6
    assert lb.w_free_at.tolist() == [7] * 8 + [15] * 8


def test_layer_blocks_codebook_bytes():
    lh, f = _codebook_hw(groups=4, cap=2, width=1, k=2, d=2)
    out_c8 = Layer("c8", "conv", 1, 4, 4, 8)
    s = sched([(0, 1, 0, 4, 0, 4, 0, 4, 5), (0, 1, 4, 8, 0, 4, 0, 4, 5),
               (0, 1, 0, 4, 0, 4, 4, 8, 5)])
    lb = B.layer_blocks(s, out_c8, lh, ON, psums_in_prf=False, header_bytes=20)
    # written groups: 2 (fill) + 2 (tile 1) + 2 (tile 2) = 6 x 4 B
    assert lb.crf_bytes == 24
    assert lb.w_cycles.tolist() == [8, 0, 4, 4, 0, 4, 4, 0]
