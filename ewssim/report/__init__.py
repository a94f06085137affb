"""``ewssim report``: figures, CSV tables and one HTML page from a run directory.

``make_report(run_dir, out_dir)`` reads ``layers.csv`` and ``summary.json`` (written by
``ewssim run --out`` or :meth:`ewssim.api.RunResult.write`), never runs the engine, and writes
``out_dir/index.html`` with the PNG figures, the CSV behind each figure, copies of the two input
files and a ``report.json`` marker.  Energy and area figures appear only when the run has the
columns (``energy_*_pJ``) or the ``area`` object; otherwise the page says the run has none.

The directory is built under a temporary name next to ``out_dir`` and renamed at the end, so a
failure never leaves a half-written report; an existing ``out_dir`` is replaced only if it is an
earlier report (has ``report.json``) or empty.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from ewssim import __version__
from ewssim.outdir import replacing
from ewssim.report import data, html, plots
from ewssim.report.data import Run, read_run

MARKER = "report.json"


@dataclass(frozen=True)
class FigureSpec:
    name: str  #: file stem: NAME.png and NAME.csv
    section: str  #: anchor of the section it belongs to
    heading: str
    caption: str
    plot: Callable[[Run], Figure]
    table: Callable[[Run], pd.DataFrame]
    needs: str = ""  #: "", "energy" or "area"


FIGURES = [
    FigureSpec("cycles", "cycles", "Cycles per layer",
               "Each bar is one layer's latency: the array's compute cycles with ideal memory, "
               "plus the stall cycles spent waiting for memory (DRAM/L2 bandwidth).",
               plots.cycles, data.cycles),
    FigureSpec("utilization", "cycles", "PE utilization per layer",
               "Executed MACs / (total cycles × physical PEs) per layer; the dashed line is the "
               "whole network's.", plots.utilization, data.utilization),
    FigureSpec("data_access", "access", "Data access per memory level",
               "Bytes moved per layer between DRAM and L2, L2 and L1, L1 and the array, "
               "stacked by operand (activations, weights, partial sums, outputs) where the run "
               "has those columns; each panel has its own scale.",
               plots.data_access, data.data_access),
    FigureSpec("energy_by_component", "energy", "Energy per layer by component",
               "Each layer's energy split into the energy model's components (MAC, register "
               "files, hops, mux, LZC, CRF, L1, L2, DRAM, leakage).",
               plots.energy_by_component, data.energy_by_component, "energy"),
    FigureSpec("energy_by_level", "energy", "Energy per layer by memory level",
               "The same energy grouped by where it is spent: DRAM, L2, L1, the register files "
               "(PE RFs and the codebook RF), logic (MACs, hops, mux, LZC) and leakage.",
               plots.energy_by_level, data.energy_by_level, "energy"),
    FigureSpec("energy_totals", "energy", "Network energy",
               "The whole network's energy per component and per memory level, with shares.",
               plots.energy_totals, data.energy_totals, "energy"),
    FigureSpec("area", "area", "Area by block",
               "Silicon area of each block (array, weight loader, CRF, L1, L2) from summary.json.",
               plots.area, data.area, "area"),
]

SECTIONS = [("cycles", "Cycles, stalls and utilization"), ("access", "Data access"),
            ("energy", "Energy"), ("area", "Area")]

MISSING = {
    "energy": "This run has no energy data (layers.csv has no energy_pJ or energy_*_pJ "
              "columns), so the energy figures are omitted.",
    "area": "This run has no area data (summary.json has no \"area\" object), so the area "
            "figure is omitted.",
}


def _has(run: Run, needs: str) -> bool:
    return {"": True, "energy": run.has_energy, "area": run.has_area}[needs]


def build_figures(run: Run) -> dict[str, tuple[Figure, pd.DataFrame]]:
    """{name: (figure, the table it plots)} for every figure this run has data for."""
    return {s.name: (s.plot(run), s.table(run)) for s in FIGURES if _has(run, s.needs)}


def is_report_dir(path: Path) -> bool:
    try:
        marker = json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and "ewssim_report" in marker


def _write(run: Run, tmp: Path, out: Path) -> None:
    figs = build_figures(run)
    for name, (fig, table) in figs.items():
        plots.save(fig, tmp / f"{name}.png")
        table.to_csv(tmp / f"{name}.csv", index=False)
    shutil.copyfile(run.path / "layers.csv", tmp / "layers.csv")
    shutil.copyfile(run.path / "summary.json", tmp / "summary.json")
    sections = []
    for anchor, heading in SECTIONS:
        specs = [s for s in FIGURES if s.section == anchor]
        entries = [html.FigureEntry(s.name, s.heading, s.caption, f"{s.name}.png",
                                    f"{s.name}.csv") for s in specs if s.name in figs]
        missing = {MISSING[s.needs] for s in specs if s.needs and s.name not in figs}
        sections.append(html.Section(anchor, heading, entries, " ".join(sorted(missing))))
    area_table = figs["area"][1] if "area" in figs else None
    (tmp / "index.html").write_text(html.render(run, sections, area_table=area_table),
                                    encoding="utf-8")
    (tmp / MARKER).write_text(json.dumps({
        "ewssim_report": 1, "ewssim_version": __version__,
        # relative to the report, so a report is the same wherever it was made
        "run_dir": os.path.relpath(run.path.absolute(), out.absolute()), "figures": list(figs),
        "has_energy": run.has_energy, "has_area": run.has_area}, indent=1) + "\n")


def make_report(run_dir: str | Path, out_dir: str | Path) -> Path:
    """Write the report of ``run_dir`` into ``out_dir``; returns ``out_dir/index.html``."""
    run = read_run(run_dir)
    out = Path(out_dir)
    with replacing(out, is_report_dir, "an ewssim report (no report.json)") as tmp:
        _write(run, tmp, out)
    return out / "index.html"


__all__ = ["FIGURES", "Run", "build_figures", "make_report", "read_run"]
