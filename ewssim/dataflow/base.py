"""The dataflow plug-in interface.

A dataflow is one object that

* **validates** an architecture: every rule it has, in one place, with one-line errors
  (:meth:`Dataflow.validate`, registered as a cross-field rule of every configuration);
* **resolves** it into the hardware it implies (:meth:`Dataflow.resolve` ->
  :class:`~ewssim.hw.hardware.Hardware`), which timing, traffic, energy, area and the reference
  read -- nothing outside ``ewssim/dataflow`` tests a dataflow's name;
* **plans** a layer: the candidate mappings (loop order, pixel chunks, where psums live) as
  :class:`Mapping` values -- the tile schedule the array runs and the operand traffic it
  causes.  The engine ranks the candidates (:mod:`ewssim.engine.sim`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields

from ewssim.config import ArchConfig
from ewssim.hw.array import TileSchedule
from ewssim.hw.hardware import Hardware, LayerHardware
from ewssim.workload.layers import Layer


def _count(unit: str, doc: str):
    return field(default=0, metadata={"unit": unit, "doc": doc})


@dataclass
class Traffic:
    """Operand traffic and actions of one layer: bytes per memory level and event counts.

    Every counter is a plain int so totals add exactly; each carries its unit (``B``, or the
    thing counted) in its metadata, which the run table and docs/user-guide.md use.
    """

    # DRAM <-> L2
    dram_act_read_bytes: int = _count("B", "input activations read from DRAM")
    dram_weight_read_bytes: int = _count("B", "weights (as stored) read from DRAM")
    dram_out_write_bytes: int = _count("B", "outputs written to DRAM")
    # L2 <-> L1
    l2_act_read_bytes: int = _count("B", "activations read from L2 into the L1 act buffer")
    l2_weight_read_bytes: int = _count("B", "weights read from L2 into the L1 weight buffer")
    l2_psum_read_bytes: int = _count("B", "spilled partial sums read back from L2")
    l2_out_write_bytes: int = _count("B", "outputs (and spilled psums) written to L2")
    # L1 <-> array
    l1_act_read_bytes: int = _count("B", "activations read by the array's left edge")
    l1_weight_read_bytes: int = _count("B", "weights read by the weight loader")
    l1_psum_read_bytes: int = _count("B", "partial sums read back by the array")
    l1_out_write_bytes: int = _count("B", "partial sums and outputs written by the array")
    # weight path activity and work
    int8_weight_bytes: int = _count("B", "the layer's weights at INT8 (reference)")
    crf_reads: int = _count("codeword lookups", "CRF reads, one d-byte codeword each")
    crf_reload_bytes: int = _count("B", "bytes written into the CRF (codebooks)")
    lzc_decodes: int = _count("LZC evaluations", "M-bit leading-zero-counter evaluations")
    executed_macs: int = _count("MACs", "multiply-accumulates the array performed")
    # array actions (element counts, for energy)
    wrf_writes: int = _count("WRF entries", "weight register entries written")
    wrf_reads: int = _count("WRF entries", "weight register entries read")
    arf_writes: int = _count("ARF entries", "activation register entries written")
    arf_reads: int = _count("ARF entries", "activation register entries read")
    act_hops: int = _count("activation hops", "activations latched by a PE's pipeline "
                                              "register")
    psum_hops: int = _count("psum hops", "partial sums passed down one PE")
    prf_accesses: int = _count("PRF accumulates", "read-add-write of a PRF entry")
    mux_selects: int = _count("mux selects", "M:1 activation mux selections")
    # the vector unit (operators the array does not run)
    l2_vector_read_bytes: int = _count("B", "operands the vector unit read from L2")
    l2_vector_write_bytes: int = _count("B", "results the vector unit wrote to L2")
    vector_ops: int = _count("lane ops", "vector-unit lane operations (elements x cycles "
                                         "per element)")

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


#: every counter of :class:`Traffic`, in declaration order (the run table's columns)
TRAFFIC_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Traffic))
#: the unit of every counter
TRAFFIC_UNITS: dict[str, str] = {f.name: f.metadata["unit"] for f in fields(Traffic)}


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
    """One way to run a layer: the tile schedule, its traffic, and how it was chosen."""

    layer: Layer
    schedule: TileSchedule
    traffic: Traffic
    #: the layer's weight format on the hardware
    lhw: LayerHardware | None = None
    #: partial sums stay in the PRF across reduction folds (chunked order)
    psums_in_prf: bool = False
    #: short name of the candidate ("stream", "prf16", "l1-block128", ...)
    name: str = "stream"
    #: output pixels per tile (``None``: the whole stream)
    chunk: int | None = None
    #: the L1 blocks (:mod:`ewssim.dataflow.blocks`); None with ideal memory
    blocks: object = None
    #: free-form, human-readable notes (e.g. "depthwise: one column used per group")
    notes: list[str] = field(default_factory=list)


class Dataflow(ABC):
    """One dataflow.  Implementations are registered in :data:`DATAFLOWS` by ``kind``."""

    kind: str = ""

    @abstractmethod
    def validate(self, arch: ArchConfig) -> None:
        """Raise :class:`~ewssim.errors.InputError` (one line, naming the field and the
        allowed values) if ``arch`` breaks a rule of this dataflow."""

    @abstractmethod
    def resolve(self, arch: ArchConfig) -> Hardware:
        """The hardware ``arch`` implies (``arch`` already validated)."""

    @abstractmethod
    def candidates(self, layer: Layer, lhw: LayerHardware, weight_bytes: int,
                   ctx: LayerContext = OFF_CHIP, codebook_bytes: int = 0, *,
                   lazy: bool = False) -> list[Mapping]:
        """Every mapping of ``layer`` this dataflow would consider, in a fixed order
        (``lazy``: without their L1 blocks, see :func:`ewssim.dataflow.blocks.attach_blocks`)."""
