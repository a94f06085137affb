"""The report page: one self-contained HTML file (inline CSS, no JavaScript, no external URLs).

Images and CSV files are referenced by relative path inside the report directory.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import pandas as pd

from ewssim import __version__
from ewssim.report import plots
from ewssim.report.data import Run


@dataclass
class FigureEntry:
    """A figure as the page shows it: ``anchor.png`` and the table behind it ``anchor.csv``."""

    anchor: str
    heading: str
    caption: str
    png: str
    csv: str


@dataclass
class Section:
    """A heading with figures, or with a sentence saying why there are none."""

    anchor: str
    heading: str
    figures: list[FigureEntry]
    missing: str = ""


CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
       margin: 0 auto; max-width: 1180px; padding: 1.2em 1.6em 3em; color: #1d1d1f;
       line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.1em; }
h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
h3 { font-size: 1.05em; margin-bottom: 0.3em; }
.sub { color: #555; margin-top: 0; }
nav ul { padding-left: 1.2em; columns: 2; }
.cards { display: flex; flex-wrap: wrap; gap: 0.8em; margin: 1em 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.5em 0.9em; min-width: 9em;
        background: #fafafa; }
.card .v { font-size: 1.25em; font-weight: 600; }
.card .k { font-size: 0.85em; color: #555; }
table { border-collapse: collapse; font-size: 0.88em; margin: 0.5em 0 1em; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #e5e5e5; text-align: left;
         vertical-align: top; }
th { background: #f0f0f0; position: sticky; top: 0; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.n { white-space: nowrap; }
tr:nth-child(even) td { background: #fbfbfb; }
ul.notes { font-size: 0.88em; color: #444; }
.wide { overflow-x: auto; }
.cols { display: flex; flex-wrap: wrap; gap: 0 2.5em; align-items: flex-start; }
figure { margin: 0.6em 0 1.6em; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; }
p.missing { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.5em 0.8em; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
footer { margin-top: 3em; font-size: 0.8em; color: #777; }
"""

_COUNT_KEYS = {"layers", "tiles", "crf_reads", "lzc_decodes", "wrf_writes", "wrf_reads",
               "arf_writes", "arf_reads", "act_hops", "psum_hops", "prf_accesses",
               "mux_selects"}


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def unit_of(key: str) -> str:
    """The unit a ``layers.csv`` / totals key is in (its name says so)."""
    if key.endswith("_cycles"):
        return "cycles"
    if key.endswith("_bytes"):
        return "B"
    if key.endswith("_pJ"):
        return "pJ"
    if key.endswith("_mm2"):
        return "mm²"
    if key.endswith("_ms"):
        return "ms"
    if key.startswith("tops_per_w"):
        return "TOPS/W"
    if key == "utilization":
        return "% of PE-cycles"
    if key.endswith("macs"):
        return "MACs"
    if key in _COUNT_KEYS:
        return "count"
    return ""


def fmt(v, key: str = "") -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int | float):
        if isinstance(v, float) and not math.isfinite(v):
            return str(v)
        if key == "utilization":
            return f"{100 * v:.2f}"
        if isinstance(v, int) or (float(v).is_integer() and abs(v) >= 1000):
            return f"{int(v):,}"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.4g}"
    return str(v)


def _energy_total_pj(run: Run) -> float | None:
    t = run.totals.get("energy_pJ")
    if isinstance(t, int | float) and not isinstance(t, bool):
        return float(t)
    if "energy_pJ" in run.layers:
        return float(run.layers["energy_pJ"].sum())
    cols = run.energy_columns
    return float(run.layers[cols].to_numpy().sum()) if cols else None


def _cards(run: Run) -> str:
    t = run.totals
    cards: list[tuple[str, str]] = []
    if isinstance(t.get("runtime_ms"), int | float):
        cards.append((f"{t['runtime_ms']:.4g} ms", "runtime"))
    cyc = t.get("total_cycles", run.layers["total_cycles"].sum())
    cards.append((f"{int(cyc):,}", "total cycles"))
    st = t.get("stall_cycles", run.layers["stall_cycles"].sum())
    if cyc:
        cards.append((f"{100 * st / cyc:.1f} %", "of cycles stalled on memory"))
    cards.append((f"{100 * run.network_utilization:.1f} %", "PE utilization"))
    e = _energy_total_pj(run)
    if e is not None:
        div, unit = plots.scale(e, "pJ")
        cards.append((f"{e / div:.4g} {unit}", "energy"))
    for key, label in (("tops_per_w_executed", "TOPS/W (executed MACs)"),
                       ("tops_per_w_dense", "TOPS/W (dense MACs)")):
        if isinstance(t.get(key), int | float):
            cards.append((f"{t[key]:.3g}", label))
    if run.area is not None:
        cards.append((f"{run.area['total_mm2']:.4g} mm²", "area"))
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="v">{_e(v)}</div><div class="k">{_e(k)}</div></div>'
        for v, k in cards) + "</div>"


def _totals_table(run: Run) -> str:
    rows = []
    for key, v in run.totals.items():
        if isinstance(v, dict | list):
            continue
        u = unit_of(key)
        num = isinstance(v, int | float) and not isinstance(v, bool)
        rows.append(f"<tr><td><code>{_e(key)}</code></td>"
                    f"<td class=\"{'n' if num else ''}\">{_e(fmt(v, key))}</td>"
                    f"<td>{_e(u)}</td></tr>")
    head = ("<table><thead><tr><th>quantity</th><th class=\"n\">value</th><th>unit</th></tr>"
            "</thead><tbody>")
    half = (len(rows) + 1) // 2 if len(rows) > 12 else len(rows)
    return ('<div class="cols">' + "".join(
        head + "".join(rows[i:i + half]) + "</tbody></table>"
        for i in range(0, len(rows), max(half, 1))) + "</div>")


def _layer_columns(run: Run) -> list[tuple[str, str, object]]:
    """[(header with unit, column or None, formatter(row) -> str)] for the per-layer table."""
    df = run.layers
    cols: list[tuple[str, str, object]] = [("layer", "layer", None)]
    if "type" in df:
        cols.append(("type", "type", None))
    cols += [("MACs", "macs", None), ("total [cycles]", "total_cycles", None),
             ("stall [cycles]", "stall_cycles", None),
             ("utilization [%]", "utilization", lambda v: f"{100 * v:.1f}")]
    for lv in ("dram", "l2"):
        name = lv.upper()
        cols.append((f"{name} [B]", f"{lv}_total", None))
    l1 = [c for c in ("l1_act_read_bytes", "l1_weight_read_bytes", "l1_psum_read_bytes",
                      "l1_out_write_bytes") if c in df]
    if l1:
        cols.append(("L1 [B]", "l1_total", None))
    e_total = "energy_pJ" if "energy_pJ" in df else ("energy_sum" if run.energy_columns
                                                    else None)
    if e_total:
        e = df["energy_pJ"] if e_total == "energy_pJ" else df[run.energy_columns].sum(axis=1)
        div, unit = plots.scale(float(e.max()), "pJ")
        cols.append((f"energy [{unit}]", e_total, lambda v: f"{v / div:,.4g}"))
    if "tops_per_w_executed" in df:
        cols.append(("TOPS/W (executed MACs)", "tops_per_w_executed", lambda v: f"{v:.3g}"))
    return cols


def _layer_table(run: Run) -> str:
    df = run.layers.copy()
    df["dram_total"] = df["dram_read_bytes"] + df["dram_write_bytes"]
    df["l2_total"] = df["l2_read_bytes"] + df["l2_write_bytes"]
    l1 = [c for c in ("l1_act_read_bytes", "l1_weight_read_bytes", "l1_psum_read_bytes",
                      "l1_out_write_bytes") if c in df]
    if l1:
        df["l1_total"] = df[l1].sum(axis=1)
    if run.energy_columns:
        df["energy_sum"] = df[run.energy_columns].sum(axis=1)
    cols = _layer_columns(run)
    head = "".join(f'<th class="{"" if c in ("layer", "type") else "n"}">{_e(h)}</th>'
                   for h, c, _ in cols)
    body = []
    for _, r in df.iterrows():
        cells = []
        for _h, c, f in cols:
            v = r[c]
            if c in ("layer", "type"):
                cells.append(f"<td>{_e(v)}</td>")
            else:
                cells.append(f'<td class="n">{_e(f(v) if f else fmt(_py(v)))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    out = (f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>'
           + "".join(body) + "</tbody></table></div>")
    if "notes" in df:
        notes = [(r["layer"], r["notes"]) for _, r in df.iterrows()
                 if isinstance(r["notes"], str) and r["notes"].strip()]
        if notes:
            out += ("<h3>Mapping notes</h3><ul class=\"notes\">" + "".join(
                f"<li><code>{_e(la)}</code>: {_e(n)}</li>" for la, n in notes) + "</ul>")
    return out


def _py(v):
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _area_table(run: Run, table: pd.DataFrame) -> str:
    rows = "".join(f"<tr><td>{_e(b)}</td><td class=\"n\">{a:.4g}</td>"
                   f"<td class=\"n\">{plots.pct(s).removesuffix(' %')}</td></tr>"
                   for b, a, s in zip(table["label"], table["area_mm2"], table["share"],
                                      strict=True))
    return ("<table><thead><tr><th>block</th><th class=\"n\">area [mm²]</th>"
            "<th class=\"n\">share [%]</th></tr></thead><tbody>" + rows
            + f"<tr><td><b>total</b></td><td class=\"n\"><b>{run.area['total_mm2']:.4g}</b>"
            "</td><td></td></tr></tbody></table>")


def render(run: Run, sections: list[Section], *, area_table: pd.DataFrame | None = None
           ) -> str:
    """The whole page as a string."""
    nav = "".join(f'<li><a href="#{_e(s.anchor)}">{_e(s.heading)}</a></li>' for s in sections)
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>ewssim report: {_e(run.title)}</title>", f"<style>{CSS}</style></head><body>",
        f"<h1>ewssim report: {_e(run.title)}</h1>",
        f'<p class="sub">{len(run.layers)} layers · run directory <code>{_e(run.path.name)}</code> '
        '· data: <a href="layers.csv">layers.csv</a>, <a href="summary.json">summary.json</a>'
        "</p>",
        _cards(run),
        "<nav><ul>" + nav + '<li><a href="#totals">Totals</a></li>'
        '<li><a href="#layers">Per-layer results</a></li>'
        + ('<li><a href="#arch">Architecture</a></li>' if run.arch_toml else "")
        + "</ul></nav>",
    ]
    for s in sections:
        parts.append(f'<h2 id="{_e(s.anchor)}">{_e(s.heading)}</h2>')
        if s.missing:
            parts.append(f'<p class="missing">{_e(s.missing)}</p>')
        for f in s.figures:
            parts.append(
                f'<figure id="{_e(f.anchor)}"><h3>{_e(f.heading)}</h3>'
                f'<img src="{_e(f.png)}" alt="{_e(f.heading)}">'
                f'<figcaption>{_e(f.caption)} Data: <a href="{_e(f.csv)}">{_e(f.csv)}</a>.'
                "</figcaption></figure>")
        if s.anchor == "area" and area_table is not None and run.area is not None:
            parts.append(_area_table(run, area_table))
    parts += [
        '<h2 id="totals">Totals</h2>',
        "<p>Network totals from <code>summary.json</code>; the unit of each quantity is in its "
        "name (<code>*_cycles</code> clock cycles, <code>*_bytes</code> bytes, "
        "<code>*_pJ</code> picojoules, <code>*_mm2</code> mm²); utilization is shown in %.</p>",
        _totals_table(run),
        '<h2 id="layers">Per-layer results</h2>',
        "<p>DRAM, L2 and L1 are bytes moved (reads + writes) at that level; every column of "
        'every layer is in <a href="layers.csv">layers.csv</a>.</p>',
        _layer_table(run),
    ]
    if run.arch_toml:
        parts += ['<h2 id="arch">Architecture</h2>',
                  "<p>The configuration this run used (<code>ewssim run --arch FILE</code> "
                  "takes it back).</p>",
                  f"<details><summary>TOML</summary><pre>{_e(run.arch_toml)}</pre></details>"]
    parts.append(f"<footer>Made by ewssim {_e(__version__)} <code>ewssim report</code> "
                 "from the run directory above; it reads results only.</footer></body></html>")
    return "\n".join(parts) + "\n"
