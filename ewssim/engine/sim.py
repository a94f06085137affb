"""The event engine: a network on the resolved hardware, in cycles, memories included.

This module only wires the hardware blocks together (docs/model-reference.md §4):

* the dataflow plans each layer: candidate mappings (:mod:`ewssim.dataflow`), each with its
  tiles and its L1 blocks (:mod:`ewssim.dataflow.blocks`); the engine runs every valid
  candidate through itself, the layer alone, and keeps the fastest (:func:`plan_layer`);
* the chosen layers are laid end to end and simulated together, one simpy process per block:
  the DRAM channel and the L2 port (:mod:`ewssim.hw.dram`, :mod:`ewssim.hw.port`), the L2 weight
  staging ring and staged inputs (:mod:`ewssim.hw.l2`), the three L1 buffers with their DMAs
  (:mod:`ewssim.hw.l1`), and the array with its weight path (:class:`ewssim.hw.array.
  GatedArray`).  Events are per transfer and per block, never per tile or MAC.

With ideal memory (``memory.ideal``) a layer's cycles are its closed form
(:func:`ewssim.hw.array.schedule_cycles`) and nothing waits.  ``scalesim-ws`` hardware in
SCALE-Sim's USER mode takes its stalls from SCALE-Sim's own memory model
(:mod:`ewssim.hw.scalesim_mem`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import simpy

from ewssim.compress.plan import LayerFormat
from ewssim.config import ArchConfig
from ewssim.dataflow import Dataflow, Hardware, Mapping, dataflow_of, resolve
from ewssim.dataflow.base import LayerContext, Traffic
from ewssim.dataflow.blocks import MappingInvalid, attach_blocks
from ewssim.engine.lifetimes import GraphPlan, plan_graph
from ewssim.engine.reuse import Reuse, on
from ewssim.engine.stalls import CAUSES, attribute
from ewssim.engine.workers import TaskPool, compact, expand
from ewssim.errors import InputError
from ewssim.hw.array import GatedArray, column, schedule_cycles
from ewssim.hw.dram import ACT_READ, DramChannel
from ewssim.hw.l1 import ACT_FILL, WEIGHT_FILL, L1Buffer, drain_process, fill_process
from ewssim.hw.l2 import L2Span, Ring, staged_input_process, weight_prefetch_process
from ewssim.hw.port import Port, rational
from ewssim.hw.vector import run_vector
from ewssim.workload.layers import Layer, Network

Progress = Callable[[int, int, str], None]


@dataclass
class LayerResult:
    mapping: Mapping
    compute_cycles: int
    stall_cycles: int = 0
    stalls: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: tiles whose times the engine filled in from a steady state (diagnostics)
    fast_forwarded: int = 0

    @property
    def total_cycles(self) -> int:
        return self.compute_cycles + self.stall_cycles

    @property
    def traffic(self) -> Traffic:
        return self.mapping.traffic


# ----------------------------------------------------------------------------- residency

def activation_residency(network: Network, hw: Hardware) -> list[LayerContext]:
    """Each array layer's :class:`LayerContext`: whether its input and output stay in L2
    (tensor lifetimes, :mod:`ewssim.engine.lifetimes`) and its input density."""
    return plan_graph(network, hw).contexts


# ----------------------------------------------------------------------------- planning

def plan_layer(layer: Layer, hw: Hardware, flow: Dataflow, fmt: LayerFormat | None,
               ctx: LayerContext, pin: str | None = None, reuse: Reuse | None = None
               ) -> Mapping:
    """The mapping the engine runs for ``layer``: every valid candidate of the dataflow is run
    through the engine (this layer alone, with its activations where the network puts them)
    and the one with the fewest cycles is kept; ties: fewer DRAM + L2 bytes, then the
    dataflow's order.  ``pin``: the candidate's name to use instead (``--mapping``).

    Candidates are run in the order of a lower bound of their cycles (their closed-form
    compute, their DRAM bytes over the channel, their L2 bytes over the port: no run can be
    shorter) and a candidate whose bound exceeds the best run so far is not run: the choice is
    the exhaustive one.  (In a network, layers identical but for their name share one plan:
    :func:`_plan_and_run`.)  ``reuse``: tile schedules and their cycles built before on this
    hardware at another L2 size, and the parts of their L1 blocks the L2 size does not change
    (:class:`~ewssim.engine.reuse.Reuse`), used and added to."""
    lhw = hw.layer(fmt.format if fmt else None, ctx.act_density)
    wbytes = lhw.weight_bytes(layer, fmt.total_bytes if fmt else None)
    header = fmt.codebook_bytes if fmt is not None else 0
    ideal = hw.memory.ideal
    cands = flow.candidates(layer, lhw, wbytes, ctx, header, lazy=True,
                            schedules=reuse.schedules if reuse is not None else None)
    why_not = [str(c) for c in cands if isinstance(c, MappingInvalid)]
    cands = [c for c in cands if not isinstance(c, MappingInvalid)]
    if pin is not None:
        names = [c.name for c in cands]
        if pin not in names:
            raise InputError(f"layer '{layer.name}': mapping {pin!r} is not a valid candidate",
                             field="--mapping", allowed=", ".join(names))
        cands = [cands[names.index(pin)]]
    costs: list = [None] * len(cands)
    ran: list = []                   # the candidates run so far (:func:`_run_once`)
    spans: list[L2Span] = []         # what each candidate built and run found of L2
    best = None
    # no run can beat the mapping's compute alone (nor, once its blocks are known, the time
    # its DRAM and L2 bytes hold the channel and the port)
    # per schedule (candidates may share one)
    ideal_cycles: dict[int, int] = reuse.cycles if reuse is not None else {}
    for c in cands:
        if id(c.schedule) not in ideal_cycles:
            ideal_cycles[id(c.schedule)] = schedule_cycles(c.schedule)
    bounds = [ideal_cycles[id(c.schedule)] - c.schedule.extra_cycles for c in cands]
    for i in sorted(range(len(cands)), key=lambda j: (bounds[j], j)):
        c = cands[i]
        if best is not None and bounds[i] > costs[best][0]:
            continue                                   # cannot be faster: not built, not run
        if not ideal:
            try:
                attach_blocks(c, ctx, header, reuse.blocks if reuse is not None else None)
            except MappingInvalid as exc:
                why_not.append(f"{c.name}: {exc}")
                costs[i] = "invalid"
                continue
            spans.append(c.blocks.l2_span)
            bounds[i] = max(bounds[i], _lower_bound(c, hw, bounds[i]))
            if best is not None and bounds[i] > costs[best][0]:
                continue
        if ideal:
            cyc = ideal_cycles[id(c.schedule)]
        elif len(cands) == 1:
            cyc = bounds[i]          # the only candidate: no need to run it alone
        else:
            cyc = _run_once(c, hw, ran, spans)
        costs[i] = (cyc, _bytes_moved(c.traffic))
        if best is None or costs[i] < costs[best] or (costs[i] == costs[best] and i < best):
            best = i
    if best is None:
        raise InputError(f"layer '{layer.name}': no mapping fits the L1 buffers ("
                         + "; ".join(why_not) + ")", field="memory",
                         allowed="larger L1 buffers")
    chosen = cands[best]
    chosen.l2_span = L2Span().meet(*spans)
    if pin is not None:
        chosen.notes.insert(0, f"mapping {pin} (pinned)")
    else:
        shown = [(c, k if isinstance(k, tuple) else (bounds[j], None))
                 for j, (c, k) in enumerate(zip(cands, costs, strict=True)) if k != "invalid"]
        chosen.notes.insert(0, _why(chosen, [c for c, _ in shown], [k for _, k in shown]))
    if fmt is not None and fmt.note:
        chosen.notes.insert(0, fmt.note)
    return chosen


def _plan_key(layer: Layer, fmt: LayerFormat | None, ctx: LayerContext, pin: str | None):
    """Layers with equal keys (identical but for their name) have the same mapping."""
    return (dataclasses.replace(layer, name=""), fmt.format if fmt else None,
            fmt.bits if fmt else None, fmt.note if fmt else "", ctx, pin)


def _run_once(c: Mapping, hw: Hardware, ran: list, spans: list[L2Span]) -> int:
    """Cycles of candidate ``c`` run alone (its run's :class:`L2Span` added to ``spans``).
    Candidates that differ only in name (e.g. a whole stream that is a single L1 block, and
    L1 blocks of the whole stream) are one simulation, run once: ``ran`` holds ``(mapping,
    cycles)`` of the candidates run so far."""
    for cj, cyc in ran:
        if _same_simulation(c, cj):
            return cyc
    rows, span = _run([c], hw, causes=False)
    spans.append(span)
    ran.append((c, rows[0][0]))
    return rows[0][0]


def _same_simulation(a: Mapping, b: Mapping) -> bool:
    """Whether two candidates of one layer give :func:`_run` the same input: equal schedules,
    equal L1 blocks and the same weight path (every field compared, used or not)."""
    return (a.lhw.load_latency == b.lhw.load_latency and a.layer == b.layer
            and _equal(a.schedule, b.schedule) and _equal(a.blocks, b.blocks))


def _equal(x, y) -> bool:
    if type(x) is not type(y):
        return False
    if isinstance(x, np.ndarray):
        return x.shape == y.shape and x.dtype == y.dtype and bool(np.array_equal(x, y))
    if dataclasses.is_dataclass(x):
        return all(_equal(getattr(x, f.name), getattr(y, f.name))
                   for f in dataclasses.fields(x) if f.compare)
    if isinstance(x, list | tuple):
        return len(x) == len(y) and all(_equal(u, v) for u, v in zip(x, y, strict=True))
    return x == y


def _lower_bound(m: Mapping, hw: Hardware, compute: int) -> int:
    """Cycles no run of mapping ``m`` alone can beat: its ``compute`` with ideal memory, and
    the time its DRAM and L2 bytes hold the channel and the port."""
    t = m.traffic
    dram = t.dram_act_read_bytes + t.dram_weight_read_bytes + t.dram_out_write_bytes
    l2 = t.l2_act_read_bytes + t.l2_weight_read_bytes + t.l2_out_write_bytes
    mem = hw.memory
    width = rational(mem.dram_bytes_per_cycle)
    return max(compute,
               -(-dram * width.denominator // width.numerator),
               -(-l2 // mem.l2_bytes_per_cycle))


def _bytes_moved(t: Traffic) -> int:
    return (t.dram_act_read_bytes + t.dram_weight_read_bytes + t.dram_out_write_bytes
            + t.l2_act_read_bytes + t.l2_weight_read_bytes + t.l2_out_write_bytes)


def _why(chosen: Mapping, cands: list[Mapping], costs: list) -> str:
    if len(cands) == 1:
        return f"mapping {chosen.name} (the only one that fits)"
    i = next(j for j, c in enumerate(cands) if c is chosen)
    others = ", ".join(f"{c.name} {'>= ' if k[1] is None else ''}{k[0]:,}"
                       for j, (c, k) in enumerate(zip(cands, costs, strict=True)) if j != i)
    mine = costs[i][0]
    return f"mapping {chosen.name}: {mine:,} cycles alone (others: {others})"


def plan(layer: Layer, arch: ArchConfig, fmt: LayerFormat | None = None,
         ctx: LayerContext | None = None) -> Mapping:
    """The mapping of one layer on ``arch`` (checked and resolved), as :func:`simulate` would
    choose it (``ctx``: where its activations live; default off chip)."""
    return plan_layer(layer, resolve(arch), dataflow_of(arch), fmt, ctx or LayerContext())


# ----------------------------------------------------------------------------- the network

def simulate(network: Network, arch: ArchConfig | Hardware, *,
             progress: Progress | None = None,
             formats: dict[str, LayerFormat] | None = None, flow: Dataflow | None = None,
             mapping: str | dict[str, str] | None = None, jobs: int = 1,
             reuse: Reuse | None = None, graph: GraphPlan | None = None) -> list:
    """Per-node results of ``network`` on ``arch``, in run order: a :class:`LayerResult` per
    array layer and a :class:`~ewssim.hw.vector.VectorResult` per vector operator (a network
    of layers only gives layer results).  ``formats`` gives each weighted layer's weight
    format (``None``: INT8 everywhere); ``mapping`` pins the candidate of every layer (a name)
    or of some layers (layer name -> candidate name).

    Array layers between two vector operators run together through the memory model (one
    simulation: weights prefetch across their boundaries); a vector operator runs alone
    between them (:mod:`ewssim.hw.vector`).

    ``jobs`` > 1: layers are planned, and segments run, in that many worker processes
    (:mod:`ewssim.engine.workers`); the results are the same.  ``reuse``
    (:class:`~ewssim.engine.reuse.Reuse`): layer plans and segment runs of earlier calls on
    the same hardware at another L2 size, used where the L2 size does not change them; the
    results are the same.  ``graph``: :func:`~ewssim.engine.lifetimes.plan_graph` of
    ``network`` on this hardware, when the caller has it already."""
    if isinstance(arch, Hardware):
        hw = arch
        if flow is None:
            raise TypeError("simulate(network, Hardware) needs the dataflow too (flow=)")
    else:
        hw, flow = resolve(arch), dataflow_of(arch)
    with _no_cyclic_gc():
        return _simulate(network, hw, flow, progress, formats, mapping, jobs, reuse, graph)


@contextlib.contextmanager
def _no_cyclic_gc():
    """Python's cyclic garbage collector paused for the duration of a simulation.

    A run holds millions of per-tile integers in lists; every full collection walks them all,
    and the simulation's many short-lived events trigger collections often (about a fifth of a
    VGG-16 run on an 8x8 array went to it).  The engine's objects are freed by reference
    counting (a whole VGG-16 run leaves a few hundred cyclic objects), so nothing accumulates;
    the collector is restored, as it was, afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _simulate(network: Network, hw: Hardware, flow: Dataflow, progress: Progress | None,
              formats: dict[str, LayerFormat] | None, mapping, jobs: int,
              reuse: Reuse | None = None, graph: GraphPlan | None = None) -> list:
    gp = graph if graph is not None else plan_graph(network, hw)
    # the segments of array layers between vector operators, and the run order
    segments: list[list[int]] = [[]]
    order: list = []
    for st in gp.steps:
        if st.layer >= 0:
            segments[-1].append(st.layer)
            order.append(("layer", st.layer))
        else:
            segments.append([])
            ins = [(gp.tensor(t).nbytes, gp.tensor(t).kept) for t in st.inputs]
            order.append(("vector", (st.node, ins, gp.tensor(st.node.name).kept)))
        order.extend(("fused", v) for v in st.fused)
    segments = [seg for seg in segments if seg]
    mappings, runs = _plan_and_run(network, hw, flow, gp.contexts, formats, mapping, segments,
                                   progress, jobs, reuse)
    layer_results: dict[int, LayerResult] = {}
    for k, idx in enumerate(segments):
        layer_results.update(zip(idx, _segment(idx, mappings, hw, runs.get(k)), strict=True))
    results: list = []
    for kind, x in order:
        if kind == "layer":
            results.append(layer_results[x])
        elif kind == "fused":
            results.append(run_vector(x, hw, [], True, fused=True))
        else:
            results.append(run_vector(x[0], hw, x[1], x[2]))
    return results


def _plan_and_run(network: Network, hw: Hardware, flow: Dataflow, contexts, formats, mapping,
                  segments: list[list[int]], progress: Progress | None, jobs: int,
                  reuse: Reuse | None = None) -> tuple[list[Mapping], dict[int, list]]:
    """Every array layer's mapping (:func:`plan_layer`; identical layers are planned once) and
    every segment's :func:`_run` (none with ideal memory), each segment started as soon as its
    layers are planned (:class:`~ewssim.engine.workers.TaskPool`).  ``reuse``: plans and runs
    kept from earlier simulations of this hardware at another L2 size, used where they hold
    (:mod:`ewssim.engine.reuse`), and this simulation's kept for later ones."""
    n = len(network.layers)
    args = []
    for i, layer in enumerate(network.layers):
        fmt = formats.get(layer.name) if formats else None
        pin = mapping.get(layer.name) if isinstance(mapping, dict) else mapping
        args.append((layer, fmt, contexts[i], pin))
    keys = [_plan_key(*a) for a in args]
    first: dict = {}                       # plan key -> the first layer with it
    same = [first.setdefault(k, i) for i, k in enumerate(keys)]
    # the longest first balances the workers (a rough guess of a layer's tiles: its weights,
    # which one-pixel layers such as a classifier at batch 1 load one tile per pixel, and its
    # MACs); the order changes nothing else
    todo = sorted(set(same), key=lambda i: (-(network.layers[i].weights
                                              + network.layers[i].macs // 64), i))
    mappings: list[Mapping | None] = [None] * n
    sendable: list = [None] * n            # the same, as a worker takes them
    kept: list = [None] * n                # the plan ``reuse`` keeps for each layer
    waiting = {k: set(seg) for k, seg in enumerate(segments)}   # layers still unplanned
    of_segment = {i: k for k, seg in enumerate(segments) for i in seg}
    copies: dict[int, list[int]] = {}                           # planned layer -> its copies
    for li, i in enumerate(same):
        copies.setdefault(i, []).append(li)
    runs: dict[int, list] = {}
    # a segment whose plans are those of one already submitted (e.g. two identical residual
    # blocks) is the same simulation: it waits for that run instead of running again
    submitted: dict[tuple, int] = {}       # ids of a segment's kept plans -> the segment run
    twins: dict[int, list[int]] = {}       # segment run -> the segments that take its rows
    done = 0
    parallel = TaskPool.can_fork(jobs)
    if reuse is not None:
        reuse.bind(hw, flow)

    def planned(x: int, res: Mapping, packed, base: Mapping) -> None:
        nonlocal done
        for li in copies[x]:
            kept[li] = base
            mappings[li], sendable[li] = (res, packed) if li == x else (
                dataclasses.replace(m, layer=network.layers[li], notes=list(m.notes))
                for m in (res, packed))
            k = of_segment.get(li)
            if k is not None:
                waiting[k].discard(li)
                if not waiting[k] and not hw.memory.ideal:
                    plans = tuple(kept[j] for j in segments[k])
                    rows = reuse.run(plans, hw) if reuse is not None else None
                    if rows is not None:
                        runs[k] = rows
                    elif (same := submitted.setdefault(tuple(map(id, plans)), k)) != k:
                        twins[same].append(k)
                    else:
                        twins[k] = []
                        pool.submit(("seg", k), _segment_task,
                                    [sendable[j] for j in segments[k]])
        if progress:
            done += len(copies[x])
            progress(done, n, network.layers[x].name)

    with TaskPool(jobs, (hw, flow, args, parallel, reuse)) as pool:
        for i in todo:
            base = reuse.plan(keys[i], hw) if reuse is not None else None
            if base is not None:
                m = on(base, hw, network.layers[i])
                planned(i, m, compact(m) if parallel else m, base)
            else:
                pool.submit(("plan", i), _plan_task, i)
        for (kind, x), res in pool.finished():
            if kind == "seg":
                for k in (x, *twins[x]):
                    runs[k] = res[0]
                if reuse is not None:
                    reuse.keep_run(tuple(kept[j] for j in segments[x]), *res)
                continue
            # from a worker: compact (sent on to the segment's worker as it came)
            packed, res = res, expand(res) if parallel else res
            if reuse is not None:
                reuse.keep_plan(keys[x], res)
            planned(x, res, packed, res)
    return mappings, runs


def _plan_task(state, i: int):
    hw, flow, args, parallel, reuse = state
    layer, fmt, ctx, pin = args[i]
    m = plan_layer(layer, hw, flow, fmt, ctx, pin, reuse)
    return compact(m) if parallel else m


def _segment_task(state, ms: list):
    return _run(expand(ms) if state[3] else ms, state[0])     # (per layer, L2Span)


def _segment(idx: list[int], mappings: list[Mapping], hw: Hardware,
             per_layer: list | None = None) -> list[LayerResult]:
    """Results of consecutive array layers ``idx`` run together (``per_layer``: their
    :func:`_run`, when already run)."""
    ms = [mappings[i] for i in idx]
    if hw.memory.ideal:
        results = []
        for m in ms:
            c = schedule_cycles(m.schedule)
            results.append(LayerResult(mapping=m, compute_cycles=c, notes=list(m.notes)))
        return _scalesim_stalls(results, hw)
    if per_layer is None:
        per_layer = _run(ms, hw)[0]
    return [LayerResult(mapping=m, compute_cycles=tot - st, stall_cycles=st,
                        stalls=dict(causes), notes=list(m.notes), fast_forwarded=ff)
            for m, (tot, st, causes, ff) in zip(ms, per_layer, strict=True)]


def _scalesim_stalls(results: list[LayerResult], hw: Hardware) -> list[LayerResult]:
    """SCALE-Sim's USER mode: its own memory model gives each layer's stalls."""
    if hw.scalesim is None or hw.scalesim.interface != "user":
        return results
    from ewssim.hw.scalesim_mem import scalesim_layer

    for r in results:
        s = scalesim_layer(r.mapping.layer, hw.rows, hw.cols, hw.scalesim)
        r.compute_cycles = s.total_cycles - s.stall_cycles
        r.stall_cycles = s.stall_cycles
        r.stalls = {"dram_bandwidth": s.stall_cycles}
    return results


# ----------------------------------------------------------------------------- one run

def _flat_arrays(mappings: list[Mapping]) -> dict:
    """Global arrays over the network's tiles, weight actions and blocks: all that :func:`_run`
    simulates, besides the hardware (per-tile and per-action columns as numpy arrays)."""
    T = {k: [] for k in ("stream", "load", "lat", "drain", "release", "rows", "db", "layer",
                         "act_block", "act_last", "out_block", "out_first", "out_last",
                         "load_action", "plain", "regular")}
    A = {k: [] for k in ("kind", "tile", "cycles", "w_block", "w_last")}
    act, wgt, out = [], [], []
    layer_first, layer_last = [], []
    t0 = a0 = ab0 = wb0 = ob0 = 0
    for li, m in enumerate(mappings):
        s, bl, lhw = m.schedule, m.blocks, m.lhw
        n = len(s)
        na = len(bl.w_kind)
        layer_first.append(t0)
        layer_last.append(t0 + n - 1)
        loads = s.load_cycles > 0

        def flag(idx, size):
            f = np.zeros(size, bool)
            f[idx] = True
            return f
        la = bl.load_action()
        plain, regular = _plain(s, bl, la)
        parts = {
            "stream": s.stream_cycles, "load": s.load_cycles,
            "lat": np.where(loads, lhw.load_latency, 0), "drain": s.drain_cols,
            "release": np.where(s.release >= 0, s.release + t0, -1),
            "rows": np.full(n, s.rows), "db": np.full(n, bool(s.double_buffer)),
            "layer": np.full(n, li), "act_block": bl.act.of + ab0,
            "act_last": flag(bl.act.last, n), "out_block": bl.out.of + ob0,
            "out_first": flag(bl.out.first, n), "out_last": flag(bl.out.last, n),
            "load_action": np.where(la >= 0, la + a0, -1), "plain": plain,
            "regular": regular}
        for k, v in parts.items():
            T[k].append(np.asarray(v))
        for k, v in (("kind", bl.w_kind), ("tile", bl.w_tile + t0), ("cycles", bl.w_cycles),
                     ("w_block", bl.w.of + wb0), ("w_last", flag(bl.w.last, na))):
            A[k].append(np.asarray(v))
        src = bl.act_src
        act += [(nb, src, li, pc) for nb, pc in zip(bl.act.nbytes.tolist(),
                                                    bl.act_piece.tolist(), strict=True)]
        operand = m.layer.operand_from_previous
        from_dram = bl.w_src == "dram"
        wgt += [(nb, li, from_dram, operand, pc, fa + wb0)
                for nb, pc, fa in zip(bl.w.nbytes.tolist(), bl.w_piece.tolist(),
                                      bl.w_free_at.tolist(), strict=True)]
        no = len(bl.out)
        out += [(nb, bl.out_dest, li, b == no - 1)
                for b, nb in enumerate(bl.out.nbytes.tolist())]
        t0 += n
        a0 += na
        ab0 += len(bl.act)
        wb0 += len(bl.w)
        ob0 += no
    t = {k: _joined(v) for k, v in T.items()}
    plain = t.pop("plain")
    stops = np.append(np.flatnonzero(~plain), len(plain))
    rel = t["release"]
    has = rel >= 0
    look_back = int((np.flatnonzero(has) - rel[has]).max()) if has.any() else 0
    # per tile: the first tile at or after it that is not plain (fast-forward horizon)
    t["plain_end"] = stops[np.searchsorted(stops, np.arange(len(plain)))]
    a = {k: _joined(v) if v else np.zeros(0, np.int64) for k, v in A.items()}
    return dict(t=t, a=a, act=act, wgt=wgt, out=out, layer_first=layer_first,
                layer_last=layer_last, look_back=look_back)


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """The layers' parts of a column end to end (one layer's part as it is, not copied: a
    layer run alone, as planning does, would otherwise copy every column of every tile)."""
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _as_views(f: dict) -> dict:
    """The columns of :func:`_flat_arrays` as the array process reads them, one element at a
    time (:func:`~ewssim.hw.array.column`; VGG-16 on 8x8 has 1.6M tiles in one layer, of
    which the fast-forward reads a few thousand)."""
    return dict(f, t={k: column(v) for k, v in f["t"].items()},
                a={k: column(v) for k, v in f["a"].items()})


def _plain(s, bl, la: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per tile: whether it is *plain* and whether it is *regular*.

    Plain: it repeats the previous tile (same stream, load, drain, slot distance, the same
    activation, weight and output blocks, none of which it opens or closes, its load right
    after the previous tile's).  A run of such tiles may be fast-forwarded once it is in a
    steady state (:meth:`ewssim.hw.array.GatedArray.run`).

    Regular: the same parameters as the previous tile (stream, load, drain, slot distance, its
    load the weight path's next action), though it may open or close a block: when none of its
    memory gates binds, its times follow the same recurrence as a plain tile's, so a steady
    state may be recognised across it."""
    n = len(s)
    idx = np.arange(n)
    has = s.load_cycles > 0
    off = np.where(s.release >= 0, idx - s.release, -1)
    regular = np.ones(n, bool)
    if n:
        regular[0] = regular[-1] = False
    for x in (s.stream_cycles, s.load_cycles, s.drain_cols, off):
        regular[1:] &= x[1:] == x[:-1]
    regular &= ~has | (off >= 0)
    same = regular.copy()
    for x in (bl.act.of, bl.out.of):
        same[1:] &= x[1:] == x[:-1]
    for ends in (bl.act.last, bl.out.first, bl.out.last):
        same[ends] = False
    if not len(bl.w_kind):
        return same & ~has, regular & ~has
    w_last = np.zeros(len(bl.w_kind), bool)
    w_last[bl.w.last] = True
    prev = np.roll(la, 1)
    ok = (la == prev + 1) & (prev >= 0)
    regular &= ~has | ok
    la_c = np.where(la >= 0, la, 0)
    ok &= bl.w.of[la_c] == bl.w.of[np.where(prev >= 0, prev, 0)]
    ok &= ~w_last[la_c]
    same &= ~has | ok
    return same, regular


def _run(mappings: list[Mapping], hw: Hardware, *, causes: bool = True
         ) -> tuple[list[tuple[int, int, dict[str, int], int]], L2Span]:
    """Simulate the layers end to end; per layer (total cycles, stall cycles, stall causes,
    tiles fast-forwarded), and the L2 shares the run holds for (what the staging ring's
    requests found).  ``causes=False``: total cycles only (stalls not attributed)."""
    m = hw.memory
    f = _as_views(_flat_arrays(mappings))
    env = simpy.Environment()
    dram = DramChannel(env, m.dram_bytes_per_cycle, m.dram_latency_cycles, m.dram_burst_bytes)
    port = Port(env, m.l2_bytes_per_cycle, "L2")
    ring = Ring(env, hw.l2_stage_bytes)
    halves = 2 if m.l1_double_buffer else 1
    act = L1Buffer(env, "act", halves, len(f["act"]))
    wgt = L1Buffer(env, "weight", halves, len(f["wgt"]))
    out = L1Buffer(env, "out", halves, len(f["out"]))
    n_layers = len(mappings)
    layer_done = [simpy.Event(env) for _ in range(n_layers)]
    done_at = [0] * n_layers
    for li, ev in enumerate(layer_done):
        ev.callbacks.append(lambda _e, li=li: done_at.__setitem__(li, int(env.now)))
    deps = [None] + layer_done[:-1]             # a layer reads what the previous one wrote
    # weights: prefetch into the staging ring, then fill L1
    w_in_l2 = [simpy.Event(env) for _ in f["wgt"]]
    env.process(weight_prefetch_process(
        env, ring, dram, [(piece, li, src, op) for _, li, src, op, piece, _ in f["wgt"]],
        w_in_l2, wgt.stages, deps))
    for _nb, _li, from_dram, _op, piece, free_at in f["wgt"]:
        if from_dram and piece:
            # staged bytes leave the ring when the block named by free_at has been filled
            wgt.ready_event(free_at).callbacks.append(lambda _e, p=piece: ring.free(p))
    w_blocks = [(nb, "l2", li) for nb, li, *_ in f["wgt"]]
    env.process(fill_process(env, wgt, w_blocks, port, dram, in_l2=w_in_l2,
                             deps=[None] * n_layers, priority=WEIGHT_FILL, dram_priority=0))
    # activations: staged pieces, then fill L1
    a_in_l2 = [simpy.Event(env) if piece else None for (_, _, _, piece) in f["act"]]
    env.process(staged_input_process(env, dram, [(piece, li) for (_, _, li, piece)
                                                 in f["act"]], a_in_l2, act.stages, deps))
    a_blocks = [(nb, "stream" if src == "stream" else "l2", li)
                for (nb, src, li, _) in f["act"]]
    env.process(fill_process(env, act, a_blocks, port, dram, in_l2=a_in_l2, deps=deps,
                             priority=ACT_FILL, dram_priority=ACT_READ))
    # outputs
    complete = [simpy.Event(env) for _ in f["out"]]
    env.process(drain_process(env, out, f["out"], port, dram, complete=complete,
                              layer_done=layer_done))
    array = GatedArray(env, f["t"], f["a"], f["layer_first"], f["layer_last"], act, wgt, out,
                       complete, f["look_back"])
    env.process(array.run())
    env.run()
    if not all(e.triggered for e in layer_done):
        raise RuntimeError("the simulation ended before every output was written")
    ends = list(array.layer_end)
    ends[-1] = max(ends[-1], int(env.now))
    why = attribute(array, f, act, wgt, out, ends, done_at) if causes else \
        [{} for _ in ends]
    out_rows = []
    prev = 0
    for li in range(n_layers):
        total = ends[li] - prev
        c = why[li]
        st = sum(c.values())
        out_rows.append((total, st, {k: c.get(k, 0) for k in CAUSES}, array.jumped[li]))
        prev = ends[li]
    return out_rows, ring.span
