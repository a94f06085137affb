"""SCALE-Sim v3's memory system for weight-stationary layers: the ``scalesim-ws`` dataflow only.

:func:`scalesim_layer` gives, for one layer, what SCALE-Sim 3.0.0 (``Dataflow: ws``, no custom
layout, no sparsity, no Ramulator) writes to ``COMPUTE_REPORT.csv`` ("Total Cycles", "Stall
Cycles", "Total Cycles (incl. prefetch)") and ``DETAILED_ACCESS_REPORT.csv`` (SRAM and DRAM
counts with their start and stop cycles), in both of its ``InterfaceBandwidth`` modes:

* ``calc``: ideal memory, no stalls; the DRAM columns come from SCALE-Sim's bandwidth estimator;
* ``user``: SCALE-Sim's read buffers (ifmap, filter) and write buffer (ofmap) with the
  bandwidths of the ``[scalesim]`` section; the array stalls when they cannot keep up.

It is exact, not approximate: it matches every recorded SCALE-Sim run in
``tests/data/scalesim_v3`` (docs/scalesim-parity.md, "USER mode").  It is its own hardware
block, separate from ewssim's SRAM and DRAM models, because SCALE-Sim's memory is not a physical
double buffer (the quirks are listed below; each is SCALE-Sim behaviour, kept on purpose).

The array and its demand (SCALE-Sim ``systolic_compute_ws``)
-----------------------------------------------------------
A layer is the GEMM ``T x Kr`` times ``Kr x N`` (``T`` output pixels with the output size
rounded up, ``Kr = R*S*C``, ``N`` filters).  The reduction is mapped on the ``rows`` of the
array and the filters on its ``cols``: ``Fr = ceil(Kr/rows)`` row folds inside
``Fc = ceil(N/cols)`` column folds, each ``Pl = 2*rows + cols + T - 2`` demand lines long
(one line per cycle without stalls).  In fold line ``l``:

* filter: lines ``0 .. rows-1`` load one array row each, the **bottom** row first;
* ifmap: array row ``j`` reads pixel ``t = l - rows - j`` (a skewed stream: line ``l`` is the
  anti-diagonal ``t + j = l - rows``).  Taps that fall outside the ifmap (the overhang of a
  rounded-up output) request nothing;
* ofmap: column ``j`` writes pixel ``t = l - (2*rows - 1) - j``; every row fold writes its
  partial sums (no accumulation in the array).

SCALE-Sim words are 1 byte, so an SRAM of ``X`` kB holds ``1024*X`` words.

Read buffers (ifmap and filter SRAM; SCALE-Sim ``read_buffer.py``)
------------------------------------------------------------------
Each read SRAM is filled from DRAM in one fixed order per layer, the *fetch stream*: for the
filter, column fold by column fold, filter row by filter row; for the ifmap, the row folds'
``T x rows`` blocks stacked and read along the anti-diagonals of the whole stack.  The SRAM of
``E`` words has an active half ``A = ceil(E/2)`` and a prefetch half ``P = E - A``.  Its content
is a window over the stream, counted in *sets* of ``ceil(E/100)`` stream words: ``nA`` sets
(about ``A`` words) from set ``w``.  A demanded word that is not in the window triggers a refill:
the window moves on by ``nP`` sets (about ``P`` words), wrapping round to the start of the
stream after its end.  Refill ``k`` takes ``ceil(P/B)`` DRAM cycles at ``B`` words per cycle
plus one cycle of latency, and its data is there at the fixed cycle
``-1 + k*(ceil(P/B) + 1)``: the initial fill ends at cycle -1 and refills run back to back from
there.  The demanding line waits for the refill; that wait is its stall.

Write buffer (ofmap SRAM; SCALE-Sim ``write_buffer.py``)
--------------------------------------------------------
The array writes its outputs into the ofmap SRAM, grouped into DRAM lines of ``Bo`` words
(``Bo`` = ``ofmap_bandwidth``; ``cols`` in CALC mode).  When the SRAM is more than half full and
no drain runs, a drain of up to ``ceil(D/Bo)`` lines (``D`` = the SRAM's drain half) starts,
one line per cycle.  A write that finds the SRAM full while a drain runs stalls the array until
the drain ends.  After the last line, everything left is drained (only the DRAM OFMAP columns
see this).

One demand line costs the largest of its three stalls (ifmap, filter, ofmap); all three see the
same issue cycle ``i + stalls so far``.  ``Total Cycles`` is the served cycle of the last
line's ofmap write (usually ``n - 1 + stalls``, ``n`` the number of demand lines), not a count.
Every layer gets a fresh memory system.

SCALE-Sim quirks a physical double buffer would not have (all reproduced)
------------------------------------------------------------------------
1. The SRAM content is a window of fixed-size sets over the layer's fetch stream, not a set of
   addresses: sets are ``ceil(E/100)`` words, so the window can hold a little more than half
   the SRAM, and it moves by ``nP`` sets while a refill transfers ``ceil(P/B)*B`` words.
2. The ifmap is fetched once, along anti-diagonals over all row folds; the ``Fc`` column folds
   re-read it, and the window reaches the stream's start again only by going once round the
   ring (about ``sets/nP`` refills).  The same happens at row-fold boundaries and for filter
   blocks, which are demanded bottom row first but fetched top row first.
3. A hit is by address over the whole window: a repeated ifmap word (used by several windows of
   the convolution) hits if any of its occurrences is in the window.
4. A refill is started by a miss, but its data arrives at a fixed cycle of a back-to-back DRAM
   timeline, whatever the cycle of the miss.
5. A late refill stalls the line by twice its lateness; an early one pulls the line's served
   cycle back, so a read stall can be negative (it only matters when a later refill of the
   same line is late).
6. The three operands' stalls of a line are not added: only the largest counts, and the other
   operands' requests are not delayed by it.
7. The write buffer starts a drain when it is just over half full, frees the drained space
   when the drain starts (not when it ends), stalls only when completely full, and counts a
   partial line as ``Bo`` words when it is not the last line of a drain (so DRAM OFMAP Writes
   can exceed SRAM OFMAP Writes).
8. In USER mode the ifmap and filter DRAM bandwidths are the ``[layout]`` bank bandwidths of
   the ``.cfg``; bank count and ports have no effect except that the bandwidth must be a
   multiple of the bank count.
9. Holes in the fetch stream (padding taps and filters, taps outside the ifmap) are sent over
   DRAM and counted in the DRAM reads, but never stored.
10. In CALC mode the ifmap and filter DRAM columns come from an estimator that fetches each
    distinct word once per group of ``50*floor(E/100)`` new words, at 10 words per cycle, and
    the ofmap drains ``cols`` words per cycle.

Which layers: everything ewssim's SCALE-Sim import makes (conv rows, GEMM rows, depthwise
``DP`` rows), and what is the same thing: ``linear`` layers and ``matmul`` heads (GEMMs).  A
layer with ``groups`` runs as one SCALE-Sim layer per group (``in_c/groups`` channels,
``out_c/groups`` filters): for a depthwise ``DP`` row that is exactly SCALE-Sim's split into
one layer per channel; other group counts have no SCALE-Sim counterpart and follow the same
rule, as the CALC parity does.  A matmul's heads run as one layer each.  Anything SCALE-Sim
cannot express (padding, dilation, unequal strides, a rounded-down output, a batched
convolution) raises :class:`~ewssim.errors.InputError` naming the field.

Speed: no per-cycle or per-word loop.  The read buffers' refills are found first (they depend
only on addresses, not on time), then the line loop visits only the lines where a refill, a
drain start or a write stall happens.  The one per-word pass is SCALE-Sim's CALC ifmap
estimator for convolutions with repeated words and a small SRAM (vectorised).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from ewssim.config.schema import ScaleSimConfig
from ewssim.errors import InputError
from ewssim.workload.layers import Layer

__all__ = ["REPORT_COLUMNS", "ScaleSimAccess", "ScaleSimLayerResult", "scalesim_layer"]

_INF = float("inf")
_WORDS_PER_KB = 1024  # SCALE-Sim's word is 1 byte
_CALC_BW = 10  # CALC mode: the estimator's fixed DRAM bandwidth, words/cycle
#: elements whose occurrences are checked together (memory per check, not a model setting:
#: the refills found do not depend on it)
_CHECK_ELEMENTS = 200_000


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


# ----------------------------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------------------------
#: ScaleSimAccess field -> DETAILED_ACCESS_REPORT column, in SCALE-Sim's column order
REPORT_COLUMNS: dict[str, str] = {
    "sram_ifmap_start": "SRAM IFMAP Start Cycle",
    "sram_ifmap_stop": "SRAM IFMAP Stop Cycle",
    "sram_ifmap_reads": "SRAM IFMAP Reads",
    "sram_filter_start": "SRAM Filter Start Cycle",
    "sram_filter_stop": "SRAM Filter Stop Cycle",
    "sram_filter_reads": "SRAM Filter Reads",
    "sram_ofmap_start": "SRAM OFMAP Start Cycle",
    "sram_ofmap_stop": "SRAM OFMAP Stop Cycle",
    "sram_ofmap_writes": "SRAM OFMAP Writes",
    "dram_ifmap_start": "DRAM IFMAP Start Cycle",
    "dram_ifmap_stop": "DRAM IFMAP Stop Cycle",
    "dram_ifmap_reads": "DRAM IFMAP Reads",
    "dram_filter_start": "DRAM Filter Start Cycle",
    "dram_filter_stop": "DRAM Filter Stop Cycle",
    "dram_filter_reads": "DRAM Filter Reads",
    "dram_ofmap_start": "DRAM OFMAP Start Cycle",
    "dram_ofmap_stop": "DRAM OFMAP Stop Cycle",
    "dram_ofmap_writes": "DRAM OFMAP Writes",
}


@dataclass(frozen=True)
class ScaleSimAccess:
    """One row of SCALE-Sim's DETAILED_ACCESS_REPORT: word counts (1 word = 1 byte) and the
    first/last cycle of each stream.  SRAM reads/writes are demanded words (out-of-bounds ifmap
    taps included); DRAM counts are what crossed the DRAM interface (over-fetch and, for the
    ofmap, SCALE-Sim's partial-line over-count included).  Cycles are SCALE-Sim's: prefetch
    before the first array cycle has negative cycles."""

    sram_ifmap_start: int
    sram_ifmap_stop: int
    sram_ifmap_reads: int
    sram_filter_start: int
    sram_filter_stop: int
    sram_filter_reads: int
    sram_ofmap_start: int
    sram_ofmap_stop: int
    sram_ofmap_writes: int
    dram_ifmap_start: int
    dram_ifmap_stop: int
    dram_ifmap_reads: int
    dram_filter_start: int
    dram_filter_stop: int
    dram_filter_reads: int
    dram_ofmap_start: int
    dram_ofmap_stop: int
    dram_ofmap_writes: int

    def as_report(self) -> dict[str, int]:
        """The row keyed by SCALE-Sim's column names."""
        return {col: getattr(self, f) for f, col in REPORT_COLUMNS.items()}


@dataclass(frozen=True)
class ScaleSimLayerResult:
    """SCALE-Sim's numbers for one ewssim layer.

    SCALE-Sim runs the layer as ``runs`` identical layers, each with its own report row
    (``runs`` = ``groups`` times a matmul's heads, ``batch``: a depthwise ``DP`` row becomes
    one layer per channel; usually 1).  ``total_cycles`` and ``stall_cycles`` are summed over those
    rows, i.e. what the ewssim layer costs; ``row_*``, ``total_cycles_incl_prefetch`` and
    ``access`` are the values of each row, exactly as SCALE-Sim writes them.  CALC mode:
    ``stall_cycles`` is 0 and ``total_cycles`` is ``runs * (folds * Pl - 1)``."""

    interface: str  # "calc" or "user"
    runs: int
    total_cycles: int
    stall_cycles: int
    row_total_cycles: int  # COMPUTE_REPORT "Total Cycles" of one row
    row_stall_cycles: int  # COMPUTE_REPORT "Stall Cycles" of one row
    total_cycles_incl_prefetch: int  # COMPUTE_REPORT "Total Cycles (incl. prefetch)", one row
    access: ScaleSimAccess  # DETAILED_ACCESS_REPORT of one row


# ----------------------------------------------------------------------------------------------
# the layer as SCALE-Sim sees it
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Shape:
    """One SCALE-Sim conv row: ifmap ``H x W x C``, ``K`` filters of ``R x S x C``, one stride
    for both axes, no padding, output size rounded up.  A GEMM ``M x K`` times ``K x N`` is
    ``H=M, W=K, R=1, S=K, C=1, K=N``, stride 1 (SCALE-Sim's ``load_arrays_gemm``)."""

    H: int
    W: int
    R: int
    S: int
    C: int
    K: int
    stride: int


def _gemm_shape(m: int, k: int, n: int) -> _Shape:
    return _Shape(H=m, W=k, R=1, S=k, C=1, K=n, stride=1)


def _refuse(layer: Layer, fld: str, problem: str, allowed: str) -> InputError:
    return InputError(f"layer '{layer.name}': {problem}; SCALE-Sim cannot run it", field=fld,
                      allowed=allowed)


def _scalesim_shape(layer: Layer) -> tuple[_Shape, int]:
    """The SCALE-Sim layer that ``layer`` is, and how many times SCALE-Sim runs it.

    A pointwise layer (1x1 kernel, stride 1, any kind) is a GEMM of ``in_h*in_w`` rows (times
    ``batch`` unless it is a matmul, whose batch is its heads); otherwise it must be a conv row
    as SCALE-Sim reads one."""
    for fld in ("pad_h", "pad_w"):
        if getattr(layer, fld):
            raise _refuse(layer, fld, "padding", "0 (SCALE-Sim has no padding)")
    for fld in ("dil_h", "dil_w"):
        if getattr(layer, fld) != 1:
            raise _refuse(layer, fld, "dilation", "1")
    g = layer.groups
    c, n = layer.in_c // g, layer.out_c // g
    heads = layer.batch if layer.kind == "matmul" else 1
    pointwise = (layer.kernel_h, layer.kernel_w, layer.stride_h, layer.stride_w) == (1, 1, 1, 1)
    if pointwise:
        m = layer.in_h * layer.in_w * (1 if layer.kind == "matmul" else layer.batch)
        return _gemm_shape(m, c, n), g * heads
    if layer.batch != 1:
        raise _refuse(layer, "batch", f"a batch of {layer.batch} images", "1")
    if layer.stride_w != layer.stride_h:
        raise _refuse(layer, "stride_w", "different strides per axis",
                      f"stride_w = stride_h = {layer.stride_h}")
    shape = _Shape(H=layer.in_h, W=layer.in_w, R=layer.kernel_h, S=layer.kernel_w, C=c, K=n,
                   stride=layer.stride_h)
    s = shape.stride
    if (layer.out_h, layer.out_w) != (_cdiv(shape.H - shape.R + s, s),
                                      _cdiv(shape.W - shape.S + s, s)):
        raise _refuse(layer, "ceil_mode", "the output size is rounded down",
                      "true (SCALE-Sim rounds the output size up)")
    return shape, g * heads


class _Folds:
    """Folds and demand lines of one SCALE-Sim WS layer on a ``rows x cols`` array."""

    def __init__(self, shape: _Shape, rows: int, cols: int):
        self.L, self.rows, self.cols = shape, rows, cols
        st = shape.stride
        self.oh = _cdiv(shape.H - shape.R + st, st)
        self.ow = _cdiv(shape.W - shape.S + st, st)
        self.T = self.oh * self.ow  # output pixels (ifmap operand rows)
        self.Kr = shape.R * shape.S * shape.C  # reduction, on the array rows
        self.N = shape.K  # filters, on the array columns
        self.Fr, self.Fc = _cdiv(self.Kr, rows), _cdiv(self.N, cols)
        self.Pl = 2 * rows + cols + self.T - 2  # demand lines per fold
        self.n_lines = self.Fr * self.Fc * self.Pl

    def nc(self, fc: int) -> int:
        """Array columns used in column fold ``fc``."""
        return min(self.cols, self.N - fc * self.cols)

    def nr(self, fr: int) -> int:
        """Array rows used in row fold ``fr``."""
        return min(self.rows, self.Kr - fr * self.rows)


# ----------------------------------------------------------------------------------------------
# read buffers: the window of sets over the fetch stream, refill timing
# ----------------------------------------------------------------------------------------------
class _ReadWindow:
    """A read SRAM of ``kb`` kB fed at ``bw`` words/cycle, over a fetch stream of ``n_valid``
    real words (``n_fetch`` entries with the holes that are sent but never stored).

    The window is ``nA`` consecutive sets on a ring of ``n_sets`` sets, starting at set ``w``
    (``w = 0`` after the initial fill); a refill moves it by ``nP`` sets.  The last set holds the
    remainder of the stream and may be empty (SCALE-Sim counts ``n_valid // eps + 1`` sets)."""

    def __init__(self, kb: int, bw: int, n_valid: int, n_fetch: int):
        E = kb * _WORDS_PER_KB
        self.A = math.ceil(E * 0.5)  # active half, words (SCALE-Sim's active_buf_frac 0.5)
        self.P = E - self.A  # prefetch half, words
        self.eps = math.ceil(E / 100)  # words per set
        self.n_valid = n_valid
        self.n_sets = n_valid // self.eps + 1
        self.nA = min(self.n_sets, _cdiv(self.A, self.eps))  # sets in the window
        self.nP = min(self.n_sets - self.nA, _cdiv(self.P, self.eps))  # sets moved per refill
        self.bw = bw
        self.np_lines = _cdiv(self.P, bw)  # DRAM cycles of one refill
        self.n0 = min(_cdiv(self.A, bw), _cdiv(n_fetch, bw))  # DRAM cycles of the first fill

    def ready(self, k: int) -> int:
        """Cycle at which refill ``k`` (0: the initial fill) has delivered its data."""
        return -1 + k * (self.np_lines + 1)

    def holds_everything(self) -> bool:
        return self.nA >= self.n_sets

    def covered(self, s: int, w: int) -> bool:
        """Is set ``s`` in the window that starts at set ``w``?"""
        return (s - w) % self.n_sets < self.nA

    def refills_to_cover(self, s: int, w: int) -> int:
        """Refills (at least one) until the window, now at ``w``, covers set ``s``."""
        S, nA, nP = self.n_sets, self.nA, self.nP
        m = _cdiv(w + nP - s, S)
        return max(1, _cdiv(s + m * S - nA + 1 - w, nP))

    def pieces(self, w: int) -> list[tuple[int, int]]:
        """The window at ``w`` as stream-position intervals ``[lo, hi)`` (two if it wraps)."""
        eps, nv = self.eps, self.n_valid
        if w + self.nA <= self.n_sets:
            out = [(w * eps, min((w + self.nA) * eps, nv))]
        else:
            out = [(w * eps, nv), (0, min((w + self.nA - self.n_sets) * eps, nv))]
        return [(lo, hi) for lo, hi in out if lo < hi]

    def dram(self, k_final: int) -> tuple[int, int, int]:
        """DRAM (start, stop, words read) after ``k_final`` refills (holes included)."""
        return -self.n0, self.ready(k_final), (self.n0 + k_final * self.np_lines) * self.bw


def _read_stall(win: _ReadWindow, c: int, k_before: int, n_refills: int) -> int:
    """Stall of a line issued at cycle ``c`` that needed refills ``k_before+1 ..
    k_before+n_refills`` (SCALE-Sim ``read_buffer.service_reads``).

    The line is served at ``x``, first ``c + 1`` (hit latency).  For each refill, the wait
    ``ready(k) - x`` is added, and once more if it is positive (quirk 5): a late refill counts
    twice, an early one pulls ``x`` back to ``ready(k)``.  In closed form: with
    ``d = x - ready(k)`` after refill ``k`` and ``q = ready(k+1) - ready(k)``, each further
    refill maps ``d`` to ``max(0, q - d)``, so ``d`` alternates after the first refill."""
    q = win.np_lines + 1
    d = max(0, win.ready(k_before + 1) - (c + 1))
    if n_refills > 1:
        if d > q:
            d = q if n_refills % 2 else 0
        elif n_refills % 2 == 0:
            d = q - d
    return win.ready(k_before + n_refills) + d - c - 1


# A refill event: (demand line, refills done before it, refills it needs)
_Event = tuple[int, int, int]


def _filter_events(g: _Folds, kb: int, bw: int) -> tuple[_ReadWindow, list[_Event], int]:
    """Refills of the filter SRAM: the window, the events, and the number of refills.

    Fetch stream: column fold ``fc``, then filter row ``r = 0..Kr-1``, then the ``nc(fc)``
    filters of the fold; no word repeats, so a weight's set is its stream position // eps.
    Demand: fold (fc, fr) loads its rows bottom first, one row (``nc`` words) per line.  Only
    rows where the window must move are visited: after a row, the walk jumps to the next row
    whose first set lies below the window piece that holds the current row."""
    rows, Kr, cols = g.rows, g.Kr, g.cols
    win = _ReadWindow(kb, bw, Kr * g.N, g.Fc * Kr * cols)
    events: list[_Event] = []
    if win.holds_everything():
        return win, events, 0
    k = w = 0
    for fc in range(g.Fc):
        nc = g.nc(fc)
        base = fc * Kr * cols
        for fr in range(g.Fr):
            lo_row = fr * rows
            r = min(Kr, lo_row + rows) - 1
            line0 = (fc * g.Fr + fr) * g.Pl
            while r >= lo_row:
                pos0 = base + r * nc
                s0, s1 = pos0 // win.eps, (pos0 + nc - 1) // win.eps
                k_before = k
                for s in range(s0, s1 + 1):
                    if not win.covered(s, w):
                        j = win.refills_to_cover(s, w)
                        k += j
                        w = (w + j * win.nP) % win.n_sets
                if k > k_before:
                    events.append((line0 + lo_row + rows - 1 - r, k_before, k - k_before))
                piece_lo = w if (w + win.nA <= win.n_sets or s1 >= w) else 0
                r = min(r - 1, _cdiv(piece_lo * win.eps - base, nc) - 1)
    return win, events, k


class _IfmapStream:
    """The ifmap fetch stream and the words' occurrences in it.

    The fetch matrix ``X`` has ``Fr*T`` rows (row fold ``fr``, pixel ``t``) and ``rows``
    columns (tap ``fr*rows + col``); it is fetched along anti-diagonals ``D = row + col``,
    column ascending.  An element is ``(D, col)`` and its *key* ``D*rows + col`` orders the
    stream.  Padding taps (``>= Kr``) and taps outside the ifmap are holes: sent, never stored,
    not counted as stream positions.  Everything is counted in closed form per column."""

    def __init__(self, g: _Folds):
        self.g = g
        L, rows, Kr = g.L, g.rows, g.Kr
        self.M = g.Fr * g.T
        k = np.arange(Kr)
        self.fy, self.fx, self.ch = k // (L.S * L.C), (k % (L.S * L.C)) // L.C, k % L.C
        st = L.stride
        # in-bounds output rows / columns of each tap
        self.Ay = np.where((g.oh - 1) * st + self.fy < L.H, g.oh, g.oh - 1)
        self.Ax = np.where((g.ow - 1) * st + self.fx < L.W, g.ow, g.ow - 1)
        taps = np.arange(g.Fr * rows).reshape(g.Fr, rows)
        per_fold = np.zeros((g.Fr, rows), dtype=np.int64)
        ok = taps < Kr
        per_fold[ok] = self.Ay[taps[ok]] * self.Ax[taps[ok]]
        # cum[f, col]: real words of column col in folds < f
        self.cum = np.vstack([np.zeros((1, rows), dtype=np.int64), np.cumsum(per_fold, axis=0)])
        self.cidx = np.arange(rows)
        self._grid: tuple[np.ndarray, np.ndarray] | None = None  # see key_at
        # output-pixel shifts (dy, dx) that move a tap onto another occurrence of the same
        # ifmap word (the tap moves by -dy*stride rows, -dx*stride columns); (0, 0) first.
        # None when windows do not overlap (kernel <= stride) or there is one output row/column
        dyr, dxr = min((L.R - 1) // st, g.oh - 1), min((L.S - 1) // st, g.ow - 1)
        sh = [(0, 0)] + [(dy, dx) for dy in range(-dyr, dyr + 1) for dx in range(-dxr, dxr + 1)
                         if (dy, dx) != (0, 0)]
        self.n_shifts = len(sh) - 1
        self.sdy = np.array([d[0] for d in sh])[None, :]
        self.sdx = np.array([d[1] for d in sh])[None, :]
        self.n_valid = int(self.cum[-1].sum())  # real words in the whole stream

    def count_t(self, tap, n):
        """Real words among pixels ``[0, n)`` of tap(s) ``tap`` (arrays)."""
        Ay, Ax = self.Ay[tap], self.Ax[tap]
        q, r = np.divmod(n, self.g.ow)
        return np.minimum(q, Ay) * Ax + np.where(q < Ay, np.minimum(r, Ax), 0)

    def before_vec(self, Ds):
        """Real words on the diagonals ``< D``, for an array of ``D``."""
        g = self.g
        x = np.clip(np.asarray(Ds)[:, None] - self.cidx[None, :], 0, self.M)
        fr, rem = np.divmod(x, g.T)
        cc = np.broadcast_to(self.cidx, x.shape)
        out = self.cum[fr, cc]
        tap = fr * g.rows + cc
        part = (fr < g.Fr) & (tap < g.Kr) & (rem > 0)
        if part.any():
            out = out.copy()
            out[part] += self.count_t(tap[part], rem[part])
        return out.sum(axis=1)

    def valid(self, grow, c):
        """Is ``X[grow, c]`` a real word (arrays)?"""
        g = self.g
        fr, t = np.divmod(grow, g.T)
        tap = fr * g.rows + c
        ok = (grow >= 0) & (grow < self.M) & (c >= 0) & (c < g.rows) & (tap < g.Kr)
        tap_s = np.where(ok, tap, 0)
        oy, ox = np.divmod(t, g.ow)
        return ok & (oy < self.Ay[tap_s]) & (ox < self.Ax[tap_s])

    def positions(self, keys):
        """Stream positions of the (real) elements with these keys."""
        D, c = np.divmod(np.asarray(keys), self.g.rows)
        cc = self.cidx[None, :]
        earlier = self.valid(D[:, None] - cc, np.broadcast_to(cc, (len(D), self.g.rows)))
        earlier &= cc < c[:, None]
        return self.before_vec(D) + earlier.sum(axis=1)

    def key_at(self, p: int) -> float:
        """Key of the element at stream position ``p`` (inf past the end).  Two searches: over
        a grid of every ``step``-th diagonal (computed once), then inside one grid step."""
        if p >= self.n_valid:
            return _INF
        if self._grid is None:
            step = max(1, math.isqrt(self.M + self.g.rows))
            grid = np.arange(0, self.M + self.g.rows + step, step)
            self._grid = (grid, self.before_vec(grid))
        grid, at = self._grid
        i = int(np.searchsorted(at, p, side="right")) - 1  # at[i] <= p < at[i + 1]
        Ds = np.arange(grid[i], grid[i + 1])
        v = self.before_vec(Ds)
        j = int(np.searchsorted(v, p, side="right")) - 1
        D = int(Ds[j])
        ok = self.valid(D - self.cidx, self.cidx)
        return D * self.g.rows + int(np.flatnonzero(ok)[p - int(v[j])])

    def occurrence_keys(self, t, tap):
        """Keys of every occurrence of the ifmap words under (pixel ``t``, tap ``tap``) (arrays):
        shape ``(n, 1 + n_shifts)``, column 0 the element itself, -1 where a shift leaves the
        layer."""
        g, L = self.g, self.g.L
        st = L.stride
        oy, ox = np.divmod(np.asarray(t)[:, None], g.ow)
        tap = np.asarray(tap)[:, None]
        fy2 = self.fy[tap] - self.sdy * st
        fx2 = self.fx[tap] - self.sdx * st
        oy2, ox2 = oy + self.sdy, ox + self.sdx
        ok = (fy2 >= 0) & (fy2 < L.R) & (fx2 >= 0) & (fx2 < L.S)
        ok &= (oy2 >= 0) & (oy2 < g.oh) & (ox2 >= 0) & (ox2 < g.ow)
        k2 = (fy2 * L.S + fx2) * L.C + self.ch[tap]
        fr2, c2 = np.divmod(k2, g.rows)
        D2 = fr2 * g.T + oy2 * g.ow + ox2 + c2
        return np.where(ok, D2 * g.rows + c2, -1)


def _in_pieces(keys, key_pieces) -> np.ndarray:
    m = np.zeros(np.shape(keys), dtype=bool)
    for lo, hi in key_pieces:
        m |= (keys >= lo) & (keys < hi)
    return m


class _IfmapRefills:
    """Refills of the ifmap SRAM (quirks 1-3), found without a per-word loop.

    Within a fold, demand follows the fetch order (keys increase), so the elements whose own
    key lies in the window are skipped in one jump.  The others are checked in vectorised
    chunks of diagonals: an element hits if any occurrence of its word is in the window.  At
    the first miss, the rest of that line is served word by word (at most ``rows`` words), each
    missing word moving the window to the nearest set that holds one of its occurrences."""

    def __init__(self, g: _Folds, kb: int, bw: int):
        self.g = g
        self.X = _IfmapStream(g)
        self.win = _ReadWindow(kb, bw, self.X.n_valid, g.Fr * g.T * g.rows)
        self.k = self.w = 0
        self.events: list[_Event] = []
        self._pieces: dict[int, list[tuple[float, float]]] = {}
        self._batch = max(1, _CHECK_ELEMENTS // (1 + self.X.n_shifts))  # per occurrence check
        if not self.win.holds_everything():
            for fc in range(g.Fc):
                for fr in range(g.Fr):
                    self._fold(fc, fr)

    def key_pieces(self, w: int) -> list[tuple[float, float]]:
        """The window at ``w`` as key intervals."""
        if w not in self._pieces:
            X = self.X
            self._pieces[w] = [(X.key_at(lo), X.key_at(hi)) for lo, hi in self.win.pieces(w)]
        return self._pieces[w]

    def _fold(self, fc: int, fr: int) -> None:
        g, rows = self.g, self.g.rows
        D_end = fr * g.T + g.T + g.nr(fr) - 2  # last diagonal of the fold
        line_of_D = (fc * g.Fr + fr) * g.Pl - fr * g.T + rows  # demand line = line_of_D + D
        D, c0, nd = fr * g.T, 0, 8
        while D <= D_end:
            key = D * rows + c0
            piece = next(((lo, hi) for lo, hi in self.key_pieces(self.w) if lo <= key < hi), None)
            if piece is not None:  # own key in the window: jump to the window's end
                D, c0 = (D_end + 1, 0) if piece[1] == _INF else divmod(int(piece[1]), rows)
                nd = 8
                continue
            Ds = np.arange(D, min(D + nd, D_end + 1))
            miss = self._first_miss(Ds, fr, c0)
            if miss is None:
                D, c0, nd = int(Ds[-1]) + 1, 0, min(nd * 2, 4096)
                continue
            Dm, cm = miss
            self._serve_line(Dm, cm, fr, line_of_D + Dm)
            D, c0, nd = Dm + 1, 0, 8

    def _first_miss(self, Ds, fr: int, c0: int) -> tuple[int, int] | None:
        """The first element on diagonals ``Ds`` (from column ``c0`` of the first one) of fold
        ``fr`` whose word is nowhere in the window, as (D, column); None if all hit."""
        g, X, rows = self.g, self.X, self.g.rows
        t = Ds[:, None] - fr * g.T - X.cidx[None, :]
        msk = (t >= 0) & (t < g.T) & (X.cidx[None, :] < g.nr(fr))
        msk[0] &= X.cidx >= c0
        msk &= X.valid(fr * g.T + t, np.broadcast_to(X.cidx, t.shape))
        di, ci = np.nonzero(msk)
        if not len(di):
            return None
        kp = self.key_pieces(self.w)
        hit = _in_pieces(Ds[di] * rows + ci, kp)
        if X.n_shifts and not hit.all():
            rest = np.flatnonzero(~hit)
            tt, tp = t[di[rest], ci[rest]], fr * rows + ci[rest]
            for b0 in range(0, len(rest), self._batch):
                b = slice(b0, b0 + self._batch)
                h2 = _in_pieces(X.occurrence_keys(tt[b], tp[b]), kp).any(axis=1)
                hit[rest[b]] = h2
                if not h2.all():
                    break
        miss = np.flatnonzero(~hit)
        if not len(miss):
            return None
        return int(Ds[di[miss[0]]]), int(ci[miss[0]])

    def _serve_line(self, D: int, c: int, fr: int, line: int) -> None:
        """Serve the words of diagonal ``D`` from column ``c`` on, refilling as needed."""
        g, X, win = self.g, self.X, self.win
        cols = np.arange(c, g.nr(fr))
        t = D - fr * g.T - cols
        keep = (t >= 0) & (t < g.T)
        cols, t = cols[keep], t[keep]
        keep = X.valid(fr * g.T + t, cols)
        occ_line = X.occurrence_keys(t[keep], fr * g.rows + cols[keep])
        k_before = self.k
        for occ in occ_line:
            occ = occ[occ >= 0]
            if _in_pieces(occ, self.key_pieces(self.w)).any():
                continue
            sets = X.positions(occ) // win.eps
            j = min(win.refills_to_cover(int(s), self.w) for s in sets)
            self.k += j
            self.w = (self.w + j * win.nP) % win.n_sets
        self.events.append((line, k_before, self.k - k_before))


# ----------------------------------------------------------------------------------------------
# ofmap: words written per line, and the write buffer
# ----------------------------------------------------------------------------------------------
class _OfmapDemand:
    """Ofmap words written by the demand lines, in closed form: fold line ``l`` of column fold
    ``fc`` writes the pixels ``t = l - (2*rows - 1) - j`` in ``[0, T)`` of columns
    ``j < nc(fc)`` (a trapezoid)."""

    def __init__(self, g: _Folds):
        self.g = g
        per_fold = [g.nc(fc) * g.T for fc in range(g.Fc) for _ in range(g.Fr)]
        self.fold_cum = np.concatenate([[0], np.cumsum(per_fold)]).tolist()

    @staticmethod
    def _ramp(y: int, n: int) -> int:
        """``sum over j < n of max(y - j, 0)``."""
        if y <= 0:
            return 0
        m = min(n, y)
        return m * y - m * (m - 1) // 2

    def cum(self, i: int) -> int:
        """Words written by lines ``[0, i)``."""
        g = self.g
        if i >= g.n_lines:
            return self.fold_cum[-1]
        f, line = divmod(i, g.Pl)
        nc = g.nc(f // g.Fr)
        u = line - (2 * g.rows - 1)
        return self.fold_cum[f] + self._ramp(u, nc) - self._ramp(u - g.T, nc)

    def count(self, i: int) -> int:
        return self.cum(i + 1) - self.cum(i)

    def first_line_reaching(self, i0: int, need: int) -> int:
        """Smallest line ``i >= i0`` with ``cum(i+1) - cum(i0) >= need`` (n_lines if none)."""
        base = self.cum(i0)
        lo, hi = i0, self.g.n_lines
        if self.cum(hi) - base < need:
            return hi
        while lo < hi:
            mid = (lo + hi) // 2
            if self.cum(mid + 1) - base >= need:
                hi = mid
            else:
                lo = mid + 1
        return lo


class _WriteBuffer:
    """The ofmap SRAM of ``kb`` kB draining ``bw`` words/cycle to DRAM (SCALE-Sim
    ``write_buffer.py``, quirk 7), at the level of drain events.

    Words go into DRAM lines of ``bw`` words.  When occupancy exceeds the drain half and no
    drain runs, the open line is closed (even if partial) and a drain of up to
    ``ceil(drain half / bw)`` closed lines starts; it frees its words at once (a partial line
    counts as full unless it is the drain's last) and is busy until ``start + lines - 1``.
    Closed lines are kept as run-length groups ``[count, fill]``."""

    def __init__(self, kb: int, bw: int):
        E = kb * _WORDS_PER_KB
        self.active = math.ceil(E * 0.5)
        self.bw = bw
        self.lines_per_drain = _cdiv(E - self.active, bw)
        self.free = E
        self.open = 0  # words in the open line
        self.runs: list[list[int]] = []  # closed, undrained lines: [count, fill]
        self.drain_end = 0
        self.writes = 0
        self.dram_start: int | None = None
        self.dram_stop: int | None = None

    def store(self, m: int) -> None:
        """Store ``m`` words (no drain decision)."""
        self.free -= m
        full, self.open = divmod(self.open + m, self.bw)
        if full:
            if self.runs and self.runs[-1][1] == self.bw:
                self.runs[-1][0] += full
            else:
                self.runs.append([full, self.bw])

    def _close_open_line(self) -> None:
        if self.open:
            self.runs.append([1, self.open])
            self.open = 0

    def _drain(self, start: int) -> int:
        """Start a drain at ``start``; returns the cycle it ends."""
        n, fill = 0, self.bw
        while n < self.lines_per_drain and self.runs:
            cnt, fill = self.runs[0]
            take = min(cnt, self.lines_per_drain - n)
            n += take
            if take == cnt:
                self.runs.pop(0)
            else:
                self.runs[0][0] -= take
        words = n * self.bw - (self.bw - fill)
        self.writes += words
        self.free += words
        end = start + n - 1
        self.dram_start = start if self.dram_start is None else min(self.dram_start, start)
        self.dram_stop = end if self.dram_stop is None else max(self.dram_stop, end)
        return end

    def line(self, m: int, c: int) -> int:
        """The array writes ``m`` words in the line issued at cycle ``c``; returns its stall."""
        cur, stall = c, 0
        while m > 0:
            if cur < self.drain_end:  # a drain is running: stall only when full
                if self.free - m > 0:
                    self.store(m)
                    m = 0
                else:
                    n1 = max(self.free, 1)
                    self.store(n1)
                    m -= n1
                    stall += self.drain_end - cur
                    cur = self.drain_end
            else:  # start a drain as soon as occupancy passes the drain half
                n1 = max(self.free - self.active + 1, 1)
                if n1 > m:
                    self.store(m)
                    m = 0
                else:
                    self.store(n1)
                    m -= n1
                    self._close_open_line()
                    self.drain_end = self._drain(cur)
        return stall

    def next_event_line(self, od: _OfmapDemand, i0: int, stall: int) -> int:
        """First line ``>= i0`` that stalls or starts a drain, if the stall count stays
        ``stall`` (the line issued at ``i + stall``)."""
        i_busy = self.drain_end - stall  # lines before i_busy are issued while a drain runs
        if i_busy > i0:
            i_full = od.first_line_reaching(i0, max(self.free, 1))
            if i_full < i_busy:
                return i_full
            before = od.cum(min(i_busy, od.g.n_lines)) - od.cum(i0)
            need = max(self.free - self.active + 1, before + 1)
        else:
            need = max(self.free - self.active + 1, 1)
        return od.first_line_reaching(i0, need)

    def empty_all(self, cycle: int) -> None:
        """Drain everything left, back to back from ``cycle`` (after the last line)."""
        self._close_open_line()
        while self.runs:
            self.drain_end = self._drain(cycle)
            cycle = self.drain_end + 1


# ----------------------------------------------------------------------------------------------
# SRAM columns (both modes)
# ----------------------------------------------------------------------------------------------
def _stall_free_sram(g: _Folds, X: _IfmapStream) -> dict[str, int]:
    """The SRAM columns without stalls: counts and the cycles of the first/last request
    (docs/scalesim-parity.md section 1).  The last ifmap request is the largest ``t + j`` over
    the taps ``j`` of the last row fold, ``t`` the tap's last in-bounds pixel."""
    rows, T, Kr, N = g.rows, g.T, g.Kr, g.N
    base = (g.Fr * g.Fc - 1) * g.Pl
    last_c = N - (g.Fc - 1) * g.cols
    j = np.arange(g.nr(g.Fr - 1))
    taps = (g.Fr - 1) * rows + j
    last = int(np.max((X.Ay[taps] - 1) * g.ow + X.Ax[taps] - 1 + j))
    return {
        "SRAM IFMAP Start Cycle": rows + 1,
        "SRAM IFMAP Stop Cycle": base + rows + 1 + last,
        "SRAM IFMAP Reads": g.Fc * T * Kr,
        "SRAM Filter Start Cycle": max(0, rows - Kr) + 1,
        "SRAM Filter Stop Cycle": base + rows,
        "SRAM Filter Reads": Kr * N,
        "SRAM OFMAP Start Cycle": 2 * rows - 1,
        "SRAM OFMAP Stop Cycle": base + 2 * rows + T + last_c - 3,
        "SRAM OFMAP Writes": g.Fr * T * N,
    }


class _Probes:
    """The SRAM start/stop cycles under stalls: each is the served cycle of a fixed demand
    line (the stall-free cycle's line).  A read is served at ``line + stalls before + 1 + its
    own read stall``, a write at ``line + stalls before + its own write stall``."""

    def __init__(self, stall_free: dict[str, int]):
        self.line = {}
        for col, cyc in stall_free.items():
            if "Cycle" in col:
                op = "o" if "OFMAP" in col else ("f" if "Filter" in col else "i")
                self.line[col] = (op, cyc if op == "o" else cyc - 1)
        self.pending = sorted((ln, col) for col, (_, ln) in self.line.items())
        self.served: dict[str, int] = {}

    def settle(self, upto: int, stall: int, own: dict[str, int] | None = None) -> None:
        """Record the probes on lines before ``upto`` (and on ``upto`` itself when ``own``
        gives that line's stalls per operand)."""
        while self.pending and (self.pending[0][0] < upto
                                or (own is not None and self.pending[0][0] == upto)):
            ln, col = self.pending.pop(0)
            op = self.line[col][0]
            extra = own[op] if own is not None and ln == upto else 0
            self.served[col] = ln + stall + (0 if op == "o" else 1) + extra


# ----------------------------------------------------------------------------------------------
# USER mode
# ----------------------------------------------------------------------------------------------
def _line_loop(g: _Folds, reads: list[tuple[_ReadWindow, list[_Event]]], od: _OfmapDemand,
               wb: _WriteBuffer, probes: _Probes) -> tuple[int, int]:
    """SCALE-Sim ``service_memory_requests`` at event level: returns (Total, Stall Cycles).

    Only the lines with a read refill, a drain start or a write stall are visited; the ofmap
    words of the lines between are stored in bulk.  A line costs the largest of its operands'
    stalls (quirk 6); Total is the served cycle of the last line's ofmap write."""
    n = g.n_lines
    stall = i_cur = 0
    nxt = [0] * len(reads)  # next event per read buffer
    last_served = None
    while True:
        read_lines = [ev[j][0] if j < len(ev) else n
                      for (_, ev), j in zip(reads, nxt, strict=True)]
        line = min(*read_lines, wb.next_event_line(od, i_cur, stall))
        if line >= n:
            break
        probes.settle(line, stall)
        wb.store(od.cum(line) - od.cum(i_cur))
        c = line + stall
        own = {"i": 0, "f": 0}
        for b, ((win, ev), op) in enumerate(zip(reads, ("i", "f"), strict=True)):
            if read_lines[b] == line:
                own[op] = _read_stall(win, c, ev[nxt[b]][1], ev[nxt[b]][2])
                nxt[b] += 1
        own["o"] = wb.line(od.count(line), c)
        probes.settle(line, stall, own)
        if line == n - 1:
            last_served = c + own["o"]
        stall += max(own.values())
        i_cur = line + 1
    probes.settle(n, stall)
    wb.store(od.cum(n) - od.cum(i_cur))
    return (n - 1 + stall if last_served is None else last_served), stall


def _user_row(g: _Folds, sc: ScaleSimConfig) -> tuple[int, int, dict[str, int]]:
    """(Total Cycles, Stall Cycles, access columns) of one SCALE-Sim layer in USER mode."""
    ifm = _IfmapRefills(g, sc.ifmap_sram_kb, sc.ifmap_bandwidth)
    fwin, fev, fk = _filter_events(g, sc.filter_sram_kb, sc.filter_bandwidth)
    od = _OfmapDemand(g)
    wb = _WriteBuffer(sc.ofmap_sram_kb, sc.ofmap_bandwidth)
    sram = _stall_free_sram(g, ifm.X)
    probes = _Probes(sram)
    total, stall = _line_loop(g, [(ifm.win, ifm.events), (fwin, fev)], od, wb, probes)
    wb.empty_all(total)
    out = {col: v for col, v in sram.items() if "Cycle" not in col}
    out.update(probes.served)
    for op, (st, sp, words) in (("IFMAP", ifm.win.dram(ifm.k)), ("Filter", fwin.dram(fk))):
        out.update({f"DRAM {op} Start Cycle": st, f"DRAM {op} Stop Cycle": sp,
                    f"DRAM {op} Reads": words})
    out.update(_ofmap_dram(wb))
    return total, stall, out


def _ofmap_dram(wb: _WriteBuffer) -> dict[str, int]:
    return {"DRAM OFMAP Start Cycle": wb.dram_start, "DRAM OFMAP Stop Cycle": wb.dram_stop,
            "DRAM OFMAP Writes": wb.writes}


# ----------------------------------------------------------------------------------------------
# CALC mode: the DRAM columns of SCALE-Sim's estimator (quirk 10)
# ----------------------------------------------------------------------------------------------
def _estimator_dram(E: int, first_line: int, reads: int,
                    last_close: int | None) -> tuple[int, int]:
    """DRAM (start, stop) of ``read_buffer_estimate_bw``: from the words read and the line at
    which the last group closed (None if none ever closed)."""
    n_s = E // 100
    if last_close is None:
        return -_cdiv(_cdiv(reads, n_s) * n_s, _CALC_BW), -1
    return first_line - _cdiv(50 * n_s, _CALC_BW), last_close + 1


def _previous_occurrence(addr: np.ndarray, passes: int) -> np.ndarray:
    """For the stream ``addr`` repeated ``passes`` times: each element's previous occurrence
    of the same address (-1 for none).  One sort of one pass: the first occurrence in a pass
    refers to the last occurrence in the pass before."""
    V = len(addr)
    order = np.argsort(addr, kind="stable")
    same = addr[order[1:]] == addr[order[:-1]]
    prev1 = np.full(V, -1, dtype=np.int64)
    prev1[order[1:][same]] = order[:-1][same]
    run_end = np.flatnonzero(np.append(~same, True))  # sorted index of each run's last element
    last = np.empty(V, dtype=np.int64)  # last index in a pass of each element's address
    last[order] = order[np.repeat(run_end, np.diff(np.append(-1, run_end)))]
    first = prev1 < 0
    out = np.empty(passes * V, dtype=np.int64)
    for p in range(passes):
        out[p * V:(p + 1) * V] = np.where(first, (p - 1) * V + last if p else -1, p * V + prev1)
    return out


def _group_scan(prev: np.ndarray, G: int) -> tuple[int, int | None]:
    """Greedy groups of ``G`` new addresses over a demand stream given by each element's
    previous occurrence: (words fetched, index of the element that closed the last full group,
    or None).  An address is new if it has not been seen since the current group began."""
    n = len(prev)
    a, reads, last = 0, 0, None
    while a < n:
        span = 2 * G
        while True:
            hi = min(n, a + span)
            new = np.cumsum(prev[a:hi] < a)
            if new[-1] >= G or hi == n:
                break
            span *= 2
        if new[-1] < G:
            return reads + int(new[-1]), last
        last = a + int(np.searchsorted(new, G))
        reads += G
        a = last + 1
    return reads, last


def _ifmap_demand_stream(g: _Folds, X: _IfmapStream) -> tuple[np.ndarray, np.ndarray]:
    """The real ifmap demands of one column fold pass, in demand order: (address, line)."""
    L, rows, T = g.L, g.rows, g.T
    addrs, lines = [], []
    for fr in range(g.Fr):
        t, c = np.meshgrid(np.arange(T), np.arange(g.nr(fr)), indexing="ij")
        t, c = t.ravel(), c.ravel()
        tap = fr * rows + c
        oy, ox = np.divmod(t, g.ow)
        iy, ix = oy * L.stride + X.fy[tap], ox * L.stride + X.fx[tap]
        ok = (iy < L.H) & (ix < L.W)
        o = np.lexsort((c, t + c))
        o = o[ok[o]]
        addrs.append(((iy * L.W + ix) * L.C + X.ch[tap])[o])
        lines.append(fr * g.Pl + rows + (t + c)[o])
    return np.concatenate(addrs), np.concatenate(lines)


def _nth_ifmap_line(g: _Folds, X: _IfmapStream, q: int) -> int:
    """Demand line of the ``q``-th (0-based) real ifmap demand of the first column fold."""
    rows, T = g.rows, g.T
    per_fold = (X.cum[1:] - X.cum[:-1]).sum(axis=1)
    fr = int(np.searchsorted(np.cumsum(per_fold), q, side="right"))
    q -= int(per_fold[:fr].sum())
    cc = np.arange(g.nr(fr))
    lo, hi = 0, T + len(cc)  # demands on local diagonals < lo  <=  q  <  those < hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if int(X.count_t(fr * rows + cc, np.clip(mid - cc, 0, T)).sum()) <= q:
            lo = mid
        else:
            hi = mid
    return fr * g.Pl + rows + lo


def _ifmap_words_touched(g: _Folds) -> int:
    """Distinct ifmap words the layer reads (closed form)."""
    L, st = g.L, g.L.stride

    def covered(n_in: int, k: int, n_out: int) -> int:  # inputs under n_out windows of k
        if k >= st:
            return min(n_in, (n_out - 1) * st + k)
        return (n_out - 1) * k + min(max(n_in - (n_out - 1) * st, 0), k)

    return covered(L.H, L.R, g.oh) * covered(L.W, L.S, g.ow) * L.C


def _calc_ifmap_dram(g: _Folds, X: _IfmapStream, kb: int) -> dict[str, int]:
    """CALC ifmap DRAM: groups of ``G = 50*floor(E/100)`` new words over the demand stream.

    Closed forms when no word repeats within a pass (GEMM, 1x1, kernel <= stride: the stream
    is ``Fc`` identical passes) or when the layer touches fewer than ``G`` distinct words;
    otherwise a vectorised scan of the stream."""
    E = kb * _WORDS_PER_KB
    G = 50 * (E // 100)
    V = X.n_valid  # real demands of one pass
    last = None
    if not X.n_shifts:
        if V < G:
            reads = V
        else:
            reads = g.Fc * V
            q = (reads // G) * G - 1  # the element that closed the last group
            last = (q // V) * g.Fr * g.Pl + _nth_ifmap_line(g, X, q % V)
    elif _ifmap_words_touched(g) < G:
        reads = _ifmap_words_touched(g)
    else:
        addr, lines = _ifmap_demand_stream(g, X)
        reads, idx = _group_scan(_previous_occurrence(addr, g.Fc), G)
        if idx is not None:
            last = (idx // len(addr)) * g.Fr * g.Pl + int(lines[idx % len(addr)])
    start, stop = _estimator_dram(E, g.rows, reads, last)
    return {"DRAM IFMAP Start Cycle": start, "DRAM IFMAP Stop Cycle": stop,
            "DRAM IFMAP Reads": reads}


def _calc_filter_dram(g: _Folds, kb: int) -> dict[str, int]:
    """CALC filter DRAM: every weight is demanded once, so groups close at every ``G``-th
    weight; the line of the last closing weight follows from the per-fold counts (``nr*nc``
    weights per fold, ``nc`` per line, the fold's first line at ``rows - nr``)."""
    E = kb * _WORDS_PER_KB
    G = 50 * (E // 100)
    nw = g.Kr * g.N
    last = None
    if nw >= G:
        q = (nw // G) * G - 1
        for f in range(g.Fr * g.Fc):
            fc, fr = divmod(f, g.Fr)
            nr, nc = g.nr(fr), g.nc(fc)
            if q < nr * nc:
                last = f * g.Pl + (g.rows - nr) + q // nc
                break
            q -= nr * nc
    start, stop = _estimator_dram(E, max(0, g.rows - g.Kr), nw, last)
    return {"DRAM Filter Start Cycle": start, "DRAM Filter Stop Cycle": stop,
            "DRAM Filter Reads": nw}


def _calc_ofmap_dram(g: _Folds, kb: int) -> dict[str, int]:
    """CALC ofmap DRAM: the USER write buffer draining ``cols`` words/cycle on the stall-free
    timeline (it never stalls); the final drain starts at the last line."""
    od = _OfmapDemand(g)
    wb = _WriteBuffer(kb, g.cols)
    done = 0  # ofmap words of lines < done are stored
    while (i := wb.next_event_line(od, done, 0)) < g.n_lines:
        wb.store(od.cum(i) - od.cum(done))
        wb.line(od.count(i), i)
        done = i + 1
    wb.store(od.cum(g.n_lines) - od.cum(done))
    wb.empty_all(g.n_lines - 1)
    return _ofmap_dram(wb)


def _calc_row(g: _Folds, sc: ScaleSimConfig) -> tuple[int, int, dict[str, int]]:
    """(Total Cycles, Stall Cycles, access columns) of one SCALE-Sim layer in CALC mode."""
    X = _IfmapStream(g)
    out = _stall_free_sram(g, X)
    out.update(_calc_ifmap_dram(g, X, sc.ifmap_sram_kb))
    out.update(_calc_filter_dram(g, sc.filter_sram_kb))
    out.update(_calc_ofmap_dram(g, sc.ofmap_sram_kb))
    return g.n_lines - 1, 0, out


# ----------------------------------------------------------------------------------------------
# entry point
# ----------------------------------------------------------------------------------------------
def _check_config(rows: int, cols: int, sc: ScaleSimConfig) -> None:
    for fld, v in (("array.rows", rows), ("array.cols", cols)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InputError(f"{v!r} is not an array size", field=fld, allowed="integer >= 1")
    if sc.interface == "user":
        for op, bw, banks in (("ifmap", sc.ifmap_bandwidth, sc.ifmap_banks),
                              ("filter", sc.filter_bandwidth, sc.filter_banks)):
            if bw % banks:
                raise InputError(f"SCALE-Sim needs the {op} bandwidth ({bw}) to be a multiple "
                                 f"of its banks ({banks})", field=f"scalesim.{op}_bandwidth",
                                 allowed=f"a multiple of {banks}")


def scalesim_layer(layer: Layer, rows: int, cols: int, sc: ScaleSimConfig) -> ScaleSimLayerResult:
    """SCALE-Sim 3.0.0's cycles and access counts for ``layer`` on a ``rows x cols`` WS array
    with the memory of ``sc`` (its ``interface`` picks CALC or USER).

    Raises :class:`~ewssim.errors.InputError` naming the field for a layer SCALE-Sim cannot
    run as it is (see the module docstring) and for a USER bandwidth that is not a multiple of
    its bank count (SCALE-Sim's assertion)."""
    _check_config(rows, cols, sc)
    shape, runs = _scalesim_shape(layer)
    g = _Folds(shape, rows, cols)
    total, stall, cols_ = (_user_row if sc.interface == "user" else _calc_row)(g, sc)
    access = ScaleSimAccess(**{f.name: int(cols_[REPORT_COLUMNS[f.name]])
                               for f in fields(ScaleSimAccess)})
    return ScaleSimLayerResult(
        interface=sc.interface, runs=runs, total_cycles=runs * total, stall_cycles=runs * stall,
        row_total_cycles=total, row_stall_cycles=stall,
        total_cycles_incl_prefetch=access.dram_ofmap_stop - min(access.dram_ifmap_start,
                                                                access.dram_filter_start),
        access=access,
    )
