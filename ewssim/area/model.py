"""Area (and leakage power) of an accelerator: the sum of its components (spec §6).

Blocks and what they hold (docs/model-reference.md §7 states every rule and its reason):

* ``array`` -- per physical PE (``Hardware.physical_pes``): an ``weight_bits x act_bits``
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
* ``vector`` -- the vector unit: per lane a 32-bit adder, an 8x8 multiplier and two 32-bit
  registers (``vector.lanes``).
* ``l1`` -- one SRAM macro per L1 buffer (activations, weights, outputs), CACTI area by size
  (plus the PRFs when ``prf_in_array`` is false).
* ``l2`` -- ``l2_banks`` macros of ``l2_bytes / l2_banks``.

Multiplexers are built of 2:1 muxes: an ``n:1`` mux is ``n - 1`` of them per bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ewssim.hw.hardware import Hardware
from ewssim.tech import TechTable
from ewssim.tech import load as load_tech

BLOCKS = ("array", "loader", "crf", "vector", "l1", "l2")


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


def area(hw: Hardware, tech: TechTable | str | None = None) -> AreaReport:
    """Area and leakage of ``hw``: the components of each block (module docstring)."""
    t = load_tech(tech)
    rep = AreaReport(arch=hw.name, tech=t.name)
    _array(rep, hw, t)
    if hw.loader == "codebook":
        _loader_crf(rep, hw, t)
    _vector(rep, hw, t)
    _sram(rep, hw, t)
    rep.notes["acc_bits"] = hw.acc_bits
    return rep


def _adder(rep: AreaReport, t: TechTable):
    def add(block: str, name: str, count: float, area_each: float, leak_each: float) -> None:
        if count:
            rep.components.append(Component(block, name, count, area_each, leak_each))
    return add


def _array(rep: AreaReport, hw: Hardware, t: TechTable) -> None:
    """Per physical PE: multiplier, accumulator, psum register, WRF (+ positions) and its read
    mux, ARF per selectable channel with its tap mux, the M:1 activation mux of a spatial sparse
    PE, the activation pipeline register; per column the PRF (with PRF reuse)."""
    add = _adder(rep, t)
    reg_a, reg_l = t["reg_bit_area"], t["reg_bit_leakage"]
    mux_a, mux_l = t["mux2_bit_area"], t["mux2_bit_leakage"]
    d = hw.data
    pes = hw.physical_pes
    acc = hw.acc_bits
    wbits = d.weight_bits + hw.wrf_pos_bits
    chans = hw.act_channels
    act_bits = d.act_bits + hw.act_pos_bits
    # a PE holds only what its dataflow uses: ARF windows with ARF reuse, a PRF with PRF reuse
    arf_depth = hw.arf_depth if hw.arf_reuse else 0
    prf_depth = hw.prf_depth if hw.prf_reuse else 0
    add("array", "multiplier", pes, t.mult("area", d.weight_bits, d.act_bits),
        t.mult("leakage", d.weight_bits, d.act_bits))
    add("array", "accumulator adder", pes, t.adder("area", acc), t.adder("leakage", acc))
    add("array", "psum pipeline register", pes * acc, reg_a, reg_l)
    add("array", "WRF", pes * hw.wrf_depth * wbits, reg_a, reg_l)
    add("array", "WRF read mux", pes * (hw.wrf_depth - 1) * wbits, mux_a, mux_l)
    add("array", "ARF", pes * arf_depth * d.act_bits * chans, reg_a, reg_l)
    add("array", "ARF tap mux", pes * chans * max(0, arf_depth - 1) * d.act_bits, mux_a, mux_l)
    if hw.mux_fan_in:
        add("array", "M:1 activation mux",
            pes * (hw.mux_fan_in - 1) * d.act_bits, mux_a, mux_l)
    if hw.act_pipe_reg:
        add("array", "activation pipeline register", pes * chans * act_bits, reg_a, reg_l)
    if prf_depth:
        prf_block = "array" if hw.prf_in_array else "l1"
        add(prf_block, "PRF", hw.cols * prf_depth * d.psum_bits, reg_a, reg_l)
        add(prf_block, "PRF read mux", hw.cols * (prf_depth - 1) * d.psum_bits, mux_a, mux_l)
        add(prf_block, "PRF accumulate adder", hw.cols, t.adder("area", d.psum_bits),
            t.adder("leakage", d.psum_bits))


def _loader_crf(rep: AreaReport, hw: Hardware, t: TechTable) -> None:
    """Codebook weight path: LZC cascades (bitmap masks), the line register, SSVQ negators;
    the CRF's storage (``weights.crf_groups`` codebooks, default all of a layer's) and read
    ports."""
    add = _adder(rep, t)
    reg_a, reg_l = t["reg_bit_area"], t["reg_bit_leakage"]
    mux_a, mux_l = t["mux2_bit_area"], t["mux2_bit_leakage"]
    f, d = hw.weight_format, hw.data
    n, m = f.nm
    lr = hw.logical_rows
    subs = math.ceil(lr / f.d)
    q = f.kept_per_subvector
    if f.pruned and f.mask_encoding == "bitmap":
        add("loader", f"{m}-bit LZC", (lr // m) * n, t.lzc("area", m), t.lzc("leakage", m))
    pos = math.ceil(math.log2(m)) if f.pruned else 0
    add("loader", "line register", subs * q * (d.weight_bits + pos), reg_a, reg_l)
    if f.signs:
        add("loader", "sign negator", subs * q, t.adder("area", d.weight_bits),
            t.adder("leakage", d.weight_bits))
    # the CRF holds weights.crf_groups codebooks (0: all of a layer's groups)
    entries = f.k * (hw.crf_groups or f.codebook_groups)
    ports = hw.crf_ports
    add("crf", "CRF storage", entries * f.d * 8, reg_a, reg_l)
    add("crf", "CRF read ports", ports * (entries - 1) * f.d * 8, mux_a, mux_l)
    rep.notes["crf_port_factor"] = 1 + ports * (entries - 1) * mux_a / (entries * reg_a)
    rep.notes["crf_ports"] = ports


def _vector(rep: AreaReport, hw: Hardware, t: TechTable) -> None:
    """The vector unit: per lane a 32-bit adder, an 8x8 multiplier and two 32-bit registers
    (operand and accumulator) -- modelled, as its energy per lane operation."""
    add = _adder(rep, t)
    lanes = hw.vector.lanes
    add("vector", "lane adder (32-bit)", lanes, t.adder("area", 32), t.adder("leakage", 32))
    add("vector", "lane multiplier (8x8)", lanes, t.mult("area", 8, 8), t.mult("leakage", 8, 8))
    add("vector", "lane registers", lanes * 2 * 32, t["reg_bit_area"], t["reg_bit_leakage"])


def _sram(rep: AreaReport, hw: Hardware, t: TechTable) -> None:
    """One SRAM macro per L1 buffer; ``l2_banks`` macros of ``l2_bytes / l2_banks``."""
    add = _adder(rep, t)
    mem = hw.memory
    for name, size in (("L1 activation buffer", mem.l1_act_bytes),
                       ("L1 weight buffer", mem.l1_weight_bytes),
                       ("L1 output buffer", mem.l1_out_bytes)):
        add("l1", name, 1, t.sram_area(size), t.sram_leakage(size))
    bank = mem.l2_bytes / mem.l2_banks
    add("l2", "L2 bank", mem.l2_banks, t.sram_area(bank), t.sram_leakage(bank))
