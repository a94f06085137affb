"""A transfer port: moves one transfer at a time at a fixed width, in a defined order.

Used by the DRAM channel (:mod:`ewssim.hw.dram`) and the L2 port (:mod:`ewssim.hw.l2`).  A
transfer of ``B`` bytes holds the port ``ceil(B / width)`` cycles once it is granted (``width``
in bytes per cycle, an exact rational).  Arbitration (docs/model-reference.md §4): when the
port is free at cycle ``t``, it grants the waiting transfer with the earliest request cycle;
ties go to the lower ``priority`` value, then to the earlier request.  Requests made at ``t``
compete at ``t``: the grant is decided after every other event of cycle ``t``
(:func:`at_end_of_cycle`), so the order in which same-cycle events run cannot change it.
"""

from __future__ import annotations

import heapq
from fractions import Fraction

import simpy

#: simpy event priority that runs after every normal event of the same cycle
_LATE = 2


def at_end_of_cycle(env: simpy.Environment, delay: int, callback) -> None:
    """Call ``callback(event)`` at ``now + delay``, after every normal event of that cycle."""
    ev = simpy.Event(env)
    ev._ok = True          # a pre-triggered event (simpy's own Timeout does the same)
    ev._value = None
    ev.callbacks.append(callback)
    env.schedule(ev, _LATE, delay)


def rational(bytes_per_cycle: float | int | Fraction) -> Fraction:
    """An exact width: a float from a configuration is read as the decimal it was written as."""
    if isinstance(bytes_per_cycle, Fraction):
        return bytes_per_cycle
    return Fraction(str(bytes_per_cycle)) if isinstance(bytes_per_cycle, float) else \
        Fraction(bytes_per_cycle)


class Port:
    """One transfer at a time, ``bytes_per_cycle`` wide, granted in (request cycle, priority,
    sequence) order.  ``transfer`` returns an event that succeeds at the end of the transfer
    with ``(grant, end)``."""

    def __init__(self, env: simpy.Environment, bytes_per_cycle, name: str = "port"):
        self.env = env
        self.name = name
        w = rational(bytes_per_cycle)
        self._num, self._den = w.numerator, w.denominator
        self.free_at = 0
        self._queue: list = []
        self._seq = 0
        self._armed = False
        self.busy_cycles = 0

    def cycles(self, nbytes: int) -> int:
        """Cycles a transfer of ``nbytes`` holds the port."""
        return -(-nbytes * self._den // self._num)

    def transfer(self, nbytes: int, priority: int = 0) -> simpy.Event:
        done = simpy.Event(self.env)
        heapq.heappush(self._queue, (int(self.env.now), priority, self._seq, int(nbytes), done))
        self._seq += 1
        self._arm()
        return done

    def _arm(self) -> None:
        if not self._armed and self._queue:
            self._armed = True
            at_end_of_cycle(self.env, max(0, self.free_at - int(self.env.now)), self._grant)

    def _grant(self, _event) -> None:
        self._armed = False
        now = int(self.env.now)
        _, _, _, nbytes, done = heapq.heappop(self._queue)
        end = now + self.cycles(nbytes)
        self.free_at = end
        self.busy_cycles += end - now
        # the transfer's own event fires at its end (as simpy's Timeout does: pre-triggered
        # and scheduled), not through a timeout whose callback triggers it
        done._ok = True
        done._value = (now, end)
        self.env.schedule(done, simpy.events.NORMAL, end - now)
        self._arm()


def succeed_at(ev: simpy.Event, when: int) -> None:
    """Make the pending event ``ev`` succeed at cycle ``when`` (now, if that has passed): one
    scheduled event, as simpy's own ``Timeout`` is, not a timeout that then triggers it.  Its
    ``processed`` says whether it has happened (``triggered`` is true from now on)."""
    env = ev.env
    delay = when - int(env.now)
    if delay <= 0:
        ev.succeed()
        return
    ev._ok = True
    ev._value = None
    env.schedule(ev, simpy.events.NORMAL, delay)
