"""ONNX import (ewssim.workload.onnx): MACs against an independent count, bad input, weights.

The independent MAC count below reads the ONNX file itself (onnx.shape_inference with the input
fixed, weight dims from the initializers / Constant nodes) and applies the textbook formulas:
conv = output elements x Cin/groups x kh x kw, transposed conv = input elements x Cout/groups x
kh x kw, MatMul / Gemm = output elements x K.  It shares no code with the importer.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from ewssim.errors import InputError  # noqa: E402
from ewssim.workload.onnx import import_onnx, parse_input_shape  # noqa: E402

MODELS = Path("/work/shared/data/models")
DET = MODELS / "ch_PP-OCRv4_det_infer.onnx"
CLS = MODELS / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
ROOT = Path(__file__).resolve().parents[1]
need_models = pytest.mark.skipif(not DET.is_file() or not CLS.is_file(),
                                 reason="shared models not present")


# ----------------------------------------------------------------------------- independent count
def independent_macs(path_or_model, input_shape) -> int:
    model = onnx.load(str(path_or_model)) if not isinstance(path_or_model, onnx.ModelProto) \
        else path_or_model
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    inits = {t.name for t in g.initializer}
    x = next(i for i in g.input if i.name not in inits)
    dims = x.type.tensor_type.shape.dim
    for d, v in zip(dims, input_shape, strict=True):
        d.Clear()
        d.dim_value = v
    inf = onnx.shape_inference.infer_shapes(m, data_prop=True, strict_mode=True)
    shapes = {}
    for vi in list(inf.graph.value_info) + list(inf.graph.input) + list(inf.graph.output):
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    for t in g.initializer:
        shapes[t.name] = list(t.dims)
    for n in g.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    shapes[n.output[0]] = list(a.t.dims)
    array = [n for n in g.node if n.op_type in ("Conv", "ConvTranspose", "MatMul", "Gemm")]
    need = {t for n in array for t in (n.input[0], n.output[0])}
    missing = [t for t in need if not shapes.get(t) or 0 in shapes[t]]
    if missing:  # shape inference gave up (a computed Reshape target): run onnx's reference
        from onnx.reference import ReferenceEvaluator  # numpy evaluator, also not the importer

        m2 = onnx.ModelProto()
        m2.CopyFrom(model)
        m2.graph.output.extend(helper.make_empty_tensor_value_info(t) for t in missing)
        outs = ReferenceEvaluator(m2).run(missing, {x.name: np.zeros(input_shape, np.float32)})
        shapes.update({t: list(v.shape) for t, v in zip(missing, outs, strict=True)})
    total = 0
    for n in array:
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        if n.op_type == "Conv":
            w = shapes[n.input[1]]
            total += math.prod(shapes[n.output[0]]) * w[1] * math.prod(w[2:])
        elif n.op_type == "ConvTranspose":
            w = shapes[n.input[1]]
            total += math.prod(shapes[n.input[0]]) * w[1] * math.prod(w[2:])
        elif n.op_type == "MatMul":
            total += math.prod(shapes[n.output[0]]) * shapes[n.input[0]][-1]
        elif n.op_type == "Gemm":
            a = shapes[n.input[0]]
            k = a[0] if attrs.get("transA", 0) else a[-1]
            total += math.prod(shapes[n.output[0]]) * k
    return total


# ----------------------------------------------------------------------------- model builders
class Builder:
    def __init__(self, shape, seed=0):
        self.nodes, self.inits = [], []
        self.shape = list(shape)
        self.rng = np.random.default_rng(seed)
        self.i = 0
        self.input = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))

    def name(self, base):
        self.i += 1
        return f"{base}{self.i}"

    def const(self, arr, base="w"):
        n = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(arr), n))
        return n

    def node(self, op, inputs, **attrs):
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def model(self, out, opset=17, dynamic=False):
        inp = self.input
        if dynamic:
            inp = helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                ["N", self.shape[1], "H", "W"])
        g = helper.make_graph(self.nodes, "g", [inp],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
                              self.inits)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def save(model, tmp_path, name="m.onnx") -> Path:
    p = tmp_path / name
    onnx.save(model, str(p))
    return p


def small_model(bn=True, dynamic=False, cin=8, cout=32):
    b = Builder((1, cin, 12, 12))
    rng = b.rng
    w = b.const(rng.standard_normal((cout, cin, 3, 3)).astype(np.float32))
    bias = b.const(rng.standard_normal(cout).astype(np.float32))
    y = b.node("Conv", ["x", w, bias], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    if bn:
        y = b.node("BatchNormalization", [y] + [b.const(v.astype(np.float32)) for v in (
            rng.uniform(0.5, 2, cout), rng.standard_normal(cout), rng.standard_normal(cout),
            rng.uniform(0.5, 2, cout))], epsilon=1e-3)
    y = b.node("Relu", [y])
    w2 = b.const(rng.standard_normal((cout, cout // 4, 3, 3)).astype(np.float32))
    y = b.node("Conv", [y, w2], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=4, strides=[2, 2])
    y = b.node("GlobalAveragePool", [y])
    y = b.node("Flatten", [y])
    y = b.node("MatMul", [y, b.const(rng.standard_normal((cout, 10)).astype(np.float32))])
    y = b.node("Softmax", [y], axis=-1)
    return b.model(y, dynamic=dynamic)


# ----------------------------------------------------------------------------- shared models
@need_models
@pytest.mark.parametrize("path,shape,macs,layers,vec", [
    # decomposed hard-swishes x * clip(x + 3) become one node each (2 nodes fewer): 24 and 18
    (DET, (1, 3, 640, 640), 2_301_935_744, 64, 264 - 2 * 24),
    (CLS, (1, 3, 48, 192), 16_315_376, 54, 143 - 2 * 18),
])
def test_shared_models(path, shape, macs, layers, vec):
    r = import_onnx(path, shape)
    net = r.network
    assert net.macs == independent_macs(path, shape) == macs
    assert (len(net.layers), len(net.vector_ops)) == (layers, vec)
    assert r.coverage["macs_pct"] == 100.0 and r.coverage["vector_ops_pct"] == 100.0
    assert r.has_weights
    for la in net.layers:
        if la.has_weights:
            assert r.weights[la.name].shape == la.weight_shape
            assert r.weights[la.name].dtype == np.float32
    assert all("," not in n.name for n in net.graph_nodes)


@need_models
def test_det_other_shape_and_zoo():
    from ewssim.workload import load_network, zoo_names

    r = import_onnx(DET, (1, 3, 320, 480))
    assert r.network.macs == independent_macs(DET, (1, 3, 320, 480))
    if (ROOT / "workloads" / "ppocr-det.onnx").is_file():
        assert "ppocr-det" in zoo_names()
        assert load_network("ppocr-det").macs == 2_301_935_744
        assert (ROOT / "workloads" / "ppocr-det.NOTICE.md").read_text().count("Apache") >= 1


def test_workload_show_json_of_the_zoo_detector(capsys):
    """`ewssim workload show ppocr-det --json`: MACs equal to the independent count of the
    file and what the import covered (100 % of MACs and vector operators)."""
    import json

    from ewssim.cli import main

    model = ROOT / "workloads" / "ppocr-det.onnx"
    if not model.is_file():
        pytest.skip("the zoo's ONNX file is not installed")
    assert main(["workload", "show", "ppocr-det", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["macs"] == independent_macs(str(model), (1, 3, 640, 640)) == 2_301_935_744
    assert d["coverage"]["macs_pct"] == d["coverage"]["vector_ops_pct"] == 100.0
    assert d["weights_in_file"] and d["input_shape"] == [1, 3, 640, 640]
    assert len(d["layers"]) == 64 and len(d["vector_ops"]) == 216


# ----------------------------------------------------------------------------- bad input
def test_bad_inputs(tmp_path):
    good = save(small_model(dynamic=True), tmp_path)
    trunc = tmp_path / "trunc.onnx"
    trunc.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 3])
    with pytest.raises(InputError):
        import_onnx(trunc, (1, 8, 12, 12))
    with pytest.raises(InputError, match="--input-shape"):
        import_onnx(good)
    with pytest.raises(InputError, match="no such file"):
        import_onnx(tmp_path / "nope.onnx", (1, 8, 12, 12))
    with pytest.raises(InputError):
        import_onnx(good, (1, 8, 0, 12))
    with pytest.raises(InputError, match="rank"):
        import_onnx(good, (1, 8, 12))
    with pytest.raises(InputError):
        parse_input_shape("1,a,3")
    text = tmp_path / "text.onnx"
    text.write_text("hello, not a model\n")
    with pytest.raises(InputError):
        import_onnx(text, (1, 8, 12, 12))
    # unknown operator
    b = Builder((1, 4, 8, 8))
    y = b.node("Conv", ["x", b.const(np.ones((4, 4, 1, 1), np.float32))], kernel_shape=[1, 1])
    y = b.node("Celu", [y])
    with pytest.raises(InputError, match="'Celu' is not modelled") as ei:
        import_onnx(save(b.model(y), tmp_path, "u.onnx"))
    assert ei.value.field == "op_type" and "Conv" in ei.value.allowed
    # a node producing a zero-sized dimension
    b = Builder((1, 4, 8, 8))
    y = b.node("Conv", ["x", b.const(np.ones((4, 4, 1, 1), np.float32))], kernel_shape=[1, 1])
    y = b.node("Slice", [y, b.const(np.array([3], np.int64)), b.const(np.array([3], np.int64)),
                         b.const(np.array([2], np.int64))])
    with pytest.raises(InputError, match="zero-sized"):
        import_onnx(save(b.model(y), tmp_path, "z.onnx"))
    # asymmetric pads that no symmetric pad reproduces
    b = Builder((1, 4, 8, 8))
    y = b.node("Conv", ["x", b.const(np.ones((4, 4, 3, 3), np.float32))], kernel_shape=[3, 3],
               pads=[0, 0, 1, 0])
    with pytest.raises(InputError, match="asymmetric"):
        import_onnx(save(b.model(y), tmp_path, "a.onnx"))


def test_onnx_missing(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(InputError, match=r"ewssim\[onnx\]"):
        import_onnx(tmp_path / "m.onnx", (1, 3, 8, 8))


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ewssim", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def test_cli_errors(tmp_path):
    good = save(small_model(dynamic=True), tmp_path)
    trunc = tmp_path / "trunc.onnx"
    trunc.write_bytes(good.read_bytes()[:200])
    for args in ([trunc, "--input-shape", "1,8,12,12"], [good], [tmp_path / "no.onnx"],
                 [good, "--input-shape", "1,8,0,12"]):
        r = _cli("workload", "import", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
        assert r.stderr.startswith("ewssim: error:")


def test_cli_import_and_csv(tmp_path):
    from ewssim.cli import main
    from ewssim.workload import load_network

    p = save(small_model(dynamic=True), tmp_path)
    out = tmp_path / "m.csv"
    assert main(["workload", "import", str(p), "--input-shape", "1,8,12,12", "--out",
                 str(out)]) == 0
    net = import_onnx(p, (1, 8, 12, 12)).network
    back = load_network(str(out))
    assert back.macs == net.macs and len(back.graph_nodes) == len(net.graph_nodes)
    assert load_network(str(p), input_shape=(2, 8, 12, 12)).macs == 2 * net.macs


# ----------------------------------------------------------------------------- weights
def conv2d(x, w, b=None, stride=1, pad=0, groups=1):
    """Plain numpy NCHW convolution (batch 1)."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    y = np.zeros((o, oh, ow))
    og = o // groups
    for oc in range(o):
        gi = oc // og
        xs = x[gi * cg:(gi + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, i:i + stride * oh:stride, j:j + stride * ow:stride]
                y[oc] += np.tensordot(w[oc, :, i, j], patch, axes=1)
    if b is not None:
        y += b[:, None, None]
    return y


def test_bn_folding_numerics():
    m = small_model(bn=True)
    g = m.graph
    init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    conv, bn = g.node[0], g.node[1]
    w, b = init[conv.input[1]], init[conv.input[2]]
    gamma, beta, mean, var = (init[t] for t in bn.input[1:])
    eps = helper.get_attribute_value(bn.attribute[0])
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "bn.onnx"
        onnx.save(m, str(p))
        r = import_onnx(p)
    la = r.network.layers[0]
    assert la.bias and r.coverage["bn_folded"] == 1
    x = np.random.default_rng(1).standard_normal((8, 12, 12))
    ref = conv2d(x, w, b, pad=1)
    ref = (ref - mean[:, None, None]) / np.sqrt(var[:, None, None] + eps) \
        * gamma[:, None, None] + beta[:, None, None]
    # the folded bias is kept by the importer alongside the weights
    from ewssim.workload import onnx as mod

    imp = mod._CACHE[next(k for k in mod._CACHE if k[0] == str(p.resolve()))]
    assert imp is r
    folded = conv2d(x, r.weights[la.name].astype(np.float64), None, pad=1)
    scale = gamma / np.sqrt(var + eps)
    bias = (b - mean) * scale + beta
    np.testing.assert_allclose(folded + bias[:, None, None], ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(r.biases[la.name], bias, rtol=1e-5, atol=1e-5)


def conv_transpose(x, wt, s):
    """numpy ConvTranspose, pads 0, groups 1: wt [Cin, Cout, k, k]."""
    cin, h, w = x.shape
    _, cout, k, _ = wt.shape
    y = np.zeros((cout, s * (h - 1) + k, s * (w - 1) + k))
    for i in range(h):
        for j in range(w):
            y[:, i * s:i * s + k, j * s:j * s + k] += np.tensordot(x[:, i, j], wt, axes=1)
    return y


@pytest.mark.parametrize("k,s", [(2, 2), (6, 2), (3, 1)])
def test_conv_transpose_phase_weights(tmp_path, k, s):
    b = Builder((1, 3, 5, 5))
    wt = b.rng.standard_normal((3, 4, k, k)).astype(np.float32)
    y = b.node("ConvTranspose", ["x", b.const(wt)], kernel_shape=[k, k], strides=[s, s])
    r = import_onnx(save(b.model(y), tmp_path))
    la = r.network.layers[0]
    assert la.macs == independent_macs(b.model(y), (1, 3, 5, 5))
    x = b.rng.standard_normal((3, 5, 5))
    full = conv_transpose(x, wt.astype(np.float64), s)
    p = (k // s - 1) // 2
    ph = conv2d(x, r.weights[la.name].astype(np.float64), pad=la.pad_h)  # [Cout*s*s, 5, 5]
    d2s = ph.reshape(4, s, s, 5, 5).transpose(0, 3, 1, 4, 2).reshape(4, 5 * s, 5 * s)
    np.testing.assert_allclose(d2s, full[:, p * s:p * s + 5 * s, p * s:p * s + 5 * s],
                               atol=1e-4)


def test_compress_from_cli(tmp_path):
    p = save(small_model(dynamic=True, cin=16, cout=64), tmp_path)
    out = tmp_path / "c"
    r = _cli("compress", "--from", p, "--input-shape", "1,16,12,12", "--k", "16", "--out", out)
    assert r.returncode == 0, r.stderr
    assert (out / "manifest.json").is_file() and "compressed" in r.stdout
    from ewssim.compress import load_network_dir

    cn = load_network_dir(out)
    assert len(cn.layers) == 3
    # stripped weights -> a clear error
    m = small_model(dynamic=True)
    for t in m.graph.initializer:
        t.ClearField("raw_data")
        t.ClearField("float_data")
    q = save(m, tmp_path, "stripped.onnx")
    r2 = import_onnx(q, (1, 8, 12, 12))
    assert not r2.has_weights and r2.network.macs > 0
    from ewssim.compress.weights import open_weights

    with pytest.raises(InputError, match="no weights"):
        open_weights(str(q), r2.network)


def test_run_batch_and_weights_cli(tmp_path):
    p = save(small_model(dynamic=True, cin=16, cout=64), tmp_path)
    from ewssim import api

    net = api.load_workload(str(p), input_shape="1,16,12,12")
    res = api.simulate("mvq", net, weights=str(p), batch=2)
    assert res.totals["macs"] == 2 * net.macs
    r = _cli("run", "--arch", "mvq", "--workload", p, "--input-shape", "1,16,12,12", "--batch",
             "0")
    assert r.returncode == 2 and "Traceback" not in r.stderr


# ----------------------------------------------------------------------------- random graphs
@st.composite
def graphs(draw):
    seed = draw(st.integers(0, 2**16))
    c = draw(st.integers(1, 6))
    h = draw(st.integers(6, 14))
    w = draw(st.integers(6, 14))
    b = Builder((1, c, h, w), seed)
    rng = b.rng
    y = "x"
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "conv", "res", "pool", "convt"]))
        if kind in ("conv", "res"):
            k = draw(st.integers(1, 3))
            d = draw(st.integers(1, 2))
            eff = d * (k - 1) + 1
            if kind == "res":
                k, s, g, cout = 2 * (k // 2) + 1, 1, 1, c
                eff = d * (k - 1) + 1
                p = (eff - 1) // 2
            else:
                s = draw(st.integers(1, 2))
                p = draw(st.integers(0, k - 1))
                g = draw(st.sampled_from([x for x in (1, 2, c) if c % x == 0]))
                cout = g * draw(st.integers(1, 3))
            if eff > min(h, w) + 2 * p:
                continue
            wt = b.const(rng.standard_normal((cout, c // g, k, k)).astype(np.float32))
            o = b.node("Conv", [y, wt], kernel_shape=[k, k], strides=[s, s], pads=[p] * 4,
                       dilations=[d, d], group=g)
            if draw(st.booleans()):
                o = b.node("BatchNormalization", [o] + [b.const(np.full(cout, v, np.float32))
                                                        for v in (1.5, 0.1, 0.2, 2.0)])
            o = b.node("Relu", [o])
            if kind == "res":
                o = b.node("Add", [y, o])
            y, c = o, cout
            h, w = (h + 2 * p - eff) // s + 1, (w + 2 * p - eff) // s + 1
        elif kind == "pool":
            k = draw(st.integers(2, 3))
            s = draw(st.integers(1, 2))
            if k > min(h, w):
                continue
            y = b.node(draw(st.sampled_from(["MaxPool", "AveragePool"])), [y],
                       kernel_shape=[k, k], strides=[s, s])
            h, w = (h - k) // s + 1, (w - k) // s + 1
        else:
            s = draw(st.integers(1, 2))
            k = s * draw(st.sampled_from([1, 3]))
            cout = draw(st.integers(1, 4))
            wt = b.const(rng.standard_normal((c, cout, k, k)).astype(np.float32))
            y = b.node("ConvTranspose", [y, wt], kernel_shape=[k, k], strides=[s, s])
            c, h, w = cout, s * (h - 1) + k, s * (w - 1) + k
    tail = draw(st.sampled_from(["linear", "attn", "none"]))
    if tail == "linear":
        y = b.node("Flatten", [b.node("GlobalAveragePool", [y])])
        y = b.node("MatMul", [y, b.const(rng.standard_normal((c, 5)).astype(np.float32))])
    elif tail == "attn":
        a = b.node("Reshape", [y, b.const(np.array([1, c, h * w], np.int64))])
        t = b.node("Transpose", [a], perm=[0, 2, 1])
        y = b.node("Softmax", [b.node("MatMul", [a, t])], axis=-1)
    if tail != "linear":  # always at least one array layer
        y = b.node("Conv", [y if tail == "none" else b.node("Unsqueeze", [y, b.const(
            np.array([1], np.int64))]), b.const(np.ones((2, c if tail == "none" else 1, 1, 1),
                                                       np.float32))], kernel_shape=[1, 1])
    return b.model(y), b.shape


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_random_graphs(tmp_path_factory, case):
    model, shape = case
    p = tmp_path_factory.mktemp("g") / "g.onnx"
    onnx.save(model, str(p))
    r = import_onnx(p)
    assert r.network.macs == independent_macs(model, shape)
    assert r.coverage["macs_pct"] == 100.0 and r.coverage["vector_ops_pct"] == 100.0
    assert r.has_weights
