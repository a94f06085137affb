"""The dataflow plug-in interface.

A dataflow turns one layer and one architecture into a :class:`Mapping`: the ordered list of
array tiles (which weights sit in the array, which output pixels stream through it, how many
cycles each takes, whether its weights must be loaded first) and the operand traffic it causes.
Timing is *not* computed here: :mod:`ewssim.hw.array` turns a tile schedule into cycles, and the
event engine (:mod:`ewssim.engine.sim`) adds the memory hierarchy.  WS, EWS, SCALE-Sim WS (and
later MVQ and S2TA-style) are implementations of :class:`Dataflow`; nothing else in the
simulator branches on the dataflow's name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from ewssim.config import ArchConfig
from ewssim.workload.layers import Layer


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
    #: cycles added once per layer (used by the SCALE-Sim parity plug-in; 0 otherwise)
    extra_cycles: int = 0
    #: reduction unit -> (channel-in-group, kernel row, first kernel column) lookup, shape (U, 3)
    units: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 3), np.int64))

    def __len__(self) -> int:
        return int(self.n0.shape[0])

    @property
    def stream_cycles(self) -> np.ndarray:
        return (self.p1 - self.p0) * self.taps

    @property
    def used_cols(self) -> np.ndarray:
        return (self.g1 - self.g0) * (self.n1 - self.n0)

    @property
    def used_rows(self) -> np.ndarray:
        return (self.g1 - self.g0) * (self.u1 - self.u0)


@dataclass
class Traffic:
    """Operand traffic of one layer, in bytes per level and access counts.

    ``*_bytes`` are data volumes; ``*_accesses`` are element-level accesses used for energy
    later.  Every counter is a plain int so totals add exactly.
    """

    # L1 <-> array
    l1_act_read_bytes: int = 0
    l1_weight_read_bytes: int = 0
    l1_psum_read_bytes: int = 0
    l1_out_write_bytes: int = 0
    # L2 <-> L1
    l2_act_read_bytes: int = 0
    l2_weight_read_bytes: int = 0
    l2_out_write_bytes: int = 0
    l2_psum_read_bytes: int = 0
    # DRAM <-> L2
    dram_act_read_bytes: int = 0
    dram_weight_read_bytes: int = 0
    dram_out_write_bytes: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Mapping:
    """What a dataflow decided for one layer."""

    layer: Layer
    schedule: TileSchedule
    traffic: Traffic
    #: free-form, human-readable notes (e.g. "depthwise: one column used per group")
    notes: list[str] = field(default_factory=list)


class Dataflow(ABC):
    """One dataflow.  Implementations are registered in :data:`DATAFLOWS` by ``kind``."""

    kind: str = ""

    @abstractmethod
    def plan(self, layer: Layer, arch: ArchConfig) -> Mapping:
        """Tile schedule and traffic for ``layer`` on ``arch``."""

