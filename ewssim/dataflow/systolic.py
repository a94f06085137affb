"""Weight-stationary family on a systolic array: the part WS and EWS share.

A plug-in of this family answers three questions -- how many kernel-column taps a PE works on
(ARF reuse), whether the next tile's weights load during compute (WRF double buffering), and
which pixel-chunk sizes to consider (PRF reuse) -- and the rest (tiling, slot allocation, traffic)
is the shared machinery of :mod:`ewssim.dataflow.tiling` and :mod:`ewssim.dataflow.traffic`.
"""

from __future__ import annotations

from ewssim.config import ArchConfig
from ewssim.dataflow.base import Dataflow, Mapping
from ewssim.dataflow.tiling import build_schedule
from ewssim.dataflow.traffic import array_traffic, buffer_traffic
from ewssim.hw.array import schedule_cycles
from ewssim.workload.layers import Layer


class SystolicDataflow(Dataflow):
    """Base of WS-like dataflows; subclasses override the three hooks."""

    load_mode = "lines"
    drain_full_width = False
    allow_pack = True

    def extra_cycles(self, layer: Layer) -> int:
        return 0

    def taps(self, layer: Layer, arch: ArchConfig) -> int:
        return 1

    def double_buffer(self, arch: ArchConfig) -> bool:
        return False

    def chunks(self, layer: Layer, arch: ArchConfig) -> list[int | None]:
        """Pixel-chunk sizes to try (``None``: stream all pixels, psums round-trip via L1)."""
        return [None]

    def line_cycles(self, layer: Layer, arch: ArchConfig) -> int:
        """Cycles the weight path needs per line (one column, one tap)."""
        return 1

    def weight_bytes(self, layer: Layer, arch: ArchConfig) -> int:
        return layer.weight_bytes(arch.data.weight_bits)

    def plan(self, layer: Layer, arch: ArchConfig) -> Mapping:
        """Try each pixel-chunk candidate; keep the one with the lowest roofline estimate
        ``max(compute cycles, L2 port cycles, DRAM channel cycles)`` (ties: less L2 traffic)."""
        a, m = arch.array, arch.memory
        best = None
        for chunk in self.chunks(layer, arch):
            s = build_schedule(
                layer, rows=a.rows, cols=a.cols, taps=self.taps(layer, arch), chunk=chunk,
                wrf_depth=a.wrf_depth, double_buffer=self.double_buffer(arch),
                line_cycles=self.line_cycles(layer, arch), load_mode=self.load_mode,
                drain_full_width=self.drain_full_width, allow_pack=self.allow_pack,
                extra_cycles=self.extra_cycles(layer))
            in_prf = chunk is not None
            traffic = array_traffic(s, layer, arch, psums_in_prf=in_prf)
            notes = buffer_traffic(traffic, s, layer, arch, weight_bytes=self.weight_bytes(
                layer, arch), chunked=in_prf, psums_in_prf=in_prf)
            t = traffic
            l2 = (t.l2_act_read_bytes + t.l2_weight_read_bytes + t.l2_psum_read_bytes
                  + t.l2_out_write_bytes)
            dram = t.dram_act_read_bytes + t.dram_weight_read_bytes + t.dram_out_write_bytes
            est = schedule_cycles(s)
            if not m.ideal:
                est = max(est, l2 / m.l2_bytes_per_cycle, dram / m.dram_bytes_per_cycle)
            key = (est, l2)
            if best is None or key < best[0]:
                best = (key, s, traffic, notes)
        _, s, traffic, notes = best
        if s.pack > 1:
            notes.insert(0, f"{s.pack} groups packed per tile")
        return Mapping(layer=layer, schedule=s, traffic=traffic, notes=notes)
