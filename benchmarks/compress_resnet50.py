"""Time MVQ compression of all of ResNet-50 (synthetic weights, d=8, k=256, 1:4) -- a script,
not a test.  Target: under 60 s on the project's 2-core machine.

    python benchmarks/compress_resnet50.py [--network resnet50] [--method mvq] [--threads 1]

BLAS runs single-threaded by default (``--threads``): the distance products are thin
(n x 2d times 2d x k) and on a shared 2-core machine a second BLAS thread mostly contends.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", default="resnet50")
    ap.add_argument("--method", default="mvq")
    ap.add_argument("--nm", default="1:4")
    ap.add_argument("--k", type=int, default=256)
    ap.add_argument("--d", type=int, default=8)
    ap.add_argument("--threads", default="1", help="OPENBLAS_NUM_THREADS (set before numpy)")
    ap.add_argument("--out", default=None, help="also save the result to this directory")
    a = ap.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", a.threads)

    from ewssim.compress import Settings, compress_network, save_network
    from ewssim.workload import load_network

    net = load_network(a.network)
    n, m = (int(v) for v in a.nm.split(":"))
    s = Settings.for_method(a.method, nm=(n, m), k=a.k, d=a.d)
    t0 = time.perf_counter()
    cn = compress_network(net, "synthetic", s)
    dt = time.perf_counter() - t0
    b = cn.bits
    print(f"{a.network}: {len(cn)} weighted layers, {b.weights:,} weights, method {a.method} "
          f"{a.nm} k={a.k} d={a.d}: {dt:.1f} s "
          f"(OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']})")
    print(f"  {b.total:,} bits = {b.bits_per_weight:.3f} bits/weight; {b.ratio_fp32:.2f}x vs "
          f"FP32 ({b.ratio_fp32_nocb:.2f}x without codebooks), {b.ratio_int8:.2f}x vs INT8")
    print(f"  SSE all {cn.stat_total('sse_all'):.4g}, kept {cn.stat_total('sse_kept'):.4g}, "
          f"sum of squares {cn.stat_total('sum_sq'):.4g}")
    if a.out:
        save_network(cn, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
