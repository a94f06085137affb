#!/usr/bin/env python3
"""Check the closed form of docs/scalesim-parity.md against SCALE-Sim v3 ground truth.

Reads tests/data/scalesim_v3/cases.json (written by benchmarks/scalesim_gen.py) and, for every
layer, compares the closed-form prediction with what SCALE-Sim wrote:

* Total Cycles, for every case (in USER bandwidth mode: Total Cycles - Stall Cycles);
* Stall Cycles == 0, Overall Util %, Mapping Efficiency %, Compute Util % (CALC mode);
* SRAM IFMAP/Filter reads, SRAM OFMAP writes, and the SRAM start/stop cycles of the
  DETAILED_ACCESS_REPORT (CALC mode);
* Total Cycles of the 54 layers of the peer ResNet-50 run (peer_resnet50 section);
* if tests/data/scalesim_v3/user_cases.json exists (InterfaceBandwidth USER runs, written by
  ``scalesim_gen.py --suite user``): the stall-free part of every layer, i.e.
  Total Cycles - Stall Cycles, Mapping Efficiency %, Compute Util % and the SRAM read/write
  counts (stalls themselves need the memory model, not this closed form), and that exactly
  the runs marked ``expect_error`` failed.

Prints every mismatch and exits non-zero if there is any.  Standard library only.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "scalesim_v3" / "cases.json"
USER_DATA = DATA.with_name("user_cases.json")


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def parse_layers(fmt: str, row: str) -> list[dict]:
    """Topology row -> list of layers {name, T, Kr, N, geom} the way SCALE-Sim v3 reads it.

    conv row ``name, H, W, R, S, C, K, stride,[ N:M,]``: output rows/cols are
    ceil((H - R + stride) / stride) and ceil((W - S + stride) / stride); T = out_h * out_w,
    Kr = R*S*C (reduction, mapped on array rows), N = K (filters, mapped on array cols).
    A name containing 'DP' is a depthwise layer: C separate layers with C = 1.
    gemm row ``name, M, N, K,[ N:M,]`` is the conv layer H=M, W=K, R=1, S=K, C=1, K=N, stride 1:
    T = M, Kr = K, N = N.  The N:M sparsity column is ignored when SparsitySupport is false.
    """
    f = [x.strip() for x in row.split(",")][
        :-1
    ]  # SCALE-Sim drops the last field (after the final comma)
    name = f[0]
    if fmt == "gemm":
        m, n, k = int(f[1]), int(f[2]), int(f[3])
        h, w, r, s, c, kf, st = m, k, 1, k, 1, n, 1
    else:
        h, w, r, s, c, kf, st = (int(x) for x in f[1:8])
    oh, ow = cdiv(h - r + st, st), cdiv(w - s + st, st)
    layers = [(name, c)]
    if fmt == "conv" and "DP" in name:
        layers = [(f"{name}Channel_{i}", 1) for i in range(c)]
    return [
        {"name": nm, "T": oh * ow, "Kr": r * s * ch, "N": kf, "geom": (h, w, r, s, ch, st, oh, ow)}
        for nm, ch in layers
    ]


def last_valid_ifmap_line(rows: int, kr: int, geom: tuple) -> int:
    """Within the last row fold: max over in-bounds ifmap taps of (pixel index + column in fold).

    Taps of ceil-rounded edge windows that fall outside the ifmap are no-requests (-1) in
    SCALE-Sim, so the last *valid* request can come earlier than the last line of the fold.
    """
    h, w, r, s, c, st, oh, ow = geom
    fr = cdiv(kr, rows)
    best = -1
    for p in range(oh * ow):
        orow, ocol = divmod(p, ow)
        for j in range((fr - 1) * rows, kr):
            fy, rem = divmod(j, s * c)
            fx = rem // c
            if orow * st + fy < h and ocol * st + fx < w:
                best = max(best, p + j - (fr - 1) * rows)
    return best


def closed_form(rows: int, cols: int, t: int, kr: int, n: int, geom: tuple | None = None) -> dict:
    """Everything SCALE-Sim v3 WS (CALC mode, no stalls) reports, in closed form."""
    fr, fc = cdiv(kr, rows), cdiv(n, cols)
    folds = fr * fc
    per_fold = 2 * rows + cols + t - 2  # demand-matrix lines per fold
    total = folds * per_fold - 1  # index of the last line (cycles counted from 0)
    macs = t * kr * n
    last_r = kr - (fr - 1) * rows  # rows used by the last row fold
    last_c = n - (fc - 1) * cols  # cols used by the last col fold
    base = (folds - 1) * per_fold  # first line of the last fold
    return {
        "Total Cycles": total,
        "Stall Cycles": 0,
        "Overall Util %": macs * 100 / (total * rows * cols),
        "Mapping Efficiency %": kr * n * 100 / (rows * cols * folds),
        "Compute Util %": macs * 100 / (rows * cols * (2 * rows + 2 * cols + t - 3) * folds),
        "SRAM IFMAP Reads": fc * t * kr,
        "SRAM Filter Reads": kr * n,
        "SRAM OFMAP Writes": fr * t * n,
        "SRAM IFMAP Start Cycle": rows + 1,
        # all taps in bounds (GEMM, or (H-R) and (W-S) divisible by the stride): the last line
        # of the fold; otherwise see last_valid_ifmap_line()
        "SRAM IFMAP Stop Cycle": base
        + rows
        + 1
        + (t - 1 + last_r - 1 if geom is None else last_valid_ifmap_line(rows, kr, geom)),
        "SRAM Filter Start Cycle": max(0, rows - kr) + 1,
        "SRAM Filter Stop Cycle": base + rows,
        "SRAM OFMAP Start Cycle": 2 * rows - 1,
        "SRAM OFMAP Stop Cycle": base + 2 * rows + t + last_c - 3,
    }


def close(a, b) -> bool:
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("cases", nargs="?", type=Path, default=DATA)
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--user", type=Path, default=USER_DATA, help="USER-mode cases (if present)")
    args = ap.parse_args()
    doc = json.loads(args.cases.read_text())

    checked_layers = checked_values = 0
    mismatches: list[str] = []
    for case in doc["cases"]:
        if "error" in case:
            mismatches.append(f"{case['id']}: SCALE-Sim run failed: {case['error']}")
            continue
        cfg = case["config"]
        rows, cols = cfg["array_rows"], cfg["array_cols"]
        calc = cfg["interface_bandwidth"] == "CALC"
        expected = [x for row in case["topology_rows"] for x in parse_layers(case["format"], row)]
        if len(expected) != len(case["layers"]):
            mismatches.append(
                f"{case['id']}: {len(expected)} layers expected, {len(case['layers'])} reported"
            )
            continue
        for L, got in zip(expected, case["layers"], strict=True):
            name, t, kr, n = L["name"], L["T"], L["Kr"], L["N"]
            pred = closed_form(rows, cols, t, kr, n, L["geom"])
            comp, acc = got["compute_report"], got["detailed_access_report"]
            merged = {**comp, **acc}
            checked_layers += 1
            if calc:
                keys = list(pred)
                pairs = [(k, pred[k], merged[k]) for k in keys]
            else:  # USER mode: stalls are possible; check the stall-free part only
                pairs = [
                    (
                        "Total Cycles - Stall Cycles",
                        pred["Total Cycles"],
                        comp["Total Cycles"] - comp["Stall Cycles"],
                    )
                ]
            for key, p, g in pairs:
                checked_values += 1
                if not close(p, g):
                    mismatches.append(
                        f"{case['id']}/{name} (T={t}, Kr={kr}, N={n}, {rows}x{cols}): "
                        f"{key}: formula {p} != SCALE-Sim {g}"
                    )
            if args.verbose:
                print(
                    f"{case['id']:34s} {name:34s} total {comp['Total Cycles']:>8} "
                    f"stall {comp['Stall Cycles']}"
                )

    peer = doc.get("peer_resnet50")
    n_peer = 0
    if peer:
        rows, cols = peer["config"]["array_rows"], peer["config"]["array_cols"]
        for L in peer["layers"]:
            (x,) = parse_layers(peer["format"], L["topology_row"])
            name = x["name"]
            p = closed_form(rows, cols, x["T"], x["Kr"], x["N"])["Total Cycles"]
            n_peer += 1
            checked_values += 1
            if p != L["total_cycles"]:
                mismatches.append(
                    f"peer_resnet50/{name}: formula {p} != SCALE-Sim {L['total_cycles']}"
                )

    n_user = 0
    last_line_read = 0
    if args.user.exists():
        udoc = json.loads(args.user.read_text())
        for case in udoc["cases"]:
            if "error" in case or case.get("expect_error"):
                if not (case.get("expect_error") and "error" in case):
                    mismatches.append(
                        f"{case['id']}: expect_error={case.get('expect_error', False)} but "
                        f"error={case.get('error')}"
                    )
                continue
            cfg = case["config"]
            rows, cols = cfg["array_rows"], cfg["array_cols"]
            expected = [x for r in case["topology_rows"] for x in parse_layers(case["format"], r)]
            if len(expected) != len(case["layers"]):
                mismatches.append(f"{case['id']}: layer count differs")
                continue
            for L, got in zip(expected, case["layers"], strict=True):
                pred = closed_form(rows, cols, L["T"], L["Kr"], L["N"], L["geom"])
                comp, acc = got["compute_report"], got["detailed_access_report"]
                n_user += 1
                pairs = [
                    (
                        "Total Cycles - Stall Cycles",
                        pred["Total Cycles"],
                        comp["Total Cycles"] - comp["Stall Cycles"],
                    )
                ]
                pairs += [(k, pred[k], comp[k]) for k in ("Mapping Efficiency %", "Compute Util %")]
                pairs += [
                    (k, pred[k], acc[k])
                    for k in ("SRAM IFMAP Reads", "SRAM Filter Reads", "SRAM OFMAP Writes")
                ]
                for key, p, g in pairs:
                    checked_values += 1
                    if key.startswith("Total") and cols == 1 and g < p:
                        # docs/scalesim-parity.md 7.2: Total is the served cycle of the last
                        # line's ofmap write, which is earlier than n - 1 + Stall Cycles when
                        # the last line's largest stall is a read's (possible with one column)
                        last_line_read += 1
                        continue
                    if not close(p, g):
                        mismatches.append(
                            f"{case['id']}/{L['name']} (USER, {rows}x{cols}): "
                            f"{key}: formula {p} != SCALE-Sim {g}"
                        )

    for m in mismatches:
        print("MISMATCH", m)
    arrays = sorted({(c["config"]["array_rows"], c["config"]["array_cols"]) for c in doc["cases"]})
    print(
        f"cases: {len(doc['cases'])}, layers: {checked_layers} (+{n_peer} peer ResNet-50), "
        f"arrays: {', '.join(f'{r}x{c}' for r, c in arrays)}"
    )
    if n_user:
        print(f"USER layers (user_cases.json, stall-free part): {n_user} ({last_line_read} "
              "one-column layers whose last line waits longest for a read: Total Cycles - "
              "Stall Cycles below the formula, as section 7.2 says)")
    print(f"values checked: {checked_values}, mismatches: {len(mismatches)}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
