#!/usr/bin/env python3
"""Speed and memory of `ewssim run` (a benchmark, not a test).

    python benchmarks/bench_run.py                  # zoo networks, wall time and peak RSS
    python benchmarks/bench_run.py --scaling        # cost grows with tiles, not MACs
    python benchmarks/bench_run.py --scalesim [--layers N]
        # SCALE-Sim v3 side by side on SCALE-Sim's own ResNet-50 topology (first N layers;
        # needs the separate venv of benchmarks/scalesim_gen.py; SCALE-Sim is never a
        # dependency of ewssim)

Each `ewssim run` is a fresh subprocess (`python -m ewssim run ... --json`), so wall time includes
interpreter start-up and imports, and peak memory is the maximum resident set size of the
largest of its processes (the run itself or one of its `--jobs` workers).  `--jobs N` is passed
on to every run (default: ewssim's own, every processor).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PEER = REPO / "tests" / "data" / "scalesim_v3"
# SCALE-Sim v3 on the full mlperf ResNet-50, 32x32 WS, on a 2-core machine like ours
# (shared/peer/scalesim/README.md): wall time and peak memory of that run.
SCALESIM_R50_WALL_S = 857.6
SCALESIM_R50_PEAK_GB = 11.3


def run_cli(args: list[str]) -> tuple[float, float, dict]:
    """(wall seconds, peak RSS in MB, JSON totals) of one `python -m ewssim run ... --json`."""
    cmd = [sys.executable, "-c",
           "import resource, sys, runpy; sys.argv = ['ewssim'] + sys.argv[1:];"
           "rc = 0\n"
           "try:\n runpy.run_module('ewssim', run_name='__main__')\n"
           "except SystemExit as e:\n rc = e.code or 0\n"
           "print(max(resource.getrusage(w).ru_maxrss for w in (resource.RUSAGE_SELF,"
           " resource.RUSAGE_CHILDREN)), file=sys.stderr)\n"
           "sys.exit(rc)",
           "run", *args, "--json"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    rss_mb = int(r.stderr.strip().splitlines()[-1]) / 1024
    return wall, rss_mb, json.loads(r.stdout)


def bench_zoo(jobs: list[str]) -> None:
    cases = [("ws", "resnet50", "32x32"), ("scalesim-ws", str(PEER / "mlperf_Resnet50.csv"),
             "32x32"), ("ews", "resnet50", "32x32"), ("ews", "resnet18", "64x64"),
             ("ws", "vgg16", "32x32"), ("ews", "mobilenet_v2", "64x64"),
             ("ews", "deit_tiny", "64x64"), ("ews", "alexnet", "64x64"),
             ("mvq", "resnet50", "32x32"), ("ews", "vgg16", "8x8")]
    print(f"{'arch':<12} {'workload':<18} {'array':<6} {'wall [s]':>9} {'peak RSS [MB]':>14} "
          f"{'total cycles':>14} {'MACs':>16}")
    for arch, wl, arr in cases:
        wall, rss, tot = run_cli(["--arch", arch, "--workload", wl, "--array", arr, *jobs])
        name = Path(wl).stem if "/" in wl else wl
        print(f"{arch:<12} {name:<18} {arr:<6} {wall:9.2f} {rss:14.0f} "
              f"{tot['total_cycles']:14,} {tot['macs']:16,}")
        if arch == "scalesim-ws":
            print(f"  SCALE-Sim v3 on the same topology and array: {SCALESIM_R50_WALL_S} s, "
                  f"{SCALESIM_R50_PEAK_GB} GB -> ewssim is {SCALESIM_R50_WALL_S / wall:,.0f}x "
                  f"faster, {SCALESIM_R50_PEAK_GB * 1024 / rss:,.0f}x less memory")


def bench_scaling() -> None:
    """WS: the same tiles with 64x / 4096x more MACs (longer streams) cost the same; more tiles
    cost more.  (Under EWS the PRF cuts streams into 16-pixel chunks, so there the tile count --
    and the cost -- does grow with the stream.)"""
    from ewssim import api
    from ewssim.workload.layers import Layer, Network

    def timed(net, repeat=5):
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            r = api.simulate("ws", net, array="32x32")
            best = min(best, time.perf_counter() - t0)
        return best, int(r.layers.tiles.sum()), int(r.layers.macs.sum())

    print(f"{'case':<44} {'tiles':>8} {'MACs':>16} {'time [ms]':>10} {'us/tile':>8}")
    for label, layers in [
        ("fc 256->256 over 64 tokens", [Layer("fc", "linear", 64, 1, 256, 256)]),
        ("fc 256->256 over 4096 tokens (64x MACs)", [Layer("fc", "linear", 4096, 1, 256, 256)]),
        ("fc 256->256 over 262144 tokens (4096x MACs)",
         [Layer("fc", "linear", 262144, 1, 256, 256)]),
        ("16 x fc 256->256 over 64 tokens (16x tiles)",
         [Layer(f"fc{i}", "linear", 64, 1, 256, 256) for i in range(16)]),
        ("fc 1024->4096 over 64 tokens (64x tiles)", [Layer("fc", "linear", 64, 1, 1024, 4096)]),
    ]:
        t, tiles, macs = timed(Network("n", tuple(layers)))
        print(f"{label:<44} {tiles:8,} {macs:16,} {t * 1e3:10.1f} {t * 1e6 / tiles:8.1f}")


def bench_scalesim(n_layers: int) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    import scalesim_gen as sg

    py = sg.venv_python(sg.DEFAULT_VENV)  # exits with instructions if the venv is missing
    rows = [r for r in (PEER / "mlperf_Resnet50.csv").read_text().splitlines()[1:] if r.strip()]
    rows = rows[:n_layers]
    case = {"id": f"bench_r50_first{n_layers}", "note": "", "format": "conv",
            "config": dict(array_rows=32, array_cols=32, ifmap_sram_kb=64, filter_sram_kb=64,
                           ofmap_sram_kb=64, dataflow="ws", interface_bandwidth="CALC",
                           bandwidth=10, sram_bank_bandwidth=10, sram_bank_num=10),
            "topology_header": (PEER / "mlperf_Resnet50.csv").read_text().splitlines()[0],
            "topology_rows": rows}
    with tempfile.TemporaryDirectory() as scratch:
        res = sg.run_case(py, case, Path(scratch))
        topo = Path(scratch) / "t.csv"
        topo.write_text(case["topology_header"] + "\n" + "\n".join(rows) + "\n")
        out = Path(scratch) / "ew"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ewssim", "run", "--arch", "scalesim-ws",
                        "--workload", str(topo), "--array", "32x32", "--out", str(out)],
                       check=True, capture_output=True)
        wall = time.perf_counter() - t0
        ours = [ln.split(",") for ln in (out / "layers.csv").read_text().splitlines()]
    header, body = ours[0], ours[1:]
    tc = header.index("total_cycles")
    print(f"SCALE-Sim v3: {res['wall_s']:.1f} s   ewssim: {wall:.2f} s   "
          f"ratio {res['wall_s'] / wall:,.0f}x")
    print(f"{'layer':<10} {'SCALE-Sim':>10} {'ewssim':>10} {'diff':>6}")
    for la, row in zip(res["layers"], body, strict=True):
        want, got = la["compute_report"]["Total Cycles"], int(row[tc])
        print(f"{la['name']:<10} {want:>10} {got:>10} {got - want:>6}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scaling", action="store_true")
    ap.add_argument("--scalesim", action="store_true")
    ap.add_argument("--layers", type=int, default=6, help="SCALE-Sim: first N ResNet-50 layers")
    ap.add_argument("--jobs", type=int, help="`ewssim run --jobs N` for the zoo networks")
    a = ap.parse_args()
    if a.scaling:
        bench_scaling()
    elif a.scalesim:
        bench_scalesim(a.layers)
    else:
        bench_zoo(["--jobs", str(a.jobs)] if a.jobs else [])


if __name__ == "__main__":
    main()
