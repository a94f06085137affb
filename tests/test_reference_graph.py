"""Graphs against their cycle-by-cycle reference (ewssim/engine/reference_graph.py): vector
operators, fused activations, residuals kept in L2 or spilled, and the array layers between
vector operators -- every node's cycles, stalls by cause and DRAM bytes equal, on random
graphs and memory settings (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ewssim.config import preset
from ewssim.dataflow import dataflow_of, resolve
from ewssim.engine import sim
from ewssim.engine.functional import random_operands
from ewssim.engine.reference import LayerRun
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


def both(net: Network, name: str, over: dict, seed: int = 0):
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
    return res, simulate_graph(net, hw, runs)


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
