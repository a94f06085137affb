"""Assignment-aware weight loader: bit-exact against CompressedLayer, counters, timing, L1 bytes."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ewssim.compress import WeightFormat, compress_layer
from ewssim.compress.codecs import pack_uint
from ewssim.compress.layer import CompressedLayer
from ewssim.compress.layout import from_subvectors
from ewssim.errors import InputError
from ewssim.hw.crf import CodebookRegisterFile
from ewssim.hw.loader import (
    WeightLoader,
    line_subvectors,
    read_fields,
    tile_l1_bytes,
    unrank,
)

PATTERNS = [(1, 4), (2, 4), (2, 8), (4, 8)]
ENCODINGS = ["bitmap", "positions", "combinatorial"]


def _fmt(n, m, d, enc="bitmap", signs=False, k=256):
    method = "ssvq" if signs else ("mvq" if n < m else "vq")
    return WeightFormat.make(method, nm=(n, m), d=d, k=k, mask_encoding=enc)


def _loader(crf, n, m, d, enc="bitmap", signs=False, **latencies):
    """A loader for the N:M, d, encoding and signs given (the CRF's k)."""
    return WeightLoader(crf, _fmt(n, m, d, enc, signs, crf.k), **latencies)


def subvector_l1_bits(*, k, d, n, m, mask_encoding="bitmap", signs=False):
    return _fmt(n, m, d, mask_encoding, signs, k).subvector_bits


@st.composite
def layers(draw):
    method = draw(st.sampled_from(["mvq", "vq", "ssvq", "casec"]))
    d = draw(st.sampled_from([4, 8, 16]))
    if method == "vq" or (method == "ssvq" and draw(st.booleans())):
        nm = None
    else:
        nm = draw(st.sampled_from([p for p in PATTERNS if d % p[1] == 0]))
    enc = draw(st.sampled_from(ENCODINGS))
    k = draw(st.sampled_from([2, 4, 8, 16, 32, 64]))
    groups = draw(st.sampled_from([1, 2]))
    pad = draw(st.booleans())
    c = draw(st.integers(1, 2 * d)) if pad else d * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    per_out = kh * kw * (-(-c // d))  # sub-vectors per output channel
    o_min = -(-k * groups // per_out)  # enough sub-vectors per codebook for k
    o = groups * draw(st.integers(-(-o_min // groups), -(-o_min // groups) + 1))
    seed = draw(st.integers(0, 2**16))
    w = np.random.default_rng(seed).standard_normal((o, c, kh, kw)).astype(np.float32)
    cl = compress_layer(w, method=method, nm=nm, k=k, d=d, mask_encoding=enc,
                        codebook_groups=groups, fit="pad" if c % d else "error", max_iter=3,
                        name=f"l{seed}")
    return cl, seed


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers(), st.sampled_from([1, 2, 4, None]))
def test_loader_is_bit_exact(layer_seed, ports):
    cl, seed = layer_seed
    assert not cl.format.int8
    loader = WeightLoader.for_layer(cl, line_length=32, ports=ports)
    rng = np.random.default_rng(seed)
    ids = rng.permutation(cl.n_sub)  # any order, as the tiles ask for them
    vals, pos = loader.decode(cl, ids)
    ref_pos, ref_vals = cl.nonzeros()
    q = cl.format.d * cl.format.nm[0] // cl.format.nm[1]
    assert vals.dtype == np.int8 and vals.shape == pos.shape == (cl.n_sub, q)
    assert np.array_equal(pos, ref_pos[ids]) and np.array_equal(vals, ref_vals[ids])
    dense = loader.decode_dense(cl, ids)
    assert dense.dtype == np.int8 and np.array_equal(dense, cl.values()[ids])
    # scatter the sparse output back: decode()'s int8 weights exactly
    rows = np.zeros((cl.n_sub, cl.format.d), dtype=np.int8)
    np.put_along_axis(rows, pos, vals, axis=1)
    full = np.zeros_like(rows)
    full[ids] = rows
    w_int8, _ = cl.decode()
    assert np.array_equal(from_subvectors(full, cl.weight_shape, cl.format.d), w_int8)
    # the L1 bits the loader read are the layer's stored payload, twice (two passes)
    b = cl.bits
    c = loader.counters
    assert c.index_bits_read == 2 * b.index_bits
    assert c.mask_bits_read == 2 * b.mask_bits and c.sign_bits_read == 2 * b.sign_bits
    assert loader.tile_l1_bytes(cl.n_sub) == -(-b.payload // 8)
    assert c.crf_reads == loader.crf.counters.reads == 2 * cl.n_sub


def _hand_layer(mask_encoding="bitmap", mask_bits=None):
    """1x8x1x1 SSVQ layer, 2:4, d = 8, k = 2, index 1: kept positions 0, 1 | 6, 7."""
    pos = np.array([[0, 1], [2, 3]])
    if mask_bits is None:
        if mask_encoding == "bitmap":
            mask_bits = np.array([0b11000011], dtype=np.uint8)
        elif mask_encoding == "positions":
            mask_bits = pack_uint(pos.ravel(), 2)
        else:  # ranks C(0,1)+C(1,2) = 0 and C(2,1)+C(3,2) = 5
            mask_bits = pack_uint([0, 5], 3)
    return CompressedLayer(
        name="hand", weight_shape=(1, 8, 1, 1), scale=np.ones(1, dtype=np.float32),
        format=WeightFormat.make("ssvq", d=8, k=2, nm=(2, 4), mask_encoding=mask_encoding),
        indices=np.array([1], dtype=np.uint8),
        codebook=np.array([[[1, 2, 3, 4, 5, 6, 7, 8], [10, 20, 30, 40, 50, 60, 70, 80]]],
                          dtype=np.int8),
        mask_data=mask_bits, sign_data=np.array([0b10110000], dtype=np.uint8))


@pytest.mark.parametrize("enc", ENCODINGS)
def test_counters_by_hand(enc):
    cl = _hand_layer(enc)
    loader = _loader(CodebookRegisterFile(2, 8, line_length=8), 2, 4, 8, enc, True)
    vals, pos = loader.decode(cl, [0])
    assert vals.tolist() == [[-10, 20, -70, -80]] and pos.tolist() == [[0, 1, 6, 7]]
    ref_pos, ref_vals = cl.nonzeros()
    assert np.array_equal(pos, ref_pos) and np.array_equal(vals, ref_vals)
    assert loader.decode_dense(cl, [0]).tolist() == [[-10, 20, 0, 0, 0, 0, -70, -80]]
    mask_bits = {"bitmap": 8, "positions": 8, "combinatorial": 6}[enc]
    want = dict(subvectors=2, index_bits_read=2, mask_bits_read=2 * mask_bits,
                sign_bits_read=8, crf_reads=2, lzc_groups=4 if enc == "bitmap" else 0,
                lzc_evals=8 if enc == "bitmap" else 0,
                position_reads=4 if enc == "positions" else 0,
                comb_decodes=4 if enc == "combinatorial" else 0, sign_ops=8, sign_negations=6,
                values_emitted=4 + 8, zeros_emitted=4)
    got = loader.counters.as_dict()
    assert got.pop("l1_bits_read") == 2 + 2 * mask_bits + 8
    assert got == want
    assert loader.crf.counters.as_dict() == {"reads": 2, "reloads": 1, "reload_bytes": 16}
    if enc == "bitmap":
        assert loader.lzc.counters.as_dict() == {"groups": 4, "lzc_evals": 8}
    assert subvector_l1_bits(k=2, d=8, n=2, m=4, mask_encoding=enc, signs=True) == \
        1 + mask_bits + 4
    loader.reset()
    assert loader.counters.l1_bits_read == 0 and loader.crf.counters.reads == 0


def test_counters_of_a_compressed_layer():
    w = np.random.default_rng(0).standard_normal((2, 8, 1, 1)).astype(np.float32)
    cl = compress_layer(w, method="mvq", nm=(1, 4), k=2, d=8)  # n_sub = 2, 4 groups
    loader = WeightLoader.for_layer(cl)
    loader.decode(cl, [1, 0])
    c = loader.counters
    assert (c.subvectors, c.index_bits_read, c.mask_bits_read, c.sign_bits_read) == (2, 2, 16, 0)
    assert (c.crf_reads, c.lzc_groups, c.lzc_evals, c.comb_decodes) == (2, 4, 4, 0)
    assert (c.sign_ops, c.values_emitted, c.zeros_emitted) == (0, 4, 0)


def test_codebook_group_switches_through_the_loader():
    w = np.random.default_rng(3).standard_normal((4, 8, 3, 3)).astype(np.float32)
    cl = compress_layer(w, method="mvq", nm=(2, 4), k=4, d=8, codebook_groups=2)
    one = WeightLoader.for_layer(cl)
    one.decode(cl, np.arange(cl.n_sub))  # group 0 then group 1: one switch
    assert one.crf.counters.reloads == 2 and one.crf.counters.reload_bytes == 2 * 4 * 8
    one.decode(cl, np.arange(cl.n_sub))  # back to group 0, then 1 again
    assert one.crf.counters.reloads == 4
    both = WeightLoader.for_layer(cl, crf_groups=2)
    both.decode(cl, np.arange(cl.n_sub))
    both.decode(cl, np.arange(cl.n_sub)[::-1])
    assert both.crf.counters.reloads == 2  # once per layer
    assert both.crf.storage_bits == 2 * 4 * 8 * 8


@pytest.mark.parametrize("n,m", PATTERNS)
@pytest.mark.parametrize("enc", ENCODINGS)
def test_latency_and_load_cycles(n, m, enc):
    for signs in (False, True):
        for ports in (1, 2, 4, 8):  # L/d = 64/8 = 8
            crf = CodebookRegisterFile(256, 8, line_length=64, ports=ports)
            ld = _loader(crf, n, m, 8, enc, signs)
            lat = 1 + (n if enc == "bitmap" else 0) + (1 if signs else 0)
            assert ld.latency == lat
            assert ld.load_cycles(0) == 0
            assert ld.load_cycles(64) == 64 * (8 // ports) + lat
            assert ld.load_cycles(64, 3) == 64 * -(-3 // ports) + lat
            assert ld.stall_cycles(64) == 64 * (8 // ports - 1)
            assert ld.load_cycles(np.array([0, 1, 5])).tolist() == \
                [0, 8 // ports + lat, 5 * (8 // ports) + lat]
    slow = _loader(CodebookRegisterFile(16, 8), n, m, 8, enc, True, crf_latency=2,
                        lzc_stage_cycles=3, sign_latency=4, unrank_latency=5)
    assert slow.latency == 2 + {"bitmap": 3 * n, "positions": 0, "combinatorial": 5}[enc] + 4
    dense = _loader(CodebookRegisterFile(16, 8), 1, 1, 8, enc, False)
    assert dense.latency == 1 and dense.q == 8 and dense.format.mask_encoding == "none"


def test_tile_l1_bytes():
    # 1:4 bitmap, k = 16, d = 8: 4 index + 2 groups * 4 mask bits = 12 bits per sub-vector
    f = _fmt(1, 4, 8, k=16)
    assert tile_l1_bytes(288, f) == 432
    assert tile_l1_bytes(3, f) == 5  # 36 bits, rounded up once
    assert tile_l1_bytes(np.array([0, 1, 2]), f).tolist() == [0, 2, 3]
    # combinatorial 2:8: ceil(log2 28) = 5 bits per group; ssvq signs 1 per kept weight
    assert subvector_l1_bits(k=256, d=16, n=2, m=8, mask_encoding="combinatorial",
                             signs=True) == 8 + 2 * 5 + 4
    assert subvector_l1_bits(k=16, d=8, n=4, m=4, signs=True) == 4 + 8  # no pruning
    ld = _loader(CodebookRegisterFile(256, 8), 1, 4, 8, "positions", False)
    assert ld.subvector_bits == 8 + 2 * 2 and ld.tile_l1_bytes(10) == 15


def test_line_subvectors_follow_the_layout():
    w = np.random.default_rng(4).standard_normal((3, 16, 3, 2)).astype(np.float32)
    cl = compress_layer(w, method="mvq", nm=(1, 4), k=4, d=4)
    loader = WeightLoader.for_layer(cl, line_length=8)
    w_int8, _ = cl.decode()
    for o in range(3):
        for r in range(3):
            for s in range(2):
                for b0 in (0, 2):
                    ids = line_subvectors(cl, o, r, s, b0, 2)
                    line = loader.decode_dense(cl, ids).ravel()
                    assert np.array_equal(line, w_int8[o, 4 * b0:4 * b0 + 8, r, s])
    grid = line_subvectors(cl, np.arange(3)[:, None], 1, np.arange(2)[None, :], 0, 4)
    assert grid.shape == (3, 2, 4)
    assert np.array_equal(cl.indices[grid], cl.index_grid()[:, 1, :, :])
    assert line_subvectors(cl, 0, 0, 0).tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="exceed"):
        line_subvectors(cl, 0, 0, 0, 2, 3)
    with pytest.raises(ValueError, match="out_channel"):
        line_subvectors(cl, 3, 0, 0, 0, 1)


def test_unrank_and_read_fields():
    for n, m in PATTERNS:
        combos = np.array(list(itertools.combinations(range(m), n)))
        ranks = np.array([sum(math.comb(int(p), i + 1) for i, p in enumerate(c))
                          for c in combos])
        assert np.array_equal(unrank(ranks, n, m), combos)
    data = np.array([0b10110010, 0b01000000], dtype=np.uint8)
    assert read_fields(data, [0, 3, 7], 3).tolist() == [0b101, 0b100, 0b001]
    with pytest.raises(ValueError, match="only 16 bits"):
        read_fields(data, [15], 2)


def test_hardware_faults_name_the_group():
    bad = _hand_layer("bitmap", np.array([0b11000111], dtype=np.uint8))
    ld = _loader(CodebookRegisterFile(2, 8), 2, 4, 8, "bitmap", True)
    with pytest.raises(ValueError, match="LZC decoder fault: M-group 1 has 3 set bits"):
        ld.decode(bad, [0])
    assert ld.counters.subvectors == 0 and ld.crf.counters.reads == 0
    ld = _loader(CodebookRegisterFile(2, 8), 2, 4, 8, "positions", True)
    with pytest.raises(ValueError, match=r"M-group 1 has positions \[3, 2\]"):
        ld.decode(_hand_layer("positions", pack_uint([0, 1, 3, 2], 2)), [0])
    ld = _loader(CodebookRegisterFile(2, 8), 2, 4, 8, "combinatorial", True)
    with pytest.raises(ValueError, match="M-group 0 has rank 6"):
        ld.decode(_hand_layer("combinatorial", pack_uint([6, 5], 3)), [0])
    with pytest.raises(ValueError, match="mask: bit"):
        ld.decode(_hand_layer("combinatorial", np.zeros(0, dtype=np.uint8)), [0])
    with pytest.raises(ValueError, match="sub-vector id 1 out of range"):
        ld.decode(_hand_layer("combinatorial"), [0, 1])


def test_configuration_mismatch_is_an_input_error():
    cl = _hand_layer("bitmap")
    crf = CodebookRegisterFile(2, 8)
    cases = [(_loader(crf, 1, 4, 8, "bitmap", True), "nm"),
             (_loader(crf, 2, 4, 8, "positions", True), "mask_encoding"),
             (_loader(crf, 2, 4, 8, "bitmap", False), "signs"),
             (_loader(CodebookRegisterFile(2, 4), 2, 4, 4, "bitmap", True), "d")]
    for ld, fld in cases:
        with pytest.raises(InputError, match=f"field '{fld}'"):
            ld.decode(cl, [0])
    with pytest.raises(InputError, match="field 'k'"):
        w = np.random.default_rng(0).standard_normal((2, 8, 3, 3)).astype(np.float32)
        _loader(crf, 1, 4, 8).decode(compress_layer(w, k=4, d=8), [0])
    with pytest.raises(InputError, match="field 'd'"):
        _loader(CodebookRegisterFile(2, 8), 1, 3, 8)
    with pytest.raises(InputError, match="field 'mask_encoding'"):
        _loader(CodebookRegisterFile(2, 8), 1, 4, 8, "rle")
    with pytest.raises(InputError, match="field 'crf_latency'"):
        _loader(CodebookRegisterFile(2, 8), 1, 4, 8, crf_latency=-1)
    dense = compress_layer(np.ones((2, 3, 1, 1), dtype=np.float32), method="dense")
    with pytest.raises(InputError, match="field 'method'"):
        WeightLoader.for_layer(dense)


def test_model_reference_example():
    """docs/model-reference.md §6 example: 64x64, d = 8, k = 256, 1:4 bitmap, no signs."""
    ld = _loader(CodebookRegisterFile(256, 8, line_length=64), 1, 4, 8, "bitmap", False)
    assert ld.crf.ports == 8 and ld.crf.line_cycles() == 1 and ld.latency == 2
    assert ld.load_cycles(64) == 66
    assert ld.subvector_bits == 16 and ld.tile_l1_bytes(8) == 16
    assert ld.crf.storage_bits == 16 * 1024
    two = _loader(CodebookRegisterFile(256, 8, ports=2), 1, 4, 8, "bitmap", False)
    assert two.crf.line_cycles() == 4 and two.crf.stall_cycles() == 3
