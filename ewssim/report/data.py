"""Reading a run directory (``layers.csv`` + ``summary.json``) and the tables behind each figure.

Everything here is plain pandas; nothing runs the engine.  Bad input is an
:class:`~ewssim.errors.InputError` naming the file and the field.  Energy and area columns are
optional: a run made before (or without) the energy/area model simply has none, and
:attr:`Run.has_energy` / :attr:`Run.has_area` say so.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ewssim.energy.model import LEVEL_LABELS, LEVELS
from ewssim.errors import InputError

#: columns every ``layers.csv`` must have (``ewssim run --out`` always writes them)
REQUIRED_COLUMNS = [
    "layer", "compute_cycles", "stall_cycles", "total_cycles", "macs", "utilization",
    "dram_read_bytes", "dram_write_bytes", "l2_read_bytes", "l2_write_bytes",
]

#: energy components in plotting order: column -> label
ENERGY_COMPONENTS = {
    "energy_mac_pJ": "MAC",
    "energy_rf_pJ": "PE register files",
    "energy_hop_pJ": "array hops",
    "energy_mux_pJ": "sparse-array mux",
    "energy_lzc_pJ": "LZC mask decoder",
    "energy_crf_pJ": "codebook RF (CRF)",
    "energy_l1_pJ": "L1 SRAM",
    "energy_l2_pJ": "L2 SRAM",
    "energy_dram_pJ": "DRAM",
    "energy_leak_pJ": "leakage",
}

#: energy by memory level: label -> component columns (the rest lands in "other"); the
#: grouping is the energy model's own (ewssim.energy.LEVELS)
ENERGY_LEVELS = {LEVEL_LABELS[lv]: [f"energy_{c}_pJ" for c in comps]
                 for lv, comps in LEVELS.items()}
OTHER = "other (energy_pJ minus components)"

#: data access per memory level: (title, [(column, operand)], [(fallback column, operand)])
ACCESS_LEVELS = [
    ("DRAM ↔ L2", [("dram_act_read_bytes", "activations read"),
                   ("dram_weight_read_bytes", "weights read"),
                   ("dram_out_write_bytes", "outputs written")],
     [("dram_read_bytes", "read"), ("dram_write_bytes", "written")]),
    ("L2 ↔ L1", [("l2_act_read_bytes", "activations read"),
                 ("l2_weight_read_bytes", "weights read"),
                 ("l2_psum_read_bytes", "partial sums read"),
                 ("l2_out_write_bytes", "outputs written")],
     [("l2_read_bytes", "read"), ("l2_write_bytes", "written")]),
    ("L1 ↔ array", [("l1_act_read_bytes", "activations read"),
                    ("l1_weight_read_bytes", "weights read"),
                    ("l1_psum_read_bytes", "partial sums read"),
                    ("l1_out_write_bytes", "outputs written")], []),
]

AREA_BLOCKS = ["array", "loader", "crf", "l1", "l2"]
AREA_LABELS = {"array": "PE array", "loader": "weight loader", "crf": "codebook RF (CRF)",
               "l1": "L1 SRAM", "l2": "L2 SRAM", "other": "other (total minus blocks)"}

_ENERGY_RE = re.compile(r"^energy_([A-Za-z0-9]+)_pJ$")
_OPTIONAL_NUMERIC = ["executed_macs", "energy_pJ", "tops_per_w_dense", "tops_per_w_executed",
                     "area_mm2", "tiles", "weight_load_cycles"]


@dataclass
class Run:
    """One run directory, validated."""

    path: Path
    layers: pd.DataFrame
    totals: dict
    arch_toml: str = ""
    area: dict | None = None  #: {"total_mm2": float, "blocks": {name: mm2}} or None
    summary: dict = field(default_factory=dict)

    @property
    def energy_columns(self) -> list[str]:
        """Energy component columns present, known ones first in :data:`ENERGY_COMPONENTS`
        order, then any the model adds later."""
        found = [c for c in self.layers.columns if _ENERGY_RE.match(c)]
        known = [c for c in ENERGY_COMPONENTS if c in found]
        return known + [c for c in found if c not in ENERGY_COMPONENTS]

    @property
    def has_energy(self) -> bool:
        return bool(self.energy_columns) or "energy_pJ" in self.layers.columns

    @property
    def has_area(self) -> bool:
        return self.area is not None

    @property
    def title(self) -> str:
        t = self.totals
        wl, arch = t.get("workload", "?"), t.get("arch", "?")
        arr = f", {t['array']} array" if "array" in t else ""
        return f"{wl} on {arch}{arr}"

    @property
    def network_utilization(self) -> float:
        u = self.totals.get("utilization")
        if isinstance(u, int | float) and not isinstance(u, bool) and math.isfinite(u):
            return float(u)
        df = self.layers
        cyc = df["total_cycles"].sum()
        return float((df["utilization"] * df["total_cycles"]).sum() / cyc) if cyc else 0.0


def _numeric(df: pd.DataFrame, col: str, source: Path) -> None:
    vals = pd.to_numeric(df[col], errors="coerce")
    bad = ~np.isfinite(vals.to_numpy(dtype=float))
    if bad.any():
        i = int(bad.nonzero()[0][0])
        raw = df[col].iloc[i]
        raw = "" if pd.isna(raw) else str(raw)
        raise InputError(f"layer {df['layer'].iloc[i]!r}: not a finite number: {raw!r}",
                         source=str(source), line=i + 2, field=col)
    df[col] = vals


def read_layers(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError("missing file (make a run directory with `ewssim run ... --out DIR`)",
                         source=str(path))
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise InputError("empty file", source=str(path)) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise InputError(f"not a readable CSV: {msg}", source=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", source=str(path)) from None
    for col in REQUIRED_COLUMNS:
        if col not in df.columns:
            raise InputError("missing column", source=str(path), field=col,
                             allowed="a layers.csv written by `ewssim run --out`")
    if df.empty:
        raise InputError("no layers (header only)", source=str(path))
    df["layer"] = df["layer"].astype(str)
    used = REQUIRED_COLUMNS[1:] + [c for lv in ACCESS_LEVELS for c, _ in lv[1] + lv[2]]
    used += [c for c in df.columns if _ENERGY_RE.match(c)] + _OPTIONAL_NUMERIC
    for col in dict.fromkeys(used):
        if col in df.columns:
            _numeric(df, col, path)
    return df


def _area(summary: dict, source: Path) -> dict | None:
    area = summary.get("area")
    if area is None:
        return None
    if not isinstance(area, dict):
        raise InputError("not an object", source=str(source), field="area",
                         allowed='{"total_mm2": number, "blocks": {name: mm2}}')
    blocks = area.get("blocks")
    if not isinstance(blocks, dict) or not blocks:
        raise InputError("missing or not an object", source=str(source), field="area.blocks",
                         allowed=f"{{name: mm2}} for {', '.join(AREA_BLOCKS)}")
    out: dict[str, float] = {}
    for name, v in blocks.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) \
                or v < 0:
            raise InputError(f"not a non-negative number: {v!r}", source=str(source),
                             field=f"area.blocks.{name}")
        out[str(name)] = float(v)
    total = area.get("total_mm2", sum(out.values()))
    if isinstance(total, bool) or not isinstance(total, int | float) or not math.isfinite(total):
        raise InputError(f"not a number: {total!r}", source=str(source), field="area.total_mm2")
    return {"total_mm2": float(total), "blocks": out}


def read_summary(path: Path) -> dict:
    if not path.is_file():
        raise InputError("missing file (make a run directory with `ewssim run ... --out DIR`)",
                         source=str(path))
    try:
        summary = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"bad JSON: {exc.msg}", source=str(path), line=exc.lineno) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", source=str(path)) from None
    if not isinstance(summary, dict):
        raise InputError("not a JSON object", source=str(path))
    if not isinstance(summary.get("totals"), dict):
        raise InputError("missing or not an object", source=str(path), field="totals")
    if "arch_toml" in summary and not isinstance(summary["arch_toml"], str):
        raise InputError("not a string", source=str(path), field="arch_toml")
    return summary


def read_run(run_dir: str | Path) -> Run:
    """Validate and load a run directory written by ``ewssim run --out`` /
    :meth:`ewssim.api.RunResult.write`."""
    p = Path(run_dir)
    if not p.is_dir():
        raise InputError("no such run directory" if not p.exists() else "not a directory",
                         source=str(p))
    layers = read_layers(p / "layers.csv")
    summary = read_summary(p / "summary.json")
    return Run(path=p, layers=layers, totals=summary["totals"],
               arch_toml=summary.get("arch_toml", ""), area=_area(summary, p / "summary.json"),
               summary=summary)


# ---- the tables behind the figures (what is plotted is exactly what is written) ----------

def energy_by_component(run: Run) -> pd.DataFrame:
    """Per-layer energy [pJ], one column per component (+ "other" for any unattributed rest)."""
    df = run.layers
    cols = run.energy_columns
    t = pd.DataFrame({"layer": df["layer"]})
    for c in cols:
        t[c] = df[c]
    if "energy_pJ" in df.columns:
        rest = df["energy_pJ"] - (df[cols].sum(axis=1) if cols else 0.0)
        if (rest.abs() > 1e-6 * df["energy_pJ"].abs().clip(lower=1.0)).any():
            t["energy_other_pJ"] = rest
    return t


def component_label(col: str) -> str:
    if col == "energy_other_pJ":
        return OTHER
    if col in ENERGY_COMPONENTS:
        return ENERGY_COMPONENTS[col]
    m = _ENERGY_RE.match(col)
    return m.group(1) if m else col


def energy_by_level(run: Run) -> pd.DataFrame:
    """Per-layer energy [pJ] grouped by memory level (see :data:`ENERGY_LEVELS`)."""
    comp = energy_by_component(run)
    t = pd.DataFrame({"layer": comp["layer"]})
    used: set[str] = set()
    for level, cols in ENERGY_LEVELS.items():
        have = [c for c in cols if c in comp.columns]
        if have:
            t[f"{level} [pJ]"] = comp[have].sum(axis=1)
            used.update(have)
    rest = [c for c in comp.columns if c != "layer" and c not in used]
    if rest:
        t["other [pJ]"] = comp[rest].sum(axis=1)
    return t


def energy_totals(run: Run) -> pd.DataFrame:
    """Network energy [pJ] per component, with its memory level and share."""
    comp = energy_by_component(run)
    level_of = {c: lv for lv, cols in ENERGY_LEVELS.items() for c in cols}
    rows = []
    for c in comp.columns[1:]:
        rows.append({"component": component_label(c), "column": c,
                     "level": level_of.get(c, "other"), "energy_pJ": float(comp[c].sum())})
    t = pd.DataFrame(rows, columns=["component", "column", "level", "energy_pJ"])
    total = t["energy_pJ"].sum()
    t["share"] = t["energy_pJ"] / total if total else 0.0
    return t


#: stall causes (model-reference §4.5) and their layers.csv columns
STALL_CAUSES = ("dram_bandwidth", "dram_latency", "l2_port", "l1_fill", "loader_crf",
                "dependency")


def cycles(run: Run) -> pd.DataFrame:
    """Per layer: compute, stall and total cycles, and the stall cycles of every cause when
    the run has them (``stall_<cause>_cycles``; runs written before them have the total
    only)."""
    df = run.layers
    cols = ["layer", "compute_cycles", "stall_cycles", "total_cycles"]
    cols += [f"stall_{c}_cycles" for c in STALL_CAUSES if f"stall_{c}_cycles" in df]
    return df[cols].copy()


def access_levels(run: Run) -> list[tuple[str, list[tuple[str, str]]]]:
    """[(level title, [(column, operand)])] for the levels this run has columns for: the
    per-operand columns when all exist, else the read/write totals."""
    cols = set(run.layers.columns)
    out = []
    for title, operands, fallback in ACCESS_LEVELS:
        if all(c in cols for c, _ in operands):
            out.append((title, operands))
        elif fallback and all(c in cols for c, _ in fallback):
            out.append((title, fallback))
        elif any(c in cols for c, _ in operands):
            out.append((title, [(c, o) for c, o in operands if c in cols]))
    return out


def data_access(run: Run) -> pd.DataFrame:
    t = pd.DataFrame({"layer": run.layers["layer"]})
    for _, operands in access_levels(run):
        for c, _ in operands:
            t[c] = run.layers[c]
    return t


def utilization(run: Run) -> pd.DataFrame:
    df = run.layers
    cols = ["layer", "utilization", "macs"] + (["executed_macs"] if "executed_macs" in df else [])
    t = df[cols + ["total_cycles"]].copy()
    t["utilization_percent"] = 100.0 * t["utilization"]
    return t


def area(run: Run) -> pd.DataFrame:
    """Area per block [mm²]; a block "other" takes total_mm2 minus the listed blocks if > 0."""
    a = run.area or {"total_mm2": 0.0, "blocks": {}}
    blocks = dict(a["blocks"])
    rest = a["total_mm2"] - sum(blocks.values())
    if rest > 1e-9 * max(a["total_mm2"], 1.0):
        blocks["other"] = rest
    t = pd.DataFrame({"block": list(blocks),
                      "label": [AREA_LABELS.get(b, b) for b in blocks],
                      "area_mm2": list(blocks.values())})
    total = t["area_mm2"].sum()
    t["share"] = t["area_mm2"] / total if total else 0.0
    return t
