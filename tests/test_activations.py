"""Input-activation density: CSV profiles, measured tensors, the default rule, NNZ_a per block."""

from __future__ import annotations

import numpy as np
import pytest

from ewssim.errors import InputError
from ewssim.workload import (
    ActivationProfile,
    Layer,
    Network,
    default_activation_profile,
    load_activation_csv,
    load_activation_npz,
    load_activation_profile,
    load_network,
    nnz_per_block,
)
from ewssim.workload.activations import POST_RELU_DENSITY


def _net():
    return Network("small", (
        Layer("stem", "conv", 8, 8, 3, 16, 3, 3, pad_h=1, pad_w=1),
        Layer("body", "conv", 8, 8, 16, 16, 3, 3, pad_h=1, pad_w=1),
        Layer("fc", "linear", 1, 1, 16, 10),
    ))


def _write(tmp_path, text, name="p.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


# --------------------------------------------------------------------------- CSV
def test_csv_profile(tmp_path):
    p = _write(tmp_path, "# measured on 100 ImageNet images\n\nlayer, density\n"
                         "stem, 1.0\nbody,0.375   # after ReLU\n fc , 0.9,\n")
    prof = load_activation_csv(p, _net())
    assert isinstance(prof, ActivationProfile)
    assert dict(prof) == {"stem": 1.0, "body": 0.375, "fc": 0.9}
    assert list(prof) == ["stem", "body", "fc"] and len(prof) == 3
    assert prof.nnz_per_block("body", 8) == 3 and prof.density(_net().layers[2]) == 0.9
    assert load_activation_profile(p, _net()).densities == prof.densities


@pytest.mark.parametrize("text,line,field", [
    ("name,density\nstem,1\n", 1, "header"),
    ("layer,density\nstem,1\nbody,0.5\nfc,0.5\nconv9,0.5\n", 5, "layer"),
    ("layer,density\nstem,1\nbody,0\nfc,0.5\n", 3, "density"),
    ("layer,density\nstem,1\nbody,1.5\nfc,0.5\n", 3, "density"),
    ("layer,density\nstem,1\nbody,-0.2\nfc,0.5\n", 3, "density"),
    ("layer,density\nstem,1\nbody,nan\nfc,0.5\n", 3, "density"),
    ("layer,density\nstem,1\nbody,half\nfc,0.5\n", 3, "density"),
    ("layer,density\nstem,1\nbody,0.5,7\nfc,0.5\n", 3, "layer,density"),
    ("layer,density\nstem,1\nstem,0.5\n", 3, "layer"),
    ("layer,density\nstem,1\nbody,0.5\n", None, "layer"),  # fc missing
    ("# only a comment\n", None, "header"),
])
def test_csv_errors(tmp_path, text, line, field):
    p = _write(tmp_path, text)
    with pytest.raises(InputError) as e:
        load_activation_csv(p, _net())
    msg = str(e.value)
    assert "\n" not in msg and f"field '{field}'" in msg, msg
    assert msg.startswith(f"{p}:{line}: " if line else f"{p}: "), msg
    if field == "layer" and line is None:  # the missing layer is named
        assert "fc" in msg


def test_csv_unreadable(tmp_path):
    with pytest.raises(InputError, match="field 'file'"):
        load_activation_csv(tmp_path / "nope.csv", _net())


# --------------------------------------------------------------------------- npz
def test_npz_tensors(tmp_path):
    rng = np.random.default_rng(0)
    body = np.maximum(rng.standard_normal((2, 16, 8, 8)), 0).astype(np.float32)  # batch 2
    fc = np.arange(16, dtype=np.int8).reshape(1, 16)  # one zero out of 16
    img = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    p = tmp_path / "act.npz"
    np.savez(p, stem=img, body=body, fc=fc)
    prof = load_activation_npz(p, _net())
    assert prof["stem"] == 1.0
    assert prof["body"] == np.count_nonzero(body) / body.size
    assert 0.3 < prof["body"] < 0.7
    assert prof["fc"] == 15 / 16
    assert load_activation_profile(p, _net()).densities == prof.densities


@pytest.mark.parametrize("arrays,field", [
    ({"stem": np.ones(192), "body": np.ones(1024)}, "fc"),  # missing layer
    ({"stem": np.ones(192), "body": np.ones(1024), "fc": np.ones(16), "x": np.ones(2)}, "x"),
    ({"stem": np.ones(192), "body": np.zeros(1024), "fc": np.ones(16)}, "body"),  # density 0
    ({"stem": np.ones(192), "body": np.ones(1000), "fc": np.ones(16)}, "body"),  # wrong size
    ({"stem": np.ones(192), "body": np.ones(1024), "fc": np.array(["a"] * 16)}, "fc"),
    ({"stem": np.ones(192), "body": np.full(1024, np.nan), "fc": np.ones(16)}, "body"),
])
def test_npz_errors(tmp_path, arrays, field):
    p = tmp_path / "act.npz"
    np.savez(p, **arrays)
    with pytest.raises(InputError) as e:
        load_activation_npz(p, _net())
    msg = str(e.value)
    assert "\n" not in msg and str(p) in msg and f"field '{field}'" in msg, msg


def test_npz_not_an_archive(tmp_path):
    p = _write(tmp_path, "garbage", "act.npz")
    with pytest.raises(InputError, match="field 'file'"):
        load_activation_npz(p, _net())
    with pytest.raises(InputError, match="field 'activations'"):
        load_activation_profile(tmp_path / "act.json", _net())


# --------------------------------------------------------------------------- default rule
def test_default_resnet18():
    net = load_network("resnet18")
    prof = default_activation_profile(net)
    assert load_activation_profile(None, net).densities == prof.densities
    assert load_activation_profile("default", net).densities == prof.densities
    assert set(prof) == {la.name for la in net.layers}
    assert all(0.0 < v <= 1.0 for v in prof.values())
    assert prof["conv1"] == 1.0  # image
    assert prof["fc"] == 1.0  # after global average pooling
    assert prof["layer1.0.conv1"] == prof["layer2.0.downsample.0"] == POST_RELU_DENSITY == 0.56
    assert "Cnvlutin" in prof.source and "Cnvlutin" in prof.rules["layer1.0.conv2"]
    assert prof.nnz_per_block("layer1.0.conv1", 8) == 5  # ceil(0.56 * 8)


def test_default_other_zoo_networks():
    deit = default_activation_profile(load_network("deit_tiny"))
    assert set(deit.values()) == {1.0}  # transformer: no exact zeros
    mb = default_activation_profile(load_network("mobilenet_v2"))
    assert mb["features.0.0"] == 1.0
    assert mb["features.1.conv.0.0"] == mb["features.1.conv.1"] == 0.56  # after ReLU6
    assert mb["features.2.conv.0.0"] == 1.0  # after the linear bottleneck projection
    assert mb["features.18.0"] == 1.0 and mb["classifier.1"] == 1.0
    vgg = default_activation_profile(load_network("vgg16"))
    assert vgg["classifier.0"] == 0.56  # flattened ReLU + max-pool output, not a global pool


# --------------------------------------------------------------------------- NNZ_a
@pytest.mark.parametrize("density,bz,nnz", [
    (1.0, 8, 8), (0.56, 8, 5), (0.5, 8, 4), (0.375, 8, 3), (0.376, 8, 4), (0.01, 8, 1),
    (0.0, 8, 1), (0.3, 4, 2), (0.25, 4, 1), (0.7, 1, 1), (0.1 + 0.2, 10, 3),
])
def test_nnz_per_block(density, bz, nnz):
    assert nnz_per_block(density, bz) == nnz


def test_nnz_per_block_keeps_every_nonzero_on_average():
    for bz in (2, 4, 8, 16):
        for d in np.linspace(0.01, 1.0, 100):
            n = nnz_per_block(float(d), bz)
            assert 1 <= n <= bz and n >= d * bz - 1e-9 and (n == 1 or n - 1 < d * bz)


@pytest.mark.parametrize("density,bz", [(1.5, 8), (-0.1, 8), (0.5, 0), (0.5, True)])
def test_nnz_per_block_rejects(density, bz):
    with pytest.raises(ValueError):
        nnz_per_block(density, bz)
