"""Tensor residency (ewssim/engine/lifetimes.py) against the module docstring's rule written
out: random graphs with residuals and unread tensors, chained fusions, the network input's
tensor and the per-layer activation density.  Written to kill surviving mutants
(docs/testing.md)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ewssim.config import preset
from ewssim.dataflow import resolve
from ewssim.engine.lifetimes import plan_graph
from ewssim.workload import Layer, Network
from ewssim.workload.activations import load_activation_profile
from ewssim.workload.graph import INPUT, VectorOp

H = 4                                       # every tensor is H x H x channels, 8-bit


def _graph(spec):
    """``spec``: per node (kind, channels, input picks); picks index earlier tensors
    (0: the network input, k: node k-1).  Nodes may go unread; the last one is the output."""
    nodes, inputs = [], {}
    chans = {INPUT: 3}
    for i, (kind, c, picks) in enumerate(spec):
        names = [INPUT] + [n.name for n in nodes]
        ins = tuple(dict.fromkeys(names[p % len(names)] for p in picks))
        name = f"n{i}"
        if i == 0:
            kind = "conv"                               # a network needs an array layer
        if kind == "conv" or len(ins) == 1:
            ins = ins[:1]
            kind = "conv" if kind == "conv" else "maxpool"
        if kind == "conv":
            node = Layer(name, "conv", H, H, chans[ins[0]], c, 1, 1)
        elif kind == "maxpool":                         # not fusable: always its own step
            cin = chans[ins[0]]
            node = VectorOp(name, "maxpool", H, H, cin, H, H, cin)
            c = cin
        else:                                           # two inputs: never fused
            node = VectorOp(name, "add", H, H, c, H, H, c)
        nodes.append(node)
        inputs[name] = ins
        chans[name] = c
    return Network.from_nodes("g", nodes, inputs)


def _reference(net, budget, bits=8):
    """The rule of the module docstring, decided tensor by tensor from scratch."""
    nodes = list(net.graph_nodes)
    size = {INPUT: (net.input_elems * bits + 7) // 8}
    size.update({n.name: n.output_bytes(bits) for n in nodes})
    ins = [net.inputs_of(n.name) for n in nodes]
    last = {n.name: max([j for j in range(len(nodes)) if n.name in ins[j]], default=i)
            for i, n in enumerate(nodes)}
    first = {n.name: i for i, n in enumerate(nodes)}

    def working(j):
        n = nodes[j]
        if isinstance(n, Layer):
            return n.input_bytes(bits) + n.output_bytes(bits)
        return sum(size[t] for t in ins[j]) + size[n.name]

    kept = []
    for j, n in enumerate(nodes):
        if last[n.name] <= j:
            continue
        ok = True
        for i in range(j, last[n.name] + 1):
            used = set(ins[i]) | {nodes[i].name}
            others = sum(size[k] for k in kept if first[k] <= i <= last[k] and k not in used)
            mine = 0 if n.name in used else size[n.name]
            ok &= working(i) + others + mine <= budget
        if ok:
            kept.append(n.name)
    return set(kept)


NODE = st.tuples(st.sampled_from(["conv", "conv", "maxpool", "add"]), st.integers(1, 16),
                 st.lists(st.integers(0, 20), min_size=1, max_size=2))


@settings(max_examples=150, deadline=None, database=None, derandomize=True)
@given(spec=st.lists(NODE, min_size=2, max_size=8), k=st.integers(1, 16))
def test_residency_matches_the_rule_written_out(spec, k):
    net = _graph(spec)
    hw = resolve(preset("ews").replace({"memory.l2_bytes": 131072,
                                        "memory.l2_act_fraction": k / 512}))
    assert hw.l2_act_bytes == 256 * k
    plan = plan_graph(net, hw)
    want = _reference(net, hw.l2_act_bytes)
    assert {t.name for t in plan.tensors.values() if t.kept} == want
    assert all(name == t.name for name, t in plan.tensors.items())
    for s in plan.steps:
        if s.layer >= 0:
            ctx = plan.contexts[s.layer]
            assert ctx.output_on_chip == (s.node.name in want)
            assert ctx.input_on_chip == all(t in want for t in s.inputs)


def test_worked_residual_example():
    """Four equal 256 B tensors; n0 is read by n1 and n4, n1 by n2 and n5.  Budget 768 B:
    n0 is kept across n2 and n3 (512 B each + 256 B), so n1 no longer fits at n3."""
    spec = [("conv", 16, [0]), ("conv", 16, [1]), ("conv", 16, [2]), ("conv", 16, [3]),
            ("add", 16, [4, 1]), ("add", 16, [5, 2])]
    net = _graph(spec)
    hw = resolve(preset("ews").replace({"memory.l2_bytes": 131072,
                                        "memory.l2_act_fraction": 3 / 512}))
    plan = plan_graph(net, hw)
    kept = {n: plan.tensor(n).kept for n in ("n0", "n1", "n2", "n3", "n4", "n5")}
    assert kept == {"n0": True, "n1": False, "n2": True, "n3": True, "n4": True, "n5": False}
    assert plan.residual_bytes == 512 and plan.residual_spilled_bytes == 256


def test_unread_tensor_does_not_stop_the_plan():
    # n0 is read by nobody; n1 and n2 still follow the rule
    spec = [("conv", 8, [0]), ("conv", 8, [0]), ("conv", 8, [2])]
    net = _graph(spec)
    plan = plan_graph(net, resolve(preset("ews")))
    assert [plan.tensor(n).kept for n in ("n0", "n1", "n2")] == [False, True, False]
    assert plan.tensor("n0").last == plan.tensor("n0").first == 0


def test_network_input_tensor():
    net = Network.from_nodes("g", [Layer("c", "conv", 5, 5, 3, 4, 3, 3, pad_h=1, pad_w=1),
                                   Layer("d", "conv", 5, 5, 4, 4, 3, 3, pad_h=1, pad_w=1)])
    t = plan_graph(net, resolve(preset("ews"))).tensors[INPUT]
    assert (t.name, t.nbytes, t.first, t.last, t.kept) == (INPUT, 75, -1, 0, False)
    assert isinstance(t.nbytes, int) and not t.residual
    hw = resolve(preset("ews").replace({"data.act_bits": 4}))
    assert plan_graph(net, hw).tensors[INPUT].nbytes == 38             # 300 bits, rounded up


def test_chained_activations_fuse_into_the_first_producer():
    conv = Layer("c", "conv", 4, 4, 2, 2, 1, 1)
    nodes = [conv, VectorOp("r", "relu", 4, 4, 2, 4, 4, 2),
             VectorOp("s", "sigmoid", 4, 4, 2, 4, 4, 2), Layer("d", "conv", 4, 4, 2, 2, 1, 1)]
    plan = plan_graph(Network.from_nodes("g", nodes), resolve(preset("ews")))
    assert plan.fused == {"r": "c", "s": "c"}
    assert [s.node.name for s in plan.steps] == ["c", "d"]
    assert [n.name for n in plan.steps[0].fused] == ["r", "s"]
    assert plan.steps[1].inputs == ("c",)
    assert plan.tensor("s") is plan.tensors["c"] and plan.tensors["c"].kept


def _profile_csv(tmp_path, net, dens):
    p = tmp_path / "act.csv"
    p.write_text("layer,density\n" + "".join(f"{la.name},{d}\n"
                                             for la, d in zip(net.layers, dens, strict=True)))
    return str(p)


def test_activation_density_per_layer(tmp_path):
    net = Network.from_nodes("g", [Layer("c", "conv", 4, 4, 2, 2, 1, 1),
                                   VectorOp("p", "maxpool", 4, 4, 2, 4, 4, 2),
                                   Layer("d", "conv", 4, 4, 2, 2, 1, 1)])
    plain = plan_graph(net, resolve(preset("ews")))
    assert [c.act_density for c in plain.contexts] == [1.0, 1.0]
    csv = _profile_csv(tmp_path, net, [0.25, 0.5])
    for ideal in (False, True):
        arch = preset("sa-zvcg").replace({"activations.profile": csv, "memory.ideal": ideal})
        hw = resolve(arch)
        assert hw.gates_activations
        plan = plan_graph(net, hw)
        assert [c.act_density for c in plan.contexts] == [0.25, 0.5]
        dflt = plan_graph(net, resolve(preset("sa-zvcg").replace("memory.ideal", ideal)))
        prof = load_activation_profile("default", net)
        assert [c.act_density for c in dflt.contexts] == [prof["c"], prof["d"]]
