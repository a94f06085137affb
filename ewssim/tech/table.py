"""Technology tables: energy per action, area and leakage of every component the energy and
area models use, each with its unit and source (``ewssim/tech/data/*.toml``).

A table file has a ``[table]`` header (``name``, ``node_nm``, ``source``, optionally ``base``:
the name of a built-in table whose entries this one starts from and overrides) and an
``[entries]`` table.  Every entry is ``{ value, unit, source }`` plus, optionally, ``node_nm``
(the node the number was published at, when it is not the table's: converted on load with the
named scaling rule below), ``bits`` (the operand width the number is for) and ``estimate``
(true for engineering estimates, kept visible).  :data:`REQUIRED` lists the entries the models
need and the unit each must have.  Errors are one-line :class:`~ewssim.errors.InputError`\\ s
naming the entry.

**Node scaling, rule "stillmaker-baas-2017"** (reference-data.md §4: Stillmaker & Baas,
Integration 58, 2017, as evaluated in Accelergy): the reference gives energy and area factors
from 16, 28, 45 and 65 nm to 40 nm.  Scaling from node ``a`` to node ``b`` goes through 40 nm:
``factor(a -> b) = factor(a -> 40) / factor(b -> 40)`` (so 40 -> a is the inverse of a -> 40).
Energies (pJ) and leakage powers (uW, an assumption: leakage scaled like dynamic energy) take the
energy factor, areas (um2) the area factor; sizes (B) and DRAM energy (pJ/bit, an off-chip
device that does not follow the logic node) are not scaled.  Other nodes are rejected.

**SRAM lookup** (:meth:`TechTable.sram_energy`, :meth:`TechTable.sram_area`): the CACTI sweep
gives per-access energies at 64- and 128-bit width and areas at 64-bit width for sizes 1 KiB ..
2 MiB.  Between two table sizes a value is interpolated as a power law (``log value`` linear in
``log size``); beyond the ends the end segment's power law is extended.  Width ``w``: ``w <=
64`` costs a 64-bit access (the macro reads its whole word); ``64 < w <= 128`` is linear in
``w`` between the 64- and 128-bit figures; ``w > 128`` is ``ceil(w / 128)`` 128-bit accesses
(parallel macros).  Area does not depend on the port width (the 64-bit figure).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from ewssim.errors import EwssimError, InputError

DATA = Path(__file__).resolve().parent / "data"
DEFAULT = "40nm"

SCALING_RULE = "stillmaker-baas-2017"
#: node -> (energy factor, area factor) to 40 nm (reference-data.md §4)
TO_40NM: dict[int, tuple[float, float]] = {
    16: (5.01, 4.19), 28: (1.69, 2.41), 40: (1.0, 1.0), 45: (0.869, 0.792), 65: (0.70, 0.53),
}
UNITS = {"pJ": "energy", "uW": "energy", "um2": "area", "B": None, "pJ/bit": None}

#: entries the energy and area models read, with the unit each must have
REQUIRED: dict[str, str] = {
    "mult_energy": "pJ", "mult_area": "um2", "mult_leakage": "uW",
    "add8_energy": "pJ", "add32_energy": "pJ", "add8_area": "um2", "add32_area": "um2",
    "add32_leakage": "uW",
    "reg_bit_energy": "pJ", "reg_bit_area": "um2", "reg_bit_leakage": "uW",
    "mux2_bit_energy": "pJ", "mux2_bit_area": "um2", "mux2_bit_leakage": "uW",
    "lzc32_energy": "pJ", "lzc32_area": "um2", "lzc32_leakage": "uW",
    "dram_lpddr4": "pJ/bit", "dram_ddr3": "pJ/bit", "dram_hbm2": "pJ/bit", "dram_lpddr": "pJ/bit",
    "sram_size": "B", "sram_read64": "pJ", "sram_write64": "pJ", "sram_read128": "pJ",
    "sram_write128": "pJ", "sram_area64": "um2", "sram_leakage_per_kib": "uW",
}
SRAM_COLUMNS = ("sram_read64", "sram_write64", "sram_read128", "sram_write128", "sram_area64")
DRAM_KINDS = {"LPDDR4": "dram_lpddr4", "DDR3": "dram_ddr3", "HBM2": "dram_hbm2",
              "LPDDR": "dram_lpddr"}


@dataclass(frozen=True)
class Entry:
    name: str
    value: float | tuple[float, ...]
    unit: str
    source: str
    bits: int | None = None
    estimate: bool = False


@dataclass(frozen=True)
class TechTable:
    name: str
    node_nm: int
    source: str
    entries: dict[str, Entry] = field(default_factory=dict)

    def __getitem__(self, key: str) -> float:
        try:
            return self.entries[key].value
        except KeyError:
            raise EwssimError(f"technology table {self.name}: no entry {key!r}") from None

    def bits(self, key: str) -> int:
        return self.entries[key].bits or 8

    # ------------------------------------------------------------------ width rules
    def mult(self, what: str, a_bits: int, b_bits: int) -> float:
        """Multiplier energy / area / leakage for ``a x b`` bits: proportional to ``a * b``."""
        e = f"mult_{what}"
        ref = self.bits(e)
        return self[e] * a_bits * b_bits / (ref * ref)

    def adder(self, what: str, bits: int) -> float:
        """Adder energy / area: linear in width through the 8- and 32-bit entries; leakage:
        proportional to width from the 32-bit entry."""
        if what == "leakage":
            return self["add32_leakage"] * bits / 32
        a8, a32 = self[f"add8_{what}"], self[f"add32_{what}"]
        return max(0.0, a8 + (a32 - a8) * (bits - 8) / 24)

    def lzc(self, what: str, bits: int) -> float:
        return self[f"lzc32_{what}"] * bits / 32

    def dram_pj_per_bit(self, kind: str) -> float:
        key = DRAM_KINDS.get(kind)
        if key is None:
            raise InputError(f"unknown DRAM type {kind!r}", field="memory.dram_type",
                             allowed=", ".join(DRAM_KINDS))
        return self[key]

    # ------------------------------------------------------------------ SRAM
    def _sram(self, col: str, size_bytes: float) -> float:
        sizes = self["sram_size"]
        vals = self[col]
        if not size_bytes > 0:
            raise EwssimError(f"technology table {self.name}: no {col} for an SRAM of "
                              f"{size_bytes} B")
        x = math.log(size_bytes)
        i = 0
        while i < len(sizes) - 2 and x > math.log(sizes[i + 1]):
            i += 1
        x0, x1 = math.log(sizes[i]), math.log(sizes[i + 1])
        y0, y1 = math.log(vals[i]), math.log(vals[i + 1])
        return math.exp(y0 + (y1 - y0) * (x - x0) / (x1 - x0))

    def sram_energy(self, kind: str, size_bytes: float, width_bits: int) -> float:
        """pJ per ``width_bits``-bit ``kind`` ("read" / "write") access of a ``size_bytes``
        macro (rule in the module docstring)."""
        e64 = self._sram(f"sram_{kind}64", size_bytes)
        e128 = self._sram(f"sram_{kind}128", size_bytes)
        if width_bits <= 64:
            return e64
        if width_bits <= 128:
            return e64 + (e128 - e64) * (width_bits - 64) / 64
        return math.ceil(width_bits / 128) * e128

    def sram_area(self, size_bytes: float) -> float:
        """um2 of a ``size_bytes`` macro (CACTI area at 64-bit width, power-law interpolated)."""
        return self._sram("sram_area64", size_bytes)

    def sram_leakage(self, size_bytes: float) -> float:
        return self["sram_leakage_per_kib"] * size_bytes / 1024

    def describe(self) -> list[dict]:
        return [{"name": e.name, "value": e.value, "unit": e.unit, "source": e.source,
                 "estimate": e.estimate} for e in self.entries.values()]


# ----------------------------------------------------------------------------- scaling

def _check_node(node, where: str, fld: str) -> int:
    if isinstance(node, bool) or not isinstance(node, int) or node not in TO_40NM:
        raise InputError(f"unknown node {node!r}", source=where, field=fld,
                         allowed=f"{', '.join(str(n) for n in TO_40NM)} (nm; rule "
                                 f"{SCALING_RULE})")
    return node


def node_factor(from_nm: int, to_nm: int) -> tuple[float, float]:
    """(energy factor, area factor) from ``from_nm`` to ``to_nm`` (rule stillmaker-baas-2017:
    through 40 nm)."""
    _check_node(from_nm, "<scale>", "node_nm")
    _check_node(to_nm, "<scale>", "node_nm")
    ea, aa = TO_40NM[from_nm]
    eb, ab = TO_40NM[to_nm]
    return ea / eb, aa / ab


def _scale_value(v, f):
    return tuple(x * f for x in v) if isinstance(v, tuple) else v * f


def _scaled_entry(e: Entry, from_nm: int, to_nm: int) -> Entry:
    if from_nm == to_nm:
        return e
    kind = UNITS[e.unit]
    if kind is None:
        return e
    fe, fa = node_factor(from_nm, to_nm)
    f = fe if kind == "energy" else fa
    return replace(e, value=_scale_value(e.value, f),
                   source=f"{e.source}; x{f:.4g} ({SCALING_RULE} {kind}, {from_nm}->{to_nm} nm)")


def scale(table: TechTable, to_node: int) -> TechTable:
    """``table`` converted to ``to_node`` with the rule ``stillmaker-baas-2017``."""
    to_node = _check_node(to_node, table.name, "node_nm")
    entries = {k: _scaled_entry(e, table.node_nm, to_node) for k, e in table.entries.items()}
    return TechTable(name=f"{table.name}->{to_node}nm" if to_node != table.node_nm else
                     table.name, node_nm=to_node, source=table.source, entries=entries)


# ----------------------------------------------------------------------------- loading

def _entry(name: str, raw, node: int, where: str) -> Entry:
    fld = f"entries.{name}"
    if not isinstance(raw, dict):
        raise InputError("expected a table { value, unit, source }", source=where, field=fld)
    unknown = set(raw) - {"value", "unit", "source", "node_nm", "bits", "estimate"}
    if unknown:
        raise InputError(f"unknown key {sorted(unknown)[0]!r}", source=where, field=fld,
                         allowed="value, unit, source, node_nm, bits, estimate")
    for key in ("value", "unit", "source"):
        if key not in raw:
            raise InputError(f"missing '{key}'", source=where, field=fld)
    unit = raw["unit"]
    if unit not in UNITS:
        raise InputError(f"unknown unit {unit!r}", source=where, field=fld,
                         allowed=", ".join(UNITS))
    want = REQUIRED.get(name)
    if want is not None and unit != want:
        raise InputError(f"unit {unit!r} does not fit this entry", source=where, field=fld,
                         allowed=want)
    if not isinstance(raw["source"], str) or not raw["source"].strip():
        raise InputError("empty source", source=where, field=fld,
                         allowed="where the number comes from")
    v = raw["value"]
    vals = v if isinstance(v, list) else [v]
    if not vals or any(isinstance(x, bool) or not isinstance(x, int | float) for x in vals):
        raise InputError(f"value {v!r} is not a number", source=where, field=fld)
    if any(not math.isfinite(x) or x < 0 for x in vals):
        raise InputError(f"negative or non-finite value {v!r}", source=where, field=fld,
                         allowed="a number >= 0")
    value = tuple(float(x) for x in vals) if isinstance(v, list) else float(v)
    bits = raw.get("bits")
    if bits is not None and (isinstance(bits, bool) or not isinstance(bits, int) or bits < 1):
        raise InputError(f"bits {bits!r} is not a positive integer", source=where, field=fld)
    e = Entry(name=name, value=value, unit=unit, source=raw["source"], bits=bits,
              estimate=bool(raw.get("estimate", False)))
    at = _check_node(raw.get("node_nm", node), where, f"{fld}.node_nm")
    return _scaled_entry(e, at, node)


def _check_table(t: TechTable, where: str) -> None:
    for name in REQUIRED:
        if name not in t.entries:
            raise InputError("missing entry", source=where, field=f"entries.{name}",
                             allowed="every entry of ewssim.tech.table.REQUIRED")
    sizes = t["sram_size"]
    if not isinstance(sizes, tuple) or len(sizes) < 2 or \
            any(b <= a for a, b in zip(sizes, sizes[1:], strict=False)) or sizes[0] <= 0:
        raise InputError("needs at least two increasing positive sizes", source=where,
                         field="entries.sram_size")
    for col in SRAM_COLUMNS:
        v = t[col]
        if not isinstance(v, tuple) or len(v) != len(sizes) or min(v) <= 0:
            raise InputError(f"needs {len(sizes)} positive values, one per sram_size",
                             source=where, field=f"entries.{col}")
    for name in REQUIRED:
        if not name.startswith("sram_") or name == "sram_leakage_per_kib":
            if isinstance(t[name], tuple):
                raise InputError("expected one number, got a list", source=where,
                                 field=f"entries.{name}")


def builtin_names() -> list[str]:
    return sorted(p.stem for p in DATA.glob("*.toml"))


def _read(path: Path, where: str) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise InputError(f"not a readable TOML table: {exc}", source=where) from None


def from_dict(data: dict, where: str = "<tech>") -> TechTable:
    head = data.get("table")
    if not isinstance(head, dict):
        raise InputError("missing [table] header (name, node_nm, source)", source=where,
                         field="table")
    node = _check_node(head.get("node_nm"), where, "table.node_nm")
    entries: dict[str, Entry] = {}
    if "base" in head:
        base = load(head["base"])
        entries.update(scale(base, node).entries)
    raw = data.get("entries")
    if not isinstance(raw, dict):
        raise InputError("missing [entries]", source=where, field="entries")
    for name, r in raw.items():
        entries[name] = _entry(name, r, node, where)
    t = TechTable(name=str(head.get("name", Path(where).stem)), node_nm=node,
                  source=str(head.get("source", "")), entries=entries)
    _check_table(t, where)
    return t


_CACHE: dict[str, TechTable] = {}


def load(spec: str | Path | TechTable | None = None) -> TechTable:
    """A table: ``None`` (the default, 40 nm), a built-in name (``"40nm"``), ``"NNnm"`` (the
    default table scaled to node NN with the named rule) or a TOML file."""
    if isinstance(spec, TechTable):
        return spec
    s = DEFAULT if spec is None else str(spec)
    if s in _CACHE:
        return _CACHE[s]
    path = DATA / f"{s}.toml"
    if path.is_file():
        t = from_dict(_read(path, str(path)), str(path))
    elif Path(s).is_file():
        t = from_dict(_read(Path(s), s), s)
    elif s.endswith("nm") and s[:-2].isdigit():
        t = scale(load(DEFAULT), _check_node(int(s[:-2]), s, "--tech"))
    else:
        raise InputError(f"no technology table or file named {s!r}", field="--tech",
                         allowed=", ".join(builtin_names()) + ", NNnm for "
                         + "/".join(str(n) for n in TO_40NM) + ", or a TOML file")
    _CACHE[s] = t
    return t
