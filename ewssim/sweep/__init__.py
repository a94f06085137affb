"""Design-space sweeps: a TOML spec of axes, sampling and constraints; points simulated in
parallel (processes or dask.distributed) and written to SQLite as each finishes; Pareto fronts
and heat maps over the results.  Format and examples: docs/sweeps.md."""

from ewssim.sweep.metrics import PRE_SIM_METRICS, available_metrics, pre_sim_metrics
from ewssim.sweep.pareto import pareto_mask
from ewssim.sweep.runner import EXECUTORS, SweepSummary, run_sweep
from ewssim.sweep.spec import Point, SweepSpec, load_spec, parse_spec
from ewssim.sweep.store import dump, export, read_results

__all__ = [
    "EXECUTORS", "PRE_SIM_METRICS", "Point", "SweepSpec", "SweepSummary", "available_metrics",
    "dump", "export", "load_spec", "pareto_mask", "parse_spec", "pre_sim_metrics",
    "read_results", "run_sweep",
]
