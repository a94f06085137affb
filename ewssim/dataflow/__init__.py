"""Dataflow plug-ins: one small interface (:class:`Dataflow`), one class per dataflow."""

from ewssim.dataflow.base import Dataflow, Mapping, TileSchedule, Traffic
from ewssim.dataflow.ews import EWS
from ewssim.dataflow.mvq import MVQ
from ewssim.dataflow.s2ta import S2TA
from ewssim.dataflow.scalesim import ScaleSimWS
from ewssim.dataflow.ws import WS
from ewssim.errors import InputError

DATAFLOWS: dict[str, type[Dataflow]] = {cls.kind: cls for cls in (WS, EWS, MVQ, S2TA, ScaleSimWS)}


def get_dataflow(kind: str) -> Dataflow:
    try:
        return DATAFLOWS[kind]()
    except KeyError:
        raise InputError(f"unknown dataflow {kind!r}", field="dataflow.kind",
                         allowed=", ".join(sorted(DATAFLOWS))) from None


__all__ = ["DATAFLOWS", "Dataflow", "Mapping", "TileSchedule", "Traffic", "get_dataflow"]
