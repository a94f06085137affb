"""Area (and leakage power) of an accelerator: the sum of its components (spec §6).

Blocks and what they hold (docs/model-reference.md §7 states every rule and its calibration):

* ``array`` -- per physical PE (``ArchConfig.physical_pes``): an ``weight_bits x act_bits``
  multiplier; an accumulator adder and a psum pipeline register of ``acc`` bits; a WRF of
  ``wrf_depth`` entries of ``weight_bits + pos_bits`` (``pos_bits = log2 M`` on the
  sparsity-aware array: the in-group position of the kept weight) with its ``wrf_depth:1`` read
  mux; an ARF of ``arf_depth`` activations for each of the ``A`` activations the PE can select
  (``A = M`` on the sparse array, 1 otherwise: the kept weight of each tap may sit at any of
  the ``M`` positions, so the sliding window must hold all ``M`` channels of the group) with an
  ``arf_depth:1`` tap mux per channel and, sparse, the ``M:1`` activation mux; optionally a
  separate activation pipeline register per forwarded activation (``array.act_pipe_reg``).
  Per output column, when ``array.prf_in_array``: the PRF (``prf_depth x psum_bits`` register
  bits, a ``prf_depth:1`` read mux, a ``psum_bits`` accumulate adder).
* ``loader`` (codebook formats only) -- the cascaded LZCs (``L/M`` cascades of ``N`` ``M``-bit
  LZCs for bitmap masks, ``L`` = logical reduction rows), the line register between loader and
  array (``L/d`` sub-vectors of ``Q`` values and positions), SSVQ's conditional negators
  (one 8-bit adder per emitted value of a line).
* ``crf`` -- ``E = k * codebook_groups`` entries of ``d*8`` bits (the CRF holds all of a layer's
  codebook groups) and ``P`` read ports, each an ``E:1`` mux of ``d*8`` bits built from
  ``(E-1)`` 2:1 muxes per bit: ``area = bits * reg_bit_area * port_factor`` with
  ``port_factor = 1 + P*(E-1)*mux2_bit_area / (E*reg_bit_area)``.
* ``l1`` -- one SRAM macro per L1 buffer (activations, weights, outputs), CACTI area by size
  (plus the PRFs when ``prf_in_array`` is false).
* ``l2`` -- ``l2_banks`` macros of ``l2_bytes / l2_banks``.

Multiplexers are built of 2:1 muxes: an ``n:1`` mux is ``n - 1`` of them per bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ewssim.config import ArchConfig
from ewssim.tech import TechTable
from ewssim.tech import load as load_tech

BLOCKS = ("array", "loader", "crf", "l1", "l2")


@dataclass(frozen=True)
class Component:
    block: str
    name: str
    count: float
    area_um2: float  # each
    leakage_uW: float  # each

    @property
    def total_um2(self) -> float:
        return self.count * self.area_um2

    @property
    def total_uW(self) -> float:
        return self.count * self.leakage_uW


@dataclass
class AreaReport:
    arch: str
    tech: str
    components: list[Component] = field(default_factory=list)
    notes: dict[str, float] = field(default_factory=dict)

    @property
    def blocks(self) -> dict[str, float]:
        """mm2 per block."""
        out = dict.fromkeys(BLOCKS, 0.0)
        for c in self.components:
            out[c.block] += c.total_um2 / 1e6
        return out

    @property
    def total_mm2(self) -> float:
        return sum(self.blocks.values())

    @property
    def leakage_uW(self) -> float:
        return sum(c.total_uW for c in self.components)

    def as_json(self) -> dict:
        return {"total_mm2": self.total_mm2, "blocks": self.blocks}


def acc_bits(arch: ArchConfig) -> int:
    """In-array accumulator / psum pipeline width: ``array.acc_bits``, or (0) exact for one
    pass down a column: product bits + ``ceil(log2(physical rows * arf_depth))``."""
    a = arch.array
    if a.acc_bits:
        return a.acc_bits
    rows = arch.physical_pes // a.cols
    taps = max(1, a.arf_depth)
    return arch.data.weight_bits + arch.data.act_bits + math.ceil(math.log2(rows * taps))


def pos_bits(arch: ArchConfig) -> int:
    if not arch.array.sparse:
        return 0
    return math.ceil(math.log2(arch.weights.n_m[1]))


def logical_rows(arch: ArchConfig) -> int:
    a = arch.array
    if a.sparse and a.sparse_use == "throughput":
        n, m = arch.weights.n_m
        return a.rows * m // n
    return a.rows


def crf_ports(arch: ArchConfig) -> int:
    w = arch.weights
    return w.crf_ports or math.ceil(logical_rows(arch) / w.d)


def area(arch: ArchConfig, tech: TechTable | str | None = None) -> AreaReport:
    t = load_tech(tech)
    a, d, w = arch.array, arch.data, arch.weights
    rep = AreaReport(arch=arch.name, tech=t.name)
    reg_a, reg_l = t["reg_bit_area"], t["reg_bit_leakage"]
    mux_a, mux_l = t["mux2_bit_area"], t["mux2_bit_leakage"]

    def add(block: str, name: str, count: float, area_each: float, leak_each: float) -> None:
        if count:
            rep.components.append(Component(block, name, count, area_each, leak_each))

    def regs(block: str, name: str, bits: float) -> None:
        add(block, name, bits, reg_a, reg_l)

    def muxes(block: str, name: str, mux2s: float) -> None:
        add(block, name, mux2s, mux_a, mux_l)

    # ---------------------------------------------------------------- array
    pes = arch.physical_pes
    time_unrolled = arch.activations.dbb  # S2TA-AW: one activation (value + position) a cycle
    sparse = a.sparse and not time_unrolled  # spatial N:M: M activation lanes, an M:1 mux
    n, m = w.n_m
    acc = acc_bits(arch)
    wbits = d.weight_bits + pos_bits(arch)
    chans = m if sparse else 1
    act_bits = d.act_bits + ((arch.activations.block - 1).bit_length() if time_unrolled else 0)
    # a PE holds only what its dataflow uses: ARF windows with ARF reuse, a PRF with PRF reuse
    arf_depth = a.arf_depth if arch.dataflow.arf_reuse else 0
    prf_depth = a.prf_depth if arch.dataflow.prf_reuse else 0
    add("array", "multiplier", pes, t.mult("area", d.weight_bits, d.act_bits),
        t.mult("leakage", d.weight_bits, d.act_bits))
    add("array", "accumulator adder", pes, t.adder("area", acc), t.adder("leakage", acc))
    regs("array", "psum pipeline register", pes * acc)
    regs("array", "WRF", pes * a.wrf_depth * wbits)
    muxes("array", "WRF read mux", pes * (a.wrf_depth - 1) * wbits)
    regs("array", "ARF", pes * arf_depth * d.act_bits * chans)
    muxes("array", "ARF tap mux", pes * chans * max(0, arf_depth - 1) * d.act_bits)
    if sparse:
        muxes("array", "M:1 activation mux", pes * (m - 1) * d.act_bits)
    if a.act_pipe_reg:
        regs("array", "activation pipeline register", pes * chans * act_bits)
    if prf_depth:
        prf_block = "array" if a.prf_in_array else "l1"
        regs(prf_block, "PRF", a.cols * prf_depth * d.psum_bits)
        muxes(prf_block, "PRF read mux", a.cols * (prf_depth - 1) * d.psum_bits)
        add(prf_block, "PRF accumulate adder", a.cols, t.adder("area", d.psum_bits),
            t.adder("leakage", d.psum_bits))

    # ---------------------------------------------------------------- loader + CRF
    if w.codebook:
        lr = logical_rows(arch)
        subs = math.ceil(lr / w.d)
        q = w.d * n // m if n < m else w.d
        if n < m and w.mask_encoding == "bitmap":
            add("loader", f"{m}-bit LZC", (lr // m) * n, t.lzc("area", m), t.lzc("leakage", m))
        pos = math.ceil(math.log2(m)) if n < m else 0
        regs("loader", "line register", subs * q * (d.weight_bits + pos))
        if w.format == "ssvq":
            add("loader", "sign negator", subs * q, t.adder("area", d.weight_bits),
                t.adder("leakage", d.weight_bits))
        entries = w.k * w.codebook_groups  # the CRF holds all of a layer's codebook groups
        ports = crf_ports(arch)
        regs("crf", "CRF storage", entries * w.d * 8)
        muxes("crf", "CRF read ports", ports * (entries - 1) * w.d * 8)
        rep.notes["crf_port_factor"] = 1 + ports * (entries - 1) * mux_a / (entries * reg_a)
        rep.notes["crf_ports"] = ports

    # ---------------------------------------------------------------- SRAM
    mem = arch.memory
    for name, size in (("L1 activation buffer", mem.l1_act_bytes),
                       ("L1 weight buffer", mem.l1_weight_bytes),
                       ("L1 output buffer", mem.l1_out_bytes)):
        add("l1", name, 1, t.sram_area(size), t.sram_leakage(size))
    bank = mem.l2_bytes / mem.l2_banks
    add("l2", "L2 bank", mem.l2_banks, t.sram_area(bank), t.sram_leakage(bank))
    rep.notes["acc_bits"] = acc
    return rep
