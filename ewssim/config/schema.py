"""Typed architecture configuration: dataclasses whose every field is checked when it is made.

Every parameter carries metadata: its unit, its allowed range or choices, whether it is
``published`` (a paper gives it) or ``modelled`` (our reconstruction, spec section 3), and a
one-line description.  The checks, the TOML writer and ``docs/model-reference.md`` all read the
same metadata, so a parameter cannot be documented one way and checked another.

Checked wherever a configuration is made -- from TOML, from the command line (``--set``), with
:meth:`ArchConfig.replace` or even ``dataclasses.replace``: each section checks its fields in
``__post_init__`` (type, range, choices), and :class:`ArchConfig` then runs the cross-field
rules registered with :func:`register_check` (the dataflow plug-ins register theirs, so the
rules of a dataflow live with the dataflow, ``ewssim/dataflow``).

Sections (TOML tables): ``[array]``, ``[dataflow]``, ``[weights]``, ``[activations]``,
``[memory]``, ``[data]``, ``[scalesim]``, ``[vector]``, plus top-level ``name`` and ``clock_mhz``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ewssim.compress.format import METHODS, WeightFormat
from ewssim.errors import InputError

KIB = 1024


def param(default, *, unit: str = "", doc: str = "", source: str = "modelled",
          lo: float | None = None, hi: float | None = None,
          choices: tuple | None = None):
    """A configuration field with its metadata (unit, range, provenance, description)."""
    return field(default=default, metadata={
        "unit": unit, "doc": doc, "source": source, "lo": lo, "hi": hi, "choices": choices,
    })


def _type_name(tp: str) -> str:
    return {"int": "integer", "float": "number", "bool": "true/false", "str": "string"}.get(
        tp, tp)


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


def _field_type(f) -> str:
    return f.type if isinstance(f.type, str) else f.type.__name__


#: choices of fields whose values other packages own (``dataflow.kind``: the registered
#: dataflow plug-ins), filled in when those packages are imported
FIELD_CHOICES: dict[str, tuple] = {}


def check_value(f, value: Any, key: str, source: str | None = None) -> Any:
    """``value`` checked against field ``f``'s type, range and choices (ints become floats for
    float fields); InputError naming ``key`` otherwise."""
    tp = _field_type(f)
    meta = f.metadata
    if key in FIELD_CHOICES:
        meta = {**meta, "choices": FIELD_CHOICES[key]}
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
        if value != value or value in (float("inf"), float("-inf")):
            raise InputError(f"{value!r} is not a finite number", source=source, field=key,
                             allowed=allowed)
    if meta.get("choices") is not None and value not in meta["choices"]:
        raise InputError(f"{value!r} is not allowed", source=source, field=key, allowed=allowed)
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and value < lo or hi is not None and value > hi:
        raise InputError(f"{value!r} is out of range", source=source, field=key, allowed=allowed)
    return value


class _Section:
    """Checks every field of a section when it is made (``section`` names it in errors)."""

    section = ""

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            key = f"{self.section}.{f.name}" if self.section else f.name
            checked = check_value(f, v, key)
            if checked is not v:
                object.__setattr__(self, f.name, checked)


@dataclass(frozen=True)
class ArrayConfig(_Section):
    section = "array"

    rows: int = param(64, unit="PEs", lo=1, source="published",
                      doc="reduction axis L: PEs along which a partial sum accumulates "
                          "(MVQ paper: 64x64)")
    cols: int = param(64, unit="PEs", lo=1, source="published",
                      doc="output axis H: independent output channels")
    wrf_depth: int = param(9, unit="entries", lo=1,
                           doc="weight register file per PE (EWS names it); the spec's 9 = three "
                               "3-tap weight sets (not fitted: the published array areas imply "
                               "about 5.3 (EWS) and 6.9 (MVQ) entries; docs section 7.4 gives "
                               "the area gap and its cause)")
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
                              "ceil(log2(physical rows * arf_depth)) (24 for 64x64 EWS: the "
                              "fewest bits that never overflow; docs section 7.4)")
    act_pipe_reg: bool = param(True,
                               doc="area only: a separate activation pipeline register per "
                                   "activation a PE forwards, as the engine counts act_hops "
                                   "and arf_writes apart (false: the newest ARF entry drives "
                                   "the next PE; docs section 7.4)")
    prf_in_array: bool = param(True,
                               doc="area only: the per-column PRFs (prf_depth x psum_bits, "
                                   "with their accumulate adder) are part of the array block "
                                   "(false: counted with L1)")


@dataclass(frozen=True)
class DataflowConfig(_Section):
    section = "dataflow"

    kind: str = param("ews",
                      doc="dataflow plug-in: ws, ews (enhanced WS, INT8 weights), mvq (EWS with "
                          "the codebook weight path), s2ta (WS with density-bound blocks, "
                          "S2TA-style), scalesim-ws (SCALE-Sim v3 parity)")
    wrf_double_buffer: bool = param(True, doc="EWS 1: next tile's weights load during compute")
    arf_reuse: bool = param(True, doc="EWS 2: activations reused across kernel-width taps")
    prf_reuse: bool = param(True, doc="EWS 3: psums of a pixel chunk stay in the PRF "
                                      "across reduction folds")


@dataclass(frozen=True)
class WeightConfig(_Section):
    section = "weights"

    format: str = param("int8", choices=METHODS,
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
    crf_groups: int = param(0, unit="codebooks", lo=0,
                            doc="codebook groups the CRF holds at once; 0 = all of a layer's "
                                "(a load whose output channels need a group not held reloads "
                                "it, least recently used first)")
    crf_write_bytes_per_cycle: int = param(0, unit="B/cycle", lo=0,
                                           doc="CRF write width when a codebook is (re)loaded "
                                               "from the L1 weight buffer; 0 = one codeword "
                                               "(d bytes) per cycle")
    lzc_stage_cycles: int = param(1, unit="cycles", lo=0,
                                  doc="one stage of the cascaded LZC mask decoder (N stages)")
    sign_latency_cycles: int = param(1, unit="cycles", lo=0,
                                     doc="SSVQ sign application (conditional negation)")
    fit: str = param("int8", choices=("int8", "pad", "dense"),
                     doc="layers whose channels d does not divide, or with fewer sub-vectors "
                         "than k: keep INT8 (int8; 'dense' is the older name) or zero-pad")
    int8_if_larger: bool = param(True, doc="keep a layer INT8 when its codebook format would "
                                           "not be smaller (indices, masks, signs, codebooks "
                                           "and scales against INT8)")
    seed: int = param(0, lo=0, doc="seed of the synthetic weights compressed on the fly")

    @property
    def weight_format(self) -> WeightFormat:
        """The format the weight path decodes (normalised: see
        :class:`~ewssim.compress.format.WeightFormat`)."""
        return WeightFormat.make(self.format, nm=self.nm, k=self.k, d=self.d,
                                 mask_encoding=self.mask_encoding,
                                 codebook_groups=self.codebook_groups, prefix="weights.")


@dataclass(frozen=True)
class ActivationConfig(_Section):
    section = "activations"

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
class MemoryConfig(_Section):
    section = "memory"

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
    dram_latency_cycles: int = param(100, unit="cycles", lo=0,
                                     doc="DRAM read latency: data arrives this long after its "
                                         "transfer (requests pipeline; writes post)")
    dram_burst_bytes: int = param(64, unit="B", lo=1,
                                  doc="a DRAM transfer moves whole bursts (LPDDR4 x32, BL16: "
                                      "64 B): its bytes are rounded up to a multiple")
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
class DataConfig(_Section):
    section = "data"

    act_bits: int = param(8, unit="bit", choices=(4, 8, 16), source="published",
                          doc="activation width (INT8 accelerator)")
    weight_bits: int = param(8, unit="bit", choices=(4, 8, 16), source="published",
                             doc="dense weight / codeword width")
    psum_bits: int = param(32, unit="bit", choices=(16, 24, 32),
                           doc="partial-sum width when psums round-trip through L1")


@dataclass(frozen=True)
class VectorConfig(_Section):
    """The vector unit: runs every operator the array does not (pooling, residual adds,
    softmax, norms, activations, resize, data movement).  Not in the MVQ paper: every value
    is modelled."""

    section = "vector"

    lanes: int = param(64, unit="elements/cycle", lo=1,
                       doc="elements the vector unit processes per cycle (one 32-bit adder, "
                           "one 8x8 multiplier and a 32-bit register per lane)")
    fuse_activations: bool = param(True, doc="an activation (ReLU, clip, sigmoid, GELU, "
                                             "...) or an elementwise op with one tensor input "
                                             "(the other a constant) that reads only the "
                                             "output of the step before it (no other reader) "
                                             "runs in that step's output path: no cycles, no "
                                             "bytes, its energy charged")
    elementwise_cycles: int = param(1, unit="cycles/element", lo=1,
                                    doc="add, sub, mul, div, max, min per output element")
    activation_cycles: int = param(1, unit="cycles/element", lo=1,
                                   doc="ReLU, clip, sigmoid, GELU, ... (piecewise or LUT)")
    pool_cycles: int = param(1, unit="cycles/element", lo=1,
                             doc="per output element per window tap")
    reduce_cycles: int = param(1, unit="cycles/element", lo=1,
                               doc="global pool / reduce, per input element")
    softmax_cycles: int = param(3, unit="cycles/element", lo=1,
                                doc="per input element: max, exp and sum, divide")
    norm_cycles: int = param(3, unit="cycles/element", lo=1,
                             doc="LayerNorm/RMSNorm per input element: mean, variance, scale")
    resize_cycles: int = param(1, unit="cycles/element", lo=1,
                               doc="resize/upsample per output element")
    copy_cycles: int = param(1, unit="cycles/element", lo=1,
                             doc="concat, slice, transpose, pad per output element")

    def cycles_per_element(self, op_class: str) -> int:
        return getattr(self, f"{op_class}_cycles")


#: cross-field rules, run after the field checks whenever an ArchConfig is made:
#: ``check(arch)`` raises InputError.  The dataflow plug-ins register theirs, then the sizing
#: rules run (``last``): a configuration is first made consistent, then large enough.
_CHECKS: list[Callable[[ArchConfig], None]] = []
_LAST_CHECKS: list[Callable[[ArchConfig], None]] = []


def register_check(check: Callable[[ArchConfig], None], *,
                   last: bool = False) -> Callable[[ArchConfig], None]:
    """Add a cross-field rule (idempotent); returns it, so it can decorate."""
    target = _LAST_CHECKS if last else _CHECKS
    if check not in target:
        target.append(check)
    return check


@dataclass(frozen=True)
class ScaleSimConfig(_Section):
    """SCALE-Sim v3's own memory model, used by the ``scalesim-ws`` dataflow only (a SCALE-Sim
    ``.cfg`` file sets these; docs/scalesim-parity.md).  SCALE-Sim counts in 1-byte words."""

    section = "scalesim"

    interface: str = param("calc", choices=("calc", "user"), source="published",
                           doc="SCALE-Sim's InterfaceBandwidth: calc (ideal memory, no stalls) "
                               "or user (its double-buffered SRAMs with the bandwidths below)")
    ifmap_sram_kb: int = param(64, unit="kB", lo=1, source="published",
                               doc="IfmapSramSzkB")
    filter_sram_kb: int = param(64, unit="kB", lo=1, source="published",
                                doc="FilterSramSzkB")
    ofmap_sram_kb: int = param(64, unit="kB", lo=1, source="published",
                               doc="OfmapSramSzkB")
    ifmap_bandwidth: int = param(10, unit="words/cycle", lo=1, source="published",
                                 doc="USER mode: DRAM -> ifmap SRAM ([layout] "
                                     "IfmapSRAMBankBandwidth)")
    filter_bandwidth: int = param(10, unit="words/cycle", lo=1, source="published",
                                  doc="USER mode: DRAM -> filter SRAM ([layout] "
                                      "FilterSRAMBankBandwidth)")
    ofmap_bandwidth: int = param(10, unit="words/cycle", lo=1, source="published",
                                 doc="USER mode: ofmap SRAM -> DRAM (first value of Bandwidth)")
    ifmap_banks: int = param(1, unit="banks", lo=1, source="published",
                             doc="IfmapSRAMBankNum (USER: the bandwidth must be a multiple)")
    filter_banks: int = param(1, unit="banks", lo=1, source="published",
                              doc="FilterSRAMBankNum (USER: the bandwidth must be a multiple)")


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
    scalesim: ScaleSimConfig = field(default_factory=ScaleSimConfig)
    vector: VectorConfig = field(default_factory=VectorConfig)

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name in SECTIONS:
                v = getattr(self, f.name)
                if not isinstance(v, SECTIONS[f.name]):
                    raise InputError(f"expected a {SECTIONS[f.name].__name__}, got {v!r}",
                                     field=f.name)
                continue
            v = check_value(f, getattr(self, f.name), f.name)
            object.__setattr__(self, f.name, v)
        for check in (*_CHECKS, *_LAST_CHECKS):
            check(self)

    # ------------------------------------------------------------------ overrides
    def replace(self, key: str | Mapping[str, Any], value: Any = None, /, *,
                source: str = "replace") -> ArchConfig:
        """A copy with dotted keys changed, checked like a TOML file:
        ``arch.replace("memory.dram_bytes_per_cycle", 8)`` or
        ``arch.replace({"array.rows": 32, "array.cols": 32})`` (one step, so keys that must
        change together can)."""
        items = dict(key) if isinstance(key, Mapping) else {key: value}
        data: dict[str, Any] = {}
        for k, v in items.items():
            parts = str(k).split(".")
            if len(parts) == 1:
                data[parts[0]] = v
            elif len(parts) == 2:
                data.setdefault(parts[0], {})
                if not isinstance(data[parts[0]], dict):
                    raise InputError("set both as a table and as a value", source=source,
                                     field=parts[0])
                data[parts[0]][parts[1]] = v
            else:
                raise InputError("not a configuration key", source=source, field=str(k),
                                 allowed="SECTION.KEY or a top-level key (name, clock_mhz)")
        return from_dict(data, source=source, base=self)

    def with_array(self, rows: int, cols: int) -> ArchConfig:
        return self.replace({"array.rows": rows, "array.cols": cols}, source="--array")


SECTIONS = {"array": ArrayConfig, "dataflow": DataflowConfig, "weights": WeightConfig,
            "activations": ActivationConfig, "memory": MemoryConfig, "data": DataConfig,
            "scalesim": ScaleSimConfig, "vector": VectorConfig}


# ----------------------------------------------------------------------------- dicts and TOML in

def _with_source(exc: InputError, source: str) -> InputError:
    if exc.source is not None:
        return exc
    return InputError(exc.problem, source=source, line=exc.line, field=exc.field,
                      allowed=exc.allowed)


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
            kwargs[key] = check_value(f, value, dotted, source)
    try:
        return replace(base, **kwargs)
    except InputError as exc:
        raise _with_source(exc, source) from None


def check_fields(data: dict, source: str = "<config>") -> None:
    """Field-level checks only (known keys, types, ranges, choices) of a nested dict, on top of
    the defaults; cross-field rules are checked when a whole configuration is made."""
    for key, value in data.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise InputError("expected a table", source=source, field=key,
                                 allowed=f"[{key}] table")
            known = {f.name: f for f in fields(SECTIONS[key])}
            for k2, v2 in value.items():
                if k2 not in known:
                    raise InputError("unknown key", source=source, field=f"{key}.{k2}",
                                     allowed=", ".join(known))
                check_value(known[k2], v2, f"{key}.{k2}", source)
        else:
            known = {f.name: f for f in fields(ArchConfig) if f.name not in SECTIONS}
            if key not in known:
                raise InputError("unknown key", source=source, field=key,
                                 allowed=", ".join([*known, *(f"[{s}]" for s in SECTIONS)]))
            check_value(known[key], value, key, source)


def from_dict(data: dict, source: str = "<config>", base: ArchConfig | None = None) -> ArchConfig:
    """A checked configuration from a nested dict, on top of ``base`` (default: the defaults).
    A ``preset = "NAME"`` key is the presets' business
    (:func:`ewssim.config.presets.from_dict`)."""
    return _build(ArchConfig, data, "", source, base or ArchConfig())


def validate(arch: ArchConfig, source: str = "<config>") -> ArchConfig:
    """Run every field check and cross-field rule on ``arch`` again (for a configuration built
    with ``dataclasses.replace`` before the rules were registered); returns it."""
    try:
        for sec in SECTIONS:
            v = getattr(arch, sec)
            SECTIONS[sec](**{f.name: getattr(v, f.name) for f in fields(v)})
        ArchConfig(**{f.name: getattr(arch, f.name) for f in fields(arch)})
    except InputError as exc:
        raise _with_source(exc, source) from None
    return arch


def parse_array(text: str) -> tuple[int, int]:
    """``"RxC"`` -> (rows, cols)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise InputError(f"{text!r} is not an array shape", field="--array",
                         allowed="ROWSxCOLS with positive integers, e.g. 64x64")
    return int(parts[0]), int(parts[1])


def parse_set(text: str) -> tuple[str, Any]:
    """``"memory.dram_bytes_per_cycle=8"`` -> (key, value); the value is read as a TOML value
    (``8``, ``8.5``, ``true``, ``"bitmap"``), a bare word as a string."""
    key, sep, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key or not raw:
        raise InputError(f"{text!r} is not KEY=VALUE", field="--set",
                         allowed="SECTION.KEY=VALUE, e.g. memory.dram_bytes_per_cycle=8")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


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
    """TOML text that :func:`from_dict` reads back to an equal configuration."""
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
            key = f"{sec}.{f.name}" if sec else f.name
            rows.append({"key": key, "default": f.default,
                         "choices": FIELD_CHOICES.get(key, f.metadata.get("choices")),
                         "type": _field_type(f),
                         **{k: f.metadata.get(k) for k in ("unit", "source", "doc")}})
    return rows
