"""The cycle-by-cycle reference (ewssim/engine/reference.py) against the fast model.

For random small layers and architectures (WS, and EWS with every combination of its three
switches) the reference must agree EXACTLY with the fast model: total cycles
(``schedule_cycles``), every tile's start (``schedule_times``), the L1 traffic of
``mapping.traffic``; and its outputs must equal the plain convolution and the functional mode.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers import build_schedule, hand_hw, plan, reference, reference_of
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ewssim.config import PRESETS, ArchConfig
from ewssim.engine.functional import conv2d_reference, random_operands, run_functional
from ewssim.engine.reference import ReferenceSimError
from ewssim.hw.array import schedule_cycles, schedule_times
from ewssim.workload.layers import Layer

#: cycle budget of one hypothesis example (the reference steps ~15k cycles/s here)
MAX_CYCLES = 4000
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.filter_too_much,
                                                      HealthCheck.too_slow])


# ----------------------------------------------------------------------------- helpers

def make_arch(kind: str, rows: int, cols: int, *, wrf: int = 9, arf: int = 3, prf: int = 16,
              db: bool = True, arf_reuse: bool = True, prf_reuse: bool = True,
              bits: tuple[int, int, int] = (8, 8, 32)) -> ArchConfig:
    a = PRESETS[kind]
    a = dataclasses.replace(a, array=dataclasses.replace(
        a.array, rows=rows, cols=cols, wrf_depth=wrf, arf_depth=arf, prf_depth=prf))
    if kind == "ews":
        a = dataclasses.replace(a, dataflow=dataclasses.replace(
            a.dataflow, wrf_double_buffer=db, arf_reuse=arf_reuse, prf_reuse=prf_reuse))
    act, wgt, psum = bits
    return dataclasses.replace(a, data=dataclasses.replace(
        a.data, act_bits=act, weight_bits=wgt, psum_bits=psum))


def _bytes(count: int, bits: int) -> int:
    return (count * bits + 7) // 8


def run_reference(layer: Layer, arch: ArchConfig, seed: int = 0):
    mapping = plan(layer, arch)
    x, w = random_operands(layer, seed)
    return mapping, x, w, reference_of(mapping, arch, x, w)


def check_case(layer: Layer, arch: ArchConfig, seed: int = 0):
    mapping, x, w, r = run_reference(layer, arch, seed)
    s = mapping.schedule
    # timing
    starts, total = schedule_times(s)
    assert r.cycles == schedule_cycles(s) == total
    assert np.array_equal(r.starts, starts)
    # numbers
    want = conv2d_reference(x, w, layer)
    assert r.output.shape == want.shape
    assert np.array_equal(r.output, want)
    assert np.array_equal(run_functional(layer, s, x, w), want)
    # L1 traffic
    d, t = arch.data, mapping.traffic
    assert t.l1_act_read_bytes == _bytes(r.act_reads, d.act_bits)
    wbits = d.act_bits if layer.kind == "matmul" else d.weight_bits  # matmul: an activation
    assert t.l1_weight_read_bytes == _bytes(r.weight_reads, wbits)
    assert t.l1_psum_read_bytes == _bytes(r.psum_reads, d.psum_bits)
    assert t.l1_out_write_bytes == (_bytes(r.out_writes, d.act_bits)
                                    + _bytes(r.psum_writes, d.psum_bits))
    assert r.out_writes == want.size
    return mapping, r


# ----------------------------------------------------------------------------- strategies

@st.composite
def archs(draw) -> ArchConfig:
    kind = draw(st.sampled_from(["ws", "ews", "ews", "scalesim-ws"]))
    return make_arch(
        kind, draw(st.integers(2, 16)), draw(st.integers(2, 16)),
        wrf=draw(st.integers(1, 12)), arf=draw(st.integers(1, 5)), prf=draw(st.integers(1, 20)),
        db=draw(st.booleans()), arf_reuse=draw(st.booleans()), prf_reuse=draw(st.booleans()),
        bits=(draw(st.sampled_from([4, 8, 16])), draw(st.sampled_from([4, 8, 16])),
              draw(st.sampled_from([16, 24, 32]))))


def _axis(draw, max_in: int = 10) -> dict:
    k = draw(st.integers(1, 5))
    dil = draw(st.integers(1, 2))
    pad = draw(st.integers(0, 2))
    stride = draw(st.integers(1, 3))
    eff = dil * (k - 1) + 1
    lo = max(1, eff - 2 * pad)
    n = draw(st.integers(lo, max(lo, max_in)))
    return dict(k=k, dil=dil, pad=pad, stride=stride, n=n)


@st.composite
def conv_layers(draw) -> Layer:
    h, w = _axis(draw), _axis(draw)
    style = draw(st.sampled_from(["plain", "grouped", "depthwise"]))
    if style == "plain":
        g, cin, cout = 1, draw(st.integers(1, 24)), draw(st.integers(1, 24))
    elif style == "grouped":
        g = draw(st.integers(2, 4))
        cin, cout = g * draw(st.integers(1, 6)), g * draw(st.integers(1, 6))
    else:
        g = draw(st.integers(2, 16))
        cin, cout = g, g * draw(st.integers(1, 2))
    return Layer("conv", "conv", h["n"], w["n"], cin, cout, kernel_h=h["k"], kernel_w=w["k"],
                 stride_h=h["stride"], stride_w=w["stride"], pad_h=h["pad"], pad_w=w["pad"],
                 dil_h=h["dil"], dil_w=w["dil"], groups=g,
                 batch=draw(st.sampled_from([1, 1, 1, 2])), ceil_mode=draw(st.booleans()))


@st.composite
def gemm_layers(draw) -> Layer:
    if draw(st.booleans()):
        return Layer("fc", "linear", draw(st.integers(1, 3)), draw(st.integers(1, 4)),
                     draw(st.integers(1, 24)), draw(st.integers(1, 24)))
    return Layer("attn", "matmul", draw(st.integers(1, 4)), draw(st.integers(1, 4)),
                 draw(st.integers(1, 12)), draw(st.integers(1, 12)),
                 batch=draw(st.integers(1, 4)))


def _affordable(layer: Layer, arch: ArchConfig) -> None:
    s = plan(layer, arch).schedule
    assume(schedule_cycles(s) <= MAX_CYCLES)


# ----------------------------------------------------------------------------- properties

@settings(max_examples=400, **SETTINGS)
@given(layer=conv_layers(), arch=archs(), seed=st.integers(0, 2**16))
def test_reference_matches_fast_model_conv(layer, arch, seed):
    _affordable(layer, arch)
    check_case(layer, arch, seed)


@settings(max_examples=150, **SETTINGS)
@given(layer=gemm_layers(), arch=archs(), seed=st.integers(0, 2**16))
def test_reference_matches_fast_model_gemm(layer, arch, seed):
    _affordable(layer, arch)
    check_case(layer, arch, seed)


@pytest.mark.parametrize("db", [False, True])
@pytest.mark.parametrize("arf_reuse", [False, True])
@pytest.mark.parametrize("prf_reuse", [False, True])
def test_every_ews_switch_combination(db, arf_reuse, prf_reuse):
    """A fixed layer that exercises several reduction and output folds, ARF chunks with a padded
    tap, stride and padding, under each of the 8 switch settings."""
    layer = Layer("c", "conv", 7, 8, 5, 7, kernel_h=3, kernel_w=5, stride_w=2, pad_h=1, pad_w=2)
    arch = make_arch("ews", 6, 4, wrf=6, arf=3, prf=5, db=db, arf_reuse=arf_reuse,
                     prf_reuse=prf_reuse)
    check_case(layer, arch, seed=7)


def test_packed_depthwise_is_block_diagonal():
    layer = Layer("dw", "conv", 6, 6, 12, 12, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1,
                  groups=12)
    arch = make_arch("ews", 8, 8, wrf=6, arf=3, prf=9)
    mapping, r = check_case(layer, arch, seed=3)
    assert mapping.schedule.pack == 8 // 3  # U = 3 units (3 rows x one chunk of 3 taps)


def test_matmul_heads_are_blocks():
    layer = Layer("qk", "matmul", 3, 2, 4, 5, batch=3)
    mapping, r = check_case(layer, make_arch("ws", 16, 16), seed=1)
    assert mapping.schedule.pack == 3   # 3 heads of 4x5 fit the 16x16 array
    assert r.output.shape == (3, 6, 5)


@settings(max_examples=250, **SETTINGS)
@given(layer=st.one_of(conv_layers(), gemm_layers()), rows=st.integers(1, 12),
       cols=st.integers(1, 12), taps=st.integers(1, 5),
       chunk=st.one_of(st.none(), st.integers(1, 20)), wrf=st.integers(1, 12), db=st.booleans(),
       line_cycles=st.integers(1, 3), mode=st.sampled_from(["lines", "rows"]),
       full_width=st.booleans(), seed=st.integers(0, 2**16))
def test_reference_matches_any_schedule(layer, rows, cols, taps, chunk, wrf, db, line_cycles,
                                        mode, full_width, seed):
    """Schedules built directly (any taps, pixel chunk, slow loader, SCALE-Sim-style row loads
    and full-width drain), not only the ones the WS/EWS mappers pick."""
    db = db and mode == "lines"  # rows + double buffering: see the xfail below
    s = build_schedule(layer, rows=rows, cols=cols, taps=taps, chunk=chunk, wrf_depth=wrf,
                       double_buffer=db, line_cycles=line_cycles, load_mode=mode,
                       drain_full_width=full_width)
    assume(schedule_cycles(s) <= MAX_CYCLES)
    x, w = random_operands(layer, seed)
    hw = hand_hw(rows, cols, wrf=wrf, db=db, mode=mode, full_width=full_width)
    r = reference(layer, hw.layer(None), x, w, chunk=chunk, psums_in_prf=chunk is not None,
                  taps=taps, line_cycles=line_cycles)
    starts, total = schedule_times(s)
    assert r.cycles == schedule_cycles(s) == total
    assert np.array_equal(r.starts, starts)
    assert np.array_equal(r.output, conv2d_reference(x, w, layer))


def test_rows_mode_is_never_double_buffered():
    """A 'rows' load shifts through row 0 of every column at once and would overwrite weights
    that columns j >= L still use (found by the reference), so the builder refuses it."""
    layer = Layer("fc", "linear", 1, 2, 6, 4)          # 3 reduction folds, 2 WRF slots
    s = build_schedule(layer, rows=2, cols=4, taps=1, chunk=None, wrf_depth=2,
                       double_buffer=True, load_mode="rows")
    assert not s.double_buffer
    x, w = random_operands(layer, 0)
    hw = hand_hw(2, 4, wrf=2, db=True, mode="rows")
    r = reference(layer, hw.layer(None), x, w, taps=1)
    assert r.cycles == schedule_cycles(s)


# ----------------------------------------------------------------------------- by hand

def test_one_tile_cycles_by_hand():
    """One tile: cycles = load + P*t + L + used_cols - 2 (load = used_cols * t lines)."""
    layer = Layer("fc", "linear", 2, 3, 5, 3)           # P = 6 pixels, 5 rows used of 8
    arch = make_arch("ws", 8, 4)
    mapping, r = check_case(layer, arch)
    L, used, P, t = 8, 3, 6, 1
    assert len(mapping.schedule) == 1
    assert r.cycles == used * t + P * t + L + used - 2 == 18
    assert list(r.starts) == [3]
    assert (r.act_reads, r.weight_reads, r.psum_reads, r.psum_writes, r.out_writes) == \
        (5 * 6, 15, 0, 0, 18)


def test_one_tile_with_taps_by_hand():
    """ARF reuse: a 1x3 kernel, taps = 3: every row reads 3 activations at the start of each
    output row and 1 per further pixel; load = used_cols * 3 lines."""
    layer = Layer("c", "conv", 2, 5, 2, 2, kernel_h=1, kernel_w=3)   # out 2x3, P = 6
    arch = make_arch("ews", 4, 4, wrf=3, arf=3, prf=16, db=False)
    mapping, r = check_case(layer, arch)
    s = mapping.schedule
    assert (len(s), s.taps) == (1, 3)
    assert r.cycles == 2 * 3 + 6 * 3 + 4 + 2 - 2
    assert r.act_reads == 2 * 2 * (3 + 1 + 1)     # 2 used rows x 2 output rows x (3 + 1 + 1)
    assert r.weight_reads == 2 * 2 * 3


def test_ws_folds_formula():
    """WS: sum over folds of (used_cols + T + L + used_cols - 2)."""
    layer = Layer("c", "conv", 4, 4, 3, 5, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1)
    L, H, T = 8, 4, 16
    mapping, r = check_case(layer, make_arch("ws", L, H))
    s = mapping.schedule
    want = sum(int(u) + T + L + int(u) - 2 for u in s.used_cols)
    assert r.cycles == want
    assert len(s) == 4 * 2                          # ceil(27 / 8) x ceil(5 / 4)


def test_rows_mode_full_width_scalesim_formula():
    """SCALE-Sim parity: rows loads (L cycles) and full-width drain give 2L + H + T - 2 per
    fold."""
    layer = Layer("c", "conv", 3, 3, 4, 5, kernel_h=2, kernel_w=2)
    L, H = 4, 3
    s = build_schedule(layer, rows=L, cols=H, taps=1, chunk=None, wrf_depth=1,
                       double_buffer=False, load_mode="rows", drain_full_width=True)
    x, w = random_operands(layer, 5)
    hw = hand_hw(L, H, wrf=1, db=False, mode="rows", full_width=True)
    r = reference(layer, hw.layer(None), x, w, taps=1)
    T = layer.out_h * layer.out_w
    assert r.cycles == schedule_cycles(s) == len(s) * (2 * L + H + T - 2)
    assert np.array_equal(r.starts, schedule_times(s)[0])
    assert np.array_equal(r.output, conv2d_reference(x, w, layer))


def test_line_cycles_slower_loader():
    layer = Layer("c", "conv", 5, 5, 6, 6, kernel_h=3, kernel_w=3)
    for db in (False, True):
        s = build_schedule(layer, rows=6, cols=4, taps=3, chunk=None, wrf_depth=9,
                           double_buffer=db, line_cycles=3)
        x, w = random_operands(layer, 2)
        r = reference(layer, hand_hw(6, 4, wrf=9, db=db).layer(None), x, w, taps=3,
                      line_cycles=3)
        assert r.cycles == schedule_cycles(s)
        assert np.array_equal(r.starts, schedule_times(s)[0])
        assert np.array_equal(r.output, conv2d_reference(x, w, layer))


# ----------------------------------------------------------------------------- hazards

def _three_sets():
    """3 reduction folds on 2 WRF slots with double buffering: tile 2 evicts tile 0's set."""
    layer = Layer("c", "conv", 6, 6, 6, 2, kernel_h=1, kernel_w=1)
    s = build_schedule(layer, rows=2, cols=2, taps=1, chunk=None, wrf_depth=2,
                       double_buffer=True)
    assert list(s.release) == [-1, -1, 1] and s.double_buffer
    return layer, hand_hw(2, 2, wrf=2, db=True).layer(None)


def test_early_release_overwrites_weights_in_use():
    """The reference plans its own WRF slots; told to load tile 2 without waiting for tile 1 to
    start, it finds the weights overwritten while in use."""
    layer, lhw = _three_sets()
    x, w = random_operands(layer, 0)
    r = reference(layer, lhw, x, w, taps=1)                 # fine as planned
    assert np.array_equal(r.output, conv2d_reference(x, w, layer))

    def early(plan):
        plan.tiles[2].release = -1
    with pytest.raises(ReferenceSimError, match="does not hold"):
        reference(layer, lhw, x, w, taps=1, tamper=early)


def test_missing_load_is_not_resident():
    layer, lhw = _three_sets()
    x, w = random_operands(layer, 0)

    def skip(plan):
        plan.tiles[2].load = False
    with pytest.raises(ReferenceSimError, match="does not hold"):
        reference(layer, lhw, x, w, taps=1, tamper=skip)
