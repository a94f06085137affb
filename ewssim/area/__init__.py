"""Area and leakage of an accelerator's resolved hardware (docs/model-reference.md §7)."""

from ewssim.area.model import BLOCKS, AreaReport, Component, area

__all__ = ["BLOCKS", "AreaReport", "Component", "area"]
