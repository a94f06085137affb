"""The systolic array: cycles of a tile schedule, closed form inside each tile.

Geometry: ``rows`` (L) PEs along the reduction axis, ``cols`` (H) along the output axis.  An
activation for stream slot ``s`` enters row ``i`` at the left edge at ``base + s + i`` and moves
one column per cycle, so PE ``(i, j)`` works on slot ``s`` at cycle ``base + s + i + j``.  With
``taps`` cycles per pixel, PE ``(i, j)`` spends cycles ``base + q*taps + i + j + [0, taps)`` on
pixel ``q`` and adds the partial sum arriving from the PE above in the last of those cycles; the
result for pixel ``q`` leaves the bottom of column ``j`` at the end of cycle
``base + q*taps + (L - 1) + j + taps - 1``.

A tile of ``P`` pixels therefore occupies the left edge for ``P * taps`` cycles (its *stream*)
and its last result leaves ``L + D - 2`` cycles after the stream ends, ``D`` being the columns
its last wave must cross (``drain_cols``).  Back-to-back tiles pipeline: each PE switches to the
next tile's weights when the next tile's first slot reaches it.

Weight loads (docs/model-reference.md, "Array timing"):

* with WRF double buffering, the loader (one load at a time, in tile order) may write tile
  ``i``'s weights once the slot it overwrites is released: when tile ``release[i]`` has started
  in the bottom row, i.e. at ``base[release[i]] + L - 1``;
* without it, a load starts only when every earlier tile has drained out of the array;
* a tile starts streaming when its weights are all loaded and the previous tile's stream ended.

``schedule_times`` returns every tile's start (``base``), and ``schedule_cycles`` the layer's
cycle count: the end of the last result plus ``extra_cycles``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class TileSchedule:
    """Structure of arrays, one entry per array tile, in execution order.

    A tile keeps one set of weights stationary in the array while output pixels ``p0:p1`` stream
    through it, ``taps`` cycles per pixel.  Groups ``g0:g1`` are packed block-diagonally: packed
    group ``j`` puts its reduction units ``u0:u1`` on rows ``j*(u1-u0)...`` and its output
    channels ``n0:n1`` on columns ``j*(n1-n0)...`` (one group per tile unless a whole group
    fits in the array, see :mod:`ewssim.dataflow.tiling`).

    ``drain_cols[i]`` is how many columns the last wave of tile ``i`` must cross to leave the
    array (the used columns for ewssim's own dataflows; the full width for SCALE-Sim parity).
    ``load_cycles[i]`` is the time the weight path needs to put tile ``i``'s weights into the
    PEs (0 when they are already resident in the WRF).  ``release[i]`` names the tile whose
    start frees the WRF bank that tile ``i`` loads into (-1: a bank is free from the start).
    """

    g0: np.ndarray
    g1: np.ndarray
    n0: np.ndarray
    n1: np.ndarray
    u0: np.ndarray
    u1: np.ndarray
    p0: np.ndarray
    p1: np.ndarray
    load_cycles: np.ndarray
    release: np.ndarray
    drain_cols: np.ndarray
    taps: int
    rows: int
    cols: int
    double_buffer: bool
    pack: int = 1
    #: reduction units per tile (the logical rows); differs from ``rows`` (the physical PEs a
    #: partial sum crosses) only on the sparsity-aware array
    logical_rows: int = 0
    #: cycles per (pixel, tap) slot: 1, or NNZ_a for time-unrolled activation blocks (S2TA-AW)
    slot_cycles: int = 1
    #: cycles added once per layer (used by the SCALE-Sim parity plug-in; 0 otherwise)
    extra_cycles: int = 0
    #: reduction unit -> (channel-in-group, kernel row, first kernel column) lookup, shape (U, 3)
    units: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 3), np.int64))

    def __len__(self) -> int:
        return int(self.n0.shape[0])

    @property
    def stream_cycles(self) -> np.ndarray:
        return (self.p1 - self.p0) * self.taps * self.slot_cycles

    @property
    def used_cols(self) -> np.ndarray:
        return (self.g1 - self.g0) * (self.n1 - self.n0)

    @property
    def used_rows(self) -> np.ndarray:
        return (self.g1 - self.g0) * (self.u1 - self.u0)


def schedule_times(s: TileSchedule) -> tuple[np.ndarray, int]:
    """(start cycle of every tile, total cycles) for ideal memory."""
    L = s.rows
    stream = s.stream_cycles.tolist()
    load = s.load_cycles.tolist()
    release = s.release.tolist()
    drain = s.drain_cols.tolist()
    n = len(stream)
    base = [0] * n
    loader_free = 0   # when the weight path can begin the next load
    prev_end = 0      # when the left edge is free (previous tile's stream ended)
    finish = 0        # end of the last result so far (exclusive)
    db = s.double_buffer
    for i in range(n):
        ready = 0
        if load[i]:
            if db:
                r = release[i]
                free = base[r] + L - 1 if r >= 0 else 0
            else:
                free = finish
            start = loader_free if loader_free > free else free
            ready = start + load[i]
            loader_free = ready
        b = prev_end if prev_end > ready else ready
        base[i] = b
        prev_end = b + stream[i]
        end = prev_end + L + drain[i] - 2
        if end > finish:
            finish = end
    return np.asarray(base, dtype=np.int64), finish + s.extra_cycles


def schedule_cycles(s: TileSchedule) -> int:
    return schedule_times(s)[1]
