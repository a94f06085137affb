"""Typed configuration: presets, TOML round trip, validation with one-line errors."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ewssim import config
from ewssim.cli import main
from ewssim.errors import InputError


@pytest.mark.parametrize("name", config.preset_names())
def test_preset_toml_round_trip(tmp_path, name):
    arch = config.PRESETS[name]
    path = tmp_path / "a.toml"
    path.write_text(config.to_toml(arch))
    assert config.load(str(path)) == arch


def test_preset_key_in_toml_starts_from_that_preset(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text('preset = "ws"\nname = "mine"\n[array]\nrows = 16\ncols = 8\n')
    arch = config.load(str(path))
    assert (arch.name, arch.array.rows, arch.array.cols) == ("mine", 16, 8)
    assert arch.dataflow == config.PRESETS["ws"].dataflow


@pytest.mark.parametrize("text, key", [
    ("[array]\nrows = 0\n", "array.rows"),
    ("[array]\ncols = -3\n", "array.cols"),
    ("[array]\nrows = 2.5\n", "array.rows"),
    ("[array]\nbogus = 1\n", "array.bogus"),
    ("bogus = 1\n", "bogus"),
    ("[memory]\ndram_bytes_per_cycle = -1.0\n", "memory.dram_bytes_per_cycle"),
    ("[memory]\nl1_weight_bytes = 0\n", "memory.l1_weight_bytes"),
    ("[memory]\nl1_weight_bytes = 100\n", "memory.l1_weight_bytes"),
    ("[memory]\nideal = 1\n", "memory.ideal"),
    ("[dataflow]\nkind = \"os\"\n", "dataflow.kind"),
    ("[data]\nact_bits = 7\n", "data.act_bits"),
    ("array = 3\n", "array"),
    ('preset = "nope"\n', "preset"),
    ("[dataflow]\nkind = \"scalesim-ws\"\n", "memory.ideal"),
])
def test_bad_config_names_key_and_allowed(tmp_path, text, key):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError) as exc:
        config.load(str(path))
    msg = str(exc.value)
    assert "\n" not in msg
    assert str(path) in msg and f"'{key}'" in msg and "allowed:" in msg


def test_invalid_toml_is_one_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[array\nrows = 3")
    with pytest.raises(InputError, match="not valid TOML"):
        config.load(str(path))


def test_cli_bad_config_exit_2_one_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("[array]\nrows = 0\n")
    assert main(["run", "--arch", str(path), "--workload", "tiny"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "array.rows" in err[0]


@pytest.mark.parametrize("shape", ["0x4", "4", "ax4", "4x4x4", "-1x2"])
def test_bad_array_shape(shape):
    with pytest.raises(InputError, match="--array"):
        config.parse_array(shape)


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 512), cols=st.integers(1, 512), wrf=st.integers(1, 32),
       ideal=st.booleans(), db=st.booleans())
def test_any_valid_config_round_trips(tmp_path_factory, rows, cols, wrf, ideal, db):
    arch = config.ArchConfig(
        array=config.ArrayConfig(rows=rows, cols=cols, wrf_depth=wrf),
        memory=config.MemoryConfig(ideal=ideal, l1_weight_bytes=2 * rows * cols,
                                   l1_double_buffer=db,
                                   l2_bytes=max(1024 * 1024, 8 * rows * cols)))
    path = tmp_path_factory.mktemp("c") / "a.toml"
    path.write_text(config.to_toml(arch))
    assert config.load(str(path)) == config.validate(arch)


def test_every_parameter_is_documented():
    for p in config.describe_parameters():
        assert p["doc"], p["key"]
        assert p["source"] in ("published", "modelled"), p["key"]


def test_arch_show_prints_loadable_toml(tmp_path, capsys):
    assert main(["arch", "show", "ews", "--array", "16x8"]) == 0
    text = capsys.readouterr().out
    path = tmp_path / "a.toml"
    path.write_text(text)
    arch = config.load(str(path))
    assert arch == dataclasses.replace(config.PRESETS["ews"]).with_array(16, 8)
