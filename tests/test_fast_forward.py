"""Fast-forwarding steady states changes nothing.

The engine skips runs of repeating tiles once their times advance by a constant per tile
(``ewssim/hw/array.py``).  The cycle-by-cycle reference covers it on small networks
(``tests/test_reference_memory.py``, event "fast-forward"); here the same engine with the
fast-forward switched off is the oracle, on layers large enough for long steady runs: every
tile's start, every layer's cycles, stalls and causes must be identical.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import build_schedule
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ewssim.hw.array as array
from ewssim.config import preset
from ewssim.dataflow import dataflow_of, resolve
from ewssim.engine import sim
from ewssim.workload.layers import Layer, Network

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _naive_times(s) -> tuple[list[int], int]:
    """The recurrence of model-reference §2, tile by tile (no fast-forward)."""
    L, db = s.rows, s.double_buffer
    load, release = s.load_cycles.tolist(), s.release.tolist()
    stream, drain = s.stream_cycles.tolist(), s.drain_cols.tolist()
    base, loader_free, prev_end, finish = [], 0, 0, 0
    for i in range(len(load)):
        ready = 0
        if load[i]:
            r = release[i]
            free = (base[r] + L - 1 if r >= 0 else 0) if db else finish
            ready = max(loader_free, free) + load[i]
            loader_free = ready
        b = max(prev_end, ready)
        base.append(b)
        prev_end = b + stream[i]
        finish = max(finish, prev_end + L + drain[i] - 2)
    return base, finish + s.extra_cycles


@settings(max_examples=300, **SETTINGS)
@given(rows=st.integers(1, 8), cols=st.integers(1, 8), taps=st.integers(1, 3),
       chunk=st.one_of(st.none(), st.integers(1, 40)), wrf=st.integers(1, 9),
       db=st.booleans(), lc=st.integers(1, 3), lat=st.integers(0, 5),
       cin=st.integers(1, 96), cout=st.integers(1, 16), k=st.integers(1, 3),
       hw_=st.integers(1, 10))
def test_schedule_times_fast_forward_is_exact(rows, cols, taps, chunk, wrf, db, lc, lat, cin,
                                              cout, k, hw_):
    layer = Layer("c", "conv", hw_, hw_, cin, cout, kernel_h=k, kernel_w=k, pad_h=k // 2,
                  pad_w=k // 2)
    s = build_schedule(layer, rows=rows, cols=cols, taps=taps, chunk=chunk, wrf_depth=wrf,
                       double_buffer=db, line_cycles=lc, load_latency=lat)
    starts, total = array.schedule_times(s)
    want, want_total = _naive_times(s)
    assert total == want_total
    assert starts.tolist() == want


def _same_without_jumps(fast, run, monkeypatch) -> None:
    """``run()`` again with the fast-forward switched off gives ``fast`` exactly."""
    monkeypatch.setattr(array, "_MIN_JUMP", 10**12)
    slow = run()
    assert sum(r.fast_forwarded for r in slow) == 0
    for a, b in zip(fast, slow, strict=True):
        assert (a.total_cycles, a.stall_cycles, a.stalls) == \
            (b.total_cycles, b.stall_cycles, b.stalls)
        assert a.mapping.name == b.mapping.name


NETS = [
    Network("deep", (Layer("fc1", "linear", 1, 16, 256, 32), Layer("fc2", "linear", 1, 16,
                                                                   32, 32))),
    Network("conv", (Layer("c1", "conv", 14, 14, 32, 32, kernel_h=3, kernel_w=3, pad_h=1,
                           pad_w=1),
                     Layer("c2", "conv", 14, 14, 32, 16, kernel_h=1, kernel_w=1))),
]


@pytest.mark.parametrize("net", NETS, ids=lambda n: n.name)
@pytest.mark.parametrize("name,over", [
    ("ews", {"array.rows": 8, "array.cols": 8}),
    ("ws", {"array.rows": 8, "array.cols": 8, "memory.dram_bytes_per_cycle": 2.0}),
    ("ews", {"array.rows": 4, "array.cols": 4, "array.wrf_depth": 2,
             "memory.l1_double_buffer": False}),
    ("mvq", {"array.rows": 8, "array.cols": 8, "weights.codebook_groups": 2,
             "weights.crf_groups": 1}),
])
def test_engine_fast_forward_is_exact(net, name, over, monkeypatch):
    arch = preset(name).replace(over)
    from ewssim.api import weight_formats

    formats, _ = weight_formats(arch, net)

    def run():
        return sim.simulate(net, resolve(arch), flow=dataflow_of(arch), formats=formats)
    fast = run()
    assert sum(r.fast_forwarded for r in fast) > 0
    _same_without_jumps(fast, run, monkeypatch)
    assert np.array_equal(array.schedule_times(fast[0].mapping.schedule)[0],
                          np.asarray(_naive_times(fast[0].mapping.schedule)[0]))


@pytest.mark.parametrize("name,over,crossed", [
    ("ews", {"array.rows": 8, "array.cols": 8, "memory.l1_weight_bytes": 4096}, True),
    ("ews", {"array.rows": 8, "array.cols": 8, "memory.l1_weight_bytes": 4096,
             "memory.dram_bytes_per_cycle": 1.0}, False),
    ("ws", {"array.rows": 8, "array.cols": 4, "memory.l1_weight_bytes": 2048,
            "memory.l1_act_bytes": 2048}, True),
])
def test_steady_state_recognised_across_block_boundaries(name, over, crossed, monkeypatch):
    """Many weight blocks of one layer: after a boundary whose block was ready in time, the
    steady state is recognised at once (a window across the boundary); where the DRAM binds,
    the boundary tiles wait and the window must not cross them.  Either way: exact."""
    net = Network("fc", (Layer("fc1", "linear", 1, 1, 512, 256),
                         Layer("fc2", "linear", 1, 1, 256, 128)))
    arch = preset(name).replace(over)
    quiet = []
    original = array.GatedArray._quiet

    def counted(self, j, ti):
        ok = original(self, j, ti)
        quiet.append(ok)
        return ok
    monkeypatch.setattr(array.GatedArray, "_quiet", counted)

    def run():
        return sim.simulate(net, resolve(arch), flow=dataflow_of(arch))
    fast = run()
    assert sum(r.fast_forwarded for r in fast) > 0
    # a window crossed a block boundary, or (DRAM-bound: every new block arrives late) was
    # asked to and refused
    assert quiet and any(quiet) == crossed
    _same_without_jumps(fast, run, monkeypatch)
