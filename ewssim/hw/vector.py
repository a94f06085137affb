"""The vector unit: every operator the systolic array does not run (docs/model-reference.md
§4.8).

``vector.lanes`` lanes each process one element per cycle; an operator class takes
``vector.<class>_cycles`` cycles per element of its work (:attr:`~ewssim.workload.graph.
VectorOp.work`), so its compute is ``ceil(work * cycles_per_element / lanes)`` cycles.

Its operands and result move through the memories the array uses: an input kept in L2 is read
through the L2 port; an input in DRAM (spilled, or the network's input) is fetched into L2 and
read from there (DRAM channel: bursts, bandwidth, latency, then the L2 port); the result is
written into L2 and, when it does not stay there, written back to DRAM.  The unit streams: its
reads, its lanes and its writes overlap, so an operator takes the longest of

* its compute,
* the L2 port time of every byte it reads and writes (``ceil(B / l2 bytes per cycle)``),
* the DRAM channel time of its DRAM bytes (``ceil(B / dram bytes per cycle)``, bytes rounded
  up to whole bursts per tensor), plus the DRAM latency when it reads DRAM.

It runs alone: the array's layers before it have written their outputs and the layers after
it start when it is done (a barrier; the array and the vector unit do not overlap).  Every cycle
over its compute is a stall of the binding resource: the DRAM latency first, then DRAM
bandwidth, or the L2 port.  An activation that directly follows an array layer runs in that
layer's output path when ``vector.fuse_activations`` is on: no cycles and no bytes, only its
lane operations' energy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ewssim.hw.counts import Traffic
from ewssim.hw.hardware import Hardware, ceil_div
from ewssim.hw.port import rational
from ewssim.workload.graph import VectorOp


@dataclass
class VectorResult:
    """One vector operator's run: cycles, stalls by cause, and its counts."""

    op: VectorOp
    compute_cycles: int
    stall_cycles: int = 0
    stalls: dict[str, int] = field(default_factory=dict)
    traffic: Traffic = field(default_factory=Traffic)
    fused: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def total_cycles(self) -> int:
        return self.compute_cycles + self.stall_cycles

    @property
    def name(self) -> str:
        return self.op.name


def compute_cycles(op: VectorOp, hw: Hardware) -> int:
    """Lane cycles of ``op``: ``ceil(work * cycles per element / lanes)``."""
    v = hw.vector
    return ceil_div(op.work * v.cycles_per_element(op.op_class), v.lanes)


def run_vector(op: VectorOp, hw: Hardware, inputs: list[tuple[int, bool]],
               output_on_chip: bool, *, fused: bool = False) -> VectorResult:
    """``op`` on the vector unit.  ``inputs``: (bytes, kept in L2?) per input tensor;
    ``output_on_chip``: its result stays in L2 (else it is written back to DRAM); ``fused``:
    it runs in the producing layer's output path (no cycles, no bytes)."""
    lane_ops = op.work * hw.vector.cycles_per_element(op.op_class)
    if fused:
        return VectorResult(op, 0, traffic=Traffic(vector_ops=lane_ops), fused=True,
                            notes=["fused into the producing layer's output path"])
    mem = hw.memory
    out_bytes = op.output_bytes(hw.data.act_bits)
    burst = mem.dram_burst_bytes
    dram_read = sum(ceil_div(b, burst) * burst for b, kept in inputs if not kept)
    dram_write = 0 if output_on_chip else ceil_div(out_bytes, burst) * burst
    l2_read = sum(b for b, _ in inputs)
    l2_write = out_bytes
    t = Traffic(dram_act_read_bytes=dram_read, dram_out_write_bytes=dram_write,
                l2_vector_read_bytes=l2_read, l2_vector_write_bytes=l2_write,
                vector_ops=lane_ops)
    compute = compute_cycles(op, hw)
    if mem.ideal:
        return VectorResult(op, compute, traffic=t)
    width = rational(mem.dram_bytes_per_cycle)
    dram_bw = ceil_div((dram_read + dram_write) * width.denominator, width.numerator)
    latency = mem.dram_latency_cycles if dram_read else 0
    l2_time = ceil_div(l2_read + l2_write, mem.l2_bytes_per_cycle)
    total = max(compute, l2_time, dram_bw + latency)
    stall = total - compute
    stalls: dict[str, int] = {}
    if stall:
        if dram_bw + latency >= l2_time:
            lat = min(latency, stall)
            stalls = {"dram_latency": lat, "dram_bandwidth": stall - lat}
        else:
            stalls = {"l2_port": stall}
        stalls = {k: v for k, v in stalls.items() if v}
    return VectorResult(op, compute, stall, stalls, t)
