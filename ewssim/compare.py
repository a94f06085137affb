"""`ewssim compare`: architectures x workloads on the same node and memories, one table.

Runs every (architecture, workload) pair through :func:`ewssim.api.simulate` and tabulates
cycles, energy, TOPS/W (dense-equivalent operations), area, DRAM bytes and energy-delay product,
each also relative to the first architecture on the same workload.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ewssim import api
from ewssim.config import ArchConfig

#: JSON key -> (totals key or callable, column label with unit)
METRICS = {
    "total_cycles": "cycles",
    "energy_pJ": "energy [pJ]",
    "tops_per_w": "TOPS/W (dense-equivalent ops)",
    "area_mm2": "area [mm²]",
    "dram_bytes": "DRAM traffic [B]",
    "edp": "EDP [pJ·s]",
}


def _row(arch: ArchConfig, wl: str, tot: dict) -> dict:
    seconds = tot["total_cycles"] / (arch.clock_mhz * 1e6)
    return {"arch": arch.name, "workload": wl, "total_cycles": int(tot["total_cycles"]),
            "energy_pJ": float(tot["energy_pJ"]), "tops_per_w": float(tot["tops_per_w_dense"]),
            "area_mm2": float(tot["area_mm2"]),
            "dram_bytes": int(tot["dram_read_bytes"] + tot["dram_write_bytes"]),
            "edp": float(tot["energy_pJ"]) * seconds}


def compare(archs: list[str | ArchConfig], workloads: list[str], *, weights: str = "synthetic",
            activations: str | None = None, array: str | None = None,
            progress: Callable[[int, int, str], None] | None = None) -> pd.DataFrame:
    """One row per (architecture, workload) with the metrics and ``<metric>_rel`` columns
    (relative to the first architecture on the same workload)."""
    resolved = [api.load_arch(a, array=array) for a in archs]
    if activations is not None:
        resolved = [api.with_activation_profile(a, activations) for a in resolved]
    rows, n, i = [], len(resolved) * len(workloads), 0
    for wl in workloads:
        net = api.resolve_workload(wl)
        for a in resolved:
            rows.append(_row(a, net.name, api.simulate(a, net, weights=weights).totals))
            i += 1
            if progress:
                progress(i, n, f"{a.name} / {net.name}")
    df = pd.DataFrame(rows)
    for key in METRICS:
        first = df.groupby("workload", sort=False)[key].transform("first")
        df[f"{key}_rel"] = df[key] / first
    return df


def write(df: pd.DataFrame, out: str | Path) -> Path:
    """compare.csv, compare.md and compare.png (grouped bars) into ``out``."""
    from ewssim.report.plots import compare_figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "compare.csv", index=False)
    (out / "compare.md").write_text(markdown(df))
    fig = compare_figure(df, METRICS)
    fig.savefig(out / "compare.png", dpi=130)
    return out


def markdown(df: pd.DataFrame) -> str:
    head = ["architecture", "workload", *(f"{lab}" for lab in METRICS.values())]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 2 + "---:|" * len(METRICS)]
    for _, r in df.iterrows():
        cells = [r["arch"], r["workload"]]
        for key in METRICS:
            v, rel = r[key], r[f"{key}_rel"]
            val = f"{v:,.0f}" if key in ("total_cycles", "dram_bytes") else f"{v:.4g}"
            cells.append(f"{val} ({rel:.2f}×)")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n(×: relative to the first architecture on the same " \
        "workload)\n"
