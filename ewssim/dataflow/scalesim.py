"""SCALE-Sim v3 weight-stationary timing, for parity (the ``scalesim-ws`` preset).

Measured against ``scalesim==3.0.0`` itself (docs/scalesim-parity.md, tests/data/scalesim_v3):
per layer ``Total Cycles = folds * (2*rows + cols + T - 2) - 1`` with ideal memory (its CALC
bandwidth mode).  In ewssim's array model that is WS whose weights shift in from the top
(``rows`` cycles per fold whatever is used), whose last wave always crosses the full width, with
no group packing, and ``-1`` per SCALE-Sim layer because SCALE-Sim reports the last cycle's
index rather than a count.  SCALE-Sim runs a depthwise (``DP``) layer as one layer per channel,
so such a layer carries ``-groups``.
"""

from __future__ import annotations

from ewssim.config import ArchConfig
from ewssim.dataflow.systolic import SystolicDataflow
from ewssim.errors import InputError


class ScaleSimWS(SystolicDataflow):
    kind = "scalesim-ws"
    scalesim = True

    def validate(self, arch: ArchConfig) -> None:
        super().validate(arch)
        if not arch.memory.ideal:
            raise InputError("the scalesim-ws dataflow runs SCALE-Sim's own memory model "
                             "([scalesim] section), not ewssim's memories", field="memory.ideal",
                             allowed="true with dataflow.kind = scalesim-ws")
        sc = arch.scalesim
        if sc.interface == "user":
            for fld, bw, banks in (("ifmap", sc.ifmap_bandwidth, sc.ifmap_banks),
                                   ("filter", sc.filter_bandwidth, sc.filter_banks)):
                if bw % banks:
                    raise InputError(f"SCALE-Sim needs the {fld} bandwidth ({bw}) to be a "
                                     f"multiple of its banks ({banks})",
                                     field=f"scalesim.{fld}_bandwidth",
                                     allowed=f"a multiple of {banks}")
