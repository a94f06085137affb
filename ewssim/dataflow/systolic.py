"""Weight-stationary family on a systolic array: the part WS, EWS, MVQ, S2TA-style and
SCALE-Sim WS share.

A plug-in of this family declares what its hardware has -- which weight formats its weight path
decodes, whether it has the EWS mechanisms (WRF double buffering, ARF reuse, PRF reuse), a
sparsity-aware array, activation density-bound blocks, SCALE-Sim's load and drain conventions
-- and this class turns that into :meth:`validate`, :meth:`resolve` and :meth:`candidates`;
tiling and traffic are the shared machinery of :mod:`ewssim.dataflow.tiling` and
:mod:`ewssim.dataflow.traffic`.
"""

from __future__ import annotations

from dataclasses import fields, replace

from ewssim.config import ArchConfig
from ewssim.dataflow.base import OFF_CHIP, Dataflow, LayerContext, Mapping
from ewssim.dataflow.blocks import MappingInvalid, act_bytes, attach_blocks
from ewssim.dataflow.tiling import block_groups, build_schedule, stream_pixels
from ewssim.dataflow.traffic import array_traffic, ideal_traffic
from ewssim.errors import InputError
from ewssim.hw.hardware import Hardware, LayerHardware, ceil_div
from ewssim.workload.layers import Layer


class SystolicDataflow(Dataflow):
    """Base of WS-like dataflows; subclasses set the class attributes."""

    #: weight formats the weight path decodes
    weight_formats: tuple[str, ...] = ("int8",)
    #: the EWS mechanisms exist (their switches in [dataflow] apply); otherwise all off
    ews_mechanisms = False
    #: a sparsity-aware array can be configured (array.sparse)
    sparse_array = False
    #: activation density-bound blocks on time-unrolled tensor PEs (activations.dbb)
    activation_dbb = False
    #: the field an unsupported weight format is blamed on: the dataflow (the format needs
    #: another weight path) or, for a plug-in built around one format family, the format
    format_error_field = "dataflow.kind"
    #: SCALE-Sim conventions: weights shift in from the top, the last wave crosses all columns,
    #: no group packing, SCALE-Sim's cycle index per layer (-1 per SCALE-Sim layer)
    scalesim = False

    # ------------------------------------------------------------------ validate
    def validate(self, arch: ArchConfig) -> None:
        w, a = arch.weights, arch.array
        f = w.weight_format  # raises on a bad N:M, k, d, encoding
        if w.format not in self.weight_formats:
            raise InputError(f"the {self.kind} dataflow's weight path decodes "
                             f"{', '.join(self.weight_formats)} weights, not {w.format}",
                             field=self.format_error_field,
                             allowed=f"weights.format = {', '.join(self.weight_formats)}"
                             + _other_kinds(w.format))
        if arch.activations.dbb and not self.activation_dbb:
            raise InputError("activation DBB needs the S2TA array", field="activations.dbb",
                             allowed=f"false{_other_kinds('activations.dbb')}")
        if a.sparse:
            if not self.sparse_array:
                raise InputError(f"the {self.kind} dataflow has no sparsity-aware array",
                                 field="array.sparse",
                                 allowed=f"false{_other_kinds('array.sparse')}")
            if not (f.pruned and (f.dbb or f.method in ("mvq", "casec"))):
                raise InputError("the sparsity-aware array needs N:M-pruned weights",
                                 field="array.sparse", allowed="false, or weights.format = "
                                 "mvq/casec/dbb with N < M")
            n, m = f.nm
            phys = a.rows * n // m if a.sparse_use == "area" else a.rows
            logical = a.rows * (m if a.sparse_use == "throughput" else n) // n
            if a.rows % m or phys * m // n != logical:
                raise InputError(f"array.rows = {a.rows} cannot be built from groups of {m} "
                                 "logical PEs", field="array.rows",
                                 allowed=f"a multiple of M = {m}")
        if f.codebook and a.rows % f.d:
            raise InputError(f"array.rows = {a.rows} is not a multiple of d = {f.d}: "
                             "sub-vectors would straddle tiles", field="array.rows",
                             allowed=f"a multiple of {f.d}")
        self._check_tile_fits(arch)

    def _check_tile_fits(self, arch: ArchConfig) -> None:
        """One full tile's weights (every logical row and column, one tap) must fit a slot of
        the L1 weight buffer: the weight path reads a tile's load from one L1 block."""
        m = arch.memory
        if m.ideal:
            return
        hw = self.resolve(arch)
        f = hw.weight_format
        weights = hw.logical_rows * hw.cols
        if f.int8:
            need = -(-weights * arch.data.weight_bits // 8)
        else:
            need = -(-weights // f.d) * f.subvector_bits
            need = -(-need // 8)
        halves = 2 if m.l1_double_buffer else 1
        if m.l1_weight_bytes // halves < need:
            raise InputError(f"{m.l1_weight_bytes} B cannot hold one {hw.logical_rows}x"
                             f"{hw.cols} (logical) weight tile of {need} B"
                             + (" per half" if halves == 2 else ""),
                             field="memory.l1_weight_bytes", allowed=f">= {halves * need} B")

    # ------------------------------------------------------------------ resolve
    def resolve(self, arch: ArchConfig) -> Hardware:
        a, w, df, act = arch.array, arch.weights, arch.dataflow, arch.activations
        f = w.weight_format
        n, m = f.nm
        pe_rows = a.rows * n // m if a.sparse and a.sparse_use == "area" else a.rows
        time_unrolled = self.activation_dbb and act.dbb
        loader = "codebook" if f.codebook else "dbb" if f.dbb else "int8"
        ews = self.ews_mechanisms
        hw = Hardware(
            name=arch.name, dataflow=self.kind, clock_mhz=arch.clock_mhz,
            rows=a.rows, cols=a.cols, pe_rows=pe_rows,
            wrf_depth=a.wrf_depth, arf_depth=a.arf_depth, prf_depth=a.prf_depth,
            wrf_double_buffer=ews and df.wrf_double_buffer, arf_reuse=ews and df.arf_reuse,
            prf_reuse=ews and df.prf_reuse, zero_gating=a.zero_gating,
            sparse=a.sparse, sparse_use=a.sparse_use,
            mux_fan_in=m if a.sparse and not time_unrolled else 0,
            time_unrolled=time_unrolled, act_block=act.block, act_nnz=act.nnz,
            weight_format=f, loader=loader, crf_ports=0, crf_latency=w.crf_latency_cycles,
            lzc_stage_cycles=w.lzc_stage_cycles, sign_latency=w.sign_latency_cycles,
            load_mode="rows" if self.scalesim else "lines",
            drain_full_width=self.scalesim, allow_pack=not self.scalesim,
            scalesim_layer_offset=self.scalesim,
            crf_groups=w.crf_groups, crf_write_bytes_per_cycle=w.crf_write_bytes_per_cycle,
            memory=arch.memory, data=arch.data, vector=arch.vector, act_profile=act.profile,
            scalesim=arch.scalesim if self.scalesim else None,
            acc_bits_cfg=a.acc_bits, act_pipe_reg=a.act_pipe_reg, prf_in_array=a.prf_in_array,
        )
        if f.codebook:
            hw = replace(hw, crf_ports=w.crf_ports or ceil_div(hw.logical_rows, f.d))
        return hw

    # ------------------------------------------------------------------ plan
    def chunks(self, layer: Layer, lhw: LayerHardware) -> list[tuple[str, int | None, bool]]:
        """Candidate pixel chunkings as (name, pixels per tile or ``None`` for all, psums in
        PRF?): the PRF chunk (with PRF reuse), the whole stream, and the largest chunk whose
        input and partial sums fit half of the L1 activation and output buffers."""
        hw = lhw.hw
        out: list[tuple[str, int | None, bool]] = []
        if hw.prf_reuse:
            out.append((f"prf{hw.prf_depth}", hw.prf_depth, True))
        out.append(("stream", None, False))
        if not hw.memory.ideal:
            block = l1_chunk(layer, lhw)
            if 0 < block < stream_pixels(layer):
                out.append((f"l1-block{block}", block, False))
        return out

    def candidates(self, layer: Layer, lhw: LayerHardware, weight_bytes: int,
                   ctx: LayerContext = OFF_CHIP, codebook_bytes: int = 0, *,
                   lazy: bool = False, schedules: dict | None = None
                   ) -> list[Mapping | MappingInvalid]:
        """``lazy``: leave the L1 blocks to :func:`~ewssim.dataflow.blocks.attach_blocks`
        (the engine builds them only for the candidates it runs).  ``schedules``: tile
        schedules built before on this hardware apart from its L2 size (a schedule depends
        on neither the L2 nor where the layer's activations live), added to as they are
        built."""
        out: list[Mapping | MappingInvalid] = []
        built = schedules if schedules is not None else {}
        whole = stream_pixels(layer)
        for name, chunk, in_prf in self.chunks(layer, lhw):
            # a chunk that holds the whole stream tiles it as the stream does (the same
            # schedule, built once)
            key = _schedule_key(layer, lhw, None if chunk is None or chunk >= whole else chunk)
            s = built.get(key)
            if s is None:
                s = built[key] = build_schedule(layer, lhw, chunk)
            traffic = array_traffic(s, layer, lhw, psums_in_prf=in_prf)
            notes = [f"{s.pack} groups packed per tile"] if s.pack > 1 else []
            m = Mapping(layer=layer, schedule=s, traffic=traffic, lhw=lhw, psums_in_prf=in_prf,
                        name=name, chunk=chunk, notes=notes)
            if lhw.hw.memory.ideal:
                ideal_traffic(traffic, layer, lhw, weight_bytes)
            elif not lazy:
                try:
                    attach_blocks(m, ctx, codebook_bytes)
                except MappingInvalid as exc:
                    out.append(MappingInvalid(f"{name}: {exc}"))
                    continue
            out.append(m)
        return out


def _schedule_key(layer: Layer, lhw: LayerHardware, chunk: int | None) -> tuple:
    """What :func:`build_schedule` reads besides the hardware: the layer but its name, the
    layer hardware but ``hw``, the chunk."""
    return (replace(layer, name=""), chunk,
            tuple(getattr(lhw, f.name) for f in fields(lhw) if f.name != "hw"))


def l1_chunk(layer: Layer, lhw: LayerHardware) -> int:
    """The most output pixels per tile whose partial sums fit half of the L1 output buffer and
    whose input fits half of the L1 activation buffer, wherever the chunk starts."""
    hw = lhw.hw
    m = hw.memory
    half_out = m.l1_out_bytes // hw.halves
    p = half_out // max(1, hw.cols * hw.data.psum_bits // 8)
    half_act = m.l1_act_bytes // hw.halves
    rows = lhw.logical_rows
    groups = min(block_groups(layer), max(1, rows // max(1, layer.in_c // layer.groups)))
    total = stream_pixels(layer)
    p = min(p, total)

    def worst(n: int) -> int:
        # one tile: its pack's groups, at most `rows` reduction units each, at every chunk
        # start (chunks start at multiples of n; within an image only the offset matters)
        image = layer.out_w * layer.out_h
        starts = {(s0 % image, min(total, s0 + n) - s0) for s0 in range(0, total, n)}
        return max(act_bytes(layer, lhw, s0, s0 + ln, 0, groups, 0, rows)
                   for s0, ln in starts)
    while p > 1 and worst(p) > half_act:
        p = max(1, p // 2 if worst(p // 2) > half_act else p - max(1, p // 8))
    return p


def _other_kinds(what: str) -> str:
    """``, or dataflow.kind = X`` naming the registered dataflows that support ``what`` (a
    weight format, ``array.sparse`` or ``activations.dbb``)."""
    from ewssim.dataflow import DATAFLOWS

    kinds = []
    for kind, cls in DATAFLOWS.items():
        if not issubclass(cls, SystolicDataflow):
            continue
        ok = {"array.sparse": cls.sparse_array,
              "activations.dbb": cls.activation_dbb}.get(what, what in cls.weight_formats)
        if ok:
            kinds.append(kind)
    return f", or dataflow.kind = {'/'.join(kinds)}" if kinds else ""
