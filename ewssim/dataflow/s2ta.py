"""S2TA-style arrays (S2TA, HPCA 2022): density-bound blocks (DBB) on a WS systolic array.

Spec section 4.4 [paper: S2TA; model: timing].  All three baselines run the WS loop nest (no
WRF double buffering, no ARF/PRF reuse) with zero-value clock gating (``array.zero_gating``):

* ``sa-zvcg`` -- the dense WS array (:class:`ewssim.dataflow.ws.WS`); MACs whose activation is
  zero do not switch, timing is dense.
* ``s2ta-w`` -- weight DBB, this plug-in: at most ``NNZ_w`` non-zeros in every block of ``BZ``
  weights along the reduction axis (``weights.nm = "NNZ_w:BZ"``, format ``dbb``: kept INT8
  values + positions), compressed *spatially*: the sparsity-aware array in throughput use,
  each physical PE holding one kept weight and a ``BZ:1`` activation mux, so ``rows`` physical
  PEs cover ``rows * BZ / NNZ_w`` reduction rows.
* ``s2ta-aw`` -- plus activation DBB (``activations.dbb``): a dynamic activation pruning unit
  keeps the top ``NNZ_a`` of every block of ``BZ`` activations (``NNZ_a = ceil(density * BZ)``
  from the layer's input-activation density, so on average no non-zero is dropped, or a fixed
  ``activations.nnz``: lossy pruning, which S2TA trains for), stored
  compressed (values + positions); the *time-unrolled* tensor PE holds a whole weight block
  (``NNZ_w`` values + positions) and spends ``NNZ_a`` cycles per block and pixel, one kept
  activation per cycle meeting its matching weight.  So one physical row covers ``BZ``
  reduction rows, and a tile streams ``NNZ_a`` cycles per pixel.

Weight loads: one line per cycle (a value + position per PE of a column; no codebook, no
decode latency); an AW tensor PE takes its block's ``NNZ_w`` values, ``NNZ_w`` lines per column.
"""

from __future__ import annotations

from ewssim.compress.plan import LayerFormat
from ewssim.config import ArchConfig
from ewssim.dataflow.base import LayerContext
from ewssim.dataflow.systolic import SystolicDataflow
from ewssim.dataflow.tiling import ceil_div
from ewssim.workload.activations import nnz_per_block
from ewssim.workload.layers import Layer


def _aw(arch: ArchConfig, fmt: LayerFormat | None) -> bool:
    """Time-unrolled activation blocks apply to weight-DBB layers (a dense INT8 layer, e.g. a
    first conv whose channels the block does not divide, runs on the physical PEs as WS)."""
    return arch.activations.dbb and fmt is not None and fmt.dbb and fmt.pruned


class S2TA(SystolicDataflow):
    kind = "s2ta"

    def rows(self, arch: ArchConfig, fmt: LayerFormat | None) -> tuple[int, int]:
        if _aw(arch, fmt):
            return arch.array.rows, arch.array.rows * arch.activations.block
        return super().rows(arch, fmt)

    def nnz_a(self, arch: ArchConfig, ctx: LayerContext) -> int:
        a = arch.activations
        if a.nnz:
            return min(a.nnz, a.block)
        return nnz_per_block(ctx.act_density, a.block)

    def slot_cycles(self, layer: Layer, arch: ArchConfig, fmt: LayerFormat | None,
                    ctx: LayerContext) -> int:
        return self.nnz_a(arch, ctx) if _aw(arch, fmt) else 1

    def entries_per_set(self, layer: Layer, arch: ArchConfig,
                        fmt: LayerFormat | None) -> int | None:
        return fmt.nm[0] if _aw(arch, fmt) else None

    def line_cycles(self, arch: ArchConfig, fmt: LayerFormat | None):
        return fmt.nm[0] if _aw(arch, fmt) else 1

    def act_reads(self, s, layer: Layer, arch: ArchConfig, fmt: LayerFormat | None,
                  ctx: LayerContext):
        """AW: per physical row (one block) and pixel, the NNZ_a kept activations, each with
        its ``ceil(log2 BZ)``-bit position."""
        if not _aw(arch, fmt):
            return None
        bz = arch.activations.block
        blocks = ceil_div(s.used_rows, bz)
        count = int((blocks * (s.p1 - s.p0)).sum()) * self.nnz_a(arch, ctx)
        return count, arch.data.act_bits + _pos_bits(bz)

    def act_storage_ratio(self, layer: Layer, arch: ArchConfig, fmt: LayerFormat | None,
                          ctx: LayerContext) -> float:
        """AW stores activations compressed: NNZ_a values + positions per block of BZ (a dense
        INT8 layer, which reads them dense, keeps them dense)."""
        if not _aw(arch, fmt):
            return 1.0
        bz, bits = arch.activations.block, arch.data.act_bits
        return min(1.0, self.nnz_a(arch, ctx) * (bits + _pos_bits(bz)) / (bz * bits))

    def weight_bytes(self, layer: Layer, arch: ArchConfig, fmt: LayerFormat | None) -> int:
        if fmt is None:
            return layer.weight_bytes(arch.data.weight_bits)
        return fmt.total_bytes


def _pos_bits(bz: int) -> int:
    return (bz - 1).bit_length()
