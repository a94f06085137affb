"""`ewssim area`: the area breakdown of an architecture (docs/model-reference.md §7)."""

from __future__ import annotations

import json

from ewssim import api
from ewssim.area import BLOCKS, area
from ewssim.cli.run import add_arch_args
from ewssim.dataflow import resolve
from ewssim.tech import load as load_tech


def register(sub) -> None:
    p = sub.add_parser("area", help="area breakdown of an architecture (mm2 per block)")
    add_arch_args(p)
    p.add_argument("--tech", help="technology table: 40nm (default), NNnm (scaled), or a TOML "
                                  "file")
    p.add_argument("--json", action="store_true",
                   help='print {"total_mm2": ..., "blocks": {...}} only')
    p.set_defaults(func=_area)


def _area(args) -> int:
    arch = api.load_arch(args.arch, array=args.array, overrides=args.set)
    tech = load_tech(args.tech)
    hw = resolve(arch)
    rep = area(hw, tech)
    if args.json:
        print(json.dumps(rep.as_json()))
        return 0
    blocks = rep.blocks
    print(f"{arch.name}: {arch.array.rows}x{arch.array.cols} array, "
          f"{hw.physical_pes:,} physical PEs, technology {tech.name} "
          f"({tech.node_nm} nm)")
    for b in BLOCKS:
        comps = [c for c in rep.components if c.block == b]
        print(f"  {b:<8} {blocks[b]:10.4f} mm2")
        for c in comps:
            print(f"    {c.name:<32} {c.count:>12,.0f} x {c.area_um2:9.2f} um2 = "
                  f"{c.total_um2 / 1e6:8.4f} mm2")
    print(f"  {'total':<8} {rep.total_mm2:10.4f} mm2   leakage {rep.leakage_uW / 1e3:.2f} mW")
    for k, v in rep.notes.items():
        print(f"  {k} = {v:.4g}" if isinstance(v, float) else f"  {k} = {v}")
    return 0
