"""Cycle-by-cycle reference of the hardware, memories included, for small layers.

An independent implementation of docs/model-reference.md §1-§6: the clock advances one cycle
at a time; every PE's registers are numpy arrays over the physical array; every port and
channel moves its bytes cycle by cycle; every buffer holds its blocks with their state.  It
shares no scheduling code with the engine: it reads the layers, the resolved hardware and each
layer's mapping *choice* (pixel chunk, partial sums in the PRF) and plans the rest itself
(:mod:`ewssim.engine.ref_plan`).  It exists to prove that the engine (events per transfer,
closed forms per tile) is exact; it is slow, so use it on small layers.

One process per hardware block, each stepped once per cycle in a fixed order:

1. **memories** (:class:`MemoryRef`): transfers that end at this cycle complete (the DRAM
   channel and the L2 port move their bytes cycle by cycle), DRAM reads whose latency has
   passed arrive, releases and completions the array and the weight path produced for this
   cycle take effect; then the DMAs (weight prefetch into the L2 staging ring, staged input
   pieces, the three L1 buffers' fills and drains) request what they can;
2. **array** (:class:`ArrayRef`): the left-edge feeder starts the next tile when the previous
   one has been fed, its load has ended, its activation block is in L1, its output slot is
   free and the previous layer has finished; activations enter the skewed rows, PEs multiply
   and pass partial sums down, results leave the bottom row;
3. **weight path** (:class:`WeightPathRef`): performs its actions in order -- codebook loads
   into the CRF, tile loads line by line through the weight-loader model
   (:class:`ewssim.hw.loader.WeightLoader`) -- each once its weight block is in L1 and (loads)
   its WRF slot is released;
4. the ports grant their next transfer (earliest request, then priority, then order).

The array's idle cycles are attributed to causes by the rule of :mod:`ewssim.engine.stalls`,
evaluated from this state cycle by cycle.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from types import SimpleNamespace

import numpy as np

from ewssim.compress.layer import CompressedLayer
from ewssim.engine import ref_plan as rp
from ewssim.engine.functional import conv_view, dbb_prune, dbb_subvectors, dbb_weights, unit_fields
from ewssim.errors import EwssimError
from ewssim.hw.hardware import Hardware, LayerHardware
from ewssim.hw.loader import LoaderCounters, WeightLoader, line_subvectors
from ewssim.workload.layers import Layer

CAUSES = ("dram_bandwidth", "dram_latency", "l2_port", "l1_fill", "loader_crf", "dependency")


class ReferenceSimError(EwssimError):
    """The layer cannot run on the modelled hardware (or the reference found a hazard)."""


@dataclass
class LayerReference:
    """What the reference measured for one layer."""

    name: str
    cycles: int = 0                # the layer's cycles (previous layer's finish to its own)
    stall_cycles: int = 0
    stalls: dict[str, int] = field(default_factory=dict)
    starts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    output: np.ndarray | None = None
    act_reads: int = 0
    weight_reads: int = 0
    psum_reads: int = 0
    psum_writes: int = 0
    out_writes: int = 0
    executed_macs: int = 0
    nonzero_macs: int = 0
    act_pos_bits: int = 0
    crf_reads: int = 0
    crf_cycles: int = 0            # cycles in which the CRF served at least one lookup
    crf_write_bytes: int = 0       # codewords the codebook loads wrote into the CRF
    load_starts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    weight_l1_bytes: int = 0
    loader: LoaderCounters = field(default_factory=LoaderCounters)
    finish: int = 0                # first cycle after the layer's last result
    # memory traffic of the layer, bytes
    dram_act_read_bytes: int = 0
    dram_weight_read_bytes: int = 0
    dram_out_write_bytes: int = 0
    l2_act_read_bytes: int = 0
    l2_weight_read_bytes: int = 0
    l2_out_write_bytes: int = 0


@dataclass
class LayerRun:
    """One layer given to the reference: the layer, its weight format's hardware view, the
    mapping choice (pixel chunk, partial sums in the PRF) and its operands.

    ``taps``, ``line_cycles`` and ``load_latency`` replace what the hardware implies (to run
    any schedule); ``loader`` replaces the configuration's weight loader; ``tamper`` may edit
    the reference's own plan before it runs (to show that a wrong plan is caught)."""

    layer: Layer
    lhw: LayerHardware
    chunk: int | None
    psums_in_prf: bool
    x: np.ndarray
    w: np.ndarray | CompressedLayer
    header_bytes: int = 0
    taps: int | None = None
    line_cycles: object = None
    load_latency: int | None = None
    loader: WeightLoader | None = None
    tamper: object = None


# ============================================================================ the array

class ArrayRef:
    """One layer's PE array and its operand tables (built once), stepped per cycle."""

    def __init__(self, run: LayerRun, plan: rp.RefPlan, loader: WeightLoader | None):
        self.run, self.plan = run, plan
        la, lhw = run.layer, run.lhw
        hw = lhw.hw
        tiles = plan.tiles
        n = len(tiles)
        self.n = n
        self.la = la
        self.Lp, self.H, self.t = lhw.pe_rows, hw.cols, plan.taps
        self.Ll = lhw.logical_rows
        self.sc = lhw.slot_cycles
        self.drain_full_width = hw.drain_full_width
        self.psums_in_prf = run.psums_in_prf
        self.res = LayerReference(name=la.name, act_pos_bits=(
            (hw.act_block - 1).bit_length() if lhw.time_unrolled else 0))
        self.loader = loader
        s = SimpleNamespace(**{k: np.asarray([getattr(x, k) for x in tiles], np.int64)
                               for k in ("g0", "g1", "n0", "n1", "u0", "u1", "p0", "p1")})
        self.s = s
        self._format(run, plan)
        self._operands(run)
        self._state()

    # ------------------------------------------------------------------ operand tables
    def _format(self, run: LayerRun, plan: rp.RefPlan) -> None:
        """How the layer's weights reach the PEs: dense values, DBB blocks, or codebook
        indices through the loader (its N:M groups, d, taps per PE)."""
        la, lhw = run.layer, run.lhw
        t = self.t
        w = run.w
        cl: CompressedLayer | None = None
        if isinstance(w, CompressedLayer):
            if w.format.int8:
                w = w.int8_weights
            elif w.format.dbb and not w.format.pruned:
                w = dbb_weights(w)
            else:
                cl = w
        self.cl = cl
        sparse = lhw.sparse
        aw = lhw.time_unrolled
        self.sparse, self.aw = sparse, aw
        dbb = cl is not None and cl.format.dbb
        self.dbb = dbb
        bz = lhw.hw.act_block
        nnz_a = lhw.nnz_a
        if aw:
            if not dbb or not cl.format.pruned:
                raise ReferenceSimError(f"layer '{la.name}': activation DBB runs on the tensor "
                                        "PEs only with pruned dbb weights")
            if cl.format.nm[1] != bz or t != 1:
                raise ReferenceSimError(f"layer '{la.name}': a tensor PE holds one weight "
                                        f"block of BZ = {bz} with one tap")
            short = [k for k, tile in enumerate(plan.tiles)
                     if tile.load and tile.line_cycles < cl.format.nm[0]]
            if short:
                raise ReferenceSimError(f"tile {short[0]}: a line of a tensor PE needs >= "
                                        f"{cl.format.nm[0]} cycles (one entry per cycle)")
        E = cl.format.nm[0] if aw else t
        self.E, self.bz, self.nnz_a = E, bz, nnz_a
        per_pix = t * self.sc
        self.per_pix = per_pix
        if cl is None:
            view = conv_view(la, run.x, w)
            d, q, gN, gM = 1, 1, 1, 1
        else:
            if cl.padded_channels != cl.channels:
                raise ReferenceSimError(f"layer '{la.name}': channels {cl.channels} are not a "
                                        f"multiple of d={cl.format.d} (fit=pad)")
            view = conv_view(la, run.x, np.zeros(la.weight_shape, np.int64))
            d = cl.format.d
            if dbb:
                q = cl.format.nm[0]
                gN, gM = cl.format.nm if sparse and not aw else (1, 1)
                vals, pos = dbb_subvectors(cl)
                if not sparse:
                    dense = np.zeros((cl.n_sub, d), np.int64)
                    np.put_along_axis(dense, pos, vals, axis=1)
                    vals, pos = dense, None
                self.dbb_vals, self.dbb_pos = vals, pos
                self.block_bits = cl.format.subvector_bits
            else:
                self.loader.begin_layer(cl)
                self.counters0 = copy.copy(self.loader.counters)
                self.crf0 = self.loader.crf.counters.reads
                q = self.loader.q
                gN, gM = cl.format.nm if sparse else (1, 1)
        self.d, self.q, self.gN, self.gM = d, q, gN, gM
        self.view = view

    def _operands(self, run: LayerRun) -> None:
        """Per tile: the weight of every PE (dense) or its line of sub-vector ids, the input
        tag and value every PE row sees at every step, the output channel of every column,
        and how many tiles contribute to each output.  One pass over the tiles building all
        the tables together (about 95 lines): the per-tile index arithmetic is shared by
        every table, and splitting it would pass a dozen arrays between helpers."""
        la = run.layer
        s, t = self.s, self.t
        Lp, H, Ll = self.Lp, self.H, self.Ll
        cl, view, d = self.cl, self.view, self.d
        units = unit_fields(la, t)
        xp = view.padded_input()
        ohw = la.out_h * la.out_w
        span_h = xp.shape[2] + la.dil_h * la.kernel_h + 1
        span_w = (la.out_w * la.stride_w + (units[:, 2].max(initial=0) + t) * la.dil_w + 1)
        n_ch = xp.shape[1]
        n = self.n
        P = (s.p1 - s.p0).astype(np.int64)
        self.P = P
        used_rows = ((s.g1 - s.g0) * (s.u1 - s.u0)).astype(np.int64)
        used_cols = ((s.g1 - s.g0) * (s.n1 - s.n0)).astype(np.int64)
        self.used_cols = used_cols
        dense_w = cl is None
        self.dense_w = dense_w
        W = np.zeros((n, Lp, H, t) if dense_w else (0,), np.int64)
        real = np.zeros((n, Lp, H, t) if dense_w else (0,), bool)
        line_ids, line_row = [], []
        col_och = np.full((n, H), -1, np.int64)
        tag_off = np.zeros(n + 1, np.int64)
        tags, vals_ = [], []
        aw_off = np.zeros(n + 1, np.int64)
        aw_vals, aw_poss = [], []
        aw_used = np.zeros((n, Lp), bool)
        for k in range(n):
            g0, g1 = int(s.g0[k]), int(s.g1[k])
            n0, n1, u0, u1 = int(s.n0[k]), int(s.n1[k]), int(s.u0[k]), int(s.u1[k])
            nu, nc = u1 - u0, n1 - n0
            if used_rows[k] > Ll or used_cols[k] > H:
                raise ReferenceSimError(f"tile {k} needs {used_rows[k]}x{used_cols[k]} PEs")
            tag = np.full((Ll, int(P[k]) * t), -1, np.int64)
            val = np.zeros((Ll, int(P[k]) * t), np.int64)
            pix = np.arange(int(s.p0[k]), int(s.p1[k]))
            b, rem = np.divmod(pix, ohw)
            oh, ow = np.divmod(rem, la.out_w)
            for jg in range(g1 - g0):
                g = g0 + jg
                for j in range(nc):
                    col_och[k, jg * nc + j] = g * view.n_g + n0 + j
                for iu in range(nu):
                    i = jg * nu + iu
                    c, r, s0 = (int(v) for v in units[u0 + iu])
                    for tau in range(t):
                        kc = s0 + tau
                        if kc < la.kernel_w and dense_w:
                            W[k, i, jg * nc:(jg + 1) * nc, tau] = view.w[
                                g * view.n_g + n0:g * view.n_g + n1, c, r, kc]
                            real[k, i, jg * nc:(jg + 1) * nc, tau] = True
                        ih = oh * la.stride_h + r * la.dil_h
                        iw = ow * la.stride_w + kc * la.dil_w
                        ch = g * view.c_g + c
                        tag[i, tau::t] = ((b * n_ch + ch) * span_h + ih) * span_w + iw
                        inside = (ih < xp.shape[2]) & (iw < xp.shape[3])
                        v = np.zeros(len(pix), np.int64)
                        v[inside] = xp[b[inside], ch, ih[inside], iw[inside]]
                        val[i, tau::t] = v
            if not dense_w:
                if u0 % d or nu % d:
                    raise ReferenceSimError(f"tile {k}: units {u0}:{u1} not aligned to d={d}")
                nb = nu // d
                ub = units[u0:u1:d]
                cols_j = np.arange(int(used_cols[k]))
                jg = cols_j // nc
                o = (g0 + jg) * view.n_g + n0 + cols_j % nc
                kcol = ub[None, :, 2] + np.arange(t)[:, None]
                ok = kcol < la.kernel_w
                ids = line_subvectors(cl, o[:, None, None], ub[None, None, :, 1],
                                      np.where(ok, kcol, 0)[None],
                                      (ub[:, 0] // d)[None, None, :], 1)[..., 0]
                line_ids.append(np.where(ok[None], ids, -1))
                line_row.append(jg[:, None] * nu + np.arange(nb)[None, :] * d)
            if self.aw:
                blk = val.reshape(Lp, self.bz, int(P[k])).transpose(0, 2, 1)
                kv, kp = dbb_prune(blk, self.nnz_a)
                aw_vals.append(kv.ravel())
                aw_poss.append(kp.ravel())
                aw_off[k + 1] = aw_off[k] + kv.size
                aw_used[k] = (tag.reshape(Lp, self.bz * int(P[k])) >= 0).any(1)
            tags.append(tag.ravel())
            vals_.append(val.ravel())
            tag_off[k + 1] = tag_off[k] + tag.size
        self.W, self.real, self.line_ids, self.line_row = W, real, line_ids, line_row
        self.col_och, self.tag_off = col_och, tag_off
        self.tag_flat = np.concatenate(tags) if tags else np.zeros(0, np.int64)
        self.val_flat = np.concatenate(vals_) if vals_ else np.zeros(0, np.int64)
        self.aw_off, self.aw_used = aw_off, aw_used
        self.aw_val = np.concatenate(aw_vals) if aw_vals else np.zeros(0, np.int64)
        self.aw_pos = np.concatenate(aw_poss) if aw_poss else np.zeros(0, np.int64)
        T = view.pixels
        n_out = view.blocks * view.n_g
        needed = np.zeros((T, n_out), np.int64)
        for k in range(n):
            needed[int(s.p0[k]):int(s.p1[k]), col_och[k, :used_cols[k]]] += 1
        self.needed = needed
        self.done = np.zeros((T, n_out), np.int64)
        self.out = np.zeros((T, n_out), np.int64)

    def _state(self) -> None:
        Lp, H, t, Ll = self.Lp, self.H, self.t, self.Ll
        slots, E = self.plan.slots, self.E
        self.edge_tile = np.full(Lp, -1, np.int64)
        self.edge_slot = np.zeros(Lp, np.int64)
        self.act_tile = np.full((Lp, H), -1, np.int64)
        self.act_slot = np.zeros((Lp, H), np.int64)
        self.ptr = np.full((Lp, H), -1, np.int64)
        self.wrf_set = np.full((Lp, H, slots, E), -1, np.int64)
        self.wrf_w = np.zeros((Lp, H, slots, E), np.int64)
        self.wrf_sel = np.zeros((Lp, H, slots, E), np.int64)
        self.wrf_real = np.zeros((Lp, H, slots, E), bool)
        self.wrf_when = np.full((Lp, H, slots, E), -1, np.int64)
        self.acc = np.zeros((Lp, H), np.int64)
        self.ps_val = np.zeros((Lp, H), np.int64)
        self.ps_tile = np.full((Lp, H), -1, np.int64)
        self.ps_q = np.full((Lp, H), -1, np.int64)
        self.win_prev = np.full((Ll, t), -1, np.int64)
        self.win_cur = np.full((Ll, t), -1, np.int64)
        lrows = np.arange(Ll)
        self.lrows = lrows
        self.lead = lrows // self.bz if self.aw else (lrows // self.gM) * self.gN
        self.grp_base = (np.arange(Lp) // self.gN) * self.gM
        self.II, self.JJ = np.meshgrid(np.arange(Lp), np.arange(H), indexing="ij")
        self.set_ids = [self.plan.tiles[k].set_key for k in range(self.n)]
        keys = {key: i for i, key in enumerate(dict.fromkeys(self.set_ids))}
        self.set_arr = np.asarray([keys[x] for x in self.set_ids], np.int64)
        self.slot_of = np.asarray([tile.slot for tile in self.plan.tiles], np.int64)
        self.starts = np.full(self.n, -1, np.int64)
        self.ends = np.full(self.n, -1, np.int64)
        self.load_end = np.full(self.n, -1, np.int64)  # last cycle of each tile's load
        self.load_start = np.full(self.n, -1, np.int64)
        self.remaining = self.P * (H if self.drain_full_width else self.used_cols)
        self.feed_tile, self.feed_slot = -1, 0
        self.next_tile = 0
        self.finished = 0
        self.act_release_at: dict[int, int] = {}      # tile -> cycle its reads are over

    # ------------------------------------------------------------------ per cycle
    def feed(self, c: int, may_start) -> None:
        """The row-0 feeder: continue the current tile or start the next one."""
        P, per_pix = self.P, self.per_pix
        if self.feed_tile >= 0 and self.feed_slot + 1 < P[self.feed_tile] * per_pix:
            self.feed_slot += 1
        elif self.next_tile < self.n and may_start(self.next_tile, c):
            k = self.next_tile
            self.feed_tile, self.feed_slot = k, 0
            self.starts[k] = c
            self.next_tile += 1
        else:
            self.feed_tile = -1
        self.edge_tile[1:] = self.edge_tile[:-1]
        self.edge_slot[1:] = self.edge_slot[:-1]
        self.edge_tile[0], self.edge_slot[0] = self.feed_tile, self.feed_slot
        # the bottom physical row receives a tile's last slot: its activations are all read
        kb, sb = int(self.edge_tile[-1]), int(self.edge_slot[-1])
        if kb >= 0 and sb == P[kb] * per_pix - 1:
            self.act_release_at[kb] = c + 1

    @property
    def feeding(self) -> bool:
        return self.feed_tile >= 0

    def edge(self) -> None:
        """The left edge: the ARF window of every logical row, L1 reads."""
        res, t = self.res, self.t
        e_tile, e_slot = self.edge_tile[self.lead], self.edge_slot[self.lead]
        fed = e_tile >= 0
        if self.aw:
            fed_p = self.edge_tile >= 0
            res.act_reads += int((fed_p & self.aw_used[np.where(fed_p, self.edge_tile, 0),
                                                       np.arange(self.Lp)]).sum())
        elif fed.any():
            P = self.P
            ek = np.where(fed, e_tile, 0)
            flat = self.tag_off[ek] + self.lrows * (P[ek] * t) + e_slot
            need = np.where(fed, self.tag_flat[np.where(fed, flat, 0)], -1)
            tau = e_slot % t
            start_pix = fed & (tau == 0)
            restart = start_pix & (e_slot == 0)
            wp, wc = self.win_prev, self.win_cur
            wp[start_pix] = wc[start_pix]
            wp[restart] = -1
            wc[start_pix] = -1
            used = fed & (need >= 0)
            hit = (wp == need[:, None]).any(1) | (wc == need[:, None]).any(1)
            res.act_reads += int((used & ~hit).sum())
            wc[used, tau[used]] = need[used]
        self.act_tile[:, 1:] = self.act_tile[:, :-1]
        self.act_slot[:, 1:] = self.act_slot[:, :-1]
        self.act_tile[:, 0] = self.edge_tile
        self.act_slot[:, 0] = self.edge_slot

    def pes(self, c: int) -> None:
        """PEs: tile pointer, WRF check, mux, MAC, psum; results leave the bottom row."""
        Lp, H, t, sc = self.Lp, self.H, self.t, self.sc
        II, JJ = self.II, self.JJ
        act_tile, act_slot = self.act_tile, self.act_slot
        res, P = self.res, self.P
        valid = act_tile >= 0
        new_ps_tile = np.full((Lp, H), -1, np.int64)
        if valid.any():
            if (act_tile[valid] < self.ptr[valid]).any():
                raise ReferenceSimError("a PE saw tiles out of order")
            self.ptr = np.where(valid, act_tile, self.ptr)
            kk = np.where(valid, act_tile, 0)
            tau = (act_slot // sc) % t
            phase = act_slot % self.per_pix
            q_pix = act_slot // self.per_pix
            col_used = valid & (JJ < self.used_cols[kk])
            sl = self.slot_of[kk]
            if self.aw:
                wset = self.wrf_set[II, JJ, sl]
                stale = col_used & ((wset != self.set_arr[kk][..., None]).any(-1)
                                    | (self.wrf_when[II, JJ, sl] >= c).any(-1))
            else:
                wset = self.wrf_set[II, JJ, sl, tau]
                stale = col_used & ((wset != self.set_arr[kk])
                                    | (self.wrf_when[II, JJ, sl, tau] >= c))
            if stale.any():
                i, j = (int(v) for v in np.argwhere(stale)[0])
                raise ReferenceSimError(f"layer '{self.la.name}': cycle {c}: PE ({i}, {j}) runs "
                                        f"tile {kk[i, j]} but its WRF slot {sl[i, j]} does not "
                                        "hold its weights")
            if self.aw:
                flat = np.where(valid, self.aw_off[kk] + II * (P[kk] * sc) + act_slot, 0)
                a_val = np.where(valid, self.aw_val[flat], 0)
                a_pos = np.where(valid, self.aw_pos[flat], -1)
                match = (col_used[..., None] & self.wrf_real[II, JJ, sl]
                         & (self.wrf_sel[II, JJ, sl] == a_pos[..., None]))
                wv = np.where(match, self.wrf_w[II, JJ, sl], 0).sum(-1)
                ex = match.any(-1)
            else:
                wv = np.where(col_used, self.wrf_w[II, JJ, sl, tau], 0)
                lrow = self.grp_base[:, None] + self.wrf_sel[II, JJ, sl, tau]
                a_val = np.where(valid, self.val_flat[np.where(
                    valid, self.tag_off[kk] + lrow * (P[kk] * t) + act_slot, 0)], 0)
                ex = col_used & self.wrf_real[II, JJ, sl, tau]
            res.executed_macs += int(ex.sum())
            nz = ex & (a_val != 0)
            if self.sparse:
                nz &= wv != 0
            res.nonzero_macs += int(nz.sum())
            prod = wv * a_val
            self.acc = np.where(valid, np.where(phase == 0, prod, self.acc + prod), self.acc)
            fin = valid & (phase == self.per_pix - 1)
            above = np.zeros((Lp, H), np.int64)
            above[1:] = self.ps_val[:-1]
            if Lp > 1:
                bad = fin[1:] & ((self.ps_tile[:-1] != act_tile[1:])
                                 | (self.ps_q[:-1] != q_pix[1:]))
                if bad.any():
                    i, j = (int(v) for v in np.argwhere(bad)[0])
                    raise ReferenceSimError(f"cycle {c}: PE ({i + 1}, {j}) missed its psum")
            self.ps_val = np.where(fin, self.acc + above, 0)
            new_ps_tile = np.where(fin, act_tile, -1)
            self.ps_q = np.where(fin, q_pix, -1)
            for j in np.flatnonzero(fin[Lp - 1]).tolist():
                self._result(c, int(act_tile[Lp - 1, j]), j, int(q_pix[Lp - 1, j]))
        self.ps_tile = new_ps_tile

    def _result(self, c: int, k: int, j: int, qp: int) -> None:
        res = self.res
        if j < self.used_cols[k]:
            p = int(self.s.p0[k]) + qp
            o = int(self.col_och[k, j])
            if self.done[p, o] and not self.psums_in_prf:
                res.psum_reads += 1
            self.out[p, o] += self.ps_val[self.Lp - 1, j]
            self.done[p, o] += 1
            if self.done[p, o] == self.needed[p, o]:
                res.out_writes += 1
            elif not self.psums_in_prf:
                res.psum_writes += 1
        elif not self.drain_full_width:
            return
        self.remaining[k] -= 1
        if self.remaining[k] == 0:
            self.ends[k] = c
            self.finished += 1

    @property
    def all_done(self) -> bool:
        return self.finished == self.n

    # ------------------------------------------------------------------ weight writes
    def write_line(self, c: int, k: int, j: int, tau: int, data) -> None:
        """Write one line (column ``j``, tap ``tau``) of tile ``k`` into the WRFs."""
        res = self.res
        sl = int(self.slot_of[k])
        if self.aw:
            e, chunks = data
            self.wrf_set[:, j, sl, e] = self.set_arr[k]
            self.wrf_when[:, j, sl, e] = c
            col_w = np.zeros(self.Lp, np.int64)
            col_sel = np.zeros(self.Lp, np.int64)
            col_real = np.zeros(self.Lp, bool)
            for rows0, v, pos in chunks:
                if e == 0:
                    res.weight_reads += self.d * len(rows0)
                phys = rows0 // self.bz
                col_w[phys] = v[:, e]
                col_sel[phys] = pos[:, e]
                col_real[phys] = True
            self.wrf_w[:, j, sl, e] = col_w
            self.wrf_sel[:, j, sl, e] = col_sel
            self.wrf_real[:, j, sl, e] = col_real
            return
        self.wrf_set[:, j, sl, tau] = self.set_arr[k]
        self.wrf_when[:, j, sl, tau] = c
        if self.dense_w:
            self.wrf_w[:, j, sl, tau] = self.W[k, :, j, tau]
            self.wrf_real[:, j, sl, tau] = self.real[k, :, j, tau]
            self.wrf_sel[:, j, sl, tau] = 0
            res.weight_reads += int(self.real[k, :, j, tau].sum())
            return
        col_w = np.zeros(self.Lp, np.int64)
        col_sel = np.zeros(self.Lp, np.int64)
        col_real = np.zeros(self.Lp, bool)
        q, gN, gM, d = self.q, self.gN, self.gM, self.d
        for rows0, v, pos in data:
            res.weight_reads += d * len(rows0)
            if self.sparse:
                phys = (rows0 * gN // gM)[:, None] + np.arange(q)[None, :]
                sel = pos - (np.arange(q) // gN * gM)[None, :]
                if ((sel < 0) | (sel >= gM)).any():
                    raise ReferenceSimError(f"tile {k}, column {j}, tap {tau}: the loader gave "
                                            f"position(s) outside the PE's {gM}-group")
                col_w[phys] = v
                col_sel[phys] = sel
                col_real[phys] = True
            else:
                rows = rows0[:, None] + np.arange(d)[None, :]
                col_w[rows] = v
                col_real[rows] = True
        self.wrf_w[:, j, sl, tau] = col_w
        self.wrf_sel[:, j, sl, tau] = col_sel
        self.wrf_real[:, j, sl, tau] = col_real

    def write_rows(self, c: int, k: int, m: int) -> None:
        """SCALE-Sim's load: weights shift in from the top, one row per cycle."""
        sl = int(self.slot_of[k])
        if m == 0:
            self.res.weight_reads += int(self.real[k].sum())
        if m == self.Lp - 1:
            self.wrf_set[:, :, sl, :] = self.set_arr[k]
            self.wrf_w[:, :, sl, :] = self.W[k]
            self.wrf_real[:, :, sl, :] = self.real[k]
            self.wrf_when[:, :, sl, :] = c
        else:
            self.wrf_set[:m + 1, :, sl, :] = -2
            self.wrf_when[:m + 1, :, sl, :] = c


# ============================================================================ weight path

class WeightPathRef:
    """The weight path over the network: codebook loads into the CRF and tile loads, in order,
    one at a time; a load reads its lines from L1 (through the weight-loader model for
    codebook weights, at most ``crf.ports`` sub-vectors per cycle) and writes each line into
    the column's PEs ``load_latency`` cycles after its last read."""

    def __init__(self, actions: list, mem: MemoryRef, net: NetworkRef):
        self.actions = actions          # (layer, RefAction, global w block)
        self.mem, self.net = mem, net
        self.i = 0                      # next action
        self.cur = -1                   # running action
        self.start = [-1] * len(actions)
        self.end = [-1] * len(actions)  # first cycle after the action
        self.line_buf: list = []
        self.pending: deque = deque()   # (write cycle, layer, tile, column, tap, data)
        self.load_bits0 = 0
        self.load_bits = 0

    def in_l1(self, wb: int, c: int) -> bool:
        """Weight block ``wb`` is in L1 at cycle ``c`` (always, with ideal memory)."""
        if self.mem is None:
            return True
        r = self.mem.w_ready[wb]
        return r is not None and r <= c

    def _gate_ok(self, a: int, c: int) -> bool:
        """The compute condition of load ``a`` at cycle ``c`` (its WRF slot, the barrier)."""
        li, act, _ = self.actions[a]
        arr = self.net.arrays.get(li)
        if arr is None:
            return False
        tile = arr.plan.tiles[act.tile]
        if c < self.net.barrier(li):
            return False
        if arr.plan.double_buffer:
            r = tile.release
            return r < 0 or bool(arr.ptr[arr.Lp - 1, 0] >= r)
        k = act.tile
        return bool(np.all((arr.ends[:k] >= 0) & (arr.ends[:k] < c)))

    def step(self, c: int) -> None:
        if self.cur < 0 and self.i < len(self.actions):
            a = self.i
            li, act, wb = self.actions[a]
            if self.in_l1(wb, c) and (act.kind == "crf" or self._gate_ok(a, c)):
                self.cur, self.start[a] = a, c
                self.i += 1
                if act.kind == "load":
                    arr = self.net.arrays[li]
                    arr.load_start[act.tile] = c
                    if arr.loader is not None:
                        self.load_bits0 = arr.loader.counters.l1_bits_read
                    self.load_bits = 0
        if self.cur >= 0:
            a = self.cur
            li, act, wb = self.actions[a]
            m = c - self.start[a]
            if act.kind == "crf":
                if m == act.cycles - 1 or act.cycles == 0:
                    f = self.net.runs[li].lhw.format
                    self.net.arrays[li].res.crf_write_bytes += (len(act.data) - 1) * f.k * f.d
                    self._finish(a, c + 1, c + 1)
            else:
                self._load_cycle(c, a, li, act, wb, m)
        arrs = self.net.arrays
        while self.pending and self.pending[0][0] == c:
            _, li, k, j, tau, data = self.pending.popleft()
            arrs[li].write_line(c, k, j, tau, data)

    def _finish(self, a: int, end: int, read_end: int) -> None:
        _, _, wb = self.actions[a]
        self.end[a] = end
        self.cur = -1
        if self.mem is not None and self.mem.w_last_action[wb] == a:
            self.mem.schedule(read_end, ("w_release", wb))

    def _load_cycle(self, c: int, a: int, li: int, act, wb: int, m: int) -> None:
        arr = self.net.arrays[li]
        tile = arr.plan.tiles[act.tile]
        k, hw = act.tile, arr.run.lhw.hw
        if hw.load_mode == "rows":
            arr.write_rows(c, k, m)
            if m == tile.load_len - 1:
                arr.load_end[k] = c
                self._finish(a, c + 1, c + 1)
            return
        lc, lines = tile.line_cycles, tile.lines
        lat = tile.load_len - lines * lc
        t = arr.t
        if m < lines * lc:
            line, phase = divmod(m, lc)
            j, tau = divmod(line, t)
            data = None
            if arr.dbb:
                if phase == 0:
                    ids = arr.line_ids[k][j, tau]
                    keep = ids >= 0
                    ids, rows0 = ids[keep], arr.line_row[k][j][keep]
                    self.load_bits += int(ids.size) * arr.block_bits
                    self.line_buf = [(rows0, arr.dbb_vals[ids],
                                      None if arr.dbb_pos is None else arr.dbb_pos[ids])]
                if arr.aw:
                    if phase < arr.E:
                        self.pending.append((c + lat, li, k, j, tau, (phase, self.line_buf)))
                elif phase == lc - 1:
                    self.pending.append((c + lat, li, k, j, tau, self.line_buf))
            else:
                if not arr.dense_w:
                    ids = arr.line_ids[k][j, tau]
                    keep = ids >= 0
                    ids, rows0 = ids[keep], arr.line_row[k][j][keep]
                    ports = arr.loader.crf.ports
                    if ids.size > lc * ports:
                        raise ReferenceSimError(f"tile {k}: a line of {ids.size} sub-vectors "
                                                f"cannot be read by {ports} CRF port(s) in "
                                                f"{lc} cycle(s)")
                    part = slice(phase * ports, (phase + 1) * ports)
                    if ids[part].size:
                        arr.res.crf_cycles += 1
                        if arr.sparse:
                            v, pos = arr.loader.decode(arr.cl, ids[part])
                        else:
                            v, pos = arr.loader.decode_dense(arr.cl, ids[part]), None
                        self.line_buf.append((rows0[part], v.astype(np.int64), pos))
                    if phase == lc - 1:
                        data, self.line_buf = self.line_buf, []
                if phase == lc - 1:
                    self.pending.append((c + lat, li, k, j, tau, data))
            if m == lines * lc - 1 and self.mem is not None and \
                    self.mem.w_last_action[wb] == a:
                self.mem.schedule(c + 1, ("w_release", wb))
        if m == tile.load_len - 1:
            arr.load_end[k] = c
            if arr.loader is not None and not arr.dbb:
                arr.res.weight_l1_bytes += (arr.loader.counters.l1_bits_read
                                            - self.load_bits0 + 7) // 8
            elif arr.dbb:
                arr.res.weight_l1_bytes += (self.load_bits + 7) // 8
            self.end[a] = c + 1
            self.cur = -1


# ============================================================================ memories

#: priorities among same-cycle requests (lower first): DRAM, then the L2 port
_WRITE, _ACT_READ, _WEIGHT_READ = 0, 1, 2
_DRAIN, _ACT_FILL, _WEIGHT_FILL = 0, 1, 2


class PortRef:
    """A port moving bytes cycle by cycle: one transfer at a time, ``width`` bytes per cycle
    (exact); the waiting transfer with the earliest request cycle, then the lowest priority,
    then the earliest request goes next."""

    def __init__(self, width: Fraction, name: str):
        self.width, self.name = width, name
        self.queue: list = []       # (request cycle, priority, sequence, bytes, tag)
        self.seq = 0
        self.cur = None             # [bytes left, tag, grant cycle]

    def request(self, c: int, nbytes: int, priority: int, tag) -> None:
        self.queue.append((c, priority, self.seq, nbytes, tag))
        self.seq += 1

    def tick(self, c: int):
        """Account the bytes moved in cycle ``c - 1``; the finished transfer's tag, if any."""
        if self.cur is None:
            return None
        left = self.cur[0] - self.width
        if left <= 0:
            tag, grant = self.cur[1], self.cur[2]
            self.cur = None
            return tag, grant
        self.cur[0] = left
        return None

    def grant(self, c: int):
        if self.cur is None and self.queue:
            self.queue.sort()
            req, _, _, nbytes, tag = self.queue.pop(0)
            self.cur = [Fraction(nbytes), tag, c]
            return tag
        return None


@dataclass
class _Blk:
    layer: int
    first: int
    last: int
    nbytes: int
    piece: int = 0
    src: str = "l2"
    free_with: int = -1
    operand: bool = False
    last_of_layer: bool = False
    dest: str = "l2"
    st: dict = field(default_factory=dict)


class MemoryRef:
    """DRAM channel, L2 port, the L2 weight staging ring, staged inputs and the three L1
    buffers with their DMAs, for the whole network, stepped per cycle."""

    def __init__(self, hw: Hardware, act: list[_Blk], wgt: list[_Blk], out: list[_Blk],
                 n_layers: int):
        m = hw.memory
        w = Fraction(str(m.dram_bytes_per_cycle)) if isinstance(m.dram_bytes_per_cycle, float) \
            else Fraction(m.dram_bytes_per_cycle)
        self.dram = PortRef(w, "DRAM")
        self.port = PortRef(Fraction(m.l2_bytes_per_cycle), "L2")
        self.latency = m.dram_latency_cycles
        self.burst = m.dram_burst_bytes
        self.ring_cap, self.ring_used = hw.l2_stage_bytes, 0
        self.H = hw.halves
        self.act, self.wgt, self.out = act, wgt, out
        self.n_layers = n_layers
        self.events: dict[int, list] = {}
        self.a_ready = [None] * len(act)
        self.a_released = [None] * len(act)
        self.w_ready = [None] * len(wgt)
        self.w_released = [None] * len(wgt)
        self.w_in_l2 = [None] * len(wgt)
        self.o_complete = [None] * len(out)
        self.o_released = [None] * len(out)
        self.layer_done = [None] * n_layers
        #: weight block -> its last action (global index), set by the network
        self.w_last_action: dict[int, int] = {}
        self.pf = 0                 # weight fetcher: next block
        self.pf_reading: int | None = None      # its read in flight
        self.last_piece: dict[int, int] = {}
        self.reusers: list[tuple[int, int | None]] = []
        self.staged = [i for i, b in enumerate(act) if b.piece]
        self.staged_next = 0        # staged-input fetcher: next piece
        self.staged_reading: int | None = None
        self.a_dma = [0, "start"]   # act fill DMA: block, state
        self.w_dma = [0, "start"]
        self.o_dma = [0, "start"]
        self.piece_arrived: dict[int, int] = {}
        # traffic
        self.dram_read = {"act": [0] * n_layers, "weight": [0] * n_layers}
        self.dram_write = [0] * n_layers
        self.l2_read = {"act": [0] * n_layers, "weight": [0] * n_layers}
        self.l2_write = [0] * n_layers

    def schedule(self, c: int, ev) -> None:
        self.events.setdefault(c, []).append(ev)

    def _burst(self, nbytes: int) -> int:
        return -(-nbytes // self.burst) * self.burst

    # ------------------------------------------------------------------ phase A
    def complete(self, c: int) -> None:
        """Transfers that end at ``c``, DRAM arrivals, releases due at ``c``."""
        done = self.dram.tick(c)
        if done is not None:
            (kind, idx), _grant = done
            self._dram_done(c, kind, idx)
        done = self.port.tick(c)
        if done is not None:
            (kind, idx), _grant = done
            self._port_done(c, kind, idx)
        for ev in self.events.pop(c, []):
            self._event(c, ev)

    def _dram_done(self, c: int, kind: str, idx: int) -> None:
        if kind == "w_read":
            self.wgt[idx].st["dram_end"] = c
            self.schedule(c + self.latency, ("w_arrive", idx))
        elif kind == "a_piece":
            self.act[idx].st["piece_end"] = c
            self.schedule(c + self.latency, ("a_piece_arrive", idx))
        elif kind == "a_stream":
            self.act[idx].st["dram_end"] = c
            self.schedule(c + self.latency, ("a_stream_arrive", idx))
        elif kind == "o_write":
            self.out[idx].st["dram_end"] = c
            self._out_released(c, idx)
        if self.latency == 0:
            for ev in self.events.pop(c, []):
                self._event(c, ev)

    def _port_done(self, c: int, kind: str, idx: int) -> None:
        if kind == "a_fill":
            self.act[idx].st["port_end"] = c
            self.a_ready[idx] = c
            self.a_dma = [idx + 1, "start"]
        elif kind == "w_fill":
            self.wgt[idx].st["port_end"] = c
            self.w_ready[idx] = c
            self.w_dma = [idx + 1, "start"]
            for b in self.wgt:
                if b.free_with == idx and b.src == "dram" and b.piece:
                    self.ring_used -= b.piece
        elif kind == "o_drain":
            b = self.out[idx]
            b.st["port_end"] = c
            if b.dest == "dram":
                nb = self._burst(b.nbytes)
                self.dram_write[b.layer] += nb
                self.dram.request(c, nb, _WRITE, ("o_write", idx))
            else:
                self._out_released(c, idx)

    def _out_released(self, c: int, idx: int) -> None:
        self.o_released[idx] = c
        self.o_dma = [idx + 1, "start"]
        b = self.out[idx]
        if b.last_of_layer:
            self.layer_done[b.layer] = c

    def _event(self, c: int, ev) -> None:
        kind, idx = ev
        if kind == "w_arrive":
            self.wgt[idx].st["dram_arrive"] = c
            self.w_in_l2[idx] = c
        elif kind == "a_piece_arrive":
            self.act[idx].st["piece_arrive"] = c
            self.piece_arrived[idx] = c
        elif kind == "a_stream_arrive":
            self.act[idx].st["dram_arrive"] = c
        elif kind == "a_release":
            self.a_released[idx] = c
        elif kind == "w_release":
            self.w_released[idx] = c
        elif kind == "o_complete":
            self.out[idx].st["complete"] = c
            self.o_complete[idx] = c

    # ------------------------------------------------------------------ phase B
    def advance(self, c: int) -> None:
        """Every DMA and fetcher does what it can at ``c`` (until nothing changes)."""
        while self._prefetch(c) | self._staged(c) | self._act_dma(c) | self._w_dma(c) | \
                self._o_dma(c):
            pass

    def _dep(self, layer: int) -> int | None:
        """When the producer of ``layer``'s input finished writing (0: no producer)."""
        return 0 if layer == 0 else self.layer_done[layer - 1]

    def _reading(self, blocks: list[_Blk], i: int | None, key: str, c: int) -> bool:
        """A fetcher's read of block ``i`` is still on the channel at ``c`` (one in flight)."""
        if i is None:
            return False
        end = blocks[i].st.get(key)
        return end is None or end > c

    def _prefetch(self, c: int) -> bool:
        """The weight fetcher: blocks in order, one DRAM read in flight, as the staging ring
        has room."""
        moved = False
        while self.pf < len(self.wgt):
            b = self.wgt[self.pf]
            if b.operand:
                dep = self._dep(b.layer)
                if dep is None or dep > c:
                    break
            if b.src != "dram":
                self.w_in_l2[self.pf] = c
            elif b.piece:
                if self._reading(self.wgt, self.pf_reading, "dram_end", c):
                    break
                if self.ring_used + b.piece > self.ring_cap:
                    break
                self.ring_used += b.piece
                b.st["ring"] = c
                nb = self._burst(b.piece)
                self.dram_read["weight"][b.layer] += nb
                self.dram.request(c, nb, _WEIGHT_READ, ("w_read", self.pf))
                self.pf_reading = self.pf
                self.last_piece[b.layer] = self.pf
            else:
                self.reusers.append((self.pf, self.last_piece.get(b.layer)))
            self.pf += 1
            moved = True
        # blocks that reuse earlier pieces: in L2 once the layer's last piece so far arrived
        waiting = []
        for i, prev in self.reusers:
            if prev is None or (self.w_in_l2[prev] is not None and self.w_in_l2[prev] <= c):
                self.w_in_l2[i] = c
                moved = True
            else:
                waiting.append((i, prev))
        self.reusers = waiting
        return moved

    def _staged(self, c: int) -> bool:
        """The staged-input fetcher: every piece in order, one DRAM read in flight, once the
        producer's writes are done."""
        moved = False
        while self.staged_next < len(self.staged):
            i = self.staged[self.staged_next]
            b = self.act[i]
            dep = self._dep(b.layer)
            if dep is None or dep > c:
                break
            if self._reading(self.act, self.staged_reading, "piece_end", c):
                break
            nb = self._burst(b.piece)
            self.dram_read["act"][b.layer] += nb
            self.dram.request(c, nb, _ACT_READ, ("a_piece", i))
            self.staged_reading = i
            self.staged_next += 1
            moved = True
        return moved

    def _act_dma(self, c: int) -> bool:
        i, state = self.a_dma
        if i >= len(self.act):
            return False
        b = self.act[i]
        if state == "start":
            dep = self._dep(b.layer)
            if dep is None or dep > c:
                return False
            if b.piece and self.piece_arrived.get(i, c + 1) > c:
                return False
            free = self.a_released[i - self.H] if i >= self.H else 0
            if free is None or free > c:
                return False
            b.st["slot"] = c
            if b.src == "stream":
                nb = self._burst(b.nbytes)
                self.dram_read["act"][b.layer] += nb
                self.dram.request(c, nb, _ACT_READ, ("a_stream", i))
                self.a_dma[1] = "dram"
            else:
                self._fill(c, b, i, "a_fill", _ACT_FILL)
                self.a_dma[1] = "port"
            return True
        if state == "dram" and b.st.get("dram_arrive") is not None and \
                b.st["dram_arrive"] <= c:
            self._fill(c, b, i, "a_fill", _ACT_FILL)
            self.a_dma[1] = "port"
            return True
        return False

    def _fill(self, c: int, b: _Blk, i: int, kind: str, prio: int) -> None:
        which = "act" if kind == "a_fill" else "weight"
        self.l2_read[which][b.layer] += b.nbytes
        self.port.request(c, b.nbytes, prio, (kind, i))

    def _w_dma(self, c: int) -> bool:
        i, state = self.w_dma
        if i >= len(self.wgt) or state != "start":
            return False
        b = self.wgt[i]
        if self.w_in_l2[i] is None or self.w_in_l2[i] > c:
            return False
        free = self.w_released[i - self.H] if i >= self.H else 0
        if free is None or free > c:
            return False
        b.st["slot"] = c
        self._fill(c, b, i, "w_fill", _WEIGHT_FILL)
        self.w_dma[1] = "port"
        return True

    def _o_dma(self, c: int) -> bool:
        i, state = self.o_dma
        if i >= len(self.out) or state != "start":
            return False
        b = self.out[i]
        if self.o_complete[i] is None or self.o_complete[i] > c:
            return False
        self.l2_write[b.layer] += b.nbytes
        self.port.request(c, b.nbytes, _DRAIN, ("o_drain", i))
        self.o_dma[1] = "port"
        return True

    # ------------------------------------------------------------------ phase D
    def grant(self, c: int) -> None:
        for port in (self.dram, self.port):
            tag = port.grant(c)
            if tag is None:
                continue
            kind, idx = tag
            if kind in ("a_fill", "w_fill", "o_drain"):
                blk = {"a": self.act, "w": self.wgt, "o": self.out}[kind[0]][idx]
                blk.st["port_grant"] = c

    @property
    def idle(self) -> bool:
        return self.dram.cur is None and self.port.cur is None and not self.dram.queue \
            and not self.port.queue


# ============================================================================ the network

@dataclass
class NetworkReference:
    """What the reference measured for a network: per layer, and the whole run."""

    layers: list[LayerReference]
    cycles: int                    # first cycle after the last output reached its memory


def _residency(runs: list[LayerRun], hw: Hardware) -> list[tuple[bool, bool]]:
    """(input in L2, output kept in L2) per layer, by the rule of model-reference §4: a layer's
    output stays on chip when its own input + output and the next layer's both fit the L2
    activation share."""
    if hw.memory.ideal:
        return [(False, False)] * len(runs)
    bits = hw.data.act_bits
    share = int(hw.memory.l2_act_fraction * hw.memory.l2_bytes)
    fits = [r.layer.input_bytes(bits) + r.layer.output_bytes(bits) <= share for r in runs]
    keep = [fits[i] and i + 1 < len(runs) and fits[i + 1] for i in range(len(runs))]
    return [(i > 0 and keep[i - 1], keep[i]) for i in range(len(runs))]


class NetworkRef:
    """The layers of a network, end to end on one array, stepped cycle by cycle."""

    def __init__(self, runs: list[LayerRun], hw: Hardware, max_cycles: int,
                 residency: list[tuple[bool, bool]] | None = None):
        """``residency``: per layer (input in L2, output kept in L2), as the graph's tensor
        lifetimes decide (:mod:`ewssim.engine.reference_graph`); default: the chain rule."""
        self.runs, self.hw, self.max_cycles = runs, hw, max_cycles
        self.ideal = hw.memory.ideal
        self.plans: list[rp.RefPlan] = []
        self.act: list[_Blk] = []
        self.wgt: list[_Blk] = []
        self.out: list[_Blk] = []
        self.actions: list = []                   # (layer, weight action, weight block)
        self.act_of: list[list[int]] = []        # per layer: global act block of each tile
        self.out_of: list[list[int]] = []        # per layer: global out block of each tile
        self.out_first: list[set[int]] = []      # per layer: tiles that open an out block
        self.acts_of_tile: list[dict[int, list[int]]] = []
        if residency is None:
            residency = _residency(runs, hw)
        for li, run in enumerate(runs):
            plan = rp.plan_tiles(run.layer, run.lhw, run.chunk, taps=run.taps,
                                 line_cycles=run.line_cycles, load_latency=run.load_latency)
            if run.tamper is not None:
                run.tamper(plan)
            self.plans.append(plan)
            self._layer_blocks(li, run, plan, *residency[li])
        self.mem = None if self.ideal else MemoryRef(hw, self.act, self.wgt, self.out,
                                                     len(runs))
        if self.mem is not None:
            for g, (_, _, wb) in enumerate(self.actions):
                self.mem.w_last_action[wb] = g
        self.arrays: dict[int, ArrayRef] = {}
        for li, run in enumerate(runs):
            loader = run.loader
            cl = run.w if isinstance(run.w, CompressedLayer) else None
            if loader is None and cl is not None and not cl.format.int8 and not cl.format.dbb:
                loader = _default_loader(cl, run.lhw)
            self.arrays[li] = ArrayRef(run, self.plans[li], loader)
        self.wp = WeightPathRef(self.actions, self.mem, self)
        self.cur = 0                 # the layer at the array
        self.finish: list[int | None] = [None] * len(runs)
        self.out_pending = [0] * len(runs)   # per layer: next out block to complete (local)
        self.out_blocks_of = [[i for i, b in enumerate(self.out) if b.layer == li]
                              for li in range(len(runs))]
        self.idle: list[tuple[int, str]] = []     # (cycle, cause) of every idle array cycle

    def _layer_blocks(self, li: int, run: LayerRun, plan: rp.RefPlan, in_l2: bool,
                      out_l2: bool) -> None:
        """Layer ``li``'s weight actions and its activation, weight and output blocks (global
        indices), from its own tile plan and where its tensors live."""
        act, wgt, out, actions = self.act, self.wgt, self.out, self.actions
        n = len(plan.tiles)
        ra = rp.weight_actions(plan, run.header_bytes)
        if self.ideal:     # ideal memory: codebooks are in the CRF from the start
            ra = [a for a in ra if a.kind == "load"]
        a0 = len(actions)
        acts_of: dict[int, list[int]] = {}
        for x, a in enumerate(ra):
            acts_of.setdefault(a.tile, []).append(a0 + x)
        self.acts_of_tile.append(acts_of)
        if self.ideal:
            actions += [(li, a, 0) for a in ra]
            self.act_of.append([-1] * n)
            self.out_of.append([-1] * n)
            self.out_first.append(set())
            return
        # activation blocks: in L2, staged through L2 in pieces, or streamed from DRAM
        ablocks, spans = rp.act_blocks(plan)
        lay = run.layer
        share = int(self.hw.memory.l2_act_fraction * self.hw.memory.l2_bytes)
        bits = self.hw.data.act_bits
        if in_l2:
            src = "l2"
        elif lay.input_bytes(bits) + (lay.output_bytes(bits) if out_l2 else 0) <= share:
            src = "staged"
            rp.stage_pieces(plan, ablocks, spans)
        else:
            src = "stream"
        tiles_act = [-1] * n
        for b in ablocks:
            for k in range(b.first, b.last + 1):
                tiles_act[k] = len(act)
            act.append(_Blk(li, b.first, b.last, b.nbytes, piece=b.piece if src == "staged"
                            else 0, src=src))
        self.act_of.append(tiles_act)
        # weight blocks
        wblocks = rp.weight_blocks(plan, ra)
        w0 = len(wgt)
        operand = lay.operand_from_previous      # waits for the previous layer's writes
        wsrc = "l2" if operand and in_l2 else "dram"
        owner = [0] * len(ra)
        for j, b in enumerate(wblocks):
            for x in range(b.first, b.last + 1):
                owner[x] = w0 + j
            wgt.append(_Blk(li, b.first, b.last, b.nbytes, piece=b.piece, src=wsrc,
                            free_with=w0 + b.free_with, operand=operand))
        actions += [(li, a, owner[x]) for x, a in enumerate(ra)]
        # output blocks
        oblocks = rp.out_blocks(plan, run.psums_in_prf)
        tiles_out = [-1] * n
        firsts = set()
        for j, b in enumerate(oblocks):
            firsts.add(b.first)
            for k in range(b.first, b.last + 1):
                tiles_out[k] = len(out)
            out.append(_Blk(li, b.first, b.last, b.nbytes, dest="l2" if out_l2 else "dram",
                            last_of_layer=j == len(oblocks) - 1))
        self.out_of.append(tiles_out)
        self.out_first.append(firsts)

    # ------------------------------------------------------------------ gates
    def barrier(self, li: int) -> int | float:
        """The first cycle layer ``li`` may use the array: the previous layer's last result is
        out."""
        if li == 0:
            return 0
        f = self.finish[li - 1]
        return math.inf if f is None else f

    def _may_start(self, li: int, k: int, c: int) -> bool:
        arr = self.arrays[li]
        tile = arr.plan.tiles[k]
        if c < self.barrier(li):
            return False
        if tile.load and not (0 <= arr.load_end[k] < c):
            return False
        if self.mem is None:
            return True
        ab = self.act_of[li][k]
        r = self.mem.a_ready[ab]
        if r is None or r > c:
            return False
        if k in self.out_first[li]:
            ob = self.out_of[li][k]
            if ob >= self.mem.H:
                f = self.mem.o_released[ob - self.mem.H]
                if f is None or f > c:
                    return False
        return True

    # ------------------------------------------------------------------ the clock
    def run(self) -> NetworkReference:
        n_layers = len(self.runs)
        mem = self.mem
        c = 0
        while True:
            if c > self.max_cycles:
                raise ReferenceSimError(f"no end after {self.max_cycles} cycles")
            if mem is not None:
                mem.complete(c)
            if self._done():
                break
            if mem is not None:
                mem.advance(c)
            self._array(c)
            self.wp.step(c)
            self._after(c)
            if mem is not None:
                mem.grant(c)
            self._classify(c)
            c += 1
        total = c
        ends = [int(f) for f in self.finish]
        ends[-1] = max(ends[-1], total)
        out = []
        prev = 0
        for li in range(n_layers):
            arr = self.arrays[li]
            res = arr.res
            res.finish = int(self.finish[li])
            res.cycles = ends[li] - prev
            if self.ideal:      # SCALE-Sim's cycle index starts each layer early
                res.cycles += self.plans[li].extra_cycles
            res.starts = arr.starts.copy()
            res.load_starts = arr.load_start.copy()
            res.output = self._output(arr)
            if arr.loader is not None and not arr.dbb:
                res.loader = _counter_delta(arr.loader.counters, arr.counters0)
                res.crf_reads = arr.loader.crf.counters.reads - arr.crf0
            stalls = {k: 0 for k in CAUSES}
            for cyc, why in self.idle:
                if prev <= cyc < ends[li]:
                    stalls[why] += 1
            res.stalls = stalls
            res.stall_cycles = sum(stalls.values())
            if mem is not None:
                res.dram_act_read_bytes = mem.dram_read["act"][li]
                res.dram_weight_read_bytes = mem.dram_read["weight"][li]
                res.dram_out_write_bytes = mem.dram_write[li]
                res.l2_act_read_bytes = mem.l2_read["act"][li]
                res.l2_weight_read_bytes = mem.l2_read["weight"][li]
                res.l2_out_write_bytes = mem.l2_write[li]
            out.append(res)
            prev = ends[li]
        return NetworkReference(layers=out, cycles=total)

    def _done(self) -> bool:
        if any(f is None for f in self.finish):
            return False
        if self.mem is None:
            return True
        return all(r is not None for r in self.mem.o_released)

    def _array(self, c: int) -> None:
        li = self.cur
        if self.finish[li] is not None and li + 1 < len(self.runs):
            self.cur = li = li + 1
        arr = self.arrays[li]
        arr.feed(c, lambda k, cc: self._may_start(li, k, cc))
        arr.edge()
        arr.pes(c)

    def _after(self, c: int) -> None:
        """What the array did at ``c`` tells the memories: activation blocks read, output
        blocks complete, the layer finished."""
        li = self.cur
        arr = self.arrays[li]
        mem = self.mem
        if mem is not None:
            for k, when in list(arr.act_release_at.items()):
                ab = self.act_of[li][k]
                if self.act[ab].last == k:
                    mem.schedule(when, ("a_release", ab))
                del arr.act_release_at[k]
            blocks = self.out_blocks_of[li]
            while self.out_pending[li] < len(blocks):
                ob = blocks[self.out_pending[li]]
                last = self.out[ob].last
                if not np.all(arr.ends[:last + 1] >= 0):
                    break
                mem.schedule(int(arr.ends[:last + 1].max()) + 1, ("o_complete", ob))
                self.out_pending[li] += 1
        else:
            arr.act_release_at.clear()
        if self.finish[li] is None and arr.all_done:
            self.finish[li] = int(arr.ends.max()) + 1

    def _output(self, arr: ArrayRef) -> np.ndarray:
        return arr.view.output_from_pixels(arr.out)

    # ------------------------------------------------------------------ stall causes
    def _classify(self, c: int) -> None:
        """Why the array's left edge is idle at ``c`` (model-reference §4, "Stall causes")."""
        li = self.cur
        arr = self.arrays[li]
        if arr.feeding:
            return
        if arr.next_tile >= arr.n:
            if li + 1 < len(self.runs):
                li, arr = li + 1, self.arrays[li + 1]
            else:
                self._tail(c)
                return
        if c < self.barrier(li):
            return                                  # the previous layer's results drain
        k = arr.next_tile
        why = self._tile_cause(li, k, c)
        if why is not None:
            self.idle.append((c, why))

    def _tail(self, c: int) -> None:
        li = len(self.runs) - 1
        if self.finish[li] is None or c < self.finish[li] or self.mem is None:
            return
        for ob in self.out_blocks_of[li]:
            r = self.mem.o_released[ob]
            if r is None or r > c:
                why = self._drain_cause(ob, c)
                if why is not None:
                    self.idle.append((c, why))
                return

    def _tile_cause(self, li: int, k: int, c: int) -> str | None:
        wp = self.wp
        for a in self.acts_of_tile[li].get(k, []):
            if 0 <= wp.end[a] <= c:
                continue
            _, act, wb = self.actions[a]
            if 0 <= wp.start[a] <= c:
                return "loader_crf" if act.kind == "crf" else None
            if act.kind == "load" and not wp._gate_ok(a, c):
                return None
            if not wp.in_l1(wb, c):
                return self._weight_cause(wb, c)
            return None
        mem = self.mem
        if mem is None:
            return None
        ab = self.act_of[li][k]
        r = mem.a_ready[ab]
        if r is None or r > c:
            return self._act_cause(ab, c)
        if k in self.out_first[li]:
            ob = self.out_of[li][k]
            if ob >= mem.H:
                f = mem.o_released[ob - mem.H]
                if f is None or f > c:
                    return self._drain_cause(ob - mem.H, c)
        return None

    @staticmethod
    def _before(c: int, when) -> bool:
        """``c`` lies before an event that happens at ``when`` (``None``: not yet)."""
        return when is None or c < when

    def _dep_done(self, li: int):
        return 0 if li == 0 else self.mem.layer_done[li - 1]

    def _weight_cause(self, wb: int, c: int) -> str:
        b, mem, before = self.wgt[wb], self.mem, self._before
        st = b.st
        if b.operand and before(c, self._dep_done(b.layer)):
            return "dependency"
        if before(c, mem.w_in_l2[wb]):
            if b.src == "dram" and b.piece:
                if before(c, st.get("ring")) or before(c, st.get("dram_end")):
                    return "dram_bandwidth"
                return "dram_latency"
            return "dram_bandwidth"
        if before(c, st.get("slot")):
            return "l1_fill"
        if before(c, st.get("port_grant")):
            return "l2_port"
        return "l1_fill"

    def _act_cause(self, ab: int, c: int) -> str:
        b, before = self.act[ab], self._before
        st = b.st
        if before(c, self._dep_done(b.layer)):
            return "dependency"
        if b.piece and before(c, st.get("piece_arrive")):
            return "dram_bandwidth" if before(c, st.get("piece_end")) else "dram_latency"
        if before(c, st.get("slot")):
            return "l1_fill"
        if b.src == "stream":
            if before(c, st.get("dram_end")):
                return "dram_bandwidth"
            if before(c, st.get("dram_arrive")):
                return "dram_latency"
        if before(c, st.get("port_grant")):
            return "l2_port"
        return "l1_fill"

    def _drain_cause(self, ob: int, c: int) -> str | None:
        st, before = self.out[ob].st, self._before
        if before(c, st.get("complete")):
            return None
        if before(c, st.get("port_end")):
            return "l2_port"
        return "dram_bandwidth"


def _counter_delta(after: LoaderCounters, before: LoaderCounters) -> LoaderCounters:
    return LoaderCounters(**{k: getattr(after, k) - getattr(before, k)
                             for k in before.__dataclass_fields__})


def _default_loader(cl: CompressedLayer, lhw: LayerHardware) -> WeightLoader:
    hw = lhw.hw
    return WeightLoader.for_layer(cl, line_length=lhw.logical_rows, ports=hw.crf_ports or None,
                                  crf_groups=cl.format.codebook_groups,
                                  crf_latency=hw.crf_latency,
                                  lzc_stage_cycles=hw.lzc_stage_cycles,
                                  sign_latency=hw.sign_latency)


def simulate_network(runs: list[LayerRun], hw: Hardware, *,
                     max_cycles: int = 2_000_000) -> NetworkReference:
    """Run the layers of ``runs`` end to end on ``hw``, cycle by cycle."""
    if not runs:
        raise ReferenceSimError("no layers")
    return NetworkRef(runs, hw, max_cycles).run()


def simulate(run: LayerRun, hw: Hardware | None = None, *,
             max_cycles: int = 2_000_000) -> LayerReference:
    """One layer alone (its input from DRAM, its output to DRAM; ``hw``: default
    ``run.lhw.hw``)."""
    return simulate_network([run], hw or run.lhw.hw, max_cycles=max_cycles).layers[0]
