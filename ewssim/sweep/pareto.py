"""Pareto fronts and two-key tables over sweep results (plain numpy / pandas)."""

from __future__ import annotations

import numpy as np

from ewssim.errors import InputError

AGGREGATES = ("min", "mean", "max")


def pareto_mask(values, maximize: list[bool] | None = None) -> np.ndarray:
    """Non-dominated rows of ``values`` (n x d), minimising every column unless ``maximize``
    says otherwise.  A row is dominated when another is no worse in every column and better
    in one; equal rows are all kept."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 2:
        raise ValueError("values must be 2-D")
    if maximize is not None:
        v = np.where(np.asarray(maximize, dtype=bool)[None, :], -v, v)
    n = len(v)
    keep = np.ones(n, dtype=bool)
    order = np.lexsort(v.T[::-1])          # sorted by first column, then the next ...
    for i in order:
        if not keep[i]:
            continue
        dominated = np.all(v[i] <= v, axis=1) & np.any(v[i] < v, axis=1)
        keep &= ~dominated
    return keep


def _need(df, keys: list[str], what: str) -> None:
    cols = set(df.columns)
    for k in keys:
        if k not in cols:
            numeric = [c for c in df.columns if df[c].dtype.kind in "if"]
            raise InputError(f"no column {k!r} in the results", field=what,
                             allowed=", ".join(numeric[:40]) + (" ..." if len(numeric) > 40
                                                                else ""))


def front(df, objectives: list[str], maximize: set[str] | None = None,
          by: str | None = "workload"):
    """Rows of ``df`` on the Pareto front of ``objectives`` (per ``by`` group), sorted."""
    maximize = set(maximize or ())
    _need(df, objectives, "--x/--y/--z")
    bad = maximize - set(objectives)
    if bad:
        raise InputError(f"--max {sorted(bad)[0]} is not an objective", field="--max",
                         allowed=", ".join(objectives))
    d = df.dropna(subset=objectives)
    if d.empty:
        return d
    parts = []
    groups = d.groupby(by, sort=True) if by and by in d.columns else [(None, d)]
    for _, g in groups:
        mask = pareto_mask(g[objectives].to_numpy(float),
                           [o in maximize for o in objectives])
        parts.append(g[mask])
    import pandas as pd

    out = pd.concat(parts)
    keys = ([by] if by and by in out.columns else []) + objectives + ["point_id"]
    return out.sort_values(keys, kind="stable")


def heatmap_table(df, key1: str, key2: str, value: str, agg: str = "min", workload=None):
    """``value`` over ``key1`` (rows) x ``key2`` (columns), aggregated with ``agg`` over the
    other axes."""
    if agg not in AGGREGATES:
        raise InputError(f"unknown aggregate {agg!r}", field="--agg",
                         allowed=", ".join(AGGREGATES))
    _need(df, [key1, key2], "--heatmap")
    _need(df, [value], "--value")
    if workload is not None:
        df = df[df["workload"] == workload]
    elif "workload" in df.columns and df["workload"].nunique() > 1:
        raise InputError("the results hold several workloads", field="--workload",
                         allowed=", ".join(sorted(df["workload"].unique())))
    t = df.pivot_table(index=key1, columns=key2, values=value, aggfunc=agg)
    return t.loc[sorted(t.index, key=_natural), sorted(t.columns, key=_natural)]


def _natural(v):
    """Sort key: numbers by value, ``RxC`` shapes by PEs then rows, other text as text."""
    if isinstance(v, str):
        parts = v.lower().split("x")
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            r, c = int(parts[0]), int(parts[1])
            return (0, r * c, r, "")
        return (1, 0, 0, v)
    return (0, float(v), 0, "")


def varying_axes(df) -> list[str]:
    """The sweep's axis columns (from each row's ``axes``) that take more than one value."""
    import json

    keys: list[str] = []
    for text in df.get("axes", []):
        for k in json.loads(text or "{}"):
            if k not in keys:
                keys.append(k)
    return [k for k in keys if k in df.columns and df[k].nunique(dropna=False) > 1]
