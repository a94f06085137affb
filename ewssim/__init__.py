"""ewssim: cycle-accurate simulator of EWS / MVQ DNN accelerators.

Data flows one way through the sub-packages:
workload -> compress -> (mapping in) dataflow -> engine + hw -> energy/area -> report.

What a notebook needs is here (docs/api.md)::

    import ewssim
    arch = ewssim.preset("mvq").replace("memory.dram_bytes_per_cycle", 8)
    run = ewssim.simulate(arch, "resnet18")
    run.layers            # one row per layer (pandas), units in ewssim.COLUMN_UNITS
    run.totals            # dict of network totals
"""

__version__ = "0.1.0"

from ewssim.api import (  # noqa: E402
    COLUMN_UNITS,
    Reuse,
    RunResult,
    compress,
    load_arch,
    load_workload,
    preset,
    simulate,
    stall_causes,
)
from ewssim.compare import compare  # noqa: E402
from ewssim.config import ArchConfig, preset_names  # noqa: E402
from ewssim.dataflow import resolve  # noqa: E402
from ewssim.errors import EwssimError, InputError  # noqa: E402
from ewssim.sweep import run_sweep as sweep  # noqa: E402

__all__ = [
    "COLUMN_UNITS", "ArchConfig", "EwssimError", "InputError", "Reuse", "RunResult",
    "__version__",
    "compare", "compress", "load_arch", "load_workload", "preset", "preset_names", "resolve",
    "simulate", "stall_causes", "sweep",
]
