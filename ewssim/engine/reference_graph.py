"""A network graph on the hardware, cycle by cycle: the reference for graphs (vector unit,
tensor lifetimes, fused activations, array layers between vector operators).

Shares no scheduling code with the engine (:mod:`ewssim.engine.sim`,
:mod:`ewssim.engine.lifetimes`, :mod:`ewssim.hw.vector`): it reads the network, the resolved
hardware and, per array layer, the mapping choice the engine made (as
:mod:`ewssim.engine.reference` does), and decides everything else itself:

* which activations run in the output path of the step before them;
* which tensors stay in L2, by stepping through the run and keeping, per step, the bytes of L2
  in use (docs/model-reference.md §4.2);
* the array layers between two vector operators, stepped together by
  :class:`ewssim.engine.reference.NetworkRef` with those residencies;
* each vector operator, stepped cycle by cycle: its lanes, the L2 port and the DRAM channel
  each move their share every cycle, and its DRAM reads arrive the DRAM latency after the
  channel delivered them (docs/model-reference.md §4.9).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from ewssim.engine.reference import LayerRun, NetworkRef, ReferenceSimError
from ewssim.hw.hardware import Hardware
from ewssim.workload.graph import VECTOR_OPS, VectorOp
from ewssim.workload.layers import Layer, Network


@dataclass
class NodeReference:
    """What the reference measured for one node of the graph."""

    name: str
    cycles: int = 0
    stall_cycles: int = 0
    stalls: dict[str, int] = field(default_factory=dict)
    dram_read_bytes: int = 0
    dram_write_bytes: int = 0
    l2_bytes: int = 0               # vector unit: bytes through the L2 port
    fused: bool = False


# ----------------------------------------------------------------------------- structure

def _fusable(op: VectorOp) -> bool:
    return VECTOR_OPS[op.op] in ("activation", "elementwise")


def _walk(net: Network, fuse: bool):
    """Steps in run order as (node, the tensors it reads, fused followers), and where each
    fused node writes."""
    nodes = list(net.graph_nodes)
    reads = {n.name: list(net.inputs_of(n.name)) for n in nodes}
    count: dict[str, int] = {}
    for n in nodes:
        for t in reads[n.name]:
            count[t] = count.get(t, 0) + 1
    into: dict[str, str] = {}
    steps: list[list] = []
    for i, n in enumerate(nodes):
        if (fuse and isinstance(n, VectorOp) and _fusable(n) and steps
                and reads[n.name] == [nodes[i - 1].name] and count[nodes[i - 1].name] == 1
                and (steps[-1][0] is nodes[i - 1] or nodes[i - 1].name in into)):
            into[n.name] = into.get(nodes[i - 1].name, nodes[i - 1].name)
            steps[-1][2].append(n)
            continue
        steps.append([n, [into.get(t, t) for t in reads[n.name]], []])
    return steps, into


def _kept(net: Network, steps, hw: Hardware) -> set[str]:
    """Tensors that stay in L2: stepping the run, a tensor is kept when adding it to the L2
    bytes in use at each step it must live through stays within the activation share."""
    if hw.memory.ideal:
        return set()
    bits = hw.data.act_bits
    share = int(hw.memory.l2_act_fraction * hw.memory.l2_bytes)

    def size(elems: int) -> int:
        return -(-elems * bits // 8)
    nbytes = {"input": size(net.input_elems)}
    for node, _, _ in steps:
        nbytes[node.name] = size(node.output_elems)
    last_read = {}
    for j, (_, ins, _) in enumerate(steps):
        for t in ins:
            last_read[t] = j
    in_use = []
    for node, ins, _ in steps:
        if isinstance(node, Layer):
            in_use.append(node.input_bytes(bits) + node.output_bytes(bits))
        else:
            in_use.append(sum(nbytes[t] for t in ins) + nbytes[node.name])
    kept: set[str] = set()
    for j, (node, _, _) in enumerate(steps):
        end = last_read.get(node.name, j)
        if end <= j:
            continue
        need = []
        for k in range(j, end + 1):
            uses = node.name == steps[k][0].name or node.name in steps[k][1]
            need.append(0 if uses else nbytes[node.name])
        if all(in_use[j + x] + need[x] <= share for x in range(len(need))):
            kept.add(node.name)
            for x, extra in enumerate(need):
                in_use[j + x] += extra
    return kept


# ----------------------------------------------------------------------------- vector unit

def _vector(op: VectorOp, hw: Hardware, reads: list[tuple[int, bool]], out_kept: bool,
            max_cycles: int) -> NodeReference:
    """One vector operator, cycle by cycle."""
    v, m = hw.vector, hw.memory
    per_elem = getattr(v, f"{VECTOR_OPS[op.op]}_cycles")
    cls = VECTOR_OPS[op.op]
    elems = (op.output_elems * op.kernel_h * op.kernel_w if cls == "pool" else
             op.input_elems if cls in ("reduce", "softmax", "norm") else op.output_elems)
    lane_work = elems * per_elem
    out_bytes = -(-op.output_elems * hw.data.act_bits // 8)
    burst = m.dram_burst_bytes

    def bursts(b: int) -> int:
        return -(-b // burst) * burst
    dram_in = sum(bursts(b) for b, kept in reads if not kept)
    dram_out = 0 if out_kept else bursts(out_bytes)
    l2 = sum(b for b, _ in reads) + out_bytes
    node = NodeReference(op.name, dram_read_bytes=dram_in, dram_write_bytes=dram_out,
                         l2_bytes=l2)
    if m.ideal:
        node.cycles = -(-lane_work // v.lanes)
        return node
    width = Fraction(m.dram_bytes_per_cycle).limit_denominator(1 << 20)
    lanes_left, port_left, chan_left = lane_work, l2, dram_in + dram_out
    credit = Fraction(0)
    lanes_done = port_done = chan_done = 0
    c = 0
    while lanes_left > 0 or port_left > 0 or chan_left > 0:
        if c >= max_cycles:         # cycle c + 1 would be past the limit (as the layers')
            raise ReferenceSimError(f"vector op '{op.name}' ran past {max_cycles} cycles")
        if lanes_left > 0:
            lanes_left -= v.lanes
            lanes_done = c + 1
        if port_left > 0:
            port_left -= m.l2_bytes_per_cycle
            port_done = c + 1
        if chan_left > 0:
            credit += width
            moved = math.floor(credit)
            credit -= moved
            chan_left -= moved
            chan_done = c + 1
        c += 1
    arrive = chan_done + (m.dram_latency_cycles if dram_in else 0)
    node.cycles = max(lanes_done, port_done, arrive)
    # every cycle after the lanes finish waits on the resource that finishes last: the DRAM
    # channel (while it still moves bytes), the data in flight after it (latency), or the port
    for t in range(lanes_done, node.cycles):
        if arrive >= port_done and arrive > lanes_done:
            cause = "dram_bandwidth" if t < chan_done else "dram_latency"
        else:
            cause = "l2_port"
        node.stalls[cause] = node.stalls.get(cause, 0) + 1
    node.stall_cycles = node.cycles - lanes_done
    return node


# ----------------------------------------------------------------------------- the network

def simulate_graph(net: Network, hw: Hardware, runs: dict[str, LayerRun], *,
                   max_cycles: int = 2_000_000) -> list[NodeReference]:
    """Every node of ``net``, in run order (fused activations too, with no cycles);
    ``runs``: the array layers' operands and mapping choices by layer name."""
    steps, _ = _walk(net, hw.vector.fuse_activations)
    kept = _kept(net, steps, hw)
    bits = hw.data.act_bits
    out: list[NodeReference] = []
    group: list = []

    def flush() -> None:
        if not group:
            return
        res = [(all(t in kept for t in ins), node.name in kept) for node, ins, _ in group]
        ref = NetworkRef([runs[node.name] for node, _, _ in group], hw, max_cycles,
                         residency=res).run()
        for (node, _, fused), lr in zip(group, ref.layers, strict=True):
            out.append(NodeReference(
                node.name, lr.cycles, lr.stall_cycles, dict(lr.stalls),
                lr.dram_act_read_bytes + lr.dram_weight_read_bytes, lr.dram_out_write_bytes))
            out.extend(NodeReference(f.name, fused=True) for f in fused)
        group.clear()
    for node, ins, fused in steps:
        if isinstance(node, Layer):
            group.append((node, ins, fused))
            continue
        flush()
        size = {t: -(-(net.input_elems if t == "input" else
                       next(s[0] for s in steps if s[0].name == t).output_elems) * bits // 8)
                for t in ins}
        out.append(_vector(node, hw, [(size[t], t in kept) for t in ins], node.name in kept,
                           max_cycles))
        out.extend(NodeReference(f.name, fused=True) for f in fused)
    flush()
    return out
