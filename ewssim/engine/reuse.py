"""Plans and runs kept between simulations that differ only in the L2 size (a sweep's L2 axis),
and tilings kept while only the L2 size and the DRAM channel change.

The L2 size enters the model only through comparisons of a need with one of its two shares
(:class:`~ewssim.hw.l2.L2Span`): a staged input, a pass whose weights stay in the staging ring,
a block that finds room in the ring.  A layer's plan -- the mapping the engine chose by
building and running its candidates (:func:`ewssim.engine.sim.plan_layer`) -- holds over the
span of everything it built and ran; a segment's run over the span of its staging ring's
requests.  :class:`Reuse` keeps both for one hardware, but for its L2 size, and gives them to a
later simulation whose shares lie in their span: what that simulation would have computed
(``tests/test_reuse.py`` compares them on random layers and memories, and on whole networks).

Tensor residency (:mod:`ewssim.engine.lifetimes`) is decided again by every simulation (it is
cheap); a layer's :class:`~ewssim.dataflow.base.LayerContext` is part of its plan's key.
"""

from __future__ import annotations

import dataclasses

from ewssim.dataflow.base import Mapping
from ewssim.hw.hardware import Hardware
from ewssim.hw.l2 import L2Span

#: the configuration fields whose values only reach the model through the two L2 shares
L2_FIELDS = ("memory.l2_bytes", "memory.l2_act_fraction")
#: the DRAM channel's fields: they time transfers, but neither tile a layer nor cut its
#: L1 blocks (the burst size enters the blocks' traffic, which is not kept)
DRAM_FIELDS = ("memory.dram_bytes_per_cycle", "memory.dram_latency_cycles",
               "memory.dram_burst_bytes")


def _apart_from(hw: Hardware, fields: tuple[str, ...]) -> tuple:
    names = {f.split(".")[1] for f in fields}
    mem = hw.memory
    return (tuple((f.name, getattr(hw, f.name)) for f in dataclasses.fields(hw)
                  if f.name != "memory"),
            tuple((f.name, getattr(mem, f.name)) for f in dataclasses.fields(mem)
                  if f.name not in names))


class Reuse:
    """What :func:`ewssim.engine.sim.simulate` (``reuse=``) keeps for its next calls: layer
    plans by their key, segment runs by their plans, each with the L2 shares it holds for.
    Bound to one hardware apart from its L2 size and one dataflow: a simulation on other
    hardware empties it -- but for the tile schedules, their cycles and the L1 blocks' parts
    that the L2 size does not change, which are kept while only the DRAM channel
    (:data:`DRAM_FIELDS`) changes.  ``stats`` counts what was computed and what was reused."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._tiling_key: tuple | None = None
        self._plans: dict = {}            # plan key -> [Mapping]
        self._runs: dict = {}             # ids of a segment's plans -> [(plans, L2Span, rows)]
        #: tile schedules (the dataflow's ``candidates(schedules=)``) and their closed-form
        #: cycles by the schedule's id: neither depends on the L2 size (nor on where a
        #: layer's activations live), so a layer planned again at another L2 size, or with
        #: other activation residency, tiles as before
        self.schedules: dict = {}
        self.cycles: dict[int, int] = {}
        #: per schedule, what of a candidate's L1 blocks the L2 size does not change
        #: (:func:`ewssim.dataflow.blocks.layer_blocks`' ``kept``)
        self.blocks: dict = {}
        self.stats = {"plans": 0, "plans_reused": 0, "runs": 0, "runs_reused": 0}

    def bind(self, hw: Hardware, flow) -> None:
        key = (type(flow), _apart_from(hw, L2_FIELDS))
        if key != self._key:
            self._key = key
            self._plans.clear()
            self._runs.clear()
        tiling = (type(flow), _apart_from(hw, L2_FIELDS + DRAM_FIELDS))
        if tiling != self._tiling_key:
            self._tiling_key = tiling
            self.schedules.clear()
            self.cycles.clear()
            self.blocks.clear()

    def plan(self, key, hw: Hardware) -> Mapping | None:
        """A kept plan for ``key`` that holds for ``hw``'s L2 shares (the kept object)."""
        for m in self._plans.get(key, ()):
            if m.l2_span.holds(hw):
                self.stats["plans_reused"] += 1
                return m
        return None

    def keep_plan(self, key, m: Mapping) -> None:
        self.stats["plans"] += 1
        self._plans.setdefault(key, []).append(m)

    def run(self, plans: tuple[Mapping, ...], hw: Hardware) -> list | None:
        """The kept run of a segment of these (kept) plans that holds for ``hw``."""
        for _, span, rows in self._runs.get(tuple(map(id, plans)), ()):
            if span.holds(hw):
                self.stats["runs_reused"] += 1
                return rows
        return None

    def keep_run(self, plans: tuple[Mapping, ...], rows: list, span: L2Span) -> None:
        self.stats["runs"] += 1
        self._runs.setdefault(tuple(map(id, plans)), []).append((plans, span, rows))


def on(m: Mapping, hw: Hardware, layer) -> Mapping:
    """A kept plan as the simulation on ``hw`` would have made it for ``layer`` (identical to
    the plan's but perhaps for its name)."""
    lhw = m.lhw if m.lhw is None else dataclasses.replace(m.lhw, hw=hw)
    return dataclasses.replace(m, layer=layer, lhw=lhw, notes=list(m.notes))
