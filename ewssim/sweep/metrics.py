"""Quantities known before simulating a design point: what ``[constraints]`` can test.

``PRE_SIM_METRICS`` maps a metric name to ``(function(Hardware) -> number, unit, doc)``: each
reads the hardware the configuration implies (:func:`ewssim.dataflow.resolve`, done once per
configuration); ``area_mm2`` is the area model's total (:func:`ewssim.area.area`, the same
number as the ``area_mm2`` total of a run).
"""

from __future__ import annotations

from collections.abc import Callable

from ewssim.config import ArchConfig
from ewssim.hw.hardware import Hardware


def _pes(hw: Hardware) -> int:
    return hw.physical_pes


def _sram_bytes(hw: Hardware) -> int:
    m = hw.memory
    return m.l1_act_bytes + m.l1_weight_bytes + m.l1_out_bytes + m.l2_bytes


def _area_mm2(hw: Hardware) -> float:
    from ewssim.area import area

    return float(area(hw).total_mm2)


#: name -> (function, unit, description)
PRE_SIM_METRICS: dict[str, tuple[Callable[[Hardware], float], str, str]] = {
    "area_mm2": (_area_mm2, "mm²", "accelerator area from the area model (ewssim.area)"),
    "pes": (_pes, "PEs", "physical PEs (rows x cols; rows x N/M x cols on the sparse array)"),
    "sram_bytes": (_sram_bytes, "B", "on-chip SRAM: L1 activation + weight + output + L2"),
}


def available_metrics() -> list[str]:
    return list(PRE_SIM_METRICS)


def pre_sim_metrics(arch: ArchConfig, checked: bool = False) -> dict:
    """Every available pre-simulation metric of ``arch`` (``checked``: ``arch`` has just been
    checked, e.g. built by :func:`ewssim.config.from_dict`; it is not checked again)."""
    from ewssim.dataflow import dataflow_of, resolve

    hw = dataflow_of(arch).resolve(arch) if checked else resolve(arch)
    return {name: PRE_SIM_METRICS[name][0](hw) for name in available_metrics()}
