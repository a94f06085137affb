"""Exact behaviour of the stall attribution (ewssim/engine/stalls.py) on hand-made stage
records: which cause each weight, activation and output block's stage gives at every cycle,
the order of the questions asked for a tile, the cycles where the answer can change, and the
per-layer totals.  Written to kill surviving mutants (docs/testing.md)."""

from __future__ import annotations

from types import SimpleNamespace as NS

from ewssim.engine import stalls
from ewssim.engine.stalls import (
    CAUSES,
    COMPUTE,
    _act_stage,
    _before,
    _cause,
    _drain_stage,
    _points,
    _split,
    _times,
    _weight_stage,
    attribute,
)

BW, LAT, PORT, FILL, CRF, DEP = CAUSES


def test_causes_and_never():
    assert CAUSES == ("dram_bandwidth", "dram_latency", "l2_port", "l1_fill", "loader_crf",
                      "dependency")
    assert COMPUTE == "compute"
    never = stalls._NEVER
    assert _before(never - 1, {}, "x") and not _before(never, {}, "x")


def test_before_is_strict_and_reads_its_key():
    st = {"a": 5, "b": 9}
    assert [_before(c, st, "a") for c in (4, 5, 6)] == [True, False, False]
    assert [_before(c, st, "b") for c in (8, 9)] == [True, False]
    assert _before(10**9, st, "missing")


def _wstages(rec, st, dep_done=(3, 100), cycles=range(14)):
    f = {"wgt": [("x", 0, False, False, 0, None), rec]}
    wgt = NS(stages=[{}, st])
    return [_weight_stage(f, wgt, 1, c, list(dep_done)) for c in cycles]


W_ST = {"ring": 2, "dram_end": 5, "in_l2": 8, "slot": 10, "port_grant": 12}


def test_weight_stage_of_a_dram_piece():
    got = _wstages((64, 0, True, False, 1, None), W_ST)
    assert got == [BW, BW, BW, BW, BW, LAT, LAT, LAT, FILL, FILL, PORT, PORT, FILL, FILL]


def test_weight_stage_ring_before_dram_end_and_missing_keys():
    # the ring slot comes after the DRAM end: bandwidth until the ring slot
    got = _wstages((64, 0, True, False, 1, None),
                   {"dram_end": 2, "ring": 5, "in_l2": 8, "slot": 8, "port_grant": 8},
                   cycles=range(10))
    assert got == [BW] * 5 + [LAT] * 3 + [FILL] * 2
    # no ring / dram_end recorded: never happened, so bandwidth until in_l2
    got = _wstages((64, 0, True, False, 1, None), {"in_l2": 3, "slot": 3, "port_grant": 3},
                   cycles=range(5))
    assert got == [BW, BW, BW, FILL, FILL]
    # no in_l2 recorded: bandwidth forever
    assert _wstages((64, 0, False, False, 0, None), {}, cycles=[0, 10**6]) == [BW, BW]


def test_weight_stage_not_a_dram_piece_is_bandwidth_until_in_l2():
    for rec in ((64, 0, False, False, 1, None), (64, 0, True, False, 0, None)):
        got = _wstages(rec, W_ST)
        assert got == [BW] * 8 + [FILL, FILL, PORT, PORT, FILL, FILL]


def test_weight_stage_dependency_only_for_an_operand_of_a_later_layer():
    # an operand of layer 1 waits for layer 0's writes (dep_done[0] = 3), not layer 1's
    got = _wstages((64, 1, True, True, 1, None), W_ST, dep_done=(3, 100))
    assert got == [DEP, DEP, DEP, BW, BW, LAT, LAT, LAT, FILL, FILL, PORT, PORT, FILL, FILL]
    got = _wstages((64, 2, True, True, 1, None), W_ST, dep_done=(100, 3), cycles=range(5))
    assert got == [DEP, DEP, DEP, BW, BW]
    # layer 0 has no producer; a weight (not an operand) has no dependency
    assert _wstages((64, 0, True, True, 1, None), W_ST, dep_done=(100, 100),
                    cycles=[0]) == [BW]
    assert _wstages((64, 1, True, False, 1, None), W_ST, dep_done=(100, 100),
                    cycles=[0]) == [BW]


def _astages(rec, st, dep_done=(3, 100), cycles=range(14)):
    f = {"act": [("x", "l2", 0, 0), rec]}
    act = NS(stages=[{}, st])
    return [_act_stage(f, act, 1, c, list(dep_done)) for c in cycles]


def test_act_stage_of_a_staged_piece():
    st = {"piece_end": 2, "piece_arrive": 4, "slot": 6, "port_grant": 8}
    got = _astages((16, "staged", 0, 1), st, cycles=range(10))
    assert got == [BW, BW, LAT, LAT, FILL, FILL, PORT, PORT, FILL, FILL]
    # piece 0: no DRAM piece, straight to the slot
    got = _astages((16, "staged", 0, 0), st, cycles=range(10))
    assert got == [FILL] * 6 + [PORT, PORT, FILL, FILL]
    # no piece_end recorded: bandwidth until the piece arrives
    got = _astages((16, "staged", 0, 1), {"piece_arrive": 2, "slot": 2, "port_grant": 2},
                   cycles=range(3))
    assert got == [BW, BW, FILL]


def test_act_stage_of_a_streamed_block():
    st = {"slot": 2, "dram_end": 5, "dram_arrive": 8, "port_grant": 10}
    got = _astages((16, "stream", 0, 0), st, cycles=range(12))
    assert got == [FILL, FILL, BW, BW, BW, LAT, LAT, LAT, PORT, PORT, FILL, FILL]
    # an L2 block does not ask DRAM
    got = _astages((16, "l2", 0, 0), st, cycles=range(12))
    assert got == [FILL, FILL] + [PORT] * 8 + [FILL, FILL]
    # streamed, nothing recorded after the slot: bandwidth
    assert _astages((16, "stream", 0, 0), {"slot": 0}, cycles=[0, 99]) == [BW, BW]


def test_act_stage_dependency_of_a_later_layer():
    st = {"slot": 0, "port_grant": 5}
    got = _astages((16, "l2", 1, 0), st, dep_done=(3, 100), cycles=range(7))
    assert got == [DEP, DEP, DEP, PORT, PORT, FILL, FILL]
    got = _astages((16, "l2", 2, 0), st, dep_done=(100, 3), cycles=range(5))
    assert got == [DEP, DEP, DEP, PORT, PORT]
    assert _astages((16, "l2", 0, 0), st, dep_done=(100, 100), cycles=[0]) == [PORT]


def test_drain_stage():
    st = {"complete": 2, "port_end": 5}
    assert [_drain_stage(st, c) for c in range(7)] == [COMPUTE, COMPUTE, PORT, PORT, PORT,
                                                       BW, BW]
    assert _drain_stage({}, 10**6) == COMPUTE
    assert _drain_stage({"complete": 0}, 10**6) == PORT


def test_times_keeps_the_integers():
    assert _times({"a": 3, "b": None, "c": 7, "d": "x"}) == [3, 7]
    assert _times({}) == []


def test_split_counts_each_piece_by_its_left_edge():
    calls = []

    def cause(c):
        calls.append(c)
        return {0: BW, 3: LAT, 5: COMPUTE, 7: BW}[c]

    got = _split(0, 10, {-4, 0, 3, 5, 7, 10, 12}, cause)
    assert got == {BW: 3 + 3, LAT: 2}
    assert calls == [0, 3, 5, 7]
    assert _split(4, 4, {4}, cause) == {}
    assert _split(2, 6, set(), lambda c: PORT) == {PORT: 4}


def _tile_world():
    """One tile (k = 1) with a codebook load (action 0) and a load (action 1) of weight
    block 0, activation block 0 and output block 2 (slot of block 0, halves = 2)."""
    array = NS(action_start=[10, 20], action_end=[12, 25], load_gate=[0, 15])
    f = {"a": {"w_block": [0, 0], "kind": [0, 1]},
         "t": {"act_block": [-1, 0], "out_first": [False, True], "out_block": [0, 2]},
         "wgt": [(8, 0, False, False, 0, None)],
         "act": [(8, "l2", 0, 0)]}
    wgt = NS(ready_at=[8], stages=[{"in_l2": 4, "slot": 6, "port_grant": 7, "z": None}])
    act = NS(ready_at=[30], stages=[{"slot": 27, "port_grant": 28}])
    out = NS(halves=2, released_at=[40], stages=[{"complete": 33, "port_end": 36}])
    return array, f, act, wgt, out


def test_cause_asks_weights_then_activations_then_the_output_slot():
    array, f, act, wgt, out = _tile_world()
    got = [_cause(c, 1, [0, 1], array, f, act, wgt, out, [0]) for c in range(0, 42, 2)]
    # 0..3 weight block 0 not in L2 (bandwidth), 4..5 its slot (fill), 6 the port, 7 fill;
    # 8..9 the codebook load not started: compute; 10..11 the codebook load: loader_crf;
    # 12..14 the load before its gate, 15..19 before its start, 20..24 the load: compute;
    # 26..29 the activation block (slot, then fill after the port grant at 28); 30..32 the
    # previous output still computing, 33..35 its drain on the port, 36..39 to DRAM
    assert got == [BW, BW, FILL, PORT, COMPUTE, CRF, COMPUTE, COMPUTE, COMPUTE, COMPUTE,
                   COMPUTE, COMPUTE, COMPUTE, FILL, FILL, COMPUTE, COMPUTE, PORT, BW, BW,
                   COMPUTE]
    assert [_cause(c, 1, [0, 1], array, f, act, wgt, out, [0]) for c in (7, 9, 27, 35, 39)] \
        == [FILL, COMPUTE, PORT, PORT, BW]


def test_cause_load_gate_and_weight_readiness():
    array, f, act, wgt, out = _tile_world()
    # only the load (kind 1): before its gate compute even while the block is missing
    assert [_cause(c, 1, [1], array, f, act, wgt, out, [0]) for c in (0, 14, 15, 16)] == \
        [COMPUTE, COMPUTE, COMPUTE, COMPUTE]
    wgt.ready_at = [18]
    wgt.stages = [{"in_l2": 17, "slot": 17, "port_grant": 17}]
    assert [_cause(c, 1, [1], array, f, act, wgt, out, [0]) for c in (14, 15, 16, 17, 18)] \
        == [COMPUTE, BW, BW, FILL, COMPUTE]
    # a codebook load (kind 0) has no gate: its block's stage before its start
    array.load_gate = [9, 15]
    assert [_cause(c, 1, [0], array, f, act, wgt, out, [0]) for c in (0, 9, 10)] == \
        [BW, BW, CRF]


def test_cause_output_slot_only_for_the_first_tile_of_an_output_block():
    array, f, act, wgt, out = _tile_world()
    assert _cause(31, 1, [], array, f, act, wgt, out, [0]) == COMPUTE     # complete at 33
    assert _cause(34, 1, [], array, f, act, wgt, out, [0]) == PORT
    assert _cause(39, 1, [], array, f, act, wgt, out, [0]) == BW
    assert _cause(40, 1, [], array, f, act, wgt, out, [0]) == COMPUTE    # released
    f["t"]["out_first"][1] = False
    assert _cause(34, 1, [], array, f, act, wgt, out, [0]) == COMPUTE
    f["t"]["out_first"][1] = True
    f["t"]["out_block"][1] = 1                       # a first-half slot: free from the start
    assert _cause(34, 1, [], array, f, act, wgt, out, [0]) == COMPUTE
    f["t"]["out_block"][1] = 2
    f["t"]["act_block"][1] = -1                      # no activation block
    assert _cause(26, 1, [], array, f, act, wgt, out, [0]) == COMPUTE


def test_points_collects_every_cycle_the_cause_can_change():
    array, f, act, wgt, out = _tile_world()
    got = _points(1, [0, 1], array, f, act, wgt, out, [1, 2])
    assert got == {1, 2, 10, 12, 0, 20, 25, 15, 8, 4, 6, 7, 30, 27, 28, 40, 33, 36}
    f["t"]["out_first"][1] = False
    f["t"]["act_block"][1] = -1
    assert _points(1, [], array, f, act, wgt, out, [5]) == {5}
    f["t"]["out_first"][1] = True
    f["t"]["out_block"][1] = 1
    assert _points(1, [], array, f, act, wgt, out, [5]) == {5}
    f["t"]["out_block"][1] = 2
    assert _points(1, [], array, f, act, wgt, out, [5]) == {5, 40, 33, 36}


def _network():
    """Two layers on one array.  Layer 0: tiles 0 and 1 (tile 1 with a codebook load and a
    load), layer 1: tile 2 (an activation block from layer 0), and a tail of output drains."""
    array = NS(mem_tiles={0, 1, 2}, base=[4, 20, 40], action_start=[12, 16],
               action_end=[14, 18], load_gate=[0, 10], layer_end=[30, 50])
    f = {"a": {"w_block": [0, 0], "kind": [0, 1], "tile": [1, 1]},
         "t": {"act_block": [0, -1, 1], "out_first": [True, False, True],
               "out_block": [0, 0, 1], "load_action": [-1, 1, -1], "layer": [0, 0, 1],
               "stream": [6, 5, 4]},
         "layer_first": [0, 2],
         "wgt": [(8, 0, True, False, 1, None)],
         "act": [(8, "stream", 0, 0), (8, "l2", 1, 0)],
         "out": [(8, 0, 0, 0), (8, 0, 1, 0), (8, 0, 1, 0)]}
    wgt = NS(ready_at=[12], stages=[{"ring": 10, "dram_end": 11, "in_l2": 12, "slot": 12,
                                     "port_grant": 12}])
    act = NS(ready_at=[4, 40], stages=[{"slot": 0, "dram_end": 1, "dram_arrive": 3,
                                        "port_grant": 3},
                                       {"slot": 0, "port_grant": 38}])
    out = NS(halves=1, released_at=[52, 55, 60],
             stages=[{"complete": 50, "port_end": 54}, {"complete": 50, "port_end": 53},
                     {"complete": 50, "port_end": 57}])
    return array, f, act, wgt, out


def test_attribute_two_layers_by_hand():
    array, f, act, wgt, out = _network()
    got = attribute(array, f, act, wgt, out, ends=[32, 60], dep_done=[35, 60])
    # layer 0, tile 0 (0..4): activation stream: DRAM to 1, latency to 3, granted at 3 so
    # fill to 4; tile 1 (10..20): weight block from DRAM (ring 10, end 11, in L2 12), then
    # the codebook load 12..14 (loader_crf), 14..16 the load not started, 16..18 the load,
    # 18..20 nothing awaited (compute).  Layer 1, tile 2 (32..40): layer 0's writes until
    # 35, then the L2 port to 38, then fill; the tail 50..60: output 1 (released 55) port
    # to 53 and DRAM to 55, then output 2 port to 57 and DRAM to 60; output 0 is layer 0's.
    assert got == [{BW: 1 + 1, LAT: 2 + 1, FILL: 1, CRF: 2},
                   {DEP: 3, PORT: 3 + 3 + 2, FILL: 2, BW: 2 + 3}]


def test_attribute_skips_a_tile_without_idle_cycles_and_no_tail():
    array, f, act, wgt, out = _network()
    array.base = [0, 11, 32]
    got = attribute(array, f, act, wgt, out, ends=[32, 50], dep_done=[35, 60])
    # tile 0 starts at 0 (no idle cycle), tile 1 idles 6..11: the weight block; tile 2
    # starts at layer 0's end; the last layer ends with its results (no tail)
    assert got == [{BW: 5}, {}]
    # a first tile of a later layer idles from the previous layer's end, not from its
    # predecessor's stream end
    array.base = [0, 11, 36]
    got = attribute(array, f, act, wgt, out, ends=[32, 50], dep_done=[35, 60])
    assert got == [{BW: 5}, {DEP: 3, PORT: 1}]
