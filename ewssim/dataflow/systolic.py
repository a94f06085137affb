"""Weight-stationary family on a systolic array: the part WS, EWS and MVQ share.

A plug-in of this family answers a few questions -- how many kernel-column taps a PE works on
(ARF reuse), whether the next tile's weights load during compute (WRF double buffering), which
pixel-chunk sizes to consider (PRF reuse), how many logical reduction rows a tile covers and how
many physical PEs a partial sum crosses (sparsity-aware array), and how fast the weight path
delivers a line (codebook loader) -- and the rest (tiling, slot allocation, traffic) is the
shared machinery of :mod:`ewssim.dataflow.tiling` and :mod:`ewssim.dataflow.traffic`.

``fmt`` is the layer's weight format (:class:`ewssim.compress.plan.LayerFormat`); ``None`` means
dense INT8 weights.
"""

from __future__ import annotations

from ewssim.compress.plan import LayerFormat
from ewssim.config import ArchConfig
from ewssim.dataflow.base import OFF_CHIP, Dataflow, LayerContext, Mapping
from ewssim.dataflow.tiling import build_schedule
from ewssim.dataflow.traffic import array_traffic, buffer_traffic
from ewssim.hw.array import schedule_cycles
from ewssim.workload.layers import Layer


class SystolicDataflow(Dataflow):
    """Base of WS-like dataflows; subclasses override the hooks."""

    load_mode = "lines"
    drain_full_width = False
    allow_pack = True

    def extra_cycles(self, layer: Layer) -> int:
        return 0

    def taps(self, layer: Layer, arch: ArchConfig) -> int:
        return 1

    def double_buffer(self, arch: ArchConfig) -> bool:
        return False

    def chunks(self, layer: Layer, arch: ArchConfig) -> list[tuple[int | None, bool]]:
        """Candidate pixel chunkings as (pixels per tile or ``None`` for all, psums in PRF?):
        by default the whole stream, and blocks whose partial sums fit half of the L1 output
        buffer (so they round-trip through L1 without spilling to L2)."""
        return [(None, False), *self.l1_block(layer, arch)]

    @staticmethod
    def l1_block(layer: Layer, arch: ArchConfig) -> list[tuple[int, bool]]:
        m = arch.memory
        if m.ideal:
            return []
        half = m.l1_out_bytes // (2 if m.l1_double_buffer else 1)
        block = half // max(1, arch.array.cols * arch.data.psum_bits // 8)
        pixels = layer.out_h * layer.out_w * (1 if layer.kind == "matmul" else layer.batch)
        return [(block, False)] if 0 < block < pixels else []

    def rows(self, arch: ArchConfig, fmt: LayerFormat | None) -> tuple[int, int]:
        """(physical rows a partial sum crosses, logical reduction rows per tile).

        Dense array: both ``rows``.  Sparsity-aware array (``array.sparse``): a group of ``d``
        logical reduction PEs is built from ``d*N/M`` physical PEs with ``M:1`` activation
        muxes; ``sparse_use = "area"`` keeps ``rows`` logical rows on ``rows*N/M`` physical
        PEs per column, ``"throughput"`` lets ``rows`` physical PEs cover ``rows*M/N``
        logical rows.  A dense (INT8) layer there uses only the physical PEs."""
        a = arch.array
        if not a.sparse:
            return a.rows, a.rows
        n, m = arch.weights.n_m
        physical = a.rows * n // m if a.sparse_use == "area" else a.rows
        pruned = fmt is not None and fmt.pruned
        return physical, physical * m // n if pruned else physical

    def slot_cycles(self, layer: Layer, arch: ArchConfig, fmt: LayerFormat | None,
                    ctx: LayerContext) -> int:
        """Cycles a PE spends per (pixel, tap) slot."""
        return 1

    def entries_per_set(self, layer: Layer, arch: ArchConfig,
                        fmt: LayerFormat | None) -> int | None:
        """WRF entries one tile's weights take in a PE (``None``: one per tap)."""
        return None

    def act_reads(self, s, layer: Layer, arch: ArchConfig, fmt: LayerFormat | None,
                  ctx: LayerContext) -> tuple[int, int] | None:
        """(activation elements read from L1, bits each), or ``None`` for the default
        (:func:`ewssim.dataflow.traffic.act_reads_per_row`)."""
        return None

    def act_storage_ratio(self, layer: Layer, arch: ArchConfig, fmt: LayerFormat | None,
                          ctx: LayerContext) -> float:
        """Bytes an activation tensor takes in L2/DRAM relative to dense ``act_bits``."""
        return 1.0

    def line_cycles(self, arch: ArchConfig, fmt: LayerFormat | None):
        """Cycles per line (int), or a function of each tile's used logical rows."""
        return 1

    def load_latency(self, arch: ArchConfig, fmt: LayerFormat | None) -> int:
        return 0

    def weight_bytes(self, layer: Layer, arch: ArchConfig, fmt: LayerFormat | None) -> int:
        return layer.weight_bytes(arch.data.weight_bits)

    def plan(self, layer: Layer, arch: ArchConfig, fmt: LayerFormat | None = None,
             ctx: LayerContext = OFF_CHIP) -> Mapping:
        """Try each pixel-chunk candidate; keep the one with the lowest roofline estimate
        ``max(compute cycles, L2 port cycles, DRAM channel cycles)`` (ties: less L2 traffic)."""
        a, m = arch.array, arch.memory
        physical, logical = self.rows(arch, fmt)
        best = None
        for chunk, in_prf in self.chunks(layer, arch):
            s = build_schedule(
                layer, rows=physical, logical_rows=logical, cols=a.cols,
                taps=self.taps(layer, arch), chunk=chunk, wrf_depth=a.wrf_depth,
                double_buffer=self.double_buffer(arch),
                line_cycles=self.line_cycles(arch, fmt),
                load_latency=self.load_latency(arch, fmt), load_mode=self.load_mode,
                drain_full_width=self.drain_full_width, allow_pack=self.allow_pack,
                extra_cycles=self.extra_cycles(layer),
                slot_cycles=self.slot_cycles(layer, arch, fmt, ctx),
                entries_per_set=self.entries_per_set(layer, arch, fmt))
            traffic = array_traffic(s, layer, arch, psums_in_prf=in_prf, fmt=fmt,
                                    sparse=a.sparse, ctx=ctx,
                                    act_reads=self.act_reads(s, layer, arch, fmt, ctx))
            notes = buffer_traffic(traffic, s, layer, arch, weight_bytes=self.weight_bytes(
                layer, arch, fmt), chunked=chunk is not None, psums_in_prf=in_prf, ctx=ctx,
                act_ratio=self.act_storage_ratio(layer, arch, fmt, ctx))
            t = traffic
            l2 = (t.l2_act_read_bytes + t.l2_weight_read_bytes + t.l2_psum_read_bytes
                  + t.l2_out_write_bytes)
            dram = t.dram_act_read_bytes + t.dram_weight_read_bytes + t.dram_out_write_bytes
            est = schedule_cycles(s)
            if not m.ideal:
                est = max(est, l2 / m.l2_bytes_per_cycle, dram / m.dram_bytes_per_cycle)
            key = (est, l2)
            if best is None or key < best[0]:
                best = (key, s, traffic, notes, in_prf)
        _, s, traffic, notes, in_prf = best
        if s.pack > 1:
            notes.insert(0, f"{s.pack} groups packed per tile")
        if fmt is not None and fmt.note:
            notes.insert(0, fmt.note)
        return Mapping(layer=layer, schedule=s, traffic=traffic, psums_in_prf=in_prf,
                       notes=notes)

