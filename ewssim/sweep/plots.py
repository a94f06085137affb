"""Figures over sweep results: the Pareto front of two objectives and a heat map over two keys.

Matplotlib with the Agg backend (no display needed); every axis is labelled with its unit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

_SUFFIX_UNITS = [("_mm2", "mm²"), ("_pJ", "pJ"), ("_nJ", "nJ"), ("_uJ", "µJ"), ("_mW", "mW"),
                 ("_cycles", "cycles"), ("_bytes", "B"), ("_ms", "ms"), ("_s", "s")]
_NAMED_UNITS = {"utilization": "fraction of peak", "macs": "MACs", "executed_macs": "MACs",
                "tiles": "tiles", "pes": "PEs", "sram_bytes": "B", "array": "rows x cols"}


def unit(column: str) -> str:
    """The unit of a results column ('' when it has none)."""
    if column in _NAMED_UNITS:
        return _NAMED_UNITS[column]
    from ewssim import config as _config

    for p in _config.describe_parameters():
        if p["key"] == column:
            return p["unit"] or ""
    for suffix, u in _SUFFIX_UNITS:
        if column.endswith(suffix):
            return u
    return ""


def label(column: str) -> str:
    u = unit(column)
    return f"{column} [{u}]" if u else column


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=130)
    _plt().close(fig)
    return out


def pareto_plot(df, front_df, x: str, y: str, out: str | Path, *, z: str | None = None,
                title: str = "") -> Path:
    """All points (grey) and the front (per workload, a step line); colour = ``z`` if given."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.scatter(df[x], df[y], s=10, c="0.75", label=f"all points ({len(df)})", zorder=1)
    groups = (front_df.groupby("workload", sort=True) if "workload" in front_df.columns
              else [("front", front_df)])
    for name, g in groups:
        g = g.sort_values([x, y])
        if z is not None:
            sc = ax.scatter(g[x], g[y], c=g[z], cmap="viridis", s=30, edgecolors="k",
                            zorder=3, label=f"front: {name} ({len(g)})")
            fig.colorbar(sc, ax=ax, label=label(z))
        else:
            ax.plot(g[x], g[y], "o-", ms=5, drawstyle="steps-post", zorder=3,
                    label=f"front: {name} ({len(g)})")
    ax.set_xlabel(label(x))
    ax.set_ylabel(label(y))
    for axis, col in ((ax.set_xscale, x), (ax.set_yscale, y)):
        v = df[col].to_numpy(float)
        if len(v) and np.all(v > 0) and v.max() / v.min() > 50:
            axis("log")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or f"Pareto front: {y} vs {x}")
    return _save(fig, out)


def heatmap_plot(table, key1: str, key2: str, value: str, out: str | Path, *,
                 agg: str = "min", title: str = "") -> Path:
    """``table`` from :func:`ewssim.sweep.pareto.heatmap_table` as an annotated heat map."""
    plt = _plt()
    data = table.to_numpy(float)
    fig, ax = plt.subplots(figsize=(1.1 * len(table.columns) + 3, 0.6 * len(table.index) + 2))
    im = ax.imshow(data, cmap="viridis_r", aspect="auto", origin="lower")
    ax.set_xticks(range(len(table.columns)), [_tick(c) for c in table.columns], rotation=45,
                  ha="right")
    ax.set_yticks(range(len(table.index)), [_tick(r) for r in table.index])
    ax.set_xlabel(label(key2))
    ax.set_ylabel(label(key1))
    finite = data[np.isfinite(data)]
    mid = (finite.min() + finite.max()) / 2 if finite.size else 0
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            if np.isfinite(data[i, j]):
                ax.text(j, i, f"{data[i, j]:.4g}", ha="center", va="center", fontsize=7,
                        color="white" if data[i, j] > mid else "black")
    fig.colorbar(im, ax=ax, label=f"{label(value)} ({agg} over other keys)")
    ax.set_title(title or f"{value} over {key1} x {key2}")
    return _save(fig, out)


def _tick(v) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, int) and v >= 1 << 14 and v % 1024 == 0:
        return f"{v // 1024} Ki"
    return str(v)
