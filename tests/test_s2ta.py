"""S2TA-style baselines, `ewssim compare` and `ewssim normalize`."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from helpers import plan

from ewssim import api, config
from ewssim.cli import main
from ewssim.compress.plan import LayerFormat
from ewssim.dataflow.base import LayerContext
from ewssim.errors import InputError
from ewssim.tech.normalize import normalize
from ewssim.workload.layers import Layer

LAYER = Layer("c", "conv", 8, 8, 32, 16, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1)


def _fmt(nm=(4, 8)):
    from ewssim.compress import Settings
    from ewssim.compress.plan import plan_layer
    return plan_layer(LAYER, Settings.for_method("dbb", nm=nm, mask_encoding="positions"))


def _plan(preset, density=0.5, **act):
    arch = config.PRESETS[preset].with_array(8, 8)
    if act:
        arch = dataclasses.replace(arch, activations=dataclasses.replace(arch.activations,
                                                                         **act))
    arch = config.validate(arch)
    fmt = None if arch.weights.weight_format.int8 else _fmt()
    return arch, plan(LAYER, arch, fmt,
                                                       LayerContext(act_density=density))


def test_dbb_format_is_int8_values_plus_positions():
    f = _fmt()
    assert isinstance(f, LayerFormat) and f.format.dbb and f.format.pruned and not f.format.codebook
    kept = LAYER.weights // 2
    assert f.bits.total == kept * 8 + kept * 3 + 32  # 3-bit positions in blocks of 8


def test_zero_gating_executes_only_nonzero_activation_macs():
    _, dense = _plan("ws")
    _, gated = _plan("sa-zvcg", density=0.25)
    assert gated.schedule.stream_cycles.tolist() == dense.schedule.stream_cycles.tolist()
    assert gated.traffic.executed_macs == LAYER.macs // 4


def test_s2ta_w_covers_bz_over_nnz_more_reduction():
    _, w = _plan("s2ta-w")
    s = w.schedule
    assert (s.rows, s.logical_rows, s.slot_cycles) == (8, 16, 1)
    assert w.traffic.executed_macs == LAYER.macs // 2 // 2  # 4:8 weights, density 0.5
    assert w.traffic.mux_selects == w.traffic.executed_macs


@pytest.mark.parametrize("density, nnz_a", [(0.5, 4), (0.56, 5), (0.1, 1), (1.0, 8)])
def test_s2ta_aw_time_unrolls_nnz_a_cycles_per_block(density, nnz_a):
    arch, aw = _plan("s2ta-aw", density=density)
    s = aw.schedule
    assert (s.rows, s.logical_rows, s.slot_cycles) == (8, 64, nnz_a)
    assert (s.stream_cycles == (s.p1 - s.p0) * nnz_a).all()
    # compressed activations: NNZ_a values + 3-bit positions per block of 8, per physical row
    blocks = -(-s.used_rows // 8)
    reads = int((blocks * (s.p1 - s.p0)).sum()) * nnz_a
    assert aw.traffic.l1_act_read_bytes == math.ceil(reads * 11 / 8)


def test_fixed_nnz_prunes_activations():
    _, aw = _plan("s2ta-aw", density=0.9, nnz=2)
    assert aw.schedule.slot_cycles == 2
    assert aw.traffic.executed_macs == LAYER.macs // 2 * 2 // 8  # 4:8 weights, 2 of 8 acts


@pytest.mark.parametrize("toml, key", [
    ('preset = "mvq"\n[weights]\nformat = "dbb"\nnm = "4:8"\n', "dataflow.kind"),
    ('preset = "ews"\n[activations]\ndbb = true\n', "activations.dbb"),
    ('preset = "s2ta-aw"\n[array]\nwrf_depth = 2\n', "array.wrf_depth"),
    ('preset = "s2ta-w"\n[weights]\nformat = "mvq"\n', "weights.format"),
])
def test_bad_s2ta_configs(tmp_path, toml, key):
    path = tmp_path / "a.toml"
    path.write_text(toml)
    with pytest.raises(InputError, match=f"'{key}'"):
        config.load(str(path))


def test_activation_profile_drives_the_arrays(tmp_path):
    profile = tmp_path / "p.csv"
    rows = ["layer,density"] + [f"{la.name},0.25" for la in api.resolve_workload("tiny")]
    profile.write_text("\n".join(rows) + "\n")
    arch = api.with_activation_profile(config.PRESETS["sa-zvcg"], str(profile))
    t = api.simulate(arch, "tiny").totals
    assert t["executed_macs"] == pytest.approx(t["macs"] * 0.25, rel=1e-3)


def test_compare_json_rows_and_relative_columns(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", "--workload", "tiny", "--arch", "ews", "--arch", "sa-zvcg",
                 "--arch", "s2ta-aw", "--weights", "analytic", "--json", "--out",
                 str(out)]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["arch"] for r in rows] == ["ews", "sa-zvcg", "s2ta-aw"]
    for r in rows:
        assert set(r) == {"arch", "workload", "total_cycles", "energy_pJ", "tops_per_w",
                          "area_mm2", "dram_bytes", "edp"}
        assert r["edp"] == pytest.approx(r["energy_pJ"] * r["total_cycles"] / 1e9)
    assert {p.name for p in out.iterdir()} == {"compare.csv", "compare.md", "compare.png"}
    assert "(1.00×)" in (out / "compare.md").read_text()


def test_normalize_with_the_named_rule(capsys):
    value, factor = normalize(4.0, "tops_per_w", 16, 40)
    assert factor == pytest.approx(1 / 5.01) and value == pytest.approx(4.0 / 5.01)
    assert normalize(1.0, "area_mm2", 16, 40)[0] == pytest.approx(4.19)
    assert normalize(2.0, "energy_pJ", 40, 40)[0] == 2.0
    assert main(["normalize", "--value", "4", "--unit", "tops_per_w", "--from-node", "16",
                 "--to-node", "40", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rule"] == "stillmaker-baas-2017"
    assert main(["normalize", "--value", "4", "--unit", "tops_per_w", "--from-node", "17",
                 "--to-node", "40"]) == 2
    assert "--from-node" in capsys.readouterr().err


@pytest.mark.parametrize("preset", ["s2ta-w", "s2ta-aw", "ssvq"])
def test_check_functional_runs_the_compressed_weights(preset, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert main(["run", "--arch", preset, "--workload", "tiny", "--array", "16x16",
                 "--check-functional", "--json"]) == 0
    assert "6 layer(s) equal a numpy convolution exactly" in capsys.readouterr().err


def test_check_functional_skips_compressed_layers_without_weights(capsys):
    assert main(["run", "--arch", "s2ta-aw", "--workload", "tiny", "--array", "16x16",
                 "--weights", "analytic", "--check-functional", "--json"]) == 0
    assert "skipped" in capsys.readouterr().err
