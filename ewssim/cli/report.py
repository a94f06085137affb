"""`ewssim report RUN_DIR --out DIR`: figures, CSV tables and an HTML page from a run."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("report", help="HTML report with figures from a run directory",
                       description="Read RUN_DIR (layers.csv + summary.json from `ewssim run "
                                   "--out`) and write DIR/index.html, one PNG and one CSV per "
                                   "figure, and copies of the inputs.  Never runs the engine.")
    p.add_argument("run_dir", metavar="RUN_DIR",
                   help="directory written by `ewssim run --out`, or a sweep's results "
                        ".sqlite (Pareto fronts and heat maps)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="report directory (created; an earlier report there is replaced)")
    p.set_defaults(func=_report)


def _report(args) -> int:
    from pathlib import Path

    if Path(args.run_dir).is_file():  # a sweep's results database: Pareto fronts, heat maps
        from ewssim.sweep.report import make_sweep_report

        index = make_sweep_report(args.run_dir, args.out)
        print(f"wrote {index}")
        return 0
    from ewssim.report import make_report  # matplotlib is imported only for this command

    index = make_report(args.run_dir, args.out)
    print(f"wrote {index}")
    return 0
