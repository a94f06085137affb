"""`ewssim reproduce mvq --out DIR`."""

from __future__ import annotations

import sys

from ewssim.cli.progress import Progress


def register(sub) -> None:
    p = sub.add_parser("reproduce", help="run everything behind a paper's headline numbers")
    p.add_argument("paper", choices=["mvq"], help="which paper (mvq: ASPLOS 2025)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="report directory (an earlier reproduce report there is replaced)")
    p.add_argument("--weights", choices=["synthetic", "analytic"], default="synthetic",
                   help="compressed synthetic weights (default) or the analytic format "
                        "(same numbers, no k-means)")
    p.set_defaults(func=_reproduce)


def _reproduce(args) -> int:
    from pathlib import Path

    from ewssim.reproduce import RUNS, check_out, reproduce_mvq

    check_out(Path(args.out))
    print("ewssim: running every MVQ study (synthetic weights are compressed on the first "
          "run and cached)", file=sys.stderr)
    with Progress(len(RUNS), "runs") as bar:
        index = reproduce_mvq(args.out, weights=args.weights, progress=bar)
    print((index.parent / "summary.md").read_text())
    print(f"wrote {index}", file=sys.stderr)
    return 0
