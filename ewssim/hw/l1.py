"""The L1 buffers (activations, weights, outputs) next to the array and their DMA processes.

Each buffer is ``halves`` slots of ``bytes / halves`` (two when ``memory.l1_double_buffer``,
one otherwise).  Its blocks (:mod:`ewssim.dataflow.blocks`) use the slots in turn: block ``b``
goes into slot ``b mod halves`` and may be written once block ``b - halves`` has been released.
One DMA per buffer moves its blocks in order, one at a time:

* **fill** (activations, weights): waits for the block's data to be in L2 (or, for an input
  streamed from DRAM, reads it from DRAM itself once the slot is free: cut-through), for the
  slot, then moves it over the L2 port; the block is *ready* when that transfer ends.  The array
  releases an activation block when the last tile using it has read its last activation; the
  weight path releases a weight block when its last action has read its last bytes.
* **drain** (outputs): once the block's last tile has delivered its last result, moves the
  finished outputs over the L2 port to L2 and, when they are not kept on chip, on to DRAM
  (cut-through); the slot is free when the last of those transfers ends.

The cycles a block passes its steps are recorded per block (``stages``: ``slot`` -- the DMA
takes it on, ``dram_end`` / ``dram_arrive`` of a streamed read, ``port_grant`` / ``port_end``,
``complete`` for outputs), so that a stall of the array can be attributed to what the block was
waiting for (docs/model-reference.md §4).
"""

from __future__ import annotations

import simpy

from ewssim.hw.port import succeed_at

#: L2 port priorities among same-cycle requests (lower first)
DRAIN, ACT_FILL, WEIGHT_FILL = 0, 1, 2


class L1Buffer:
    """Slot bookkeeping of one L1 buffer over a network's blocks (``n`` in all).

    ``ready_at[b]`` is the cycle block ``b``'s fill ended (-1: not yet) and ``released_at[b]``
    the cycle its slot was freed (-1: not yet).  A process that must wait for either asks for
    an event (:meth:`ready_event`, :meth:`slot_free_event`); events are made only for the
    waits that happen, not for every block."""

    def __init__(self, env: simpy.Environment, name: str, halves: int, n: int):
        self.env = env
        self.name = name
        self.halves = halves
        self.ready_at = [-1] * n
        self.released_at = [-1] * n
        self._on_ready: dict[int, simpy.Event] = {}
        self._on_release: dict[int, simpy.Event] = {}
        #: per block: stage name -> cycle (docs: stall attribution)
        self.stages: list[dict[str, int]] = [{} for _ in range(n)]

    def ready_event(self, b: int) -> simpy.Event:
        """An event that succeeds when block ``b``'s fill ends (pending until then)."""
        ev = self._on_ready.get(b)
        if ev is None:
            ev = self._on_ready[b] = simpy.Event(self.env)
            if self.ready_at[b] >= 0:
                ev.succeed()
        return ev

    def slot_is_free(self, b: int) -> bool:
        """Block ``b`` may be written now: its slot's previous block has been released."""
        if b < self.halves:
            return True
        r = self.released_at[b - self.halves]
        return 0 <= r <= self.env.now

    def slot_free_event(self, b: int) -> simpy.Event:
        """An event that succeeds when block ``b``'s slot is free."""
        p = b - self.halves
        ev = self._on_release.get(p)
        if ev is None:
            ev = self._on_release[p] = simpy.Event(self.env)
            if p < 0:
                ev.succeed()
            elif self.released_at[p] >= 0:
                succeed_at(ev, self.released_at[p])
        return ev

    def mark_ready(self, b: int) -> None:
        self.ready_at[b] = int(self.env.now)
        ev = self._on_ready.get(b)
        if ev is not None:
            ev.succeed()

    def release(self, b: int, when: int) -> None:
        """Free block ``b``'s slot at cycle ``when`` (>= now).  The cycle is known from now
        on (``released_at``); the slot counts as free from ``when``."""
        self.released_at[b] = when
        ev = self._on_release.get(b)
        if ev is not None:
            succeed_at(ev, when)


def fill_process(env, buf: L1Buffer, blocks, l2_port, dram, *, in_l2, deps, priority,
                 dram_priority):
    """DMA of an activation or weight buffer.  ``blocks``: per block ``(bytes, src,
    layer)`` with ``src`` "l2" (data in L2 when ``in_l2[b]`` triggers) or "stream" (read from
    DRAM, cut-through, once the slot is free); ``deps[layer]``: the producer's writes."""
    for b, (nbytes, src, layer) in enumerate(blocks):
        st = buf.stages[b]
        dep = deps[layer]
        if dep is not None and not dep.triggered:
            yield dep
        if in_l2[b] is not None and not in_l2[b].processed:
            yield in_l2[b]
        if not buf.slot_is_free(b):
            yield buf.slot_free_event(b)
        st["slot"] = int(env.now)
        if src == "stream":
            req, grant, end, arrive = yield from dram.read(nbytes, dram_priority)
            st.update(dram_req=req, dram_grant=grant, dram_end=end, dram_arrive=arrive)
        st["port_req"] = int(env.now)
        grant, end = yield l2_port.transfer(nbytes, priority)
        st.update(port_grant=grant, port_end=end)
        buf.mark_ready(b)


def drain_process(env, buf: L1Buffer, blocks, l2_port, dram, *, complete, layer_done):
    """DMA of the output buffer.  ``blocks``: per block ``(bytes, dest, layer, last_of_layer)``;
    ``complete[b]``: the block's last result left the array; ``layer_done[layer]`` succeeds
    when the layer's last block has reached its destination."""
    for b, (nbytes, dest, layer, last) in enumerate(blocks):
        st = buf.stages[b]
        if not complete[b].processed:
            yield complete[b]
        st["complete"] = int(env.now)
        grant, end = yield l2_port.transfer(nbytes, DRAIN)
        st.update(port_grant=grant, port_end=end)
        if dest == "dram":
            req, grant, end = yield from dram.write(nbytes)
            st.update(dram_req=req, dram_grant=grant, dram_end=end)
        buf.release(b, int(env.now))
        if last:
            layer_done[layer].succeed()
