"""One function per report figure: ``fn(run) -> matplotlib.figure.Figure``.

Figures are built on :class:`~matplotlib.figure.Figure` with the Agg canvas directly (no pyplot,
no global backend switch), so they render the same headless and in a notebook.  Per-layer
figures use horizontal bars with the layers top-down in execution order: the height grows with
the number of layers so 74 names (DeiT-tiny) stay readable.  Every axis label carries its unit
in brackets or parentheses; :func:`label_problems` checks that.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from ewssim.report import data
from ewssim.report.data import Run

DPI = 130
WIDTH_IN = 11.0
LAYER_AXIS = "layer (execution order)"

_PREFIX = {
    "pJ": [(1e12, "J"), (1e9, "mJ"), (1e6, "µJ"), (1e3, "nJ"), (1.0, "pJ")],
    "B": [(1e9, "GB"), (1e6, "MB"), (1e3, "kB"), (1.0, "B")],
    "cycles": [(1e9, "G cycles"), (1e6, "M cycles"), (1e3, "k cycles"), (1.0, "cycles")],
}

# operand colours shared by every data-access panel
_OPERAND_COLOURS = {
    "activations read": "#4C72B0", "weights read": "#DD8452", "partial sums read": "#55A868",
    "outputs written": "#C44E52", "read": "#8172B3", "written": "#937860",
}
_LEVEL_COLOURS = ["#4C72B0", "#DD8452", "#55A868", "#8172B3", "#C44E52", "#937860", "#8C8C8C"]


def scale(max_value: float, unit: str) -> tuple[float, str]:
    """(divisor, unit label) so that the largest value reads between 1 and 1000."""
    for div, label in _PREFIX[unit]:
        if max_value >= div:
            return div, label
    return _PREFIX[unit][-1]


def _figure(height_in: float, width_in: float = WIDTH_IN) -> Figure:
    fig = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _layer_height(n: int) -> float:
    """Figure height [in] for ``n`` layer rows: ~0.2 in per row, at least 3.5 in."""
    return max(3.5, 1.6 + 0.2 * n)


def _layer_axis(ax, layers: Sequence[str]) -> None:
    n = len(layers)
    ax.set_yticks(np.arange(n), labels=list(layers), fontsize=9 if n <= 30 else 8)
    ax.set_ylim(n - 0.5, -0.5)  # first layer on top
    ax.set_ylabel(LAYER_AXIS)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)


def _stacked(ax, series: list[tuple[str, np.ndarray, str | None]]) -> None:
    """Horizontal stacked bars: series = [(label, values, colour)] in stacking order."""
    if not series:
        return
    left = np.zeros(len(series[0][1]))
    for label, vals, colour in series:
        ax.barh(np.arange(len(vals)), vals, left=left, height=0.75, label=label, color=colour)
        left = left + vals
    # zero-width bars leave sticky edges at the end of the stack: set the range explicitly
    top = float(left.max(initial=0.0))
    ax.set_xlim(0, top * 1.04 if top > 0 else 1.0)


def _legend(fig: Figure, ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right upper", fontsize=9, frameon=False)


def _energy_per_layer(run: Run, table, title: str, colours) -> Figure:
    layers = table["layer"].tolist()
    cols = [c for c in table.columns if c != "layer"]
    vals = table[cols].to_numpy(dtype=float)
    div, unit = scale(float(np.clip(vals, 0, None).sum(axis=1).max(initial=0.0)), "pJ")
    fig = _figure(_layer_height(len(layers)))
    ax = fig.add_subplot()
    _stacked(ax, [(lab, vals[:, i] / div, colours[i % len(colours)] if colours else None)
                  for i, lab in enumerate(labels_of(cols))])
    _layer_axis(ax, layers)
    ax.set_xlabel(f"energy [{unit}]")
    ax.set_title(f"{title} — {run.title}")
    _legend(fig, ax)
    return fig


def labels_of(cols: list[str]) -> list[str]:
    return [data.component_label(c) if c.startswith("energy_")
            else re.sub(r" \[pJ\]$", "", c) for c in cols]


def energy_by_component(run: Run) -> Figure:
    """Per-layer energy, stacked by model component (MAC, RF, hops, ..., DRAM, leakage)."""
    import matplotlib as mpl

    cmap = mpl.colormaps["tab10"]
    colours = [cmap(i) for i in range(10)] + ["#BBBBBB", "#444444"]
    return _energy_per_layer(run, data.energy_by_component(run),
                             "Energy per layer by component", colours)


def energy_by_level(run: Run) -> Figure:
    """Per-layer energy, stacked by memory level (DRAM, L2, L1, register files, logic)."""
    return _energy_per_layer(run, data.energy_by_level(run),
                             "Energy per layer by memory level", _LEVEL_COLOURS)


def energy_totals(run: Run) -> Figure:
    """Network energy: one bar per component (left) and per memory level (right)."""
    t = data.energy_totals(run)
    by_level = t.groupby("level", sort=False)["energy_pJ"].sum()
    order = [lv for lv in [*data.ENERGY_LEVELS, "other"] if lv in by_level.index]
    by_level = by_level.reindex(order)
    total = float(t["energy_pJ"].sum())
    div, unit = scale(float(np.max(np.r_[t["energy_pJ"].to_numpy(dtype=float),
                                          by_level.to_numpy(dtype=float), 0.0])), "pJ")
    fig = _figure(max(3.8, 1.5 + 0.32 * len(t)), 12.0)
    a1, a2 = fig.subplots(1, 2, width_ratios=[1, 1])
    for ax, labels, vals, ylab, colours in (
            (a1, t["component"].tolist(), t["energy_pJ"].to_numpy(), "component (energy model)",
             None),
            (a2, list(by_level.index), by_level.to_numpy(), "memory level (or logic)",
             _LEVEL_COLOURS)):
        y = np.arange(len(labels))
        ax.barh(y, vals / div, color=colours[: len(labels)] if colours else "#4C72B0",
                height=0.7)
        ax.set_yticks(y, labels=labels, fontsize=9)
        ax.set_ylim(len(labels) - 0.5, -0.5)
        ax.set_xlabel(f"energy [{unit}]")
        ax.set_ylabel(ylab)
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
        xmax = float(np.max(vals / div, initial=0.0))
        ax.set_xlim(0, xmax * 1.28 if xmax > 0 else 1)
        for yi, v in zip(y, vals, strict=True):
            share = f" ({pct(v / total)})" if total else ""
            ax.text(v / div, yi, f" {v / div:.3g}{share}", va="center", fontsize=8)
    a1.set_title("by component")
    a2.set_title("by memory level")
    fig.suptitle(f"Network energy {total / div:.4g} {unit} — {run.title}")
    return fig


_STALL_COLOURS = {"dram_bandwidth": "#DD8452", "dram_latency": "#C44E52",
                  "l2_port": "#8172B3", "l1_fill": "#937860", "loader_crf": "#DA8BC3",
                  "dependency": "#8C8C8C"}


def cycles(run: Run) -> Figure:
    """Per-layer cycles: compute + the stall cycles of every cause (model-reference §4.5),
    stacked; runs without the per-cause columns show one stall bar."""
    t = data.cycles(run)
    layers = t["layer"].tolist()
    comp = t["compute_cycles"].to_numpy(dtype=float)
    stall = t["stall_cycles"].to_numpy(dtype=float)
    div, unit = scale(float((comp + stall).max(initial=0.0)), "cycles")
    fig = _figure(_layer_height(len(layers)))
    ax = fig.add_subplot()
    series = [("compute", comp / div, "#4C72B0")]
    by_cause = [c for c in data.STALL_CAUSES if f"stall_{c}_cycles" in t]
    if by_cause:
        for c in by_cause:
            vals = t[f"stall_{c}_cycles"].to_numpy(dtype=float)
            if vals.any():
                series.append((f"stall: {c.replace('_', ' ')}", vals / div,
                               _STALL_COLOURS[c]))
    else:
        series.append(("stall (waiting for memory)", stall / div, "#DD8452"))
    _stacked(ax, series)
    _layer_axis(ax, layers)
    ax.set_xlabel(f"latency [{unit}]")
    tot_c, tot_s = comp.sum(), stall.sum()
    share = f"; stalls {100 * tot_s / (tot_c + tot_s):.1f} % of cycles" if tot_c + tot_s else ""
    ax.set_title(f"Cycles per layer — {run.title}{share}")
    _legend(fig, ax)
    return fig


def data_access(run: Run) -> Figure:
    """Bytes moved per layer at each memory level, stacked by operand where the run has the
    per-operand columns (one panel per level, each with its own scale)."""
    levels = data.access_levels(run)
    layers = run.layers["layer"].tolist()
    fig = _figure(_layer_height(len(layers)), 14.0)
    axes = fig.subplots(1, max(len(levels), 1), sharey=True, squeeze=False)[0]
    seen: dict[str, object] = {}
    for i, (ax, (title, operands)) in enumerate(zip(axes, levels, strict=False)):
        vals = np.column_stack([run.layers[c].to_numpy(dtype=float) for c, _ in operands])
        div, unit = scale(float(vals.sum(axis=1).max(initial=0.0)), "B")
        _stacked(ax, [(op, vals[:, j] / div, _OPERAND_COLOURS.get(op))
                      for j, (_, op) in enumerate(operands)])
        _layer_axis(ax, layers)
        if i:  # the shared layer axis is labelled once, on the first panel
            ax.set_ylabel("")
            ax.tick_params(axis="y", labelleft=False)
        ax.set_xlabel(f"data moved [{unit}]")
        total = vals.sum() / div
        ax.set_title(f"{title}: {total:.4g} {unit}", fontsize=10)
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(lab, h)
    if seen:
        order = [op for op in _OPERAND_COLOURS if op in seen] + \
            [op for op in seen if op not in _OPERAND_COLOURS]
        fig.legend([seen[op] for op in order], order, loc="outside lower center",
                   ncol=min(len(seen), 6), fontsize=9, frameon=False)
    fig.suptitle(f"Data access per memory level — {run.title}")
    return fig


def utilization(run: Run) -> Figure:
    """Per-layer PE utilization (executed MACs / (cycles × physical PEs)) with the network's."""
    t = data.utilization(run)
    layers = t["layer"].tolist()
    u = t["utilization_percent"].to_numpy(dtype=float)
    net = 100.0 * run.network_utilization
    fig = _figure(_layer_height(len(layers)))
    ax = fig.add_subplot()
    ax.barh(np.arange(len(u)), u, height=0.75, color="#55A868", label="per layer")
    ax.axvline(net, color="#C44E52", linestyle="--", linewidth=1.5,
               label=f"network: {net:.1f} %")
    _layer_axis(ax, layers)
    ax.set_xlim(0, max(100.0, float(u.max(initial=0.0)) * 1.05))
    ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_xlabel("utilization [% of PE-cycles]")
    ax.set_title(f"PE utilization per layer — {run.title}")
    _legend(fig, ax)
    return fig


def area(run: Run) -> Figure:
    """Area per block (array, loader, CRF, L1, L2) in mm²."""
    t = data.area(run)
    total = float(t["area_mm2"].sum())
    fig = _figure(max(3.0, 1.4 + 0.4 * len(t)), 9.0)
    ax = fig.add_subplot()
    y = np.arange(len(t))
    ax.barh(y, t["area_mm2"], height=0.65, color=_LEVEL_COLOURS[: len(t)])
    ax.set_yticks(y, labels=t["label"].tolist())
    ax.set_ylim(len(t) - 0.5, -0.5)
    xmax = float(t["area_mm2"].max()) if len(t) else 0.0
    ax.set_xlim(0, xmax * 1.3 if xmax > 0 else 1)
    for yi, v, s in zip(y, t["area_mm2"], t["share"], strict=True):
        ax.text(v, yi, f" {v:.3g} mm² ({pct(s)})", va="center", fontsize=9)
    ax.set_xlabel("area [mm²]")
    ax.set_ylabel("block (accelerator unit)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_title(f"Area by block: {total:.4g} mm² — {run.title}")
    return fig


def pct(share: float) -> str:
    """A share as a percentage, "<0.1 %" for tiny non-zero ones."""
    return "<0.1 %" if 0 < share < 0.001 else f"{100 * share:.1f} %"


_UNIT = re.compile(r"(\[[^\]]+\]|\([^)]+\))")


def label_problems(fig: Figure) -> list[str]:
    """Axes of ``fig`` with data whose x or y label is empty or has no unit in [] or ().  A
    shared axis counts as labelled when one of the axes sharing it is."""
    problems = []
    for i, ax in enumerate(fig.axes):
        if not ax.has_data():
            continue
        ylabel = ax.get_ylabel() or next(
            (s.get_ylabel() for s in ax.get_shared_y_axes().get_siblings(ax) if s.get_ylabel()),
            "")
        for name, text in (("x", ax.get_xlabel()), ("y", ylabel)):
            if not text.strip():
                problems.append(f"axes {i} ({ax.get_title()!r}): empty {name} label")
            elif not _UNIT.search(text):
                problems.append(f"axes {i} ({ax.get_title()!r}): {name} label {text!r} "
                                f"has no unit in [] or ()")
        if not (ax.get_title() or fig.get_suptitle()):
            problems.append(f"axes {i}: no title")
    return problems


def save(fig: Figure, path) -> None:
    fig.savefig(path, dpi=DPI, facecolor="white")


def compare_figure(df, metrics: dict[str, str]) -> Figure:
    """Grouped bars: one panel per metric, workloads on the x axis, one bar per architecture,
    values relative to the first architecture on each workload (``<metric>_rel`` columns)."""
    archs = list(dict.fromkeys(df["arch"]))
    workloads = list(dict.fromkeys(df["workload"]))
    keys = list(metrics)
    cols = 3
    rows_n = -(-len(keys) // cols)
    fig = _figure(2.8 * rows_n + 0.6, WIDTH_IN)
    axes = fig.subplots(rows_n, cols, squeeze=False).ravel()
    width = 0.8 / max(1, len(archs))
    x = np.arange(len(workloads))
    for ax, key in zip(axes, keys, strict=False):
        for i, arch in enumerate(archs):
            sub = df[df["arch"] == arch].set_index("workload").reindex(workloads)
            ax.bar(x + (i - (len(archs) - 1) / 2) * width, sub[f"{key}_rel"].to_numpy(),
                   width, label=arch)
        ax.axhline(1.0, color="0.3", linewidth=0.8, linestyle="--")
        ax.set_xticks(x, workloads, fontsize=8)
        ax.set_title(metrics[key], fontsize=9)
        ax.set_xlabel("workload (network)", fontsize=8)
        ax.set_ylabel(f"relative to {archs[0]} (×)", fontsize=8)
    for ax in axes[len(keys):]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(archs), fontsize=8)
    fig.suptitle("Architectures compared on the same workloads (first architecture = 1×)")
    return fig
