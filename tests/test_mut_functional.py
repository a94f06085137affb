"""The functional mode's helpers pinned exactly (``ewssim/engine/functional.py``).

``test_functional.py`` compares whole tile-by-tile outputs with a plain convolution on INT8
data, which cannot see an operand held as float64 (exact for INT8), the padding a window that
overhangs the input needs, the error texts, activation DBB or the default seed.  Mutating the
module (docs/testing.md) showed each of these; every expected value here is worked out in the
test's docstring or comments.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers import plan

from ewssim.compress.compressor import compress_layer
from ewssim.config import PRESETS
from ewssim.engine.functional import (
    check_functional,
    conv2d_reference,
    conv_view,
    dbb_prune,
    dbb_subvectors,
    dbb_weights,
    loader_weights,
    pad_input,
    prune_activations,
    random_operands,
    run_functional,
    tile_operands,
    unit_fields,
)
from ewssim.errors import EwssimError
from ewssim.workload.layers import Layer

CONV = Layer("conv", "conv", 5, 5, 2, 2, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1)
MM = Layer("qk", "matmul", 2, 2, 3, 4, batch=2)
#: 2**27 + 1: its square, 2**54 + 2**28 + 1, needs 55 bits, so float64 loses the final 1
BIG = 2 ** 27 + 1


def _arch(kind="ews", rows=8, cols=8):
    return PRESETS[kind].with_array(rows, cols)


def _message(fn, *args, **kw) -> str:
    with pytest.raises(EwssimError) as e:
        fn(*args, **kw)
    return str(e.value)


# ----------------------------------------------------------------------------- integers

def test_operands_and_outputs_are_int64():
    """INT8 operands are widened to int64 before any product (an int8 or float64 sum would
    overflow or round), and every output is int64."""
    x, w = (a.astype(np.int8) for a in random_operands(CONV, 0))
    v = conv_view(CONV, x, w)
    assert (v.x.dtype, v.w.dtype) == (np.int64, np.int64)
    assert conv2d_reference(x, w, CONV).dtype == np.int64
    assert run_functional(CONV, plan(CONV, _arch()).schedule, x, w).dtype == np.int64
    a, b = (o.astype(np.int8) for o in random_operands(MM, 0))
    assert conv2d_reference(a, b, MM).dtype == np.int64
    vals, _ = dbb_prune(np.array([[3, -1]], np.int8), 1)
    assert vals.dtype == np.int64


def test_large_operands_stay_exact():
    """A 64-input linear layer with every operand 2**27 + 1 and the weights of output 1
    negated: each output is +-64 * (2**54 + 2**28 + 1) exactly, which float64 cannot hold
    (a tile of 8 rows through float64 BLAS would lose 8 per tile).  The plain convolution,
    the tile-by-tile run and a matmul give Python's exact integers."""
    fc = Layer("fc", "linear", 1, 1, 64, 2)
    x = np.full((64, 1, 1), BIG, np.int64)
    w = np.full((2, 64, 1, 1), BIG, np.int64)
    w[1] *= -1
    want = np.array([64 * BIG * BIG, -64 * BIG * BIG], dtype=object)
    assert [int(v) for v in conv2d_reference(x, w, fc).ravel()] == list(want)
    got = run_functional(fc, plan(fc, _arch()).schedule, x, w)
    assert [int(v) for v in got.ravel()] == list(want)
    a = np.full((1, 1, 64), BIG, np.int64)
    b = np.full((1, 64, 1), -BIG, np.int64)
    mm = Layer("m", "matmul", 1, 1, 64, 1)
    assert int(conv2d_reference(a, b, mm)[0, 0, 0]) == -64 * BIG * BIG


# ----------------------------------------------------------------------------- padding

def test_padding_covers_exactly_the_windows():
    """A 3x3 convolution with padding 1 on 5x5 pads one row and column on every side (7x7).
    A ceil-mode layer overhangs: 6x5 input, kernel 3x2, stride 2x3, dilation 2x2, padding 1:
    out_h = ceil((6 + 2 - 4 - 1) / 2) + 1 = 3, whose last window reaches padded row
    2 * 2 + 2 * 2 = 8, so the bottom gets 2 rows (6 + 1 + 2 = 9); out_w =
    ceil((5 + 2 - 2 - 1) / 3) + 1 = 3, last window to padded column 2 * 3 + 1 * 2 = 8, so the
    right side gets 3 columns (5 + 1 + 3 = 9).  The input sits at (1, 1); the rest is 0."""
    x = np.arange(1, 51).reshape(1, 2, 5, 5)
    xp = pad_input(x, CONV)
    assert xp.shape == (1, 2, 7, 7)
    assert np.array_equal(xp[:, :, 1:6, 1:6], x) and xp.sum() == x.sum()
    ceil = Layer("c", "conv", 6, 5, 1, 1, kernel_h=3, kernel_w=2, stride_h=2, stride_w=3,
                 dil_h=2, dil_w=2, pad_h=1, pad_w=1, ceil_mode=True)
    assert (ceil.out_h, ceil.out_w) == (3, 3)
    y = np.arange(1, 31).reshape(1, 1, 6, 5)
    yp = pad_input(y, ceil)
    assert yp.shape == (1, 1, 9, 9)
    assert np.array_equal(yp[:, :, 1:7, 1:6], y) and yp.sum() == y.sum()
    # the overhanging windows read zeros: the functional mode equals the plain convolution
    assert check_functional(ceil, plan(ceil, _arch()), seed=2).ok


def test_padded_taps_hold_zero_weights_and_zero_activations():
    """kernel_w 5 on 3 taps: the second chunk of a kernel row has columns 3, 4 and a padded
    tap (column 5), whose weight and activation entries are both 0 in the tile operands."""
    layer = Layer("conv", "conv", 9, 8, 6, 10, kernel_h=3, kernel_w=5, stride_h=2, pad_h=1,
                  pad_w=2, groups=2)
    s = plan(layer, _arch()).schedule
    assert s.taps == 3
    x, w = random_operands(layer, 4, lo=1, hi=9)          # no zeros of their own
    view = conv_view(layer, x, w)
    units = unit_fields(layer, s.taps)
    xp = view.padded_input()
    seen = 0
    for k in range(len(s)):
        a, wt, _ = tile_operands(view, s, k, xp, units)
        u = units[int(s.u0[k]):int(s.u1[k])]
        pad_tap = np.tile((u[:, 2][:, None] + np.arange(3)[None, :] >= 5).ravel(),
                          int(s.g1[k] - s.g0[k]))
        seen += int(pad_tap.sum())
        assert (wt[pad_tap] == 0).all() and (a[:, pad_tap] == 0).all()
    assert seen > 0


# ----------------------------------------------------------------------------- shapes

def test_operand_shape_errors_name_the_shapes():
    x, w = random_operands(CONV, 0)
    assert _message(conv_view, CONV, x[:, :, :4], w) == \
        "layer 'conv': input must have shape (2, 5, 5), got (2, 5, 4)"
    assert _message(conv_view, CONV, x[None, :, :, :4], w) == \
        "layer 'conv': input must have shape (1, 2, 5, 5), got (1, 2, 5, 4)"
    two = dataclasses.replace(CONV, batch=2)
    assert _message(conv_view, two, x, w) == \
        "layer 'conv': input must have shape (2, 2, 5, 5), got (2, 5, 5)"
    a, b = random_operands(MM, 0)
    assert _message(conv_view, MM, a, b[:, :, :3]) == \
        "layer 'qk': matmul operands must be (2, 4, 3) and (2, 3, 4), got (2, 4, 3) and (2, 3, 3)"
    assert _message(conv_view, MM, a[:, :3], b) == \
        "layer 'qk': matmul operands must be (2, 4, 3) and (2, 3, 4), got (2, 3, 3) and (2, 3, 4)"


def test_random_operands_are_seeded_int8_in_the_layouts():
    """Same seed, same operands; values in [-128, 127] reaching both ends; a batch-1 conv's
    input has no batch axis, a batch-2 conv's has one."""
    big = Layer("big", "conv", 16, 16, 16, 16, kernel_h=3, kernel_w=3)
    x, w = random_operands(big, 5)
    x2, w2 = random_operands(big, 5)
    assert np.array_equal(x, x2) and np.array_equal(w, w2)
    assert x.shape == (16, 16, 16) and w.shape == (16, 16, 3, 3)
    assert (int(x.min()), int(x.max()), int(w.min()), int(w.max())) == (-128, 127, -128, 127)
    assert random_operands(dataclasses.replace(big, batch=2), 5)[0].shape == (2, 16, 16, 16)
    lo, hi = random_operands(big, 5, lo=3, hi=4)
    assert set(np.unique(lo)) == {3, 4} and set(np.unique(hi)) == {3, 4}


# ----------------------------------------------------------------------------- weights

def _dense(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def test_int8_and_unpruned_dbb_weights_are_read_as_stored():
    """An INT8 layer's loader weights are its INT8 values; an unpruned dbb layer (8:8) keeps
    every value, so its weights are its INT8 values too; neither is a pruned dbb layer."""
    shape = (4, 8, 1, 1)
    i8 = compress_layer(_dense(shape), method="int8", name="i8")
    got = loader_weights(i8)
    assert got.dtype == np.int64 and np.array_equal(got, i8.int8_weights)
    full = compress_layer(_dense(shape), method="dbb", nm=(8, 8), name="full")
    assert not full.format.pruned
    got = dbb_weights(full)
    assert got.dtype == np.int64
    assert np.array_equal(got, np.asarray(full.kept_values).reshape(shape))
    assert np.array_equal(loader_weights(full), got)
    for cl in (full, compress_layer(_dense((4, 8, 1, 1)), method="mvq", nm=(2, 4), k=2, d=4,
                                    name="mvq")):
        assert _message(dbb_subvectors, cl) == \
            f"layer '{cl.name}': {cl.format.describe()} is not a pruned dbb layer"


def test_pruned_dbb_blocks_are_read_from_the_stored_mask():
    """4:8 blocks with a bitmap mask: values and positions are int64; a stored mask whose
    groups keep all 8 weights is refused, naming the layer and the field."""
    cl = compress_layer(_dense((4, 8, 1, 1)), method="dbb", nm=(4, 8), mask_encoding="bitmap",
                        name="c3")
    vals, pos = dbb_subvectors(cl)
    assert (vals.dtype, pos.dtype, vals.shape) == (np.int64, np.int64, (4, 4))
    assert np.array_equal(dbb_weights(cl).reshape(4, 8)[np.arange(4)[:, None], pos], vals)
    cl.mask_data = np.full_like(cl.mask_data, 0xFF)
    assert _message(dbb_subvectors, cl) == (
        "c3: field 'mask': M-group 0 keeps 8 weights, not exactly N=4 of M=8 (4 bad groups) "
        "(allowed: exactly 4 set bits per 8)")


def test_compressed_weights_must_match_the_layer():
    fc = Layer("fc", "linear", 1, 1, 8, 4)
    cl = compress_layer(_dense((4, 8, 1, 1)), method="int8", name="fc")
    s = plan(fc, _arch()).schedule
    x, _ = random_operands(fc, 0)
    wide = Layer("fc", "linear", 1, 1, 8, 8)
    assert _message(run_functional, wide, s, x, cl) == \
        "layer 'fc': compressed weights have shape (4, 8, 1, 1), the layer needs (8, 8, 1, 1)"
    a, b = random_operands(MM, 0)
    assert _message(run_functional, MM, plan(MM, _arch()).schedule, a, cl) == \
        "layer 'qk': a matmul has no (compressed) weights"


# ----------------------------------------------------------------------------- activation DBB

def test_dbb_prune_keeps_the_largest_magnitudes_lowest_position_first():
    """Blocks of 4 along the last axis of a (2, 2, 4) array, 2 kept:
    [3, -3, 1, 0] -> positions 0, 1; [0, 0, 0, 0] -> 0, 1 (ties: lowest first);
    [-1, 2, -2, 5] -> 5 at 3 and the first of the tied 2, -2 (position 1);
    [1, 1, 1, 1] -> 0, 1.  One kept and all kept are allowed; 0 and 5 are not."""
    b = np.array([[[3, -3, 1, 0], [0, 0, 0, 0]], [[-1, 2, -2, 5], [1, 1, 1, 1]]])
    vals, pos = dbb_prune(b, 2)
    assert pos.tolist() == [[[0, 1], [0, 1]], [[1, 3], [0, 1]]]
    assert vals.tolist() == [[[3, -3], [0, 0]], [[2, 5], [1, 1]]]
    vals, pos = dbb_prune(b, 1)
    assert pos.tolist() == [[[0], [0]], [[3], [0]]]
    assert dbb_prune(b, 4)[1].tolist() == [[[0, 1, 2, 3]] * 2] * 2
    for nnz in (0, 5):
        assert _message(dbb_prune, b, nnz) == \
            f"activation DBB keeps 1..4 of a block of 4, got {nnz}"


def test_dbb_prune_breaks_long_ties_by_position():
    """64 equal magnitudes with alternating signs: the 5 kept are positions 0-4.  And 50
    random blocks of 64 values in -3..3 (many ties): the kept positions are the first 5 in
    the order (larger magnitude first, then lower position), written out with Python's
    sort -- numpy's default (unstable) sort leaves some ties in another order here."""
    b = np.where(np.arange(64) % 2, 7, -7)[None].repeat(3, 0)
    vals, pos = dbb_prune(b, 5)
    assert pos.tolist() == [[0, 1, 2, 3, 4]] * 3
    assert vals.tolist() == [[-7, 7, -7, 7, -7]] * 3
    r = np.random.default_rng(0).integers(-3, 4, size=(50, 64))
    vals, pos = dbb_prune(r, 5)
    want = [sorted(sorted(range(64), key=lambda i, row=row: (-abs(int(row[i])), i))[:5])
            for row in r]
    assert pos.tolist() == want
    assert vals.tolist() == [[int(row[i]) for i in p] for row, p in zip(r, want, strict=True)]


def test_prune_activations_per_block_of_channels_and_its_errors():
    """8 channels at 2 positions in blocks of 4 keeping 2: the block at each position keeps
    its two largest magnitudes, the rest become 0."""
    layer = Layer("c", "conv", 1, 2, 8, 4)
    x = np.array([[1, 9], [-5, 0], [2, 0], [0, 1], [4, 4], [4, -4], [-4, 4], [3, 3]]
                 ).reshape(8, 1, 2)
    got = prune_activations(x, layer, 4, 2)
    want = np.array([[0, 9], [-5, 0], [2, 0], [0, 1], [4, 4], [4, -4], [0, 0], [0, 0]]
                    ).reshape(8, 1, 2)
    assert np.array_equal(got, want)
    odd = Layer("c", "conv", 1, 2, 12, 4)
    assert _message(prune_activations, np.zeros((12, 1, 2), int), odd, 8, 2) == \
        "layer 'c': 12 channels per group are not a multiple of the activation block 8"
    assert _message(prune_activations, *random_operands(MM, 0)[:1], MM, 4, 2) == \
        "layer 'qk': activation DBB applies to conv/linear layers"


# ----------------------------------------------------------------------------- the check

def _broken(layer):
    s = plan(layer, _arch("ws")).schedule
    keep = np.arange(len(s)) != 1                     # drop one reduction fold
    return dataclasses.replace(s, **{f: getattr(s, f)[keep] for f in (
        "g0", "g1", "n0", "n1", "u0", "u1", "p0", "p1", "load_cycles", "release",
        "drain_cols")})


def test_a_mismatch_names_the_first_differing_output_and_seed_0_by_default():
    layer = Layer("conv", "conv", 9, 8, 6, 10, kernel_h=3, kernel_w=5, stride_h=2, pad_h=1,
                  pad_w=2, groups=2)
    broken = _broken(layer)
    msg = _message(check_functional, layer, broken)
    assert msg == _message(check_functional, layer, broken, seed=0)
    x, w = random_operands(layer, 0)
    got, want = run_functional(layer, broken, x, w), conv2d_reference(x, w, layer)
    diff = np.argwhere(got != want)
    idx = tuple(int(i) for i in diff[0])
    assert msg == (f"layer 'conv': functional mode differs from the reference convolution at "
                   f"output index {idx}: got {int(got[idx])}, expected {int(want[idx])} "
                   f"({len(diff)} of {got.size} elements differ, seed 0)")
    assert msg != _message(check_functional, layer, broken, seed=1)


def test_check_with_given_weights_and_with_activation_dbb():
    """Given integer weights are the ones both sides use (a tile schedule that drops a fold
    differs on them); activation DBB prunes the input of both sides (4:8 weights, blocks of
    8 activations keeping 3: the check passes, and the pruned input differs from the raw)."""
    fc = Layer("fc", "linear", 1, 3, 16, 8)
    w = np.arange(-64, 64).reshape(8, 16, 1, 1)
    rep = check_functional(fc, plan(fc, _arch()), weights=w)
    assert str(rep) == "layer 'fc': functional check ok (2 tiles, 24 outputs)"
    assert (rep.layer, rep.tiles, rep.outputs) == ("fc", 2, 24)
    conv = Layer("c", "conv", 4, 4, 16, 8, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1)
    m = plan(conv, _arch("s2ta-aw"))
    rep = check_functional(conv, m, seed=3, act_dbb=(8, 3))
    assert (rep.layer, rep.outputs) == ("c", 128)
    x, _ = random_operands(conv, 3)
    assert not np.array_equal(prune_activations(x, conv, 8, 3), x)
    with pytest.raises(EwssimError, match="differs from the reference"):
        check_functional(conv, _broken(conv), seed=3, act_dbb=(8, 3))
