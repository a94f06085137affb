"""Exact tests of ewssim/hw/counts.py (written to kill its mutants).

``Traffic``'s fields are built by ``_count`` when the class body runs, i.e. at import time.
mutmut runs each mutant in a process forked after the package was imported, so a test that
only uses the imported ``Traffic`` never sees a mutant of ``_count``.  The tests marked
"fresh copy" therefore execute the module's file again (under its own name, without touching
``sys.modules``) and check the class that this builds.
"""

from __future__ import annotations

import dataclasses
import importlib.util

import ewssim.hw.counts as counts

#: the counters in declaration order (the run table's columns), written out by hand
NAMES = (
    "dram_act_read_bytes", "dram_weight_read_bytes", "dram_out_write_bytes",
    "l2_act_read_bytes", "l2_weight_read_bytes", "l2_psum_read_bytes", "l2_out_write_bytes",
    "l1_act_read_bytes", "l1_weight_read_bytes", "l1_psum_read_bytes", "l1_out_write_bytes",
    "int8_weight_bytes", "crf_reads", "crf_reload_bytes", "lzc_decodes", "executed_macs",
    "wrf_writes", "wrf_reads", "arf_writes", "arf_reads", "act_hops", "psum_hops",
    "prf_accesses", "mux_selects", "l2_vector_read_bytes", "l2_vector_write_bytes",
    "vector_ops",
)

#: the unit of every counter that is not a byte count (every ``*_bytes`` counter is in B)
NON_BYTE_UNITS = {
    "crf_reads": "codeword lookups",
    "lzc_decodes": "LZC evaluations",
    "executed_macs": "MACs",
    "wrf_writes": "WRF entries",
    "wrf_reads": "WRF entries",
    "arf_writes": "ARF entries",
    "arf_reads": "ARF entries",
    "act_hops": "activation hops",
    "psum_hops": "psum hops",
    "prf_accesses": "PRF accumulates",
    "mux_selects": "mux selects",
    "vector_ops": "lane ops",
}


def _unit(name: str) -> str:
    return "B" if name.endswith("_bytes") else NON_BYTE_UNITS[name]


def _fresh_counts():
    """ewssim/hw/counts.py executed again, as a module object outside ``sys.modules``."""
    spec = importlib.util.spec_from_file_location(counts.__name__, counts.__file__)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _check_module(mod) -> None:
    assert mod.TRAFFIC_FIELDS == NAMES
    assert mod.TRAFFIC_UNITS == {n: _unit(n) for n in NAMES}
    t = mod.Traffic()
    for n in NAMES:
        v = getattr(t, n)
        assert v == 0 and type(v) is int, n
    assert t.as_dict() == dict.fromkeys(NAMES, 0)
    flds = {f.name: f for f in dataclasses.fields(mod.Traffic)}
    for n in NAMES:
        f = flds[n]
        assert f.default == 0 and type(f.default) is int, n
        assert set(f.metadata) == {"unit", "doc"}, n
        assert f.metadata["unit"] == _unit(n), n
        assert isinstance(f.metadata["doc"], str) and f.metadata["doc"], n
    assert flds["dram_out_write_bytes"].metadata["doc"] == "outputs written to DRAM"
    assert flds["mux_selects"].metadata["doc"] == "M:1 activation mux selections"


def test_imported_traffic_fields_units_and_defaults():
    _check_module(counts)


def test_fresh_copy_traffic_fields_units_and_defaults():
    _check_module(_fresh_counts())


def test_fresh_copy_count_field_directly():
    mod = _fresh_counts()
    f = mod._count("lane ops", "some text")
    assert f.default == 0 and type(f.default) is int
    assert dict(f.metadata) == {"unit": "lane ops", "doc": "some text"}


def test_as_dict_values_and_copy():
    t = counts.Traffic(dram_act_read_bytes=7, crf_reads=3, vector_ops=11)
    d = t.as_dict()
    assert list(d) == list(NAMES)
    assert d == {**dict.fromkeys(NAMES, 0), "dram_act_read_bytes": 7, "crf_reads": 3,
                 "vector_ops": 11}
    d["crf_reads"] = 99          # a copy: the counters are not changed through it
    assert t.crf_reads == 3
    t.executed_macs += 5
    assert t.as_dict()["executed_macs"] == 5 and d["executed_macs"] == 0
