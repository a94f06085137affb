"""Exact behaviour of the DRAM channel (ewssim/hw/dram.py): bursts, byte counters, the values
its processes return, the read latency and the priorities of reads and writes.  Written to
kill surviving mutants (docs/testing.md)."""

from __future__ import annotations

import simpy

from ewssim.hw.dram import ACT_READ, WEIGHT_READ, WRITE, DramChannel


def _channel(latency=7, burst=16, width=4):
    env = simpy.Environment()
    return env, DramChannel(env, width, latency, burst)


def test_channel_name_and_counters_start_at_zero():
    env, ch = _channel()
    assert ch.name == "DRAM"
    assert (ch.read_bytes, ch.write_bytes, ch.busy_cycles) == (0, 0, 0)
    assert (ch.latency, ch.burst) == (7, 16)
    assert (WRITE, ACT_READ, WEIGHT_READ) == (0, 1, 2)


def test_read_returns_request_grant_end_and_arrival():
    env, ch = _channel()
    out = []

    def proc():
        yield env.timeout(5)
        out.append((yield env.process(ch.read(20, ACT_READ))))   # 32 B: 8 cycles
        out.append((yield env.process(ch.read(16, ACT_READ))))   # 16 B: 4 cycles
        out.append(env.now)

    env.process(proc())
    env.run()
    assert out == [(5, 5, 13, 20), (20, 20, 24, 31), 31]
    assert ch.read_bytes == 48 and ch.write_bytes == 0


def test_write_returns_request_grant_end_and_counts_bursts():
    env, ch = _channel()
    out = []

    def proc():
        yield env.timeout(3)
        out.append((yield env.process(ch.write(1))))             # 16 B: 4 cycles
        out.append((yield env.process(ch.write(17))))            # 32 B: 8 cycles
        out.append(env.now)

    env.process(proc())
    env.run()
    assert out == [(3, 3, 7), (7, 7, 15), 15]                    # no latency for writes
    assert ch.write_bytes == 48 and ch.read_bytes == 0


def test_stream_returns_at_transfer_end_and_signals_arrival():
    env, ch = _channel()
    out = []

    def proc():
        arrived = env.event()
        arrived.callbacks.append(lambda _e: out.append(("arrived", env.now)))
        out.append(("ret", (yield env.process(ch.stream(33, WEIGHT_READ, arrived)))))
        out.append(("now", env.now))
        a2 = env.event()
        out.append(("ret", (yield env.process(ch.stream(16, WEIGHT_READ, a2)))))

    env.process(proc())
    env.run()
    # the next read is issued at the transfer's end and ends before the first data arrive
    assert out == [("ret", (12, 19)), ("now", 12), ("ret", (16, 23)), ("arrived", 19)]
    assert ch.read_bytes == 48 + 16


def test_zero_latency_stream_arrives_at_transfer_end():
    env, ch = _channel(latency=0)
    seen = []
    arrived = env.event()
    arrived.callbacks.append(lambda _e: seen.append(env.now))
    env.process(ch.stream(16, ACT_READ, arrived))
    env.run()
    assert seen == [4]


def test_same_cycle_priorities_write_then_act_then_weight():
    env, ch = _channel(latency=0)
    ends = {}

    def read(tag, prio):
        ends[tag] = (yield env.process(ch.read(16, prio)))[2]

    def stream(tag, prio):
        ends[tag] = (yield env.process(ch.stream(16, prio, env.event())))[0]

    def write(tag):
        ends[tag] = (yield env.process(ch.write(16)))[2]

    env.process(read("weight", WEIGHT_READ))
    env.process(stream("act", ACT_READ))
    env.process(write("write"))
    env.process(stream("weight2", WEIGHT_READ))
    env.process(read("act2", ACT_READ))
    env.run()
    assert ends == {"write": 4, "act": 8, "act2": 12, "weight": 16, "weight2": 20}
