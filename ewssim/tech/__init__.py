"""Technology tables (energy per action, area, leakage) with their sources and node scaling."""

from ewssim.tech.table import (
    DEFAULT,
    REQUIRED,
    SCALING_RULE,
    Entry,
    TechTable,
    builtin_names,
    from_dict,
    load,
    node_factor,
    scale,
)

__all__ = ["DEFAULT", "REQUIRED", "SCALING_RULE", "Entry", "TechTable", "builtin_names",
           "from_dict", "load", "node_factor", "scale"]
