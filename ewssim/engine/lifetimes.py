"""Where every tensor of a network lives: L2 or DRAM (docs/model-reference.md §4.2, "L2").

The network's nodes run one after another (:class:`~ewssim.workload.layers.Network`); each
writes one tensor.  An activation fused into the output path of the step before it (an array
layer's or the vector unit's, :mod:`ewssim.hw.vector`) is not a step: its tensor is that
step's.

A tensor lives from the step that writes it to the last step that reads it.  Tensors are
decided in the order they are written: one stays in L2 when, at every step of its life, the
step's own working set (its inputs and output; for an array layer its
:meth:`~ewssim.workload.layers.Layer.input_bytes` and output bytes), the tensors already kept
that are alive but not used by the step, and this tensor together fit the L2 activation share
(``memory.l2_act_fraction * l2_bytes``).  Otherwise it is written to DRAM and read back by each
consumer.  The network's input and its final output are in DRAM.  For a chain of layers this
is the rule "a layer's output stays on chip when it and the next layer's input + output fit".
A *residual* is a tensor read by a step other than the next one: it must be kept across steps
between, or spilled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ewssim.dataflow.base import LayerContext
from ewssim.hw.hardware import Hardware
from ewssim.workload.activations import load_activation_profile
from ewssim.workload.graph import FUSABLE_CLASSES, INPUT
from ewssim.workload.layers import Layer, Network


@dataclass(frozen=True)
class Tensor:
    name: str            # the node that writes it (INPUT: the network input)
    nbytes: int
    first: int           # step that writes it (-1: the network input)
    last: int            # last step that reads it (first: nobody reads it)
    kept: bool           # stays in L2 for its whole life

    @property
    def residual(self) -> bool:
        return self.last > self.first + 1


@dataclass
class Step:
    """One thing the machine does: an array layer (``layer`` its index in
    ``network.layers``) or a vector operator (``node``), with the tensors it reads."""

    node: object
    inputs: tuple[str, ...]
    layer: int = -1
    fused: list = field(default_factory=list)     # activations fused into its output path


@dataclass
class GraphPlan:
    steps: list[Step]
    tensors: dict[str, Tensor]
    contexts: list[LayerContext]                  # per array layer
    fused: dict[str, str]                         # fused node -> the tensor it writes into

    def tensor(self, name: str) -> Tensor:
        return self.tensors[self.fused.get(name, name)]

    @property
    def residual_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors.values() if t.residual)

    @property
    def residual_spilled_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors.values() if t.residual and not t.kept)


def _steps(network: Network, fuse: bool) -> tuple[list[Step], dict[str, str]]:
    """The steps in run order and the fused activations (node -> its producer's tensor)."""
    nodes = network.graph_nodes
    readers: dict[str, int] = {}
    for n in nodes:
        for t in network.inputs_of(n.name):
            readers[t] = readers.get(t, 0) + 1
    steps: list[Step] = []
    fused: dict[str, str] = {}
    layer_index = {la.name: i for i, la in enumerate(network.layers)}
    for i, n in enumerate(nodes):
        ins = network.inputs_of(n.name)
        if isinstance(n, Layer):
            steps.append(Step(n, tuple(fused.get(t, t) for t in ins), layer_index[n.name]))
            continue
        prev = nodes[i - 1] if i else None
        if (fuse and n.op_class in FUSABLE_CLASSES and prev is not None
                and ins == (prev.name,) and readers.get(prev.name, 0) == 1
                and steps and (steps[-1].node is prev or prev.name in fused)):
            root = fused.get(prev.name, prev.name)
            fused[n.name] = root
            steps[-1].fused.append(n)
            continue
        steps.append(Step(n, tuple(fused.get(t, t) for t in ins)))
    return steps, fused


def plan_graph(network: Network, hw: Hardware) -> GraphPlan:
    """Steps, tensor residency and each array layer's :class:`LayerContext` (module
    docstring); arrays that gate or prune zero activations also get each layer's input
    density (``activations.profile``)."""
    bits = hw.data.act_bits
    steps, fused = _steps(network, hw.vector.fuse_activations)
    nbytes = {INPUT: (network.input_elems * bits + 7) // 8}
    first = {INPUT: -1}
    last = {INPUT: -1}
    for j, s in enumerate(steps):
        nbytes[s.node.name] = s.node.output_bytes(bits)
        first[s.node.name] = last[s.node.name] = j
        for t in s.inputs:
            last[t] = max(last[t], j)

    def working(s: Step) -> int:
        if isinstance(s.node, Layer):
            return s.node.input_bytes(bits) + s.node.output_bytes(bits)
        return sum(nbytes[t] for t in s.inputs) + nbytes[s.node.name]

    budget = hw.l2_act_bytes
    used = [working(s) for s in steps]              # working set + kept tensors alive
    touched = [set(s.inputs) | {s.node.name} for s in steps]
    kept: set[str] = set()
    if not hw.memory.ideal:
        for j, s in enumerate(steps):
            name = s.node.name
            q = last[name]
            if q <= j:
                continue                              # nobody reads it: the network output
            span = range(j, q + 1)
            extra = [0 if name in touched[i] else nbytes[name] for i in span]
            if all(used[i] + e <= budget for i, e in zip(span, extra, strict=True)):
                kept.add(name)
                for i, e in zip(span, extra, strict=True):
                    used[i] += e
    tensors = {t: Tensor(t, nbytes[t], first[t], last[t], t in kept) for t in nbytes}
    density = [1.0] * len(network.layers)
    if hw.gates_activations:
        profile = load_activation_profile(hw.act_profile, network)
        density = [profile[la.name] for la in network.layers]
    contexts = [LayerContext(act_density=d) for d in density]
    if not hw.memory.ideal:
        for s in steps:
            if s.layer >= 0:
                contexts[s.layer] = LayerContext(
                    input_on_chip=all(t in kept for t in s.inputs),
                    output_on_chip=s.node.name in kept, act_density=density[s.layer])
    return GraphPlan(steps, tensors, contexts, fused)
