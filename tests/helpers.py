"""Test helpers: tile schedules with explicit parameters (hand-made hardware), and the mapping
of one layer on an architecture."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from ewssim.dataflow import tiling
from ewssim.engine.sim import plan  # noqa: F401  (re-exported for the tests)


@dataclass(frozen=True)
class _LayerHW:
    """What :func:`ewssim.dataflow.tiling.build_schedule` reads of a LayerHardware, set by
    hand (any line time, latency or load mode)."""

    hw: SimpleNamespace
    logical_rows: int
    pe_rows: int
    taps_: int
    double_buffer: bool
    line_cycles_: object
    load_latency: int
    slot_cycles: int = 1
    entries_per_set: int | None = None

    def taps(self, layer) -> int:
        return self.taps_

    def line_cycles(self):
        return self.line_cycles_


def build_schedule(layer, *, rows: int, cols: int, taps: int = 1, chunk: int | None = None,
                   wrf_depth: int, double_buffer: bool, line_cycles=1, load_latency: int = 0,
                   load_mode: str = "lines", drain_full_width: bool = False,
                   allow_pack: bool = True, logical_rows: int | None = None,
                   slot_cycles: int = 1, entries_per_set: int | None = None):
    """A schedule with every parameter given explicitly."""
    hw = SimpleNamespace(cols=cols, wrf_depth=wrf_depth, load_mode=load_mode,
                         drain_full_width=drain_full_width, allow_pack=allow_pack,
                         scalesim_layer_offset=False)
    lhw = _LayerHW(hw=hw, logical_rows=logical_rows or rows, pe_rows=rows, taps_=taps,
                   double_buffer=double_buffer, line_cycles_=line_cycles,
                   load_latency=load_latency, slot_cycles=slot_cycles,
                   entries_per_set=entries_per_set)
    return tiling.build_schedule(layer, lhw, chunk)


def forced_mapping(layer, arch, fmt=None, ctx=None, chunk: int | None = None,
                   psums_in_prf: bool = False):
    """The mapping of ``layer`` with the pixel chunk forced (``None``: the whole stream)."""
    from ewssim.dataflow import OFF_CHIP, Mapping, resolve
    from ewssim.dataflow.blocks import layer_blocks
    from ewssim.dataflow.traffic import array_traffic, block_traffic, ideal_traffic

    hw = resolve(arch)
    ctx = ctx or OFF_CHIP
    lhw = hw.layer(fmt.format if fmt else None, ctx.act_density)
    s = tiling.build_schedule(layer, lhw, chunk)
    t = array_traffic(s, layer, lhw, psums_in_prf=psums_in_prf)
    blocks = None
    if hw.memory.ideal:
        ideal_traffic(t, layer, lhw, lhw.weight_bytes(layer, fmt.total_bytes if fmt else None))
    else:
        blocks = layer_blocks(s, layer, lhw, ctx, psums_in_prf=psums_in_prf,
                              header_bytes=fmt.codebook_bytes if fmt else 0)
        block_traffic(t, blocks, lhw)
    return Mapping(layer=layer, schedule=s, traffic=t, lhw=lhw, psums_in_prf=psums_in_prf,
                   name=f"forced{chunk}", chunk=chunk, blocks=blocks)


# ----------------------------------------------------------------------------- the reference

def ideal(arch):
    """``arch`` with ideal memory: compute alone, as the closed form times it."""
    return arch.replace("memory.ideal", True)


def hand_hw(rows: int, cols: int, *, wrf: int, db: bool, mode: str = "lines",
            full_width: bool = False, allow_pack: bool = True):
    """Resolved hardware set by hand (ideal memory): any WRF, load mode and drain."""
    import dataclasses

    from ewssim.config import preset
    from ewssim.dataflow import resolve

    hw = resolve(ideal(preset("ws").replace({"array.rows": max(rows, 1),
                                             "array.cols": max(cols, 1)})))
    return dataclasses.replace(hw, rows=rows, cols=cols, pe_rows=rows, wrf_depth=wrf,
                               wrf_double_buffer=db, load_mode=mode,
                               drain_full_width=full_width, allow_pack=allow_pack)


def reference(layer, lhw, x, w, *, chunk=None, psums_in_prf=False, hw=None, max_cycles=2_000_000,
              **kw):
    """The cycle-by-cycle reference on one layer (``hw``: default ``lhw.hw``; ``kw``: the
    other :class:`~ewssim.engine.reference.LayerRun` fields)."""
    from ewssim.engine.reference import LayerRun, simulate

    return simulate(LayerRun(layer, lhw, chunk, psums_in_prf, x, w, **kw), hw or lhw.hw,
                    max_cycles=max_cycles)


def reference_of(mapping, arch, x, w, **kw):
    """The reference on ``mapping``'s choice, with ideal memory (compute alone)."""
    from ewssim.dataflow import resolve

    return reference(mapping.layer, mapping.lhw, x, w, chunk=mapping.chunk,
                     psums_in_prf=mapping.psums_in_prf, hw=resolve(ideal(arch)), **kw)
