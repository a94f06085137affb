"""The event engine: a network on an architecture, in cycles, with the memory hierarchy.

One event per *step* and per transfer, never per MAC or PE.  A layer's tiles (from its
dataflow's :class:`~ewssim.dataflow.base.Mapping`) are cut into at most ``steps_per_layer``
contiguous steps; a step's compute cycles come from the array model (closed form inside each
tile, :mod:`ewssim.hw.array`), and its operands are the layer's traffic shared among the steps
in proportion to their compute cycles.  Processes that read like the hardware:

* ``dram_fetch`` -- brings a step's DRAM reads into L2 over the DRAM channel (at most two steps
  ahead of the L1 fill; a layer's first step waits until the previous layer's array is done,
  since its input is that layer's output);
* ``l1_fill`` -- moves a step's L2 reads into a free half of the L1 buffers over the L2 port;
* ``array`` -- computes a step once its operands are in L1, then releases the L1 half;
* ``writer`` -- writes a step's outputs (and spilled psums) to L2 and the layer's DRAM writes
  over the shared DRAM channel.

With ideal memory (``memory.ideal``) there is nothing to wait for: cycles are the compute cycles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import simpy

from ewssim.compress.plan import LayerFormat
from ewssim.config import ArchConfig
from ewssim.dataflow import Dataflow, Hardware, Mapping, dataflow_of, resolve
from ewssim.dataflow.base import LayerContext, Traffic
from ewssim.hw.array import schedule_cycles, schedule_times
from ewssim.hw.dram import DramChannel
from ewssim.hw.sram import SramPort
from ewssim.workload.activations import load_activation_profile
from ewssim.workload.layers import Layer, Network

Progress = Callable[[int, int, str], None]


@dataclass
class LayerResult:
    mapping: Mapping
    compute_cycles: int
    stall_cycles: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def total_cycles(self) -> int:
        return self.compute_cycles + self.stall_cycles

    @property
    def traffic(self) -> Traffic:
        return self.mapping.traffic


@dataclass
class _Step:
    layer: int
    compute: int
    dram_read: int
    l2_read: int
    l2_write: int
    dram_write: int


def _split(total: int, weights: np.ndarray) -> list[int]:
    """Integers proportional to ``weights`` that add up to ``total`` exactly."""
    w = weights.astype(np.float64)
    if w.sum() <= 0:
        w = np.ones_like(w)
    cum = np.floor(np.cumsum(w) / w.sum() * total + 1e-9).astype(np.int64)
    cum[-1] = total
    return np.diff(np.concatenate([[0], cum])).tolist()


def _steps(idx: int, m: Mapping, steps_per_layer: int) -> tuple[int, list[_Step]]:
    base, compute = schedule_times(m.schedule)
    n = len(base)
    k = max(1, min(n, steps_per_layer))
    bounds = np.linspace(0, n, k + 1).astype(np.int64)
    starts = np.concatenate([base[bounds[:-1]], [compute]])
    comp = np.diff(starts)
    t = m.traffic
    dr = _split(t.dram_act_read_bytes + t.dram_weight_read_bytes, comp)
    lr = _split(t.l2_act_read_bytes + t.l2_weight_read_bytes + t.l2_psum_read_bytes, comp)
    lw = _split(t.l2_out_write_bytes, comp)
    dw = _split(t.dram_out_write_bytes, comp)
    return compute, [_Step(idx, int(c), a, b, c2, d) for c, a, b, c2, d in
                     zip(comp.tolist(), dr, lr, lw, dw, strict=True)]


def plan_layer(layer: Layer, hw: Hardware, flow: Dataflow, fmt: LayerFormat | None,
               ctx: LayerContext) -> Mapping:
    """The mapping the engine runs for ``layer``: the dataflow's candidates ranked by the
    roofline estimate ``max(compute cycles, L2 port cycles, DRAM channel cycles)`` (ties: less
    L2 traffic, then the dataflow's order)."""
    lhw = hw.layer(fmt.format if fmt else None, ctx.act_density)
    wbytes = lhw.weight_bytes(layer, fmt.total_bytes if fmt else None)
    m = hw.memory
    best = None
    for cand in flow.candidates(layer, lhw, wbytes, ctx):
        t = cand.traffic
        l2 = (t.l2_act_read_bytes + t.l2_weight_read_bytes + t.l2_psum_read_bytes
              + t.l2_out_write_bytes)
        dram = t.dram_act_read_bytes + t.dram_weight_read_bytes + t.dram_out_write_bytes
        est = schedule_cycles(cand.schedule)
        if not m.ideal:
            est = max(est, l2 / m.l2_bytes_per_cycle, dram / m.dram_bytes_per_cycle)
        if best is None or (est, l2) < best[0]:
            best = ((est, l2), cand)
    mapping = best[1]
    if fmt is not None and fmt.note:
        mapping.notes.insert(0, fmt.note)
    return mapping


def plan(layer: Layer, arch: ArchConfig, fmt: LayerFormat | None = None,
         ctx: LayerContext | None = None) -> Mapping:
    """The mapping of one layer on ``arch`` (checked and resolved), as :func:`simulate` would
    choose it (``ctx``: where its activations live; default off chip)."""
    return plan_layer(layer, resolve(arch), dataflow_of(arch), fmt, ctx or LayerContext())


def simulate(network: Network, arch: ArchConfig | Hardware, *,
             progress: Progress | None = None,
             formats: dict[str, LayerFormat] | None = None,
             steps_per_layer: int = 16, flow: Dataflow | None = None) -> list[LayerResult]:
    """Per-layer results of ``network`` on ``arch``; ``formats`` gives each weighted layer's
    weight format (``None``: INT8 everywhere)."""
    if isinstance(arch, Hardware):
        hw = arch
        if flow is None:
            raise TypeError("simulate(network, Hardware) needs the dataflow too (flow=)")
    else:
        hw, flow = resolve(arch), dataflow_of(arch)
    results: list[LayerResult] = []
    all_steps: list[_Step] = []
    n = len(network.layers)
    contexts = activation_residency(network, hw)
    for i, layer in enumerate(network.layers):
        fmt = formats.get(layer.name) if formats else None
        m = plan_layer(layer, hw, flow, fmt, contexts[i])
        compute, steps = _steps(i, m, steps_per_layer)
        results.append(LayerResult(mapping=m, compute_cycles=compute, notes=list(m.notes)))
        all_steps.extend(steps)
        if progress:
            progress(i + 1, n, layer.name)
    if hw.memory.ideal:
        return results
    ends = _run_events(all_steps, n, hw)
    prev = 0
    for i, r in enumerate(results):
        r.stall_cycles = max(0, ends[i] - prev - r.compute_cycles)
        prev = ends[i]
    return results


def activation_residency(network: Network, hw: Hardware) -> list[LayerContext]:
    """Which activations stay in L2 between layers (docs/model-reference.md, "Buffers").

    Activations flow from each layer to the next in file order.  Layer ``i``'s output stays on
    chip when its own input + output and layer ``i+1``'s input + output each fit in the L2
    activation share (``memory.l2_act_fraction * l2_bytes``); layer ``i+1`` then reads its
    input from L2, not DRAM.  The network's first input and last output go through DRAM.
    Branches (residual inputs, attention operands) are treated as coming from the previous
    layer, with the layer's own sizes.  Arrays that gate or prune zero activations also get each
    layer's input-activation density (``activations.profile``).
    """
    m, bits = hw.memory, hw.data.act_bits
    layers = network.layers
    density = [1.0] * len(layers)
    if hw.gates_activations:
        profile = load_activation_profile(hw.act_profile, network)
        density = [profile[la.name] for la in layers]
    if m.ideal:
        return [LayerContext(act_density=d) for d in density]
    budget = m.l2_act_fraction * m.l2_bytes
    fits = [la.input_bytes(bits) + la.output_bytes(bits) <= budget for la in layers]
    keep = [fits[i] and i + 1 < len(layers) and fits[i + 1] for i in range(len(layers))]
    return [LayerContext(input_on_chip=i > 0 and keep[i - 1], output_on_chip=keep[i],
                         act_density=density[i]) for i in range(len(layers))]


def _run_events(steps: list[_Step], n_layers: int, hw: Hardware) -> list[int]:
    """End time of every layer (the last layer's includes its final writes)."""
    m = hw.memory
    env = simpy.Environment()
    dram = DramChannel(env, m.dram_bytes_per_cycle, m.dram_latency_cycles)
    l2 = SramPort(env, m.l2_bytes_per_cycle)
    halves = 2 if m.l1_double_buffer else 1
    l1_free = simpy.Container(env, capacity=halves, init=halves)
    ahead = simpy.Container(env, capacity=2, init=2)
    in_l2 = [env.event() for _ in steps]
    in_l1 = [env.event() for _ in steps]
    layer_done = [env.event() for _ in range(n_layers)]
    to_write = simpy.Store(env)
    last_of_layer = {s.layer: i for i, s in enumerate(steps)}
    first_of_layer = {}
    for i, s in enumerate(steps):
        first_of_layer.setdefault(s.layer, i)
    ends = [0] * n_layers

    def dram_fetch():
        for i, s in enumerate(steps):
            if s.layer > 0 and first_of_layer[s.layer] == i:
                yield layer_done[s.layer - 1]
            yield ahead.get(1)
            yield env.process(dram.transfer(s.dram_read))
            env.process(dram.arrival(in_l2[i]))

    def l1_fill():
        for i, s in enumerate(steps):
            yield in_l2[i]
            yield l1_free.get(1)
            yield env.process(l2.transfer(s.l2_read))
            ahead.put(1)
            in_l1[i].succeed()

    def array():
        for i, s in enumerate(steps):
            yield in_l1[i]
            yield env.timeout(s.compute)
            l1_free.put(1)
            yield to_write.put(i)
            if last_of_layer[s.layer] == i:
                ends[s.layer] = int(env.now)
                layer_done[s.layer].succeed()

    def writer():
        for _ in steps:
            i = yield to_write.get()
            s = steps[i]
            yield env.process(l2.transfer(s.l2_write))
            yield env.process(dram.transfer(s.dram_write))

    for proc in (dram_fetch, l1_fill, array, writer):
        env.process(proc())
    env.run()
    ends[-1] = max(ends[-1], int(env.now))
    return ends
