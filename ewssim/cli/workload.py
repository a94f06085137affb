"""`ewssim workload list|show`: the network zoo and topology CSVs."""

from __future__ import annotations

import json

from ewssim.workload import load_network, zoo_names


def register(sub) -> None:
    p = sub.add_parser("workload", help="list and show workloads (the network zoo, topology CSVs)",
                       description="List the network zoo or show one network layer by layer.")
    wsub = p.add_subparsers(dest="workload_cmd", metavar="SUBCOMMAND")
    wsub.required = True

    pl = wsub.add_parser("list", help="zoo networks with layer count, MACs and parameters")
    pl.set_defaults(func=_cmd_list)

    ps = wsub.add_parser("show", help="layer table (GEMM view, MACs, weights) and totals",
                         description="Show a zoo network or a topology CSV (ewssim or "
                                     "SCALE-Sim format) layer by layer.")
    ps.add_argument("network", metavar="NAME|FILE",
                    help="zoo name (see `ewssim workload list`) or path to a topology CSV")
    ps.add_argument("--json", action="store_true",
                    help="print JSON {name, layers, macs, params, weights} instead of a table")
    ps.add_argument("--input-shape", metavar="N,C,H,W",
                    help="input shape of an ONNX model whose input is dynamic")
    ps.set_defaults(func=_cmd_show)

    pi = wsub.add_parser("import", help="import an ONNX model (summary, optional topology CSV)",
                         description="Import an ONNX model: conv/linear/matmul layers and "
                                     "vector operators, shapes resolved for --input-shape, "
                                     "batch norms folded; print a summary and optionally "
                                     "write the ewssim topology CSV.")
    pi.add_argument("model", metavar="MODEL.onnx")
    pi.add_argument("--input-shape", metavar="N,C,H,W",
                    help="the input shape (needed when the file's input is dynamic), e.g. "
                         "1,3,640,640")
    pi.add_argument("--out", metavar="FILE.csv", help="write the ewssim topology CSV here")
    pi.add_argument("--json", action="store_true", help="print the summary as JSON")
    pi.set_defaults(func=_cmd_import)


# ----------------------------------------------------------------------------- helpers
def _table(header: list[str], rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(r: list[str]) -> str:
        return "  ".join(v.rjust(w) if i in right else v.ljust(w)
                         for i, (v, w) in enumerate(zip(r, widths, strict=True))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *(fmt(r) for r in rows)])


# ----------------------------------------------------------------------------- commands
def _cmd_list(args) -> int:
    rows = []
    for name in zoo_names():
        net = load_network(name)
        rows.append([name, str(len(net)), f"{net.macs:,}", f"{net.params:,}",
                     f"{net.weights:,}"])
    print(_table(["network", "layers", "MACs", "params", "weights"], rows, right={1, 2, 3, 4}))
    print("\nMACs: multiply-accumulates per inference (batch 1; conv, linear, matmul).")
    print("params: weights + biases + norm/embedding parameters; weights: weight values only.")
    return 0


def _cmd_import(args) -> int:
    from pathlib import Path

    from ewssim.errors import InputError
    from ewssim.workload.onnx import import_onnx, parse_input_shape
    from ewssim.workload.topology import render_network

    imp = import_onnx(args.model, parse_input_shape(args.input_shape))
    net = imp.network
    if args.out:
        text = render_network(net)
        out = Path(args.out)
        try:
            tmp = out.with_name(out.name + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(out)
        except OSError as exc:
            raise InputError(f"cannot write: {exc.strerror or exc}", source=args.out,
                             field="--out", allowed="a writable file path") from None
    summary = imp.summary()
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        c = imp.coverage
        print(f"imported {net.name} ({imp.source}), input {'x'.join(map(str, imp.input_shape))}")
        print(f"  nodes          {len(net.graph_nodes):>16,}")
        print(f"  array layers   {len(net.layers):>16,}")
        print(f"  vector ops     {len(net.vector_ops):>16,}")
        print(f"  MACs           {net.macs:>16,}  ({net.macs / 1e9:.3f} G)")
        print(f"  weights        {net.weights:>16,}  (found in the file: "
              f"{'yes' if imp.has_weights else 'no'})")
        print(f"  params         {net.params:>16,}")
        print(f"  coverage       MACs {c['macs_modelled']:,} / {c['macs_in_file']:,} "
              f"({c['macs_pct']:.1f} %), vector ops {c['vector_ops_modelled']} / "
              f"{c['vector_ops_in_file']} ({c['vector_ops_pct']:.1f} %; {c['bn_folded']} batch "
              f"norms folded), {c['view_ops']} view ops as aliases, {c['shape_ops']} "
              f"shape/constant nodes evaluated")
        for note in imp.notes:
            print(f"  note: {note}")
    if args.out:
        import sys

        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _cmd_show(args) -> int:
    from ewssim.workload.onnx import parse_input_shape

    net = load_network(args.network, input_shape=parse_input_shape(args.input_shape))
    if args.json:
        d = net.as_dict()
        if str(net.source).lower().endswith(".onnx"):
            from ewssim.workload.onnx import cached_imports

            imp = next((i for i in cached_imports(net.source) if i.network == net), None)
            if imp is not None:     # what the import covered, as `workload import` says
                d.update(coverage=imp.coverage, weights_in_file=imp.has_weights,
                         import_notes=imp.notes, input_shape=list(imp.input_shape))
        print(json.dumps(d, indent=1))
        return 0
    rows = []
    for i, la in enumerate(net):
        g = la.gemm
        m = f"{la.batch}x{g.m}" if la.batch > 1 else str(g.m)
        rows.append([str(i), la.name, la.kind, la.shape_str, m, str(g.kr), str(g.n),
                     f"{la.macs:,}", f"{la.weights:,}"])
    print(f"network {net.name}" + (f" ({net.source})" if net.source else "")
          + f": {len(net)} layers")
    print(_table(["#", "layer", "type", "shape (HxWxC -> RxS/stride -> PxQxK)", "M", "Kr", "N",
                  "MACs", "weights"], rows, right={0, 4, 5, 6, 7, 8}))
    print()
    print(f"total MACs    {net.macs:>18,}  ({net.macs / 1e9:.3f} G)")
    print(f"total params  {net.params:>18,}  ({net.params / 1e6:.3f} M)")
    print(f"total weights {net.weights:>18,}  (INT8: {net.weights / 2**20:.2f} MiB)")
    print("M = output pixels (stream; heads x M for matmul), Kr = reduction length per group, "
          "N = output channels.")
    return 0
