"""S2TA-style arrays (S2TA, HPCA 2022): density-bound blocks (DBB) on a WS systolic array.

Spec section 4.4 [paper: S2TA; model: timing].  All three baselines run the WS loop nest (no
WRF double buffering, no ARF/PRF reuse) with zero-value clock gating (``array.zero_gating``):

* ``sa-zvcg`` -- the dense WS array (the ``ws`` dataflow); MACs whose activation is zero do not
  switch, timing is dense.
* ``s2ta-w`` -- weight DBB, this plug-in: at most ``NNZ_w`` non-zeros in every block of ``BZ``
  weights along the reduction axis (``weights.nm = "NNZ_w:BZ"``, format ``dbb``: kept INT8
  values + positions), compressed *spatially*: the sparsity-aware array in throughput use,
  each physical PE holding one kept weight and a ``BZ:1`` activation mux, so ``rows`` physical
  PEs cover ``rows * BZ / NNZ_w`` reduction rows.
* ``s2ta-aw`` -- plus activation DBB (``activations.dbb``): a dynamic activation pruning unit
  keeps the top ``NNZ_a`` of every block of ``BZ`` activations (``NNZ_a = ceil(density * BZ)``
  from the layer's input-activation density, so on average no non-zero is dropped, or a fixed
  ``activations.nnz``: lossy pruning, which S2TA trains for), stored compressed (values +
  positions); the *time-unrolled* tensor PE holds a whole weight block (``NNZ_w`` values +
  positions) and spends ``NNZ_a`` cycles per block and pixel, one kept activation per cycle
  meeting its matching weight (selected among its WRF entries by position: no activation mux).
  So one physical row covers ``BZ`` reduction rows, and a tile streams ``NNZ_a`` cycles per
  pixel.  Time-unrolled blocks apply to weight-DBB layers; a dense INT8 layer (e.g. a first
  conv whose channels the block does not divide) runs on the physical PEs as WS.

Weight loads: one line per cycle (a value + position per PE of a column; no codebook, no
decode latency); an AW tensor PE takes its block's ``NNZ_w`` values, ``NNZ_w`` lines per column.
"""

from __future__ import annotations

from ewssim.config import ArchConfig
from ewssim.dataflow.systolic import SystolicDataflow
from ewssim.errors import InputError


class S2TA(SystolicDataflow):
    kind = "s2ta"
    weight_formats = ("int8", "dbb")
    format_error_field = "weights.format"
    sparse_array = True
    activation_dbb = True

    def validate(self, arch: ArchConfig) -> None:
        super().validate(arch)
        w, act = arch.weights, arch.activations
        f = w.weight_format
        if act.dbb and f.dbb and act.block != f.nm[1]:
            raise InputError(f"the time-unrolled tensor PE pairs a weight block of M = "
                             f"{f.nm[1]} with an activation block of {act.block}",
                             field="activations.block",
                             allowed=f"{f.nm[1]} (the weight block M of weights.nm)")
        if act.dbb and f.dbb and arch.array.wrf_depth < f.nm[0]:
            raise InputError(f"a time-unrolled tensor PE holds a whole weight block: wrf_depth "
                             f"{arch.array.wrf_depth} < NNZ_w = {f.nm[0]}",
                             field="array.wrf_depth", allowed=f">= {f.nm[0]}")
