"""Graphs against their cycle-by-cycle reference (ewssim/engine/reference_graph.py): vector
operators, fused activations, residuals kept in L2 or spilled, and the array layers between
vector operators -- every node's cycles, stalls by cause and DRAM bytes equal, on random
graphs and memory settings (hypothesis)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ewssim.config import preset
from ewssim.dataflow import dataflow_of, resolve
from ewssim.engine import sim
from ewssim.engine.functional import random_operands
from ewssim.engine.reference import LayerRun, ReferenceSimError
from ewssim.engine.reference_graph import simulate_graph
from ewssim.errors import InputError
from ewssim.hw.vector import VectorResult
from ewssim.workload.graph import VectorOp
from ewssim.workload.layers import Layer, Network


def residual_block(h: int, c: int, k1: int, k2: int, pool: bool, relu: bool, head: bool,
                   classes: int) -> Network:
    """conv 3x3 -> [relu] -> [maxpool 2x2] -> conv 3x3 -> [relu] -> conv 1x1 -> add with
    the block input -> [relu] -> [global pool -> linear]."""
    nodes, ins = [], {}

    def v(name, op, hh, cc, oh=None, k=1):
        nodes.append(VectorOp(name, op, hh, hh, cc, oh or hh, oh or hh, cc, kernel_h=k,
                              kernel_w=k))
    nodes.append(Layer("c1", "conv", h, h, c, k1, 3, 3, pad_h=1, pad_w=1))
    x = "c1"
    if relu:
        v("r1", "relu", h, k1)
        x = "r1"
    if pool:
        v("p", "maxpool", h, k1, h // 2, 2)
        x, h = "p", h // 2
    nodes.append(Layer("c2", "conv", h, h, k1, k2, 3, 3, pad_h=1, pad_w=1))
    ins["c2"] = (x,)
    if relu:
        v("r2", "relu", h, k2)
    nodes.append(Layer("c3", "conv", h, h, k2, k1))
    v("add", "add", h, k1)
    ins["add"] = ("c3", x)
    if relu:
        v("r3", "relu", h, k1)
    if head:
        v("gap", "globalavgpool", h, k1, 1)
        nodes.append(Layer("fc", "linear", 1, 1, k1, classes))
    return Network.from_nodes("g", nodes, ins)


graphs = st.builds(residual_block, h=st.sampled_from([4, 6, 8]), c=st.integers(1, 6),
                   k1=st.integers(1, 12), k2=st.integers(1, 12), pool=st.booleans(),
                   relu=st.booleans(), head=st.booleans(), classes=st.integers(1, 10))
memories = st.fixed_dictionaries({
    "memory.dram_bytes_per_cycle": st.sampled_from([1, 2, 3.5, 16, 64]),
    "memory.dram_latency_cycles": st.sampled_from([0, 7, 100]),
    "memory.l2_act_fraction": st.sampled_from([0.0003, 0.0006, 0.001, 0.002, 0.75]),
    "memory.l2_banks": st.sampled_from([1, 2, 8]),
    "memory.l1_double_buffer": st.booleans(),
    "vector.lanes": st.sampled_from([1, 4, 64]),
    "vector.fuse_activations": st.booleans(),
    "vector.pool_cycles": st.integers(1, 3),
    "vector.elementwise_cycles": st.integers(1, 2),
    "array.rows": st.sampled_from([4, 8]),
    "array.cols": st.sampled_from([4, 8]),
})


def both(net: Network, name: str, over: dict, seed: int = 0, max_cycles: int = 2_000_000):
    arch = preset(name).replace(over)
    hw, flow = resolve(arch), dataflow_of(arch)
    try:
        res = sim.simulate(net, hw, flow=flow)
    except InputError:
        return None
    runs = {}
    for r in res:
        if isinstance(r, VectorResult):
            continue
        m = r.mapping
        x, w = random_operands(m.layer, seed)
        runs[m.layer.name] = LayerRun(m.layer, m.lhw, m.chunk, m.psums_in_prf, x, w)
    return res, simulate_graph(net, hw, runs, max_cycles=max_cycles)


def check(res, ref) -> None:
    assert [getattr(r, "name", None) or r.mapping.layer.name for r in res] == \
        [n.name for n in ref]
    for r, n in zip(res, ref, strict=True):
        assert r.total_cycles == n.cycles, n.name
        assert r.stall_cycles == n.stall_cycles, n.name
        assert {k: v for k, v in r.stalls.items() if v} == \
            {k: v for k, v in n.stalls.items() if v}, n.name
        t = r.traffic
        assert t.dram_act_read_bytes + t.dram_weight_read_bytes == n.dram_read_bytes, n.name
        assert t.dram_out_write_bytes == n.dram_write_bytes, n.name
        if isinstance(r, VectorResult):
            assert r.fused == n.fused, n.name
            assert t.l2_vector_read_bytes + t.l2_vector_write_bytes == \
                (0 if n.fused else n.l2_bytes), n.name


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(net=graphs, over=memories, name=st.sampled_from(["ews", "ws"]))
def test_graph_engine_equals_reference(net, over, name):
    got = both(net, name, over)
    if got is None:
        return
    res, ref = got
    vec = [r for r in res if isinstance(r, VectorResult)]
    event("spilled residual" if any(r.traffic.dram_act_read_bytes for r in vec)
          else "residual in L2")
    event("fused" if any(r.fused for r in vec) else "no fusion")
    check(res, ref)


def test_spilled_residual_example():
    """A residual that the L2 share cannot hold beside the block: both sides read it back
    from DRAM for the add, and agree cycle for cycle."""
    net = residual_block(8, 4, 8, 8, pool=False, relu=True, head=True, classes=10)
    over = {"memory.l2_act_fraction": 0.001, "memory.dram_bytes_per_cycle": 2,
            "memory.dram_latency_cycles": 7, "array.rows": 8, "array.cols": 8}
    res, ref = both(net, "ews", over)
    add = next(r for r in res if getattr(r, "name", "") == "add")
    assert add.traffic.dram_act_read_bytes > 0 and add.stalls
    check(res, ref)


def chain(blocks: int, h: int, c: int, k: int) -> Network:
    """A 1x1 stem conv, then ``blocks`` identical residual blocks in a row: conv 3x3
    (c -> k) -> conv 1x1 (k -> c) -> add with the block input."""
    nodes, ins, x = [Layer("stem", "conv", h, h, c, c)], {}, "stem"
    for b in range(blocks):
        c1, c2, add = f"b{b}.c1", f"b{b}.c2", f"b{b}.add"
        nodes.append(Layer(c1, "conv", h, h, c, k, 3, 3, pad_h=1, pad_w=1))
        ins[c1] = (x,)
        nodes.append(Layer(c2, "conv", h, h, k, c))
        nodes.append(VectorOp(add, "add", h, h, c, h, h, c))
        ins[add] = (c2, x)
        x = add
    return Network.from_nodes("chain", nodes, ins)


@settings(max_examples=15, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(h=st.sampled_from([4, 6, 8]), c=st.integers(1, 8), k=st.integers(1, 12),
       over=memories, name=st.sampled_from(["ews", "ws"]))
def test_identical_segments_run_once(h, c, k, over, name):
    """Blocks 2 and 3 of a chain are the same simulation (same plans, inputs and outputs
    where blocks 2 and 3 keep them): the engine runs it once and gives both its rows; every
    node still equals the reference."""
    net = chain(3, h, c, k)
    runs = []
    real = sim._segment_task
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sim, "_segment_task",
                   lambda state, ms: runs.append([m.layer.name for m in ms])
                   or real(state, ms))
        got = both(net, name, over)
    if got is None:
        return
    res, ref = got
    segments = [["stem", "b0.c1", "b0.c2"], ["b1.c1", "b1.c2"], ["b2.c1", "b2.c2"]]
    assert all(s in segments for s in runs) and len(runs) == len({tuple(s) for s in runs})
    plans = {r.mapping.layer.name: r.mapping for r in res if not isinstance(r, VectorResult)}
    same = all(sim._equal(dataclasses.replace(plans[f"b1.{x}"], layer=None, notes=[]),
                          dataclasses.replace(plans[f"b2.{x}"], layer=None, notes=[]))
               for x in ("c1", "c2"))
    event("blocks 1 and 2 run once" if len(runs) < 3 else "three runs")
    if same and len(runs) == 3:
        raise AssertionError("blocks 1 and 2 have the same plans but ran twice")
    check(res, ref)


# ------------------------------------------------------- vector operators and L2 residency

def share(nbytes: int) -> float:
    """``memory.l2_act_fraction`` for an activation share of ``nbytes`` of the presets'
    1 MiB L2 (an exact binary fraction, so the share is exactly ``nbytes``)."""
    return nbytes / (1 << 20)


def dram_at(net: Network, nbytes: int, **over) -> list[tuple[int, int]]:
    """Engine and reference on ``net`` (ews, 4x4, activation share ``nbytes``) checked equal;
    per node, the reference's (DRAM read, DRAM write) bytes."""
    res, ref = both(net, "ews", {"memory.l2_act_fraction": share(nbytes),
                                 "array.rows": 4, "array.cols": 4, **over})
    check(res, ref)
    return [(n.dram_read_bytes, n.dram_write_bytes) for n in ref]



def vector_mix(h: int, c: int, k: int, m: int, start: bool, acts: tuple[str, ...],
               pre: bool, tail: str | None, classes: int) -> Network:
    """[mul on the input] -> conv 3x3 (c -> k) -> a chain of fusable operators (activations,
    a multiply by a constant) -> conv 1x1 (k -> m) -> conv 1x1 (m -> k) -> add with the first
    conv's output (``pre``: taken before the chain, so that conv's output has two readers) or
    the chain's end -> [layernorm | softmax | avgpool 3x3 | reducemean -> linear].  A wide
    ``m`` makes the steps the residual lives through need more L2 than the add."""
    nodes, ins = [], {}
    if start:
        nodes.append(VectorOp("s", "mul", h, h, c, h, h, c))
    nodes.append(Layer("c1", "conv", h, h, c, k, 3, 3, pad_h=1, pad_w=1))
    x = "c1"
    for i, op in enumerate(acts):
        nodes.append(VectorOp(f"a{i}", op, h, h, k, h, h, k))
        x = f"a{i}"
    nodes.append(Layer("c2", "conv", h, h, k, m))
    ins["c2"] = (x,)
    nodes.append(Layer("c3", "conv", h, h, m, k))
    nodes.append(VectorOp("add", "add", h, h, k, h, h, k))
    ins["add"] = ("c3", "c1" if pre else x)
    if tail in ("layernorm", "softmax"):
        nodes.append(VectorOp("t", tail, h, h, k, h, h, k))
    elif tail == "avgpool":
        nodes.append(VectorOp("t", "avgpool", h, h, k, h - 2, h - 2, k, 3, 3))
    elif tail == "reducemean":
        nodes.append(VectorOp("t", "reducemean", h, h, k, 1, 1, k))
        nodes.append(Layer("fc", "linear", 1, 1, k, classes))
    return Network.from_nodes("mix", nodes, ins)


mixes = st.builds(vector_mix, h=st.sampled_from([3, 4, 6]), c=st.integers(1, 6),
                  k=st.integers(1, 12), m=st.integers(1, 32), start=st.booleans(),
                  acts=st.sampled_from([(), ("relu",), ("mul", "relu"),
                                        ("sigmoid", "relu", "mul")]), pre=st.booleans(),
                  tail=st.sampled_from([None, "layernorm", "softmax", "avgpool", "reducemean"]),
                  classes=st.integers(1, 10))
mix_memories = st.fixed_dictionaries({
    "memory.ideal": st.sampled_from([False, False, False, True]),
    "memory.dram_bytes_per_cycle": st.sampled_from([1, 3.5, 16, 64]),
    "memory.dram_latency_cycles": st.sampled_from([0, 7, 100]),
    # the activation share in bytes (of the 1 MiB L2), around the tensors' sizes
    "memory.l2_act_fraction": st.integers(0, 4000).map(share),
    "memory.l2_banks": st.sampled_from([1, 2, 8]),
    "memory.l2_bank_width_bytes": st.sampled_from([1, 4, 16]),
    "data.act_bits": st.sampled_from([4, 8, 16]),
    "vector.lanes": st.sampled_from([1, 4, 64, 256]),
    "vector.fuse_activations": st.booleans(),
    "array.rows": st.sampled_from([4, 8]),
    "array.cols": st.sampled_from([4, 8]),
})


@settings(max_examples=80, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(net=mixes, over=mix_memories, name=st.sampled_from(["ews", "ws"]))
def test_vector_operators_and_residency_equal_reference(net, over, name):
    """Every vector class with its own work (a pooling window, a reduction, a norm, a
    softmax), chains of fused operators, a conv output with two readers (not fused away),
    an operator on the network input, ideal memory, 4- and 16-bit activations, an L2 port
    as narrow as 1 B/cycle and activation shares of every size up to 4 kB: each node's
    cycles, stalls and bytes equal the reference's."""
    got = both(net, name, over)
    if got is None:
        return
    res, ref = got
    vec = [r for r in res if isinstance(r, VectorResult)]
    event("ideal memory" if over["memory.ideal"] else
          "an activation kept in L2" if any(not r.traffic.dram_act_read_bytes for r in vec)
          else "every activation through DRAM")
    event("a fused chain" if sum(r.fused for r in vec) > 1 else "at most one fused")
    if over["memory.ideal"]:
        # ideal memory: the reference steps no memory, so only the cycles compare (the
        # engine still counts the traffic an ideal memory would move)
        assert [(getattr(r, "name", None) or r.mapping.layer.name, r.total_cycles,
                 r.stall_cycles) for r in res] == [(n.name, n.cycles, 0) for n in ref]
        return
    check(res, ref)


def test_a_vector_operator_past_the_cycle_limit_stops_the_reference():
    """A softmax over 128 elements on one lane at 8 cycles per element needs 1,024 cycles
    (after a linear layer of 432): with a limit of 600, or of 1,023, the reference stops at
    the softmax with an error naming it; with 1,024 (a run may take as many cycles as the
    limit, as a layer's may) and 2,000 it gives the engine's cycles."""
    net = Network.from_nodes("sm", [Layer("fc", "linear", 1, 1, 8, 128),
                                    VectorOp("sm", "softmax", 1, 1, 128, 1, 1, 128)], {})
    over = {"vector.lanes": 1, "vector.softmax_cycles": 8}
    for limit in (600, 1023):
        with pytest.raises(ReferenceSimError, match=f"vector op 'sm' ran past {limit} cycles"):
            both(net, "ews", over, max_cycles=limit)
    for limit in (1024, 2000):
        res, ref = both(net, "ews", over, max_cycles=limit)
        check(res, ref)
        assert [n.cycles for n in ref] == [432, 1024]


# per node (c1, c2, c3, add): (DRAM read, DRAM write) bytes
SPILL = [(192, 64), (192, 512), (640, 64), (128, 64)]
WIDE_KEPT = [(192, 64), (192, 0), (128, 0), (64, 64)]
ALL_KEPT = [(192, 0), (128, 0), (128, 0), (0, 64)]


@pytest.mark.parametrize("nbytes,dram", [(575, SPILL), (576, WIDE_KEPT), (639, WIDE_KEPT),
                                        (640, ALL_KEPT)])
def test_a_residual_stays_in_l2_only_with_room_through_the_wide_layers(nbytes, dram):
    """conv 3x3 (2 -> 4 channels, 64 B out) -> conv 1x1 (4 -> 32, 512 B) -> conv 1x1
    (32 -> 4) -> add with the first conv's output, on 4x4 pixels.  The wide convs' outputs
    stay in L2 once the share holds a wide layer's input and output (576 B); the residual
    stays once the share also holds it beside the last conv's 576 B (640 B), although the
    add itself needs only 192 B.  Engine and reference agree on each side of both
    boundaries, in cycles, stalls and DRAM bytes."""
    assert dram_at(vector_mix(4, 2, 4, 32, False, (), False, None, 1), nbytes) == dram


def test_each_vector_class_does_its_own_work():
    """On one lane with ideal memory a vector operator takes its work times its cycles per
    element (docs/model-reference.md §4.9): avgpool 3x3 to 4x4x4, 64 outputs x 9 taps = 576;
    layernorm over 64 inputs at 3 = 192; softmax 64 x 3 = 192; resize to 8x8x4, 256
    outputs = 256; reducemean over 256 inputs to 4 outputs = 256.  Engine and reference
    both."""
    nodes = [Layer("c", "conv", 6, 6, 2, 4),
             VectorOp("pool", "avgpool", 6, 6, 4, 4, 4, 4, 3, 3),
             VectorOp("norm", "layernorm", 4, 4, 4, 4, 4, 4),
             VectorOp("sm", "softmax", 4, 4, 4, 4, 4, 4),
             VectorOp("up", "resize", 4, 4, 4, 8, 8, 4),
             VectorOp("mean", "reducemean", 8, 8, 4, 1, 1, 4),
             Layer("fc", "linear", 1, 1, 4, 3)]
    net = Network.from_nodes("v", nodes, {})
    res, ref = both(net, "ews", {"memory.ideal": True, "vector.lanes": 1})
    cycles = {n.name: n.cycles for n in ref}
    assert {r.name: r.total_cycles for r in res if isinstance(r, VectorResult)} == \
        {k: cycles[k] for k in ("pool", "norm", "sm", "up", "mean")} == \
        {"pool": 576, "norm": 192, "sm": 192, "up": 256, "mean": 256}


@pytest.mark.parametrize("width,dram,stalls", [
    (1, 1, {"l2_port": 191}),          # the port moves 192 B at 1 B/cycle: 192 cycles
    (3, 2, {"l2_port": 63}),           # 64 cycles of port, 32 of DRAM write
    (3, 1, {"dram_bandwidth": 63}),    # both end at 64: the DRAM channel is named
])
def test_a_vector_operator_waits_on_the_resource_that_ends_last(width, dram, stalls):
    """The add of the residual example with every tensor in L2 (640 B share) reads two
    64 B tensors and writes 64 B over the L2 port, and writes its 64 B result (the
    network's output) to DRAM; 256 lanes finish in a cycle.  Its cycles are set by the
    port or the channel, whichever ends last; when both end in the same cycle the stall is
    the DRAM channel's.  Engine and reference agree."""
    net = vector_mix(4, 2, 4, 32, False, (), False, None, 1)
    res, ref = both(net, "ews", {
        "memory.l2_act_fraction": share(640), "array.rows": 4, "array.cols": 4,
        "memory.l2_banks": 1, "memory.l2_bank_width_bytes": width, "vector.lanes": 256,
        "memory.dram_bytes_per_cycle": dram, "memory.dram_latency_cycles": 0})
    check(res, ref)
    add = ref[-1]
    assert (add.name, add.cycles, add.stalls, add.l2_bytes, add.dram_write_bytes) == \
        ("add", 1 + sum(stalls.values()), stalls, 192, 64)


def nested_residuals() -> Network:
    """4x4 pixels: conv 3x3 (2 -> 4) -> conv 1x1 -> conv 1x1 (4 -> 16) -> conv 1x1 (16 -> 4)
    -> add with the second conv's output -> add with the first's: two residuals live
    across the wide convs together."""
    nodes = [Layer("c1", "conv", 4, 4, 2, 4, 3, 3, pad_h=1, pad_w=1),
             Layer("c2", "conv", 4, 4, 4, 4), Layer("c3", "conv", 4, 4, 4, 16),
             Layer("c4", "conv", 4, 4, 16, 4),
             VectorOp("add1", "add", 4, 4, 4, 4, 4, 4), VectorOp("add2", "add", 4, 4, 4, 4, 4, 4)]
    return Network.from_nodes("nest", nodes, {"add1": ("c4", "c2"), "add2": ("add1", "c1")})


def side_output() -> Network:
    """conv 3x3 -> a ReLU nothing reads (a second output of the network) beside conv 1x1 ->
    conv 1x1 -> add: a tensor with no reader before the last step."""
    nodes = [Layer("c1", "conv", 4, 4, 2, 4, 3, 3, pad_h=1, pad_w=1),
             VectorOp("s", "relu", 4, 4, 4, 4, 4, 4),
             Layer("c2", "conv", 4, 4, 4, 4), Layer("c3", "conv", 4, 4, 4, 4),
             VectorOp("add", "add", 4, 4, 4, 4, 4, 4)]
    return Network.from_nodes("side", nodes, {"s": ("c1",), "c2": ("c1",), "add": ("c3", "c2")})


@pytest.mark.parametrize("net,nbytes,dram", [
    # per node, (DRAM read, DRAM write) bytes
    (nested_residuals, 383, [(192, 64), (128, 64), (128, 0), (64, 0), (64, 0), (64, 64)]),
    (nested_residuals, 384, [(192, 0), (64, 64), (128, 0), (64, 0), (64, 0), (0, 64)]),
    (nested_residuals, 447, [(192, 0), (64, 64), (128, 0), (64, 0), (64, 0), (0, 64)]),
    (nested_residuals, 448, [(192, 0), (64, 0), (64, 0), (64, 0), (0, 0), (0, 64)]),
    (side_output, 191, [(192, 0), (0, 64), (64, 64), (128, 64), (128, 64)]),
    (side_output, 192, [(192, 0), (0, 64), (64, 0), (64, 0), (0, 64)]),
], ids=["nested-383", "nested-384", "nested-447", "nested-448", "side-191", "side-192"])
def test_l2_residency_with_nested_residuals_and_a_side_output(net, nbytes, dram):
    """The outer residual stays from 384 B; the inner one needs 64 B more beside it through
    the wide convs (448 B).  A side output is written to DRAM and the tensors after it are
    still kept when they fit.  Engine and reference agree, DRAM bytes exact per node."""
    assert dram_at(net(), nbytes, **{"vector.fuse_activations": False}) == dram


@pytest.mark.parametrize("nbytes,dram", [
    (41, [(128, 64), (128, 0), (64, 64), (128, 64)]),
    (42, [(128, 0), (64, 0), (64, 0), (0, 64)]),
])
def test_four_bit_tensors_take_whole_bytes_in_l2(nbytes, dram):
    """4-bit activations, 3x3 pixels, 3 channels: a 27-element tensor takes 14 bytes, not
    13.5.  The residual and the last conv's output stay in L2 once the share holds the
    add's two inputs and its output, 3 x 14 = 42 bytes (3 x 13.5 would fit in 41).
    Engine and reference agree, DRAM bytes (whole bursts) exact."""
    net = vector_mix(3, 1, 3, 1, False, (), False, None, 1)
    assert dram_at(net, nbytes, **{"data.act_bits": 4, "vector.fuse_activations": False}) \
        == dram
