"""Exact behaviour of the weight loader's helpers and checks (ewssim/hw/loader.py): bit-field
reads, unranking, the line layout on large and narrow-typed indices, the exact error texts
(what they name: the field, the layer, the layer's M-group), ``for_layer``'s CRF, the types
and widths of the timing results, counters that accumulate, and ``reset``.  Written to kill
surviving mutants (docs/testing.md)."""

from __future__ import annotations

import re
from types import SimpleNamespace as NS

import numpy as np
import pytest

from ewssim.compress import WeightFormat, compress_layer
from ewssim.compress.codecs import pack_uint
from ewssim.compress.layer import CompressedLayer
from ewssim.errors import InputError
from ewssim.hw.crf import CodebookRegisterFile
from ewssim.hw.loader import WeightLoader, line_subvectors, read_fields, tile_l1_bytes, unrank

CB = np.array([[[1, 2, 3, 4, 5, 6, 7, 8], [10, 20, 30, 40, 50, 60, 70, 80]]], dtype=np.int8)


def _layer(enc="bitmap", mask=None, *, method="ssvq", nm=(2, 4), d=8, name="hand"):
    """Two sub-vectors (indices 1, 0) of a 2x8x1x1 layer, k = 2; default masks: 2:4 with kept
    positions 0, 1 | 2, 3 in both sub-vectors."""
    if mask is None:
        mask = {"bitmap": np.array([0b11000011, 0b11000011], dtype=np.uint8),
                "positions": pack_uint([0, 1, 2, 3, 0, 1, 2, 3], 2),
                "combinatorial": pack_uint([0, 5, 0, 5], 3)}[enc]
    fmt = WeightFormat.make(method, d=d, k=2, nm=nm, mask_encoding=enc)
    return CompressedLayer(
        name=name, weight_shape=(2, d, 1, 1), scale=np.ones(2, dtype=np.float32), format=fmt,
        indices=np.array([1, 0], dtype=np.uint8), codebook=CB[:, :, :d].copy(), mask_data=mask,
        sign_data=np.array([0b10110000], dtype=np.uint8) if method == "ssvq" else None)


def _loader(cl, **kw):
    return WeightLoader(CodebookRegisterFile(2, cl.format.d, line_length=16, ports=2),
                        cl.format, **kw)


# --------------------------------------------------------------------------- helpers
def test_read_fields_names_what_it_reads_and_checks_the_data():
    data = np.array([0b10110010, 0b01000000], dtype=np.uint8)
    with pytest.raises(ValueError, match=r"^data: bit 16 requested but only 16 bits stored$"):
        read_fields(data, [15], 2)
    with pytest.raises(ValueError, match=r"^data must be packed 1-D uint8, got uint8 \(2, 1\)$"):
        read_fields(data.reshape(2, 1), [0], 1)
    # width 0 reads nothing, whatever the data
    assert read_fields(np.zeros(0, dtype=np.uint8), [5, 9], 0).tolist() == [0, 0]
    assert read_fields(np.zeros(0, dtype=np.uint8), np.zeros((0,), np.int64), 3).tolist() == []


def test_unrank_names_the_group_and_takes_narrow_ranks():
    with pytest.raises(ValueError, match=re.escape(
            "combinatorial decoder fault: M-group 1 has rank 6, not in 0..C(4,2)-1=5")):
        unrank([0, 6], 2, 4)
    with pytest.raises(ValueError, match="M-group 9 has rank 6"):
        unrank([0, 6], 2, 4, group_ids=np.array([7, 9]))
    # ranks stored in a byte: C(0,1)+C(1,2) = 0 and C(2,1)+C(3,2) = 5
    assert unrank(np.array([0, 5], dtype=np.uint8), 2, 4).tolist() == [[0, 1], [2, 3]]


def test_tile_l1_bytes_is_an_int_and_does_not_overflow():
    f = WeightFormat.make("mvq", d=8, k=16, nm=(1, 4))          # 12 bits per sub-vector
    got = tile_l1_bytes(3, f)
    assert got == 5 and type(got) is int
    big = tile_l1_bytes(np.array([2**28, 1], dtype=np.int32), f)
    assert big.tolist() == [2**28 * 12 // 8, 2]


LAYOUT = NS(weight_shape=(100, 8, 3, 3), padded_channels=8, format=NS(d=4))   # 2 blocks


def test_line_subvectors_layout_defaults_and_errors():
    # ((o*kh + r)*kw + s)*blocks + b0 computed in int64 even for an int8 channel
    assert line_subvectors(LAYOUT, np.int8(60), 2, 1, 0, 2).tolist() == [1094, 1095]
    assert line_subvectors(LAYOUT, 0, 0, 0, 1).tolist() == [1]            # count: blocks - 1
    assert line_subvectors(LAYOUT, 0, 0, 0, 1, 0).shape == (0,)            # an empty line
    with pytest.raises(ValueError, match=r"^count is required when first_block is an array$"):
        line_subvectors(LAYOUT, 0, 0, 0, np.array([0, 1]))
    for args, msg in (((100, 0, 0), "out_channel out of range 0..99"),
                      ((0, 3, 0), "r out of range 0..2"), ((0, 0, -1), "s out of range 0..2"),
                      ((0, 0, 0, 2, 0), "first_block out of range 0..1")):
        with pytest.raises(ValueError, match=rf"^{re.escape(msg)}$"):
            line_subvectors(LAYOUT, *args)
    with pytest.raises(ValueError, match=r"^2 sub-vectors from block 1 exceed the 2 channel "):
        line_subvectors(LAYOUT, 0, 0, 0, np.array([0, 1]), 2)


# --------------------------------------------------------------------------- the loader
def test_for_layer_builds_the_crf_it_is_given():
    cl = _layer()
    ld = WeightLoader.for_layer(cl)
    assert (ld.crf.k, ld.crf.d, ld.crf.line_length, ld.crf.ports, ld.crf.groups) == \
        (2, 8, 64, 8, 1)
    ld = WeightLoader.for_layer(cl, line_length=32, ports=3, crf_groups=2, crf_latency=4,
                                sign_latency=5)
    assert (ld.crf.line_length, ld.crf.ports, ld.crf.groups) == (32, 3, 2)
    assert (ld.crf_latency, ld.sign_latency, ld.latency) == (4, 5, 4 + 2 + 5)
    dense = compress_layer(np.ones((2, 3, 1, 1), dtype=np.float32), method="dense")
    with pytest.raises(InputError) as e:
        WeightLoader.for_layer(dense)
    assert str(e.value) == "field 'method': layer 'layer' is int8: no codebook loader"


def test_timing_results_are_ints_and_int64_arrays():
    ld = _loader(_layer())                      # 16 / 8 = 2 sub-vectors a line, 2 ports
    lat = 1 + 2 + 1
    got = ld.load_cycles(3)
    assert got == 3 + lat and type(got) is int
    got = ld.load_cycles(np.array([2**30, 0], dtype=np.int32), 4)
    assert got.tolist() == [2**31 + lat, 0]
    got = ld.stall_cycles(5)
    assert got == 0 and type(got) is int
    assert ld.stall_cycles(10, 7) == 10 * 3     # ceil(7 / 2) - 1 stalls a line
    got = ld.stall_cycles(np.array([2**30, 1], dtype=np.int32), 5)
    assert got.tolist() == [2**31, 2]
    got = ld.stall_cycles(np.array([4]), 5)
    assert isinstance(got, np.ndarray) and got.tolist() == [8]


def test_check_layer_errors_name_the_layer_and_the_field():
    cases = [
        (_layer(nm=(2, 4)), WeightFormat.make("ssvq", d=8, k=2, nm=(1, 4)), "nm",
         "N:M = 2:4, loader built for 1:4"),
        (_layer(), WeightFormat.make("ssvq", d=8, k=2, nm=(2, 4), mask_encoding="positions"),
         "mask_encoding", "mask encoding 'bitmap', loader built for 'positions'"),
        (_layer(), WeightFormat.make("mvq", d=8, k=2, nm=(2, 4)), "signs",
         "has sign bits, loader built without"),
        (_layer(method="mvq"), WeightFormat.make("ssvq", d=8, k=2, nm=(2, 4)), "signs",
         "has no sign bits, loader built with"),
    ]
    for cl, fmt, fld, msg in cases:
        ld = WeightLoader(CodebookRegisterFile(2, 8), fmt)
        with pytest.raises(InputError) as e:
            ld.decode(cl, [0])
        assert (e.value.source, e.value.field) == ("hand", fld)
        assert str(e.value) == f"hand: field '{fld}': {msg}"
    ld = WeightLoader(CodebookRegisterFile(2, 4), WeightFormat.make("ssvq", d=4, k=2, nm=(2, 4)))
    with pytest.raises(InputError) as e:
        ld.begin_layer(_layer())
    assert str(e.value) == "hand: field 'd': d=8, loader built for d=4"
    small = WeightLoader(CodebookRegisterFile(2, 8), WeightFormat.make("ssvq", d=8, k=2,
                                                                        nm=(2, 4)))
    small.crf.k = 1
    with pytest.raises(InputError) as e:
        small.begin_layer(_layer())
    assert str(e.value) == "hand: field 'k': k=2 codewords do not fit a CRF of 1"
    dense = compress_layer(np.ones((2, 8, 1, 1), dtype=np.float32), method="dense")
    with pytest.raises(InputError) as e:
        _loader(_layer()).decode(dense, [0])
    assert str(e.value) == "layer: field 'method': is int8: it has no codebook"
    assert (e.value.source, e.value.field) == ("layer", "method")


def test_mask_faults_name_the_layer_group():
    # sub-vector 1's second group (layer M-group 3) is bad; only sub-vector 1 is decoded
    cl = _layer("bitmap", np.array([0b11000011, 0b11000111], dtype=np.uint8))
    with pytest.raises(ValueError, match="LZC decoder fault: M-group 3 has 3 set bits"):
        _loader(cl).decode(cl, [1])
    cl = _layer("combinatorial", pack_uint([0, 5, 5, 6], 3))
    with pytest.raises(ValueError, match="combinatorial decoder fault: M-group 3 has rank 6"):
        _loader(cl).decode(cl, [1])
    cl = _layer("positions", pack_uint([0, 1, 2, 3, 0, 1, 2, 2], 2))   # a repeated position
    with pytest.raises(ValueError, match=re.escape(
            "mask decoder fault: M-group 3 has positions [2, 2], not 2 increasing positions "
            "< M=4")):
        _loader(cl).decode(cl, [0, 1])
    # 1:3 on d = 6: a 2-bit position field can hold 3 = M (group 1 of sub-vector 0)
    cl = _layer("positions", pack_uint([0, 3, 1, 2], 2), method="mvq", nm=(1, 3), d=6)
    with pytest.raises(ValueError, match=re.escape("M-group 1 has positions [3], not 1")):
        _loader(cl).decode(cl, [0, 1])


@pytest.mark.parametrize("enc", ["bitmap", "positions"])
def test_missing_mask_bits_name_the_mask(enc):
    cl = _layer(enc, np.zeros(0, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"^mask: bit 7 requested but only 0 bits stored$"):
        _loader(cl).decode(cl, [0])


def test_counters_accumulate_and_reset_clears_the_lzc():
    cl = _layer()
    ld = _loader(cl)
    ld.decode(cl, [0])
    ld.decode(cl, [1])
    assert ld.counters.values_emitted == 8
    ld.decode_dense(cl, [0])
    ld.decode_dense(cl, [1])
    assert (ld.counters.values_emitted, ld.counters.zeros_emitted) == (8 + 16, 8)
    assert ld.lzc.counters.groups == 8
    ld.reset()
    assert ld.lzc.counters.as_dict() == {"groups": 0, "lzc_evals": 0}
    assert ld.counters.values_emitted == 0 and ld.crf.counters.reads == 0
    vq = WeightFormat.make("vq", d=8, k=2)
    plain = WeightLoader(CodebookRegisterFile(2, 8), vq)
    assert plain.lzc is None
    plain.counters.subvectors = 3
    plain.reset()
    assert plain.counters.subvectors == 0
    # an unmasked loader emits every position
    vcl = CompressedLayer(name="v", weight_shape=(1, 8, 1, 1), scale=np.ones(1, np.float32),
                          format=vq, indices=np.array([1], dtype=np.uint8), codebook=CB)
    vals, pos = plain.decode(vcl, [0])
    assert vals.tolist() == [[10, 20, 30, 40, 50, 60, 70, 80]]
    assert pos.tolist() == [list(range(8))] and pos.dtype == np.int64


def test_constructor_errors_name_their_field():
    fmt = WeightFormat.make("ssvq", d=8, k=2, nm=(2, 4))
    with pytest.raises(TypeError, match=r"^crf must be a CodebookRegisterFile$"):
        WeightLoader(object(), fmt)
    with pytest.raises(InputError) as e:
        WeightLoader(CodebookRegisterFile(2, 8), WeightFormat.make("dbb", d=8, nm=(2, 4)))
    assert str(e.value) == ("field 'weights.format': the codebook loader decodes "
                            "vq/mvq/casec/ssvq, not dbb")
    with pytest.raises(InputError) as e:
        WeightLoader(CodebookRegisterFile(2, 4), fmt)
    assert str(e.value) == "field 'd': loader d=8 differs from the CRF's d=4"
    for fld in ("crf_latency", "lzc_stage_cycles", "sign_latency", "unrank_latency"):
        with pytest.raises(InputError) as e:
            WeightLoader(CodebookRegisterFile(2, 8), fmt, **{fld: -1})
        assert str(e.value) == f"field '{fld}': must be an integer >= 0, got -1"
        with pytest.raises(InputError, match=r"got True$"):
            WeightLoader(CodebookRegisterFile(2, 8), fmt, **{fld: True})


def test_the_lzc_decoder_gets_the_stage_cycles():
    ld = WeightLoader(CodebookRegisterFile(2, 8), WeightFormat.make("ssvq", d=8, k=2, nm=(2, 4)),
                      lzc_stage_cycles=3)
    assert ld.lzc.stage_cycles == 3 and ld.lzc.latency == 6
    assert ld.latency == 1 + 6 + 1


def test_decode_errors_and_integer_counters():
    cl = _layer("positions")
    ld = _loader(cl)
    with pytest.raises(ValueError, match=r"^sub-vector ids must be integers, got float64$"):
        ld.decode(cl, np.array([0.0]))
    with pytest.raises(ValueError, match=r"^sub-vector id 2 out of range 0\.\.1$"):
        ld.decode(cl, [1, 2])
    short = _layer()
    short.sign_data = np.zeros(0, dtype=np.uint8)
    with pytest.raises(ValueError, match=r"^signs: bit 3 requested but only 0 bits stored$"):
        _loader(short).decode(short, [0])
    ld.decode(cl, [0, 1])
    counts = ld.counters.as_dict()
    assert counts["mask_bits_read"] == 4 * 4 and counts["position_reads"] == 4
    assert all(type(v) is int for v in counts.values())
