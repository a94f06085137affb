"""`ewssim run` and `ewssim arch show`."""

from __future__ import annotations

import json
import sys

from ewssim import api
from ewssim import config as _config
from ewssim.cli.progress import Progress
from ewssim.engine.workers import default_jobs
from ewssim.tech import load as load_tech

SUMMARY_KEYS = [
    ("total_cycles", "total cycles"), ("compute_cycles", "compute cycles"),
    ("stall_cycles", "stall cycles"), ("macs", "MACs"), ("utilization", "utilization"),
    ("runtime_ms", "runtime [ms]"), ("dram_read_bytes", "DRAM read [B]"),
    ("dram_write_bytes", "DRAM write [B]"), ("l2_read_bytes", "L2 read [B]"),
    ("l2_write_bytes", "L2 write [B]"), ("l1_act_read_bytes", "L1 act read [B]"),
    ("l1_weight_read_bytes", "L1 weight read [B]"), ("l1_psum_read_bytes", "L1 psum read [B]"),
    ("l1_out_write_bytes", "L1 out write [B]"), ("int8_weight_bytes", "INT8 weights [B]"),
    ("vector_cycles", "vector unit [cycles]"), ("residual_bytes", "residual tensors [B]"),
    ("residual_dram_bytes", "  of which via DRAM [B]"),
    ("dram_weight_read_bytes", "DRAM weight read [B]"), ("crf_reads", "CRF reads"),
    ("executed_macs", "executed MACs"), ("energy_pJ", "energy [pJ]"),
    ("tops_per_w_dense", "TOPS/W (dense-equiv.)"), ("tops_per_w_executed", "TOPS/W (executed)"),
    ("area_mm2", "area [mm2]"),
]


def add_arch_args(p, *, required: bool = True) -> None:
    """--arch, --array and --set, shared by the commands that take an architecture."""
    p.add_argument("--arch", required=required, help="preset name (any case) or TOML file")
    p.add_argument("--array", help="override the array shape, ROWSxCOLS (e.g. 32x32)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one configuration key, e.g. "
                        "--set memory.dram_bytes_per_cycle=8 (repeatable; checked like TOML)")


def register(sub) -> None:
    p = sub.add_parser("run", help="simulate a workload on an architecture")
    add_arch_args(p)
    p.add_argument("--workload", required=True,
                   help="zoo name (any case), topology CSV or ONNX model (.onnx)")
    p.add_argument("--input-shape", metavar="N,C,H,W",
                   help="the input shape of an ONNX model whose input is dynamic, e.g. "
                        "1,3,640,640")
    p.add_argument("--batch", type=_batch, default=None, metavar="N",
                   help="run the workload on N inputs at once (integer >= 1; default 1)")
    p.add_argument("--out", help="directory for layers.csv and summary.json")
    p.add_argument("--json", action="store_true", help="print the totals as one JSON object")
    p.add_argument("--compressed", metavar="DIR",
                   help="replay the compressed layers in DIR (from `ewssim compress`)")
    p.add_argument("--weights", type=_weight_source, default=None,
                   metavar="{" + ",".join(api.WEIGHT_SOURCES) + "} or MODEL.onnx",
                   help="without --compressed: the analytic format of every layer (default: "
                        "the compressor's format and fit rule, no k-means, seconds) or seeded "
                        "synthetic weights compressed on the fly with k-means (same cycles, "
                        "bytes and energy; cached; the default with --check-functional, "
                        "which needs real compressed layers); or an .onnx model: its own "
                        "weights compressed on the fly (the workload must be that model)")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="where --weights synthetic keeps its compressions (default "
                        "$EWSSIM_CACHE or ~/.cache/ewssim/compressed)")
    p.add_argument("--tech", metavar="FILE",
                   help="technology table for energy and area: 40nm (default), NNnm (the "
                        "default scaled to 16/28/45/65 nm), or a TOML file (ewssim/tech)")
    p.add_argument("--mapping", metavar="NAME",
                   help="pin every layer's mapping candidate (stream, prfN, l1-blockN; the "
                        "notes column of layers.csv lists each layer's candidates)")
    p.add_argument("--jobs", type=_jobs, default=None, metavar="N",
                   help="worker processes that plan layers and run segments in parallel "
                        "(integer >= 1; default: every processor this process may use; the "
                        "results do not depend on it)")
    p.add_argument("--check-functional", action="store_true",
                   help="also execute each layer's tiles on random INT8 data and compare the "
                        "outputs with a numpy convolution, exactly (small layers only)")
    p.add_argument("--functional-max-macs", type=int, default=250_000_000, metavar="N",
                   help="--check-functional skips layers with more MACs (default 250,000,000)")
    p.set_defaults(func=_run)

    a = sub.add_parser("arch", help="architecture presets and files")
    asub = a.add_subparsers(dest="arch_cmd", metavar="ACTION", parser_class=type(p))
    asub.required = True
    show = asub.add_parser("show", help="print a preset or file as TOML")
    show.add_argument("name", help=f"preset ({', '.join(_config.preset_names())}) or TOML file")
    show.add_argument("--array", help="override the array shape, ROWSxCOLS")
    show.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="override one configuration key (repeatable)")
    show.set_defaults(func=_arch_show)
    lst = asub.add_parser("list", help="list the presets")
    lst.set_defaults(func=lambda a: print("\n".join(_config.preset_names())) or 0)


def _at_least_one(what: str):
    """An argparse type: an integer >= 1, else one line naming ``what``."""
    def parse(text: str) -> int:
        import argparse

        try:
            n = int(text)
        except ValueError:
            n = 0
        if n < 1:
            raise argparse.ArgumentTypeError(f"invalid {what} {text!r} (an integer >= 1)")
        return n
    return parse


_batch = _at_least_one("batch")
_jobs = _at_least_one("jobs")


def _weight_source(text: str) -> str:
    import argparse

    if text in api.WEIGHT_SOURCES or text.lower().endswith(".onnx"):
        return text
    raise argparse.ArgumentTypeError(f"invalid choice {text!r} (choose from "
                                     + ", ".join(api.WEIGHT_SOURCES) + " or an .onnx model)")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if v < 10 else f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _run(args) -> int:
    arch = api.load_arch(args.arch, array=args.array, overrides=args.set)
    tech = load_tech(args.tech)  # a bad table is reported before anything runs
    net = api.load_workload(args.workload, input_shape=args.input_shape)
    if args.batch is not None:
        net = net.with_batch(args.batch)
    if args.weights is None:
        args.weights = "synthetic" if args.check_functional else "analytic"
    if not arch.weights.weight_format.int8 and args.compressed is None and \
            args.weights == "synthetic":
        where = args.cache_dir or api.cache_dir()
        print(f"ewssim: compressing seeded synthetic weights of {net.name} with "
              f"{arch.weights.weight_format.describe()} (k-means on both cores; cached in "
              f"{where}; --weights analytic gives the same timing in seconds)", file=sys.stderr)
    with Progress(len(net.layers), "layers compressed") as bar:
        formats, how = api.weight_formats(arch, net, compressed=args.compressed,
                                          weights=args.weights, progress=bar,
                                          cache=args.cache_dir)
    with Progress(len(net.layers), "layers") as bar:
        result = api.simulate(arch, net, progress=bar, formats=formats, tech=tech,
                              mapping=args.mapping,
                              jobs=args.jobs if args.jobs is not None else default_jobs())
    result.weights = how
    extra = {}
    if args.check_functional:
        with Progress(len(net.layers), "layers checked") as bar:
            cn = api.compressed_network(arch, net, compressed=args.compressed,
                                        weights=args.weights, cache=args.cache_dir)
            checked, skipped = api.check_functional(result, max_macs=args.functional_max_macs,
                                                    compressed=cn, progress=bar)
        extra["functional_check"] = {"equal": checked, "skipped": skipped,
                                     "max_macs": args.functional_max_macs}
        print(f"functional check: {len(checked)} layer(s) equal a numpy convolution exactly"
              + (f"; {len(skipped)} skipped (> {args.functional_max_macs:,} MACs, or "
                 f"compressed layers without their weights): "
                 f"{', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}"
                 if skipped else ""), file=sys.stderr)
    if args.out:
        result.write(args.out, extra)
    tot = result.totals
    if args.json:
        print(json.dumps({**tot, **extra}))
        return 0
    print(f"{net.name} on {arch.name} ({tot['array']} array, {result.hw.dataflow} dataflow, "
          f"{len(net.layers)} layers"
          + (f" + {tot['vector_nodes']} vector operators" if tot["vector_nodes"] else "")
          + f"; weights: {how})")
    for key, label in SUMMARY_KEYS:
        if key in ("vector_cycles", "residual_bytes", "residual_dram_bytes") and \
                not tot["vector_nodes"]:
            continue
        print(f"  {label:<22} {_fmt(tot[key]):>18}")
        if key == "stall_cycles":
            for cause, cycles in api.stall_causes(tot):
                print(f"    {cause:<20} {_fmt(cycles):>18}")
    kept = [f for f in (formats or {}).values() if f.format.int8 and f.note]
    if kept:
        print(f"  {len(kept)} layer(s) kept INT8 by the fit rule: "
              f"{', '.join(f.name for f in kept[:4])}"
              + (" ..." if len(kept) > 4 else "") + " (notes in layers.csv)")
        larger = [f for f in kept if "not smaller than INT8" in f.note]
        for f in larger:
            print(f"    {f.name}: {f.note}")
    if args.out:
        print(f"wrote {args.out}/layers.csv and {args.out}/summary.json", file=sys.stderr)
    return 0


def _arch_show(args) -> int:
    arch = api.load_arch(args.name, array=args.array, overrides=args.set)
    sys.stdout.write(_config.to_toml(arch))
    return 0
