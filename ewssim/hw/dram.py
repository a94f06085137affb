"""DRAM channel: a port of ``bytes_per_cycle`` plus a fixed access latency.

A transfer occupies the channel for ``ceil(bytes / bytes_per_cycle)`` cycles.  Read data is
usable ``latency`` cycles after its transfer (requests pipeline in the DRAM: the channel does not
idle for the latency, see ``arrival``).  Reads and writes share the channel.
"""

from __future__ import annotations

import simpy

from ewssim.hw.sram import Port


class DramChannel(Port):
    def __init__(self, env: simpy.Environment, bytes_per_cycle: float, latency: int):
        super().__init__(env, bytes_per_cycle)
        self.latency = latency

    def arrival(self, event: simpy.Event):
        """simpy process: trigger ``event`` once the latency of a finished read has passed."""
        yield self.env.timeout(self.latency)
        event.succeed()
