"""A sweep's results as a report page: Pareto fronts and heat maps (`ewssim report DB.sqlite`).

Reads the SQLite results only (never simulates).  For every workload: the Pareto front of
energy against area and of energy against latency, and heat maps of energy and latency over
the first two axes that vary; the data behind each figure is written as CSV beside it.
"""

from __future__ import annotations

import html
from pathlib import Path

from ewssim.errors import InputError
from ewssim.outdir import replacing
from ewssim.sweep.pareto import front, heatmap_table, varying_axes
from ewssim.sweep.plots import heatmap_plot, label, pareto_plot
from ewssim.sweep.store import read_meta, read_results

MARKER = "sweep_report.txt"
FRONTS = [("area_mm2", "energy_pJ"), ("total_cycles", "energy_pJ")]
HEAT_VALUES = ["energy_pJ", "total_cycles"]


def _is_ours(out: Path) -> bool:
    return (out / MARKER).is_file()


def make_sweep_report(db: str | Path, out: str | Path) -> Path:
    """Write ``out/index.html`` (+ PNG and CSV per figure) for the results in ``db``."""
    meta = read_meta(db)
    df = read_results(db)
    if df.empty:
        raise InputError("holds no finished points", source=str(db), field="results",
                         allowed="a sweep with at least one point done")
    out = Path(out)
    with replacing(out, _is_ours, "an ewssim sweep report") as tmp:
        sections = []
        axes = varying_axes(df)
        for wl in sorted(df["workload"].unique()):
            sub = df[df["workload"] == wl]
            items = []
            for x, y in FRONTS:
                if x not in sub or y not in sub:
                    continue
                f = front(sub, [x, y])
                name = f"pareto_{wl}_{y}_vs_{x}"
                pareto_plot(sub, f, x, y, tmp / f"{name}.png",
                            title=f"{wl}: {label(y)} vs {label(x)}, Pareto front")
                f.to_csv(tmp / f"{name}.csv", index=False)
                items.append((name, f"Pareto front of {label(y)} vs {label(x)} "
                                    f"({len(f)} of {len(sub)} points)"))
            if len(axes) >= 2:
                k1, k2 = axes[:2]
                for value in HEAT_VALUES:
                    t = heatmap_table(sub, k1, k2, value, "min", workload=wl)
                    name = f"heatmap_{wl}_{value}"
                    heatmap_plot(t, k1, k2, value, tmp / f"{name}.png",
                                 title=f"{wl}: minimum {label(value)}")
                    t.to_csv(tmp / f"{name}.csv")
                    items.append((name, f"{label(value)} over {k1} × {k2} (minimum over "
                                        f"the other axes)"))
            sections.append((wl, len(sub), items))
        (tmp / "index.html").write_text(_page(str(db), meta, df, axes, sections))
        (tmp / MARKER).write_text("ewssim sweep report\n")
    return out / "index.html"


def _page(db: str, meta: dict, df, axes: list[str], sections) -> str:
    parts = [f"<h1>Sweep results: {html.escape(Path(db).name)}</h1>",
             f"<p>{len(df)} finished points; axes that vary: "
             f"{html.escape(', '.join(axes) or 'none')}.</p>"]
    for wl, n, items in sections:
        parts.append(f"<h2>{html.escape(wl)} ({n} points)</h2>")
        for name, caption in items:
            parts.append(f'<figure><img src="{name}.png" alt="{html.escape(caption)}">'
                         f'<figcaption>{html.escape(caption)} — <a href="{name}.csv">data '
                         f"(CSV)</a></figcaption></figure>")
    style = ("body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
             "img{max-width:100%}")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Sweep '
            f"{html.escape(Path(db).name)}</title><style>{style}</style></head><body>"
            + "".join(parts) + "</body></html>\n")
