"""Import an ONNX model as an ewssim graph workload (``ewssim workload import MODEL.onnx``).

:func:`import_onnx` reads the model with the ``onnx`` package (``pip install 'ewssim[onnx]'``,
imported lazily), fixes the network input's shape (``input_shape``, needed when the file's
input dimensions are dynamic), and walks the nodes in file (topological) order propagating
concrete shapes with numpy.  Tensors computed from constants only -- shape subgraphs
(``Shape``, ``Gather``, ``Slice``, ``Concat``, ``Unsqueeze``, ``Cast``, ``ConstantOfShape``,
arithmetic on constants, ...) and reshaped weights -- are evaluated here and produce no node.
``onnx.shape_inference`` is run too, as a cross-check: a disagreement is reported in ``notes``.

Each remaining ONNX node becomes one ewssim node (see :mod:`ewssim.workload.graph`):

* ``Conv`` -> a ``conv`` layer (groups, dilations, strides; ``auto_pad``; asymmetric pads only
  when a symmetric pad gives the same output size -- then a note says so -- else an error).
  A ``BatchNormalization`` whose input is a conv's only consumer is folded into the conv's
  weights and bias (no node).
* ``ConvTranspose`` (kernel ``k``, stride ``s``, ``k % s == 0``, ``k / s`` odd, dilation 1) ->
  its phase decomposition: a stride-1 ``k/s x k/s`` conv over the input with
  ``out_c = Cout * s_h * s_w`` (the sub-pixel outputs; a depth-to-space, which moves no data
  through the array, gives the ONNX output).  Its MACs are the transposed conv's
  ``input elements x Cout/groups x kh x kw``.  Other geometries are refused.
* ``Gemm``, ``MatMul`` with a constant operand -> a ``linear`` layer over ``M`` tokens;
  ``MatMul`` of two activations -> a ``matmul`` layer (``batch`` = product of the broadcast
  leading dimensions, ``M`` rows, ``K`` reduction, ``N`` columns; its second input is the
  stationary operand, both inputs are recorded).
* Elementwise, activation, pooling, reduction, softmax, normalisation, resize and data-movement
  operators -> a :class:`~ewssim.workload.graph.VectorOp` (:data:`ONNX_VECTOR_OPS`).  An
  operand that is a constant is not a graph input.  A ``BatchNormalization`` not folded is a
  ``mul`` (scale and shift per channel: one element per output element, ``extra_params`` =
  ``2 * C``); ``LeakyRelu``/``PRelu`` are modelled as ``relu`` (same class and work).
* ``Reshape``, ``Flatten``, ``Squeeze``, ``Unsqueeze``, ``Identity``, ``Dropout``, ``Cast`` ->
  free aliases of their input (no node, no data movement).
* Any other operator is an :class:`~ewssim.errors.InputError` naming the node.

Tensor shapes map to ewssim's per-image ``(batch, h, w, c)`` as follows: rank 4 ``NCHW`` ->
``(N, H, W, C)``; rank 3 ``[B, T, D]`` -> ``(B, T, 1, D)``; rank 2 ``[T, D]`` -> ``(1, T, 1, D)``;
rank 1 ``[D]`` -> ``(1, 1, 1, D)``; rank 0 -> all 1; rank >= 5 ``[N, C, D1, .., H, W]`` ->
``(N * D1 * .., H, W, C)``.  ``MatMul``/``Gemm`` operands use the matrix view instead: the
last two dimensions are rows and columns, the leading ones are the batch.

Weights are returned per layer in ``weight_shape`` order (``(out_c, in_c / groups, kh, kw)``);
``has_weights`` is False when initializers are stripped or external data files are missing
(the topology still imports).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ewssim.errors import InputError
from ewssim.workload.graph import INPUT, VectorOp, collapse_gated
from ewssim.workload.layers import Layer, Network

__all__ = ["ALIAS_OPS", "ONNX_VECTOR_OPS", "OnnxImport", "cached_imports", "import_onnx",
           "parse_input_shape"]

#: ONNX operator -> ewssim vector operator
ONNX_VECTOR_OPS: dict[str, str] = {
    "Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Max": "max", "Min": "min",
    "Relu": "relu", "LeakyRelu": "relu", "PRelu": "relu", "Clip": "clip",
    "HardSigmoid": "hardsigmoid", "HardSwish": "hardswish", "Sigmoid": "sigmoid",
    "Tanh": "tanh", "Gelu": "gelu", "Erf": "erf", "Sqrt": "sqrt", "Pow": "pow", "Exp": "exp",
    "Reciprocal": "reciprocal", "Neg": "neg", "MaxPool": "maxpool", "AveragePool": "avgpool",
    "GlobalAveragePool": "globalavgpool", "GlobalMaxPool": "reducemax",
    "ReduceMean": "reducemean", "ReduceSum": "reducesum", "ReduceMax": "reducemax",
    "Softmax": "softmax", "LogSoftmax": "softmax", "LayerNormalization": "layernorm",
    "BatchNormalization": "mul", "Resize": "resize", "Upsample": "resize", "Concat": "concat",
    "Slice": "slice", "Gather": "slice", "Split": "slice", "Transpose": "transpose", "Pad": "pad",
}
#: operators that only relabel their input (no node)
ALIAS_OPS: tuple[str, ...] = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity",
                              "Dropout", "Cast")
ARRAY_OPS: tuple[str, ...] = ("Conv", "ConvTranspose", "Gemm", "MatMul")
#: operators evaluated with numpy when every input is a constant
_FOLDABLE = ("Shape", "Gather", "Slice", "Concat", "Unsqueeze", "Squeeze", "Cast", "Reshape",
             "ConstantOfShape", "Add", "Sub", "Mul", "Div", "Identity", "Flatten", "Transpose",
             "Range", "Equal", "Where", "Expand", "Floor", "Ceil", "Sqrt", "Neg", "Max", "Min",
             "Pow", "Reciprocal", "Exp", "Relu", "Clip", "ReduceProd", "Size", "Tile", "Abs",
             "Less", "Greater", "Not", "Dropout", "Sigmoid", "Tanh", "MatMul")
_ALLOWED_OPS = ", ".join(sorted({*ARRAY_OPS, *ONNX_VECTOR_OPS, *ALIAS_OPS, "Constant", "Shape"}))
_INSTALL = "pip install 'ewssim[onnx]'"


@dataclass
class OnnxImport:
    """What :func:`import_onnx` returns (see the module docstring)."""

    network: Network
    #: layer name -> float32 array of ``layer.weight_shape`` (batch norms folded in)
    weights: dict[str, np.ndarray]
    has_weights: bool
    coverage: dict
    notes: list[str] = field(default_factory=list)
    input_shape: tuple[int, ...] = ()
    source: str = ""
    #: layer name -> float32 bias of ``out_c`` (conv bias and folded batch norm), when present
    biases: dict[str, np.ndarray] = field(default_factory=dict)

    def summary(self) -> dict:
        net = self.network
        return {"name": net.name, "source": self.source, "input_shape": list(self.input_shape),
                "nodes": len(net.graph_nodes), "array_layers": len(net.layers),
                "vector_ops": len(net.vector_ops), "macs": net.macs, "weights": net.weights,
                "params": net.params, "has_weights": self.has_weights,
                "coverage": self.coverage, "notes": self.notes}


def parse_input_shape(text: str | tuple | list | None) -> tuple[int, ...] | None:
    """``"1,3,640,640"`` (or ``1x3x640x640``) -> ``(1, 3, 640, 640)``; None stays None."""
    if text is None:
        return None
    if isinstance(text, (tuple, list)):
        parts = list(text)
    else:
        s = str(text).strip()
        parts = [p.strip() for p in re.split(r"[,xX]", s)] if s else []
    out = []
    for p in parts:
        if isinstance(p, bool) or not (isinstance(p, int) or re.fullmatch(r"[+-]?\d{1,9}", str(p))):
            raise InputError(f"{str(text)[:60]!r} is not a list of integers",
                             field="--input-shape", allowed="comma-separated integers >= 1, "
                             "e.g. 1,3,640,640")
        out.append(int(p))
    if not out:
        raise InputError("empty input shape", field="--input-shape",
                         allowed="comma-separated integers >= 1, e.g. 1,3,640,640")
    for d in out:
        if d < 1:
            raise InputError(f"dimension {d} in {tuple(out)} is not positive",
                             field="--input-shape", allowed="integers >= 1")
    return tuple(out)


# ----------------------------------------------------------------------------- helpers
def _onnx():
    try:
        import onnx  # noqa: PLC0415
    except ImportError:
        raise InputError(f"reading ONNX models needs the onnx package: {_INSTALL}",
                         field="onnx", allowed=_INSTALL) from None
    return onnx


def _bhwc(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(batch, h, w, c) of a tensor shape (module docstring)."""
    r = len(shape)
    if r == 0:
        return 1, 1, 1, 1
    if r == 1:
        return 1, 1, 1, shape[0]
    if r == 2:
        return 1, shape[0], 1, shape[1]
    if r == 3:
        return shape[0], shape[1], 1, shape[2]
    if r == 4:
        return shape[0], shape[2], shape[3], shape[1]
    return shape[0] * math.prod(shape[2:-2]), shape[-2], shape[-1], shape[1]


def _sanitise(raw: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.:@/+\-\[\]]", "_", raw.strip())
    return s.lstrip("#") or "node"


class _Names:
    def __init__(self) -> None:
        self.used: set[str] = {INPUT}

    def make(self, raw: str) -> str:
        base = _sanitise(raw)
        name, i = base, 2
        while name in self.used or name.lower() == INPUT:
            name = f"{base}_{i}"
            i += 1
        self.used.add(name)
        return name


def _attrs(onnx, node) -> dict:
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        out[a.name] = v
    return out


def _to_array(onnx, t, base_dir: str | None) -> np.ndarray | None:
    """A TensorProto's values, or None when its data is absent (stripped, external missing)."""
    try:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            if base_dir is None:
                return None
            from onnx.external_data_helper import load_external_data_for_tensor  # noqa: PLC0415
            load_external_data_for_tensor(t, base_dir)
            t.data_location = onnx.TensorProto.DEFAULT
            del t.external_data[:]
        a = onnx.numpy_helper.to_array(t)
    except Exception:  # noqa: BLE001 - any failure means the data is not there
        return None
    if tuple(a.shape) != tuple(t.dims):
        return None
    return np.asarray(a)


def _ints(v) -> list[int]:
    return [int(x) for x in np.asarray(v).reshape(-1)]


# ----------------------------------------------------------------------------- the importer
class _Importer:
    def __init__(self, onnx, model, source: str, input_shape, name: str, base_dir: str | None):
        self.onnx = onnx
        self.model = model
        self.g = model.graph
        self.source = source
        self.name = name
        self.base_dir = base_dir
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                          13)
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.consts: dict[str, np.ndarray | None] = {}
        self.producer: dict[str, str] = {}
        self.nodes: list = []
        self.inputs: dict[str, tuple[str, ...]] = {}
        self.weights: dict[str, np.ndarray | None] = {}
        self.bias: dict[str, np.ndarray | None] = {}
        self.phase: dict[str, tuple[int, int]] = {}  # transposed-conv layer -> (s_h, s_w)
        self.notes: list[str] = []
        self.names = _Names()
        self.macs_file = 0
        self.count = {"array_ops": 0, "vector_ops_in_file": 0, "vector_ops_modelled": 0,
                      "view_ops": 0, "shape_ops": 0, "constants": 0, "bn_folded": 0}
        self.missing_data = False
        self.fold_bn: dict[str, str] = {}  # BN node output -> layer name
        self.layer_of_tensor: dict[str, str] = {}
        self.input_shape = input_shape
        self.consumers: dict[str, int] = {}
        for n in self.g.node:
            for t in n.input:
                if t:
                    self.consumers[t] = self.consumers.get(t, 0) + 1
        for o in self.g.output:
            self.consumers[o.name] = self.consumers.get(o.name, 0) + 1
        self.first_consumer: dict[str, object] = {}
        for n in self.g.node:
            for t in n.input:
                if t and t not in self.first_consumer:
                    self.first_consumer[t] = n

    # ------------------------------------------------------------------ errors
    def err(self, problem: str, fld: str | None = None, allowed: str | None = None):
        return InputError(problem, source=self.source, field=fld, allowed=allowed)

    # ------------------------------------------------------------------ inputs and constants
    def setup(self) -> None:
        onnx = self.onnx
        for t in self.g.initializer:
            a = _to_array(onnx, t, self.base_dir)
            if a is None:
                self.missing_data = True
            self.consts[t.name] = a
            self.shapes[t.name] = tuple(int(d) for d in t.dims)
        real = [i for i in self.g.input if i.name not in self.consts]
        if not real:
            raise self.err("the model has no input tensor", "input")
        main = real[0]
        dims = self._declared(main)
        if dims is None:
            raise self.err(f"input '{main.name}' is not a tensor", "input")
        given = self.input_shape
        if given is None:
            if any(d is None or d < 1 for d in dims):
                shown = ",".join("?" if d is None or d < 1 else str(d) for d in dims)
                raise self.err(f"input '{main.name}' has dynamic dimensions ({shown}): give the "
                               "shape with --input-shape (input_shape=)", "--input-shape",
                               f"{len(dims)} comma-separated integers >= 1")
            given = tuple(dims)
        given = tuple(int(d) for d in given)
        if len(given) != len(dims):
            raise self.err(f"input '{main.name}' has rank {len(dims)}, the given shape "
                           f"{given} has rank {len(given)}", "--input-shape",
                           f"{len(dims)} integers")
        for i, (d, g) in enumerate(zip(dims, given, strict=True)):
            if g < 1:
                raise self.err(f"input dimension {i} is {g}", "--input-shape", "integers >= 1")
            if d is not None and d >= 1 and d != g:
                raise self.err(f"input '{main.name}' dimension {i} is fixed to {d} in the "
                               f"file, the given shape says {g}", "--input-shape",
                               ",".join(str(x) if x and x >= 1 else "N" for x in dims))
        self.input_shape = given
        self.input_name = main.name
        self.shapes[main.name] = given
        self.producer[main.name] = INPUT
        for extra in real[1:]:
            d = self._declared(extra)
            if d is None or any(x is None or x < 1 for x in d):
                raise self.err(f"a second network input '{extra.name}' with dynamic shape; "
                               "only one input tensor is supported", "input")
            self.consts[extra.name] = None
            self.shapes[extra.name] = tuple(d)
            self.missing_data = True
            self.notes.append(f"graph input '{extra.name}' {tuple(d)} taken as a constant "
                              "without data (stripped initializer)")

    @staticmethod
    def _declared(vi) -> list[int | None] | None:
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type") or not tt.HasField("shape"):
            return None
        return [int(d.dim_value) if d.HasField("dim_value") else None for d in tt.shape.dim]

    # ------------------------------------------------------------------ main loop
    def run(self) -> None:
        self.setup()
        for idx, node in enumerate(self.g.node):
            label = node.name or f"{node.op_type}_{idx}"
            try:
                self.visit(node, label)
            except InputError:
                raise
            except Exception as exc:  # noqa: BLE001 - a malformed node must not show a traceback
                msg = " ".join(str(exc).split())[:200]
                raise self.err(f"node '{label}' ({node.op_type}): cannot import: "
                               f"{type(exc).__name__}: {msg}", "node") from None

    def known(self, t: str, label: str) -> None:
        if t not in self.shapes:
            raise self.err(f"node '{label}' reads tensor '{t}', which no earlier node produces "
                           "(truncated file or nodes out of order?)", "input")

    def visit(self, node, label: str) -> None:
        op = node.op_type
        if node.domain not in ("", "ai.onnx"):
            raise self.err(f"node '{label}': operator '{node.domain}.{op}' is not modelled",
                           "op_type", _ALLOWED_OPS)
        a = _attrs(self.onnx, node)
        ins = list(node.input)
        if op == "Constant":
            self.constant(node, a, label)
            return
        for t in ins:
            if t:
                self.known(t, label)
        act = [t for t in ins if t and t in self.producer]
        if op == "Shape" or (not act and (op in _FOLDABLE or op in ALIAS_OPS)):
            self.fold(node, a, label)
            return
        if not act:
            raise self.err(f"node '{label}': operator '{op}' on constants only is not "
                           "modelled", "op_type", ", ".join(_FOLDABLE))
        used_outputs = [o for o in node.output[1:] if o and o in self.consumers]
        if used_outputs and op != "Split":
            raise self.err(f"node '{label}': output '{used_outputs[0]}' of {op} is used; only "
                           "the first output is modelled", "output")
        if op in ALIAS_OPS:
            out = node.output[0]
            self.shapes[out] = self.shape_of(node, a, label)
            self.producer[out] = self.producer[ins[0]]
            self.count["view_ops"] += 1
            return
        if op in ("Conv", "ConvTranspose"):
            self.conv(node, a, label, transpose=op == "ConvTranspose")
        elif op in ("Gemm", "MatMul"):
            self.gemm(node, a, label)
        elif op in ONNX_VECTOR_OPS:
            self.vector(node, a, label)
        else:
            raise self.err(f"node '{label}': operator '{op}' is not modelled", "op_type",
                           _ALLOWED_OPS)

    # ------------------------------------------------------------------ constants
    def constant(self, node, a: dict, label: str) -> None:
        onnx = self.onnx
        v = None
        if "value" in node_attr_names(node):
            t = next(x.t for x in node.attribute if x.name == "value")
            v = _to_array(onnx, t, self.base_dir)
            shape = tuple(int(d) for d in t.dims)
            if v is None:
                self.missing_data = True
        elif "value_float" in a:
            v = np.array(a["value_float"], dtype=np.float32)
        elif "value_floats" in a:
            v = np.array(a["value_floats"], dtype=np.float32)
        elif "value_int" in a:
            v = np.array(a["value_int"], dtype=np.int64)
        elif "value_ints" in a:
            v = np.array(a["value_ints"], dtype=np.int64)
        else:
            raise self.err(f"node '{label}': Constant without a supported value attribute",
                           "op_type", "value, value_float(s), value_int(s)")
        if v is not None:
            shape = tuple(v.shape)
        self.consts[node.output[0]] = v
        self.shapes[node.output[0]] = shape
        self.count["constants"] += 1

    def fold(self, node, a: dict, label: str) -> None:
        """Evaluate a node whose inputs are all constants (or a Shape)."""
        op = node.op_type
        ins = list(node.input)
        out = node.output[0]
        vals = [self.consts.get(t) if t else None for t in ins]
        self.count["shape_ops"] += 1
        if op == "Shape":
            s = np.array(self.shapes[ins[0]], dtype=np.int64)
            start, end = a.get("start", 0), a.get("end", None)
            s = s[start:end]
            self.consts[out], self.shapes[out] = s, tuple(s.shape)
            return
        if any(t and self.consts.get(t) is None for t in ins):
            # data missing (stripped weights): keep the shape, no value
            self.shapes[out] = self.shape_of(node, a, label)
            self.consts[out] = None
            return
        v = _evaluate(op, a, vals, self.opset)
        self.consts[out] = np.asarray(v)
        self.shapes[out] = tuple(np.asarray(v).shape)

    def cval(self, t: str, label: str, what: str) -> np.ndarray:
        if t not in self.consts:
            raise self.err(f"node '{label}': {what} '{t}' must be a constant (it is computed "
                           "from the network input)", "input")
        v = self.consts[t]
        if v is None:
            raise self.err(f"node '{label}': {what} '{t}' has no data in the file (stripped "
                           "initializer or missing external data)", "input")
        return v

    # ------------------------------------------------------------------ shapes
    def shape_of(self, node, a: dict, label: str) -> tuple[int, ...]:
        op = node.op_type
        ins = list(node.input)
        sh = [self.shapes.get(t) if t else None for t in ins]
        x = sh[0]
        if op in ("Identity", "Dropout", "Cast") or op in (
                "Relu", "LeakyRelu", "PRelu", "Clip", "HardSigmoid", "HardSwish", "Sigmoid",
                "Tanh", "Gelu", "Erf", "Sqrt", "Exp", "Reciprocal", "Neg", "Softmax",
                "LogSoftmax", "LayerNormalization", "BatchNormalization"):
            return tuple(x)
        if op in ("Add", "Sub", "Mul", "Div", "Max", "Min", "Pow", "Where", "Equal"):
            return tuple(np.broadcast_shapes(*[s for s in sh if s is not None]))
        if op == "Reshape":
            target = _ints(self.cval(ins[1], label, "shape")) if len(ins) > 1 else a["shape"]
            return _reshape(tuple(x), target, a.get("allowzero", 0))
        if op == "Flatten":
            ax = a.get("axis", 1) % (len(x) + 1) if x else 0
            return (math.prod(x[:ax]), math.prod(x[ax:]))
        if op == "Squeeze":
            axes = self._axes(node, a, label)
            if axes is None:
                return tuple(d for d in x if d != 1)
            axes = {ax % len(x) for ax in axes}
            return tuple(d for i, d in enumerate(x) if i not in axes)
        if op == "Unsqueeze":
            axes = self._axes(node, a, label) or []
            r = len(x) + len(axes)
            axes = sorted(ax % r for ax in axes)
            out = list(x)
            for ax in axes:
                out.insert(ax, 1)
            return tuple(out)
        if op == "Transpose":
            perm = a.get("perm", list(range(len(x)))[::-1])
            return tuple(x[p] for p in perm)
        if op == "Concat":
            ax = a["axis"] % len(x)
            out = list(x)
            out[ax] = sum(s[ax] for s in sh if s is not None)
            return tuple(out)
        if op == "Slice":
            return self._slice_shape(node, a, label, x)
        if op == "Gather":
            ax = a.get("axis", 0) % len(x)
            idx = sh[1]
            return tuple(x[:ax]) + tuple(idx) + tuple(x[ax + 1:])
        if op == "Pad":
            if self.opset >= 11 and len(ins) > 1:
                pads = _ints(self.cval(ins[1], label, "pads"))
            else:
                pads = a.get("pads", [0] * 2 * len(x))
            r = len(x)
            axes = list(range(r))
            if len(ins) > 3 and ins[3]:
                axes = [ax % r for ax in _ints(self.cval(ins[3], label, "axes"))]
            out = list(x)
            for j, ax in enumerate(axes):
                out[ax] = x[ax] + pads[j] + pads[j + len(axes)]
            return tuple(out)
        if op in ("Resize", "Upsample"):
            return self._resize_shape(node, a, label, x)
        if op in ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceProd"):
            axes = a.get("axes")
            if axes is None and len(ins) > 1 and ins[1]:
                axes = _ints(self.cval(ins[1], label, "axes"))
            if not axes:
                if a.get("noop_with_empty_axes", 0):
                    return tuple(x)
                axes = list(range(len(x)))
            axes = {ax % len(x) for ax in axes}
            keep = a.get("keepdims", 1)
            return tuple((1 if i in axes else d) for i, d in enumerate(x)
                         if keep or i not in axes)
        if op in ("GlobalAveragePool", "GlobalMaxPool"):
            return tuple(x[:2]) + (1,) * (len(x) - 2)
        if op in ("MaxPool", "AveragePool"):
            k = a["kernel_shape"]
            geo = self._geometry(a, x[2:], k, label)
            return tuple(x[:2]) + tuple(o for o, _ in geo)
        if op == "Split":
            raise AssertionError("Split is handled per output")
        raise self.err(f"node '{label}': no shape rule for operator '{op}'", "op_type",
                       _ALLOWED_OPS)

    def _axes(self, node, a, label):
        if "axes" in a:
            return list(a["axes"])
        if len(node.input) > 1 and node.input[1]:
            return _ints(self.cval(node.input[1], label, "axes"))
        return None

    def _slice_shape(self, node, a, label, x):
        ins = list(node.input)
        if self.opset >= 10 and len(ins) >= 3:
            starts = _ints(self.cval(ins[1], label, "starts"))
            ends = _ints(self.cval(ins[2], label, "ends"))
            axes = (_ints(self.cval(ins[3], label, "axes")) if len(ins) > 3 and ins[3]
                    else list(range(len(starts))))
            steps = (_ints(self.cval(ins[4], label, "steps")) if len(ins) > 4 and ins[4]
                     else [1] * len(starts))
        else:
            starts, ends = list(a["starts"]), list(a["ends"])
            axes = list(a.get("axes", range(len(starts))))
            steps = [1] * len(starts)
        out = list(x)
        for s, e, ax, st in zip(starts, ends, axes, steps, strict=True):
            ax %= len(x)
            out[ax] = len(range(*slice(s, e, st).indices(x[ax])))
        return tuple(out)

    def _resize_shape(self, node, a, label, x):
        ins = list(node.input)
        if node.op_type == "Upsample" or self.opset < 11:
            scales = self.cval(ins[1], label, "scales") if len(ins) > 1 else a["scales"]
            return tuple(int(math.floor(d * float(s))) for d, s in
                         zip(x, np.asarray(scales).reshape(-1), strict=True))
        if len(ins) > 3 and ins[3] and self.shapes.get(ins[3]) not in (None, (0,)):
            sizes = _ints(self.cval(ins[3], label, "sizes"))
            axes = a.get("axes", list(range(len(x))))
            out = list(x)
            for ax, s in zip(axes, sizes, strict=True):
                out[ax % len(x)] = s
            return tuple(out)
        scales = np.asarray(self.cval(ins[2], label, "scales")).reshape(-1)
        axes = a.get("axes", list(range(len(x))))
        out = list(x)
        for ax, s in zip(axes, scales, strict=True):
            out[ax % len(x)] = int(math.floor(x[ax % len(x)] * float(s)))
        return tuple(out)

    def _geometry(self, a, spatial, kernel, label, dil=None):
        """[(out size, (pad_begin, pad_end))] per spatial axis (Conv / pooling rules)."""
        r = len(spatial)
        strides = list(a.get("strides", [1] * r))
        dil = list(dil or a.get("dilations", [1] * r))
        auto = a.get("auto_pad", "NOTSET")
        ceil = a.get("ceil_mode", 0)
        out = []
        for i in range(r):
            eff = dil[i] * (kernel[i] - 1) + 1
            if auto in ("SAME_UPPER", "SAME_LOWER"):
                o = -(-spatial[i] // strides[i])
                tot = max((o - 1) * strides[i] + eff - spatial[i], 0)
                lo = tot // 2 if auto == "SAME_UPPER" else tot - tot // 2
                pads = (lo, tot - lo)
            elif auto == "VALID":
                pads = (0, 0)
            else:
                p = list(a.get("pads", [0] * 2 * r))
                pads = (p[i], p[i + r])
            span = spatial[i] + pads[0] + pads[1] - eff
            if span < 0:
                raise self.err(f"node '{label}': kernel {kernel[i]} (dilated {eff}) is larger "
                               f"than the padded input ({spatial[i] + pads[0] + pads[1]})",
                               "kernel_shape")
            o = (-(-span // strides[i]) if ceil else span // strides[i]) + 1
            out.append((o, pads))
        return out

    # ------------------------------------------------------------------ nodes
    def add_node(self, node_obj, inputs: tuple[str, ...], out_tensor: str) -> None:
        self.nodes.append(node_obj)
        self.inputs[node_obj.name] = inputs
        self.producer[out_tensor] = node_obj.name

    def make(self, cls, **kw):
        try:
            return cls(**kw)
        except InputError as exc:
            raise InputError(exc.problem, source=self.source, field=exc.field,
                             allowed=exc.allowed) from None

    def check_shape(self, label: str, shape) -> None:
        if any(d < 1 for d in shape):
            raise self.err(f"node '{label}': output shape {tuple(shape)} has a zero-sized or "
                           "negative dimension", "shape", "dimensions >= 1")

    def conv(self, node, a, label, transpose: bool) -> None:
        ins = list(node.input)
        x = self.shapes[ins[0]]
        if ins[0] not in self.producer:
            raise self.err(f"node '{label}': the conv input must be an activation", "input")
        if ins[1] in self.producer:
            raise self.err(f"node '{label}': weights computed at run time are not modelled",
                           "input", "constant weights")
        w = self.shapes[ins[1]]
        if len(x) not in (3, 4) or len(w) != len(x):
            raise self.err(f"node '{label}': only 1-D and 2-D convolutions are modelled "
                           f"(input {x}, weights {w})", "op_type", "rank-3 or rank-4 input")
        one_d = len(x) == 3
        if one_d:
            x = (x[0], x[1], 1, x[2])
            w = (w[0], w[1], 1, w[2])
            a = dict(a)
            for key in ("strides", "dilations", "kernel_shape"):
                if key in a:
                    a[key] = [1, *a[key]]
            if "pads" in a:
                a["pads"] = [0, a["pads"][0], 0, a["pads"][1]]
            for key in ("output_padding", "output_shape"):
                if key in a:
                    a[key] = [0 if key == "output_padding" else 1, *a[key]]
        n, cin, h, wd = x
        g = int(a.get("group", 1))
        kh, kw = w[2], w[3]
        has_b = len(ins) > 2 and bool(ins[2])
        if has_b and ins[2] in self.producer:
            raise self.err(f"node '{label}': a bias computed at run time is not modelled",
                           "input", "a constant bias")
        name = self.names.make(label)
        wv = self.consts.get(ins[1])
        bv = self.consts.get(ins[2]) if has_b else None
        if not transpose:
            cout = w[0]
            if w[1] * g != cin:
                raise self.err(f"node '{label}': weights {w} with group {g} do not match "
                               f"{cin} input channels", "group")
            geo = self._geometry(a, (h, wd), (kh, kw), label)
            (oh, (pt, pb)), (ow, (pl, pr)) = geo
            ph = self._sym(label, "height", h, kh, a, 0, pt, pb, oh)
            pw = self._sym(label, "width", wd, kw, a, 1, pl, pr, ow)
            dil = list(a.get("dilations", [1, 1]))
            st = list(a.get("strides", [1, 1]))
            layer = self.make(Layer, name=name, kind="conv", in_h=h, in_w=wd, in_c=cin,
                              out_c=cout, kernel_h=kh, kernel_w=kw, stride_h=st[0],
                              stride_w=st[1], pad_h=ph, pad_w=pw, dil_h=dil[0], dil_w=dil[1],
                              groups=g, bias=has_b, batch=n)
            out_shape = (n, cout, oh, ow)
            self.macs_file += n * cout * oh * ow * (cin // g) * kh * kw
            weights = None if wv is None else np.asarray(wv, dtype=np.float32).reshape(
                layer.weight_shape)
        else:
            cout = w[1] * g
            if w[0] != cin:
                raise self.err(f"node '{label}': weights {w} do not match {cin} input "
                               "channels", "group")
            st = list(a.get("strides", [1, 1]))
            dil = list(a.get("dilations", [1, 1]))
            if dil != [1, 1]:
                raise self.err(f"node '{label}': a dilated ConvTranspose is not modelled",
                               "dilations", "1")
            for k, s, axis in ((kh, st[0], "height"), (kw, st[1], "width")):
                if k % s or (k // s) % 2 == 0:
                    raise self.err(f"node '{label}': ConvTranspose kernel {axis} {k} with "
                                   f"stride {s} has no symmetric phase decomposition",
                                   "kernel_shape", "kernel = stride x an odd number")
            pads = list(a.get("pads", [0, 0, 0, 0]))
            opad = list(a.get("output_padding", [0, 0]))
            if "output_shape" in a:
                oh, ow = a["output_shape"][-2:]
            elif a.get("auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER"):
                oh, ow = h * st[0], wd * st[1]
            else:
                if a.get("auto_pad", "NOTSET") == "VALID":
                    pads = [0, 0, 0, 0]
                oh = st[0] * (h - 1) + opad[0] + kh - pads[0] - pads[2]
                ow = st[1] * (wd - 1) + opad[1] + kw - pads[1] - pads[3]
            kh2, kw2 = kh // st[0], kw // st[1]
            layer = self.make(Layer, name=name, kind="conv", in_h=h, in_w=wd, in_c=cin,
                              out_c=cout * st[0] * st[1], kernel_h=kh2, kernel_w=kw2,
                              pad_h=(kh2 - 1) // 2, pad_w=(kw2 - 1) // 2, groups=g,
                              bias=has_b, batch=n)
            out_shape = (n, cout, oh, ow)
            self.macs_file += n * cin * h * wd * (cout // g) * kh * kw
            self.phase[name] = (st[0], st[1])
            if (oh, ow) != (h * st[0], wd * st[1]):
                self.notes.append(f"{name}: ConvTranspose output {oh}x{ow} is a crop of the "
                                  f"{h * st[0]}x{wd * st[1]} phase-decomposed output")
            weights = None if wv is None else _phase_weights(
                np.asarray(wv, dtype=np.float32), g, st[0], st[1])
            if bv is not None:
                bv = np.repeat(np.asarray(bv, dtype=np.float32), st[0] * st[1])
        self.check_shape(label, out_shape)
        if one_d:
            out_shape = (out_shape[0], out_shape[1], out_shape[3])
        self.count["array_ops"] += 1
        out = node.output[0]
        self.shapes[out] = out_shape
        self.weights[name] = weights
        self.bias[name] = None if bv is None else np.asarray(bv, dtype=np.float32)
        self.add_node(layer, (self.producer[ins[0]],), out)
        self.layer_of_tensor[out] = name

    def _sym(self, label, axis, size, k, a, i, lo, hi, o) -> int:
        if lo == hi:
            return lo
        st = list(a.get("strides", [1, 1]))[i]
        dil = list(a.get("dilations", [1, 1]))[i]
        eff = dil * (k - 1) + 1
        for p in ((lo + hi) // 2, (lo + hi + 1) // 2):
            if (size + 2 * p - eff) // st + 1 == o and size + 2 * p >= eff:
                self.notes.append(f"node '{label}': asymmetric {axis} padding ({lo}, {hi}) "
                                  f"modelled as {p} on both sides (same output size and MACs)")
                return p
        raise self.err(f"node '{label}': asymmetric {axis} padding ({lo}, {hi}) cannot be "
                       "represented", "pads", "symmetric pads")

    def gemm(self, node, a, label) -> None:
        op = node.op_type
        ins = list(node.input)
        A, B = ins[0], ins[1]
        sa, sb = self.shapes[A], self.shapes[B]
        if op == "Gemm":
            if a.get("transA", 0):
                sa = sa[::-1]
            if a.get("transB", 0):
                sb = sb[::-1]
        if len(sa) < 1 or len(sb) < 1:
            raise self.err(f"node '{label}': scalar operand", "input")
        ma = sa if len(sa) >= 2 else (1, sa[0])
        mb = sb if len(sb) >= 2 else (sb[0], 1)
        if ma[-1] != mb[-2]:
            raise self.err(f"node '{label}': inner dimensions {sa} x {sb} differ", "input")
        lead = tuple(np.broadcast_shapes(ma[:-2], mb[:-2]))
        m, k, n = ma[-2], ma[-1], mb[-1]
        out_shape = lead + (m, n)
        if len(sa) == 1:
            out_shape = out_shape[:-2] + (n,)
        if len(sb) == 1:
            out_shape = out_shape[:-1]
        self.check_shape(label, out_shape)
        name = self.names.make(label)
        batch = math.prod(lead)
        self.macs_file += batch * m * n * k
        a_act, b_act = A in self.producer, B in self.producer
        has_c = op == "Gemm" and len(ins) > 2 and bool(ins[2])
        if has_c and ins[2] in self.producer:
            raise self.err(f"node '{label}': a Gemm bias C computed at run time is not "
                           "modelled", "input", "a constant C")
        alpha = float(a.get("alpha", 1.0)) if op == "Gemm" else 1.0
        weights = None
        if a_act and b_act:
            layer = self.make(Layer, name=name, kind="matmul", in_h=m, in_w=1, in_c=k,
                              out_c=n, batch=batch)
            inputs = (self.producer[A], self.producer[B])
        elif a_act:
            if any(d != 1 for d in mb[:-2]):
                raise self.err(f"node '{label}': a batched constant operand {sb} is not "
                               "modelled", "input", "a 2-D constant weight")
            layer = self.make(Layer, name=name, kind="linear", in_h=m, in_w=1, in_c=k,
                              out_c=n, bias=has_c, batch=math.prod(ma[:-2]) if
                              len(ma) > 2 else 1)
            if math.prod(ma[:-2] if len(ma) > 2 else ()) != batch:
                raise self.err(f"node '{label}': broadcast constant operand {sb} is not "
                               "modelled", "input")
            inputs = (self.producer[A],)
            bv = self.consts.get(B)
            if bv is not None:
                bm = np.asarray(bv, dtype=np.float32)
                if op == "Gemm" and a.get("transB", 0):
                    bm = bm.T
                bm = bm.reshape(k, n)
                weights = (alpha * bm.T).reshape(layer.weight_shape)
        else:  # constant A times activation B: out^T = B^T A^T, a linear over B's columns
            if any(d != 1 for d in ma[:-2]) or (op == "Gemm" and a.get("transB", 0)):
                raise self.err(f"node '{label}': a constant first operand {sa} is not "
                               "modelled", "input", "a 2-D constant first operand")
            layer = self.make(Layer, name=name, kind="linear", in_h=n, in_w=1, in_c=k,
                              out_c=m, bias=has_c, batch=batch)
            inputs = (self.producer[B],)
            self.notes.append(f"{name}: constant x activation product modelled as a linear "
                              f"layer on the transposed activation ({n} tokens)")
            av = self.consts.get(A)
            if av is not None:
                am = np.asarray(av, dtype=np.float32)
                if op == "Gemm" and a.get("transA", 0):
                    am = am.T
                weights = (alpha * am.reshape(m, k)).reshape(layer.weight_shape)
        if layer.macs != batch * m * n * k:
            raise self.err(f"node '{label}': internal MAC mismatch", "op_type")
        self.count["array_ops"] += 1
        out = node.output[0]
        self.shapes[out] = out_shape
        self.weights[name] = None if layer.kind == "matmul" else weights
        self.bias[name] = (np.asarray(self.consts[ins[2]], dtype=np.float32)
                           if has_c and self.consts.get(ins[2]) is not None else None)
        self.add_node(layer, inputs, out)
        self.layer_of_tensor[out] = name

    def vector(self, node, a, label) -> None:
        op = node.op_type
        ins = list(node.input)
        self.count["vector_ops_in_file"] += 1
        x_t = next(t for t in ins if t and t in self.producer)
        if op == "BatchNormalization" and self._fold_bn(node, a, label):
            self.count["vector_ops_modelled"] += 1
            self.count["bn_folded"] += 1
            return
        x = self.shapes[x_t]
        acts = tuple(dict.fromkeys(self.producer[t] for t in ins if t and t in self.producer))
        if op in ("Slice", "Gather", "Pad", "Resize", "Upsample", "Transpose", "Reshape"):
            acts = (self.producer[ins[0]],) if ins[0] in self.producer else acts
            if ins[0] not in self.producer:
                raise self.err(f"node '{label}': {op} of a constant by a run-time index is "
                               "not modelled", "input")
        b, h, w, c = _bhwc(x)
        if op == "Split":
            self._split(node, a, label, x, acts)
            return
        out_shape = self.shape_of(node, a, label)
        self.check_shape(label, out_shape)
        ob, oh, ow, oc = _bhwc(out_shape)
        kh = kw = 1
        if op in ("MaxPool", "AveragePool"):
            k = list(a["kernel_shape"])
            kh, kw = (k[0], k[1]) if len(k) >= 2 else (1, k[0])
        extra = 0
        if op == "BatchNormalization":
            extra = 2 * (x[1] if len(x) > 1 else x[0])
        elif op == "LayerNormalization":
            extra = sum(math.prod(self.shapes[t]) for t in ins[1:3] if t)
        elif op == "PRelu" and ins[1] in self.consts:
            extra = math.prod(self.shapes[ins[1]])
        name = self.names.make(label)
        v = self.make(VectorOp, name=name, op=ONNX_VECTOR_OPS[op], in_h=h, in_w=w, in_c=c,
                      out_h=oh, out_w=ow, out_c=oc, kernel_h=kh, kernel_w=kw,
                      batch=max(b, 1) if ob == b else 1, extra_params=extra)
        if v.output_elems != math.prod(out_shape) and ob == b:
            raise self.err(f"node '{label}': internal shape mapping error", "shape")
        if ob != b:  # batch changed by the op (e.g. a reduction over the batch axis)
            v = self.make(VectorOp, name=name, op=ONNX_VECTOR_OPS[op], in_h=b * h, in_w=w,
                          in_c=c, out_h=ob * oh, out_w=ow, out_c=oc, kernel_h=kh, kernel_w=kw,
                          extra_params=extra)
        if op in ("LeakyRelu", "PRelu"):
            self.notes.append(f"{name}: {op} modelled as relu (same vector work)")
        self.count["vector_ops_modelled"] += 1
        self.shapes[node.output[0]] = out_shape
        self.add_node(v, acts, node.output[0])

    def _split(self, node, a, label, x, acts) -> None:
        ins = list(node.input)
        ax = a.get("axis", 0) % len(x)
        outs = [o for o in node.output]
        if "split" in a:
            parts = list(a["split"])
        elif len(ins) > 1 and ins[1]:
            parts = _ints(self.cval(ins[1], label, "split"))
        else:
            nout = len(outs)
            each = -(-x[ax] // nout)
            parts = [min(each, x[ax] - i * each) for i in range(nout)]
        if len(parts) != len(outs) or sum(parts) != x[ax]:
            raise self.err(f"node '{label}': split sizes {parts} do not fit {x[ax]}", "split")
        b, h, w, c = _bhwc(x)
        for i, (o, p) in enumerate(zip(outs, parts, strict=True)):
            s = list(x)
            s[ax] = p
            self.check_shape(label, s)
            ob, oh, ow, oc = _bhwc(tuple(s))
            name = self.names.make(f"{label}_{i}")
            v = self.make(VectorOp, name=name, op="slice", in_h=h, in_w=w, in_c=c, out_h=oh,
                          out_w=ow, out_c=oc, batch=b if ob == b else 1)
            self.shapes[o] = tuple(s)
            self.add_node(v, acts, o)
        self.count["vector_ops_modelled"] += 1

    def _fold_bn(self, node, a, label) -> bool:
        ins = list(node.input)
        x = ins[0]
        lname = self.layer_of_tensor.get(x)
        if lname is None or self.consumers.get(x, 0) != 1 or len(ins) < 5:
            return False
        layer = next(n for n in self.nodes if n.name == lname)
        if layer.kind != "conv" or not all(t in self.consts for t in ins[1:5]):
            return False
        if any(o and o in self.consumers for o in node.output[1:]):
            return False
        out = node.output[0]
        self.shapes[out] = self.shapes[x]
        self.producer[out] = lname
        self.layer_of_tensor[out] = lname
        if not layer.bias:
            i = self.nodes.index(layer)
            import dataclasses  # noqa: PLC0415

            layer = dataclasses.replace(layer, bias=True)
            self.nodes[i] = layer
        vals = [self.consts[t] for t in ins[1:5]]
        w = self.weights.get(lname)
        if any(v is None for v in vals) or w is None:
            self.weights[lname] = None
            self.bias[lname] = None
            return True
        gamma, beta, mean, var = (np.asarray(v, dtype=np.float64).reshape(-1) for v in vals)
        eps = float(a.get("epsilon", 1e-5))
        scale = gamma / np.sqrt(var + eps)
        shift = beta - mean * scale
        rep = math.prod(self.phase.get(lname, (1, 1)))
        scale_oc = np.repeat(scale, rep)
        b0 = self.bias.get(lname)
        b0 = np.zeros(layer.out_c) if b0 is None else np.asarray(b0, np.float64).reshape(-1)
        self.weights[lname] = (w.astype(np.float64) * scale_oc[:, None, None, None]).astype(
            np.float32)
        self.bias[lname] = (b0 * scale_oc + np.repeat(shift, rep)).astype(np.float32)
        return True


def node_attr_names(node) -> set[str]:
    return {a.name for a in node.attribute}


def _reshape(x: tuple[int, ...], target: list[int], allowzero: int) -> tuple[int, ...]:
    out = []
    for i, d in enumerate(target):
        out.append(x[i] if d == 0 and not allowzero else d)
    if out.count(-1) > 1:
        raise ValueError(f"reshape target {target} has more than one -1")
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        j = out.index(-1)
        out[j] = math.prod(x) // known if known else 0
    if math.prod(out) != math.prod(x):
        raise ValueError(f"cannot reshape {x} to {target}")
    return tuple(out)


def _phase_weights(wt: np.ndarray, g: int, sh: int, sw: int) -> np.ndarray:
    """ConvTranspose weights ``[Cin, Cout/g, kh, kw]`` -> the phase-decomposed stride-1 conv's
    ``[Cout * sh * sw, Cin / g, kh / sh, kw / sw]`` (output channel ``(co * sh + a) * sw + b``
    is output pixel ``(y * sh + a, x * sw + b)`` of channel ``co``; kernel flipped)."""
    cin, cog, kh, kw = wt.shape
    k2h, k2w = kh // sh, kw // sw
    cig = cin // g
    t = wt.reshape(g, cig, cog, k2h, sh, k2w, sw)[:, :, :, ::-1, :, ::-1, :]
    t = t.transpose(0, 2, 4, 6, 1, 3, 5)  # g, cog, a, b, cig, th, tw
    return np.ascontiguousarray(t.reshape(g * cog * sh * sw, cig, k2h, k2w)).astype(np.float32)


def _evaluate(op: str, a: dict, vals: list, opset: int):
    """numpy evaluation of a node over constants (shape subgraphs, reshaped weights)."""
    v = [None if x is None else np.asarray(x) for x in vals]
    x = v[0] if v else None
    if op in ("Identity", "Dropout"):
        return x
    if op == "Cast":
        from onnx import helper  # noqa: PLC0415
        return x.astype(helper.tensor_dtype_to_np_dtype(a["to"]))
    if op in ("Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "Greater"):
        y = v[1]
        if op == "Div" and x.dtype.kind in "iu":
            return np.trunc(x / y).astype(np.result_type(x, y))
        fn = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide,
              "Pow": np.power, "Equal": np.equal, "Less": np.less, "Greater": np.greater}[op]
        r = fn(x, y)
        return r.astype(x.dtype) if op in ("Pow",) else r
    if op in ("Max", "Min"):
        r = v[0]
        for y in v[1:]:
            r = np.maximum(r, y) if op == "Max" else np.minimum(r, y)
        return r
    if op in ("Floor", "Ceil", "Sqrt", "Neg", "Exp", "Abs", "Not", "Reciprocal", "Relu",
              "Sigmoid", "Tanh"):
        return {"Floor": np.floor, "Ceil": np.ceil, "Sqrt": np.sqrt, "Neg": np.negative,
                "Exp": np.exp, "Abs": np.abs, "Not": np.logical_not,
                "Reciprocal": lambda t: 1.0 / t, "Relu": lambda t: np.maximum(t, 0),
                "Sigmoid": lambda t: 1 / (1 + np.exp(-t)), "Tanh": np.tanh}[op](x)
    if op == "Clip":
        lo = v[1] if len(v) > 1 and v[1] is not None else a.get("min")
        hi = v[2] if len(v) > 2 and v[2] is not None else a.get("max")
        return np.clip(x, lo, hi)
    if op == "Shape":
        return np.array(x.shape, dtype=np.int64)
    if op == "Size":
        return np.array(x.size, dtype=np.int64)
    if op == "Gather":
        return np.take(x, v[1].astype(np.int64), axis=a.get("axis", 0))
    if op == "Slice":
        if opset >= 10 and len(v) >= 3:
            starts, ends = _ints(v[1]), _ints(v[2])
            axes = _ints(v[3]) if len(v) > 3 and v[3] is not None else range(len(starts))
            steps = _ints(v[4]) if len(v) > 4 and v[4] is not None else [1] * len(starts)
        else:
            starts, ends = a["starts"], a["ends"]
            axes = a.get("axes", range(len(starts)))
            steps = [1] * len(starts)
        sl = [slice(None)] * x.ndim
        for s, e, ax, st in zip(starts, ends, axes, steps, strict=True):
            sl[ax % x.ndim] = slice(s, e, st)
        return x[tuple(sl)]
    if op == "Concat":
        return np.concatenate([np.atleast_1d(t) for t in v if t is not None], axis=a["axis"])
    if op in ("Unsqueeze", "Squeeze"):
        axes = a.get("axes")
        if axes is None and len(v) > 1 and v[1] is not None:
            axes = _ints(v[1])
        if op == "Squeeze":
            return np.squeeze(x, axis=None if axes is None else tuple(axes))
        r = x
        nd = x.ndim + len(axes)
        for ax in sorted(ax % nd for ax in axes):
            r = np.expand_dims(r, ax)
        return r
    if op == "Reshape":
        target = _ints(v[1]) if len(v) > 1 else a["shape"]
        return x.reshape(_reshape(x.shape, target, a.get("allowzero", 0)))
    if op == "Flatten":
        ax = a.get("axis", 1) % (x.ndim + 1)
        return x.reshape(math.prod(x.shape[:ax]), -1)
    if op == "Transpose":
        return np.transpose(x, a.get("perm"))
    if op == "ConstantOfShape":
        from onnx import numpy_helper  # noqa: PLC0415
        fill = numpy_helper.to_array(a["value"]).reshape(-1)[0] if "value" in a else \
            np.float32(0)
        return np.full(_ints(x), fill, dtype=np.asarray(fill).dtype)
    if op == "Range":
        return np.arange(x.item(), v[1].item(), v[2].item()).astype(x.dtype)
    if op == "Where":
        return np.where(v[0], v[1], v[2])
    if op == "Expand":
        return x * np.ones(_ints(v[1]), dtype=x.dtype)
    if op == "Tile":
        return np.tile(x, _ints(v[1]))
    if op == "ReduceProd":
        axes = a.get("axes")
        return np.prod(x, axis=None if axes is None else tuple(axes),
                       keepdims=bool(a.get("keepdims", 1)))
    if op == "MatMul":
        return np.matmul(x, v[1])
    raise ValueError(f"cannot evaluate {op} on constants")


# ----------------------------------------------------------------------------- entry point
def _load_model(onnx, path: Path, source: str):
    if not path.exists():
        raise InputError("no such file", source=source, field="model",
                         allowed="an existing .onnx file")
    if not path.is_file():
        raise InputError("is not a file", source=source, field="model",
                         allowed="an .onnx file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises several types
        msg = " ".join(str(exc).split())[:160]
        raise InputError(f"not a readable ONNX model ({type(exc).__name__}: {msg})",
                         source=source, field="model", allowed="an ONNX protobuf file") from None
    if not model.HasField("graph") or not len(model.graph.node):
        raise InputError("not an ONNX model: no graph nodes (truncated or wrong file?)",
                         source=source, field="model", allowed="an ONNX protobuf file")
    return model


def _cross_check(onnx, model, imp: _Importer) -> None:
    """Compare with onnx.shape_inference on the model with its input fixed (notes only)."""
    try:
        m = onnx.ModelProto()
        m.CopyFrom(model)
        for i in m.graph.input:
            if i.name == imp.input_name:
                dims = i.type.tensor_type.shape.dim
                for d, v in zip(dims, imp.input_shape, strict=True):
                    d.Clear()
                    d.dim_value = int(v)
        inferred = onnx.shape_inference.infer_shapes(m, data_prop=True)
    except Exception:  # noqa: BLE001 - the cross-check is optional
        imp.notes.append("onnx.shape_inference failed on this model; shapes are from the "
                         "importer's own propagation only")
        return 0
    agree = differ = 0
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
        dims = imp._declared(vi)
        mine = imp.shapes.get(vi.name)
        if dims is None or mine is None or any(d is None or d < 1 for d in dims):
            continue
        if tuple(dims) == tuple(mine):
            agree += 1
        else:
            differ += 1
            if differ <= 3:
                imp.notes.append(f"onnx shape inference gives {tuple(dims)} for tensor "
                                 f"'{vi.name}', the importer {tuple(mine)}")
    return agree


def import_onnx(path: str | Path, input_shape: tuple[int, ...] | None = None,
                name: str | None = None) -> OnnxImport:
    """Import the ONNX model at ``path`` (see the module docstring)."""
    onnx = _onnx()
    p = Path(path)
    source = str(path)
    if input_shape is not None:
        input_shape = parse_input_shape(input_shape)
    key = None
    try:
        st = p.stat()
        key = (str(p.resolve()), st.st_mtime_ns, st.st_size, input_shape, name, source)
    except OSError:
        pass
    if key is not None and key in _CACHE:
        return _CACHE[key]
    result = _import(onnx, p, source, input_shape, name)
    if key is not None:
        if len(_CACHE) >= 4:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = result
    return result


#: the last few imports (path, mtime, size, shape, name) -> OnnxImport: the weight source of
#: ``compress --from`` / ``run --weights MODEL.onnx`` reuses the import the workload came from
_CACHE: dict[tuple, OnnxImport] = {}


def cached_imports(path: str | Path) -> list[OnnxImport]:
    """Imports of ``path`` done in this process, newest first."""
    try:
        rp = str(Path(path).resolve())
    except OSError:
        return []
    return [v for k, v in reversed(_CACHE.items()) if k[0] == rp]


def _import(onnx, p: Path, source: str, input_shape, name) -> OnnxImport:
    model = _load_model(onnx, p, source)
    imp = _Importer(onnx, model, source, input_shape, name or p.stem,
                    str(p.resolve().parent))
    imp.run()
    agree = _cross_check(onnx, model, imp)
    layers = [n for n in imp.nodes if isinstance(n, Layer)]
    if not layers:
        raise InputError("the model has no Conv, ConvTranspose, Gemm or MatMul node",
                         source=source, field="op_type", allowed="a model with array layers")
    hs = collapse_gated(imp.nodes, imp.inputs)
    if hs:
        imp.notes.append(f"{hs} decomposed gated activations x * f(x) (hard-swish as Add, "
                         "Clip, Mul; SiLU as Sigmoid, Mul) modelled as one activation each")
    try:
        net = Network.from_nodes(imp.name, imp.nodes, imp.inputs, source=source)
    except InputError as exc:
        raise InputError(exc.problem, source=source, field=exc.field,
                         allowed=exc.allowed) from None
    weights = {}
    for la in net.layers:
        if la.kind == "matmul":
            continue
        w = imp.weights.get(la.name)
        if w is None:
            imp.missing_data = True
            continue
        weights[la.name] = np.ascontiguousarray(w, dtype=np.float32).reshape(la.weight_shape)
    has_weights = not imp.missing_data and all(
        la.name in weights for la in net.layers if la.has_weights)
    if not has_weights:
        imp.notes.append("weights are not in the file (stripped initializers or missing "
                         "external data): imported as topology only")
    c = imp.count
    coverage = {
        "macs_in_file": imp.macs_file, "macs_modelled": net.macs,
        "macs_pct": 100.0 * net.macs / imp.macs_file if imp.macs_file else 100.0,
        "vector_ops_in_file": c["vector_ops_in_file"],
        "vector_ops_modelled": c["vector_ops_modelled"],
        "vector_ops_pct": (100.0 * c["vector_ops_modelled"] / c["vector_ops_in_file"]
                           if c["vector_ops_in_file"] else 100.0),
        "array_ops": c["array_ops"], "bn_folded": c["bn_folded"], "view_ops": c["view_ops"],
        "shape_ops": c["shape_ops"], "constants": c["constants"],
        "onnx_nodes": len(model.graph.node), "shapes_agreeing_with_onnx_inference": agree,
    }
    return OnnxImport(network=net, weights=weights, has_weights=has_weights, coverage=coverage,
                      notes=imp.notes, input_shape=tuple(imp.input_shape), source=source,
                      biases={k: v for k, v in imp.bias.items() if v is not None})
