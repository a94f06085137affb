"""Bit accounting and compression ratios on hand-computed cases (exact integers)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from ewssim.compress import LayerBits, SyntheticWeights, WeightFormat, compress_layer
from ewssim.compress.format import clog2, mask_bits_per_group
from ewssim.workload import Layer


def layer_bits(method, shape, **fmt):
    return WeightFormat.make(method, **fmt).layer_bits(shape)


SHAPE = (16, 16, 3, 3)  # 2304 weights, d=8 -> n_sub = 16*3*3*2 = 288


def test_mvq_bitmap_hand_computed():
    b = layer_bits("mvq", SHAPE, nm=(1, 4), k=16, d=8, mask_encoding="bitmap")
    # indices 288*4; 576 groups of M=4, bitmap 4 bits each; codebook 16*8*8; one float32 scale
    assert (b.weights, b.index_bits, b.mask_bits, b.sign_bits) == (2304, 1152, 2304, 0)
    assert (b.codebook_bits, b.scale_bits) == (1024, 32)
    assert (b.payload, b.overhead, b.total) == (3456, 1056, 4512)
    assert Fraction(b.weights * 32, b.total) == Fraction(73728, 4512)
    assert b.ratio_fp32 == 73728 / 4512
    assert b.ratio_fp32_nocb == 73728 / 3456  # 21.33x
    assert b.ratio_int8 == 18432 / 4512
    assert b.ratio_int8_nocb == 18432 / 3456
    assert b.bits_per_weight == 4512 / 2304


@pytest.mark.parametrize("enc,nm,mask_bits", [
    ("positions", (1, 4), 576 * 1 * 2),
    ("combinatorial", (1, 4), 576 * 2),        # ceil(log2 C(4,1)=4) = 2
    ("bitmap", (2, 8), 288 * 8),
    ("positions", (2, 8), 288 * 2 * 3),
    ("combinatorial", (2, 8), 288 * 5),        # ceil(log2 28) = 5
    ("combinatorial", (2, 4), 576 * 3),        # ceil(log2 6) = 3
    ("bitmap", (4, 4), 0),                     # N = M: no mask stored
])
def test_mask_bits(enc, nm, mask_bits):
    b = layer_bits("mvq", SHAPE, nm=nm, k=16, d=8, mask_encoding=enc)
    assert b.mask_bits == mask_bits


def test_ssvq_dense_groups_and_padding():
    s = layer_bits("ssvq", SHAPE, k=16, d=8)
    assert (s.index_bits, s.sign_bits, s.mask_bits, s.total) == (1152, 2304, 0, 4512)
    assert Fraction(s.payload, s.weights) == Fraction(3, 2)  # SSVQ paper: 1.5 bits/weight
    s2 = layer_bits("ssvq", SHAPE, nm=(1, 4), k=16, d=8, mask_encoding="positions")
    assert s2.sign_bits == 576  # one sign per kept weight
    dn = layer_bits("dense", SHAPE)
    assert (dn.dense_bits, dn.scale_bits, dn.total) == (18432, 32, 18464)
    g = layer_bits("vq", SHAPE, k=16, d=8, codebook_groups=4)
    assert (g.codebook_bits, g.scale_bits) == (4 * 1024, 4 * 32)
    # padding: 3 channels padded to 8 -> the padded sub-vectors are stored and counted
    p = layer_bits("vq", (4, 3, 1, 1), k=2, d=8)
    assert (p.weights, p.index_bits) == (12, 4)


def test_sums_and_helpers():
    a = LayerBits(weights=10, index_bits=3, codebook_bits=7)
    b = LayerBits(weights=5, dense_bits=40, scale_bits=32)
    t = a + b
    assert (t.weights, t.payload, t.overhead, t.total) == (15, 43, 39, 82)
    assert [clog2(x) for x in (1, 2, 3, 4, 5, 256, 257)] == [0, 1, 2, 2, 3, 8, 9]
    assert mask_bits_per_group("combinatorial", 4, 8) == 7  # C(8,4) = 70


def test_layer_bits_match_the_compressed_object_and_file_payload():
    la = Layer("c", "conv", 6, 6, 16, 16, 3, 3, pad_h=1, pad_w=1)
    w = SyntheticWeights(0).get(la)
    for enc in ("bitmap", "positions", "combinatorial"):
        cl = compress_layer(w, method="mvq", nm=(1, 4), k=16, d=8, mask_encoding=enc, layer=la)
        b = cl.bits
        assert b == layer_bits("mvq", SHAPE, nm=(1, 4), k=16, d=8, mask_encoding=enc)
        assert cl.mask_data.size == -(-b.mask_bits // 8)  # stored exactly as counted
        assert cl.indices.dtype == np.uint8 and cl.codebook.size * 8 == b.codebook_bits
