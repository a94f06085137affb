"""`ewssim run` and `ewssim arch show`."""

from __future__ import annotations

import json
import sys

from ewssim import api
from ewssim import config as _config
from ewssim.cli.progress import Progress
from ewssim.tech import load as load_tech

SUMMARY_KEYS = [
    ("total_cycles", "total cycles"), ("compute_cycles", "compute cycles"),
    ("stall_cycles", "stall cycles"), ("macs", "MACs"), ("utilization", "utilization"),
    ("runtime_ms", "runtime [ms]"), ("dram_read_bytes", "DRAM read [B]"),
    ("dram_write_bytes", "DRAM write [B]"), ("l2_read_bytes", "L2 read [B]"),
    ("l2_write_bytes", "L2 write [B]"), ("l1_act_read_bytes", "L1 act read [B]"),
    ("l1_weight_read_bytes", "L1 weight read [B]"), ("l1_psum_read_bytes", "L1 psum read [B]"),
    ("l1_out_write_bytes", "L1 out write [B]"), ("int8_weight_bytes", "INT8 weights [B]"),
    ("dram_weight_read_bytes", "DRAM weight read [B]"), ("crf_reads", "CRF reads"),
    ("executed_macs", "executed MACs"), ("energy_pJ", "energy [pJ]"),
    ("tops_per_w_dense", "TOPS/W (dense-equiv.)"), ("tops_per_w_executed", "TOPS/W (executed)"),
    ("area_mm2", "area [mm2]"),
]


def register(sub) -> None:
    p = sub.add_parser("run", help="simulate a workload on an architecture")
    p.add_argument("--arch", required=True, help="preset name or TOML file")
    p.add_argument("--workload", required=True, help="zoo name or topology CSV")
    p.add_argument("--array", help="override the array shape, ROWSxCOLS (e.g. 32x32)")
    p.add_argument("--out", help="directory for layers.csv and summary.json")
    p.add_argument("--json", action="store_true", help="print the totals as one JSON object")
    p.add_argument("--compressed", metavar="DIR",
                   help="replay the compressed layers in DIR (from `ewssim compress`)")
    p.add_argument("--weights", choices=api.WEIGHT_SOURCES, default="synthetic",
                   help="without --compressed: compress seeded synthetic weights on the fly "
                        "(cached) or use the analytic format (same timing, no k-means)")
    p.add_argument("--tech", metavar="FILE",
                   help="technology table for energy and area: 40nm (default), NNnm (the "
                        "default scaled to 16/28/45/65 nm), or a TOML file (ewssim/tech)")
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
    show.set_defaults(func=_arch_show)
    lst = asub.add_parser("list", help="list the presets")
    lst.set_defaults(func=lambda a: print("\n".join(_config.preset_names())) or 0)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if v < 10 else f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _run(args) -> int:
    arch = api.resolve_arch(args.arch, args.array)
    tech = load_tech(args.tech)  # a bad table is reported before anything runs
    net = api.resolve_workload(args.workload)
    if arch.weights.compressed and args.compressed is None and args.weights == "synthetic":
        print(f"ewssim: no --compressed layers given: using seeded synthetic weights for "
              f"{net.name}, compressed with {arch.weights.format} on the fly (the first run "
              f"takes a while; the result is cached in {api.cache_dir()})", file=sys.stderr)
    with Progress(len(net.layers), "layers compressed") as bar:
        formats, how = api.weight_formats(arch, net, compressed=args.compressed,
                                          weights=args.weights, progress=bar)
    with Progress(len(net.layers), "layers") as bar:
        result = api.simulate(arch, net, progress=bar, formats=formats, tech=tech)
    if args.out:
        result.write(args.out)
    if args.check_functional:
        with Progress(len(net.layers), "layers checked") as bar:
            cn = api.compressed_network(arch, net, compressed=args.compressed,
                                        weights=args.weights)
            checked, skipped = api.check_functional(result, max_macs=args.functional_max_macs,
                                                    compressed=cn, progress=bar)
        print(f"functional check: {len(checked)} layer(s) equal a numpy convolution exactly"
              + (f"; {len(skipped)} skipped (> {args.functional_max_macs:,} MACs, or "
                 f"compressed layers without their weights under --weights analytic): "
                 f"{', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}"
                 if skipped else ""), file=sys.stderr)
    tot = result.totals
    if args.json:
        print(json.dumps(tot))
        return 0
    print(f"{net.name} on {arch.name} ({tot['array']} array, {arch.dataflow.kind} dataflow, "
          f"{len(net.layers)} layers; weights: {how})")
    for key, label in SUMMARY_KEYS:
        print(f"  {label:<22} {_fmt(tot[key]):>18}")
    if args.out:
        print(f"wrote {args.out}/layers.csv and {args.out}/summary.json", file=sys.stderr)
    return 0


def _arch_show(args) -> int:
    arch = api.resolve_arch(args.name, args.array)
    sys.stdout.write(_config.to_toml(arch))
    return 0
