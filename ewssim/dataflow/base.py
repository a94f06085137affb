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
from dataclasses import dataclass, field

from ewssim.config import ArchConfig
from ewssim.hw.array import TileSchedule
from ewssim.hw.counts import TRAFFIC_FIELDS, TRAFFIC_UNITS, Traffic  # noqa: F401 (re-exported)
from ewssim.hw.hardware import Hardware, LayerHardware
from ewssim.workload.layers import Layer


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
    #: the L2 shares over which the engine's choice of this mapping holds (every candidate
    #: it built and ran; :class:`~ewssim.hw.l2.L2Span`); None: not chosen by the engine
    l2_span: object = field(default=None, compare=False)


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
                   lazy: bool = False, schedules: dict | None = None) -> list[Mapping]:
        """Every mapping of ``layer`` this dataflow would consider, in a fixed order
        (``lazy``: without their L1 blocks, see :func:`ewssim.dataflow.blocks.attach_blocks`;
        ``schedules``: a cache of tile schedules that the caller keeps for one hardware
        apart from its L2 size)."""
