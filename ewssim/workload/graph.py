"""Vector operators and the graph a network is (docs/workloads.md, "Graphs").

A network is a list of *nodes* in run order.  Array nodes are :class:`~ewssim.workload.layers.
Layer` s (conv, linear, matmul: the systolic array runs them).  Every other operator is a
:class:`VectorOp`, run by the vector unit (:mod:`ewssim.hw.vector`): elementwise arithmetic,
activations, pooling, softmax, normalisation, resize and data movement.  Each node has one
output tensor, named after the node; its inputs are the outputs of earlier nodes, or the
network's input (``INPUT``).

How much work an operator is (elements the vector unit processes) depends on its class
(:data:`VECTOR_OPS`):

* ``elementwise`` (add, sub, mul, div, max, min), ``activation`` (relu, clip, hardsigmoid,
  hardswish, sigmoid, gelu, silu, tanh, and the elementwise pieces of a decomposed norm:
  sqrt, reciprocal, pow, exp), ``resize`` and ``copy`` (concat, slice, transpose, pad): one
  element per output element;
* ``pool`` (maxpool, avgpool): one per output element per window tap;
* ``reduce`` (globalavgpool, reducemean, reducesum, reducemax), ``softmax``, ``norm``
  (layernorm, rmsnorm): one per input element (the vector unit's cycles per element for each
  class say how many passes that takes).
"""

from __future__ import annotations

from dataclasses import dataclass

from ewssim.errors import InputError

#: the name of the network's input tensor in a node's input list
INPUT = "input"

#: vector operator -> its class (work and cycles per element are per class)
VECTOR_OPS: dict[str, str] = {
    **dict.fromkeys(("add", "sub", "mul", "div", "max", "min"), "elementwise"),
    **dict.fromkeys(("relu", "clip", "hardsigmoid", "hardswish", "sigmoid", "gelu", "silu",
                     "tanh", "sqrt", "reciprocal", "pow", "exp", "erf", "neg"), "activation"),
    **dict.fromkeys(("maxpool", "avgpool"), "pool"),
    **dict.fromkeys(("globalavgpool", "reducemean", "reducesum", "reducemax"), "reduce"),
    "softmax": "softmax",
    **dict.fromkeys(("layernorm", "rmsnorm"), "norm"),
    "resize": "resize",
    **dict.fromkeys(("concat", "slice", "transpose", "pad"), "copy"),
}
VECTOR_CLASSES: tuple[str, ...] = ("elementwise", "activation", "pool", "reduce", "softmax",
                                   "norm", "resize", "copy")
#: operators that may run in the producing step's output path (``vector.fuse_activations``):
#: activations, and elementwise operators with one tensor input (the other a constant)
FUSABLE_CLASSES: tuple[str, ...] = ("activation", "elementwise")


@dataclass(frozen=True)
class VectorOp:
    """One operator on the vector unit.  Shapes are per image (``batch`` images):
    ``in_*`` is the first input's shape, ``out_*`` the output's; ``kernel_*`` is a pooling
    window (1 otherwise)."""

    name: str
    op: str
    in_h: int
    in_w: int
    in_c: int
    out_h: int
    out_w: int
    out_c: int
    kernel_h: int = 1
    kernel_w: int = 1
    batch: int = 1
    #: parameters the operator holds (a norm's scale and shift), counted in ``params``
    extra_params: int = 0

    kind = "vector"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, source: str | None = None, line: int | None = None) -> None:
        def bad(fld: str, problem: str, allowed: str) -> InputError:
            return InputError(f"node '{self.name}': {problem}", source=source, line=line,
                              field=fld, allowed=allowed)

        if self.op not in VECTOR_OPS:
            raise bad("type", f"unknown operator {self.op!r}",
                      "conv, linear, matmul or a vector operator: " + ", ".join(VECTOR_OPS))
        for fld in ("in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "kernel_h", "kernel_w",
                    "batch"):
            v = getattr(self, fld)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise bad(fld, f"must be a positive integer, got {v!r}", "integer >= 1")
        v = self.extra_params
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise bad("extra_params", f"must be a non-negative integer, got {v!r}",
                      "integer >= 0")

    @property
    def op_class(self) -> str:
        return VECTOR_OPS[self.op]

    @property
    def input_elems(self) -> int:
        """Elements of the first input."""
        return self.batch * self.in_h * self.in_w * self.in_c

    @property
    def output_elems(self) -> int:
        return self.batch * self.out_h * self.out_w * self.out_c

    @property
    def work(self) -> int:
        """Elements the vector unit processes (see the module docstring)."""
        cls = self.op_class
        if cls == "pool":
            return self.output_elems * self.kernel_h * self.kernel_w
        if cls in ("reduce", "softmax", "norm"):
            return self.input_elems
        return self.output_elems

    def output_bytes(self, bits: int = 8) -> int:
        return (self.output_elems * bits + 7) // 8

    # the counts a layer has, so a node list can be summed like layers
    macs = 0
    weights = 0

    @property
    def params(self) -> int:
        return self.extra_params

    @property
    def shape_str(self) -> str:
        k = f" {self.kernel_h}x{self.kernel_w}" if self.op_class == "pool" else ""
        return (f"{self.in_h}x{self.in_w}x{self.in_c} -> {self.op}{k} -> "
                f"{self.out_h}x{self.out_w}x{self.out_c}")

    def as_dict(self) -> dict:
        return {"name": self.name, "type": self.op, "class": self.op_class,
                "in_h": self.in_h, "in_w": self.in_w, "in_c": self.in_c,
                "out_h": self.out_h, "out_w": self.out_w, "out_c": self.out_c,
                "kernel_h": self.kernel_h, "kernel_w": self.kernel_w, "batch": self.batch,
                "work": self.work, "macs": 0, "weights": 0, "params": self.params}


def collapse_gated(nodes: list, inputs: dict[str, tuple[str, ...]]) -> int:
    """Replace, in place, every decomposed gated activation ``x * f(x)`` -- a ``mul`` of ``x``
    with the end of a chain of unary elementwise/activation operators on ``x``, each read only
    by the next (hard-swish ``x * clip(x + 3, 0, 6)`` as exporters write it, or SiLU ``x *
    sigmoid(x)``) -- by one activation on ``x`` (``hardswish`` when the chain clips, else
    ``silu``), which may then run in the output path of ``x``'s producer.  Returns how many
    were collapsed."""
    readers: dict[str, int] = {}
    for n in nodes:
        for t in inputs.get(n.name, ()):
            readers[t] = readers.get(t, 0) + 1
    by = {n.name: n for n in nodes}

    def unary(name: str) -> bool:
        n = by.get(name)
        return (isinstance(n, VectorOp) and n.op_class in ("elementwise", "activation")
                and len(inputs.get(name, ())) == 1 and readers.get(name) == 1)

    drop: set[str] = set()
    done = 0
    for i, m in enumerate(nodes):
        ins = inputs.get(m.name, ())
        if not (isinstance(m, VectorOp) and m.op == "mul" and len(ins) == 2):
            continue
        for x, g in (ins, ins[::-1]):
            chain, t = [], g
            while unary(t) and t not in drop:
                chain.append(t)
                t = inputs[t][0]
                if t == x:
                    break
            if chain and t == x:
                op = "hardswish" if any(by[c].op == "clip" for c in chain) else "silu"
                drop |= set(chain)
                nodes[i] = VectorOp(m.name, op, m.in_h, m.in_w, m.in_c, m.out_h, m.out_w,
                                    m.out_c, batch=m.batch)
                inputs[m.name] = (x,)
                done += 1
                break
    nodes[:] = [n for n in nodes if n.name not in drop]
    for name in drop:
        inputs.pop(name, None)
    return done
