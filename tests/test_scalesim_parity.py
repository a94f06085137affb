"""`scalesim-ws` equals SCALE-Sim v3's own COMPUTE_REPORT `Total Cycles`, layer by layer.

The truth was produced by running scalesim==3.0.0 (numpy 1.26.4) itself, see
tests/data/scalesim_v3/README.md; nothing here re-derives it from a formula.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ewssim import api, config
from ewssim.workload import parse_topology_text

DATA = Path(__file__).parent / "data" / "scalesim_v3"
CASES = json.loads((DATA / "cases.json").read_text())


def _runs():
    for case in CASES["cases"]:
        cfg = case["config"]
        if cfg["dataflow"] != "ws" or cfg["interface_bandwidth"] != "CALC":
            continue
        yield pytest.param(case, id=case["id"])


def _arch(rows, cols):
    return config.validate(config.PRESETS["scalesim-ws"].with_array(rows, cols))


@pytest.mark.parametrize("case", list(_runs()))
def test_total_cycles_equal_scalesim(case):
    cfg = case["config"]
    text = case["topology_header"] + "\n" + "\n".join(case["topology_rows"]) + "\n"
    net = parse_topology_text(text, source=case["id"] + ".csv")
    got = api.simulate(_arch(cfg["array_rows"], cfg["array_cols"]), net).layers
    want = {la["name"]: la["compute_report"] for la in case["layers"]}
    # SCALE-Sim splits a depthwise ("DP") layer into one report row per channel
    for layer, cycles, stalls in zip(got.layer, got.total_cycles, got.stall_cycles,
                                     strict=True):
        parts = [v for k, v in want.items() if k == layer or k.startswith(layer + "Channel_")]
        assert parts, layer
        assert cycles == sum(p["Total Cycles"] for p in parts), layer
        # its own stall count, as it reported it (CALC mode sizes bandwidth to never stall)
        assert stalls == sum(p["Stall Cycles"] for p in parts), layer


def test_peer_resnet50_32x32_all_54_layers():
    peer = CASES["peer_resnet50"]
    net = api.resolve_workload(str(DATA / "mlperf_Resnet50.csv"))
    got = api.simulate(_arch(32, 32), net).layers
    want = [la["total_cycles"] for la in peer["layers"]]
    assert len(got) == len(want) == 54
    assert got.total_cycles.tolist() == want
    assert int(got.total_cycles.sum()) == 5_753_486
