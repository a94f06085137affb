"""Area and leakage of an accelerator configuration (docs/model-reference.md §7)."""

from ewssim.area.model import BLOCKS, AreaReport, Component, acc_bits, area, crf_ports

__all__ = ["BLOCKS", "AreaReport", "Component", "acc_bits", "area", "crf_ports"]
