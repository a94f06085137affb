"""Layer model: GEMM view, MACs, weights, params, validation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ewssim.errors import InputError
from ewssim.workload import Layer, Network


def test_conv_padding_stride():
    # ResNet conv1: 224x224x3, 7x7/2 pad 3 -> 112x112x64
    la = Layer("conv1", "conv", 224, 224, 3, 64, kernel_h=7, kernel_w=7, stride_h=2, stride_w=2,
               pad_h=3, pad_w=3)
    assert (la.out_h, la.out_w) == (112, 112)
    g = la.gemm
    assert (g.m, g.kr, g.n, g.groups) == (112 * 112, 3 * 7 * 7, 64, 1)
    assert la.macs == 112 * 112 * 64 * 3 * 49
    assert la.weights == 64 * 3 * 49
    assert la.weight_shape == (64, 3, 7, 7)
    assert la.params == la.weights  # no bias, no extra


def test_conv_same_padding_3x3():
    la = Layer("c", "conv", 56, 56, 64, 64, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1)
    assert (la.out_h, la.out_w) == (56, 56)
    assert (la.gemm.m, la.gemm.kr, la.gemm.n) == (3136, 576, 64)


def test_conv_dilation():
    la = Layer("d", "conv", 32, 32, 16, 16, kernel_h=3, kernel_w=3, dil_h=2, dil_w=2)
    assert (la.out_h, la.out_w) == (28, 28)  # effective kernel 5
    la = Layer("d", "conv", 32, 32, 16, 16, kernel_h=3, kernel_w=3, dil_h=2, dil_w=2,
               pad_h=2, pad_w=2)
    assert (la.out_h, la.out_w) == (32, 32)
    assert la.gemm.kr == 16 * 9  # dilation does not change the reduction length


def test_conv_asymmetric():
    la = Layer("a", "conv", 10, 20, 4, 8, kernel_h=1, kernel_w=5, stride_h=1, stride_w=3)
    assert (la.out_h, la.out_w) == (10, 6)
    assert la.gemm.kr == 4 * 5
    assert la.macs == 10 * 6 * 8 * 20


def test_grouped_conv():
    la = Layer("g", "conv", 14, 14, 64, 128, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1, groups=4)
    g = la.gemm
    assert (g.m, g.kr, g.n, g.groups, g.n_per_group) == (196, 16 * 9, 128, 4, 32)
    assert la.macs == 196 * 144 * 128
    assert la.weights == 128 * 16 * 9
    assert not la.is_depthwise


def test_depthwise_conv():
    la = Layer("dw", "conv", 112, 112, 32, 32, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1,
               groups=32)
    assert la.is_depthwise
    g = la.gemm
    assert (g.m, g.kr, g.n, g.groups, g.n_per_group) == (12544, 9, 32, 32, 1)
    assert la.macs == 12544 * 9 * 32
    assert la.weights == 32 * 9


def test_linear_over_tokens():
    la = Layer("qkv", "linear", 197, 1, 192, 576, bias=True, extra_params=384)
    assert (la.gemm.m, la.gemm.kr, la.gemm.n) == (197, 192, 576)
    assert la.macs == 197 * 192 * 576
    assert la.weights == 192 * 576
    assert la.params == 192 * 576 + 576 + 384


def test_linear_head():
    la = Layer("fc", "linear", 1, 1, 2048, 1000, bias=True)
    assert (la.gemm.m, la.gemm.kr, la.gemm.n) == (1, 2048, 1000)
    assert la.params == 2048 * 1000 + 1000


def test_matmul():
    la = Layer("qk", "matmul", 197, 1, 64, 197, batch=3)
    assert (la.gemm.m, la.gemm.kr, la.gemm.n) == (197, 64, 197)
    assert la.macs == 3 * 197 * 64 * 197
    assert la.weights == 0 and la.params == 0 and not la.has_weights
    assert la.input_elems == 3 * 197 * 64 + 3 * 64 * 197
    assert la.output_elems == 3 * 197 * 197
    assert "3x[197x64]@[64x197]" == la.shape_str


def test_bytes():
    la = Layer("c", "conv", 8, 8, 3, 5, kernel_h=3, kernel_w=3)
    assert la.weight_bytes(8) == 135
    assert la.weight_bytes(4) == 68  # rounded up
    assert la.output_bytes() == 6 * 6 * 5


@pytest.mark.parametrize(
    "kw, field",
    [
        (dict(in_h=0), "in_h"),
        (dict(out_c=-1), "out_c"),
        (dict(pad_h=-1), "pad_h"),
        (dict(kernel_h=9), "kernel_h"),
        (dict(kernel_w=5, dil_w=2), "kernel_w"),
        (dict(groups=3), "groups"),
        (dict(in_c=4, out_c=6, groups=4), "groups"),
        (dict(nm=(3, 2)), "nm"),
        (dict(nm=(1, 0)), "nm"),
        (dict(nm=(0, 4)), "nm"),
        (dict(kind="pool"), "type"),
        (dict(kind="matmul", kernel_h=3), "type"),
    ],
)
def test_validation(kw, field):
    base = dict(name="x", kind="conv", in_h=8, in_w=8, in_c=4, out_c=8)
    base.update(kw)
    with pytest.raises(InputError) as ei:
        Layer(**base)
    assert ei.value.field == field
    assert f"field '{field}'" in str(ei.value)
    assert "\n" not in str(ei.value)


def test_validate_carries_location():
    la = Layer("x", "conv", 8, 8, 4, 8)
    la.validate("f.csv", 7)  # fine
    with pytest.raises(InputError, match=r"^f\.csv:7: field 'in_h'"):
        object.__setattr__(la, "in_h", 0)
        la.validate("f.csv", 7)


def test_network_totals_and_duplicates():
    a = Layer("a", "conv", 8, 8, 3, 4, kernel_h=3, kernel_w=3, bias=True)
    b = Layer("b", "linear", 1, 1, 4, 2)
    net = Network("n", (a, b))
    assert net.macs == a.macs + b.macs
    assert net.params == a.params + b.params
    assert net.weights == a.weights + b.weights
    assert len(net) == 2 and [la.name for la in net] == ["a", "b"]
    with pytest.raises(InputError, match="duplicate"):
        Network("n", (a, a))
    with pytest.raises(InputError, match="no array layers"):
        Network("n", ())


@settings(max_examples=150, deadline=None)
@given(
    h=st.integers(1, 40), c_g=st.integers(1, 4), k_g=st.integers(1, 4), g=st.integers(1, 4),
    r=st.integers(1, 5), s=st.integers(1, 3), p=st.integers(0, 3), d=st.integers(1, 3),
)
def test_output_size_counts_window_positions(h, c_g, k_g, g, r, s, p, d):
    """out_h equals the number of window positions that fit, and MACs = P*Q*K*(C/g)*R*S."""
    eff = d * (r - 1) + 1
    if eff > h + 2 * p:
        with pytest.raises(InputError):
            Layer("x", "conv", h, h, c_g * g, k_g * g, kernel_h=r, kernel_w=r, stride_h=s,
                  stride_w=s, pad_h=p, pad_w=p, dil_h=d, dil_w=d, groups=g)
        return
    la = Layer("x", "conv", h, h, c_g * g, k_g * g, kernel_h=r, kernel_w=r, stride_h=s,
               stride_w=s, pad_h=p, pad_w=p, dil_h=d, dil_w=d, groups=g)
    positions = sum(1 for i in range(0, h + 2 * p, s) if i + eff <= h + 2 * p)
    assert la.out_h == la.out_w == positions
    assert la.macs == positions * positions * (k_g * g) * c_g * r * r
    assert la.gemm.m * la.gemm.kr * la.gemm.n == la.macs
