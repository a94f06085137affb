"""The Python face of ewssim: what the CLI calls and what users script against.

``simulate(arch, workload)`` -> :class:`RunResult` with a per-layer DataFrame and totals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ewssim import config as _config
from ewssim.config import ArchConfig
from ewssim.engine.sim import LayerResult, Progress
from ewssim.engine.sim import simulate as _simulate
from ewssim.workload import load_network
from ewssim.workload.layers import Network

#: per-layer and total columns, in order; the unit is in every name (utilization is a fraction)
TRAFFIC_COLUMNS = [
    "dram_read_bytes", "dram_write_bytes", "dram_act_read_bytes", "dram_weight_read_bytes",
    "dram_out_write_bytes",
    "l2_read_bytes", "l2_write_bytes", "l2_act_read_bytes", "l2_weight_read_bytes",
    "l2_psum_read_bytes", "l2_out_write_bytes",
    "l1_act_read_bytes", "l1_weight_read_bytes", "l1_psum_read_bytes", "l1_out_write_bytes",
]
CYCLE_COLUMNS = ["compute_cycles", "stall_cycles", "total_cycles", "macs", "utilization"]


def resolve_arch(arch: str | ArchConfig, array: str | tuple[int, int] | None = None) -> ArchConfig:
    a = arch if isinstance(arch, ArchConfig) else _config.load(arch)
    if array is not None:
        rows, cols = _config.parse_array(array) if isinstance(array, str) else array
        a = _config.validate(a.with_array(rows, cols), source="--array")
    return a


def resolve_workload(workload: str | Network) -> Network:
    return workload if isinstance(workload, Network) else load_network(workload)


def _row(r: LayerResult, arch: ArchConfig) -> dict:
    layer = r.mapping.layer
    t = r.traffic
    pes = arch.array.rows * arch.array.cols
    g = layer.gemm
    row = {
        "layer": layer.name, "type": layer.kind, "M": g.m, "Kr": g.kr, "N": g.n,
        "compute_cycles": r.compute_cycles, "stall_cycles": r.stall_cycles,
        "total_cycles": r.total_cycles, "macs": layer.macs,
        "utilization": layer.macs / (r.total_cycles * pes) if r.total_cycles else 0.0,
        "tiles": len(r.mapping.schedule),
        "weight_load_cycles": int(r.mapping.schedule.load_cycles.sum()),
    }
    row["dram_read_bytes"] = t.dram_act_read_bytes + t.dram_weight_read_bytes
    row["dram_write_bytes"] = t.dram_out_write_bytes
    row["l2_read_bytes"] = t.l2_act_read_bytes + t.l2_weight_read_bytes + t.l2_psum_read_bytes
    row["l2_write_bytes"] = t.l2_out_write_bytes + t.dram_act_read_bytes + \
        t.dram_weight_read_bytes
    row.update(t.as_dict())
    row["notes"] = "; ".join(r.notes)
    return row


@dataclass
class RunResult:
    arch: ArchConfig
    network: Network
    layers: pd.DataFrame

    @property
    def totals(self) -> dict:
        df = self.layers
        tot: dict = {"arch": self.arch.name, "workload": self.network.name,
                     "array": f"{self.arch.array.rows}x{self.arch.array.cols}",
                     "layers": len(df)}
        for c in ["compute_cycles", "stall_cycles", "total_cycles", "macs", *TRAFFIC_COLUMNS]:
            tot[c] = int(df[c].sum())
        pes = self.arch.array.rows * self.arch.array.cols
        tot["utilization"] = tot["macs"] / (tot["total_cycles"] * pes) if tot["total_cycles"] \
            else 0.0
        tot["runtime_ms"] = tot["total_cycles"] / (self.arch.clock_mhz * 1e3)
        return tot

    def write(self, out: str | Path) -> Path:
        """``layers.csv`` and ``summary.json`` into ``out`` (each written to a temp name first)."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / ".layers.csv.tmp"
        self.layers.to_csv(tmp, index=False)
        tmp.replace(out / "layers.csv")
        tmp = out / ".summary.json.tmp"
        tmp.write_text(json.dumps({"totals": self.totals,
                                   "arch_toml": _config.to_toml(self.arch, comments=False)},
                                  indent=1) + "\n")
        tmp.replace(out / "summary.json")
        return out


def simulate(arch: str | ArchConfig, workload: str | Network, *,
             array: str | tuple[int, int] | None = None,
             progress: Progress | None = None) -> RunResult:
    a = resolve_arch(arch, array)
    net = resolve_workload(workload)
    results = _simulate(net, a, progress=progress)
    df = pd.DataFrame([_row(r, a) for r in results])
    return RunResult(arch=a, network=net, layers=df)
