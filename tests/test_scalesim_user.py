"""SCALE-Sim's memory model (``ewssim.hw.scalesim_mem``) equals SCALE-Sim v3 itself.

Every recorded run of tests/data/scalesim_v3 (produced by running scalesim==3.0.0, see the
README there) is rebuilt the way a user would give it to ewssim: its ``.cfg`` text through
``load_scalesim_cfg`` and its topology rows through ewssim's topology parser.  Then, layer by
layer, exactly:

* USER runs (user_cases.json and the USER runs of cases.json): COMPUTE_REPORT "Total Cycles",
  "Stall Cycles", "Total Cycles (incl. prefetch)" and all 18 DETAILED_ACCESS_REPORT columns;
* CALC runs (cases.json): the same columns (stalls 0).

A depthwise (``DP``) row is one ewssim layer and one report row per channel in SCALE-Sim.
Also: layers SCALE-Sim cannot run are refused naming the field, and ewssim layers that are the
same SCALE-Sim layer (a linear layer and a GEMM row, a grouped layer and its groups) give the
same result.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from ewssim.config import ScaleSimConfig
from ewssim.config.scalesim_cfg import load_scalesim_cfg
from ewssim.errors import InputError
from ewssim.hw import scalesim_mem
from ewssim.hw.scalesim_mem import scalesim_layer
from ewssim.workload import parse_topology_text
from ewssim.workload.layers import Layer

DATA = Path(__file__).parent / "data" / "scalesim_v3"
DOCS = {name: json.loads((DATA / name).read_text()) for name in ("cases.json",
                                                                 "user_cases.json")}


def _runs(interface: str):
    return [pytest.param(case, id=f"{name}:{case['id']}")
            for name, doc in DOCS.items() for case in doc["cases"]
            if case["config"]["interface_bandwidth"] == interface and "error" not in case]


USER_RUNS, CALC_RUNS = _runs("USER"), _runs("CALC")


def _layers(case: dict):
    """The run's layers through ewssim's topology parser, one row at a time (a run may repeat
    a layer name, which SCALE-Sim allows and an ewssim topology does not)."""
    for i, row in enumerate(case["topology_rows"]):
        text = case["topology_header"] + "\n" + row + "\n"
        (layer,) = parse_topology_text(text, source=f"{case['id']}.csv row {i + 1}").layers
        yield layer


def _check_run(case: dict, tmp_path: Path, interface: str) -> None:
    cfg = tmp_path / f"{case['id']}.cfg"
    cfg.write_text(case["cfg_text"])
    arch = load_scalesim_cfg(cfg)
    assert arch.scalesim.interface == interface
    assert (arch.array.rows, arch.array.cols) == (case["config"]["array_rows"],
                                                  case["config"]["array_cols"])
    recorded = iter(case["layers"])
    for layer in _layers(case):
        res = scalesim_layer(layer, arch.array.rows, arch.array.cols, arch.scalesim)
        assert res.interface == interface
        # SCALE-Sim writes one report row per run: per channel for a depthwise (DP) row
        rows = [next(recorded) for _ in range(res.runs)]
        names = [layer.name] if res.runs == 1 else [f"{layer.name}Channel_{i}"
                                                    for i in range(res.runs)]
        assert [r["name"] for r in rows] == names
        got = {"Total Cycles": res.row_total_cycles, "Stall Cycles": res.row_stall_cycles,
               "Total Cycles (incl. prefetch)": res.total_cycles_incl_prefetch,
               **res.access.as_report()}
        for rec in rows:
            want = {**rec["compute_report"], **rec["detailed_access_report"]}
            assert got == {k: want[k] for k in got}, (case["id"], rec["name"])
        assert res.total_cycles == sum(r["compute_report"]["Total Cycles"] for r in rows)
        assert res.stall_cycles == sum(r["compute_report"]["Stall Cycles"] for r in rows)
    assert next(recorded, None) is None  # every recorded row was compared


@pytest.mark.parametrize("case", USER_RUNS)
def test_user_mode_equals_scalesim(case, tmp_path):
    _check_run(case, tmp_path, "user")


@pytest.mark.parametrize("case", CALC_RUNS)
def test_calc_mode_access_counts_equal_scalesim(case, tmp_path):
    _check_run(case, tmp_path, "calc")


@pytest.mark.parametrize("elements", [1, 5])
@pytest.mark.parametrize("case", [p for p in USER_RUNS if p.values[0]["id"] in (
    "ws8x8_user_bw1_sram1k_small", "ws16x16_user_bw4_sram1k_convA")], ids=lambda p: p["id"])
def test_occurrence_checks_in_any_batch_size_equal_scalesim(case, elements, tmp_path,
                                                            monkeypatch):
    """The ifmap refills check a word's other occurrences in batches of elements (to bound
    the memory of one check).  The batch size is no model setting: with batches of one or a
    few elements, every layer of these two runs (3x3 and 7x7 convolutions whose words recur,
    1 kB ifmap SRAMs that refill) still gives SCALE-Sim's values.  This needs the search to
    go on past a batch whose elements all hit and to stop at the first batch with a miss."""
    monkeypatch.setattr(scalesim_mem, "_CHECK_ELEMENTS", elements)
    _check_run(case, tmp_path, "user")


def test_the_recorded_data_is_all_used():
    """447 USER layers (176 + 7 of them stall) and 289 CALC layers: nothing is skipped."""
    def layers(runs):
        return [la for p in runs for la in p.values[0]["layers"]]

    user, calc = layers(USER_RUNS), layers(CALC_RUNS)
    assert (len(user), len(calc)) == (447, 289)
    assert sum(la["compute_report"]["Stall Cycles"] > 0 for la in user) == 183
    errors = [c["id"] for doc in DOCS.values() for c in doc["cases"] if "error" in c]
    assert errors == ["u_err_sram0k", "u_err_bank_bw5_num2"]  # test_scalesim_cfg refuses them


# ----------------------------------------------------------------------------- other layers
def _conv(**kw) -> Layer:
    base = dict(name="c", kind="conv", in_h=12, in_w=12, in_c=4, out_c=8, kernel_h=3,
                kernel_w=3, ceil_mode=True)
    return Layer(**{**base, **kw})


USER_SMALL = ScaleSimConfig(interface="user", ifmap_sram_kb=1, filter_sram_kb=1,
                            ofmap_sram_kb=1, ifmap_bandwidth=2, filter_bandwidth=3,
                            ofmap_bandwidth=1, ifmap_banks=1, filter_banks=1)


@pytest.mark.parametrize("kw, fld, problem, allowed", [
    (dict(pad_h=1, pad_w=1), "pad_h", "padding", "0 (SCALE-Sim has no padding)"),
    (dict(dil_w=2), "dil_w", "dilation", "1"),
    (dict(stride_h=2), "stride_w", "different strides per axis", "stride_w = stride_h = 2"),
    (dict(stride_h=2, stride_w=2, ceil_mode=False), "ceil_mode",  # (12 - 3) / 2 rounded down
     "the output size is rounded down", "true (SCALE-Sim rounds the output size up)"),
    (dict(batch=2), "batch", "a batch of 2 images", "1"),
])
def test_layers_scalesim_cannot_run_are_refused_naming_the_field(kw, fld, problem, allowed):
    with pytest.raises(InputError) as exc:
        scalesim_layer(_conv(**kw), 8, 8, USER_SMALL)
    assert exc.value.field == fld and "\n" not in str(exc.value)
    assert exc.value.problem == f"layer 'c': {problem}; SCALE-Sim cannot run it"
    assert exc.value.allowed == allowed


def test_user_bandwidth_must_be_a_multiple_of_the_banks():
    sc = dataclasses.replace(USER_SMALL, ifmap_bandwidth=5, ifmap_banks=2)
    with pytest.raises(InputError) as exc:
        scalesim_layer(_conv(), 8, 8, sc)
    assert exc.value.field == "scalesim.ifmap_bandwidth"
    assert exc.value.problem == ("SCALE-Sim needs the ifmap bandwidth (5) to be a multiple of "
                                 "its banks (2)")
    assert exc.value.allowed == "a multiple of 2"
    assert scalesim_layer(_conv(), 8, 8, dataclasses.replace(sc, interface="calc"))
    sc = dataclasses.replace(USER_SMALL, filter_bandwidth=6, filter_banks=4)
    with pytest.raises(InputError) as exc:
        scalesim_layer(_conv(), 8, 8, sc)
    assert (exc.value.field, exc.value.allowed) == ("scalesim.filter_bandwidth",
                                                    "a multiple of 4")
    assert "the filter bandwidth (6)" in exc.value.problem


@pytest.mark.parametrize("rows,cols,fld,bad", [
    (0, 4, "array.rows", "0"), (8, True, "array.cols", "True"), (8, 2.0, "array.cols", "2.0"),
    (-1, 0, "array.rows", "-1"), (3, 0, "array.cols", "0")])
def test_array_sizes_are_checked(rows, cols, fld, bad):
    """The array sizes of the low-level call (a configuration checks its own): one error
    naming the field, for any interface."""
    for sc in (USER_SMALL, dataclasses.replace(USER_SMALL, interface="calc")):
        with pytest.raises(InputError) as exc:
            scalesim_layer(_conv(), rows, cols, sc)
        assert (exc.value.problem, exc.value.field, exc.value.allowed) == (
            f"{bad} is not an array size", fld, "integer >= 1")


def test_same_scalesim_layer_same_result():
    """A rounded-down output equal to the rounded-up one, a linear layer or matmul head and the
    GEMM row SCALE-Sim would get, a grouped layer and its groups run one by one."""
    def run(layer, sc=USER_SMALL):
        return scalesim_layer(layer, 8, 4, sc)

    assert run(_conv(in_h=13, in_w=13, stride_h=2, stride_w=2, ceil_mode=False)) == run(
        _conv(in_h=13, in_w=13, stride_h=2, stride_w=2))
    gemm = run(parse_topology_text("Layer, M, N, K,\ng, 20, 7, 30,\n").layers[0])
    assert gemm.row_stall_cycles > 0
    assert run(Layer(name="l", kind="linear", in_h=4, in_w=5, in_c=30, out_c=7)) == gemm
    # a batch of pointwise images is one GEMM of all their pixels (a matmul's are its heads)
    assert run(Layer(name="b", kind="conv", in_h=2, in_w=5, in_c=30, out_c=7, batch=2)) == gemm
    heads = run(Layer(name="m", kind="matmul", in_h=20, in_w=1, in_c=30, out_c=7, batch=3))
    assert (heads.runs, heads.total_cycles, heads.stall_cycles, heads.access) == (
        3, 3 * gemm.total_cycles, 3 * gemm.stall_cycles, gemm.access)
    grouped = run(_conv(in_c=6, out_c=10, groups=2))
    one = run(_conv(in_c=3, out_c=5))
    assert (grouped.runs, grouped.total_cycles, grouped.stall_cycles, grouped.access) == (
        2, 2 * one.total_cycles, 2 * one.stall_cycles, one.access)


@pytest.mark.parametrize("case", USER_RUNS[::13], ids=lambda c: c["id"])
def test_ewssim_run_with_the_cfg_writes_scalesim_cycles(case, tmp_path):
    """End to end, as a user runs it: `ewssim run --arch RUN.cfg --workload TOPOLOGY.csv`;
    layers.csv total_cycles and stall_cycles equal the recorded COMPUTE_REPORT (depthwise rows,
    which SCALE-Sim reports per channel, are summed)."""
    import csv

    from ewssim.cli import main

    cfg = tmp_path / f"{case['id']}.cfg"
    cfg.write_text(case["cfg_text"])
    rows = [r for r in case["topology_rows"]]
    names = [r.split(",")[0].strip() for r in rows]
    if len(set(names)) != len(names):
        pytest.skip("the run repeats a layer name (an ewssim topology may not)")
    topo = tmp_path / "topology.csv"
    topo.write_text(case["topology_header"] + "\n" + "\n".join(rows) + "\n")
    assert main(["run", "--arch", str(cfg), "--workload", str(topo), "--out",
                 str(tmp_path / "out")]) == 0
    with open(tmp_path / "out" / "layers.csv") as f:
        got = {r["layer"]: (int(r["total_cycles"]), int(r["stall_cycles"]))
               for r in csv.DictReader(f)}
    want: dict[str, list[int]] = {}
    for rec in case["layers"]:
        name = rec["name"].split("Channel_")[0]
        t = want.setdefault(name, [0, 0])
        t[0] += rec["compute_report"]["Total Cycles"]
        t[1] += rec["compute_report"]["Stall Cycles"]
    assert got == {k: tuple(v) for k, v in want.items()}
