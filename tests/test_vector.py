"""The vector unit (ewssim/hw/vector.py) and tensor lifetimes (ewssim/engine/lifetimes.py):
exact cycles and bytes of each term, fusion, residuals that spill, and the chain rule kept."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ewssim
from ewssim.config import preset
from ewssim.dataflow import resolve
from ewssim.engine.lifetimes import plan_graph
from ewssim.hw.vector import compute_cycles, run_vector
from ewssim.workload import Layer, Network
from ewssim.workload.graph import VectorOp
from ewssim.workload.topology import parse_topology_text, render_network

HEADER = "name,type,in_h,in_w,in_c,out_c,kernel_h,kernel_w,stride_h,stride_w,pad_h,pad_w,inputs\n"


def _net(rows: str, name: str = "g") -> Network:
    return parse_topology_text(HEADER + rows, name=name)


def test_compute_cycles_per_class():
    hw = resolve(preset("ews").replace({"vector.lanes": 16, "vector.softmax_cycles": 3}))
    add = VectorOp("a", "add", 8, 8, 16, 8, 8, 16)
    pool = VectorOp("p", "maxpool", 8, 8, 16, 4, 4, 16, kernel_h=3, kernel_w=3)
    sm = VectorOp("s", "softmax", 10, 1, 10, 10, 1, 10, batch=3)
    assert compute_cycles(add, hw) == 8 * 8 * 16 // 16                 # output elements
    assert compute_cycles(pool, hw) == 4 * 4 * 16 * 9 // 16            # x window taps
    assert compute_cycles(sm, hw) == math.ceil(3 * 100 * 3 / 16)        # 3 passes
    half = resolve(preset("ews").replace({"vector.lanes": 8}))
    assert compute_cycles(add, half) == 2 * compute_cycles(add, hw)


def test_memory_terms_and_stall_causes():
    """An operator takes the longest of compute, L2 port and DRAM (+ latency when it reads
    DRAM); the cycles over compute are stalls of the binding resource."""
    op = VectorOp("a", "add", 32, 32, 64, 32, 32, 64)                  # 65,536 B per tensor
    arch = preset("ews").replace({"memory.dram_bytes_per_cycle": 8,
                                  "memory.dram_latency_cycles": 100, "vector.lanes": 64})
    hw = resolve(arch)
    nb = 32 * 32 * 64
    on_chip = run_vector(op, hw, [(nb, True), (nb, True)], True)
    assert on_chip.compute_cycles == nb // 64
    l2 = math.ceil(3 * nb / hw.memory.l2_bytes_per_cycle)
    assert on_chip.total_cycles == max(nb // 64, l2)
    assert on_chip.traffic.dram_act_read_bytes == on_chip.traffic.dram_out_write_bytes == 0
    spilled = run_vector(op, hw, [(nb, False), (nb, True)], False)
    assert spilled.traffic.dram_act_read_bytes == nb
    assert spilled.traffic.dram_out_write_bytes == nb
    assert spilled.total_cycles == 100 + 2 * nb // 8
    assert spilled.stalls == {"dram_latency": 100,
                              "dram_bandwidth": spilled.total_cycles - 100 - nb // 64}
    # a write-back alone waits for no latency
    out_only = run_vector(op, hw, [(nb, True), (nb, True)], False)
    assert out_only.total_cycles == nb // 8
    ideal = run_vector(op, resolve(arch.replace("memory.ideal", True)),
                       [(nb, False), (nb, False)], False)
    assert ideal.total_cycles == ideal.compute_cycles == nb // 64


def test_burst_rounding_per_tensor():
    hw = resolve(preset("ews").replace({"memory.dram_burst_bytes": 64}))
    op = VectorOp("a", "add", 1, 1, 100, 1, 1, 100)
    r = run_vector(op, hw, [(100, False), (100, False)], False)
    assert r.traffic.dram_act_read_bytes == 2 * 128
    assert r.traffic.dram_out_write_bytes == 128


GRAPH = """c1,conv,16,16,8,8,3,3,1,1,1,1,
r1,relu,16,16,8,8,1,1,1,1,0,0,
c2,conv,16,16,8,8,3,3,1,1,1,1,
add,add,16,16,8,8,1,1,1,1,0,0,c2 r1
p,maxpool,16,16,8,8,2,2,2,2,0,0,
fc,linear,1,1,512,10,1,1,1,1,0,0,
"""


def test_fused_activation_costs_no_cycles_and_no_bytes():
    net = _net(GRAPH)
    r = ewssim.simulate("ews", net)
    row = r.layers.set_index("layer").loc["r1"]
    assert row["mapping"] == "fused" and row["total_cycles"] == 0
    assert row["dram_read_bytes"] == row["l2_vector_read_bytes"] == 0
    assert row["vector_ops"] == 16 * 16 * 8 and row["energy_vector_pJ"] > 0
    off = ewssim.simulate("ews", net, overrides={"vector.fuse_activations": False})
    row = off.layers.set_index("layer").loc["r1"]
    assert row["mapping"] == "vector"
    assert row["compute_cycles"] == math.ceil(16 * 16 * 8 / 64)
    assert row["l2_vector_read_bytes"] == row["l2_vector_write_bytes"] == 16 * 16 * 8
    # the pool after the add is not fused (it is not an activation)
    assert r.layers.set_index("layer").loc["p", "mapping"] == "vector"


RESIDUAL = """c1,conv,16,16,8,8,3,3,1,1,1,1,
r1,relu,16,16,8,8,1,1,1,1,0,0,
c2,conv,16,16,8,16,3,3,1,1,1,1,
c3,conv,16,16,16,8,3,3,1,1,1,1,
add,add,16,16,8,8,1,1,1,1,0,0,c3 r1
"""


def test_residual_that_does_not_fit_l2_costs_dram_traffic():
    """r1 (c1's output with its ReLU fused, 2,048 B) is read by c2 and, two steps later, by
    the add.  Working sets: c2 2,048 + 4,096, c3 4,096 + 2,048, add 3 x 2,048 = 6,144 B each;
    at c3 the residual must fit beside c3's own 6,144 B.  An L2 share of 6,144 B holds every
    step but not the residual across c3: it is written to DRAM once and read back once."""
    net = _net(RESIDUAL)
    l2 = {"memory.l2_bytes": 131072}
    roomy = ewssim.simulate("ews", net, overrides={**l2, "memory.l2_act_fraction": 0.0625})
    tight = ewssim.simulate("ews", net, overrides={**l2, "memory.l2_act_fraction": 0.046875})
    assert roomy.hw.l2_act_bytes == 8192 and tight.hw.l2_act_bytes == 6144
    keep = {n: plan_graph(net, r.hw).tensor(n).kept for r in (roomy, tight) for n in
            ("r1", "c2", "c3")}
    assert plan_graph(net, roomy.hw).tensor("r1").kept
    t = plan_graph(net, tight.hw)
    assert (t.tensor("r1").kept, t.tensor("c2").kept, t.tensor("c3").kept) == \
        (False, True, True), keep
    assert t.tensor("r1").residual and t.tensor("r1").nbytes == 2048
    assert roomy.totals["residual_dram_bytes"] == 0
    assert tight.totals["residual_bytes"] == tight.totals["residual_dram_bytes"] == 2048
    a, b = roomy.layers.set_index("layer"), tight.layers.set_index("layer")
    assert a.loc["add", "dram_act_read_bytes"] == 0
    assert b.loc["add", "dram_act_read_bytes"] == 2048          # read back (whole bursts)
    assert b.loc["c1", "dram_out_write_bytes"] >= 2048          # written out
    assert a.loc["c1", "dram_out_write_bytes"] == 0
    assert b.loc["add", "total_cycles"] > a.loc["add", "total_cycles"]
    assert tight.totals["dram_read_bytes"] - roomy.totals["dram_read_bytes"] >= 2048


def _chain_rule(layers, budget, bits=8):
    """The chain rule written out: a layer's output stays on chip when it and the next
    layer's input + output fit."""
    fits = [la.input_bytes(bits) + la.output_bytes(bits) <= budget for la in layers]
    keep = [fits[i] and i + 1 < len(layers) and fits[i + 1] for i in range(len(layers))]
    return [(i > 0 and keep[i - 1], keep[i]) for i in range(len(layers))]


@settings(max_examples=60, deadline=None, database=None)
@given(sizes=st.lists(st.tuples(st.integers(1, 24), st.integers(1, 64)), min_size=1,
                      max_size=6),
       share=st.integers(1, 96))
def test_lifetimes_reduce_to_the_chain_rule(sizes, share):
    layers = []
    c = 3
    for i, (h, k) in enumerate(sizes):
        layers.append(Layer(f"l{i}", "conv", h, h, c, k, 3, 3, pad_h=1, pad_w=1))
        c = k
    # consecutive layers must agree on shapes only for the engine; lifetimes read sizes
    net = Network("chain", tuple(layers))
    hw = resolve(preset("ews").replace({"memory.l2_act_fraction": share / 1024}))
    got = [(c.input_on_chip, c.output_on_chip) for c in plan_graph(net, hw).contexts]
    assert got == _chain_rule(layers, hw.l2_act_bytes)


def test_render_and_parse_round_trip_zoo_graphs():
    for name in ("resnet18", "deit_tiny", "mobilenet_v2", "tinyllama-1.1b-decode"):
        net = ewssim.load_workload(name)
        back = parse_topology_text(render_network(net), source=net.source, name=net.name)
        assert back == net, name


@pytest.mark.parametrize("name, adds, pools", [("resnet50", 16, 2), ("deit_tiny", 25, 0)])
def test_zoo_graphs_have_their_operators(name, adds, pools):
    net = ewssim.load_workload(name)
    ops = [v.op for v in net.vector_ops]
    assert ops.count("add") == adds
    assert sum(op in ("maxpool", "globalavgpool") for op in ops) == pools


@pytest.mark.parametrize("name", ["resnet50", "deit_tiny"])
def test_vector_time_and_residual_bytes_reported(name):
    r = ewssim.simulate("mvq", name)
    t = r.totals
    assert t["vector_cycles"] > 0 and t["residual_bytes"] > 0
    assert t["vector_nodes"] == len(r.network.vector_ops)
    assert "vector unit" in r.summary()
    vec = r.layers[r.layers["mapping"] == "vector"]
    assert (vec["macs"] == 0).all() and (vec["compute_cycles"] > 0).all()


def test_decomposed_hardswish_collapses_and_fuses():
    """x * clip(x + 3) / 6 as an exporter writes it (add, clip on x; mul of x with it; div)
    becomes one hardswish on x, which then runs in the conv's output path; a mul of two
    different tensors stays a vector operator."""
    from ewssim.workload.graph import collapse_gated

    def v(name, op):
        return VectorOp(name, op, 8, 8, 4, 8, 8, 4)
    conv = Layer("c", "conv", 8, 8, 4, 4, 3, 3, pad_h=1, pad_w=1)
    nodes = [conv, v("a", "add"), v("k", "clip"), v("m", "mul"), v("d", "div"),
             Layer("e", "conv", 8, 8, 4, 4, 1, 1), v("g", "mul")]
    inputs = {"c": ("input",), "a": ("c",), "k": ("a",), "m": ("c", "k"), "d": ("m",),
              "e": ("c",), "g": ("d", "e")}
    assert collapse_gated(nodes, inputs) == 1
    assert [(n.name, getattr(n, "op", "conv")) for n in nodes] == [
        ("c", "conv"), ("m", "hardswish"), ("d", "div"), ("e", "conv"), ("g", "mul")]
    assert inputs["m"] == ("c",) and "a" not in inputs
    net = Network.from_nodes("hs", nodes, inputs)
    rows = ewssim.simulate("ews", net).layers.set_index("layer")
    # c has two readers (m and e): m cannot fuse into c; d fuses into m
    assert rows.loc["m", "mapping"] == "vector"
    assert rows.loc["d", "mapping"] == "fused" and rows.loc["g", "mapping"] == "vector"
