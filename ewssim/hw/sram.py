"""A memory port: moves bytes at a fixed width, one transfer at a time (the L2 port:
``banks * bank_width`` bytes per cycle; the DRAM channel builds on it)."""

from __future__ import annotations

import math

import simpy


class Port:
    def __init__(self, env: simpy.Environment, bytes_per_cycle: float):
        self.env = env
        self.bytes_per_cycle = bytes_per_cycle
        self.port = simpy.Resource(env, capacity=1)

    def transfer(self, nbytes: int):
        """simpy process: hold the port ``ceil(nbytes / bytes_per_cycle)`` cycles."""
        if nbytes <= 0:
            return
        cycles = math.ceil(nbytes / self.bytes_per_cycle)
        with self.port.request() as req:
            yield req
            yield self.env.timeout(cycles)


#: the L2 (global SRAM) port
SramPort = Port
