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
    from ewssim.dataflow.traffic import array_traffic, buffer_traffic

    hw = resolve(arch)
    ctx = ctx or OFF_CHIP
    lhw = hw.layer(fmt.format if fmt else None, ctx.act_density)
    s = tiling.build_schedule(layer, lhw, chunk)
    t = array_traffic(s, layer, lhw, psums_in_prf=psums_in_prf)
    wb = lhw.weight_bytes(layer, fmt.total_bytes if fmt else None)
    notes = buffer_traffic(t, s, layer, lhw, weight_bytes=wb, chunked=chunk is not None,
                           psums_in_prf=psums_in_prf, ctx=ctx)
    return Mapping(layer=layer, schedule=s, traffic=t, lhw=lhw, psums_in_prf=psums_in_prf,
                   name=f"forced{chunk}", notes=notes)
