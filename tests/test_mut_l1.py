"""Exact behaviour of the L1 buffers and their DMAs (ewssim/hw/l1.py), driven directly on an
L2 port and a DRAM channel: slot bookkeeping, the release timing, and the stage cycles each
fill and drain records for the stall attribution, with the priorities they request the L2 port
at.  Written to kill surviving mutants (docs/testing.md)."""

from __future__ import annotations

import simpy

from ewssim.hw.dram import DramChannel
from ewssim.hw.l1 import ACT_FILL, DRAIN, WEIGHT_FILL, L1Buffer, drain_process, fill_process
from ewssim.hw.port import Port


def test_buffer_starts_empty_and_slots_cycle_through_halves():
    env = simpy.Environment()
    buf = L1Buffer(env, "act", 2, 4)
    assert (buf.name, buf.halves) == ("act", 2)
    assert buf.ready_at == [-1] * 4 and buf.released_at == [-1] * 4
    assert buf.stages == [{}, {}, {}, {}]
    assert buf.slot_is_free(0) and buf.slot_is_free(1)
    assert not buf.slot_is_free(2) and not buf.slot_is_free(3)
    assert buf.slot_free_event(1).triggered and not buf.slot_free_event(2).triggered
    buf.release(0, 0)                             # released at cycle 0: free at once
    buf.release(1, 0)
    assert buf.released_at[:2] == [0, 0] and buf.slot_is_free(2) and buf.slot_is_free(3)
    assert buf.slot_free_event(2).triggered       # its waiter wakes at cycle 0
    assert buf.slot_free_event(3).triggered       # asked for after the release
    assert (DRAIN, ACT_FILL, WEIGHT_FILL) == (0, 1, 2)


def test_release_now_fires_at_once_and_later_fires_at_its_cycle():
    env = simpy.Environment()
    buf = L1Buffer(env, "out", 1, 3)
    env.run(until=4)
    buf.release(0, 4)                             # delay 0: freed before any simpy step
    assert buf.slot_is_free(1) and buf.released_at[0] == 4
    waiting = buf.slot_free_event(2)              # asked for before block 1 is released
    assert buf.released_at[1] == -1 and not waiting.triggered
    buf.release(1, 5)                             # delay 1: known now, free at cycle 5
    assert not buf.slot_is_free(2) and buf.released_at[1] == 5 and not waiting.processed
    env.run(until=4.5)
    assert not buf.slot_is_free(2) and not waiting.processed
    env.run(until=5)                              # cycle 5 reached, its events not yet run
    assert buf.slot_is_free(2) and not waiting.processed
    env.run(until=6)
    assert buf.slot_is_free(2) and waiting.processed
    assert buf.slot_free_event(2) is waiting      # one event per slot wait


def test_slot_known_in_advance_frees_at_its_cycle():
    env = simpy.Environment()
    buf = L1Buffer(env, "act", 1, 3)
    buf.release(0, 7)                             # known at cycle 0, free at 7
    ev = buf.slot_free_event(1)                   # asked for after the release is known
    seen = []
    ev.callbacks.append(lambda _e: seen.append(env.now))
    env.run()
    assert seen == [7] and buf.slot_is_free(1)


def test_ready_event_waits_for_the_fill_and_is_made_only_when_asked():
    env = simpy.Environment()
    buf = L1Buffer(env, "weight", 2, 3)
    buf.mark_ready(2)                             # filled at cycle 0, nobody waiting
    assert buf.ready_at[2] == 0 and buf.ready_event(2).triggered
    ev = buf.ready_event(1)
    assert not ev.triggered and buf.ready_at[1] == -1
    assert buf.ready_event(1) is ev               # one event per block
    env.run(until=3)
    buf.mark_ready(1)
    assert ev.triggered and buf.ready_at[1] == 3
    assert not buf.ready_event(0).triggered and buf.ready_at[0] == -1


def _fill(blocks, *, halves=1, rival=None, priority=ACT_FILL):
    """Run a fill DMA on a 4 B/cycle L2 port and a 2 B/cycle DRAM (latency 3, 4 B bursts);
    ``rival``: (cycle, bytes, priority) of another L2-port request."""
    env = simpy.Environment()
    port = Port(env, 4)
    dram = DramChannel(env, 2, 3, 4)
    buf = L1Buffer(env, "act", halves, len(blocks))
    in_l2 = [None] * len(blocks)
    deps = {0: None}
    log = []

    def rival_req(at, nbytes, prio):
        yield env.timeout(at)
        log.append((yield port.transfer(nbytes, prio)))

    def consumer():
        for b in range(len(blocks)):
            yield buf.ready_event(b)
            buf.release(b, int(env.now) + 2)

    env.process(fill_process(env, buf, blocks, port, dram, in_l2=in_l2, deps=deps,
                             priority=priority, dram_priority=1))
    env.process(consumer())
    if rival:
        env.process(rival_req(*rival))
    env.run()
    return buf, log


def test_fill_records_every_stage_of_a_streamed_and_an_l2_block():
    buf, _ = _fill([(6, "stream", 0), (8, "l2", 0)])
    # block 0: DRAM 8 B (two bursts) 0 -> 4, arrives at 7; L2 port 6 B: 7 -> 9
    assert buf.stages[0] == {"slot": 0, "dram_req": 0, "dram_grant": 0, "dram_end": 4,
                             "dram_arrive": 7, "port_req": 7, "port_grant": 7, "port_end": 9}
    # block 1 waits for slot 0 (released 2 cycles after ready at 9): 8 B in 2 cycles
    assert buf.stages[1] == {"slot": 11, "port_req": 11, "port_grant": 11, "port_end": 13}
    assert buf.ready_at == [9, 13] and buf.released_at == [11, 15]


def test_fill_requests_the_l2_port_at_its_priority():
    # a rival request in the same cycle at priority 1: the weight fill (2) goes after it
    buf, log = _fill([(8, "l2", 0)], rival=(0, 4, 1), priority=WEIGHT_FILL)
    assert log == [(0, 1)]
    assert buf.stages[0] == {"slot": 0, "port_req": 0, "port_grant": 1, "port_end": 3}
    # ... and an activation fill (1) before a rival at 2
    buf, log = _fill([(8, "l2", 0)], rival=(0, 4, 2), priority=ACT_FILL)
    assert log == [(2, 3)]
    assert buf.stages[0]["port_grant"] == 0 and buf.stages[0]["port_end"] == 2


def _drain(blocks, complete_at):
    env = simpy.Environment()
    port = Port(env, 4)
    dram = DramChannel(env, 2, 3, 4)
    buf = L1Buffer(env, "out", 1, len(blocks))
    complete = [env.event() for _ in blocks]
    layer_done = {0: env.event(), 1: env.event()}
    done_at = {}
    for b, t in enumerate(complete_at):
        env.timeout(t).callbacks.append(lambda _e, b=b: complete[b].succeed())
    for k, ev in layer_done.items():
        ev.callbacks.append(lambda _e, k=k: done_at.__setitem__(k, int(env.now)))
    env.process(drain_process(env, buf, blocks, port, dram, complete=complete,
                              layer_done=layer_done))
    env.run()
    return buf, done_at, dram


def test_drain_records_port_and_dram_stages_and_layer_ends():
    buf, done_at, dram = _drain([(6, "dram", 0, False), (8, "l2", 0, True),
                                 (4, "dram", 1, True)], [1, 2, 20])
    # block 0: L2 port 6 B 1 -> 3, then DRAM write of 8 B (two bursts) 3 -> 7
    assert buf.stages[0] == {"complete": 1, "port_grant": 1, "port_end": 3,
                             "dram_req": 3, "dram_grant": 3, "dram_end": 7}
    assert buf.stages[1] == {"complete": 7, "port_grant": 7, "port_end": 9}
    assert buf.stages[2] == {"complete": 20, "port_grant": 20, "port_end": 21,
                             "dram_req": 21, "dram_grant": 21, "dram_end": 23}
    assert buf.released_at == [7, 9, 23]
    assert done_at == {0: 9, 1: 23} and dram.write_bytes == 12
