"""The dataflow plug-in interface.

A dataflow turns one layer and one architecture into a :class:`Mapping`: the ordered list of
array tiles (which weights sit in the array, which output pixels stream through it, how many
cycles each takes, whether its weights must be loaded first) and the operand traffic it causes.
The tile schedule is the array's work description (:class:`ewssim.hw.array.TileSchedule`); the
array model turns it into cycles and the event engine (:mod:`ewssim.engine.sim`) adds the memory
hierarchy.  A mapper may call the array's cost model to choose between candidate mappings.
WS, EWS, SCALE-Sim WS (and later MVQ and S2TA-style) are implementations of
:class:`Dataflow`; nothing else in the simulator branches on the dataflow's name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from ewssim.compress.plan import LayerFormat
from ewssim.config import ArchConfig
from ewssim.hw.array import TileSchedule
from ewssim.workload.layers import Layer


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
    # weight path activity (codebook formats) and work
    crf_reads: int = 0
    crf_reload_bytes: int = 0
    lzc_decodes: int = 0
    executed_macs: int = 0
    int8_weight_bytes: int = 0
    # array actions (element counts, for energy)
    wrf_writes: int = 0
    wrf_reads: int = 0
    arf_writes: int = 0
    arf_reads: int = 0
    act_hops: int = 0
    psum_hops: int = 0
    prf_accesses: int = 0
    mux_selects: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class LayerContext:
    """What the engine knows of a layer from the whole network:
    ``input_on_chip`` -- its input is the previous layer's output, kept in L2;
    ``output_on_chip`` -- its output stays in L2 for the next layer (not written to DRAM);
    ``act_density`` -- the fraction of its input activations that are non-zero."""

    input_on_chip: bool = False
    output_on_chip: bool = False
    act_density: float = 1.0


#: a layer whose input comes from and whose output goes to DRAM
OFF_CHIP = LayerContext()


@dataclass
class Mapping:
    """What a dataflow decided for one layer."""

    layer: Layer
    schedule: TileSchedule
    traffic: Traffic
    #: partial sums stay in the PRF across reduction folds (chunked order)
    psums_in_prf: bool = False
    #: free-form, human-readable notes (e.g. "depthwise: one column used per group")
    notes: list[str] = field(default_factory=list)


class Dataflow(ABC):
    """One dataflow.  Implementations are registered in :data:`DATAFLOWS` by ``kind``."""

    kind: str = ""

    @abstractmethod
    def plan(self, layer: Layer, arch: ArchConfig, fmt: LayerFormat | None = None,
             ctx: LayerContext = OFF_CHIP) -> Mapping:
        """Tile schedule and traffic for ``layer`` on ``arch``; ``fmt`` is the layer's weight
        format (``None``: dense INT8); ``ctx`` where its activations live."""

