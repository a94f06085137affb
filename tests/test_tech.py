"""Technology tables: sources, validation, SRAM lookup, node scaling."""

from __future__ import annotations

import math

import pytest

from ewssim import tech
from ewssim.errors import InputError
from ewssim.tech.table import DATA, REQUIRED, TO_40NM

DEFAULT_TEXT = (DATA / "40nm.toml").read_text()


def test_default_table_has_every_entry_with_unit_and_source():
    t = tech.load()
    assert t.name == "40nm" and t.node_nm == 40
    for name, unit in REQUIRED.items():
        e = t.entries[name]
        assert e.unit == unit and e.source.strip(), name
    # the numbers reference-data.md marks as estimates stay marked
    for name in ("mux2_bit_energy", "mux2_bit_area", "lzc32_energy", "lzc32_area"):
        assert t.entries[name].estimate, name
    assert not t.entries["reg_bit_area"].estimate


def test_values_are_the_reference_numbers():
    t = tech.load()
    assert t["reg_bit_area"] == 5.98 and t["reg_bit_energy"] == 0.009
    # Horowitz 45 nm scaled with the named rule (45 -> 40: energy x0.869, area x0.792)
    assert t["mult_energy"] == pytest.approx(0.2 * 0.869)
    assert t["mult_area"] == pytest.approx(282 * 0.792)
    assert "stillmaker-baas-2017" in t.entries["mult_area"].source
    assert t.dram_pj_per_bit("LPDDR4") == 8.0 and t.dram_pj_per_bit("HBM2") == 6.25
    assert t.sram_energy("read", 32 * 1024, 64) == pytest.approx(13.66)
    assert t.sram_energy("write", 1 << 20, 128) == pytest.approx(106.59)
    assert t.sram_area(128 * 1024) == pytest.approx(347932)


def test_width_rules():
    t = tech.load()
    assert t.mult("energy", 16, 8) == pytest.approx(2 * t["mult_energy"])
    assert t.adder("area", 8) == pytest.approx(t["add8_area"])
    assert t.adder("area", 32) == pytest.approx(t["add32_area"])
    assert t["add8_area"] < t.adder("area", 24) < t["add32_area"]
    assert t.lzc("energy", 4) == pytest.approx(t["lzc32_energy"] / 8)


def test_sram_lookup_interpolates_in_log_size():
    t = tech.load()
    a, b = t.sram_energy("read", 32768, 64), t.sram_energy("read", 65536, 64)
    mid = t.sram_energy("read", 32768 * math.sqrt(2), 64)
    assert mid == pytest.approx(math.sqrt(a * b))  # power law between neighbours
    sizes = [2 ** i for i in range(8, 24)]
    vals = [t.sram_energy("read", s, 128) for s in sizes]
    assert all(x < y for x, y in zip(vals, vals[1:], strict=False))
    # width: <= 64 bits costs a 64-bit access, between 64 and 128 linear, wider = 128-bit macros
    assert t.sram_energy("read", 4096, 8) == t.sram_energy("read", 4096, 64)
    e64, e128 = t.sram_energy("read", 4096, 64), t.sram_energy("read", 4096, 128)
    assert t.sram_energy("read", 4096, 96) == pytest.approx((e64 + e128) / 2)
    assert t.sram_energy("read", 4096, 512) == pytest.approx(4 * e128)


@pytest.mark.parametrize("node", sorted(TO_40NM))
def test_node_scaling_round_trip(node):
    t = tech.load()
    back = tech.scale(tech.scale(t, node), 40)
    assert back.node_nm == 40
    for name, e in t.entries.items():
        v, w = e.value, back.entries[name].value
        if isinstance(v, tuple):
            assert w == pytest.approx(v), name
        else:
            assert w == pytest.approx(v), name


def test_node_scaling_factors_and_exemptions():
    t = tech.load()
    t16 = tech.scale(t, 16)
    assert t16["reg_bit_area"] == pytest.approx(5.98 / 4.19)
    assert t16["reg_bit_energy"] == pytest.approx(0.009 / 5.01)
    assert t16["dram_lpddr4"] == 8.0  # off-chip: not scaled
    assert t16["sram_size"] == t["sram_size"]
    fe, fa = tech.node_factor(45, 16)
    assert fe == pytest.approx(0.869 / 5.01) and fa == pytest.approx(0.792 / 4.19)
    assert tech.load("28nm").node_nm == 28
    with pytest.raises(InputError, match="unknown node 22"):
        tech.scale(t, 22)


def _write(tmp_path, text):
    p = tmp_path / "t.toml"
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("old, new, match", [
    ('reg_bit_area    = { value = 5.98,', 'reg_bit_areaX   = { value = 5.98,',
     r"field 'entries.reg_bit_area': missing entry"),
    ('add8_energy  = { value = 0.03,', 'add8_energy  = { value = -0.03,',
     r"field 'entries.add8_energy': negative"),
    ('mult_area    = { value = 282.0, unit = "um2"', 'mult_area    = { value = 282.0, unit = "mm3"',
     r"field 'entries.mult_area': unknown unit 'mm3'"),
    ('node_nm = 40\n', 'node_nm = 7\n', r"field 'table.node_nm': unknown node 7"),
    ('unit = "pJ",  bits = 8,  node_nm = 45', 'unit = "pJ",  bits = 8,  node_nm = 22',
     r"field 'entries.mult_energy.node_nm': unknown node 22"),
    ('source = "Accelergy/CACTI default: DDR3 70 pJ/bit (ref §2)"', 'source = " "',
     r"field 'entries.dram_ddr3': empty source"),
])
def test_bad_tables_name_the_entry(tmp_path, old, new, match):
    assert old in DEFAULT_TEXT
    path = _write(tmp_path, DEFAULT_TEXT.replace(old, new, 1))
    with pytest.raises(InputError, match=match) as exc:
        tech.load(path)
    assert "\n" not in str(exc.value)


def test_missing_action_in_a_partial_table(tmp_path):
    path = _write(tmp_path, '[table]\nname = "x"\nnode_nm = 40\nsource = "s"\n[entries]\n'
                  'reg_bit_area = { value = 5.0, unit = "um2", source = "mine" }\n')
    with pytest.raises(InputError, match="missing entry"):
        tech.load(path)


def test_user_table_overrides_a_builtin(tmp_path):
    path = _write(tmp_path, '[table]\nname = "mine"\nnode_nm = 40\nbase = "40nm"\n'
                  'source = "s"\n[entries]\n'
                  'dram_lpddr4 = { value = 4.0, unit = "pJ/bit", source = "my DRAM" }\n')
    t = tech.load(path)
    assert t["dram_lpddr4"] == 4.0 and t["reg_bit_area"] == 5.98
    with pytest.raises(InputError, match="no technology table"):
        tech.load(str(tmp_path / "nope.toml"))
