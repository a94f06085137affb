"""MVQ: EWS with the codebook weight path and (optionally) the sparsity-aware array.

Spec section 4.3 (the MVQ paper's EWS-CMS; with ``array.sparse = false`` it is EWS-CM, with an
unpruned format EWS-C).  Everything EWS does (WRF double buffering, ARF reuse, PRF reuse) is
inherited; what changes:

* **weight bytes** at every level are the compressed bits of the layer's format
  (indices + masks + signs + codebooks), :class:`ewssim.compress.plan.LayerFormat`;
* **line time** (:mod:`ewssim.hw.crf`, :mod:`ewssim.hw.loader`): a line of ``r`` used logical
  rows is ``ceil(r / d)`` sub-vectors; the CRF serves ``P`` of them per cycle, so a line takes
  ``ceil(ceil(r / d) / P)`` cycles (``P = 0`` in the configuration means ``logical rows / d``:
  one line per cycle, the MVQ paper's L/d ports); every load also pays the loader's decode
  pipeline latency (CRF read, ``N`` cascaded LZC stages for bitmap masks, sign application);
* **sparsity-aware array** (``array.sparse``): a group of ``d`` logical reduction PEs is built
  from ``d*N/M`` physical PEs with ``M:1`` activation muxes.  ``sparse_use = "area"``: the
  logical array keeps ``rows`` reduction rows and each column has ``rows*N/M`` physical PEs (a
  partial sum crosses fewer PEs); ``"throughput"``: ``rows`` physical PEs cover ``rows*M/N``
  logical rows per tile.  A dense (INT8) layer on the sparse array can use only the physical
  PEs: its tiles cover ``rows*N/M`` (area) or ``rows`` (throughput) reduction rows.

Dense layers of a compressed network (the fit rule keeps e.g. a first conv with 3 channels INT8)
bypass the decoder: one line per cycle, INT8 bytes.
"""

from __future__ import annotations

from ewssim.compress.plan import LayerFormat
from ewssim.config import ArchConfig
from ewssim.dataflow.ews import EWS
from ewssim.dataflow.tiling import ceil_div
from ewssim.hw.crf import CodebookRegisterFile
from ewssim.hw.loader import WeightLoader
from ewssim.workload.layers import Layer


def _codebook(fmt: LayerFormat | None) -> bool:
    return fmt is not None and fmt.codebook


class MVQ(EWS):
    kind = "mvq"

    def loader(self, arch: ArchConfig, fmt: LayerFormat) -> WeightLoader:
        """The weight path of this layer: a CRF holding all of the layer's codebook groups (each
        ``k`` x ``d``) with the configured ports over the logical line length, and the loader's
        decode pipeline."""
        _, logical = self.rows(arch, fmt)
        w = arch.weights
        crf = CodebookRegisterFile(fmt.k, fmt.d, line_length=logical,
                                   ports=w.crf_ports or None, groups=fmt.codebook_groups)
        return WeightLoader(crf, *fmt.nm, fmt.d, fmt.mask_encoding, fmt.signs,
                            crf_latency=w.crf_latency_cycles,
                            lzc_stage_cycles=w.lzc_stage_cycles,
                            sign_latency=w.sign_latency_cycles)

    def line_cycles(self, arch: ArchConfig, fmt: LayerFormat | None):
        if not _codebook(fmt):
            return 1
        crf, d = self.loader(arch, fmt).crf, fmt.d
        return lambda used_rows: crf.line_cycles(ceil_div(used_rows, d))

    def load_latency(self, arch: ArchConfig, fmt: LayerFormat | None) -> int:
        return self.loader(arch, fmt).latency if _codebook(fmt) else 0

    def weight_bytes(self, layer: Layer, arch: ArchConfig, fmt: LayerFormat | None) -> int:
        if fmt is None:
            return layer.weight_bytes(arch.data.weight_bits)
        return fmt.total_bytes
