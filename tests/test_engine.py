"""The event engine: totals, memory effects, CLI outputs."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from ewssim import api, config
from ewssim.cli import main
from ewssim.workload.layers import Layer, Network


def _arch(preset="ews", **mem):
    a = config.PRESETS[preset]
    return config.validate(dataclasses.replace(a, memory=dataclasses.replace(a.memory, **mem)))


def test_totals_are_sums_of_layers():
    r = api.simulate("ews", "tiny", array="8x8")
    tot = r.totals
    for c in ["compute_cycles", "stall_cycles", "total_cycles", "macs", *api.TRAFFIC_COLUMNS]:
        assert tot[c] == int(r.layers[c].sum()), c
    assert (r.layers.total_cycles == r.layers.compute_cycles + r.layers.stall_cycles).all()
    assert tot["macs"] == 174240


def test_memory_that_never_binds_costs_only_the_pipeline_ends():
    """Through the memory model (not the ideal shortcut), memories far faster and larger than
    the array needs leave each layer only its first block's fill and its last results' drain
    to the next level: a few cycles, never more than its ideal-memory time by more than the
    transfers a layer cannot overlap (first weight + first input block in, last output out:
    three one-cycle transfers and the DRAM latency of 0)."""
    fast = dict(dram_bytes_per_cycle=1 << 20, dram_latency_cycles=0, l2_bytes=1 << 30,
                l2_banks=16, l2_bank_width_bytes=1 << 16, l1_act_bytes=1 << 24,
                l1_weight_bytes=1 << 24, l1_out_bytes=1 << 24)
    real = api.simulate(_arch(**fast), "tiny", array="8x8").layers
    ideal = api.simulate(_arch(ideal=True, **fast), "tiny", array="8x8").layers
    assert (ideal.stall_cycles == 0).all()
    extra = (real.total_cycles - ideal.total_cycles).tolist()
    assert all(0 <= e <= 3 for e in extra), extra
    # every extra cycle is a stall with a memory cause; the compute part is the ideal time
    assert real.stall_cycles.tolist() == extra and sum(extra) > 0
    assert (real.compute_cycles == ideal.total_cycles).all()


def test_less_dram_bandwidth_more_stalls():
    fast = api.simulate(_arch(dram_bytes_per_cycle=64.0), "resnet18").totals
    slow = api.simulate(_arch(dram_bytes_per_cycle=4.0), "resnet18").totals
    # (the mapper may pick another loop order when DRAM is slower, so compute may differ)
    assert slow["stall_cycles"] > fast["stall_cycles"]
    assert slow["total_cycles"] > fast["total_cycles"]
    # 4 B/cycle: the DRAM channel alone needs (reads + writes) / 4 cycles
    assert slow["total_cycles"] >= (slow["dram_read_bytes"] + slow["dram_write_bytes"]) / 4


def test_smaller_l2_more_dram_traffic():
    big = api.simulate(_arch(l2_bytes=4 << 20), "vgg16").totals
    small = api.simulate(_arch(l2_bytes=256 << 10), "vgg16").totals
    assert small["dram_read_bytes"] > big["dram_read_bytes"]


def test_smaller_l1_more_l2_traffic():
    big = api.simulate(_arch(l1_act_bytes=512 << 10), "resnet18").totals
    small = api.simulate(_arch(l1_act_bytes=16 << 10), "resnet18").totals
    assert small["l2_act_read_bytes"] > big["l2_act_read_bytes"]


def test_ews_faster_than_ws_on_resnet18():
    ws = api.simulate("ws", "resnet18", array="32x32").totals
    ews = api.simulate("ews", "resnet18", array="32x32").totals
    assert ews["compute_cycles"] < ws["compute_cycles"]
    assert ews["l1_act_read_bytes"] < ws["l1_act_read_bytes"]


def test_single_fc_layer_exact_ws_cycles():
    # one fold: load 4 lines, stream 1 pixel, drain L + used_cols - 2
    net = Network("one", (Layer("fc", "linear", 1, 1, 4, 4),))
    r = api.simulate(_arch("ws", ideal=True), net, array="4x4")
    assert r.totals["compute_cycles"] == 4 + 1 + 4 + 4 - 2


def test_run_writes_layers_csv_and_summary(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--arch", "ews", "--workload", "tiny", "--out", str(out), "--json"]) == 0
    tot = json.loads(capsys.readouterr().out)
    for key in ["compute_cycles", "stall_cycles", "total_cycles", "macs", "utilization",
                "dram_read_bytes", "l2_read_bytes", "l1_act_read_bytes"]:
        assert key in tot
    df = pd.read_csv(out / "layers.csv")
    assert df.columns[0] == "layer" and len(df) == 6
    totals_only = {"arch", "workload", "array", "layers", "runtime_ms", "vector_nodes",
                   "vector_cycles", "residual_bytes", "residual_dram_bytes"}
    assert set(tot) - totals_only <= set(df.columns)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["totals"]["total_cycles"] == tot["total_cycles"] == df.total_cycles.sum()


@pytest.mark.parametrize("argv", [
    ["run", "--arch", "nope", "--workload", "tiny"],
    ["run", "--arch", "ews", "--workload", "nope"],
    ["run", "--arch", "ews", "--workload", "tiny", "--array", "0x3"],
])
def test_run_bad_input_exit_2(capsys, argv):
    assert main(argv) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
