"""Typed layer model and its GEMM view.

A layer is one of three kinds:

* ``conv``   -- a 2-D convolution (also grouped and depthwise: ``groups`` divides both channel
  counts; depthwise is ``groups == in_c``), with stride, padding and dilation per axis.
* ``linear`` -- a fully connected layer applied to ``in_h * in_w`` tokens (``in_h = 1, in_w = 1``
  for a classifier head). It is a 1x1 convolution; the kind only changes how it is shown.
* ``matmul`` -- an activation x activation product (attention ``Q K^T`` or ``A V``): an
  ``M x Kr`` activation matrix times a ``Kr x N`` activation matrix, repeated ``batch`` times
  (one per head). It has no weights. Its stationary (``Kr x N``) operand is the previous
  layer's output (``operand = "previous"``, e.g. K of a prefill) or a tensor kept in DRAM
  (``operand = "dram"``: a decoder's KV cache), read without waiting for any layer.

GEMM view (as SCALE-Sim, hardware-model spec section 1): ``M = P * Q`` output pixels (the stream),
``Kr = (C / groups) * R * S`` reduction elements and ``N = K`` output channels. For a grouped
convolution the GEMM is block diagonal: ``groups`` independent GEMMs of ``M x Kr x (N / groups)``;
``gemm`` reports ``N`` summed over groups, ``gemm_groups`` says how many blocks there are.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ewssim.errors import InputError
from ewssim.workload.graph import INPUT

LayerKind = Literal["conv", "linear", "matmul"]
LAYER_KINDS: tuple[str, ...] = ("conv", "linear", "matmul")
#: where a matmul's stationary operand comes from
OPERANDS: tuple[str, ...] = ("previous", "dram")


@dataclass(frozen=True)
class GemmShape:
    """``groups`` independent GEMMs, each ``m x kr`` times ``kr x (n / groups)``."""

    m: int
    kr: int
    n: int
    groups: int = 1

    @property
    def n_per_group(self) -> int:
        return self.n // self.groups


@functools.lru_cache(maxsize=1 << 16)
def _reads(o0: int, o1: int, stride: int, pad: int, dil: int, k: int, size: int) -> int:
    """How many distinct input positions (of ``size``) output positions ``o0 .. o1-1`` read
    along one axis: the union of ``o*stride - pad + j*dil`` for taps ``j < k`` (memoised: a
    sweep asks the same few thousand questions at every point)."""
    pos = np.arange(o0, o1)[:, None] * stride - pad + np.arange(k)[None, :] * dil
    pos = pos[(pos >= 0) & (pos < size)]
    return int(np.unique(pos).size)


@dataclass(frozen=True)
class Layer:
    """One layer of a network, batch 1.

    Sizes are element counts; byte sizes take a data width in bits (INT8 by default).
    ``extra_params`` counts parameters that do no MACs but belong to the layer's neighbourhood
    (batch-norm scale and shift, layer-norm, embeddings) so network parameter totals match the
    published ones.  ``nm`` is an optional ``(N, M)`` sparsity pattern for the layer's weights.
    """

    name: str
    kind: LayerKind
    in_h: int
    in_w: int
    in_c: int
    out_c: int
    kernel_h: int = 1
    kernel_w: int = 1
    stride_h: int = 1
    stride_w: int = 1
    pad_h: int = 0
    pad_w: int = 0
    dil_h: int = 1
    dil_w: int = 1
    groups: int = 1
    bias: bool = False
    extra_params: int = 0
    batch: int = 1
    nm: tuple[int, int] | None = field(default=None)
    #: round the output size up (SCALE-Sim's convention): the last output row/column's window
    #: may overhang the bottom/right edge, and the overhanging taps read zeros
    ceil_mode: bool = False
    #: a matmul's stationary operand: the previous layer's output, or a tensor kept in DRAM
    operand: str = "previous"

    def __post_init__(self) -> None:
        self.validate()

    # ----------------------------------------------------------------- validation
    def validate(self, source: str | None = None, line: int | None = None) -> None:
        """Raise :class:`InputError` naming the first inconsistent field."""

        def bad(fld: str, problem: str, allowed: str | None = None) -> InputError:
            return InputError(
                f"layer '{self.name}': {problem}",
                source=source,
                line=line,
                field=fld,
                allowed=allowed,
            )

        if self.kind not in LAYER_KINDS:
            raise bad("type", f"unknown layer type {self.kind!r}", ", ".join(LAYER_KINDS))
        for fld in ("in_h", "in_w", "in_c", "out_c", "kernel_h", "kernel_w", "stride_h",
                    "stride_w", "dil_h", "dil_w", "groups", "batch"):
            v = getattr(self, fld)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise bad(fld, f"must be a positive integer, got {v!r}", "integer >= 1")
        for fld in ("pad_h", "pad_w", "extra_params"):
            v = getattr(self, fld)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise bad(fld, f"must be a non-negative integer, got {v!r}", "integer >= 0")
        if self.in_c % self.groups:
            raise bad("groups", f"in_c={self.in_c} is not divisible by groups={self.groups}",
                      "a divisor of in_c and out_c")
        if self.out_c % self.groups:
            raise bad("groups", f"out_c={self.out_c} is not divisible by groups={self.groups}",
                      "a divisor of in_c and out_c")
        if self.kind == "matmul" and (self.kernel_h, self.kernel_w, self.groups) != (1, 1, 1):
            raise bad("type", "a matmul has no kernel or groups", "kernel 1x1, groups 1")
        if self.operand not in OPERANDS:
            raise bad("operand", f"unknown operand source {self.operand!r}", ", ".join(OPERANDS))
        if self.operand != "previous" and self.kind != "matmul":
            raise bad("operand", "only a matmul has a stationary activation operand",
                      "previous (the default) for conv and linear")
        eff_h = self.dil_h * (self.kernel_h - 1) + 1
        eff_w = self.dil_w * (self.kernel_w - 1) + 1
        if eff_h > self.in_h + 2 * self.pad_h:
            raise bad("kernel_h", f"kernel height {self.kernel_h} (dilated {eff_h}) is larger "
                      f"than the padded input height {self.in_h + 2 * self.pad_h}",
                      f"<= {self.in_h + 2 * self.pad_h}")
        if eff_w > self.in_w + 2 * self.pad_w:
            raise bad("kernel_w", f"kernel width {self.kernel_w} (dilated {eff_w}) is larger "
                      f"than the padded input width {self.in_w + 2 * self.pad_w}",
                      f"<= {self.in_w + 2 * self.pad_w}")
        if self.nm is not None:
            n, m = self.nm
            if m < 1 or n < 1 or n > m:
                raise bad("nm", f"N:M = {n}:{m} is not a valid pattern", "1 <= N <= M")

    # ----------------------------------------------------------------- shapes
    def _out(self, size: int, pad: int, dil: int, k: int, stride: int) -> int:
        span = size + 2 * pad - dil * (k - 1) - 1
        return (-(-span // stride) if self.ceil_mode else span // stride) + 1

    @property
    def out_h(self) -> int:
        return self._out(self.in_h, self.pad_h, self.dil_h, self.kernel_h, self.stride_h)

    @property
    def out_w(self) -> int:
        return self._out(self.in_w, self.pad_w, self.dil_w, self.kernel_w, self.stride_w)

    @property
    def is_depthwise(self) -> bool:
        return self.kind == "conv" and self.groups > 1 and self.groups == self.in_c

    @property
    def has_weights(self) -> bool:
        return self.kind != "matmul"

    @property
    def operand_from_previous(self) -> bool:
        """A matmul whose stationary operand is the previous layer's output (it waits for
        that layer's writes, and is read from L2 when that output is kept there)."""
        return self.kind == "matmul" and self.operand == "previous"

    @property
    def gemm(self) -> GemmShape:
        """GEMM view of one instance (multiply by ``batch`` for matmul heads)."""
        return GemmShape(
            m=self.out_h * self.out_w,
            kr=(self.in_c // self.groups) * self.kernel_h * self.kernel_w,
            n=self.out_c,
            groups=self.groups,
        )

    @property
    def macs(self) -> int:
        g = self.gemm
        return self.batch * g.m * g.kr * g.n

    @property
    def weights(self) -> int:
        """Number of weight values (0 for an activation x activation matmul)."""
        if not self.has_weights:
            return 0
        return self.out_c * (self.in_c // self.groups) * self.kernel_h * self.kernel_w

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        """PyTorch order: (out_c, in_c / groups, kernel_h, kernel_w)."""
        return (self.out_c, self.in_c // self.groups, self.kernel_h, self.kernel_w)

    @property
    def params(self) -> int:
        """Weights + biases + extra (norm, embedding) parameters."""
        return self.weights + (self.out_c if self.bias else 0) + self.extra_params

    @property
    def input_elems(self) -> int:
        """Input activations (both operands of a matmul)."""
        n = self.batch * self.in_h * self.in_w * self.in_c
        if self.kind == "matmul":
            n += self.batch * self.in_c * self.out_c
        return n

    @property
    def output_elems(self) -> int:
        return self.batch * self.out_h * self.out_w * self.out_c

    def input_bytes(self, bits: int = 8) -> int:
        return (self.input_elems * bits + 7) // 8

    def output_bytes(self, bits: int = 8) -> int:
        return (self.output_elems * bits + 7) // 8

    def weight_bytes(self, bits: int = 8) -> int:
        return (self.weights * bits + 7) // 8

    # ----------------------------------------------------------------- input footprints

    def input_footprint(self, p0: int, p1: int) -> int:
        """Input elements, per input channel, that output pixels ``p0 .. p1-1`` read
        (docs/model-reference.md, "L1 blocks").  Pixels run over ``(image, row, column)``;
        within an image, a range inside one output row reads the input rows of that row and
        the input columns of its pixels; a range over several output rows reads whole input
        rows (every column any output column reads).  A matmul's streaming operand: one row of
        ``in_c`` per pixel (token)."""
        if p1 <= p0:
            return 0
        if self.kind == "matmul":
            return p1 - p0
        oh, ow = self.out_h, self.out_w
        per_img = oh * ow
        total = 0
        for b in range(p0 // per_img, (p1 - 1) // per_img + 1):
            q0 = max(p0, b * per_img) - b * per_img
            q1 = min(p1, (b + 1) * per_img) - b * per_img
            y0, y1 = q0 // ow, (q1 - 1) // ow
            rows = _reads(y0, y1 + 1, self.stride_h, self.pad_h, self.dil_h, self.kernel_h,
                          self.in_h)
            x0, x1 = (q0 % ow, (q1 - 1) % ow + 1) if y0 == y1 else (0, ow)
            cols = _reads(x0, x1, self.stride_w, self.pad_w, self.dil_w, self.kernel_w,
                          self.in_w)
            total += rows * cols
        return total

    def as_dict(self) -> dict:
        """Plain JSON-able values: the GEMM view, counts and every shape field."""
        g = self.gemm
        return {
            "name": self.name, "type": self.kind, "m": g.m, "kr": g.kr, "n": g.n,
            "gemm_groups": g.groups, "macs": self.macs, "weights": self.weights,
            "params": self.params, "in_h": self.in_h, "in_w": self.in_w, "in_c": self.in_c,
            "out_h": self.out_h, "out_w": self.out_w, "out_c": self.out_c,
            "kernel_h": self.kernel_h, "kernel_w": self.kernel_w, "stride_h": self.stride_h,
            "stride_w": self.stride_w, "pad_h": self.pad_h, "pad_w": self.pad_w,
            "dil_h": self.dil_h, "dil_w": self.dil_w, "groups": self.groups, "bias": self.bias,
            "extra_params": self.extra_params, "batch": self.batch,
            "nm": None if self.nm is None else f"{self.nm[0]}:{self.nm[1]}",
            "operand": self.operand,
        }

    @property
    def shape_str(self) -> str:
        """Short human-readable shape, e.g. ``56x56x64 -> 3x3/1 -> 56x56x64``."""
        if self.kind == "matmul":
            return f"{self.batch}x[{self.in_h * self.in_w}x{self.in_c}]@[{self.in_c}x{self.out_c}]"
        k = f"{self.kernel_h}x{self.kernel_w}/{self.stride_h}"
        if self.groups > 1:
            k += f" g{self.groups}"
        return (f"{self.in_h}x{self.in_w}x{self.in_c} -> {k} -> "
                f"{self.out_h}x{self.out_w}x{self.out_c}")


@dataclass(frozen=True)
class Network:
    """A network: its array layers and, for a graph, every node in run order.

    ``layers`` are the array nodes (conv, linear, matmul) in run order.  ``nodes`` holds every
    node -- array layers and :class:`~ewssim.workload.graph.VectorOp` s -- in run order (empty:
    the network is the layers alone, each reading the previous one's output).  ``edges`` lists
    ``(node, inputs)`` for every node whose inputs are not just the previous node's output:
    input names are earlier nodes or :data:`~ewssim.workload.graph.INPUT`.  Build a graph with
    :meth:`from_nodes`."""

    name: str
    layers: tuple[Layer, ...]
    source: str = ""
    nodes: tuple = ()
    edges: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self) -> None:
        src = self.source or self.name
        if not self.layers:
            raise InputError("the network has no array layers (conv, linear or matmul)",
                             source=src)
        seen: set[str] = set()
        for node in self.graph_nodes:
            if node.name in seen or node.name == INPUT:
                raise InputError(f"duplicate node name {node.name!r}", source=src,
                                 field="name", allowed=f"unique names other than {INPUT!r}")
            seen.add(node.name)
        if self.nodes and tuple(n for n in self.nodes if isinstance(n, Layer)) != self.layers:
            raise InputError("layers differ from the array nodes of the graph", source=src,
                             field="layers", allowed="the graph's array nodes, in order")
        order = {n.name: i for i, n in enumerate(self.graph_nodes)}
        for name, ins in self.edges:
            if name not in order:
                raise InputError(f"inputs given for unknown node {name!r}", source=src,
                                 field="inputs", allowed="a node of the network")
            for t in ins:
                if t != INPUT and order.get(t, len(order)) >= order[name]:
                    raise InputError(f"node '{name}' reads {t!r}, which is not an earlier node",
                                     source=src, field="inputs",
                                     allowed=f"{INPUT!r} or the name of an earlier node")

    @classmethod
    def from_nodes(cls, name: str, nodes, inputs: dict[str, tuple[str, ...]] | None = None,
                   source: str = "") -> Network:
        """A graph from its nodes in run order and each node's inputs (default: the previous
        node's output, or the network input for the first node)."""
        nodes = tuple(nodes)
        layers = tuple(n for n in nodes if isinstance(n, Layer))
        edges = []
        for i, n in enumerate(nodes):
            ins = tuple((inputs or {}).get(n.name, ()))
            default = (nodes[i - 1].name,) if i else (INPUT,)
            if ins and ins != default:
                edges.append((n.name, ins))
        if len(layers) == len(nodes) and not edges:
            return cls(name=name, layers=layers, source=source)
        return cls(name=name, layers=layers, source=source, nodes=nodes, edges=tuple(edges))

    @property
    def graph_nodes(self) -> tuple:
        """Every node in run order (the layers, for a network that is not a graph)."""
        return self.nodes or self.layers

    @property
    def vector_ops(self) -> tuple:
        return tuple(n for n in self.graph_nodes if not isinstance(n, Layer))

    def inputs_of(self, name: str) -> tuple[str, ...]:
        """The tensors node ``name`` reads (earlier nodes' names, or ``INPUT``)."""
        for n, ins in self.edges:
            if n == name:
                return ins
        nodes = self.graph_nodes
        i = next(j for j, n in enumerate(nodes) if n.name == name)
        return (nodes[i - 1].name,) if i else (INPUT,)

    @property
    def input_elems(self) -> int:
        """Elements of the network's input tensor (what its first node reads)."""
        first = self.graph_nodes[0]
        if isinstance(first, Layer):
            return first.batch * first.in_h * first.in_w * first.in_c
        return first.input_elems

    @property
    def macs(self) -> int:
        return sum(la.macs for la in self.layers)

    @property
    def params(self) -> int:
        return sum(n.params for n in self.graph_nodes)

    @property
    def weights(self) -> int:
        return sum(la.weights for la in self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def with_batch(self, batch: int) -> Network:
        """The same network on ``batch`` inputs: every node's batch multiplied (a conv's or
        linear's stream grows, so each weight tile is reused across the batch)."""
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise InputError(f"batch must be a positive integer, got {batch!r}",
                             field="--batch", allowed="integer >= 1")
        if batch == 1:
            return self
        nodes = tuple(dataclasses.replace(n, batch=n.batch * batch) for n in self.graph_nodes)
        layers = tuple(n for n in nodes if isinstance(n, Layer))
        return dataclasses.replace(self, layers=layers,
                                   nodes=nodes if self.nodes else ())

    def as_dict(self) -> dict:
        """``{name, layers, macs, params, weights}`` and, for a graph, its vector operators
        (what ``workload show --json`` prints)."""
        d = {"name": self.name, "layers": [la.as_dict() for la in self.layers],
             "macs": self.macs, "params": self.params, "weights": self.weights}
        if self.nodes:
            d["vector_ops"] = [dict(v.as_dict(), inputs=list(self.inputs_of(v.name)))
                               for v in self.vector_ops]
            d["vector_work"] = sum(v.work for v in self.vector_ops)
        return d
