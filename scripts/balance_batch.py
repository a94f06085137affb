#!/usr/bin/env python3
"""SSVQ and MVQ speed-ups as a surface over machine balance and batch: reports/balance_batch.md.

    python scripts/balance_batch.py                    # the full grid, about 7 minutes
    python scripts/balance_batch.py --cache /tmp/bb.json   # keep (or reuse) the raw totals

Issue 15, step 11.  Every cell runs the INT8 baseline (preset ``ews``) and the two compressed
designs (``ssvq``: k = 16, d = 8, one sign bit per weight, dense array; ``mvq``: EWS-CMS, 1:4
masks, k = 256, d = 8, sparsity-aware array) on the same workload, DRAM bandwidth and batch:
DRAM 1, 2, 4, 8, 16, 32, 64 B/cycle (``memory.dram_bytes_per_cycle``) times batch 1, 2, 4, 8, 16
(``api.simulate(..., batch=b)``: cycles for the whole batch) on DeiT-tiny, ResNet-18 and
TinyLlama-1.1B decode (one token per sequence, each sequence its own 512-token KV cache).
Everything else is the preset default: 64x64 arrays, 1 MiB L2, 100-cycle DRAM latency, analytic
weight formats.  Speed-up = baseline total cycles / design total cycles; energy ratio =
baseline energy / design energy.

The report has, per workload, the speed-up tables (bandwidth across, batch down; cells at or
above 3x in bold, the default machine, 16 B/cycle and batch 1, marked with a dagger), the
energy ratios, the INT8 baseline's stall share by cause and the DRAM traffic ratio, then a
"Reading" section whose numbers are computed from the same runs.  With matplotlib installed it
also writes reports/balance_batch.png (heat maps with the 3x contour).  Nothing here is tuned
toward a published figure; the published points (SSVQ about 3x over INT8 on DeiT-tiny, DRAM
bandwidth not published; MVQ 2.3x energy efficiency over EWS on ResNet-18) are located on the
surface, not fitted.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from ewssim import api

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "reports" / "balance_batch.md"
PNG = ROOT / "reports" / "balance_batch.png"

BANDWIDTHS = (1, 2, 4, 8, 16, 32, 64)
BATCHES = (1, 2, 4, 8, 16)
WORKLOADS = (("deit_tiny", "DeiT-tiny"), ("resnet18", "ResNet-18"),
             ("tinyllama-1.1b-decode", "TinyLlama-1.1B decode"))
BASE = "ews"
DESIGNS = ("ews", "ssvq", "mvq")
DEFAULT = (16, 1)  # the default machine: DRAM 16 B/cycle, batch 1
THREE = 3.0  # the published SSVQ speed-up on DeiT-tiny
MVQ_ENERGY = 2.3  # the published MVQ energy efficiency over EWS on ResNet-18
KEEP = ("total_cycles", "compute_cycles", "stall_cycles", "dram_read_bytes", "dram_write_bytes",
        "dram_weight_read_bytes", "dram_act_read_bytes", "dram_out_write_bytes", "energy_pJ",
        "energy_dram_pJ", "int8_weight_bytes")


def measure(workload: str, bandwidths=BANDWIDTHS, batches=BATCHES, designs=DESIGNS,
            log=None) -> dict:
    """``{(design, bw, batch): totals}`` for one workload (the totals this report reads: cycles,
    every ``stall_<cause>_cycles``, DRAM bytes, energy)."""
    out = {}
    for bw in bandwidths:
        archs = {d: api.preset(d).replace({"memory.dram_bytes_per_cycle": bw}) for d in designs}
        for b in batches:
            for d in designs:
                t = api.simulate(archs[d], workload, batch=b).totals
                out[(d, bw, b)] = {k: float(v) for k, v in t.items()
                                   if k in KEEP or (k.startswith("stall_")
                                                    and k.endswith("_cycles"))}
            if log:
                log(f"{workload} {bw:g} B/cycle batch {b}")
    return out


def speedup(runs: dict, design: str, bw, b) -> float:
    return runs[(BASE, bw, b)]["total_cycles"] / runs[(design, bw, b)]["total_cycles"]


def energy_ratio(runs: dict, design: str, bw, b) -> float:
    return runs[(BASE, bw, b)]["energy_pJ"] / runs[(design, bw, b)]["energy_pJ"]


def dram_bytes(t: dict) -> float:
    return t["dram_read_bytes"] + t["dram_write_bytes"]


def causes(t: dict) -> dict[str, float]:
    """Stall cycles by cause (``dram_bandwidth``, ...), as in ``api.stall_causes``."""
    return {k[len("stall_"):-len("_cycles")]: v for k, v in t.items()
            if k.startswith("stall_") and k.endswith("_cycles") and k != "stall_cycles"}


def crossing(runs: dict, design: str, b, bws, level: float, value=speedup) -> float | None:
    """The bandwidth where the batch-``b`` row of ``value`` falls through ``level`` (linear in
    log2 bandwidth between the two cells that bracket it); None if it never does in range
    (``inf`` if every cell is at or above it, 0 if none is)."""
    vals = [value(runs, design, bw, b) for bw in bws]
    if all(v >= level for v in vals):
        return math.inf
    if vals[0] < level:
        return 0.0
    for i in range(len(bws) - 1):
        v0, v1 = vals[i], vals[i + 1]
        if v0 >= level > v1:
            x0, x1 = math.log2(bws[i]), math.log2(bws[i + 1])
            return 2 ** (x0 + (v0 - level) / (v0 - v1) * (x1 - x0))
    return None


# ---------------------------------------------------------------------------------- tables


def table(runs, bws, batches, cell, head: str) -> list[str]:
    """Bandwidth across, batch down; ``cell(bw, b)`` gives the text."""
    lines = [f"| {head} | " + " | ".join(f"{bw:g}" for bw in bws) + " |",
             "|---:|" + "---:|" * len(bws)]
    for b in batches:
        lines.append(f"| {b} | " + " | ".join(cell(bw, b) for bw in bws) + " |")
    return lines + [""]


def ratio_cell(v: float, bold_at: float | None, mark: bool) -> str:
    s = f"{v:.2f}×"
    if bold_at is not None and v >= bold_at:
        s = f"**{s}**"
    return s + (" †" if mark else "")


def ratio_table(runs, bws, batches, fn, design, bold_at) -> list[str]:
    return table(runs, bws, batches,
                 lambda bw, b: ratio_cell(fn(runs, design, bw, b), bold_at, (bw, b) == DEFAULT),
                 "batch \\ DRAM [B/cycle]")


def stall_table(runs, bws, batches) -> list[str]:
    """INT8 baseline: stall share of total cycles, and the DRAM-bandwidth share of it."""
    def cell(bw, b):
        t = runs[(BASE, bw, b)]
        c = causes(t)
        top = max(c, key=c.get)
        s = (f"{t['stall_cycles'] / t['total_cycles']:.2f} "
             f"({c['dram_bandwidth'] / t['total_cycles']:.2f}")
        s += ")" if top == "dram_bandwidth" or c[top] == 0 else f"; {top.replace('_', ' ')})"
        return s + (" †" if (bw, b) == DEFAULT else "")
    return table(runs, bws, batches, cell, "batch \\ DRAM [B/cycle]")


def traffic_table(runs, bws, batches, design) -> list[str]:
    """INT8 DRAM bytes / design DRAM bytes, and the weight share of the INT8 bytes."""
    def cell(bw, b):
        e, d = runs[(BASE, bw, b)], runs[(design, bw, b)]
        return (f"{dram_bytes(e) / dram_bytes(d):.2f} "
                f"({e['dram_weight_read_bytes'] / dram_bytes(e):.2f})")
    return table(runs, bws, batches, cell, "batch \\ DRAM [B/cycle]")


# ---------------------------------------------------------------------------------- reading


def cells_at_least(runs, design, bws, batches, level, fn=speedup) -> list[tuple]:
    return [(bw, b) for b in batches for bw in bws if fn(runs, design, bw, b) >= level]


def share(t: dict, key: str = "stall_dram_bandwidth_cycles") -> float:
    return t[key] / t["total_cycles"]


def grid_range(runs, design, bws, batches, fn) -> str:
    vals = [fn(runs, design, bw, b) for bw in bws for b in batches]
    return f"{min(vals):.2f}–{max(vals):.2f}×"


def reading_workload(name: str, label: str, runs: dict, bws, batches) -> list[str]:
    """The per-workload bullets of the Reading section, every number from ``runs``."""
    lines = []
    lo, hi = bws[0], bws[-1]
    e1, s1 = runs[(BASE, lo, 1)], runs[("ssvq", lo, 1)]
    wr = e1["dram_weight_read_bytes"] / s1["dram_weight_read_bytes"]
    tr = dram_bytes(e1) / dram_bytes(s1)
    row1 = ", ".join(f"{speedup(runs, 'ssvq', bw, 1):.2f}×" for bw in bws)
    share1 = ", ".join(f"{share(runs[(BASE, bw, 1)]):.2f}" for bw in bws)
    lines.append(
        f"- **{label}, SSVQ over bandwidth (batch 1)**: {row1} at {', '.join(map(str, bws))} "
        f"B/cycle; the INT8 baseline's DRAM-bandwidth stall share along the row is {share1}. "
        f"SSVQ's weights are {wr:.2f}× fewer DRAM bytes, but activations and outputs are not "
        f"compressed, so all DRAM traffic is {tr:.2f}× less (weights are "
        f"{e1['dram_weight_read_bytes'] / dram_bytes(e1):.2f} of INT8's traffic). That ratio "
        f"is the ceiling of the speed-up; at {lo:g} B/cycle it reaches "
        f"{speedup(runs, 'ssvq', lo, 1):.2f}× because INT8 is DRAM-bound "
        f"({share(e1):.2f} of its cycles stalled on DRAM bandwidth) and SSVQ less so "
        f"({share(s1):.2f}; the rest is compute its smaller transfers no longer hide).")
    per = []
    for b in batches:
        t = runs[(BASE, lo, b)]
        per.append(f"batch {b}: {t['dram_weight_read_bytes'] / b / 1e6:,.2f} / "
                   f"{(t['dram_act_read_bytes'] + t['dram_out_write_bytes']) / b / 1e6:,.2f}")
    rowb = ", ".join(f"{speedup(runs, 'ssvq', lo, b):.2f}×" for b in batches)
    bmax = batches[-1]
    lines.append(
        f"- **{label}, SSVQ over batch ({lo:g} B/cycle)**: {rowb} at batch "
        f"{', '.join(map(str, batches))}. INT8 DRAM bytes per input, weights / activations "
        f"and outputs [MB]: {'; '.join(per)}. Weight bytes per input fall with the batch (fetched "
        f"once per batch, or a few times once the batch's activations take the L2); "
        f"activation and output bytes per input do not, and SSVQ does not shrink them: the "
        f"traffic ratio falls from {tr:.2f} to "
        f"{dram_bytes(runs[(BASE, lo, bmax)]) / dram_bytes(runs[('ssvq', lo, bmax)]):.2f} "
        f"at batch {bmax}, and the speed-up with it.")
    eh, sh = runs[(BASE, hi, 1)], runs[("ssvq", hi, 1)]
    lines.append(
        f"- **{label}, high bandwidth**: at {hi:g} B/cycle, batch 1, INT8 stalls "
        f"{eh['stall_cycles'] / eh['total_cycles']:.2f} of its cycles (DRAM bandwidth "
        f"{share(eh):.2f}) and SSVQ {sh['stall_cycles'] / sh['total_cycles']:.2f}; compute "
        f"cycles {eh['compute_cycles']:,.0f} INT8 vs {sh['compute_cycles']:,.0f} SSVQ, so the "
        f"speed-up is {speedup(runs, 'ssvq', hi, 1):.2f}×: the array binds and the byte "
        f"saving no longer shows in time.")
    mh = runs[("mvq", hi, 1)]
    lines.append(
        f"- **{label}, MVQ**: {speedup(runs, 'mvq', lo, 1):.2f}× at {lo:g} B/cycle batch 1 "
        f"(weights {e1['dram_weight_read_bytes'] / runs[('mvq', lo, 1)]['dram_weight_read_bytes']:.2f}× "  # noqa: E501
        f"fewer bytes), {speedup(runs, 'mvq', *DEFAULT):.2f}× at the default point, "
        f"{speedup(runs, 'mvq', hi, 1):.2f}× at {hi:g} B/cycle, where its compute cycles are "
        f"{mh['compute_cycles'] / eh['compute_cycles']:.2f}× EWS's; "
        f"≥ 3× in {len(cells_at_least(runs, 'mvq', bws, batches, THREE))} of "
        f"{len(bws) * len(batches)} cells. Energy EWS/MVQ "
        f"{grid_range(runs, 'mvq', bws, batches, energy_ratio)} over the grid "
        f"({energy_ratio(runs, 'mvq', *DEFAULT):.2f}× at the default point), EWS/SSVQ "
        f"{grid_range(runs, 'ssvq', bws, batches, energy_ratio)} "
        f"({energy_ratio(runs, 'ssvq', *DEFAULT):.2f}×).")
    return lines


def by_batch(cells: list[tuple]) -> str:
    """``[(bw, b), ...]`` as "batch 1 at 1, 2, 4 B/cycle; batch 2 at 1 B/cycle"."""
    bs = sorted({b for _, b in cells})
    return "; ".join(f"batch {b} at " + ", ".join(f"{bw:g}" for bw, bb in cells if bb == b)
                     + " B/cycle" for b in bs) or "nowhere"


def conclusion(data: dict, bws, batches) -> list[str]:
    """Where 3x holds, and why; where the published MVQ energy figure falls."""
    macs = 64 * 64  # MACs per cycle of the 64x64 array
    d, r, ll = data["deit_tiny"], data["resnet18"], data["tinyllama-1.1b-decode"]
    lo = bws[0]
    n = len(bws) * len(batches)
    x1 = crossing(d, "ssvq", 1, bws, THREE)
    x2 = crossing(d, "ssvq", 2, bws, THREE)
    deit_cells = cells_at_least(d, "ssvq", bws, batches, THREE)
    d_b = [b for b in batches if any(c[1] == b for c in deit_cells)]
    d_next = [b for b in batches if b > max(d_b, default=0)]
    lines = ["## Where 3× holds, and why", ""]
    out = [
        f"- **DeiT-tiny, SSVQ (the published point)**: at or above 3× in {len(deit_cells)} "
        f"of {n} cells: " + ", ".join(f"{bw:g} B/cycle batch {b} "
                                     f"({speedup(d, 'ssvq', bw, b):.2f}×)"
                                     for bw, b in deit_cells) + ". "
        + (f"The batch-1 row crosses 3× at about {x1:.1f} B/cycle, i.e. a machine balance of "
           f"about {macs / x1:,.0f} MACs per DRAM byte on the 64×64 array "
           if x1 and math.isfinite(x1) else "")
        + (f"(batch 2: {x2:.1f} B/cycle). " if x2 and math.isfinite(x2) else ". ")
        + f"The default machine ({DEFAULT[0]} B/cycle, {macs // DEFAULT[0]} MACs/byte) gives "
          f"{speedup(d, 'ssvq', *DEFAULT):.2f}×: there INT8 spends only "
          f"{share(d[(BASE, *DEFAULT)]):.2f} of its cycles on DRAM-bandwidth stalls. The "
          "published 3× therefore needs a baseline that waits on weight bytes; in this model "
          "that is a bandwidth-starved machine at batch 1 or 2, where the speed-up tends to "
          f"the DRAM traffic ratio ({dram_bytes(d[(BASE, lo, 1)]) / dram_bytes(d[('ssvq', lo, 1)]):.2f}× "  # noqa: E501
          "at batch 1)."
        + (f" From batch {d_next[0]} the batch's activations no longer fit the 1 MiB L2 "
           f"(INT8 activation and output DRAM bytes "
           f"{(d[(BASE, lo, max(d_b))]['dram_act_read_bytes'] + d[(BASE, lo, max(d_b))]['dram_out_write_bytes']) / 1e6:,.1f} MB at batch {max(d_b)}, "  # noqa: E501
           f"{(d[(BASE, lo, d_next[0])]['dram_act_read_bytes'] + d[(BASE, lo, d_next[0])]['dram_out_write_bytes']) / 1e6:,.1f} MB at batch {d_next[0]}), "  # noqa: E501
           "the spill traffic dominates and no bandwidth gives more than "
           f"{max(speedup(d, 'ssvq', bw, b) for bw in bws for b in d_next):.2f}×."
           if d_b and d_next else ""),
        f"- **ResNet-18, SSVQ**: at most {max(speedup(r, 'ssvq', bw, b) for bw in bws for b in batches):.2f}× "  # noqa: E501
        f"({lo:g} B/cycle, batch 1), {len(cells_at_least(r, 'ssvq', bws, batches, THREE))} "
        f"cells ≥ 3×: the weights shrink "
        f"{r[(BASE, lo, 1)]['dram_weight_read_bytes'] / r[('ssvq', lo, 1)]['dram_weight_read_bytes']:.2f}× "  # noqa: E501
        f"but activations and outputs are "
        f"{1 - r[(BASE, lo, 1)]['dram_weight_read_bytes'] / dram_bytes(r[(BASE, lo, 1)]):.2f} "
        "of INT8's DRAM traffic even at batch 1, which caps the traffic ratio at "
        f"{dram_bytes(r[(BASE, lo, 1)]) / dram_bytes(r[('ssvq', lo, 1)]):.2f}×.",
        f"- **TinyLlama-1.1B decode**: 3× holds for every batch up to about "
        f"{crossing(ll, 'ssvq', batches[-1], bws, THREE):.0f}–"
        f"{crossing(ll, 'ssvq', 1, bws, THREE):.0f} B/cycle (SSVQ; "
        f"{len(cells_at_least(ll, 'ssvq', bws, batches, THREE))} of {n} cells, MVQ "
        f"{len(cells_at_least(ll, 'mvq', bws, batches, THREE))}), "
        f"{speedup(ll, 'ssvq', *DEFAULT):.2f}× at the default machine: one token does one "
        "MAC per weight, so INT8 decode waits on weight bytes well past the default machine "
        f"(DRAM-bandwidth stall share {share(ll[(BASE, DEFAULT[0], 1)]):.2f} at "
        f"{DEFAULT[0]} B/cycle, {share(ll[(BASE, lo, 1)]):.2f} at {lo:g}). Batch lowers the "
        "speed-up only slowly: the weights are read once for the whole batch, but each "
        f"sequence reads its own INT8 KV cache ({(ll[(BASE, lo, batches[-1])]['dram_weight_read_bytes'] - ll[(BASE, lo, 1)]['dram_weight_read_bytes']) / (batches[-1] - 1) / 1e6:.2f} MB), "  # noqa: E501
        "which no design compresses. Above the crossing the compressed designs are "
        "array-bound (loading weight tiles) and at "
        f"{bws[-1]} B/cycle INT8 is too ({speedup(ll, 'ssvq', bws[-1], 1):.2f}×).",
        f"- **MVQ energy on ResNet-18 (published 2.3×)**: EWS/MVQ energy is "
        f"{energy_ratio(r, 'mvq', *DEFAULT):.2f}× at the default machine and "
        f"{grid_range(r, 'mvq', bws, batches, energy_ratio)} over the grid; at or above 2.3× "
        + by_batch(cells_at_least(r, "mvq", bws, batches, MVQ_ENERGY, energy_ratio))
        + ". The published figure sits on the batch-1 row near the default "
          "bandwidth; batching spreads INT8's weight fetches, which MVQ saves, over more inputs "
          "(fewer weight bytes per input) while the activation traffic both pay grows, so the "
          "ratio falls with batch.",
        f"- **MVQ speed-up**: below 3× on DeiT-tiny and ResNet-18 everywhere; on DeiT-tiny "
        f"it is {speedup(d, 'mvq', *DEFAULT):.2f}× at the default machine because its "
        "sparsity-aware array (area use) builds a quarter of the PEs (rows·N/M, 1:4) and the "
        "layers that stay dense INT8 (the attention matmuls, whose second operand is an "
        "activation, and the patch embedding, kept INT8 because in_c = 3 is not a multiple "
        "of d = 8) run at a quarter of the rate: MVQ compute cycles "
        f"{d[('mvq', bws[-1], 1)]['compute_cycles']:,.0f} vs EWS "
        f"{d[(BASE, bws[-1], 1)]['compute_cycles']:,.0f} at {bws[-1]} B/cycle.",
    ]
    return lines + out + [""]


# ---------------------------------------------------------------------------------- figure


def heatmap(data: dict, bws, batches, path: Path) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.colors import LogNorm
        from matplotlib.patches import Rectangle
    except ImportError:
        return False
    fig, axes = plt.subplots(2, len(WORKLOADS), figsize=(5.2 * len(WORKLOADS), 8),
                             constrained_layout=True)
    norm = LogNorm(vmin=0.8, vmax=6.0)
    im = None
    for j, (name, label) in enumerate(WORKLOADS):
        runs = data[name]
        wl_batches = [b for b in batches if ("ews", bws[0], b) in runs]
        for i, design in enumerate(("ssvq", "mvq")):
            ax = axes[i][j]
            z = [[speedup(runs, design, bw, b) for bw in bws] for b in wl_batches]
            im = ax.imshow(z, origin="lower", cmap="viridis", norm=norm, aspect="auto")
            for y, row in enumerate(z):
                for x, v in enumerate(row):
                    ax.text(x, y, f"{v:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if v < 2.5 else "black",
                            fontweight="bold" if v >= THREE else "normal")
            ax.contour(range(len(bws)), range(len(wl_batches)), z, levels=[THREE],
                       colors="red", linewidths=1.5)
            if DEFAULT[0] in bws and DEFAULT[1] in wl_batches:
                x0, y0 = bws.index(DEFAULT[0]), wl_batches.index(DEFAULT[1])
                ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), 1, 1, fill=False, edgecolor="red",
                                       linewidth=2))
            ax.set_xticks(range(len(bws)), [f"{bw:g}" for bw in bws])
            ax.set_yticks(range(len(wl_batches)), [str(b) for b in wl_batches])
            ax.set_xlabel("DRAM [B/cycle]")
            ax.set_ylabel("batch")
            who = "SSVQ / INT8" if design == "ssvq" else "MVQ / EWS"
            ax.set_title(f"{label}: speed-up {who}", fontsize=10)
    bar = fig.colorbar(im, ax=axes, shrink=0.6,
                       label="speed-up (red line: 3×, red box: default machine)")
    ticks = [1, 1.5, 2, 3, 4, 6]
    bar.set_ticks(ticks, labels=[f"{t:g}×" for t in ticks])
    bar.minorticks_off()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# ---------------------------------------------------------------------------------- report


def load(cache: Path | None, log) -> tuple[dict, float]:
    """The raw totals for every workload, from ``cache`` if it holds them."""
    if cache and cache.exists():
        raw = json.loads(cache.read_text())
        data = {w: {tuple(json.loads(k)): v for k, v in runs.items()}
                for w, runs in raw["data"].items()}
        return data, raw["seconds"]
    t0 = time.perf_counter()
    data = {name: measure(name, log=log) for name, _ in WORKLOADS}
    seconds = time.perf_counter() - t0
    if cache:
        cache.write_text(json.dumps({"seconds": seconds, "data": {
            w: {json.dumps(list(k)): v for k, v in runs.items()} for w, runs in data.items()}}))
    return data, seconds


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, help="JSON file of raw totals: read if present, "
                    "else written after the runs")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    log = None if args.quiet else (lambda s: print(s, flush=True))
    data, seconds = load(args.cache, log)
    bws, batches = list(BANDWIDTHS), list(BATCHES)
    runs_total = sum(len(r) for r in data.values())
    lines = [
        "# SSVQ and MVQ speed-ups over machine balance and batch", "",
        "Generated by `python scripts/balance_batch.py` (issue 15, step 11): "
        f"{runs_total} runs, {seconds / 60:.1f} minutes on this machine. Every cell runs the "
        "INT8 baseline `ews` (EWS dataflow, INT8 weights) and the compressed designs `ssvq` "
        "(k = 16, d = 8, one sign bit per weight, no pruning, dense array) and `mvq` (EWS-CMS: "
        "1:4 N:M masks, k = 256, d = 8, sparsity-aware array) on the same workload, DRAM "
        "bandwidth and batch. 64×64 arrays, 1 GHz, 1 MiB L2, 100-cycle DRAM latency, analytic "
        "weight formats; only `memory.dram_bytes_per_cycle` and the batch change. Cycles are "
        "for the whole batch (`api.simulate(..., batch=b)`; TinyLlama decode: one token per "
        "sequence, each with its own 512-token INT8 KV cache; the engine counts the KV cache, "
        "the attention matmuls' second operand, among the DRAM weight bytes).", "",
        "Speed-up = `ews` total cycles / design total cycles; energy ratio = `ews` energy / "
        "design energy. In the speed-up tables cells at or above 3× are **bold**; † marks the "
        "default machine (16 B/cycle, batch 1). Published points, located, not fitted: SSVQ "
        "about 3× over INT8 on DeiT-tiny (the DRAM bandwidth behind it is not published, so it "
        "is a row of the surface, not a cell: see where the batch-1 row crosses 3×); MVQ 2.3× "
        "energy efficiency over EWS on ResNet-18 (in its energy table, cells at or above 2.3× "
        "are bold).", "",
    ]
    summary = ["## The 3× boundary", "",
               "Bandwidth below which the speed-up is at least 3× (linear in log2 bandwidth "
               "between the bracketing cells), per batch.", "",
               "| workload | design | " + " | ".join(f"batch {b}" for b in batches) +
               " | default point | cells ≥ 3× |",
               "|---|---|" + "---:|" * (len(batches) + 2)]
    body, reading = [], ["## Reading", ""]
    for name, label in WORKLOADS:
        runs = data[name]
        for design in ("ssvq", "mvq"):
            cells = []
            for b in batches:
                x = crossing(runs, design, b, bws, THREE)
                cells.append("—" if x == 0 else f"all ≤ {bws[-1]}" if x == math.inf
                             else "?" if x is None else f"{x:.1f}")
            n = len(cells_at_least(runs, design, bws, batches, THREE))
            summary.append(f"| {label} | {design} | " + " | ".join(cells) +
                           f" | {speedup(runs, design, *DEFAULT):.2f}× | {n} of "
                           f"{len(bws) * len(batches)} |")
        e_bold = MVQ_ENERGY if name == "resnet18" else None
        body += [f"## {label} (`{name}`)", "",
                 "Speed-up SSVQ / INT8:", ""]
        body += ratio_table(runs, bws, batches, speedup, "ssvq", THREE)
        body += ["Speed-up MVQ / EWS:", ""]
        body += ratio_table(runs, bws, batches, speedup, "mvq", THREE)
        body += ["Energy ratio EWS / SSVQ:", ""]
        body += ratio_table(runs, bws, batches, energy_ratio, "ssvq", None)
        body += ["Energy ratio EWS / MVQ" + (" (bold: at or above the published 2.3×)"
                                             if e_bold else "") + ":", ""]
        body += ratio_table(runs, bws, batches, energy_ratio, "mvq", e_bold)
        body += ["INT8 baseline: stall share of total cycles (in brackets the DRAM-bandwidth "
                 "stall share, and the largest stall cause when it is not DRAM bandwidth):", ""]
        body += stall_table(runs, bws, batches)
        body += ["DRAM traffic INT8 / SSVQ (read + write bytes; in brackets the weight share "
                 "of the INT8 traffic):", ""]
        body += traffic_table(runs, bws, batches, "ssvq")
        reading += reading_workload(name, label, runs, bws, batches)
    summary.append("")
    lines += summary + conclusion(data, bws, batches) + body + reading
    png = heatmap(data, bws, batches, PNG)
    if png:
        lines += ["", f"Heat maps: `{PNG.name}` (speed-up per cell, red line at 3×, red "
                  "box around the default point)."]
    text = "\n".join(lines) + "\n"
    OUT.write_text(text)
    return text


if __name__ == "__main__":
    main()
