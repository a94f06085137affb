"""Topology parsers: ewssim CSV, SCALE-Sim conv and GEMM CSVs; errors; property tests."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ewssim.errors import InputError
from ewssim.workload import load_topology, parse_topology_text
from ewssim.workload.topology import EWSSIM_COLUMNS, REQUIRED_COLUMNS


def parse(text: str, source: str = "t.csv"):
    return parse_topology_text(text, source=source)


def err(text: str, source: str = "t.csv") -> InputError:
    with pytest.raises(InputError) as ei:
        parse(text, source)
    msg = str(ei.value)
    assert "\n" not in msg
    assert msg.startswith(source)
    return ei.value


# ----------------------------------------------------------------------------- ewssim format
EWS = """\
# a comment line
name,type,in_h,in_w,in_c,out_c,kernel_h,kernel_w,stride_h,stride_w,pad_h,pad_w,groups,bias,\
extra_params,batch, nm

  conv1 , conv, 16, 16, 3, 8, 3, 3, 2, 2, 1, 1, 1, 0, 16, 1,
  dw    , conv,  8,  8, 8, 8, 3, 3, 1, 1, 1, 1, 8, 0, 16, 1, 2:4
# another comment
  fc    , LINEAR, 1, 1, 8, 10, , , , , , , , 1, , ,
  qk    , matmul, 64, 1, 16, 64, 1, 1, 1, 1, 0, 0, 1, 0, 0, 2,
"""


def test_ewssim_full():
    net = parse(EWS, "net.csv")
    assert net.name == "net" and net.source == "net.csv"
    assert [la.name for la in net] == ["conv1", "dw", "fc", "qk"]
    c1, dw, fc, qk = net.layers
    assert (c1.out_h, c1.gemm.kr, c1.extra_params, c1.nm) == (8, 27, 16, None)
    assert dw.is_depthwise and dw.nm == (2, 4) and dw.gemm.kr == 9
    assert fc.kind == "linear" and fc.bias and fc.kernel_h == 1 and fc.params == 90
    assert qk.kind == "matmul" and qk.batch == 2 and qk.macs == 2 * 64 * 16 * 64


def test_ewssim_required_columns_only_any_order():
    net = parse("out_c,in_c,in_w,in_h,type,name\n5,3,4,4,conv,a\n")
    la = net.layers[0]
    assert (la.in_h, la.in_w, la.in_c, la.out_c, la.kernel_h, la.stride_w, la.pad_h,
            la.groups, la.bias, la.batch, la.nm) == (4, 4, 3, 5, 1, 1, 0, 1, False, 1, None)


def test_ewssim_trailing_comma_in_header_and_rows():
    net = parse("name,type,in_h,in_w,in_c,out_c,\na,conv,4,4,3,5,\nb,conv,4,4,3,5\n")
    assert len(net) == 2


def test_ewssim_defaults_for_empty_optional_fields():
    net = parse("name,type,in_h,in_w,in_c,out_c,kernel_h,dil_h\na,conv,9,9,3,5,,\n")
    la = net.layers[0]
    assert la.kernel_h == 1 and la.dil_h == 1


@pytest.mark.parametrize(
    "text, line, field, pattern",
    [
        ("name,type,in_h,in_w,in_c,out_c,colour\na,conv,4,4,3,5,red\n", 1, "colour",
         r"unknown column 'colour'.*allowed: name, type, in_h.*operand, inputs, out_h, out_w\)"),
        ("name,type,in_h,in_w,in_c\na,conv,4,4,3\n", 1, "out_c", "missing required column"),
        ("name,type,in_h,in_h,in_c,out_c\na,conv,4,4,3,5\n", 1, "in_h", "appears twice"),
        ("name,type,in_h,in_w,in_c,out_c\n\na,conv,4,4,3\n", 3, None, "5 fields, the header has 6"),
        ("name,type,in_h,in_w,in_c,out_c\na,conv,4,4,3,5,6,7\n", 2, None, "fields"),
        ("name,type,in_h,in_w,in_c,out_c\na,conv,4,x4,3,5\n", 2, "in_w", "not an integer"),
        ("name,type,in_h,in_w,in_c,out_c\na,conv,4,4.0,3,5\n", 2, "in_w", "not an integer"),
        ("name,type,in_h,in_w,in_c,out_c\na,conv,4,,3,5\n", 2, "in_w", "missing value"),
        ("name,type,in_h,in_w,in_c,out_c\na,conv,4,4,0,5\n", 2, "in_c", "positive integer"),
        ("name,type,in_h,in_w,in_c,out_c\na,conv,4,4,3,-5\n", 2, "out_c", "positive integer"),
        ("name,type,in_h,in_w,in_c,out_c,pad_h\na,conv,4,4,3,5,-1\n", 2, "pad_h", "non-negative"),
        ("name,type,in_h,in_w,in_c,out_c,kernel_h\na,conv,4,4,3,5,7\n", 2, "kernel_h",
         "larger than the padded input"),
        ("name,type,in_h,in_w,in_c,out_c,kernel_w,pad_w\na,conv,4,4,3,5,7,1\n", 2, "kernel_w",
         "padded input width 6"),
        ("name,type,in_h,in_w,in_c,out_c,groups\na,conv,4,4,6,4,4\n", 2, "groups",
         "not divisible by groups"),
        ("name,type,in_h,in_w,in_c,out_c,nm\na,conv,4,4,3,5,4:2\n", 2, "nm", "1 <= N <= M"),
        ("name,type,in_h,in_w,in_c,out_c,nm\na,conv,4,4,3,5,1:0\n", 2, "nm", "not a valid"),
        ("name,type,in_h,in_w,in_c,out_c,nm\na,conv,4,4,3,5,0:0\n", 2, "nm", "not a valid"),
        ("name,type,in_h,in_w,in_c,out_c,nm\na,conv,4,4,3,5,2/4\n", 2, "nm", "not an N:M"),
        ("name,type,in_h,in_w,in_c,out_c,bias\na,conv,4,4,3,5,yes\n", 2, "bias", "0 or 1"),
        ("name,type,in_h,in_w,in_c,out_c\na,pool,4,4,3,5\n", 2, "type", "conv, linear, matmul"),
        ("name,type,in_h,in_w,in_c,out_c\n,conv,4,4,3,5\n", 2, "name", "empty layer name"),
        ("name,type,in_h,in_w,in_c,out_c\na,conv,4,4,3,5\na,conv,4,4,3,5\n", 3, "name",
         "duplicate"),
        ("name,type,in_h,in_w,in_c,out_c\na,conv,4,4,3,99999999999999999999\n", 2, "out_c",
         "not an integer"),
    ],
)
def test_ewssim_errors(text, line, field, pattern):
    e = err(text)
    assert e.line == line
    assert e.field == field
    msg = str(e)
    assert msg.startswith(f"t.csv:{line}: ")
    if field:
        assert f"field '{field}'" in msg
    assert re.search(pattern, msg), msg


def test_header_only_and_empty():
    assert "no layers" in str(err("name,type,in_h,in_w,in_c,out_c\n# nothing\n"))
    assert "no header" in str(err("# only a comment\n\n"))
    e = err("foo,bar\n1,2\n")
    assert e.field == "header" and "SCALE-Sim" in str(e)


# ----------------------------------------------------------------------------- SCALE-Sim conv
# First rows of SCALE-Sim v3's topologies/mlperf/Resnet50.csv (trailing commas, no padding).
SS_CONV = """\
Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,

Conv1, 224, 224, 7, 7, 3, 64, 2,
CB2a_1, 56, 56, 1, 1, 64, 64, 1,
CB2a_2, 56, 56, 3, 3, 64, 64, 1,
CB2a_3, 56, 56, 1, 1, 64, 256, 1,
FC6, 1, 1, 1, 1, 2048, 1000, 1,
"""


def test_scalesim_conv_trailing_comma():
    net = parse(SS_CONV, "Resnet50.csv")
    assert len(net) == 5
    c1, _, c3, _, fc = net.layers
    assert (c1.out_h, c1.pad_h, c1.stride_w) == (110, 0, 2)  # ceil((224-7)/2)+1, no padding
    assert (c1.gemm.m, c1.gemm.kr, c1.gemm.n) == (110 * 110, 147, 64)
    assert (c3.gemm.m, c3.gemm.kr, c3.gemm.n) == (54 * 54, 576, 64)  # 56 -> 54: no padding
    assert (fc.gemm.m, fc.gemm.kr, fc.gemm.n) == (1, 2048, 1000)
    assert all(la.kind == "conv" and la.nm is None for la in net)


def test_scalesim_conv_without_trailing_comma():
    text = "\n".join(line.rstrip(",") for line in SS_CONV.splitlines())
    a, b = parse(text), parse(SS_CONV)
    assert [la.gemm for la in a] == [la.gemm for la in b]
    assert a.layers[0].stride_h == 2  # the stride is not lost with the comma


@pytest.mark.parametrize("comma", ["", ","])
def test_scalesim_conv_sparsity_column(comma):
    text = (f"Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
            f"Num Filter, Strides, Sparsity{comma}\n"
            f"c1, 16, 16, 3, 3, 8, 16, 1, 1:4{comma}\n"
            f"c2, 14, 14, 3, 3, 16, 16, 2, 2:4{comma}\n"
            f"c3, 6, 6, 1, 1, 16, 4, 1, {comma}\n")
    net = parse(text)
    assert [la.nm for la in net] == [(1, 4), (2, 4), None]
    assert [(la.gemm.m, la.gemm.kr, la.gemm.n) for la in net] == [
        (14 * 14, 72, 16), (7 * 7, 144, 16), (36, 16, 4)]  # ceil((14-3)/2)+1 = 7


def test_scalesim_conv_sparsity_value_without_header_column():
    text = SS_CONV.replace("2048, 1000, 1,", "2048, 1000, 1, 2:4,")
    assert parse(text).layers[-1].nm == (2, 4)


def test_scalesim_depthwise_dp_name():
    text = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
            "Num Filter, Strides,\nConvDP1, 10, 10, 3, 3, 32, 1, 1,\n")
    la = parse(text).layers[0]
    assert la.is_depthwise and la.groups == 32 and la.out_c == 32
    assert (la.gemm.m, la.gemm.kr, la.gemm.n_per_group) == (64, 9, 1)
    assert la.macs == 64 * 9 * 32  # = SCALE-Sim's 32 one-channel layers


@pytest.mark.parametrize(
    "row, line, field, pattern",
    [
        ("c, 8, 8, 9, 3, 4, 4, 1,", 2, "Filter Height", "larger than the padded input"),
        ("c, 8, 8, 3, 3, 0, 4, 1,", 2, "Channels", "positive integer"),
        ("c, 8, 8, 3, 3, 4, 4, -2,", 2, "Strides", "positive integer"),
        ("c, 8, eight, 3, 3, 4, 4, 1,", 2, "IFMAP Width", "not an integer"),
        ("c, 8, 8, 3, 3, 4, 4,", 2, "Strides", "missing value"),
        ("c, 8, 8, 3, 3, 4", 2, None, "6 fields, the header has 8"),
        ("c, 8, 8, 3, 3, 4, 4, 1, 5:4,", 2, "Sparsity", "1 <= N <= M"),
        ("c, 8, 8, 3, 3, 4, 4, 1, x,", 2, "Sparsity", "not an N:M"),
    ],
)
def test_scalesim_conv_errors(row, line, field, pattern):
    text = SS_CONV.splitlines()[0] + "\n" + row + "\n"
    e = err(text)
    assert (e.line, e.field) == (line, field)
    assert re.search(pattern, str(e)), str(e)


def test_scalesim_header_errors():
    e = err("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
            "Num Filter, Strides, Colour,\nc, 8, 8, 3, 3, 4, 4, 1, red,\n")
    assert e.field == "colour" and "Strides" in str(e)
    e = err("Layer name, IFMAP Height, IFMAP Width, Filter Height, Channels, Num Filter, "
            "Strides,\nc, 8, 8, 3, 4, 4, 1,\n")
    assert e.field == "Filter Width" and e.line == 1


# ----------------------------------------------------------------------------- SCALE-Sim GEMM
@pytest.mark.parametrize("comma", ["", ","])
def test_scalesim_gemm(comma):
    text = (f"Layer, M, N, K{comma}\n"
            f"g1, 128, 64, 256{comma}\n"
            f"g2, 1, 1000, 2048{comma}\n")
    net = parse(text)
    assert len(net) == 2
    g1, g2 = net.layers
    # SCALE-Sim: ifmap M x K, 1 channel, N filters of 1 x K, stride 1
    assert (g1.in_h, g1.in_w, g1.in_c, g1.kernel_h, g1.kernel_w, g1.out_c) == (
        128, 256, 1, 1, 256, 64)
    assert (g1.gemm.m, g1.gemm.kr, g1.gemm.n) == (128, 256, 64)
    assert (g2.gemm.m, g2.gemm.kr, g2.gemm.n) == (1, 2048, 1000)
    assert g1.macs == 128 * 256 * 64 and g1.weights == 256 * 64


def test_scalesim_gemm_sparsity_and_errors():
    net = parse("Layer, M, N, K, Sparsity,\ng, 8, 16, 32, 2:4,\n")
    assert net.layers[0].nm == (2, 4)
    e = err("Layer, M, N, K,\ng, 8, 0, 32,\n")
    assert (e.line, e.field) == (2, "N")
    e = err("Layer, M, K,\ng, 8, 32,\n")
    assert e.field == "N" and "missing" in str(e)


# ----------------------------------------------------------------------------- files
def test_load_topology_files(tmp_path):
    p = tmp_path / "ss.csv"
    p.write_text(SS_CONV)
    assert len(load_topology(p)) == 5
    with pytest.raises(InputError, match="no such file"):
        load_topology(tmp_path / "missing.csv")
    with pytest.raises(InputError):
        load_topology(tmp_path)
    bad = tmp_path / "bin.csv"
    bad.write_bytes(b"name,type\n\xff\xfe\x00")
    with pytest.raises(InputError, match="UTF-8"):
        load_topology(bad)


# ----------------------------------------------------------------------------- properties
_field_text = st.one_of(
    st.integers(-3, 300).map(str),
    st.sampled_from(["", " ", "x", "1.5", "2:4", "5:4", "0:0", "1e3", "-0", "+3", "١٢",
                     "conv", "linear", "matmul", "9" * 30, "#", "\t7 "]),
    st.text(max_size=6),
)
_ss_conv_header = SS_CONV.splitlines()[0]


def _check_only_input_error(text: str) -> None:
    try:
        net = parse_topology_text(text, source="fuzz.csv")
    except InputError as exc:
        msg = str(exc)
        assert "\n" not in msg and msg.startswith("fuzz.csv")
        return
    for la in net:  # a parsed network must be usable
        assert la.macs >= 0 and la.params >= 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_fuzz_random_text(text):
    _check_only_input_error(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cols=st.lists(st.sampled_from(EWSSIM_COLUMNS + ("bogus", "")), min_size=1, max_size=12,
                  unique=True),
    rows=st.lists(st.lists(_field_text, min_size=0, max_size=14), min_size=0, max_size=4),
    use_required=st.booleans(),
)
def test_fuzz_ewssim_rows(cols, rows, use_required):
    if use_required:
        cols = list(REQUIRED_COLUMNS) + [c for c in cols if c not in REQUIRED_COLUMNS]
    lines = [",".join(cols)] + [",".join(r) for r in rows]
    _check_only_input_error("\n".join(lines))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    gemm=st.booleans(),
    sparsity=st.booleans(),
    rows=st.lists(st.lists(_field_text, min_size=0, max_size=11), min_size=0, max_size=4),
    trailing=st.booleans(),
)
def test_fuzz_scalesim_rows(gemm, sparsity, rows, trailing):
    header = "Layer, M, N, K" if gemm else _ss_conv_header.rstrip(",")
    if sparsity:
        header += ", Sparsity"
    end = "," if trailing else ""
    lines = [header + end] + [",".join(r) + end for r in rows]
    _check_only_input_error("\n".join(lines))


@settings(max_examples=150, deadline=None)
@given(
    h=st.integers(-2, 40), w=st.integers(-2, 40), r=st.integers(-1, 9), s=st.integers(-1, 9),
    c=st.integers(-1, 70), k=st.integers(-1, 70), stride=st.integers(-1, 5),
    dp=st.booleans(),
)
def test_fuzz_scalesim_conv_numbers(h, w, r, s, c, k, stride, dp):
    text = f"{_ss_conv_header}\n{'DP' if dp else 'L'}, {h}, {w}, {r}, {s}, {c}, {k}, {stride},\n"
    try:
        la = parse(text).layers[0]
    except InputError:
        assert min(h, w, r, s, c, k, stride) < 1 or r > h or s > w
        return
    # SCALE-Sim v3 rounds up: ceil((H - R + s) / s) (tests/data/scalesim_v3)
    assert la.out_h == -(-(h - r + stride) // stride) and la.out_w == -(-(w - s + stride) // stride)
    assert la.macs == la.out_h * la.out_w * r * s * c * k
