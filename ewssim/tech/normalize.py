"""Technology normalisation of *published* figures, for side-by-side tables.

Rule ``stillmaker-baas-2017`` (:func:`ewssim.tech.table.node_factor`: Stillmaker & Baas,
Integration 58, 2017, the factors of reference-data.md section 4, through 40 nm).  A figure
scales with the energy factor ``e`` or the area factor ``a`` of the node change according to its
unit; delay is not scaled (the rule's factors are for energy and area only).
"""

from __future__ import annotations

from ewssim.errors import InputError
from ewssim.tech.table import SCALING_RULE, TO_40NM, node_factor

#: unit -> (which factor, exponent): value_to = value_from * factor ** exponent
UNITS: dict[str, tuple[str, int]] = {
    "energy_pJ": ("energy", 1),        # energy per inference / per action
    "pJ_per_op": ("energy", 1),
    "tops_per_w": ("energy", -1),      # ops per joule: inverse of energy per op
    "area_mm2": ("area", 1),
    "tops_per_mm2": ("area", -1),
}


def normalize(value: float, unit: str, from_node: int, to_node: int) -> tuple[float, float]:
    """(normalised value, factor applied) for ``value`` in ``unit`` from ``from_node`` nm to
    ``to_node`` nm."""
    if unit not in UNITS:
        raise InputError(f"unknown unit {unit!r}", field="--unit", allowed=", ".join(UNITS))
    for fld, node in (("--from-node", from_node), ("--to-node", to_node)):
        if node not in TO_40NM:
            raise InputError(f"unknown node {node} nm", field=fld,
                             allowed=f"{', '.join(str(n) for n in sorted(TO_40NM))} (nm; rule "
                                     f"{SCALING_RULE})")
    e, a = node_factor(from_node, to_node)
    which, exp = UNITS[unit]
    factor = (e if which == "energy" else a) ** exp
    return value * factor, factor


__all__ = ["SCALING_RULE", "UNITS", "normalize"]
