"""The DRAM channel: one port shared by reads and writes, with bursts and a read latency.

A transfer moves whole bursts (``memory.dram_burst_bytes``): ``B`` bytes cost
``ceil(B / burst) * burst`` bytes on the channel, counted as DRAM traffic.  It holds the channel
``ceil(bytes / dram_bytes_per_cycle)`` cycles once granted (:class:`~ewssim.hw.port.Port`
arbitration).  Read data is usable ``dram_latency_cycles`` after its transfer ends (requests
pipeline: the channel does not idle for the latency); a write completes when its transfer ends.
"""

from __future__ import annotations

import simpy

from ewssim.hw.port import Port, succeed_at

#: arbitration priorities on the channel (lower first among same-cycle requests)
WRITE, ACT_READ, WEIGHT_READ = 0, 1, 2


class DramChannel(Port):
    def __init__(self, env: simpy.Environment, bytes_per_cycle, latency: int, burst: int):
        super().__init__(env, bytes_per_cycle, "DRAM")
        self.latency = int(latency)
        self.burst = int(burst)
        self.read_bytes = 0
        self.write_bytes = 0

    def burst_bytes(self, nbytes: int) -> int:
        """Bytes the channel moves for ``nbytes`` of data: whole bursts."""
        return -(-int(nbytes) // self.burst) * self.burst

    def read(self, nbytes: int, priority: int):
        """simpy process: one read; returns ``(request, grant, end, arrival)``."""
        req = int(self.env.now)
        moved = self.burst_bytes(nbytes)
        self.read_bytes += moved
        grant, end = yield self.transfer(moved, priority)
        if self.latency:
            yield self.env.timeout(self.latency)
        return req, grant, end, end + self.latency

    def stream(self, nbytes: int, priority: int, arrived: simpy.Event):
        """simpy process for a DMA that keeps one read in flight: returns ``(end, arrival)``
        when the read's transfer ends (the DMA may then issue its next read) and succeeds
        ``arrived`` when the data arrive, ``latency`` cycles later (``arrived.processed``
        says whether they have)."""
        moved = self.burst_bytes(nbytes)
        self.read_bytes += moved
        _grant, end = yield self.transfer(moved, priority)
        succeed_at(arrived, end + self.latency)
        return end, end + self.latency

    def write(self, nbytes: int):
        """simpy process: one write; returns ``(request, grant, end)``."""
        req = int(self.env.now)
        moved = self.burst_bytes(nbytes)
        self.write_bytes += moved
        grant, end = yield self.transfer(moved, WRITE)
        return req, grant, end
