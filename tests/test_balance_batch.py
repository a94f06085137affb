"""scripts/balance_batch.py: the speed-up surface behaves as the report reads it, on ResNet-18 at
two bandwidths and two batches (8 runs, a few seconds)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "balance_batch.py"


@pytest.fixture(scope="module")
def bb():
    if not SCRIPT.is_file():
        pytest.skip("scripts/ not available")
    spec = importlib.util.spec_from_file_location("balance_batch", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def runs(bb):
    return bb.measure("resnet18", bandwidths=(1, 64), batches=(1, 2), designs=("ews", "ssvq"))


def test_speedup_falls_with_bandwidth(bb, runs):
    # measured: 2.97x at 1 B/cycle, 1.00x at 64 B/cycle (batch 1)
    low, high = bb.speedup(runs, "ssvq", 1, 1), bb.speedup(runs, "ssvq", 64, 1)
    assert low > high
    assert low > 2.5
    assert 0.95 < high < 1.05


def test_batch_does_not_raise_speedup_when_dram_bound(bb, runs):
    # measured: 2.97x at batch 1, 2.28x at batch 2 (1 B/cycle)
    assert bb.speedup(runs, "ssvq", 1, 2) <= bb.speedup(runs, "ssvq", 1, 1)


def test_int8_baseline_is_dram_bandwidth_bound_only_at_low_bandwidth(bb, runs):
    low, high = runs[("ews", 1, 1)], runs[("ews", 64, 1)]
    c = bb.causes(low)
    assert max(c, key=c.get) == "dram_bandwidth"
    assert c["dram_bandwidth"] / low["total_cycles"] > 0.9  # measured 0.93
    assert bb.causes(high)["dram_bandwidth"] / high["total_cycles"] < 0.05  # measured 0.004
    assert sum(c.values()) == low["stall_cycles"]


def test_ssvq_weight_bytes_do_not_grow_with_batch(bb, runs):
    # SSVQ's compressed ResNet-18 is read from DRAM once whatever the batch; INT8's weights
    # are re-read when the batch's activations take the L2 (measured 11.7 MB -> 18.8 MB)
    s1, s2 = runs[("ssvq", 1, 1)], runs[("ssvq", 1, 2)]
    e1, e2 = runs[("ews", 1, 1)], runs[("ews", 1, 2)]
    assert s1["dram_weight_read_bytes"] == s2["dram_weight_read_bytes"]
    assert e2["dram_weight_read_bytes"] > e1["dram_weight_read_bytes"]
    assert e1["dram_weight_read_bytes"] > 4 * s1["dram_weight_read_bytes"]


def test_crossing_and_cells(bb):
    fake = {(d, bw, 1): {"total_cycles": c, "energy_pJ": 1.0}
            for bw, c in ((1, 1.0), (2, 1.0), (4, 1.0)) for d in ("ssvq",)}
    for bw, c in ((1, 4.0), (2, 2.0), (4, 1.0)):
        fake[("ews", bw, 1)] = {"total_cycles": c, "energy_pJ": 1.0}
    # 4x at 1, 2x at 2: 3x crossed half way in log2 bandwidth
    assert bb.crossing(fake, "ssvq", 1, [1, 2, 4], 3.0) == pytest.approx(math.sqrt(2))
    assert bb.crossing(fake, "ssvq", 1, [1, 2, 4], 0.5) == math.inf
    assert bb.crossing(fake, "ssvq", 1, [1, 2, 4], 5.0) == 0.0
    assert bb.ratio_cell(3.0, 3.0, True) == "**3.00×** †"
    assert bb.ratio_cell(2.99, 3.0, False) == "2.99×"
