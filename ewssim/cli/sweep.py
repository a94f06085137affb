"""`ewssim sweep` (run a design-space sweep into SQLite) and `ewssim pareto` (fronts, heat maps)."""

from __future__ import annotations

import json
import math
import sys

from ewssim.cli.progress import Progress


def register(sub) -> None:
    p = sub.add_parser("sweep", help="run a design-space sweep (docs/sweeps.md)")
    p.add_argument("spec", metavar="SPEC.toml", help="sweep spec: axes, sampling, constraints")
    p.add_argument("--out", required=True, metavar="RESULTS.sqlite",
                   help="results database; rerunning the same spec skips finished points")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="parallel workers (default: CPU count; dask: local cluster size)")
    p.add_argument("--executor", choices=("local", "dask", "inline"), default="local",
                   help="local processes (default), dask.distributed, or inline (this process)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="dask scheduler address, e.g. tcp://host:8786 (default: a local "
                        "cluster of --workers processes)")
    p.add_argument("--scheduler-timeout", type=float, default=5.0, metavar="S",
                   help="seconds to wait for the scheduler (default 5)")
    p.add_argument("--export", metavar="FILE", help="also write every row to FILE (.csv or "
                   ".parquet) when the sweep is complete")
    p.add_argument("--dry-run", action="store_true",
                   help="validate the spec and count points (simulated / skipped); run nothing")
    p.set_defaults(func=_sweep)

    r = sub.add_parser("pareto", help="Pareto front (or a heat map) of sweep results")
    r.add_argument("db", metavar="RESULTS.sqlite")
    r.add_argument("--x", help="first objective column (e.g. area_mm2, pes, sram_bytes)")
    r.add_argument("--y", help="second objective column (e.g. energy_pJ, total_cycles)")
    r.add_argument("--z", help="optional third objective (front in 3-D; colour in --plot)")
    r.add_argument("--max", action="append", default=[], metavar="KEY",
                   help="maximise KEY instead of minimising it (repeatable)")
    r.add_argument("--workload", help="only this workload (default: a front per workload)")
    r.add_argument("--json", action="store_true", help="print the front as JSON rows")
    r.add_argument("--plot", metavar="FILE.png", help="write the figure to FILE.png")
    r.add_argument("--heatmap", nargs=2, metavar=("KEY1", "KEY2"),
                   help="instead of a front: --value over KEY1 x KEY2 (e.g. array "
                        "memory.l2_bytes)")
    r.add_argument("--value", help="metric of the heat map (e.g. total_cycles)")
    r.add_argument("--agg", default="min", choices=("min", "mean", "max"),
                   help="how a heat-map cell combines points that differ in other keys")
    r.set_defaults(func=_pareto)


def _sweep(args) -> int:
    from ewssim.sweep import export, load_spec, run_sweep
    from ewssim.sweep.store import check_export

    spec = load_spec(args.spec)
    if args.export:
        check_export(args.export)
    if args.dry_run:
        pts = spec.points()
        skipped = [p for p in pts if p.status == "skipped"]
        print(f"{args.spec}: spec {spec.hash}, {len(pts)} point(s) x workload: "
              f"{len(pts) - len(skipped)} to simulate, {len(skipped)} skipped")
        for p in skipped[:10]:
            print(f"  skipped {p.point_id} {p.assignment}: {p.reason}")
        return 0
    with Progress(0, "points") as bar:
        s = run_sweep(spec, args.out, executor=args.executor, workers=args.workers,
                      scheduler=args.scheduler, progress=bar,
                      scheduler_timeout=args.scheduler_timeout)
    print(f"{args.out}: {s.total} point(s) x workload; {s.already} already done, "
          f"{s.ran} simulated in {s.seconds:.1f} s ({s.rate:.2f} points/s), "
          f"{s.skipped} skipped (invalid or constrained), {s.errors} error(s)",
          file=sys.stderr)
    for reason in s.error_reasons[:5]:
        print(f"  error: {reason}", file=sys.stderr)
    if args.export:
        out = export(args.out, args.export)
        print(f"wrote {out}", file=sys.stderr)
    return 1 if s.errors else 0


def _plain(v):
    """numpy scalars -> Python (exact floats); NaN -> None (valid JSON)."""
    v = v.item() if hasattr(v, "item") and not isinstance(v, str | bytes) else v
    return None if isinstance(v, float) and math.isnan(v) else v


def _fmt(v) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:.6g}"
    return str(v)


def _table(df, cols: list[str]) -> str:
    rows = [[str(c) for c in cols]] + [[_fmt(v) for v in r] for r in
                                       df[cols].itertuples(index=False)]
    w = [max(len(r[i]) for r in rows) for i in range(len(cols))]
    return "\n".join("  ".join(c.rjust(w[i]) if i else c.ljust(w[i]) for i, c in enumerate(r))
                     for r in rows)


def _pareto(args) -> int:
    from ewssim.errors import InputError
    from ewssim.sweep import read_results
    from ewssim.sweep.pareto import front, heatmap_table, varying_axes

    df = read_results(args.db)
    if args.workload is not None:
        if args.workload not in set(df["workload"]):
            raise InputError(f"no results for workload {args.workload!r}", field="--workload",
                             allowed=", ".join(sorted(set(df["workload"]))) or "none")
        df = df[df["workload"] == args.workload]
    if df.empty:
        raise InputError("no simulated points in the results", source=args.db,
                         allowed="a sweep with at least one point simulated")
    if args.heatmap:
        if not args.value:
            raise InputError("a heat map needs a metric", field="--value",
                             allowed="a results column, e.g. total_cycles")
        k1, k2 = args.heatmap
        table = heatmap_table(df, k1, k2, args.value, args.agg)
        if args.json:
            print(json.dumps({"index": k1, "columns": k2, "value": args.value, "agg": args.agg,
                              "rows": [_plain(v) for v in table.index],
                              "cols": [_plain(v) for v in table.columns],
                              "table": [[_plain(v) for v in r] for r in table.to_numpy()]},
                             default=str))
        else:
            print(f"{args.value} ({args.agg}) over {k1} (rows) x {k2} (columns)")
            print(table.to_string(float_format=lambda v: f"{v:.6g}"))
        if args.plot:
            from ewssim.sweep.plots import heatmap_plot

            heatmap_plot(table, k1, k2, args.value, args.plot, agg=args.agg)
            print(f"wrote {args.plot}", file=sys.stderr)
        return 0
    if not args.x or not args.y:
        raise InputError("a Pareto front needs two objectives", field="--x/--y",
                         allowed="results columns, e.g. --x pes --y total_cycles")
    objectives = [args.x, args.y] + ([args.z] if args.z else [])
    fr = front(df, objectives, set(args.max))
    axes = [c for c in varying_axes(df) if c not in objectives]
    cols = ["workload", "point_id", *axes, *objectives]
    if args.json:
        print(json.dumps([{k: _plain(v) for k, v in r.items()}
                          for r in fr[cols].to_dict("records")], default=str))
    else:
        sense = ", ".join(f"{o} ({'max' if o in args.max else 'min'})" for o in objectives)
        print(f"{len(fr)} non-dominated of {len(df)} simulated point(s); objectives: {sense}")
        print(_table(fr, cols))
    if args.plot:
        from ewssim.sweep.plots import pareto_plot

        pareto_plot(df, fr, args.x, args.y, args.plot, z=args.z)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0
