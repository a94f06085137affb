"""Exact behaviour of the transfer port (ewssim/hw/port.py) that the engine-level tests do not
pin down: grant order of same-cycle requests, back-to-back grants, busy cycles, exact widths.
Written to kill surviving mutants (docs/testing.md)."""

from __future__ import annotations

from fractions import Fraction

import simpy

from ewssim.hw.port import Port, at_end_of_cycle, rational


def _run(port_width, requests):
    """``requests``: (request cycle, bytes, priority or None) -> list of (tag, grant, end) in
    completion order, and the port."""
    env = simpy.Environment()
    port = Port(env, port_width)
    done = []

    def req(tag, at, nbytes, priority):
        yield env.timeout(at)
        ev = port.transfer(nbytes) if priority is None else port.transfer(nbytes, priority)
        grant, end = yield ev
        done.append((tag, grant, end))

    for tag, (at, nbytes, priority) in enumerate(requests):
        env.process(req(tag, at, nbytes, priority))
    env.run()
    return done, port


def test_back_to_back_transfers_wait_for_the_port():
    done, port = _run(1, [(0, 10, 0), (0, 10, 0), (3, 4, 0)])
    assert done == [(0, 0, 10), (1, 10, 20), (2, 20, 24)]
    assert port.free_at == 24
    assert port.busy_cycles == 24


def test_busy_cycles_count_only_transfer_cycles():
    # the port idles 0..5 and 8..20: busy 3 + 2 cycles
    done, port = _run(2, [(5, 6, 0), (20, 3, 0)])
    assert done == [(0, 5, 8), (1, 20, 22)]
    assert port.busy_cycles == 5


def test_same_cycle_ties_go_to_the_earlier_request():
    # equal request cycle and priority: first come first served, whatever the sizes
    done, _ = _run(1, [(0, 5, 0), (0, 30, 0), (0, 10, 0), (0, 1, 0)])
    assert [d[0] for d in done] == [0, 1, 2, 3]
    assert done[-1] == (3, 45, 46)


def test_lower_priority_value_wins_and_default_priority_is_zero():
    # requested at the same cycle: priority 1 first in program order, the default (0) second
    done, _ = _run(1, [(0, 4, 1), (0, 4, None), (0, 4, 2)])
    assert done == [(1, 0, 4), (0, 4, 8), (2, 8, 12)]


def test_grant_is_decided_at_the_end_of_the_cycle():
    """A request made later in the same cycle (by a process scheduled after the first one)
    still competes: the lower priority value wins."""
    env = simpy.Environment()
    port = Port(env, 1)
    order = []

    def first():
        yield env.timeout(2)
        order.append(("a", (yield port.transfer(3, 5))))

    def second():
        yield env.timeout(2)
        yield env.timeout(0)                 # later in cycle 2
        order.append(("b", (yield port.transfer(3, 0))))

    env.process(first())
    env.process(second())
    env.run()
    assert order == [("b", (2, 5)), ("a", (5, 8))]


def test_at_end_of_cycle_runs_after_normal_events_at_its_cycle():
    env = simpy.Environment()
    seen = []
    at_end_of_cycle(env, 3, lambda ev: seen.append(("late", env.now)))

    def normal():
        yield env.timeout(3)
        seen.append(("normal", env.now))

    env.process(normal())
    env.run()
    assert seen == [("normal", 3), ("late", 3)]


def test_fractional_width_cycles():
    env = simpy.Environment()
    p = Port(env, 2.5)
    assert [p.cycles(n) for n in (0, 1, 5, 6, 10, 11)] == [0, 1, 2, 3, 4, 5]
    assert Port(env, Fraction(3, 2)).cycles(3) == 2


def test_rational_reads_a_float_as_its_decimal():
    assert rational(0.1) == Fraction(1, 10)
    assert rational(2.5) == Fraction(5, 2)
    assert rational(8) == Fraction(8) and isinstance(rational(8), Fraction)
    f = Fraction(7, 3)
    assert rational(f) is f


def test_port_name_and_initial_state():
    env = simpy.Environment()
    p = Port(env, 4)
    assert p.name == "port"
    assert Port(env, 4, "L2").name == "L2"
    assert (p.free_at, p.busy_cycles) == (0, 0)
