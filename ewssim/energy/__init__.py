"""Energy per layer from the engine's action counts (docs/model-reference.md §7)."""

from ewssim.energy.model import (
    COMPONENTS,
    EFFICIENCY_COLUMNS,
    ENERGY_COLUMNS,
    LEVEL_COLUMNS,
    LEVEL_LABELS,
    LEVELS,
    Action,
    EnergyModel,
    actions,
    levels,
)

__all__ = ["COMPONENTS", "EFFICIENCY_COLUMNS", "ENERGY_COLUMNS", "LEVEL_COLUMNS",
           "LEVEL_LABELS", "LEVELS", "Action", "EnergyModel", "actions", "levels"]
