"""An SRAM port (L2): ``banks * bank_width`` bytes per cycle, one transfer at a time."""

from __future__ import annotations

import math

import simpy


class SramPort:
    def __init__(self, env: simpy.Environment, bytes_per_cycle: int):
        self.env = env
        self.bytes_per_cycle = bytes_per_cycle
        self.port = simpy.Resource(env, capacity=1)
        self.busy_cycles = 0

    def transfer(self, nbytes: int):
        if nbytes <= 0:
            return
        cycles = math.ceil(nbytes / self.bytes_per_cycle)
        with self.port.request() as req:
            yield req
            yield self.env.timeout(cycles)
            self.busy_cycles += cycles
