"""SCALE-Sim ``.cfg`` files as architectures (``ewssim.config.scalesim_cfg``): read as SCALE-Sim
reads them, and everything ewssim cannot reproduce exactly refused in one line naming the field.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ewssim import config
from ewssim.config.scalesim_cfg import load_scalesim_cfg, scalesim_cfg_from_text
from ewssim.errors import InputError

DATA = Path(__file__).parent / "data" / "scalesim_v3"

# The peer's ResNet-50 run (cases.json "peer_resnet50") used SCALE-Sim's own configs/scale.cfg;
# this is that file as the peer gave it (it has no trailing newline).
PEER_CFG = """[general]
run_name = scale_example_run_32x32_ws

[architecture_presets]
ArrayHeight:    32
ArrayWidth:     32
IfmapSramSzkB:   64
FilterSramSzkB:  64
OfmapSramSzkB:   64
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : 10
Dataflow : ws
MemoryBanks:   1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False"""


def _set(text: str, key: str, value: str) -> str:
    """``text`` with the value of ``key`` (any separator) replaced."""
    new, n = re.subn(rf"(?im)^({key}\s*[:=]).*$", lambda m: f"{m.group(1)} {value}", text)
    assert n == 1, key
    return new


def _drop(text: str, key: str) -> str:
    new, n = re.subn(rf"(?im)^{key}\s*[:=].*\n?", "", text)
    assert n == 1, key
    return new


USER_CFG = _set(PEER_CFG, "InterfaceBandwidth", "USER")


def _write(tmp_path: Path, text: str, name: str = "scale.cfg") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _recorded(case_id: str) -> dict:
    doc = json.loads((DATA / "user_cases.json").read_text())
    return next(c for c in doc["cases"] if c["id"] == case_id)


# ----------------------------------------------------------------------------- accepted
def test_peer_cfg_is_the_scalesim_ws_preset_with_its_array_and_memory(tmp_path):
    arch = load_scalesim_cfg(_write(tmp_path, PEER_CFG))
    base = config.PRESETS["scalesim-ws"]
    assert arch.name == "scale_example_run_32x32_ws"
    assert (arch.array.rows, arch.array.cols) == (32, 32)
    assert (arch.dataflow, arch.memory, arch.weights) == (base.dataflow, base.memory,
                                                          base.weights)
    sc = arch.scalesim
    assert sc.interface == "calc"
    assert (sc.ifmap_sram_kb, sc.filter_sram_kb, sc.ofmap_sram_kb) == (64, 64, 64)
    assert (sc.ifmap_bandwidth, sc.filter_bandwidth, sc.ifmap_banks, sc.filter_banks) == (
        10, 10, 10, 10)
    assert arch == config.validate(arch)


def test_user_bandwidths_come_from_the_layout_section_and_the_first_bandwidth(tmp_path):
    text = _set(USER_CFG, "Bandwidth", "3, 16")
    text = _set(text, "IfmapSRAMBankBandwidth", "8")
    text = _set(text, "IfmapSRAMBankNum", "4")
    text = _set(text, "FilterSRAMBankBandwidth", "6")
    text = _set(text, "FilterSRAMBankNum", "2")
    text = _set(text, "IfmapSramSzkB", "2")
    sc = load_scalesim_cfg(_write(tmp_path, text)).scalesim
    assert sc.interface == "user"
    assert (sc.ifmap_bandwidth, sc.filter_bandwidth, sc.ofmap_bandwidth) == (8, 6, 3)
    assert (sc.ifmap_banks, sc.filter_banks, sc.ifmap_sram_kb) == (4, 2, 2)


def test_keys_are_case_insensitive_and_either_separator_works(tmp_path):
    text = PEER_CFG.replace("ArrayHeight:    32", "arrayheight = 16")
    text = text.replace("IfmapSramSzkB:   64", "IFMAPSRAMSZKB=4")
    arch = load_scalesim_cfg(_write(tmp_path, text))
    assert (arch.array.rows, arch.scalesim.ifmap_sram_kb) == (16, 4)


def test_fields_without_effect_are_ignored(tmp_path):
    text = _set(PEER_CFG, "IfmapOffset", "123")
    for key, value in (("MemoryBanks", "not read"), ("ReadRequestBuffer", "7"),
                       ("IfmapSRAMBankPort", "0"), ("SparseRep", "whatever"),
                       ("BlockSize", "x")):
        text = _set(text, key, value)
    text += "\n\n[network_presets]\n\n[some_section]\nanything = 1\n"
    text = text.replace("Dataflow : ws", 'Dataflow : ws\nTopologyCsvLoc: "./t.csv"')
    assert load_scalesim_cfg(_write(tmp_path, text)) == load_scalesim_cfg(
        _write(tmp_path, PEER_CFG, "peer.cfg"))


def test_calc_mode_does_not_read_bandwidth_or_check_banks(tmp_path):
    text = _drop(PEER_CFG, "Bandwidth")
    text = _set(text, "IfmapSRAMBankBandwidth", "5")
    text = _set(text, "IfmapSRAMBankNum", "2")
    sc = load_scalesim_cfg(_write(tmp_path, text)).scalesim
    assert (sc.interface, sc.ifmap_bandwidth, sc.ifmap_banks) == ("calc", 5, 2)
    assert sc.ofmap_bandwidth == config.PRESETS["scalesim-ws"].scalesim.ofmap_bandwidth


def test_every_recorded_run_loads_as_its_config():
    for name in ("cases.json", "user_cases.json"):
        for case in json.loads((DATA / name).read_text())["cases"]:
            if "error" in case:
                continue
            c = case["config"]
            arch = scalesim_cfg_from_text(case["cfg_text"], source=case["id"])
            sc = arch.scalesim
            assert arch.name == case["id"]
            assert (arch.array.rows, arch.array.cols) == (c["array_rows"], c["array_cols"])
            assert sc.interface == c["interface_bandwidth"].lower()
            assert (sc.ifmap_sram_kb, sc.filter_sram_kb, sc.ofmap_sram_kb) == (
                c["ifmap_sram_kb"], c["filter_sram_kb"], c["ofmap_sram_kb"])
            if sc.interface == "user":
                assert sc.ofmap_bandwidth == int(str(c["bandwidth"]).split(",")[0])
                assert (sc.ifmap_bandwidth, sc.filter_bandwidth) == (
                    c.get("ifmap_bank_bandwidth", c.get("sram_bank_bandwidth")),
                    c.get("filter_bank_bandwidth", c.get("sram_bank_bandwidth")))


def test_config_load_takes_a_cfg_path_and_the_toml_round_trip_keeps_it(tmp_path):
    path = _write(tmp_path, USER_CFG)
    arch = config.load(str(path))
    assert arch == load_scalesim_cfg(path)
    toml = tmp_path / "a.toml"
    toml.write_text(config.to_toml(arch))
    assert config.load(toml) == arch
    with pytest.raises(InputError, match="cannot read") as exc:
        config.load(str(tmp_path / "missing.cfg"))
    assert exc.value.field == "arch"


# ----------------------------------------------------------------------------- refused
BAD = [
    # (what changes, the field named in the error)
    (("Dataflow", "os"), "[architecture_presets] Dataflow"),
    (("Dataflow", "WS"), "[architecture_presets] Dataflow"),
    (("IfmapCustomLayout", "True"), "[layout] IfmapCustomLayout"),
    (("FilterCustomLayout", "yes"), "[layout] FilterCustomLayout"),
    (("IfmapCustomLayout", "maybe"), "[layout] IfmapCustomLayout"),
    (("SparsitySupport", "True"), "[sparsity] SparsitySupport"),
    (("UseRamulatorTrace", "True"), "[run_presets] UseRamulatorTrace"),
    (("InterfaceBandwidth", "user"), "[run_presets] InterfaceBandwidth"),
    (("IfmapSramSzkB", "0"), "[architecture_presets] IfmapSramSzkB"),
    (("FilterSramSzkB", "0"), "[architecture_presets] FilterSramSzkB"),
    (("OfmapSramSzkB", "0"), "[architecture_presets] OfmapSramSzkB"),
    (("OfmapSramSzkB", "64 kB"), "[architecture_presets] OfmapSramSzkB"),
    (("ArrayHeight", "32.5"), "[architecture_presets] ArrayHeight"),
    (("ArrayWidth", "0"), "[architecture_presets] ArrayWidth"),
    (("IfmapOffset", "-1"), "[architecture_presets] IfmapOffset"),
    (("WriteRequestBuffer", "lots"), "[architecture_presets] WriteRequestBuffer"),
    (("FilterSRAMBankNum", "0"), "[layout] FilterSRAMBankNum"),
    (("FilterSRAMBankBandwidth", "0"), "[layout] FilterSRAMBankBandwidth"),
    (("FilterSRAMBankPort", "two"), "[layout] FilterSRAMBankPort"),
    (("run_name", "100%"), "[general] run_name"),
]
BAD_USER = [
    (("IfmapSRAMBankBandwidth", "5"), "[layout] IfmapSRAMBankBandwidth"),  # 10 banks
    (("FilterSRAMBankNum", "4"), "[layout] FilterSRAMBankBandwidth"),  # 10 words/cycle
    (("Bandwidth", "10,"), "[architecture_presets] Bandwidth"),
    (("Bandwidth", "0"), "[architecture_presets] Bandwidth"),
]


def _refused(tmp_path: Path, text: str, fld: str) -> InputError:
    path = _write(tmp_path, text, "bad.cfg")
    with pytest.raises(InputError) as exc:
        load_scalesim_cfg(path)
    err = exc.value
    assert err.field == fld
    assert err.source == str(path) and err.allowed
    assert "\n" not in str(err) and f"field '{fld}'" in str(err)
    return err


@pytest.mark.parametrize("change, fld", BAD, ids=[f for _, f in BAD])
def test_bad_values_are_refused_naming_the_field(tmp_path, change, fld):
    _refused(tmp_path, _set(PEER_CFG, *change), fld)


@pytest.mark.parametrize("change, fld", BAD_USER, ids=[f for _, f in BAD_USER])
def test_bad_user_mode_values_are_refused_naming_the_field(tmp_path, change, fld):
    _refused(tmp_path, _set(USER_CFG, *change), fld)


@pytest.mark.parametrize("key, fld", [
    ("ArrayHeight", "[architecture_presets] ArrayHeight"),
    ("IfmapSRAMBankNum", "[layout] IfmapSRAMBankNum"),
    ("SparsitySupport", "[sparsity] SparsitySupport"),
    ("run_name", "[general] run_name"),
])
def test_missing_keys_are_refused(tmp_path, key, fld):
    _refused(tmp_path, _drop(PEER_CFG, key), fld)


def test_user_mode_needs_bandwidth(tmp_path):
    _refused(tmp_path, _drop(USER_CFG, "Bandwidth"), "[architecture_presets] Bandwidth")


def test_missing_section_and_the_network_presets_quirk(tmp_path):
    no_layout = PEER_CFG[:PEER_CFG.index("[layout]")] + PEER_CFG[PEER_CFG.index("[sparsity]"):]
    _refused(tmp_path, no_layout, "[layout]")
    # SCALE-Sim looks TopologyCsvLoc up in [architecture_presets] once [network_presets] exists
    with_net = PEER_CFG + '\n\n[network_presets]\nTopologyCsvLoc: "./t.csv"\n'
    _refused(tmp_path, with_net, "[architecture_presets] TopologyCsvLoc")


def test_unparsable_text_gives_one_line_with_the_line_number(tmp_path):
    path = _write(tmp_path, PEER_CFG.replace("ArrayWidth:     32", "ArrayWidth:     32\n"
                                             "arraywidth: 16"), "dup.cfg")
    with pytest.raises(InputError, match="appears twice") as exc:
        load_scalesim_cfg(path)
    assert exc.value.line == 7 and "\n" not in str(exc.value)
    with pytest.raises(InputError, match="before the first"):
        scalesim_cfg_from_text("ArrayHeight: 8\n" + PEER_CFG)


@pytest.mark.parametrize("case_id, fld", [
    ("u_err_sram0k", "[architecture_presets] IfmapSramSzkB"),
    ("u_err_bank_bw5_num2", "[layout] IfmapSRAMBankBandwidth"),
])
def test_configs_scalesim_rejected_are_refused(tmp_path, case_id, fld):
    case = _recorded(case_id)
    assert case["expect_error"] and case["error"]  # SCALE-Sim stopped on it
    _refused(tmp_path, case["cfg_text"], fld)


# ----------------------------------------------------------------------------- command line
def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ewssim", *args], capture_output=True,
                          text=True, timeout=120)


def test_arch_show_prints_a_cfg_as_toml(tmp_path):
    r = _cli("arch", "show", str(_write(tmp_path, USER_CFG)))
    assert r.returncode == 0, r.stderr
    assert 'kind = "scalesim-ws"' in r.stdout and 'interface = "user"' in r.stdout
    assert re.search(r"(?m)^rows = 32\b", r.stdout)


def test_arch_show_refuses_a_bad_cfg_in_one_line(tmp_path):
    path = _write(tmp_path, _set(PEER_CFG, "Dataflow", "os"), "os.cfg")
    r = _cli("arch", "show", str(path))
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "field '[architecture_presets] Dataflow'" in lines[0]
    assert str(path) in lines[0]
