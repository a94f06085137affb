"""Exact behaviour of L2's staging ring and its two DMAs (ewssim/hw/l2.py), driven directly
on a DRAM channel: byte accounting of the ring, the order and cycles of weight-block and
staged-input fetches, producer dependencies and the stage cycles the stall attribution
reads.  Written to kill surviving mutants (docs/testing.md)."""

from __future__ import annotations

import simpy

from ewssim.hw.dram import DramChannel
from ewssim.hw.l2 import Ring, staged_input_process, weight_prefetch_process


def _fires_at(env, t):
    ev = env.event()
    env.timeout(t).callbacks.append(lambda _e: ev.succeed())
    return ev


def test_ring_fills_to_capacity_exactly_and_waits_for_room():
    env = simpy.Environment()
    ring = Ring(env, 100)
    log = []

    def taker(tag, nbytes, at):
        yield env.timeout(at)
        yield env.process(ring.alloc(nbytes))
        log.append((tag, env.now, ring.used))

    def freer():
        yield env.timeout(10)
        ring.free(30)
        log.append(("free", env.now, ring.used))
        yield env.timeout(5)
        ring.free(41)
        log.append(("free", env.now, ring.used))

    assert ring.used == 0 and ring.capacity == 100
    env.process(taker("a", 60, 0))
    env.process(taker("b", 40, 1))             # exactly full: no wait
    env.process(taker("c", 31, 2))             # waits for 31 bytes of room
    env.process(freer())
    env.run()
    assert log == [("a", 0, 60), ("b", 1, 100), ("free", 10, 70), ("free", 15, 29),
                   ("c", 15, 60)]


def _prefetch(blocks, deps, latency=10):
    env = simpy.Environment()
    dram = DramChannel(env, 4, latency, 16)
    ring = Ring(env, 1 << 20)
    in_l2 = [env.event() for _ in blocks]
    stages = [{} for _ in blocks]
    env.process(weight_prefetch_process(env, ring, dram, blocks, in_l2, stages,
                                        deps(env) if callable(deps) else deps))
    env.run()
    return stages, ring


def test_weight_blocks_fetch_in_order_and_wait_for_their_layer():
    blocks = [(32, 0, True, False),        # fetched: 8 cycles, + 10 latency
              (0, 0, True, False),         # no bytes of its own: ready with the piece before
              (0, 1, True, False),         # first of its layer with no bytes: ready now
              (16, 1, True, True),         # an operand: waits for its producer (cycle 50)
              (0, 1, False, True),         # an operand kept in L2: the producer only
              (16, 2, True, False)]        # not an operand: ignores the producer event
    stages, ring = _prefetch(blocks, lambda env: [None, _fires_at(env, 50), _fires_at(env, 90)])
    assert stages[0] == {"ring": 0, "dram_end": 8, "dram_arrive": 18, "in_l2": 18}
    assert stages[1] == {"in_l2": 18}
    assert stages[2] == {"in_l2": 8}
    assert stages[3] == {"ring": 50, "dram_end": 54, "dram_arrive": 64, "in_l2": 64}
    assert stages[4] == {"in_l2": 54}
    assert stages[5] == {"ring": 54, "dram_end": 58, "dram_arrive": 68, "in_l2": 68}
    assert ring.used == 32 + 16 + 16


def test_block_without_bytes_after_an_arrived_piece_is_ready_at_once():
    blocks = [(16, 0, True, False), (0, 0, True, True)]      # the operand waits until 30
    stages, _ = _prefetch(blocks, lambda env: [_fires_at(env, 30)])
    assert stages[0] == {"ring": 0, "dram_end": 4, "dram_arrive": 14, "in_l2": 14}
    assert stages[1] == {"in_l2": 30}


def test_staged_input_pieces_wait_for_their_producer():
    env = simpy.Environment()
    dram = DramChannel(env, 4, 10, 16)
    pieces = [(16, 0), (0, 0), (32, 1), (16, 2)]
    in_l2 = [env.event(), None, env.event(), env.event()]
    stages = [{} for _ in pieces]
    done = env.event()
    done.succeed()                                            # already triggered
    deps = [_fires_at(env, 20), None, None]
    deps[2] = done
    env.process(staged_input_process(env, dram, pieces, in_l2, stages, deps))
    arrived = {}
    for b, ev in enumerate(in_l2):
        if ev is not None:
            ev.callbacks.append(lambda _e, b=b: arrived.__setitem__(b, env.now))
    env.run()
    assert stages == [{"piece_end": 24, "piece_arrive": 34}, {},
                      {"piece_end": 32, "piece_arrive": 42},
                      {"piece_end": 36, "piece_arrive": 46}]
    assert arrived == {0: 34, 2: 42, 3: 46}
    assert dram.read_bytes == 64
