"""MVQ: EWS with the codebook weight path and (optionally) the sparsity-aware array.

Spec section 4.3 (the MVQ paper's EWS-CMS; with ``array.sparse = false`` it is EWS-CM, with an
unpruned format EWS-C).  Everything EWS does (WRF double buffering, ARF reuse, PRF reuse) is
inherited; what changes is in the resolved hardware (:mod:`ewssim.hw.hardware`):

* **weight bytes** at every level are the compressed bits of the layer's format
  (indices + masks + signs + codebooks);
* **line time** (:mod:`ewssim.hw.crf`, :mod:`ewssim.hw.loader`): a line of ``r`` used logical
  rows is ``ceil(r / d)`` sub-vectors; the CRF serves ``P`` of them per cycle, so a line takes
  ``ceil(ceil(r / d) / P)`` cycles (``P = 0`` in the configuration means ``logical rows / d``:
  one line per cycle, the MVQ paper's L/d ports); every load also pays the decode pipeline
  latency (CRF read, ``N`` cascaded LZC stages for bitmap masks, sign application);
* **sparsity-aware array** (``array.sparse``): a group of ``d`` logical reduction PEs is built
  from ``d*N/M`` physical PEs with ``M:1`` activation muxes.  ``sparse_use = "area"``: the
  logical array keeps ``rows`` reduction rows and each column has ``rows*N/M`` physical PEs;
  ``"throughput"``: ``rows`` physical PEs cover ``rows*M/N`` logical rows per tile.  A dense
  (INT8) layer on the sparse array can use only the physical PEs.

Dense layers of a compressed network (the fit rule keeps e.g. a first conv with 3 channels INT8)
bypass the decoder: one line per cycle, INT8 bytes.
"""

from __future__ import annotations

from ewssim.config import ArchConfig
from ewssim.dataflow.systolic import SystolicDataflow
from ewssim.errors import InputError


class MVQ(SystolicDataflow):
    kind = "mvq"
    weight_formats = ("int8", "vq", "mvq", "casec", "ssvq")
    ews_mechanisms = True
    sparse_array = True

    def validate(self, arch: ArchConfig) -> None:
        super().validate(arch)
        f = arch.weights.weight_format
        if f.signs and f.pruned:
            raise InputError(f"format ssvq does not prune, got N:M = {arch.weights.nm}",
                             field="weights.nm", allowed="N = M (e.g. 1:1) for ssvq")
