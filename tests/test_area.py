"""Area: the MVQ paper's Table 7 targets, the sparse array's structure, `ewssim area`."""

from __future__ import annotations

import argparse
import dataclasses
import json

import pytest

from ewssim import config
from ewssim.area import area
from ewssim.cli import area as cli_area
from ewssim.dataflow import resolve

EWS_TARGET, MVQ_TARGET = 4.236, 2.129  # mm2, 64x64 at 40 nm (MVQ paper Table 7)


def _array(preset: str, **array) -> float:
    a = config.PRESETS[preset]
    a = dataclasses.replace(a, array=dataclasses.replace(a.array, **array))
    return area(resolve(a)).blocks["array"]


def test_mvq_array_within_10_percent_of_table_7():
    assert _array("mvq") == pytest.approx(MVQ_TARGET, rel=0.10)


def test_table_7_areas_are_a_prediction_with_the_gap_of_its_wrf():
    """wrf_depth is the spec's 9, not fitted to Table 7: the EWS array comes out 21.5% over
    (5.147 mm2), and the gap is the WRF's register count -- 4,096 PEs x 9 x 8 bits and their
    9:1 read muxes; at 6 entries (two 3-tap sets) it would be 4.0% over."""
    assert config.PRESETS["ews"].array.wrf_depth == 9
    ews, mvq = _array("ews"), _array("mvq")
    assert ews == pytest.approx(5.147, abs=5e-4) and mvq == pytest.approx(2.295, abs=5e-4)
    assert 0.40 < mvq / ews < MVQ_TARGET / EWS_TARGET
    rep = area(resolve(config.PRESETS["ews"]))
    wrf = {c.name: c for c in rep.components if c.name.startswith("WRF")}
    assert wrf["WRF"].count == 4096 * 9 * 8 and wrf["WRF read mux"].count == 4096 * 8 * 8
    six = _array("ews", wrf_depth=6)
    assert six == pytest.approx(EWS_TARGET, rel=0.05)
    # the difference is exactly a third of the registers and 3 of the 8 mux bits per bit
    gap = (wrf["WRF"].total_um2 * 3 / 9 + wrf["WRF read mux"].total_um2 * 3 / 8) / 1e6
    assert ews - six == pytest.approx(gap, rel=1e-9)


def test_sparse_array_structure():
    ews, mvq = area(resolve(config.PRESETS["ews"])), area(resolve(config.PRESETS["mvq"]))
    count = {c.name: c.count for c in mvq.components}
    a = resolve(config.PRESETS["mvq"])
    assert count["multiplier"] == a.physical_pes == 64 * 16 * 64 // 64  # Q = d*N/M per d
    assert count["M:1 activation mux"] == a.physical_pes * 3 * 8  # 4:1 = 3 2:1 muxes per bit
    assert count["WRF"] == a.physical_pes * 9 * (8 + 2)  # value + 2 position bits
    assert count["ARF"] == a.physical_pes * 3 * 8 * 4  # a window per channel of the M-group
    assert "M:1 activation mux" not in {c.name for c in ews.components}
    assert ews.blocks["loader"] == ews.blocks["crf"] == 0
    assert mvq.blocks["crf"] > 0 and mvq.blocks["loader"] > 0
    assert resolve(config.PRESETS["ews"]).acc_bits == 24 and a.acc_bits == 22
    assert mvq.notes["crf_ports"] == 8 and mvq.notes["crf_port_factor"] > 1
    assert ews.blocks["l1"] == mvq.blocks["l1"] and ews.blocks["l2"] == mvq.blocks["l2"]


def test_area_grows_with_every_storage_parameter():
    base = _array("ews")
    for k, v in (("wrf_depth", 12), ("arf_depth", 4), ("prf_depth", 32), ("acc_bits", 32),
                 ("rows", 128)):
        assert _array("ews", **{k: v}) > base, k
    assert _array("ews", act_pipe_reg=False) < base
    assert _array("ews", prf_in_array=False) < base


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    cli_area.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_area_json_keys(capsys):
    assert _main(["area", "--arch", "mvq", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["total_mm2", "blocks"]
    assert list(out["blocks"]) == ["array", "loader", "crf", "vector", "l1", "l2"]
    assert out["total_mm2"] == pytest.approx(sum(out["blocks"].values()))
    assert _main(["area", "--arch", "ews", "--array", "32x32", "--tech", "28nm"]) == 0
    assert "total" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(__import__("ewssim").preset_names()))
def test_energy_and_area_charge_exactly_the_blocks_the_hardware_has(name):
    """Area has a block iff the resolved hardware has it, and the run's energy charges its
    actions iff the block exists: the M:1 activation mux, the codebook path (CRF, LZCs,
    negators)."""
    import ewssim
    from ewssim.area import area
    from ewssim.dataflow import resolve

    arch = ewssim.preset(name).replace({"array.rows": 16, "array.cols": 16})
    hw = resolve(arch)
    names = {c.name for c in area(hw).components}
    f = hw.weight_format
    assert ("M:1 activation mux" in names) == (hw.mux_fan_in > 0)
    assert ("CRF storage" in names) == (hw.loader == "codebook")
    lzc = hw.loader == "codebook" and f.pruned and f.mask_encoding == "bitmap"
    assert any("LZC" in n for n in names) == lzc
    assert ("sign negator" in names) == (hw.loader == "codebook" and f.signs)
    from ewssim.workload.layers import Layer, Network

    net = Network("n", (Layer("c", "conv", 8, 8, 64, 64, kernel_h=3, kernel_w=3, pad_h=1,
                              pad_w=1),))
    t = ewssim.simulate(arch, net).totals
    assert (t["energy_mux_pJ"] > 0) == (hw.mux_fan_in > 0)
    assert (t["energy_crf_pJ"] > 0) == (hw.loader == "codebook")
    assert (t["energy_lzc_pJ"] > 0) == lzc
