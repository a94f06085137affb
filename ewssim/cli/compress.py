"""`ewssim compress` (compress a network into a directory) and `ewssim compress inspect DIR`.

``compress`` has a default action (flags only) and one sub-action, ``inspect``: the ``inspect``
sub-parser is optional, so ``ewssim compress --workload resnet18 --out d`` and
``ewssim compress inspect d --json`` both parse; the compress flags are checked in the handler.
"""

from __future__ import annotations

import json

from ewssim.errors import InputError

_METHODS = ("mvq", "vq", "ssvq", "casec", "int8", "dense", "dbb")
_ENCODINGS = ("bitmap", "positions", "combinatorial")
_FITS = ("int8", "dense", "pad", "error")


def register(sub) -> None:
    p = sub.add_parser(
        "compress", help="compress a network's weights (MVQ, VQ, SSVQ, case C, INT8, DBB)",
        description="Compress every weighted layer of a network into DIR (one .npz per layer + "
                    "manifest.json; format in docs/compression.md), or inspect such a DIR "
                    "with `ewssim compress inspect DIR`.")
    p.add_argument("--workload", metavar="NAME|FILE", help="zoo name or topology CSV")
    p.add_argument("--from", dest="from_model", metavar="MODEL.onnx",
                   help="compress an ONNX model's own weights (the workload is the model; "
                        "batch norms are folded into the convs)")
    p.add_argument("--input-shape", metavar="N,C,H,W",
                   help="with --from (or an .onnx --workload): the model's input shape when "
                        "the file's is dynamic, e.g. 1,3,640,640")
    p.add_argument("--method", choices=_METHODS, default="mvq",
                   help="mvq (prune + masked k-means, default), vq (plain k-means), ssvq "
                        "(sign split + k-means on |W|), casec (prune + k-means with zeros), "
                        "int8 (also 'dense'), dbb (S2TA density-bound blocks: N:M-pruned INT8, "
                        "N = NNZ per block of M = BZ channels)")
    p.add_argument("--nm", metavar="N:M", help="N:M pruning (default 1:4 for mvq/casec, 4:8 for "
                                               "dbb, none for vq/ssvq; N=M means no pruning)")
    p.add_argument("--k", type=int, metavar="K", help="codewords, a power of two (default 256; "
                                                      "ssvq 16; not for dbb)")
    p.add_argument("--d", type=int, metavar="D", help="sub-vector length, a multiple of M "
                                                      "(default 8; not for dbb: its block is M)")
    p.add_argument("--weights", default=None, metavar="synthetic|PATH",
                   help="synthetic (seeded, default; with --from: the model's own weights) or "
                        "a .npz/.npy/.safetensors/.onnx file or a directory of <layer>.npy")
    p.add_argument("--seed", type=int, default=0, help="seed of synthetic weights and k-means")
    p.add_argument("--mask-encoding", choices=_ENCODINGS, default=None,
                   help="how N:M masks are stored and counted (default bitmap; dbb positions)")
    p.add_argument("--codebook-groups", type=int, default=None, metavar="G",
                   help="codebooks per layer, over G blocks of output channels (default 1)")
    p.add_argument("--fit", choices=_FITS, default="int8",
                   help="layers where d does not divide in_c/groups or with fewer sub-vectors "
                        "than k: keep INT8 (int8, default; 'dense' is the older name), "
                        "zero-pad channels (pad), or fail (error)")
    p.add_argument("--max-iter", type=int, default=20, help="k-means iterations cap (20)")
    p.add_argument("--out", metavar="DIR", help="output directory (written atomically)")
    p.set_defaults(func=_cmd_compress)

    csub = p.add_subparsers(dest="compress_cmd", metavar="{inspect}", parser_class=type(p))
    csub.required = False
    pi = csub.add_parser("inspect", help="per-layer and total storage, ratio and SSE of a DIR",
                         description="Show a compressed-network directory: bits, compression "
                                     "ratios and reconstruction error per layer and in total.")
    pi.add_argument("dir", metavar="DIR")
    pi.add_argument("--json", action="store_true", help="print the report as JSON")
    pi.set_defaults(func=_cmd_inspect)


def _cmd_compress(args) -> int:
    from ewssim import api

    from .progress import Progress

    if args.from_model and args.workload:
        raise InputError("give --workload or --from, not both", source="command line",
                         field="--from", allowed="--from MODEL.onnx (the model is the workload)")
    workload = args.from_model or args.workload
    for flag, val in (("--workload (or --from)", workload), ("--out", args.out)):
        if not val:
            raise InputError("is required", source="command line", field=flag)
    if args.weights is None:
        args.weights = args.from_model or "synthetic"
    net = api.load_workload(workload, input_shape=args.input_shape)
    weighted = [la for la in net.layers if la.has_weights]
    with Progress(len(weighted), "layers") as bar:
        try:
            cn = api.compress(net, args.method, weights=args.weights, out=args.out,
                              progress=bar, nm=args.nm, k=args.k, d=args.d,
                              mask_encoding=args.mask_encoding,
                              codebook_groups=args.codebook_groups, fit=args.fit,
                              seed=args.seed, max_iter=args.max_iter, source="command line")
        except InputError as exc:
            raise _as_flag(exc) from None
    b = cn.bits
    print(f"compressed {net.name}: {len(cn.layers)} layers, {b.weights:,} weights -> "
          f"{b.total:,} bits ({b.bits_per_weight:.3f} bits/weight), {b.ratio_fp32:.2f}x vs FP32, "
          f"{b.ratio_int8:.2f}x vs INT8 -> {args.out}")
    kept = [la.name for la in cn.layers if la.note]
    if kept:
        print(f"{len(kept)} layer(s) with a note (see `ewssim compress inspect {args.out}`): "
              + ", ".join(kept[:6]) + (" ..." if len(kept) > 6 else ""))
    return 0


_FLAGS = {"nm", "k", "d", "mask_encoding", "codebook_groups", "fit", "seed", "max_iter"}


def _as_flag(exc: InputError) -> InputError:
    """A settings error names the flag the user typed (``--mask-encoding``)."""
    if exc.source != "command line" or exc.field not in _FLAGS:
        return exc
    return InputError(exc.problem, source=exc.source, field="--" + exc.field.replace("_", "-"),
                      allowed=exc.allowed)


def _fmt(v, spec: str = ",") -> str:
    if v is None:
        return "-"
    return format(v, spec)


def _cmd_inspect(args) -> int:
    from ewssim.compress import load_network_dir, network_report

    from .workload import _table

    rep = network_report(load_network_dir(args.dir))
    if args.json:
        print(json.dumps(rep, indent=1))
        return 0
    st = rep["settings"]
    fmt = (f"block {st.get('d')}" if st.get("method") == "dbb" else
           f"k {st.get('k')}, d {st.get('d')}, codebook groups {st.get('codebook_groups')}")
    print(f"network {rep['network']} ({args.dir}): method {st.get('method')}, "
          f"N:M {':'.join(map(str, st.get('nm', [])))}, {fmt}, "
          f"mask {st.get('mask_encoding')}, fit {st.get('fit')}, weights {st.get('weights')}")
    header = ["layer", "method", "weights", "n_sub", "index[bit]", "mask[bit]", "sign[bit]",
              "int8[bit]", "codebook+scale[bit]", "total[bit]", "bits/weight", "vsFP32[x]",
              "vsFP32_nocb[x]", "vsINT8[x]", "vsINT8_nocb[x]", "SSE_all[w^2]", "SSE_kept[w^2]",
              "note"]

    def row(r: dict, name: str, method: str, n_sub: str, note: str) -> list[str]:
        return [name, method, f"{r['weights']:,}", n_sub, f"{r['index_bits']:,}",
                f"{r['mask_bits']:,}", f"{r['sign_bits']:,}", f"{r['dense_bits']:,}",
                f"{r['overhead_bits']:,}",
                f"{r['total_bits']:,}", f"{r['bits_per_weight']:.3f}", f"{r['ratio_fp32']:.2f}",
                f"{r['ratio_fp32_nocb']:.2f}", f"{r['ratio_int8']:.2f}",
                f"{r['ratio_int8_nocb']:.2f}", _fmt(r['sse_all'], ".4g"),
                _fmt(r['sse_kept'], ".4g"), note]

    rows = [row(r, r["name"], r["method"], f"{r['n_sub']:,}", r["note"]) for r in rep["layers"]]
    rows.append(row(rep["total"], "TOTAL", "", "", ""))
    print(_table(header, rows, right=set(range(2, 17))))
    print()
    print(rep["formula"] + ".")
    print("int8 = stored int8 weight values (dense: all, total = weights*8 + 32; dbb: the kept "
          "ones, n_sub = blocks). SSE in squared weight units: _all over every weight, _kept over "
          "unpruned (important) weights.")
    if rep["skipped"]:
        print(f"layers without weights (not stored): {', '.join(rep['skipped'])}")
    return 0
