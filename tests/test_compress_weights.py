"""Weight sources: synthetic statistics, .npz/.npy/safetensors files, matching and errors."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from ewssim.compress import FileWeights, SyntheticWeights, compress_network, open_weights
from ewssim.errors import InputError
from ewssim.workload import Layer, Network


def _net():
    return Network("n", (
        Layer("conv1", "conv", 8, 8, 8, 16, 3, 3, pad_h=1, pad_w=1),
        Layer("qk", "matmul", 4, 1, 8, 4),
        Layer("fc", "linear", 1, 1, 16, 8),
    ))


def test_synthetic_is_seeded_heavy_tailed_and_channel_scaled():
    la = Layer("big", "conv", 8, 8, 64, 256, 3, 3, pad_h=1, pad_w=1)
    a = SyntheticWeights(7).get(la)
    assert a.dtype == np.float32 and a.shape == la.weight_shape
    assert np.array_equal(a, SyntheticWeights(7).get(la))
    assert not np.array_equal(a, SyntheticWeights(8).get(la))
    x = a.ravel().astype(np.float64)
    kurt = ((x - x.mean()) ** 4).mean() / x.var() ** 2
    assert kurt > 4  # heavier tails than a Gaussian (3)
    ch = a.reshape(256, -1).std(axis=1)
    assert ch.max() / ch.min() > 3  # per-output-channel scale spread
    assert abs(x.std() / np.sqrt(2 / (64 * 9)) - 1) < 0.5  # He-scaled


def test_npz_by_name_and_by_order(tmp_path):
    net = _net()
    w1 = np.ones((16, 8, 3, 3), np.float32)
    w2 = np.full((8, 16), 2.0, np.float32)  # a PyTorch linear weight (out, in)
    np.savez(tmp_path / "named.npz", **{"fc.weight": w2, "conv1": w1, "unused": np.zeros(3)})
    src = open_weights(tmp_path / "named.npz", net)
    assert src.matching == "name"
    assert np.array_equal(src.get(net.layers[0]), w1)
    assert src.get(net.layers[2]).shape == (8, 16, 1, 1)
    np.savez(tmp_path / "ordered.npz", a=w1, b=w2)
    src = FileWeights(tmp_path / "ordered.npz", net)
    assert src.matching == "order"
    assert np.all(src.get(net.layers[2]) == 2)


def test_file_errors_name_layer_and_shapes(tmp_path):
    net = _net()
    np.savez(tmp_path / "bad.npz", conv1=np.ones((16, 8, 1, 1), np.float32),
             fc=np.ones((8, 16), np.float32))
    with pytest.raises(InputError) as ei:
        compress_network(net, tmp_path / "bad.npz", method="dense")
    msg = str(ei.value)
    assert "bad.npz" in msg and "conv1" in msg and "(16, 8, 1, 1)" in msg \
        and "(16, 8, 3, 3)" in msg
    np.savez(tmp_path / "three.npz", a=np.ones(1), b=np.ones(1), c=np.ones(1))
    with pytest.raises(InputError, match="holds 3 arrays"):
        open_weights(tmp_path / "three.npz", net)
    np.savez(tmp_path / "part.npz", conv1=np.ones((16, 8, 3, 3), np.float32))
    with pytest.raises(InputError, match="field 'fc'"):
        open_weights(tmp_path / "part.npz", net)
    (tmp_path / "trunc.npz").write_bytes((tmp_path / "part.npz").read_bytes()[:100])
    with pytest.raises(InputError, match="trunc.npz"):
        open_weights(tmp_path / "trunc.npz", net).get(net.layers[0])
    with pytest.raises(InputError, match="field '--weights'"):
        open_weights(tmp_path / "nope.npz", net)
    np.savez(tmp_path / "nan.npz", conv1=np.full((16, 8, 3, 3), np.nan, np.float32),
             fc=np.ones((8, 16), np.float32))
    with pytest.raises(InputError, match="NaN"):
        open_weights(tmp_path / "nan.npz", net).get(net.layers[0])


def _write_safetensors(path, tensors: dict[str, np.ndarray], dtype_names: dict[str, str]):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, a in tensors.items():
        raw = a.tobytes()
        header[name] = {"dtype": dtype_names[name], "shape": list(a.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def test_safetensors(tmp_path):
    net = _net()
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    w2 = rng.standard_normal((8, 16)).astype(np.float16)
    bf = (w1.view(np.uint32) >> 16).astype(np.uint16)  # bfloat16 = top half of float32
    p = tmp_path / "m.safetensors"
    _write_safetensors(p, {"conv1.weight": bf, "fc.weight": w2, "fc.bias": np.zeros(8, "<f4")},
                       {"conv1.weight": "BF16", "fc.weight": "F16", "fc.bias": "F32"})
    src = open_weights(p, net)
    got = src.get(net.layers[0])
    assert np.allclose(got, w1, rtol=1e-2, atol=1e-2)
    assert np.array_equal(src.get(net.layers[2]).reshape(8, 16), w2.astype(np.float32))
    p.write_bytes(p.read_bytes()[:-10])  # truncated buffer
    with pytest.raises(InputError, match="m.safetensors.*truncated"):
        open_weights(p, net)
    p.write_bytes(b"\x05")
    with pytest.raises(InputError, match="field 'header'"):
        open_weights(p, net)


def test_npy_directory(tmp_path):
    net = _net()
    np.save(tmp_path / "conv1.npy", np.ones((16, 8, 3, 3), np.float32))
    np.save(tmp_path / "fc.npy", np.ones((8, 16), np.float32))
    cn = compress_network(net, tmp_path, method="dense")
    assert [la.name for la in cn] == ["conv1", "fc"]
    assert cn.settings["weights"].endswith("(matched by name)")
