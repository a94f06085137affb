"""Dataflow plug-ins: one small interface (:class:`Dataflow`), one class per dataflow.

Each plug-in validates an architecture and resolves it into the hardware it implies
(:func:`resolve`); every dataflow rule lives here and nowhere else.
"""

from ewssim.config import ArchConfig, register_check
from ewssim.config.schema import FIELD_CHOICES
from ewssim.dataflow.base import (
    OFF_CHIP,
    TRAFFIC_FIELDS,
    Dataflow,
    LayerContext,
    Mapping,
    TileSchedule,
    Traffic,
)
from ewssim.dataflow.ews import EWS
from ewssim.dataflow.mvq import MVQ
from ewssim.dataflow.s2ta import S2TA
from ewssim.dataflow.scalesim import ScaleSimWS
from ewssim.dataflow.ws import WS
from ewssim.errors import InputError
from ewssim.hw.hardware import Hardware

DATAFLOWS: dict[str, type[Dataflow]] = {cls.kind: cls for cls in (WS, EWS, MVQ, S2TA, ScaleSimWS)}
FIELD_CHOICES["dataflow.kind"] = tuple(DATAFLOWS)


def get_dataflow(kind: str) -> Dataflow:
    try:
        return DATAFLOWS[kind]()
    except KeyError:
        raise InputError(f"unknown dataflow {kind!r}", field="dataflow.kind",
                         allowed=", ".join(DATAFLOWS)) from None


def dataflow_of(arch: ArchConfig) -> Dataflow:
    return get_dataflow(arch.dataflow.kind)


@register_check
def _check(arch: ArchConfig) -> None:
    dataflow_of(arch).validate(arch)


def resolve(arch: ArchConfig) -> Hardware:
    """The hardware ``arch`` implies (validated first: a configuration built behind the checks'
    back, e.g. with ``dataclasses.replace`` on a nested section, is refused here)."""
    from ewssim.config import validate

    validate(arch)
    return dataflow_of(arch).resolve(arch)


__all__ = ["DATAFLOWS", "OFF_CHIP", "TRAFFIC_FIELDS", "Dataflow", "Hardware", "LayerContext",
           "Mapping", "TileSchedule", "Traffic", "dataflow_of", "get_dataflow", "resolve"]
