"""The hand derivation in docs/worked-example.md, asserted exactly."""

from __future__ import annotations

import dataclasses

import pytest
from helpers import plan

from ewssim import config
from ewssim.hw.array import schedule_times
from ewssim.workload.layers import Layer

LAYER = Layer("conv", "conv", 4, 4, 2, 3, kernel_h=3, kernel_w=3)


def _plan(preset):
    a = config.PRESETS[preset].with_array(4, 4)
    a = dataclasses.replace(a, memory=dataclasses.replace(a.memory, ideal=True))
    return plan(LAYER, a)


@pytest.mark.parametrize("preset, starts, cycles, loads, streams", [
    ("ws", [3, 15, 27, 39, 51], 60, [3] * 5, [4] * 5),
    ("ews", [9, 21], 38, [9, 9], [12, 12]),
    ("scalesim-ws", [4, 18, 32, 46, 60], 69, [4] * 5, [4] * 5),
])
def test_cycles_as_derived_by_hand(preset, starts, cycles, loads, streams):
    m = _plan(preset)
    base, total = schedule_times(m.schedule)
    assert total == cycles
    assert base.tolist() == starts
    assert m.schedule.load_cycles.tolist() == loads
    assert m.schedule.stream_cycles.tolist() == streams


@pytest.mark.parametrize("preset, act, weights, psum_read, out_write", [
    ("ws", 72, 54, 192, 204),
    ("ews", 48, 54, 0, 12),
])
def test_traffic_as_derived_by_hand(preset, act, weights, psum_read, out_write):
    t = _plan(preset).traffic
    assert (t.l1_act_read_bytes, t.l1_weight_read_bytes, t.l1_psum_read_bytes,
            t.l1_out_write_bytes) == (act, weights, psum_read, out_write)
