"""WS: plain weight stationary (spec section 4.1) with ewssim's memory hierarchy.

Array rows hold reduction elements, columns output channels, the output pixels stream.  Every
fold loads its weights (no overlap with compute), streams every pixel once, drains, and sends
its partial sums to the L1 output buffer (read back by the next reduction fold).  This is EWS
with its three mechanisms absent (the [dataflow] switches do not apply).  With
``array.zero_gating`` it is S2TA's SA-ZVCG baseline.
"""

from __future__ import annotations

from ewssim.dataflow.systolic import SystolicDataflow


class WS(SystolicDataflow):
    kind = "ws"
