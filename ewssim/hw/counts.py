"""The counters a layer or operator produces: bytes per memory level and event counts
(:class:`Traffic`).  The dataflow's traffic model fills them for a mapping
(:mod:`ewssim.dataflow.traffic`), the vector unit for an operator (:mod:`ewssim.hw.vector`),
and energy prices them (:mod:`ewssim.energy`)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields


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
