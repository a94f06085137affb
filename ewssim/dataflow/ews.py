"""EWS: enhanced weight stationary (spec section 4.2), each mechanism a switch.

1. WRF double buffering (``dataflow.wrf_double_buffer``): weight loads overlap compute; tiles
   pipeline and the fill/drain is paid once per run of tiles.
2. ARF convolutional reuse (``dataflow.arf_reuse``): a PE holds ``min(S, arf_depth)``
   kernel-column taps of its (channel, kernel row) and a sliding window of activations, so a
   tile covers ``taps`` times more reduction and streams ``taps`` cycles per pixel, each
   activation read from L1 once per window instead of once per tap.
3. PRF psum reuse (``dataflow.prf_reuse``): pixels are cut into chunks of ``prf_depth`` whose
   psums stay in the PRF while every reduction fold passes; only finished outputs are written.
   It is one of the mapping candidates (streaming all pixels, or blocks whose psums fit the L1
   output buffer, are the others); it loses when an output fold's weights cannot stay resident
   in the WRF and must be reloaded per chunk.
"""

from __future__ import annotations

from ewssim.dataflow.systolic import SystolicDataflow


class EWS(SystolicDataflow):
    kind = "ews"
    ews_mechanisms = True
