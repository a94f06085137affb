"""Compressed-layer file format: round trips, decode, validation errors, atomic writes."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ewssim.compress import (
    CompressedNetwork,
    SyntheticWeights,
    compress_layer,
    compress_network,
    decode,
    load_layer,
    load_network_dir,
    save_layer,
    save_network,
)
from ewssim.compress.codecs import decode_mask, encode_mask
from ewssim.errors import InputError
from ewssim.workload import Layer, Network


def _layer(o=8, c=16, r=3, s=3, name="conv"):
    return Layer(name, "conv", 6, 6, c, o, r, s, pad_h=r // 2, pad_w=s // 2)


def _expected_int8(cl):
    """Decode written independently of CompressedLayer.values(): codeword[idx] * mask * sign."""
    o, c, r, s = cl.weight_shape
    cp = -(-c // cl.format.d) * cl.format.d
    per = cl.n_sub // cl.format.codebook_groups
    grp = np.arange(cl.n_sub) // per
    v = cl.codebook[grp, cl.indices.astype(int)].astype(np.int16)
    v = v * cl.mask()
    v = np.where(cl.signs(), -v, v)
    t = v.reshape(o, r, s, cp)[..., :c].transpose(0, 3, 1, 2)
    return t.astype(np.int8)


def _same(a, b):
    assert a.name == b.name and a.format == b.format and a.weight_shape == b.weight_shape
    assert (a.fit, a.note) == (b.fit, b.note)
    for f in ("scale", "indices", "codebook", "mask_data", "sign_data", "int8_weights"):
        x, y = getattr(a, f), getattr(b, f)
        assert (x is None) == (y is None), f
        if x is not None:
            assert x.dtype == y.dtype and np.array_equal(x, y), f
    assert a.stats == b.stats


_METHODS = ["mvq", "casec", "vq", "ssvq", "dense"]
_ENC = ["bitmap", "positions", "combinatorial"]
_NM = [(1, 4), (2, 4), (3, 4), (1, 2), (2, 8), (4, 8), (4, 4)]


@st.composite
def _setup(draw):
    method = draw(st.sampled_from(_METHODS))
    nm = (4, 4) if method in ("vq", "dense") else draw(st.sampled_from(_NM))
    d = draw(st.sampled_from([m for m in (4, 8) if m % nm[1] == 0] or [8]))
    o = draw(st.sampled_from([2, 4, 6]))
    c = draw(st.sampled_from([d, 2 * d, 3, 5]))  # 3 and 5 exercise fit=pad
    r = draw(st.integers(1, 3))
    g = draw(st.sampled_from([1, 2]))
    n_sub_per_group = o * r * r * (-(-c // d)) // g
    k = draw(st.sampled_from([2 ** i for i in range(0, 6) if 2 ** i <= n_sub_per_group]))
    return dict(method=method, nm=nm, d=d, k=k, mask_encoding=draw(st.sampled_from(_ENC)),
                codebook_groups=g, fit="pad", seed=draw(st.integers(0, 9)), max_iter=5), \
        (o, c, r, r)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_setup())
def test_round_trip_and_decode(setup):
    kw, shape = setup
    w = SyntheticWeights(kw["seed"]).get(Layer("x", "conv", 4, 4, shape[1], shape[0], shape[2],
                                                shape[3], pad_h=1, pad_w=1))
    cl = compress_layer(w, name="layer/x.0", **kw)
    with tempfile.TemporaryDirectory() as tmp:
        p = save_layer(cl, Path(tmp) / "l.npz")
        back = load_layer(p)
        _same(cl, back)
        w8, scale = decode(p)
    assert w8.dtype == np.int8 and w8.shape == shape and scale.shape == (shape[0],)
    if cl.format.int8:
        assert np.array_equal(w8, cl.int8_weights)
        return
    assert np.array_equal(w8, _expected_int8(cl))
    assert np.array_equal(back.mask(), cl.mask()) and np.array_equal(back.signs(), cl.signs())
    # the stored SSE is the error of exactly this decode
    err = ((w8 * scale[:, None, None, None]).astype(np.float64) - w) ** 2
    assert np.isclose(err.sum(), cl.stats["sse_all"], rtol=1e-9, atol=1e-12)
    n, m = cl.format.nm
    per_group = cl.mask().reshape(-1, m).sum(axis=1)
    assert np.all(per_group == n)
    assert cl.indices.dtype == np.uint8 and cl.indices.max() < cl.format.k


@settings(max_examples=50, deadline=None)
@given(nm=st.sampled_from([(1, 4), (2, 4), (3, 4), (2, 8), (4, 8), (3, 8), (1, 16), (7, 16)]),
       enc=st.sampled_from(_ENC), groups=st.integers(1, 12), seed=st.integers(0, 999))
def test_mask_encodings_round_trip_and_size(nm, enc, groups, seed):
    n, m = nm
    rng = np.random.default_rng(seed)
    mask = np.zeros((groups, m), bool)
    for i in range(groups):
        mask[i, rng.choice(m, n, replace=False)] = True
    data = encode_mask(mask.reshape(-1, m), n, m, enc)
    from ewssim.compress.format import mask_bits_per_group
    assert data.size == -(-groups * mask_bits_per_group(enc, n, m) // 8)
    back = decode_mask(data, groups, m, n, m, enc)
    assert np.array_equal(back, mask)


# --------------------------------------------------------------------------- corrupt files
def _saved(tmp_path, method="mvq", enc="bitmap", nm=(1, 4), k=16):
    la = _layer()
    w = SyntheticWeights(1).get(la)
    cl = compress_layer(w, method=method, nm=nm, k=k, mask_encoding=enc, layer=la)
    return save_layer(cl, tmp_path / "l.npz"), cl


def _rewrite(path, **changes):
    with np.load(path) as z:
        arrays = {key: z[key] for key in z.files}
    for key, val in changes.items():
        if val is None:
            arrays.pop(key)
        else:
            arrays[key] = val
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    Path(path).write_bytes(buf.getvalue())


def _meta(path):
    with np.load(path) as z:
        return json.loads(z["meta"].tobytes())


def _meta_arr(meta):
    return np.frombuffer(json.dumps(meta).encode(), np.uint8)


def _err(path, field):
    with pytest.raises(InputError) as ei:
        load_layer(path)
    msg = str(ei.value)
    assert str(path) in msg and f"field '{field}'" in msg and "\n" not in msg, msg
    return msg


def test_truncated_and_garbage_files(tmp_path):
    p, _ = _saved(tmp_path)
    data = p.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 30):
        p.write_bytes(data[:cut])
        with pytest.raises(InputError) as ei:
            load_layer(p)
        assert str(p) in str(ei.value) and "field '" in str(ei.value)
    p.write_bytes(b"not a zip at all")
    _err(p, "file")
    _err(tmp_path / "missing.npz", "file")
    # a flipped byte inside an array member: the zip CRC catches it
    p.write_bytes(data)
    with np.load(p) as z:
        assert "indices" in z.files
    pos = data.find(b"indices.npy")
    bad = bytearray(data)
    bad[pos + 200] ^= 0xFF
    p.write_bytes(bytes(bad))
    with pytest.raises(InputError):
        load_layer(p)


def test_out_of_range_index(tmp_path):
    p, cl = _saved(tmp_path, k=16)
    idx = cl.indices.copy()
    idx[5] = 16
    _rewrite(p, indices=idx)
    assert "out of range for k=16" in _err(p, "indices")


@pytest.mark.parametrize("enc", _ENC)
def test_broken_nm_mask(tmp_path, enc):
    p, cl = _saved(tmp_path, enc=enc, nm=(2, 4))
    data = cl.mask_data.copy()
    if enc == "bitmap":
        data[0] ^= 0b10000000  # group 0 now keeps 1 or 3 weights
    elif enc == "positions":
        data[0] = 0  # first group: positions 0, 0 (and the next group's start)
    else:
        data[0] = 0xFF  # rank 7 >= C(4,2) = 6 (3-bit ranks)
    _rewrite(p, mask=data)
    _err(p, "mask")


def test_field_validation(tmp_path):
    p, cl = _saved(tmp_path)
    meta = _meta(p)
    cases = [
        ({"meta": _meta_arr({**meta, "version": 2})}, "version"),
        ({"meta": _meta_arr({**meta, "method": "zip"})}, "method"),
        ({"meta": _meta_arr({**meta, "k": 12})}, "k"),
        ({"meta": _meta_arr({**meta, "nm": [1, 3]})}, "nm"),
        ({"meta": _meta_arr({**meta, "weight_shape": [8, 16, 3]})}, "weight_shape"),
        ({"meta": _meta_arr({**meta, "mask_encoding": "rle"})}, "mask_encoding"),
        ({"meta": np.frombuffer(b"{not json", np.uint8)}, "meta"),
        ({"indices": cl.indices.astype(np.uint16)}, "indices"),
        ({"indices": cl.indices[:-1]}, "indices"),
        ({"codebook": np.full_like(cl.codebook, -128)}, "codebook"),
        ({"codebook": cl.codebook[:, :8]}, "codebook"),
        ({"scale": np.array([0.0], np.float32)}, "scale"),
        ({"scale": np.array([1.0], np.float64)}, "scale"),
        ({"mask": cl.mask_data[:-1]}, "mask"),
        ({"mask": None}, "mask"),
        ({"extra": np.zeros(1)}, "extra"),
    ]
    for change, field in cases:
        p2 = save_layer(cl, tmp_path / f"case_{field}.npz")
        _rewrite(p2, **change)
        _err(p2, field)


def test_ssvq_sign_and_codebook_checks(tmp_path):
    p, cl = _saved(tmp_path, method="ssvq", nm=(4, 4))
    _rewrite(p, signs=cl.sign_data[:-1])
    _err(p, "signs")
    p = save_layer(cl, tmp_path / "b.npz")
    cb = cl.codebook.copy()
    cb[0, 0, 0] = -3
    _rewrite(p, codebook=cb)
    _err(p, "codebook")


def test_layer_shape_must_match(tmp_path):
    p, _ = _saved(tmp_path)
    with pytest.raises(InputError, match="field 'weight_shape'"):
        load_layer(p, layer=_layer(o=4))
    load_layer(p, layer=_layer())


# --------------------------------------------------------------------------- network dirs
def _net():
    return Network("mini", (
        Layer("c1", "conv", 8, 8, 3, 16, 3, 3, pad_h=1, pad_w=1),
        Layer("c2", "conv", 8, 8, 16, 16, 3, 3, pad_h=1, pad_w=1),
        Layer("att", "matmul", 4, 1, 8, 4),
        Layer("fc", "linear", 1, 1, 16, 8),
    ))


def test_network_round_trip_and_manifest(tmp_path):
    cn = compress_network(_net(), "synthetic", method="mvq", k=16, max_iter=5,
                          int8_if_larger=False)
    assert [la.format.method for la in cn] == ["int8", "mvq", "mvq"]
    assert "not a multiple of d=8" in cn["c1"].note
    assert cn.skipped == ["att"]
    out = save_network(cn, tmp_path / "out")
    assert sorted(f.name for f in tmp_path.iterdir()) == ["out"]  # no temp dirs left
    back = load_network_dir(out, network=_net())
    for a, b in zip(cn, back, strict=True):
        _same(a, b)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] == 1 and manifest["settings"]["k"] == 16
    # a changed layer file (still valid) is caught by the checksum
    la = back["fc"]
    la.stats = {**la.stats, "sse_all": 0.0}
    save_layer(la, out / manifest["layers"][2]["file"])
    with pytest.raises(InputError, match="field 'sha256'"):
        load_network_dir(out)
    (out / manifest["layers"][1]["file"]).unlink()
    with pytest.raises(InputError, match="field 'file'"):
        load_network_dir(out)
    (out / "manifest.json").write_text("{")
    with pytest.raises(InputError, match="manifest.json: field 'file': not valid JSON"):
        load_network_dir(out)


def test_save_network_failure_leaves_out_clean(tmp_path, monkeypatch):
    from ewssim.compress import io as fmt

    cn = compress_network(_net(), "synthetic", method="mvq", k=16, max_iter=3)
    real = fmt.save_layer
    calls = {"n": 0}

    def failing(layer, path):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real(layer, path)

    monkeypatch.setattr(fmt, "save_layer", failing)
    with pytest.raises(OSError):
        save_network(cn, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []
    # an existing result survives a failed overwrite untouched
    monkeypatch.setattr(fmt, "save_layer", real)
    out = save_network(cn, tmp_path / "out")
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    calls["n"] = 0
    monkeypatch.setattr(fmt, "save_layer", failing)
    with pytest.raises(OSError):
        save_network(CompressedNetwork("other", list(cn.layers)), out)
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before
    assert sorted(f.name for f in tmp_path.iterdir()) == ["out"]


def test_save_network_refuses_foreign_directory(tmp_path):
    cn = compress_network(_net(), "synthetic", method="dense")
    d = tmp_path / "mine"
    d.mkdir()
    (d / "thesis.tex").write_text("x")
    with pytest.raises(InputError, match="field '--out'"):
        save_network(cn, d)
    assert os.listdir(d) == ["thesis.tex"]
