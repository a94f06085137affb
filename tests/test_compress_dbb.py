"""The dbb method (S2TA density-bound blocks): pruning, file format, decode, bits, plan, CLI."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest

from ewssim.cli import main
from ewssim.compress import (
    Settings,
    SyntheticWeights,
    WeightFormat,
    compress_layer,
    compress_network,
    load_layer,
    load_network_dir,
    save_layer,
    save_network,
)
from ewssim.compress.plan import LayerFormat, plan_layer, plan_network
from ewssim.errors import InputError
from ewssim.workload import Layer, Network, load_network


def _layer(o=8, c=16, r=3, s=3, name="conv"):
    return Layer(name, "conv", 6, 6, c, o, r, s, pad_h=r // 2, pad_w=s // 2)


def _w(layer, seed=0):
    return SyntheticWeights(seed).get(layer)


def _blocks(a, m):
    """(O, C, R, S) -> (O*R*S*C/m, m) blocks along the input channels (C divisible by m)."""
    return np.transpose(a, (0, 2, 3, 1)).reshape(-1, m)


@pytest.mark.parametrize("nm", [(4, 8), (2, 8), (1, 4), (2, 4), (3, 8)])
def test_keeps_exactly_nnz_largest_per_block(nm):
    n, m = nm
    la = _layer(c=16)
    w = _w(la)
    cl = compress_layer(w, method="dbb", nm=nm, layer=la)
    assert cl.format.method == "dbb" and cl.format.pruned and cl.format.d == m and cl.format.k == 1
    q, _ = cl.decode()
    kept = _blocks(q != 0, m)
    mask = cl.mask()
    assert mask.shape == (cl.n_sub, m) and (mask.sum(axis=1) == n).all()
    assert (kept <= mask).all()  # non-zeros only at kept positions
    mag = _blocks(np.abs(w), m)
    smallest_kept = np.where(mask, mag, np.inf).min(axis=1)
    largest_pruned = np.where(mask, -np.inf, mag).max(axis=1)
    assert (smallest_kept >= largest_pruned).all()
    # the kept values are the dense INT8 values of those weights (same per-layer scale)
    dense = compress_layer(w, method="dense", layer=la)
    dq, ds = dense.decode()
    assert np.array_equal(cl.scale, dense.scale)
    assert np.array_equal(_blocks(q, m)[mask], _blocks(dq, m)[mask])
    assert cl.kept_values.shape == (cl.n_sub, n)
    assert np.array_equal(cl.values()[mask].reshape(cl.n_sub, n), cl.kept_values)


def test_n_equals_m_reproduces_dense_int8():
    la = _layer(c=16)
    w = _w(la, 3)
    cl = compress_layer(w, method="dbb", nm=(8, 8), layer=la)
    dense = compress_layer(w, method="dense", layer=la)
    assert not cl.format.pruned and cl.format.mask_encoding == "none" and cl.mask_data is None
    q, s = cl.decode()
    dq, ds = dense.decode()
    assert np.array_equal(q, dq) and np.array_equal(s, ds)
    assert cl.bits.total == dense.bits.total == la.weights * 8 + 32


@pytest.mark.parametrize("enc", ["positions", "bitmap", "combinatorial"])
@pytest.mark.parametrize("nm,c,fit", [((4, 8), 16, "dense"), ((2, 4), 8, "dense"),
                                      ((4, 8), 5, "pad"), ((8, 8), 16, "dense")])
def test_round_trip(tmp_path, enc, nm, c, fit):
    la = _layer(c=c)
    cl = compress_layer(_w(la, 1), method="dbb", nm=nm, mask_encoding=enc, fit=fit, layer=la)
    assert cl.format.method == "dbb"
    path = save_layer(cl, tmp_path / "l.npz")
    back = load_layer(path, la)
    for f in ("name", "format", "weight_shape", "fit", "note", "stats"):
        assert getattr(back, f) == getattr(cl, f), f
    for f in ("scale", "kept_values", "mask_data"):
        x, y = getattr(cl, f), getattr(back, f)
        assert (x is None) == (y is None)
        if x is not None:
            assert x.dtype == y.dtype and np.array_equal(x, y), f
    q, s = back.decode()
    q0, s0 = cl.decode()
    assert q.shape == la.weight_shape and q.dtype == np.int8
    assert np.array_equal(q, q0) and np.array_equal(s, s0)
    assert np.allclose(back.dequantize(), q.astype(np.float32) * s[0])
    # the archive holds exactly the counted bits (mask rounded up to whole bytes)
    with np.load(path) as z:
        want = {"meta", "scale", "values"} | ({"mask"} if cl.format.pruned else set())
        assert set(z.files) == want
        b = cl.bits
        assert z["values"].nbytes * 8 == b.dense_bits
        assert z["scale"].nbytes * 8 == b.scale_bits == 32
        assert (z["mask"].nbytes if cl.format.pruned else 0) == -(-b.mask_bits // 8)
        assert b.index_bits == b.codebook_bits == b.sign_bits == 0


def layer_bits(method, shape, **fmt):
    return WeightFormat.make(method, **fmt).layer_bits(shape)


def test_bits_hand_computed():
    # 16 x 24 x 3 x 3, 4:8: blocks = 16*3*3*3 = 432, kept = 432*4 = 1728 values
    shape = (16, 24, 3, 3)
    pos = layer_bits("dbb", shape, nm=(4, 8), d=8, mask_encoding="positions")
    assert (pos.dense_bits, pos.mask_bits, pos.scale_bits) == (1728 * 8, 432 * 4 * 3, 32)
    assert pos.total == 13824 + 5184 + 32 == 19040
    bm = layer_bits("dbb", shape, nm=(4, 8), d=8, mask_encoding="bitmap")
    assert bm.total == 13824 + 432 * 8 + 32
    comb = layer_bits("dbb", shape, nm=(4, 8), d=8, mask_encoding="combinatorial")
    assert comb.mask_bits == 432 * math.ceil(math.log2(math.comb(8, 4)))  # 7 bits per block
    assert WeightFormat.make("dbb", nm=(4, 8)).subvector_bits == 4 * 8 + 4 * 3 == 44
    la = Layer("l", "conv", 6, 6, 24, 16, 3, 3, pad_h=1, pad_w=1)
    cl = compress_layer(_w(la), method="dbb", nm=(4, 8), layer=la)
    assert cl.bits == pos  # positions is the dbb default
    # padding (fit=pad): C = 5 -> one block of 8 per (o, r, s), padding counted
    padded = layer_bits("dbb", (2, 5, 1, 1), nm=(4, 8), d=8, mask_encoding="positions")
    assert (padded.weights, padded.dense_bits, padded.mask_bits) == (10, 2 * 4 * 8, 2 * 12)


def _corrupt(tmp_path, cl, change):
    path = save_layer(cl, tmp_path / "l.npz")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays["meta"].tobytes())
    change(arrays, meta)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    bad = tmp_path / "bad.npz"
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    bad.write_bytes(buf.getvalue())
    return bad


def _set(key, value):
    def f(a, m):
        a[key] = value(a[key]) if callable(value) else value
    return f


def _meta(key, value):
    def f(a, m):
        m[key] = value
    return f


def _flip_mask_bit(a, m):  # bitmap: one group with N+1 set bits
    mk = a["mask"].copy()
    bits = np.unpackbits(mk)
    bits[np.flatnonzero(bits == 0)[0]] = 1
    a["mask"] = np.packbits(bits)


@pytest.mark.parametrize("change,field", [
    (_flip_mask_bit, "mask"),
    (_set("mask", lambda x: x[:-1]), "mask"),
    (_set("values", lambda x: x.astype(np.int16)), "values"),
    (_set("values", lambda x: x[:, :-1]), "values"),
    (_set("values", lambda x: np.full_like(x, -128)), "values"),
    (lambda a, m: a.pop("values"), "values"),
    (lambda a, m: a.update(indices=np.zeros(3, np.uint8)), "indices"),
    (_meta("k", 16), "k"),
    (_meta("d", 16), "d"),
    (_meta("codebook_groups", 2), "codebook_groups"),
    (_meta("nm", [5, 4]), "nm"),
    (_set("scale", np.array([0.0], np.float32)), "scale"),
])
def test_corrupt_files_rejected(tmp_path, change, field):
    la = _layer(c=16)
    cl = compress_layer(_w(la), method="dbb", nm=(4, 8), mask_encoding="bitmap", layer=la)
    bad = _corrupt(tmp_path, cl, change)
    with pytest.raises(InputError) as e:
        load_layer(bad)
    msg = str(e.value)
    assert "\n" not in msg and str(bad) in msg and f"field '{field}'" in msg, msg


def test_positions_mask_and_padding_rejected(tmp_path):
    la = _layer(c=16)
    cl = compress_layer(_w(la), method="dbb", nm=(4, 8), layer=la)  # positions

    def dup(a, m):  # first block: positions 0,0,...: not increasing
        a["mask"] = a["mask"].copy()
        a["mask"][:2] = 0
    with pytest.raises(InputError, match="field 'mask'"):
        load_layer(_corrupt(tmp_path, cl, dup))
    la3 = _layer(c=3)  # 3 real channels, 4 kept: the mask keeps one padded channel per block
    cp = compress_layer(_w(la3), method="dbb", nm=(4, 8), fit="pad", layer=la3)
    assert "zero-padded 3->8" in cp.note and (cp.kept_values[:, -1] == 0).all()

    def at_padding(a, m):  # a non-zero value where the mask keeps a padded channel
        v = a["values"].copy()
        v[:, -1] = 7
        a["values"] = v
    with pytest.raises(InputError, match="field 'values'.*padded"):
        load_layer(_corrupt(tmp_path, cp, at_padding))


def test_fit_rule_and_settings():
    s = Settings.for_method("dbb")
    f = s.format
    assert (f.nm, f.k, f.d, f.codebook_groups, f.mask_encoding) == ((4, 8), 1, 8, 1, "positions")
    # k/d/G do not apply: normalised (an architecture's [weights] may carry VQ values)
    s2 = Settings.for_method("dbb", nm=(2, 4), k=256, d=16, codebook_groups=4)
    assert (s2.format.k, s2.format.d, s2.format.codebook_groups) == (1, 4, 1)
    la3 = _layer(c=3)
    assert compress_layer(_w(la3), method="dbb", layer=la3).format.method == "int8"
    with pytest.raises(InputError, match="field 'nm'.*block size M=8"):
        compress_layer(_w(la3), method="dbb", fit="error", layer=la3)
    with pytest.raises(InputError, match="field 'nm'"):
        Settings.for_method("dbb", nm=(5, 4))


@pytest.mark.parametrize("enc", ["positions", "bitmap", "combinatorial"])
@pytest.mark.parametrize("nm,fit", [((4, 8), "dense"), ((2, 4), "pad"), ((8, 8), "dense")])
def test_plan_matches_compressed(enc, nm, fit):
    net = Network("t", (_layer(c=3, name="stem"), _layer(c=16, name="body"),
                        Layer("dw", "conv", 6, 6, 16, 16, 3, 3, pad_h=1, pad_w=1, groups=16),
                        Layer("fc", "linear", 1, 1, 16, 10)))
    s = Settings.for_method("dbb", nm=nm, mask_encoding=enc, fit=fit)
    cn = compress_network(net, "synthetic", s)
    plan = plan_network(net, s)
    for cl in cn:
        f, g = plan[cl.name], LayerFormat.from_compressed(cl)
        assert f.bits == cl.bits == g.bits, cl.name
        assert f.format == g.format, cl.name
        if f.format.dbb:
            assert not f.format.codebook and not f.format.signs
            assert f.format.pruned == (nm[0] < nm[1]) and f.format.nm == s.format.nm
            # per-block L1 bits x blocks + the scale = the layer's bits
            assert f.format.subvector_bits * cl.n_sub + 32 == cl.bits.total
            assert f.format.kept_per_subvector == (nm[0] if nm[0] < nm[1] else nm[1])
            if f.format.pruned:
                assert f.format.mask_encoding == enc
    assert plan["stem"].format.method == ("dbb" if fit == "pad" else "int8")
    assert plan["dw"].format.method == ("dbb" if fit == "pad" else "int8")


def test_resnet18_plan_and_network_round_trip(tmp_path):
    net = load_network("resnet18")
    s = Settings.for_method("dbb", nm=(4, 8))
    la = next(x for x in net.layers if x.name == "layer1.0.conv1")
    f = plan_layer(la, s)
    ff = f.format
    assert (ff.method, ff.pruned, ff.nm, ff.mask_encoding, ff.d, ff.k) == \
        ("dbb", True, (4, 8), "positions", 8, 1)
    assert f.format.subvector_bits == 44 and f.codebook_bytes == 4
    small = Network("r18-part", tuple(net.layers[:3]))
    cn = compress_network(small, "synthetic", s)
    save_network(cn, tmp_path / "out")
    back = load_network_dir(tmp_path / "out", small)
    assert [la.format.method for la in back] == ["int8", "dbb", "dbb"]
    for a, b in zip(cn, back, strict=True):
        assert np.array_equal(a.decode()[0], b.decode()[0])
        assert a.bits == b.bits == plan_layer(small.layers[[x.name for x in small.layers]
                                                            .index(a.name)], s).bits


def test_cli(tmp_path, capsys):
    out = tmp_path / "o"
    rc = main(["compress", "--workload", "tiny", "--method", "dbb", "--nm", "2:4", "--out",
               str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and "compressed" in text
    cn = load_network_dir(out)
    assert any(la.format.method == "dbb" and la.format.nm == (2, 4)
               and la.format.mask_encoding == "positions" for la in cn)
    assert main(["compress", "inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "method dbb, N:M 2:4, block 4" in text and "int8[bit]" in text
    assert main(["compress", "inspect", str(out), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["settings"]["method"] == "dbb"
    assert rep["total"]["total_bits"] == cn.bits.total
    for flag in (["--k", "16"], ["--d", "8"], ["--codebook-groups", "2"]):
        rc = main(["compress", "--workload", "tiny", "--method", "dbb", *flag, "--out",
                   str(tmp_path / "x")])
        err = capsys.readouterr().err
        assert rc == 2 and f"field '{flag[0]}'" in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "x").exists()
