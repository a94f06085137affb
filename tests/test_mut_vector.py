"""Exact results of the vector unit (ewssim/hw/vector.py) at the edges the engine-level tests
do not reach: ties between DRAM and the L2 port, latency larger than the bandwidth time,
fractional DRAM widths, compute-bound operators, fused and ideal-memory results.  Written to
kill surviving mutants (docs/testing.md)."""

from __future__ import annotations

from ewssim.config import preset
from ewssim.dataflow import resolve
from ewssim.hw.vector import run_vector
from ewssim.workload.graph import VectorOp

# ews: L2 port 128 B/cycle, DRAM 16 B/cycle, 100 cycles latency, 64 B bursts, 64 lanes
OP = VectorOp("a", "add", 1, 1, 1024, 1, 1, 1024)        # 1,024 B out, 1,024 lane ops


def _hw(**over):
    return resolve(preset("ews").replace(over))


def _bytes(r):
    t = r.traffic
    return (t.dram_act_read_bytes, t.dram_out_write_bytes, t.l2_vector_read_bytes,
            t.l2_vector_write_bytes, t.vector_ops)


def test_hw_assumptions():
    m = _hw().memory
    assert (m.l2_bytes_per_cycle, m.dram_bytes_per_cycle, m.dram_latency_cycles,
            m.dram_burst_bytes, _hw().vector.lanes) == (128, 16.0, 100, 64, 64)


def test_dram_and_l2_tie_is_a_dram_stall():
    # kept input 7,168 B + output 1,024 B: L2 8,192 / 128 = 64 cycles; write-back 1,024 / 16
    # = 64 cycles; compute 16
    r = run_vector(OP, _hw(), [(7168, True)], False)
    assert (r.compute_cycles, r.stall_cycles, r.total_cycles) == (16, 48, 64)
    assert r.stalls == {"dram_bandwidth": 48}
    assert _bytes(r) == (0, 1024, 7168, 1024, 1024)


def test_latency_longer_than_the_l2_time_is_a_dram_stall():
    # input from DRAM: 64 cycles + 100 latency; L2 port (1,024 + 1,024) / 128 = 16 cycles
    r = run_vector(OP, _hw(), [(1024, False)], True)
    assert r.total_cycles == 164
    assert r.stalls == {"dram_latency": 100, "dram_bandwidth": 48}
    assert _bytes(r) == (1024, 0, 1024, 1024, 1024)


def test_l2_port_bound():
    r = run_vector(OP, _hw(), [(8192, True), (8192, True)], True)
    assert (r.compute_cycles, r.total_cycles) == (16, 136)        # 17,408 / 128
    assert r.stalls == {"l2_port": 120}
    assert r.notes == [] and not r.fused


def test_compute_bound_has_no_stall():
    r = run_vector(OP, _hw(**{"vector.lanes": 1}), [(1024, False)], False)
    assert (r.compute_cycles, r.stall_cycles, r.total_cycles) == (1024, 0, 1024)
    assert r.stalls == {}


def test_fractional_dram_width():
    # 1,024 B read + 1,024 B written at 2.5 B/cycle: ceil(2,048 / 2.5) = 820, + 100 latency
    r = run_vector(OP, _hw(**{"memory.dram_bytes_per_cycle": 2.5}), [(1024, False)], False)
    assert r.total_cycles == 920
    assert r.stalls == {"dram_latency": 100, "dram_bandwidth": 920 - 100 - 16}


def test_lane_ops_count_cycles_per_element():
    sm = VectorOp("s", "softmax", 10, 1, 10, 10, 1, 10, batch=3)          # work 300
    hw = _hw(**{"vector.softmax_cycles": 3})
    r = run_vector(sm, hw, [(300, True)], True)
    assert r.traffic.vector_ops == 900 and isinstance(r.traffic.vector_ops, int)
    assert r.compute_cycles == 15                                         # ceil(900 / 64)
    f = run_vector(sm, hw, [(300, True)], True, fused=True)
    assert f.fused and (f.compute_cycles, f.total_cycles) == (0, 0)
    assert f.traffic.vector_ops == 900 and isinstance(f.traffic.vector_ops, int)
    assert f.traffic.l2_vector_read_bytes == f.traffic.dram_act_read_bytes == 0
    assert f.notes == ["fused into the producing layer's output path"]
    assert f.name == "s" and f.op is sm


def test_ideal_memory_keeps_the_traffic_and_the_operator():
    r = run_vector(OP, _hw(**{"memory.ideal": True}), [(1000, False)], False)
    assert r.op is OP and r.name == "a"
    assert (r.compute_cycles, r.stall_cycles, r.stalls) == (16, 0, {})
    assert _bytes(r) == (1024, 1024, 1000, 1024, 1024)                   # whole bursts
