"""Functional mode (ewssim/engine/functional.py): the tile schedule executed with numpy equals a
plain convolution, exactly, and a wrong schedule is reported with the first differing element."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers import plan

from ewssim.config import PRESETS
from ewssim.engine.functional import (
    check_functional,
    conv2d_reference,
    random_operands,
    run_functional,
)
from ewssim.errors import EwssimError, InputError
from ewssim.workload.layers import Layer

LAYERS = [
    Layer("conv", "conv", 9, 8, 6, 10, kernel_h=3, kernel_w=5, stride_h=2, pad_h=1, pad_w=2,
          groups=2),
    Layer("dw", "conv", 7, 7, 16, 16, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1, groups=16),
    Layer("dil", "conv", 9, 9, 3, 4, kernel_h=2, kernel_w=3, dil_h=2, dil_w=3, stride_w=2,
          batch=2),
    Layer("fc", "linear", 1, 1, 70, 33),
    Layer("tok", "linear", 2, 3, 10, 12),
    Layer("qk", "matmul", 4, 3, 6, 5, batch=3),
]


def _arch(kind, rows=8, cols=8):
    return PRESETS[kind].with_array(rows, cols)


@pytest.mark.parametrize("kind", ["ws", "ews"])
@pytest.mark.parametrize("layer", LAYERS, ids=lambda la: la.name)
def test_functional_matches_reference_conv(layer, kind):
    mapping = plan(layer, _arch(kind))
    rep = check_functional(layer, mapping, seed=3)
    assert rep.ok and rep.tiles == len(mapping.schedule)
    assert "functional check ok" in str(rep)


def test_conv2d_reference_small_by_hand():
    layer = Layer("c", "conv", 3, 3, 1, 1, kernel_h=2, kernel_w=2)
    x = np.arange(9).reshape(1, 3, 3)
    w = np.array([[[[1, 0], [0, -1]]]])
    # out[i, j] = x[i, j] - x[i + 1, j + 1] = -4 everywhere
    assert np.array_equal(conv2d_reference(x, w, layer), np.full((1, 2, 2), -4))


def test_conv2d_reference_matmul_and_layouts():
    layer = Layer("av", "matmul", 2, 2, 3, 4, batch=2)
    a, b = random_operands(layer, 1)
    assert a.shape == (2, 4, 3) and b.shape == (2, 3, 4)
    assert np.array_equal(conv2d_reference(a, b, layer), a @ b)
    mapping = plan(layer, _arch("ews", 4, 4))
    assert np.array_equal(run_functional(layer, mapping.schedule, a, b), a @ b)


def test_mismatch_raises_ewssim_error_naming_layer_and_element():
    layer = LAYERS[0]
    mapping = plan(layer, _arch("ws"))
    s = mapping.schedule
    keep = np.arange(len(s)) != 1                     # drop one reduction fold
    broken = dataclasses.replace(s, **{f: getattr(s, f)[keep] for f in (
        "g0", "g1", "n0", "n1", "u0", "u1", "p0", "p1", "load_cycles", "release",
        "drain_cols")})
    with pytest.raises(EwssimError, match=r"layer 'conv'.*output index \(") as e:
        check_functional(layer, broken, seed=0)
    assert not isinstance(e.value, InputError)


def test_bad_operand_shapes():
    layer = LAYERS[0]
    mapping = plan(layer, _arch("ws"))
    x, w = random_operands(layer, 0)
    with pytest.raises(EwssimError, match="weights must have shape"):
        run_functional(layer, mapping.schedule, x, w[:, :, :1])
    with pytest.raises(EwssimError, match="integer"):
        run_functional(layer, mapping.schedule, x.astype(float), w)


def test_medium_layer_matches_reference_conv():
    """A ResNet-like 3x3 layer (28x28x64 -> 64) on a 32x32 EWS array (about 0.05 s here; no
    timed assertion: timing belongs in benchmarks/)."""
    layer = Layer("res", "conv", 28, 28, 64, 64, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1)
    mapping = plan(layer, _arch("ews", 32, 32))
    rep = check_functional(layer, mapping, seed=11)
    assert rep.outputs == 64 * 28 * 28 and rep.tiles == len(mapping.schedule)
