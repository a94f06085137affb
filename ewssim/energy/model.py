"""Energy of a layer: action counts from the engine x energy per action + leakage x time.

The counts are the engine's (:class:`ewssim.dataflow.base.Traffic`, the row of
:func:`ewssim.api.simulate`); nothing here re-derives them.  Each count column is priced by one
or more :class:`Action`\\ s (a byte moved from L2 to L1 is an L2 read *and* an L1 write), each
with a non-negative cost from the technology table, so energy is monotone in every count.

Costs (docs/model-reference.md §7; ``ab``/``wb`` activation/weight bits, ``acc`` the in-array
psum width of :func:`ewssim.area.acc_bits`, ``pos`` = log2 M position bits on the sparse array):

* ``mac``: executed MAC = ``wb x ab`` multiply + ``acc``-bit add;
* ``rf``: WRF read/write ``(wb + pos) x reg_bit``; ARF read/write ``ab x reg_bit``; PRF
  access (one accumulate) = read + write of ``psum_bits`` + a ``psum_bits`` add;
* ``hop``: activation hop ``ab x reg_bit``; psum hop ``acc x reg_bit``;
* ``mux``: ``M:1`` select = ``(M - 1) x ab`` 2:1-mux bit selects (the activations at its inputs
  shift every cycle, so every 2:1 mux of the tree switches);
* ``lzc``: one ``M``-bit LZC evaluation = ``M/32`` of a 32-bit LZC;
* ``crf``: read = ``d*8`` bits x (``reg_bit`` + ``log2 k`` 2:1-mux bit selects: only the
  selected path of the ``k:1`` read mux switches, the stored entries are static), per port (no
  port factor in energy); reload = ``8 x reg_bit`` per byte written;
* ``l1`` / ``l2``: per access of ``memory.l1_access_bits`` / one L2 bank width, CACTI energy of
  the buffer's (bank's) size; accesses = bits / access width (layer totals, not rounded per
  transfer).  Every byte that moves between two levels is a read at one and a write at the
  other: L2 -> L1 fills are L2 reads and L1 writes, L1 -> L2 output drains L1 reads and L2
  writes, DRAM -> L2 fetches L2 writes, L2 -> DRAM write-backs L2 reads;
* ``dram``: bits x pJ/bit of ``memory.dram_type``;
* ``leak``: leakage power of the whole accelerator (:mod:`ewssim.area`) x ``total_cycles`` /
  clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from ewssim.area import area as _area
from ewssim.errors import EwssimError
from ewssim.hw.hardware import Hardware
from ewssim.tech import TechTable
from ewssim.tech import load as load_tech

COMPONENTS = ("mac", "rf", "hop", "mux", "lzc", "crf", "vector", "l1", "l2", "dram", "leak")
#: components by memory level: off-chip DRAM, L2, L1, the register files next to the
#: arithmetic (WRF/ARF/PRF in the PEs and the CRF in the loader: "L0"), the logic itself
#: (MACs, inter-PE hops, muxes, LZCs) and leakage.  Run outputs carry one
#: ``energy_level_<level>_pJ`` column per level; reports plot this grouping.
LEVELS = {"dram": ("dram",), "l2": ("l2",), "l1": ("l1",), "l0": ("rf", "crf"),
          "logic": ("mac", "hop", "mux", "lzc", "vector"), "leakage": ("leak",)}
LEVEL_LABELS = {"dram": "DRAM", "l2": "L2", "l1": "L1", "l0": "register files (RF, CRF)",
                "logic": "logic (MAC, hops, mux, LZC, vector unit)", "leakage": "leakage"}
LEVEL_COLUMNS = [f"energy_level_{lv}_pJ" for lv in LEVELS]
ENERGY_COLUMNS = ["energy_pJ", *(f"energy_{c}_pJ" for c in COMPONENTS), *LEVEL_COLUMNS]
EFFICIENCY_COLUMNS = ["tops_per_w_dense", "tops_per_w_executed"]


@dataclass(frozen=True)
class Action:
    count: str        # engine count column it prices
    component: str    # one of COMPONENTS
    pJ: float         # per unit of the count
    what: str


def actions(hw: Hardware, tech: TechTable | str | None = None) -> list[Action]:
    """Every priced action of ``hw`` (leakage excluded)."""
    t = load_tech(tech)
    d, w, mem = hw.data, hw.weight_format, hw.memory
    reg, mux2 = t["reg_bit_energy"], t["mux2_bit_energy"]
    ab, wb = d.act_bits, d.weight_bits
    acc = hw.acc_bits
    m = w.nm[1]
    fan = hw.mux_fan_in
    pos = hw.wrf_pos_bits
    mac = t.mult("energy", wb, ab) + t.adder("energy", acc)
    prf = 2 * d.psum_bits * reg + t.adder("energy", d.psum_bits)
    out = [
        Action("executed_macs", "mac", mac, f"{wb}x{ab} multiply + {acc}-bit add"),
        Action("wrf_reads", "rf", (wb + pos) * reg, "WRF read"),
        Action("wrf_writes", "rf", (wb + pos) * reg, "WRF write"),
        Action("arf_reads", "rf", ab * reg, "ARF read"),
        Action("arf_writes", "rf", ab * reg, "ARF write"),
        Action("prf_accesses", "rf", prf, f"PRF accumulate ({d.psum_bits}-bit read+add+write)"),
        Action("act_hops", "hop", ab * reg, "activation pipeline register"),
        Action("psum_hops", "hop", acc * reg, f"{acc}-bit psum pipeline register"),
        Action("mux_selects", "mux", max(fan - 1, 0) * ab * mux2, f"{fan}:1 activation mux"),
        Action("lzc_decodes", "lzc", t.lzc("energy", m), f"{m}-bit LZC evaluation"),
        Action("crf_reads", "crf", w.d * 8 * (reg + math.log2(max(w.k, 1)) * mux2),
               f"{w.d}-byte CRF read (k={w.k})"),
        Action("crf_reload_bytes", "crf", 8 * reg, "CRF write per byte"),
        Action("vector_ops", "vector", vector_lane_op(t),
               "vector lane op: 32-bit add + 8x8 multiply + 32-bit register read and write"),
    ]
    # SRAM: per byte = 8 / access width x energy per access
    l1w = mem.l1_access_bits
    buf = {"act": mem.l1_act_bytes, "weight": mem.l1_weight_bytes, "out": mem.l1_out_bytes}

    def l1(kind: str, which: str) -> float:
        return 8 / l1w * t.sram_energy(kind, buf[which], l1w)

    bank = mem.l2_bytes / mem.l2_banks
    l2w = mem.l2_bank_width_bytes * 8

    def l2(kind: str) -> float:
        return 8 / l2w * t.sram_energy(kind, bank, l2w)

    dram = 8 * t.dram_pj_per_bit(mem.dram_type)
    out += [
        Action("l1_act_read_bytes", "l1", l1("read", "act"), "L1 act read (to array)"),
        Action("l1_weight_read_bytes", "l1", l1("read", "weight"), "L1 weight read (to array)"),
        Action("l1_psum_read_bytes", "l1", l1("read", "out"), "L1 psum read (to array)"),
        Action("l1_out_write_bytes", "l1", l1("write", "out"), "L1 out write (from array)"),
        Action("l2_act_read_bytes", "l1", l1("write", "act"), "L1 act fill"),
        Action("l2_weight_read_bytes", "l1", l1("write", "weight"), "L1 weight fill"),
        Action("l2_psum_read_bytes", "l1", l1("write", "out"), "L1 psum refill"),
        Action("l2_out_write_bytes", "l1", l1("read", "out"), "L1 out drain"),
        Action("l2_act_read_bytes", "l2", l2("read"), "L2 act read"),
        Action("l2_weight_read_bytes", "l2", l2("read"), "L2 weight read"),
        Action("l2_psum_read_bytes", "l2", l2("read"), "L2 psum read"),
        Action("l2_out_write_bytes", "l2", l2("write"), "L2 out write"),
        Action("l2_vector_read_bytes", "l2", l2("read"), "L2 read by the vector unit"),
        Action("l2_vector_write_bytes", "l2", l2("write"), "L2 write by the vector unit"),
        Action("dram_act_read_bytes", "l2", l2("write"), "L2 act fill from DRAM"),
        Action("dram_weight_read_bytes", "l2", l2("write"), "L2 weight fill from DRAM"),
        Action("dram_out_write_bytes", "l2", l2("read"), "L2 read for DRAM write-back"),
        Action("dram_act_read_bytes", "dram", dram, "DRAM act read"),
        Action("dram_weight_read_bytes", "dram", dram, "DRAM weight read"),
        Action("dram_out_write_bytes", "dram", dram, "DRAM out write"),
    ]
    return out


def vector_lane_op(t: TechTable) -> float:
    """pJ of one vector-unit lane operation: a 32-bit add, an 8x8 multiply and a 32-bit
    register read and write (every lane cycle is charged the whole lane: modelled)."""
    return t.adder("energy", 32) + t.mult("energy", 8, 8) + 2 * 32 * t["reg_bit_energy"]


class EnergyModel:
    """Prices of ``hw`` under ``tech``, computed once and applied to every layer."""

    def __init__(self, hw: Hardware, tech: TechTable | str | None = None):
        self.hw = hw
        self.tech = load_tech(tech)
        self.actions = actions(hw, self.tech)
        self.area = _area(hw, self.tech)
        self.leakage_uW = self.area.leakage_uW

    def energy(self, counts: Mapping[str, float], cycles: float) -> dict[str, float]:
        """``energy_pJ`` and ``energy_<component>_pJ`` of one layer (or a sum of layers)."""
        e = dict.fromkeys(COMPONENTS, 0.0)
        for a in self.actions:
            if a.count not in counts:
                raise EwssimError(f"energy: no count {a.count!r} to price ({a.what})")
            e[a.component] += float(counts[a.count]) * a.pJ
        # uW x us = pJ
        e["leak"] = self.leakage_uW * float(cycles) / self.hw.clock_mhz
        out = {"energy_pJ": sum(e.values())}
        out.update({f"energy_{c}_pJ": v for c, v in e.items()})
        out.update({f"energy_level_{lv}_pJ": sum(e[c] for c in comps)
                    for lv, comps in LEVELS.items()})
        return out

    def efficiency(self, macs: float, executed_macs: float, energy_pJ: float,
                   cycles: float) -> dict[str, float]:
        """TOPS/W = (ops / time) / (energy / time), ops = 2 x MACs: ``dense`` counts the
        layer's dense-equivalent MACs, ``executed`` the MACs the array performed."""
        seconds = float(cycles) / (self.hw.clock_mhz * 1e6)
        if energy_pJ <= 0 or seconds <= 0:
            return dict.fromkeys(EFFICIENCY_COLUMNS, 0.0)
        watts = energy_pJ * 1e-12 / seconds
        return {"tops_per_w_dense": 2 * macs / seconds / 1e12 / watts,
                "tops_per_w_executed": 2 * executed_macs / seconds / 1e12 / watts}


def levels(row: Mapping[str, float]) -> dict[str, float]:
    """The components of a row grouped into levels (array, loader, l1, l2, dram, leakage)."""
    return {lv: sum(float(row[f"energy_{c}_pJ"]) for c in comps) for lv, comps in LEVELS.items()}
