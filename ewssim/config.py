"""Typed architecture configuration: dataclasses, TOML in and out, validated once at load time.

Every parameter carries metadata: its unit, its allowed range or choices, whether it is
``published`` (a paper gives it) or ``modelled`` (our reconstruction, spec section 3), and a
one-line description.  The validator, the TOML writer and ``docs/model-reference.md`` all read
the same metadata, so a parameter cannot be documented one way and checked another.

Sections (TOML tables): ``[array]``, ``[dataflow]``, ``[memory]``, ``[data]``, plus top-level
``name`` and ``clock_mhz``.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ewssim.compress.metrics import subvector_bits
from ewssim.errors import InputError

KIB = 1024


def param(default, *, unit: str = "", doc: str = "", source: str = "modelled",
          lo: float | None = None, hi: float | None = None,
          choices: tuple | None = None):
    """A configuration field with its metadata (unit, range, provenance, description)."""
    return field(default=default, metadata={
        "unit": unit, "doc": doc, "source": source, "lo": lo, "hi": hi, "choices": choices,
    })


@dataclass(frozen=True)
class ArrayConfig:
    rows: int = param(64, unit="PEs", lo=1, source="published",
                      doc="reduction axis L: PEs along which a partial sum accumulates "
                          "(MVQ paper: 64x64)")
    cols: int = param(64, unit="PEs", lo=1, source="published",
                      doc="output axis H: independent output channels")
    wrf_depth: int = param(6, unit="entries", lo=1,
                           doc="weight register file per PE (EWS names it); 6 = two 3-tap weight "
                               "sets, the fewest that double-buffer: calibrated toward the "
                               "published array areas (MVQ Table 7: 4.236 / 2.129 mm2; the "
                               "spec's 9 gives 5.15 mm2, +21.5%)")
    arf_depth: int = param(3, unit="entries", lo=1,
                           doc="activation register file per PE (sliding window)")
    prf_depth: int = param(16, unit="entries", lo=1,
                           doc="partial-sum register file per output column")
    sparse: bool = param(False, source="published",
                         doc="sparsity-aware array: d*N/M physical PEs per d logical reduction "
                             "PEs, each with an M:1 activation mux (MVQ paper)")
    zero_gating: bool = param(False, source="published",
                              doc="zero-value clock gating: a MAC whose operand is zero does not "
                                  "switch (S2TA's SA-ZVCG baseline); timing unchanged")
    sparse_use: str = param("area", choices=("area", "throughput"),
                            doc="area: same logical array in fewer PEs (rows*N/M physical per "
                                "column); throughput: rows physical PEs cover rows*M/N logical")
    acc_bits: int = param(0, unit="bit", lo=0, hi=64,
                          doc="area/energy only: in-array accumulator and psum pipeline width; "
                              "0 = exact for one pass down a column: product bits + "
                              "ceil(log2(physical rows * arf_depth)) (24 for 64x64 EWS; "
                              "calibrated toward 4.236 / 2.129 mm2, docs section 7)")
    act_pipe_reg: bool = param(True,
                               doc="area only: a separate activation pipeline register per "
                                   "activation a PE forwards, as the engine counts act_hops "
                                   "and arf_writes apart (false: the newest ARF entry drives "
                                   "the next PE); calibrated toward 2.129 mm2, docs section 7")
    prf_in_array: bool = param(True,
                               doc="area only: the per-column PRFs (prf_depth x psum_bits, "
                                   "with their accumulate adder) are part of the array block "
                                   "(false: counted with L1)")


@dataclass(frozen=True)
class DataflowConfig:
    kind: str = param("ews", choices=("ws", "ews", "mvq", "s2ta", "scalesim-ws"),
                      doc="dataflow plug-in: ws, ews (enhanced WS, INT8 weights), mvq (EWS with "
                          "the codebook weight path), s2ta (WS with density-bound blocks, "
                          "S2TA-style), scalesim-ws (SCALE-Sim v3 parity)")
    wrf_double_buffer: bool = param(True, doc="EWS 1: next tile's weights load during compute")
    arf_reuse: bool = param(True, doc="EWS 2: activations reused across kernel-width taps")
    prf_reuse: bool = param(True, doc="EWS 3: psums of a pixel chunk stay in the PRF "
                                      "across reduction folds")


@dataclass(frozen=True)
class WeightConfig:
    format: str = param("int8", choices=("int8", "vq", "mvq", "casec", "ssvq", "dbb"),
                        doc="weight format the weight path decodes (spec section 2); vq/mvq/"
                            "casec/ssvq need dataflow.kind = mvq, dbb (S2TA density-bound "
                            "blocks, nm = NNZ:BZ) needs s2ta")
    k: int = param(256, unit="codewords", lo=1, source="published",
                   doc="codebook size (a power of two; MVQ default 256, SSVQ 16)")
    d: int = param(8, unit="weights", lo=1, source="published",
                   doc="sub-vector length along input channels")
    nm: str = param("1:4", source="published",
                    doc="N:M pruning pattern (N = M: no pruning); MVQ default 1:4")
    mask_encoding: str = param("bitmap", choices=("bitmap", "positions", "combinatorial"),
                               doc="how N:M masks are stored (bitmap is decoded by LZCs)")
    codebook_groups: int = param(1, unit="codebooks", lo=1,
                                 doc="codebooks per layer (groups of output channels)")
    crf_ports: int = param(0, unit="ports", lo=0,
                           doc="CRF read ports; 0 = logical rows / d, one line per cycle "
                               "(MVQ paper: a row of width L takes L/d ports)")
    crf_latency_cycles: int = param(1, unit="cycles", lo=0, doc="CRF read latency per load")
    lzc_stage_cycles: int = param(1, unit="cycles", lo=0,
                                  doc="one stage of the cascaded LZC mask decoder (N stages)")
    sign_latency_cycles: int = param(1, unit="cycles", lo=0,
                                     doc="SSVQ sign application (conditional negation)")
    fit: str = param("dense", choices=("dense", "pad"),
                     doc="layers whose channels d does not divide: keep INT8 or zero-pad")
    seed: int = param(0, lo=0, doc="seed of the synthetic weights compressed on the fly")

    @property
    def n_m(self) -> tuple[int, int]:
        n, m = (int(x) for x in self.nm.split(":"))
        return (n, m)

    @property
    def codebook(self) -> bool:
        """Indices into a codebook (the MVQ weight path)."""
        return self.format in ("vq", "mvq", "casec", "ssvq")

    @property
    def compressed(self) -> bool:
        """Anything but dense INT8: the run needs per-layer weight formats."""
        return self.format != "int8"


@dataclass(frozen=True)
class ActivationConfig:
    profile: str = param("default", doc="input-activation density per layer: 'default' (the "
                                        "documented rule of docs/workloads.md), a CSV profile "
                                        "or an .npz of activation tensors")
    dbb: bool = param(False, source="published",
                      doc="activation density-bound blocks (S2TA-AW): the top NNZ_a of every "
                          "block of `block` activations are kept and time-unrolled, NNZ_a "
                          "cycles per block")
    block: int = param(8, unit="activations", lo=1, source="published",
                       doc="activation DBB block size BZ (S2TA: 8)")
    nnz: int = param(0, unit="activations", lo=0,
                     doc="activation DBB bound NNZ_a per block: 0 = ceil(density * BZ) per "
                         "layer (drops no non-zero on average); a fixed value prunes "
                         "activations beyond their natural sparsity, as S2TA does with "
                         "DBB-aware training (lossy)")


@dataclass(frozen=True)
class MemoryConfig:
    l1_act_bytes: int = param(64 * KIB, unit="B", lo=1, doc="L1 activation buffer")
    l1_weight_bytes: int = param(32 * KIB, unit="B", lo=1,
                                 doc="L1 weight buffer (INT8 weights or indices+masks)")
    l1_out_bytes: int = param(32 * KIB, unit="B", lo=1, doc="L1 psum/output buffer")
    l1_double_buffer: bool = param(True, doc="L1 buffers are double-buffered (fill overlaps use)")
    l2_bytes: int = param(1024 * KIB, unit="B", lo=1, doc="L2 global SRAM")
    l2_banks: int = param(8, unit="banks", lo=1, doc="L2 banks")
    l2_bank_width_bytes: int = param(16, unit="B/cycle", lo=1, doc="L2 bank width")
    l2_act_fraction: float = param(0.75, lo=0.0, hi=1.0,
                                   doc="share of L2 that holds activations between layers: a "
                                       "layer's output stays on chip when it and the next "
                                       "layer's input+output fit (0: every layer goes via DRAM)")
    dram_bytes_per_cycle: float = param(16.0, unit="B/cycle", lo=1e-9,
                                        doc="DRAM channel bandwidth")
    dram_latency_cycles: int = param(100, unit="cycles", lo=0, doc="DRAM access latency")
    ideal: bool = param(False, doc="ideal memory: no stalls, no capacity limits "
                                   "(SCALE-Sim CALC bandwidth mode)")
    l1_access_bits: int = param(128, unit="bit", choices=(64, 128, 256, 512),
                                doc="energy only: width of one L1 SRAM access (CACTI figures "
                                    "exist for 64 and 128 bits; wider = parallel 128-bit "
                                    "macros); L2 accesses are one bank width")
    dram_type: str = param("LPDDR4", choices=("LPDDR4", "DDR3", "HBM2", "LPDDR"),
                           doc="energy only: DRAM pJ/bit from the technology table "
                               "(Accelergy/CACTI defaults)")

    @property
    def l2_bytes_per_cycle(self) -> int:
        return self.l2_banks * self.l2_bank_width_bytes


@dataclass(frozen=True)
class DataConfig:
    act_bits: int = param(8, unit="bit", choices=(4, 8, 16), source="published",
                          doc="activation width (INT8 accelerator)")
    weight_bits: int = param(8, unit="bit", choices=(4, 8, 16), source="published",
                             doc="dense weight / codeword width")
    psum_bits: int = param(32, unit="bit", choices=(16, 24, 32),
                           doc="partial-sum width when psums round-trip through L1")


@dataclass(frozen=True)
class ArchConfig:
    name: str = param("ews", doc="preset or user name")
    clock_mhz: float = param(1000.0, unit="MHz", lo=1e-6, doc="clock (1 ns cycle, as the "
                             "Aladdin 40 nm component table)")
    array: ArrayConfig = field(default_factory=ArrayConfig)
    dataflow: DataflowConfig = field(default_factory=DataflowConfig)
    weights: WeightConfig = field(default_factory=WeightConfig)
    activations: ActivationConfig = field(default_factory=ActivationConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    data: DataConfig = field(default_factory=DataConfig)

    @property
    def physical_pes(self) -> int:
        """PEs actually built: ``rows * N/M`` per column on the sparsity-aware array (area
        use), ``rows`` otherwise."""
        a = self.array
        if a.sparse and a.sparse_use == "area":
            n, m = self.weights.n_m
            return a.rows * n // m * a.cols
        return a.rows * a.cols

    def with_array(self, rows: int, cols: int) -> ArchConfig:
        return replace(self, array=replace(self.array, rows=rows, cols=cols))


SECTIONS = {"array": ArrayConfig, "dataflow": DataflowConfig, "weights": WeightConfig,
             "activations": ActivationConfig, "memory": MemoryConfig, "data": DataConfig}

# ----------------------------------------------------------------------------- presets

PRESETS: dict[str, ArchConfig] = {
    "ews": ArchConfig(name="ews"),
    # plain WS: one weight register per PE (as SCALE-Sim's array), no ARF or PRF
    "ws": ArchConfig(name="ws", dataflow=DataflowConfig(
        kind="ws", wrf_double_buffer=False, arf_reuse=False, prf_reuse=False),
        array=ArrayConfig(wrf_depth=1)),
    # the MVQ ablation chain (MVQ paper): EWS -> EWS-C -> EWS-CM -> EWS-CMS
    "vq": ArchConfig(name="vq", dataflow=DataflowConfig(kind="mvq"),
                     weights=WeightConfig(format="vq", nm="1:1")),
    "ews-cm": ArchConfig(name="ews-cm", dataflow=DataflowConfig(kind="mvq"),
                         weights=WeightConfig(format="mvq")),
    "mvq": ArchConfig(name="mvq", dataflow=DataflowConfig(kind="mvq"),
                      array=ArrayConfig(sparse=True), weights=WeightConfig(format="mvq")),
    # SSVQ (ICCV 2025): k = 16, d = 8, one sign bit per weight, no pruning, dense array
    "ssvq": ArchConfig(name="ssvq", dataflow=DataflowConfig(kind="mvq"),
                       weights=WeightConfig(format="ssvq", k=16, d=8, nm="1:1")),
    # S2TA-style baselines (S2TA, HPCA 2022), same memories and node as the others:
    # a dense WS systolic array with zero-value clock gating, + weight DBB (4/8, spatial),
    # + activation DBB (time-unrolled tensor PEs)
    "sa-zvcg": ArchConfig(name="sa-zvcg", dataflow=DataflowConfig(
        kind="ws", wrf_double_buffer=False, arf_reuse=False, prf_reuse=False),
        array=ArrayConfig(wrf_depth=1, zero_gating=True)),
    "s2ta-w": ArchConfig(name="s2ta-w", dataflow=DataflowConfig(
        kind="s2ta", wrf_double_buffer=False, arf_reuse=False, prf_reuse=False),
        array=ArrayConfig(wrf_depth=1, zero_gating=True, sparse=True,
                          sparse_use="throughput"),
        weights=WeightConfig(format="dbb", nm="4:8", mask_encoding="positions")),
    # the AW tensor PE holds a whole weight block: NNZ_w = 4 (value, position) entries
    "s2ta-aw": ArchConfig(name="s2ta-aw", dataflow=DataflowConfig(
        kind="s2ta", wrf_double_buffer=False, arf_reuse=False, prf_reuse=False),
        array=ArrayConfig(wrf_depth=4, zero_gating=True, sparse=True,
                          sparse_use="throughput"),
        weights=WeightConfig(format="dbb", nm="4:8", mask_encoding="positions"),
        activations=ActivationConfig(dbb=True)),
    "scalesim-ws": ArchConfig(
        name="scalesim-ws",
        dataflow=DataflowConfig(kind="scalesim-ws", wrf_double_buffer=False, arf_reuse=False,
                                prf_reuse=False),
        memory=MemoryConfig(ideal=True)),
}


def preset_names() -> list[str]:
    return sorted(PRESETS)


# ----------------------------------------------------------------------------- validation

def _type_name(tp: Any) -> str:
    return {"int": "integer", "float": "number", "bool": "true/false", "str": "string"}.get(
        str(tp), str(tp))


def _check_value(cls, f: dataclasses.Field, value: Any, key: str, source: str) -> Any:
    tp = f.type if isinstance(f.type, str) else f.type.__name__
    meta = f.metadata
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "str": isinstance(value, str),
    }.get(tp, True)
    allowed = _allowed(meta, tp)
    if not ok:
        raise InputError(f"expected {_type_name(tp)}, got {value!r}", source=source, field=key,
                         allowed=allowed)
    if tp == "float":
        value = float(value)
    if meta.get("choices") is not None and value not in meta["choices"]:
        raise InputError(f"{value!r} is not allowed", source=source, field=key, allowed=allowed)
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and value < lo or hi is not None and value > hi:
        raise InputError(f"{value!r} is out of range", source=source, field=key, allowed=allowed)
    return value


def _allowed(meta, tp: str) -> str:
    if meta.get("choices") is not None:
        return ", ".join(str(c) for c in meta["choices"])
    lo, hi = meta.get("lo"), meta.get("hi")
    unit = f" {meta['unit']}" if meta.get("unit") else ""
    if lo is not None and hi is not None:
        return f"{_type_name(tp)} in [{lo}, {hi}]{unit}"
    if lo is not None:
        return f"{_type_name(tp)} >= {lo:g}{unit}"
    return _type_name(tp)


def _build(cls, data: dict, prefix: str, source: str, base):
    known = {f.name: f for f in fields(cls)}
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in known:
            raise InputError("unknown key", source=source, field=dotted,
                             allowed=", ".join(known))
        f = known[key]
        if key in SECTIONS and cls is ArchConfig:
            if not isinstance(value, dict):
                raise InputError("expected a table", source=source, field=dotted,
                                 allowed=f"[{key}] table")
            kwargs[key] = _build(SECTIONS[key], value, f"{key}.", source, getattr(base, key))
        else:
            kwargs[key] = _check_value(cls, f, value, dotted, source)
    return replace(base, **kwargs)


def _validate_weights(arch: ArchConfig, source: str) -> None:
    w = arch.weights
    parts = w.nm.split(":")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise InputError(f"{w.nm!r} is not an N:M pattern", source=source, field="weights.nm",
                         allowed="N:M with 1 <= N <= M, e.g. 1:4, 2:4, 4:4")
    n, m = w.n_m
    if not 1 <= n <= m:
        raise InputError(f"N:M = {w.nm} is not a valid pattern", source=source,
                         field="weights.nm", allowed="1 <= N <= M")
    if w.k & (w.k - 1) or w.k > 1 << 16:
        raise InputError(f"k = {w.k} is not a power of two", source=source, field="weights.k",
                         allowed="1, 2, 4, ..., 65536")
    pruned = n < m
    if pruned and w.d % m:
        raise InputError(f"d = {w.d} is not a multiple of M = {m}", source=source,
                         field="weights.d", allowed=f"a multiple of {m}")
    if w.format == "dbb" and arch.dataflow.kind != "s2ta":
        raise InputError("weight format dbb needs the S2TA weight path", source=source,
                         field="dataflow.kind", allowed="s2ta (or another weights.format)")
    if arch.dataflow.kind == "s2ta" and w.format not in ("int8", "dbb"):
        raise InputError(f"the s2ta dataflow loads int8 or dbb weights, not {w.format}",
                         source=source, field="weights.format", allowed="int8, dbb")
    if arch.activations.dbb and arch.dataflow.kind != "s2ta":
        raise InputError("activation DBB needs the S2TA array", source=source,
                         field="activations.dbb", allowed="false, or dataflow.kind = s2ta")
    if arch.activations.dbb and w.format == "dbb" and arch.activations.block != w.n_m[1]:
        raise InputError(f"the time-unrolled tensor PE pairs a weight block of M = "
                         f"{w.n_m[1]} with an activation block of {arch.activations.block}",
                         source=source, field="activations.block",
                         allowed=f"{w.n_m[1]} (the weight block M of weights.nm)")
    if arch.activations.dbb and w.format == "dbb" and arch.array.wrf_depth < w.n_m[0]:
        raise InputError(f"a time-unrolled tensor PE holds a whole weight block: wrf_depth "
                         f"{arch.array.wrf_depth} < NNZ_w = {w.n_m[0]}", source=source,
                         field="array.wrf_depth", allowed=f">= {w.n_m[0]}")
    if w.format in ("vq", "ssvq") and pruned:
        raise InputError(f"format {w.format} does not prune, got N:M = {w.nm}", source=source,
                         field="weights.nm", allowed="N = M (e.g. 1:1) for vq and ssvq")
    if w.codebook and arch.dataflow.kind != "mvq":
        raise InputError(f"weight format {w.format} needs the codebook weight path",
                         source=source, field="dataflow.kind", allowed="mvq (or weights.format "
                         "= int8)")
    if arch.array.sparse:
        if not (w.format in ("mvq", "casec", "dbb") and pruned):
            raise InputError("the sparsity-aware array needs N:M-pruned weights", source=source,
                             field="array.sparse", allowed="false, or weights.format = mvq/"
                             "casec/dbb with N < M")
        logical = arch.array.rows * (m if arch.array.sparse_use == "throughput" else n) // n
        phys = arch.array.rows * n // m if arch.array.sparse_use == "area" else arch.array.rows
        if arch.array.rows % m or phys * m // n != logical:
            raise InputError(f"array.rows = {arch.array.rows} cannot be built from groups of "
                             f"{m} logical PEs", source=source, field="array.rows",
                             allowed=f"a multiple of M = {m}")
    if w.codebook and arch.array.rows % w.d:
        raise InputError(f"array.rows = {arch.array.rows} is not a multiple of d = {w.d}: "
                         "sub-vectors would straddle tiles", source=source, field="array.rows",
                         allowed=f"a multiple of {w.d}")


def check_fields(data: dict, source: str = "<config>") -> ArchConfig:
    """Field-level checks only (known keys, types, ranges, choices) of a nested dict, on top of
    the defaults; cross-field rules are :func:`validate`'s."""
    return _build(ArchConfig, data, "", source, ArchConfig())


def validate(arch: ArchConfig, source: str = "<config>") -> ArchConfig:
    """Cross-field checks that no single field can express."""
    _validate_weights(arch, source)
    if arch.dataflow.kind == "scalesim-ws" and not arch.memory.ideal:
        raise InputError("the scalesim-ws dataflow models SCALE-Sim's CALC bandwidth mode and "
                         "needs ideal memory", source=source, field="memory.ideal",
                         allowed="true with dataflow.kind = scalesim-ws")
    if not arch.memory.ideal:
        a, m = arch.array, arch.memory
        # one weight tile (rows x cols weights in the weight path's format: INT8, or indices,
        # masks and signs) must fit in the L1 weight buffer, one array-width column of
        # activations in the L1 activation buffer, and one psum row of the array in the L1
        # output buffer; otherwise the array can never start.
        halves = 2 if m.l1_double_buffer else 1
        w = arch.weights
        if w.compressed:
            n, mm = w.n_m
            dbb = w.format == "dbb"
            d = mm if dbb else w.d
            sub = subvector_bits(k=1 if dbb else w.k, d=d, n=n, m=mm,
                                 mask_encoding=w.mask_encoding, signs=w.format == "ssvq",
                                 values=dbb)
            need_w = halves * -(-a.rows * a.cols * sub // (8 * d))
        else:
            need_w = halves * a.rows * a.cols * arch.data.weight_bits // 8
        if m.l1_weight_bytes < need_w:
            raise InputError(f"{m.l1_weight_bytes} B cannot hold one {a.rows}x{a.cols} "
                             f"{w.format} weight tile{' per half' if halves == 2 else ''}",
                             source=source,
                             field="memory.l1_weight_bytes", allowed=f">= {need_w} B")
        need_a = halves * a.rows * arch.data.act_bits // 8
        if m.l1_act_bytes < need_a:
            raise InputError(f"{m.l1_act_bytes} B cannot hold one activation column",
                             source=source, field="memory.l1_act_bytes",
                             allowed=f">= {need_a} B")
        need_o = halves * a.cols * arch.data.psum_bits // 8
        if m.l1_out_bytes < need_o:
            raise InputError(f"{m.l1_out_bytes} B cannot hold one psum row",
                             source=source, field="memory.l1_out_bytes",
                             allowed=f">= {need_o} B")
        if m.l2_bytes < m.l1_act_bytes + m.l1_weight_bytes:
            raise InputError("L2 is smaller than the L1 buffers it feeds", source=source,
                             field="memory.l2_bytes",
                             allowed=f">= {m.l1_act_bytes + m.l1_weight_bytes} B")
    return arch


def from_dict(data: dict, source: str = "<config>", base: ArchConfig | None = None) -> ArchConfig:
    if "preset" in data:
        name = data["preset"]
        if name not in PRESETS:
            raise InputError(f"unknown preset {name!r}", source=source, field="preset",
                             allowed=", ".join(preset_names()))
        base = PRESETS[name]
        data = {k: v for k, v in data.items() if k != "preset"}
    arch = _build(ArchConfig, data, "", source, base or ArchConfig())
    return validate(arch, source)


def load(spec: str | Path) -> ArchConfig:
    """A preset name or a TOML file (optionally starting from ``preset = "NAME"``)."""
    s = str(spec)
    if s in PRESETS:
        return PRESETS[s]
    path = Path(s)
    if not path.is_file():
        raise InputError(f"no preset or file named {s!r}", field="arch",
                         allowed=", ".join(preset_names()) + ", or a TOML file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid TOML: {exc}", source=s) from None
    return from_dict(data, source=s)


def parse_array(text: str) -> tuple[int, int]:
    """``"RxC"`` -> (rows, cols)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise InputError(f"{text!r} is not an array shape", field="--array",
                         allowed="ROWSxCOLS with positive integers, e.g. 64x64")
    return int(parts[0]), int(parts[1])


# ----------------------------------------------------------------------------- TOML out

def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"cannot write {v!r} as TOML")


def to_toml(arch: ArchConfig, comments: bool = True) -> str:
    """TOML text that :func:`load` reads back to an equal configuration."""
    out: list[str] = []

    def emit(obj, header: str | None) -> None:
        if header:
            out.append(f"\n[{header}]")
        for f in fields(obj):
            if f.name in SECTIONS and isinstance(obj, ArchConfig):
                continue
            line = f"{f.name} = {_toml_value(getattr(obj, f.name))}"
            if comments and f.metadata.get("doc"):
                unit = f" [{f.metadata['unit']}]" if f.metadata.get("unit") else ""
                line = f"{line:<32} # {f.metadata['source']}{unit}: {f.metadata['doc']}"
            out.append(line)

    emit(arch, None)
    for name in SECTIONS:
        emit(getattr(arch, name), name)
    return "\n".join(out) + "\n"


def describe_parameters() -> list[dict]:
    """Every parameter with its metadata (for docs and `arch show --params`)."""
    rows = []
    for sec, cls in [("", ArchConfig), *SECTIONS.items()]:
        for f in fields(cls):
            if f.name in SECTIONS:
                continue
            rows.append({"key": f"{sec}.{f.name}" if sec else f.name, "default": f.default,
                         "type": f.type if isinstance(f.type, str) else f.type.__name__,
                         **{k: f.metadata.get(k) for k in ("unit", "source", "doc")}})
    return rows
