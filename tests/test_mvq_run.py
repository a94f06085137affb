"""Running codebook architectures: formats from files, on the fly, or analytic; checks."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ewssim import api, config
from ewssim.cli import main
from ewssim.errors import InputError
from ewssim.workload import parse_topology_text

NET_CSV = """name,type,in_h,in_w,in_c,out_c,kernel_h,kernel_w,pad_h,pad_w
first,conv,8,8,3,16,3,3,1,1
a,conv,8,8,16,16,3,3,1,1
b,conv,8,8,16,32,1,1,0,0
fc,linear,1,1,32,16,1,1,0,0
"""


@pytest.fixture()
def net():
    return parse_topology_text(NET_CSV, source="small.csv", name="small")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _arch(preset, **weights):
    """16x16, k = 16, and DRAM bursts of one byte, so that DRAM bytes are the payload."""
    a = config.PRESETS[preset].with_array(16, 16).replace("memory.dram_burst_bytes", 1)
    return config.validate(dataclasses.replace(
        a, weights=dataclasses.replace(a.weights, **{"k": 16, **weights})))


@pytest.mark.parametrize("preset", ["vq", "ews-cm", "mvq", "ssvq"])
def test_analytic_format_equals_compressed_synthetic(net, preset):
    arch = _arch(preset)
    a = api.simulate(arch, net, weights="analytic").layers
    s = api.simulate(arch, net, weights="synthetic").layers
    cols = [c for c in a.columns if c != "notes"]
    assert a[cols].equals(s[cols])


def test_int8_presets_carry_weight_columns(net):
    t = api.simulate(_arch("ews"), net).totals
    assert t["crf_reads"] == 0 and t["lzc_decodes"] == 0
    assert t["dram_weight_read_bytes"] == t["l2_weight_read_bytes"] == t["int8_weight_bytes"]
    assert t["executed_macs"] == t["macs"]


def test_compressed_weights_cost_less_and_are_counted(net):
    ews = api.simulate(_arch("ews"), net).layers.set_index("layer")
    mvq = api.simulate(_arch("mvq"), net, weights="analytic").layers.set_index("layer")
    # 'first' has 3 input channels: d = 8 does not divide them, so it stays INT8 (fit rule)
    # (the compressed file stores the INT8 layer with its float32 scale: 4 bytes more)
    assert mvq.loc["first", "dram_weight_read_bytes"] == ews.loc["first",
                                                                  "dram_weight_read_bytes"] + 4
    assert "kept INT8" in mvq.loc["first", "notes"]
    for la in ["a", "b", "fc"]:
        assert mvq.loc[la, "dram_weight_read_bytes"] < ews.loc[la, "dram_weight_read_bytes"]
        # 1:4 on the sparse array: a quarter of the MACs are executed
        assert mvq.loc[la, "executed_macs"] * 4 == mvq.loc[la, "macs"]
        # sub-vectors of 8 positions: one CRF read and 2 mask groups (1 LZC each) per sub-vector
        assert mvq.loc[la, "lzc_decodes"] == mvq.loc[la, "crf_reads"] * 2
    # every weight position is covered by exactly one sub-vector load per weight-set load
    assert mvq.loc["b", "crf_reads"] * 8 == 16 * 32


def test_throughput_use_covers_more_reduction(net):
    area = api.simulate(_arch("mvq"), net, weights="analytic").layers.set_index("layer")
    a = _arch("mvq")
    thr = config.validate(dataclasses.replace(a, array=dataclasses.replace(
        a.array, sparse_use="throughput")))
    fast = api.simulate(thr, net, weights="analytic").layers.set_index("layer")
    # layer a: 48 reduction units; area use: 16 logical rows (3 folds) on 4 physical PEs per
    # column; throughput use: 64 logical rows (1 fold) on 16 physical PEs
    assert fast.loc["a", "compute_cycles"] * 2 < area.loc["a", "compute_cycles"]
    # layer b (16 units) needs no more reduction; its psums cross 16 instead of 4 PEs
    assert fast.loc["b", "compute_cycles"] > area.loc["b", "compute_cycles"]


def test_fewer_crf_ports_longer_loads(net):
    full = api.simulate(_arch("mvq"), net, weights="analytic").totals
    one = api.simulate(_arch("mvq", crf_ports=1), net, weights="analytic").totals
    assert one["weight_load_cycles"] > full["weight_load_cycles"]
    assert one["crf_reads"] == full["crf_reads"]


def test_replay_compressed_dir_and_mismatches(tmp_path, net, capsys):
    topo = tmp_path / "small.csv"
    topo.write_text(NET_CSV)
    out = tmp_path / "c"
    assert main(["compress", "--workload", str(topo), "--method", "mvq", "--nm", "1:4",
                 "--k", "16", "--d", "8", "--out", str(out)]) == 0
    arch = tmp_path / "mvq.toml"
    arch.write_text('preset = "mvq"\n[array]\nrows = 16\ncols = 16\n[weights]\nk = 16\n'
                    '[memory]\ndram_burst_bytes = 1\n')
    capsys.readouterr()
    assert main(["run", "--arch", str(arch), "--workload", str(topo), "--compressed", str(out),
                 "--json"]) == 0
    replay = json.loads(capsys.readouterr().out)
    assert replay["total_cycles"] == api.simulate(_arch("mvq"), net,
                                                  weights="analytic").totals["total_cycles"]
    # an architecture decoding another d than the files: one line naming the layer
    arch.write_text('preset = "mvq"\n[array]\nrows = 16\ncols = 16\n[weights]\nk = 16\nd = 4\n')
    assert main(["run", "--arch", str(arch), "--workload", str(topo), "--compressed",
                 str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "layer 'a'" in err[0] and "weights.d" in err[0]
    # a workload that does not match the compressed layers
    assert main(["run", "--arch", "mvq", "--workload", "tiny", "--compressed", str(out)]) == 2
    assert "compressed layers" in capsys.readouterr().err
    # an INT8 architecture cannot replay compressed layers
    assert main(["run", "--arch", "ews", "--workload", str(topo), "--compressed", str(out)]) == 2


@pytest.mark.parametrize("toml, key", [
    ('preset = "vq"\n[array]\nsparse = true\n', "array.sparse"),
    ('[weights]\nformat = "mvq"\n', "dataflow.kind"),
    ('preset = "mvq"\n[weights]\nnm = "5:4"\n', "weights.nm"),
    ('preset = "mvq"\n[weights]\nnm = "x"\n', "weights.nm"),
    ('preset = "mvq"\n[weights]\nd = 6\n', "weights.d"),
    ('preset = "mvq"\n[weights]\nk = 100\n', "weights.k"),
    ('preset = "vq"\n[weights]\nnm = "1:4"\n', "weights.nm"),
    ('preset = "mvq"\n[array]\nrows = 20\n', "array.rows"),
])
def test_bad_weight_config(tmp_path, toml, key):
    path = tmp_path / "a.toml"
    path.write_text(toml)
    with pytest.raises(InputError, match=f"'{key}'"):
        config.load(str(path))


def test_check_functional_cli(capsys):
    assert main(["run", "--arch", "ews", "--workload", "tiny", "--array", "8x8",
                 "--check-functional"]) == 0
    assert "6 layer(s) equal a numpy convolution exactly" in capsys.readouterr().err
