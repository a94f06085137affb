"""`ewssim compare` and `ewssim normalize`."""

from __future__ import annotations

import json
import sys

from ewssim.cli.progress import Progress


def register(sub) -> None:
    p = sub.add_parser("compare", help="architectures x workloads on the same node and memories")
    p.add_argument("--workload", action="append", required=True,
                   help="zoo name or topology CSV (repeat for several)")
    p.add_argument("--arch", action="append", required=True,
                   help="preset or TOML file (repeat; the first is the reference)")
    p.add_argument("--array", help="override every architecture's array shape, ROWSxCOLS")
    p.add_argument("--activations", metavar="PROFILE",
                   help="input-activation densities for every architecture (CSV, .npz or "
                        "'default')")
    p.add_argument("--weights", choices=["synthetic", "analytic"], default="synthetic",
                   help="compressed formats: synthetic weights compressed on the fly, or the "
                        "analytic format (same numbers)")
    p.add_argument("--out", help="directory for compare.csv, compare.md, compare.png")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=_compare)

    n = sub.add_parser("normalize", help="scale a published figure to another technology node")
    n.add_argument("--value", type=float, required=True)
    n.add_argument("--unit", required=True,
                   help="energy_pJ, pJ_per_op, tops_per_w, area_mm2 or tops_per_mm2")
    n.add_argument("--from-node", type=int, required=True, help="nm (16, 28, 40, 45, 65)")
    n.add_argument("--to-node", type=int, required=True, help="nm")
    n.add_argument("--json", action="store_true")
    n.set_defaults(func=_normalize)


def _compare(args) -> int:
    from ewssim.compare import METRICS, compare, markdown, write

    n = len(args.arch) * len(args.workload)
    with Progress(n, "runs") as bar:
        df = compare(args.arch, args.workload, weights=args.weights,
                     activations=args.activations, array=args.array, progress=bar)
    if args.out:
        write(df, args.out)
    if args.json:
        rows = [{k: r[k] for k in ["arch", "workload", *METRICS]} for r in df.to_dict("records")]
        print(json.dumps({"rows": rows}))
    else:
        print(markdown(df))
    if args.out:
        print(f"wrote {args.out}/compare.csv, compare.md, compare.png", file=sys.stderr)
    return 0


def _normalize(args) -> int:
    from ewssim.tech.normalize import SCALING_RULE, normalize

    value, factor = normalize(args.value, args.unit, args.from_node, args.to_node)
    if args.json:
        print(json.dumps({"value": value, "unit": args.unit, "from_node": args.from_node,
                          "to_node": args.to_node, "factor": factor, "rule": SCALING_RULE}))
    else:
        print(f"{args.value:g} {args.unit} at {args.from_node} nm = {value:.6g} {args.unit} at "
              f"{args.to_node} nm (x{factor:.4g}, rule {SCALING_RULE})")
    return 0
