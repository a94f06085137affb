"""Sweep throughput: 1,000 ResNet-18 design points with the local executor.

    python benchmarks/bench_sweep.py                     # 1 and 2 workers, 1,000 points each
    python benchmarks/bench_sweep.py --workers 2         # one worker count
    python benchmarks/bench_sweep.py --points 200 --workers 1   # a Latin-hypercube subset

The grid of issue 13: 4 presets (ews, ws, ews-cm, mvq) x 5 array shapes x 5 DRAM bandwidths x
10 L2 sizes = 1,000 points, analytic weight formats.  Each run writes a fresh SQLite file in a
temporary directory; prints wall time and simulated points per second.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ewssim.sweep import parse_spec, run_sweep  # noqa: E402

ARRAYS = ["16x16", "32x32", "32x64", "64x64", "128x128"]
SPEC = {
    "sweep": {"workloads": ["resnet18"], "name": "bench-1000"},
    "axes": {
        "array": ARRAYS,
        "memory.l2_bytes": {"log2_range": [262144, 134217728]},
        "memory.dram_bytes_per_cycle": [4, 8, 16, 32, 64],
        "preset": ["ews", "ws", "ews-cm", "mvq"],
    },
}


def run(workers: int, points: int | None) -> tuple[int, float]:
    data = dict(SPEC)
    if points is not None:  # a Latin-hypercube subset of the same grid
        data["sample"] = {"method": "lhs", "n": points, "seed": 0}
    spec = parse_spec(data, source="bench_sweep")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite"
        t0 = time.perf_counter()
        s = run_sweep(spec, db, executor="local", workers=workers)
        wall = time.perf_counter() - t0
    if s.errors or s.skipped:
        print(f"  warning: {s.errors} errors, {s.skipped} skipped", file=sys.stderr)
    return s.ran, wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, action="append",
                    help="worker count (repeatable; default: 1 and 2)")
    ap.add_argument("--points", type=int, help="a Latin-hypercube sample of N grid points")
    args = ap.parse_args()
    print(f"ResNet-18 sweep, local executor, {args.points or 1000} points")
    print(f"{'workers':>8} {'points':>7} {'wall [s]':>9} {'points/s':>9}")
    for w in args.workers or [1, 2]:
        n, wall = run(w, args.points)
        print(f"{w:>8} {n:>7} {wall:>9.1f} {n / wall:>9.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
