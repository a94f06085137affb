"""Topology files: ewssim's own CSV format, SCALE-Sim's conv and GEMM CSVs, and the zoo.

Format reference: ``docs/workloads.md``.  Every problem is an :class:`InputError` naming the
file, the line, the field and the allowed values; nothing else escapes the parsers.

* **ewssim CSV** -- a header row of named columns (any order, optional columns may be left out),
  ``#`` comment lines and blank lines anywhere, whitespace around fields ignored, an optional
  trailing comma.
* **SCALE-Sim conv CSV** -- ``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width,
  Channels, Num Filter, Strides,`` with an optional trailing ``Sparsity`` column (``N:M``).
  SCALE-Sim's conventions are kept: no padding, output size rounded up (``ceil_mode``), the
  same stride on both axes, and a layer whose
  name contains ``DP`` is depthwise (SCALE-Sim runs it as one layer per channel; here it is one
  layer with ``groups = channels``, the same GEMM blocks).
* **SCALE-Sim GEMM CSV** -- ``Layer, M, N, K,`` (optional ``Sparsity``).  As SCALE-Sim does, a row
  becomes a conv-shaped layer: ifmap ``M x K`` with 1 channel, ``N`` filters of ``1 x K``,
  stride 1, so the GEMM view is ``M x K`` times ``K x N``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ewssim.errors import InputError
from ewssim.workload.graph import INPUT, VECTOR_OPS, VectorOp
from ewssim.workload.layers import Layer, Network

__all__ = [
    "EWSSIM_COLUMNS",
    "REQUIRED_COLUMNS",
    "load_network",
    "load_topology",
    "parse_topology_text",
    "render_network",
    "zoo_dir",
    "zoo_names",
]

# ----------------------------------------------------------------------------- ewssim format
REQUIRED_COLUMNS: tuple[str, ...] = ("name", "type", "in_h", "in_w", "in_c", "out_c")
#: optional column -> default (as text, parsed like a value from the file)
OPTIONAL_COLUMNS: dict[str, str] = {
    "kernel_h": "1", "kernel_w": "1", "stride_h": "1", "stride_w": "1", "pad_h": "0",
    "pad_w": "0", "dil_h": "1", "dil_w": "1", "groups": "1", "bias": "0", "extra_params": "0",
    "batch": "1", "nm": "", "operand": "previous",
    # graphs: the node's inputs (space-separated earlier node names or "input"; empty: the
    # previous row) and a vector operator's output size (empty: a pool's window arithmetic,
    # otherwise the input's)
    "inputs": "", "out_h": "", "out_w": "",
}
EWSSIM_COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS + tuple(OPTIONAL_COLUMNS)
_INT_COLUMNS = tuple(c for c in EWSSIM_COLUMNS
                     if c not in ("name", "type", "bias", "nm", "operand", "inputs", "out_h",
                                  "out_w"))

# ----------------------------------------------------------------------------- SCALE-Sim format
# canonical key -> accepted header spellings (compared lower-case, inner whitespace collapsed)
_SS_CONV = {
    "name": ("layer name", "layer"),
    "ifmap_h": ("ifmap height",),
    "ifmap_w": ("ifmap width",),
    "filt_h": ("filter height",),
    "filt_w": ("filter width",),
    "channels": ("channels",),
    "num_filt": ("num filter", "num filters"),
    "stride": ("strides", "stride"),
    "sparsity": ("sparsity",),
}
_SS_GEMM = {
    "name": ("layer", "layer name"),
    "m": ("m",),
    "n": ("n",),
    "k": ("k",),
    "sparsity": ("sparsity",),
}
_SS_SHOW = {"name": "Layer name", "ifmap_h": "IFMAP Height", "ifmap_w": "IFMAP Width",
            "filt_h": "Filter Height", "filt_w": "Filter Width", "channels": "Channels",
            "num_filt": "Num Filter", "stride": "Strides", "sparsity": "Sparsity", "m": "M",
            "n": "N", "k": "K"}
_SS_CONV_HEADER = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                   "Num Filter, Strides[, Sparsity]")
_SS_GEMM_HEADER = "Layer, M, N, K[, Sparsity]"
# Layer field -> the SCALE-Sim column it comes from (for error messages)
_SS_CONV_FIELD = {"in_h": "IFMAP Height", "in_w": "IFMAP Width", "kernel_h": "Filter Height",
                  "kernel_w": "Filter Width", "in_c": "Channels", "out_c": "Num Filter",
                  "stride_h": "Strides", "stride_w": "Strides", "groups": "Channels",
                  "nm": "Sparsity", "name": "Layer name"}
_SS_GEMM_FIELD = {"in_h": "M", "in_w": "K", "kernel_w": "K", "out_c": "N", "nm": "Sparsity",
                  "name": "Layer"}

_INT_RE = re.compile(r"[+-]?[0-9]+")
_NM_RE = re.compile(r"([+-]?[0-9]+)\s*:\s*([+-]?[0-9]+)")
_MAX_DIGITS = 15  # far beyond any real layer; keeps int() away from huge-number limits


@dataclass(frozen=True)
class _Row:
    line: int
    fields: list[str]


def _rows(text: str) -> list[_Row]:
    """Non-blank, non-comment lines split on commas, fields stripped."""
    out = []
    for no, raw in enumerate(text.splitlines(), start=1):
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        out.append(_Row(no, [f.strip() for f in s.split(",")]))
    return out


def _norm(h: str) -> str:
    return " ".join(h.lower().split())


def _int(text: str, *, source: str, line: int, fld: str) -> int:
    if not _INT_RE.fullmatch(text) or len(text) > _MAX_DIGITS:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise InputError(f"{shown!r} is not an integer" if text else "missing value",
                         source=source, line=line, field=fld, allowed="integer")
    return int(text)


def _nm(text: str, *, source: str, line: int, fld: str) -> tuple[int, int] | None:
    if text == "":
        return None
    m = _NM_RE.fullmatch(text)
    if not m or max(len(m.group(1)), len(m.group(2))) > _MAX_DIGITS:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise InputError(f"{shown!r} is not an N:M pattern", source=source, line=line,
                         field=fld, allowed="empty or N:M with 1 <= N <= M, e.g. 2:4")
    return int(m.group(1)), int(m.group(2))


def _make_layer(kw: dict, *, source: str, line: int, fields: dict[str, str] | None = None) -> Layer:
    """Construct a Layer; its validation errors get the file, the line (and a renamed field)."""
    try:
        return Layer(**kw)
    except InputError as exc:
        fld = exc.field
        if fields and fld in fields:
            fld = fields[fld]
        raise InputError(exc.problem, source=source, line=line, field=fld,
                         allowed=exc.allowed) from None


def _fit_fields(row: _Row, ncols: int, *, source: str, extra_ok: bool = False) -> list[str]:
    """Tolerate one trailing empty field (a trailing comma); check the field count."""
    f = row.fields
    if len(f) > ncols and f[-1] == "":
        f = f[:-1]
    if len(f) == ncols or (extra_ok and len(f) == ncols + 1):
        return f
    raise InputError(f"{len(f)} fields, the header has {ncols}", source=source, line=row.line,
                     field=None, allowed=f"{ncols} comma-separated fields")


def _header(row: _Row) -> list[str]:
    h = [_norm(x) for x in row.fields]
    if len(h) > 1 and h[-1] == "":
        h = h[:-1]  # trailing comma
    return h


def _check_name(name: str, seen: set[str], *, source: str, line: int, fld: str) -> None:
    if not name:
        raise InputError("empty layer name", source=source, line=line, field=fld,
                         allowed="a non-empty, unique name")
    if name in seen:
        raise InputError(f"duplicate layer name {name!r}", source=source, line=line, field=fld,
                         allowed="a non-empty, unique name")
    seen.add(name)


# ----------------------------------------------------------------------------- ewssim parser
def _parse_ewssim(rows: list[_Row], source: str) -> tuple[list, dict[str, tuple[str, ...]]]:
    """Nodes (layers and vector operators) in file order and the inputs named per node."""
    hrow = rows[0]
    header = _header(hrow)
    for i, col in enumerate(header):
        if col not in EWSSIM_COLUMNS:
            raise InputError(f"unknown column {col!r}" if col else "empty column name",
                             source=source, line=hrow.line, field=col or f"column {i + 1}",
                             allowed=", ".join(EWSSIM_COLUMNS))
        if col in header[:i]:
            raise InputError(f"column {col!r} appears twice", source=source, line=hrow.line,
                             field=col, allowed="each column once")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise InputError(f"missing required column(s) {', '.join(missing)}", source=source,
                         line=hrow.line, field=missing[0],
                         allowed="required: " + ", ".join(REQUIRED_COLUMNS))
    nodes: list = []
    inputs: dict[str, tuple[str, ...]] = {}
    seen: set[str] = set()
    for row in rows[1:]:
        vals = dict(zip(header, _fit_fields(row, len(header), source=source), strict=True))
        for col, default in OPTIONAL_COLUMNS.items():
            if vals.get(col, "") == "":
                vals[col] = default
        loc = dict(source=source, line=row.line)
        _check_name(vals["name"], seen, fld="name", **loc)
        kind = vals["type"].lower()
        ins = tuple(vals["inputs"].split())
        for t in ins:
            if t != INPUT and t not in seen - {vals["name"]}:
                raise InputError(f"input {t!r} is not an earlier row", field="inputs",
                                 allowed=f"{INPUT!r} or names of earlier rows", **loc)
        if ins:
            inputs[vals["name"]] = ins
        ints = {col: _int(vals[col], fld=col, **loc) for col in _INT_COLUMNS}
        if kind in VECTOR_OPS:
            nodes.append(_vector_node(vals, kind, ints, loc))
            continue
        kw: dict = {"name": vals["name"], "kind": kind, **ints}
        if vals["bias"] not in ("0", "1"):
            raise InputError(f"{vals['bias'][:40]!r} is not 0 or 1", field="bias",
                             allowed="0 or 1 (empty = 0)", **loc)
        kw["bias"] = vals["bias"] == "1"
        kw["nm"] = _nm(vals["nm"], fld="nm", **loc)
        kw["operand"] = vals["operand"].lower()
        nodes.append(_make_layer(kw, **loc))
    return nodes, inputs


def _vector_node(vals: dict, op: str, ints: dict, loc: dict) -> VectorOp:
    """A vector operator row: its output size from ``out_h``/``out_w`` or, for a pool, from
    the window arithmetic of a layer (kernel, stride, padding), else the input's."""
    def out(col: str, size: int, k: int, s: int, p: int) -> int:
        if vals[col] != "":
            return _int(vals[col], fld=col, **loc)
        if VECTOR_OPS[op] == "pool":
            return (size + 2 * p - k) // s + 1
        return size

    h = out("out_h", ints["in_h"], ints["kernel_h"], ints["stride_h"], ints["pad_h"])
    w = out("out_w", ints["in_w"], ints["kernel_w"], ints["stride_w"], ints["pad_w"])
    try:
        return VectorOp(name=vals["name"], op=op, in_h=ints["in_h"], in_w=ints["in_w"],
                        in_c=ints["in_c"], out_h=h, out_w=w, out_c=ints["out_c"],
                        kernel_h=ints["kernel_h"], kernel_w=ints["kernel_w"],
                        batch=ints["batch"], extra_params=ints["extra_params"])
    except InputError as exc:
        raise InputError(exc.problem, field=exc.field, allowed=exc.allowed, **loc) from None


def render_network(net: Network) -> str:
    """The network as an ewssim topology CSV (every node, with its inputs); parsing it gives
    the same network."""
    cols = ["name", "type", "in_h", "in_w", "in_c", "out_c", "kernel_h", "kernel_w",
            "stride_h", "stride_w", "pad_h", "pad_w", "dil_h", "dil_w", "groups", "bias",
            "extra_params", "batch", "nm", "operand", "inputs", "out_h", "out_w"]
    lines = [f"# {net.name}" + (f" (from {net.source})" if net.source else ""),
             ",".join(cols)]
    nodes = net.graph_nodes
    for i, n in enumerate(nodes):
        ins = net.inputs_of(n.name)
        default = (nodes[i - 1].name,) if i else (INPUT,)
        v = {"name": n.name, "inputs": "" if ins == default else " ".join(ins),
             "in_h": n.in_h, "in_w": n.in_w, "in_c": n.in_c, "out_c": n.out_c,
             "kernel_h": n.kernel_h, "kernel_w": n.kernel_w, "batch": n.batch,
             "extra_params": n.extra_params}
        if isinstance(n, Layer):
            v.update(type=n.kind, stride_h=n.stride_h, stride_w=n.stride_w, pad_h=n.pad_h,
                     pad_w=n.pad_w, dil_h=n.dil_h, dil_w=n.dil_w, groups=n.groups,
                     bias=int(n.bias), nm="" if n.nm is None else f"{n.nm[0]}:{n.nm[1]}",
                     operand=n.operand)
        else:
            v.update(type=n.op, out_h=n.out_h, out_w=n.out_w)
        lines.append(",".join(str(v.get(c, "")) for c in cols))
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- SCALE-Sim parser
def _columns(header: list[str], spec: dict[str, tuple[str, ...]], *, source: str, line: int,
             expected: str) -> dict[str, int]:
    lookup = {alias: key for key, aliases in spec.items() for alias in aliases}
    idx: dict[str, int] = {}
    for i, col in enumerate(header):
        key = lookup.get(col)
        if key is None:
            raise InputError(f"unknown SCALE-Sim column {col!r}" if col else "empty column name",
                             source=source, line=line, field=col or f"column {i + 1}",
                             allowed=expected)
        if key in idx:
            raise InputError(f"column {col!r} appears twice", source=source, line=line,
                             field=col, allowed=expected)
        idx[key] = i
    missing = [k for k in spec if k != "sparsity" and k not in idx]
    if missing:
        raise InputError(f"missing SCALE-Sim column(s) {', '.join(_SS_SHOW[k] for k in missing)}",
                         source=source, line=line, field=_SS_SHOW[missing[0]], allowed=expected)
    return idx


def _parse_scalesim(rows: list[_Row], source: str, gemm: bool) -> list[Layer]:
    hrow = rows[0]
    header = _header(hrow)
    spec = _SS_GEMM if gemm else _SS_CONV
    expected = _SS_GEMM_HEADER if gemm else _SS_CONV_HEADER
    idx = _columns(header, spec, source=source, line=hrow.line, expected=expected)
    has_sparsity = "sparsity" in idx
    layers: list[Layer] = []
    seen: set[str] = set()
    for row in rows[1:]:
        # A row may carry a trailing N:M value even when the header has no Sparsity column.
        f = _fit_fields(row, len(header), source=source, extra_ok=not has_sparsity)
        loc = dict(source=source, line=row.line)
        sp_text = f[idx["sparsity"]] if has_sparsity else (f[-1] if len(f) > len(header) else "")
        nm = _nm(sp_text, fld="Sparsity", **loc)
        name = f[idx["name"]]
        _check_name(name, seen, fld="Layer" if gemm else "Layer name", **loc)

        def val(key: str, _f=f, _loc=loc) -> int:
            return _int(_f[idx[key]], fld=_SS_SHOW[key], **_loc)

        if gemm:
            m, n, k = val("m"), val("n"), val("k")
            kw = dict(name=name, kind="conv", in_h=m, in_w=k, in_c=1, out_c=n, kernel_h=1,
                      kernel_w=k, nm=nm, ceil_mode=True)
            layers.append(_make_layer(kw, fields=_SS_GEMM_FIELD, **loc))
        else:
            c, nf, s = val("channels"), val("num_filt"), val("stride")
            kw = dict(name=name, kind="conv", in_h=val("ifmap_h"), in_w=val("ifmap_w"), in_c=c,
                      out_c=nf, kernel_h=val("filt_h"), kernel_w=val("filt_w"), stride_h=s,
                      stride_w=s, nm=nm, ceil_mode=True)
            if "DP" in name and c > 0 and nf > 0:
                # SCALE-Sim: one 1-channel layer of `nf` filters per input channel.
                kw.update(groups=c, out_c=c * nf)
            layers.append(_make_layer(kw, fields=_SS_CONV_FIELD, **loc))
    return layers


# ----------------------------------------------------------------------------- entry points
def parse_topology_text(text: str, source: str = "<text>", name: str | None = None) -> Network:
    """Parse a topology in any supported format (detected from the header row)."""
    rows = _rows(text)
    if not rows:
        raise InputError("no header row and no layers", source=source,
                         allowed="an ewssim or SCALE-Sim topology CSV")
    header = _header(rows[0])
    inputs: dict[str, tuple[str, ...]] = {}
    if "name" in header or "type" in header:
        layers, inputs = _parse_ewssim(rows, source)
    elif header and header[0] in ("layer name", "layer"):
        gemm = "m" in header and "ifmap height" not in header
        layers = _parse_scalesim(rows, source, gemm)
    else:
        raise InputError("unrecognised header row", source=source, line=rows[0].line,
                         field="header",
                         allowed=f"ewssim columns ({', '.join(REQUIRED_COLUMNS)}, ...) or "
                                 f"SCALE-Sim '{_SS_CONV_HEADER}' or '{_SS_GEMM_HEADER}'")
    if not layers:
        raise InputError("the topology has no layers", source=source, line=rows[0].line,
                         allowed="at least one layer row after the header")
    if name is None:
        name = Path(source).stem if source else "network"
    if not any(isinstance(n, Layer) for n in layers):
        raise InputError("the topology has no array layer", source=source, line=rows[0].line,
                         field="type", allowed="at least one conv, linear or matmul row")
    return Network.from_nodes(name, layers, inputs, source=source)


def load_topology(path: str | Path, name: str | None = None) -> Network:
    """Read and parse a topology CSV file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError("no such file", source=str(path), field="topology",
                         allowed="an existing CSV file") from None
    except (IsADirectoryError, PermissionError, OSError) as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", source=str(path),
                         field="topology", allowed="a readable CSV file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", source=str(path),
                         field="topology", allowed="a UTF-8 CSV file") from None
    return parse_topology_text(text, source=str(path), name=name)


# ----------------------------------------------------------------------------- zoo
def zoo_dir() -> Path:
    """Directory of the zoo CSVs: the repository's ``workloads/`` (editable install or a
    checkout) or the copy packaged as ``ewssim/workload/zoo`` (wheel install)."""
    here = Path(__file__).resolve().parent
    for cand in (here.parents[1] / "workloads", here / "zoo"):
        if (cand / "resnet50.csv").is_file():
            return cand
    raise InputError("the network zoo is not installed (no workloads/ directory found)",
                     source=str(here.parents[1] / "workloads"))


#: zoo entries that are ONNX models: name -> (file in the zoo directory, input shape)
ONNX_ZOO: dict[str, tuple[str, tuple[int, ...]]] = {
    "ppocr-det": ("ppocr-det.onnx", (1, 3, 640, 640)),
}


def zoo_names() -> list[str]:
    """Names of the zoo networks, sorted."""
    d = zoo_dir()
    onnx_names = [k for k, (f, _) in ONNX_ZOO.items() if (d / f).is_file()]
    return sorted([p.stem for p in d.glob("*.csv")] + onnx_names)


def load_network(spec: str, input_shape: tuple[int, ...] | None = None) -> Network:
    """A zoo network by name (case-insensitive), a topology CSV by path (either format), or an
    ONNX model by path (``input_shape`` fixes its input; :mod:`ewssim.workload.onnx`)."""
    spec = str(spec)
    key = spec.strip().lower()
    try:
        names = zoo_names()
    except InputError:
        names = []
    if key in ONNX_ZOO and key in names:
        from ewssim.workload.onnx import import_onnx

        fname, shape = ONNX_ZOO[key]
        return import_onnx(zoo_dir() / fname, input_shape or shape, name=key).network
    p = Path(spec)
    if key.endswith(".onnx"):
        from ewssim.workload.onnx import import_onnx

        return import_onnx(p, input_shape).network
    if input_shape is not None:
        raise InputError("an input shape applies to ONNX models only", source=spec,
                         field="--input-shape", allowed="an .onnx model or the ONNX zoo entries "
                         + ", ".join(ONNX_ZOO))
    if key in names:
        return load_topology(zoo_dir() / f"{key}.csv", name=key)
    if key and p.is_file():
        return load_topology(p)
    if key and p.exists():
        raise InputError("is not a file", source=spec, field="network",
                         allowed="a zoo name or a topology CSV file")
    raise InputError(f"unknown network {spec!r} (not a zoo name, no such file)",
                     field="network", allowed=", ".join(names) + " or a CSV or .onnx file path")
