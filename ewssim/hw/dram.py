"""DRAM channel: one transfer at a time at ``bytes_per_cycle``, plus a fixed access latency.

A transfer occupies the channel for ``ceil(bytes / bytes_per_cycle)`` cycles.  Read data is
usable ``latency`` cycles after its transfer (requests pipeline in the DRAM: the channel does not
idle for the latency, see ``arrival``).  Reads and writes share the channel.
"""

from __future__ import annotations

import math

import simpy


class DramChannel:
    def __init__(self, env: simpy.Environment, bytes_per_cycle: float, latency: int):
        self.env = env
        self.bytes_per_cycle = bytes_per_cycle
        self.latency = latency
        self.channel = simpy.Resource(env, capacity=1)
        self.busy_cycles = 0

    def transfer(self, nbytes: int):
        """simpy process: move ``nbytes`` over the channel."""
        if nbytes <= 0:
            return
        cycles = math.ceil(nbytes / self.bytes_per_cycle)
        with self.channel.request() as req:
            yield req
            yield self.env.timeout(cycles)
            self.busy_cycles += cycles

    def arrival(self, event: simpy.Event):
        """simpy process: trigger ``event`` once the latency of a finished read has passed."""
        yield self.env.timeout(self.latency)
        event.succeed()
