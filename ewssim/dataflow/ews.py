"""EWS: enhanced weight stationary (spec section 4.2), each mechanism a switch.

1. WRF double buffering (``dataflow.wrf_double_buffer``): weight loads overlap compute; tiles
   pipeline and the fill/drain is paid once per run of tiles.
2. ARF convolutional reuse (``dataflow.arf_reuse``): a PE holds ``min(S, arf_depth)``
   kernel-column taps of its (channel, kernel row) and a sliding window of activations, so a
   tile covers ``taps`` times more reduction and streams ``taps`` cycles per pixel, each
   activation read from L1 once per window instead of once per tap.
3. PRF psum reuse (``dataflow.prf_reuse``): pixels are cut into chunks of ``prf_depth`` whose
   psums stay in the PRF while every reduction fold passes; only finished outputs are written.
   The mapper keeps the chunked order only where its roofline estimate is not worse than the
   other candidates (streaming all pixels, or blocks whose psums fit the L1 output buffer);
   it is worse when an output fold's weights cannot stay resident in the WRF and must be
   reloaded per chunk.
"""

from __future__ import annotations

from ewssim.config import ArchConfig
from ewssim.dataflow.systolic import SystolicDataflow
from ewssim.workload.layers import Layer


class EWS(SystolicDataflow):
    kind = "ews"

    def taps(self, layer: Layer, arch: ArchConfig) -> int:
        if not arch.dataflow.arf_reuse:
            return 1
        return max(1, min(layer.kernel_w, arch.array.arf_depth))

    def double_buffer(self, arch: ArchConfig) -> bool:
        return arch.dataflow.wrf_double_buffer

    def chunks(self, layer: Layer, arch: ArchConfig) -> list[tuple[int | None, bool]]:
        base = super().chunks(layer, arch)
        if arch.dataflow.prf_reuse:
            return [(arch.array.prf_depth, True), *base]
        return base
