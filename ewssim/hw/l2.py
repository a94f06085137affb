"""L2, the global SRAM: one port to the L1 buffers, an activation share and a weight staging
ring (docs/model-reference.md §4).

* **Port.** ``l2_banks * l2_bank_width_bytes`` bytes per cycle, one transfer at a time
  (:class:`~ewssim.hw.port.Port`): L2 -> L1 fills and L1 -> L2 drains share it.  Data arriving
  from DRAM is written through the DRAM side and does not use it.
* **Activation share** (``l2_act_fraction * l2_bytes``): a layer's output stays here for the
  next layer when both layers' input + output fit; an input that comes from DRAM is staged here
  whole (fetched once, ahead of use) when it fits with the layer's kept output.  Residency is
  decided per layer before the run, so this share never overflows.
* **Weight staging ring** (the rest of L2): weight blocks are fetched from DRAM into it, in
  order, as far ahead as it has room -- also the next layer's, while this one computes -- and
  leave it when their L1 fill ends.  A block waits for room (first in, first out).

The two fetchers into L2 (weights, staged inputs) are DMAs with one read in flight: each issues
its next read when the previous read's transfer ends (reads pipeline: the DRAM latency
overlaps the next transfer), so that the DRAM channel serves the fetchers and the L1 DMAs in
the order they ask, never a whole layer's input ahead of its weights.

**Where a result holds** (:class:`L2Span`): the L2 size enters the model only through
comparisons of a need with one of the two shares (a tensor stays, an input is staged, a pass's
weights are kept, a block finds room in the ring).  Each comparison is recorded with its
outcome; the same results hold for every L2 whose shares give every recorded comparison the
same outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

import simpy

from ewssim.hw.dram import WEIGHT_READ


@dataclass
class L2Span:
    """The L2 shares over which the comparisons recorded so far come out the same: an
    activation share (:attr:`~ewssim.hw.hardware.Hardware.l2_act_bytes`) in
    ``[act_lo, act_hi]`` and a staging share (:attr:`~ewssim.hw.hardware.Hardware.
    l2_stage_bytes`) in ``[stage_lo, stage_hi]`` (``None``: no upper bound)."""

    act_lo: int = 0
    act_hi: int | None = None
    stage_lo: int = 0
    stage_hi: int | None = None

    def act_fits(self, need: int, share: int) -> bool:
        """``need <= share`` for the activation share, recorded."""
        if need <= share:
            self.act_lo = max(self.act_lo, need)
            return True
        self.act_hi = need - 1 if self.act_hi is None else min(self.act_hi, need - 1)
        return False

    def stage_fits(self, need: int, share: int) -> bool:
        """``need <= share`` for the staging share, recorded."""
        if need <= share:
            self.stage_lo = max(self.stage_lo, need)
            return True
        self.stage_hi = need - 1 if self.stage_hi is None else min(self.stage_hi, need - 1)
        return False

    def holds(self, hw) -> bool:
        """Whether hardware ``hw``'s shares give every recorded comparison its outcome."""
        a, s = hw.l2_act_bytes, hw.l2_stage_bytes
        return (self.act_lo <= a and (self.act_hi is None or a <= self.act_hi)
                and self.stage_lo <= s and (self.stage_hi is None or s <= self.stage_hi))

    def meet(self, *others: L2Span) -> L2Span:
        """The shares over which this span and ``others`` all hold."""
        out = L2Span(self.act_lo, self.act_hi, self.stage_lo, self.stage_hi)
        for o in others:
            out.act_lo = max(out.act_lo, o.act_lo)
            out.stage_lo = max(out.stage_lo, o.stage_lo)
            out.act_hi = _lower(out.act_hi, o.act_hi)
            out.stage_hi = _lower(out.stage_hi, o.stage_hi)
        return out


def _lower(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


class Ring:
    """Byte-granular first-in first-out space of ``capacity`` bytes (``span``: what each
    request found, :class:`L2Span`)."""

    def __init__(self, env: simpy.Environment, capacity: int):
        self.env = env
        self.capacity = int(capacity)
        self.used = 0
        self._room = simpy.Event(env)
        self.span = L2Span()

    def alloc(self, nbytes: int):
        """simpy process: wait until ``nbytes`` fit, then take them."""
        while not self.span.stage_fits(self.used + nbytes, self.capacity):
            yield self._room
        self.used += nbytes

    def free(self, nbytes: int) -> None:
        self.used -= nbytes
        room, self._room = self._room, simpy.Event(self.env)
        room.succeed()


def weight_prefetch_process(env, ring: Ring, dram, blocks, in_l2, stages, deps):
    """Fetch weight blocks from DRAM into the staging ring, in order, as room allows.

    ``blocks``: per block ``(piece, layer, from_dram, operand)``: ``piece`` bytes are fetched
    before the block can be filled into L1 (0: its data are already in L2 -- a layer whose
    weights L2 keeps reads them again there; the block is ready in L2 once every earlier piece
    of the layer has arrived).  An *operand* block (a matmul's stationary operand is the
    previous layer's output) first waits for its producer (``deps[layer]``); one not from DRAM
    (that operand kept in L2) needs nothing else."""
    last: dict[int, simpy.Event] = {}
    for ev, st in zip(in_l2, stages, strict=True):
        ev.callbacks.append(lambda _e, st=st: st.__setitem__("in_l2", int(env.now)))
    for b, (piece, layer, from_dram, operand) in enumerate(blocks):
        st = stages[b]
        dep = deps[layer] if operand else None
        if dep is not None and not dep.triggered:
            yield dep
        if not from_dram:
            in_l2[b].succeed()
        elif piece:
            yield from ring.alloc(piece)
            st["ring"] = int(env.now)
            end, arrive = yield from dram.stream(piece, WEIGHT_READ, in_l2[b])
            st.update(dram_end=end, dram_arrive=arrive)
            last[layer] = in_l2[b]
        else:
            prev = last.get(layer)
            if prev is None or prev.processed:
                in_l2[b].succeed()
            else:
                prev.callbacks.append(lambda _e, ev=in_l2[b]: ev.succeed())


def staged_input_process(env, dram, pieces, in_l2, stages, deps):
    """Fetch a staged input into L2 in pieces, in order, one read in flight, from the moment
    the producer's writes are done.  ``pieces``: per activation block ``(bytes, layer)``;
    0 bytes: nothing to fetch (``in_l2[b]`` is then ``None``)."""
    from ewssim.hw.dram import ACT_READ

    for b, (nbytes, layer) in enumerate(pieces):
        if not nbytes:
            continue
        dep = deps[layer]
        if dep is not None and not dep.triggered:
            yield dep
        end, arrive = yield from dram.stream(nbytes, ACT_READ, in_l2[b])
        stages[b].update(piece_end=end, piece_arrive=arrive)
