"""Design-space sweeps: spec validation, expansion, constraints, the results database
(determinism, resume, refusal of another spec's file), Pareto fronts, plots, the CLI."""

from __future__ import annotations

import json
import sqlite3
import textwrap

import numpy as np
import pytest

from ewssim import config
from ewssim.cli import main
from ewssim.errors import InputError
from ewssim.sweep import dump, export, load_spec, pareto_mask, parse_spec, read_results, run_sweep
from ewssim.sweep.pareto import front, heatmap_table
from ewssim.sweep.spec import flat_config

SMALL = """
[sweep]
workloads = ["tiny"]

[axes]
"array" = ["4x4", "8x8", "16x16"]
"memory.l2_bytes" = {log2_range = [65536, 262144]}
"preset" = ["ews", "mvq"]

[constraints]
pes = {max = 128}
"""


def _spec(tmp_path, text: str = SMALL, name: str = "spec.toml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def _err(data: dict) -> str:
    with pytest.raises(InputError) as ei:
        parse_spec(data, source="s.toml")
    msg = str(ei.value)
    assert "\n" not in msg
    return msg


# ----------------------------------------------------------------------------- spec

def test_grid_expansion_validation_and_constraints(tmp_path):
    spec = load_spec(_spec(tmp_path))
    pts = spec.points()
    assert len(pts) == 3 * 3 * 2
    assert [p.idx for p in pts] == list(range(len(pts)))
    assert len({p.point_id for p in pts}) == len(pts)
    by = {(p.assignment["array"], p.assignment["memory.l2_bytes"], p.assignment["preset"]): p
          for p in pts}
    # 4x4 mvq: rows not a multiple of d = 8 -> invalid, recorded with the reason
    p = by[("4x4", 65536, "mvq")]
    assert p.status == "skipped" and "array.rows" in p.reason and p.arch is None
    # 64 KiB L2 < L1 buffers of the ews preset -> invalid
    assert "memory.l2_bytes" in by[("8x8", 65536, "ews")].reason
    # 16x16 = 256 PEs > 128 -> constraint, checked before simulation
    p = by[("16x16", 262144, "ews")]
    assert p.status == "skipped" and p.reason.startswith("constraint pes = 256 > max 128")
    assert p.metrics["pes"] == 256
    # mvq's sparse array: 16 rows x 1/4 x 16 cols = 64 physical PEs, passes
    p = by[("16x16", 262144, "mvq")]
    assert p.status == "pending" and p.metrics["pes"] == 64
    assert p.arch.array.rows == 16 and p.arch.memory.l2_bytes == 262144
    assert p.arch.weights.format == "mvq"
    ok = by[("8x8", 131072, "ews")]
    assert ok.status == "pending" and ok.metrics["sram_bytes"] == 128 * 1024 + 131072


def test_spec_is_canonical_and_hash_stable(tmp_path):
    a = load_spec(_spec(tmp_path))
    reordered = """
    # same spec, other order, comments
    [constraints]
    pes = {max = 128}
    [axes]
    "dataflow" = ["ews", "mvq"]   # alias of preset
    "memory.l2_bytes" = [65536, 131072, 262144]
    "array" = ["4x4", "8x8", "16x16"]
    [sweep]
    workloads = "tiny"
    """
    b = load_spec(_spec(tmp_path, reordered, "b.toml"))
    assert a.hash == b.hash and a.canonical_json == b.canonical_json
    assert [p.point_id for p in a.points()] == [p.point_id for p in b.points()]
    c = parse_spec({**json.loads("{}"), "sweep": {"workloads": ["tiny"]},
                    "axes": {"array": ["4x4", "8x8"]}})
    assert c.hash != a.hash


def test_ranges_and_sampling_are_deterministic():
    base = {"sweep": {"workloads": ["tiny"]},
            "axes": {"array.rows": {"range": [8, 64], "step": 8},
                     "memory.dram_bytes_per_cycle": {"range": [2.0, 32.0]},
                     "weights.crf_ports": [0, 1, 2]}}
    for method in ("random", "lhs"):
        spec = parse_spec({**base, "sample": {"method": method, "n": 40, "seed": 3}})
        a1, a2 = spec.assignments(), spec.assignments()
        assert a1 == a2 and len(a1) == 40
        rows = [a["array.rows"] for a in a1]
        assert set(rows) <= set(range(8, 65, 8))
        bw = [a["memory.dram_bytes_per_cycle"] for a in a1]
        assert all(2.0 <= x < 32.0 for x in bw)
        other = parse_spec({**base, "sample": {"method": method, "n": 40, "seed": 4}})
        assert other.assignments() != a1 and other.hash != spec.hash
    # Latin hypercube: each of n strata of a continuous axis holds exactly one sample
    spec = parse_spec({**base, "sample": {"method": "lhs", "n": 10, "seed": 0}})
    bw = np.array([a["memory.dram_bytes_per_cycle"] for a in spec.assignments()])
    assert sorted(((bw - 2.0) / 30.0 * 10).astype(int)) == list(range(10))
    grid = parse_spec({"sweep": {"workloads": ["tiny"]},
                       "axes": {"memory.l2_bytes": {"log2_range": [100000, 1100000]}}})
    assert grid.axes[0].values == (131072, 262144, 524288, 1048576)


def test_square_array_axis_and_fixed_keys():
    spec = parse_spec({"sweep": {"workloads": ["tiny"], "base": "ws"},
                       "fixed": {"memory.dram_latency_cycles": 7},
                       "axes": {"array": ["8x8", "16x32"]}})
    archs = [p.arch for p in spec.points()]
    assert [(a.array.rows, a.array.cols) for a in archs] == [(8, 8), (16, 32)]
    assert all(a.memory.dram_latency_cycles == 7 and a.dataflow.kind == "ws" for a in archs)


def test_base_toml_file(tmp_path):
    (tmp_path / "my.toml").write_text('preset = "ws"\n[memory]\nl2_bytes = 524288\n')
    spec = load_spec(_spec(tmp_path, """
    [sweep]
    workloads = ["tiny"]
    base = "my.toml"
    [axes]
    "array.cols" = [8, 16]
    """))
    archs = [p.arch for p in spec.points()]
    assert all(a.dataflow.kind == "ws" and a.memory.l2_bytes == 524288 for a in archs)
    h = spec.hash
    (tmp_path / "my.toml").write_text('preset = "ws"\n[memory]\nl2_bytes = 262144\n')
    assert load_spec(tmp_path / "spec.toml").hash != h   # the base file is part of the spec


@pytest.mark.parametrize("data, needle", [
    ({"sweep": {"workloads": ["tiny"]}, "axes": {"array.rowz": [1]}},
     "field 'axes.array.rowz': unknown key (allowed: array.rows, array.cols"),
    ({"sweep": {"workloads": ["tiny"]}, "axes": {"memroy.l2_bytes": [1]}},
     "field 'axes.memroy.l2_bytes': unknown key"),
    ({"sweep": {"workloads": ["tiny"]}, "axes": {"array.rows": []}},
     "field 'axes.array.rows': empty list"),
    ({"sweep": {"workloads": ["tiny"]}, "axes": {"array.rows": {"range": [64, 8], "step": 8}}},
     "empty range"),
    ({"sweep": {"workloads": ["tiny"]}, "axes": {"memory.l2_bytes": {"log2_range": [5, 7]}}},
     "no power of two"),
    ({"sweep": {"workloads": ["tiny"]}, "axes": {"array.rows": [8]},
      "sample": {"method": "random", "n": 0}}, "field 'sample.n': sample size"),
    ({"sweep": {"workloads": ["tiny"]}, "axes": {"array.rows": [8]},
      "sample": {"method": "lhs"}}, "field 'sample.n'"),
    ({"sweep": {"workloads": ["tiny"]}, "sample": {"method": "sobol", "n": 3}},
     "allowed: grid, random, lhs"),
    ({"sweep": {"workloads": ["tiny"]}, "axes": {"array.rows": [0, 8]}},
     "field 'array.rows': 0 is out of range"),
    ({"sweep": {"workloads": ["tiny"]}, "axes": {"dataflow.kind": ["ews", "magic"]}},
     "allowed: ws, ews, mvq, s2ta, scalesim-ws"),
    ({"sweep": {"workloads": ["tiny"]}, "axes": {"preset": ["ews", "nope"]}},
     "unknown preset 'nope'"),
    ({"sweep": {"workloads": ["tiny"]}, "axes": {"array": ["8by8"]}}, "not an array shape"),
    ({"sweep": {"workloads": ["tiny"]}, "axes": {"array.rows": 8}}, "belong in [fixed]"),
    ({"sweep": {"workloads": ["tiny"]}, "axes": {"array.rows": {"range": [8, 64]}}},
     "needs sampling"),
    ({"sweep": {"workloads": ["nonet"]}}, "unknown workload 'nonet'"),
    ({"sweep": {}}, "field 'sweep.workloads'"),
    ({"sweep": {"workloads": ["tiny"]}, "constraints": {"energy_pJ": {"max": 1}}},
     "unknown pre-simulation metric"),
    ({"sweep": {"workloads": ["tiny"]}, "constraints": {"pes": {"max": 1, "min": 5}}},
     "min > max"),
    ({"sweep": {"workloads": ["tiny"]}, "grid": {}}, "field 'grid': unknown table"),
    ({"sweep": {"workloads": ["tiny"], "base": "ws"}, "axes": {"preset": ["ews"]}},
     "both a base and a preset axis"),
])
def test_bad_specs_are_one_line_errors(data, needle):
    assert needle in _err(data)


def test_area_constraint_uses_the_area_model():
    from ewssim.area import area
    from ewssim.dataflow import resolve
    from ewssim.sweep.metrics import pre_sim_metrics

    small, big = config.PRESETS["ews"].with_array(8, 8), config.PRESETS["ews"]
    a = pre_sim_metrics(small)["area_mm2"]
    b = pre_sim_metrics(big)["area_mm2"]
    assert 0 < a < b and b == pytest.approx(area(resolve(big)).total_mm2)
    spec = parse_spec({"sweep": {"workloads": ["tiny"]},
                       "axes": {"array": ["8x8", "64x64"]},
                       "constraints": {"area_mm2": {"max": (a + b) / 2}}})
    pts = spec.points()
    assert [p.status for p in pts] == ["pending", "skipped"]
    assert pts[1].reason.startswith("constraint area_mm2 = ")


# ----------------------------------------------------------------------------- running

def test_run_resume_determinism_and_export(tmp_path):
    spec = load_spec(_spec(tmp_path))
    db1, db2 = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    s = run_sweep(spec, db1, executor="inline")
    assert (s.total, s.already, s.errors) == (18, 0, 0) and s.ran + s.skipped == 18
    again = run_sweep(spec, db1, executor="inline")
    assert (again.already, again.ran, again.skipped) == (18, 0, 0)
    run_sweep(spec, db2, executor="local", workers=2)
    assert dump(db1) == dump(db2)                       # same spec => same content
    df = read_results(db1, status=None)
    assert len(df) == 18 and df["point_id"].is_unique
    ok = df[df.status == "ok"]
    assert len(ok) == s.ran
    # every config key and every total is a column; values are those of a direct run
    from ewssim import api

    row = ok.iloc[0]
    p = next(p for p in spec.points() if p.point_id == row.point_id)
    tot = api.simulate(p.arch, "tiny", weights="analytic").totals
    for k, v in tot.items():
        col = "network" if k == "workload" else k
        assert row[col] == (pytest.approx(v) if isinstance(v, float) else v), k
    for k, v in flat_config(p.arch).items():
        assert row[k] == (int(v) if isinstance(v, bool) else v), k
    out = export(db1, tmp_path / "r.csv")
    import pandas as pd

    assert len(pd.read_csv(out)) == 18


def test_per_layer_rows(tmp_path):
    spec = parse_spec({"sweep": {"workloads": ["tiny"], "per_layer": True},
                       "axes": {"array": ["8x8", "16x16"]}})
    db = tmp_path / "l.sqlite"
    run_sweep(spec, db, executor="inline")
    con = sqlite3.connect(db)
    n = con.execute("SELECT COUNT(*), COUNT(DISTINCT point_id) FROM layers").fetchone()
    assert n == (2 * 6, 2)
    cols = [r[1] for r in con.execute("PRAGMA table_info(layers)")]
    assert {"layer", "total_cycles", "dram_read_bytes"} <= set(cols)


def test_another_specs_database_is_refused_untouched(tmp_path):
    spec = load_spec(_spec(tmp_path))
    db = tmp_path / "a.sqlite"
    run_sweep(spec, db, executor="inline")
    before = dump(db)
    raw = db.read_bytes()
    other = parse_spec({"sweep": {"workloads": ["tiny"]}, "axes": {"array": ["8x8"]}})
    with pytest.raises(InputError, match="different sweep spec"):
        run_sweep(other, db, executor="inline")
    assert dump(db) == before and db.read_bytes() == raw
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 10)
    with pytest.raises(InputError, match="not an ewssim sweep results database"):
        run_sweep(other, junk, executor="inline")
    assert junk.read_bytes() == b"not a database at all" * 10


def test_errors_in_a_point_are_recorded_and_retried(tmp_path, monkeypatch):
    spec = parse_spec({"sweep": {"workloads": ["tiny"]}, "axes": {"array": ["8x8", "16x16"]}})
    db = tmp_path / "e.sqlite"
    from ewssim import api

    real = api.simulate

    def flaky(arch, *a, **k):
        if arch.array.rows == 16:
            raise RuntimeError("boom")
        return real(arch, *a, **k)

    monkeypatch.setattr(api, "simulate", flaky)
    s = run_sweep(spec, db, executor="inline")
    assert (s.ran, s.errors) == (1, 1) and "RuntimeError: boom" in s.error_reasons[0]
    monkeypatch.setattr(api, "simulate", real)
    s = run_sweep(spec, db, executor="inline")
    assert (s.already, s.ran, s.errors) == (1, 1, 0)
    assert set(read_results(db, status=None)["status"]) == {"ok"}


def test_bad_executor_arguments(tmp_path):
    spec = parse_spec({"sweep": {"workloads": ["tiny"]}})
    db = tmp_path / "x.sqlite"
    with pytest.raises(InputError, match="--workers"):
        run_sweep(spec, db, workers=0)
    with pytest.raises(InputError, match="needs the dask executor"):
        run_sweep(spec, db, scheduler="tcp://127.0.0.1:1")
    assert not db.exists()


# ----------------------------------------------------------------------------- pareto

def test_pareto_mask():
    v = np.array([[1, 5], [2, 2], [3, 3], [5, 1], [2, 2], [4, 1], [6, 6]])
    assert pareto_mask(v).tolist() == [True, True, False, False, True, True, False]
    assert pareto_mask(v, [True, True]).tolist() == [False] * 6 + [True]
    rng = np.random.default_rng(0)
    pts = rng.random((200, 3))
    m = pareto_mask(pts)
    for i in range(len(pts)):  # brute force
        dom = np.any(np.all(pts <= pts[i], axis=1) & np.any(pts < pts[i], axis=1))
        assert m[i] == (not dom)


def test_front_and_heatmap_tables(tmp_path):
    spec = load_spec(_spec(tmp_path))
    db = tmp_path / "a.sqlite"
    run_sweep(spec, db, executor="inline")
    df = read_results(db)
    fr = front(df, ["pes", "total_cycles"])
    assert len(fr) >= 1 and fr["pes"].is_monotonic_increasing
    assert fr["total_cycles"].is_monotonic_decreasing
    t = heatmap_table(df, "array", "memory.l2_bytes", "total_cycles")
    assert list(t.index) == ["4x4", "8x8", "16x16"]     # natural order, not text order
    with pytest.raises(InputError, match="no column 'bogus'"):
        front(df, ["pes", "bogus"])


def test_cli_sweep_pareto_plots(tmp_path, capsys):
    spec = _spec(tmp_path)
    db = tmp_path / "r.sqlite"
    assert main(["sweep", str(spec), "--out", str(db), "--executor", "inline",
                 "--export", str(tmp_path / "r.csv")]) == 0
    assert (tmp_path / "r.csv").is_file()
    capsys.readouterr()
    assert main(["pareto", str(db), "--x", "pes", "--y", "total_cycles", "--json",
                 "--plot", str(tmp_path / "p.png")]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and {"point_id", "pes", "total_cycles", "array"} <= set(rows[0])
    assert (tmp_path / "p.png").stat().st_size > 1000
    assert main(["pareto", str(db), "--x", "pes", "--y", "utilization", "--max",
                 "utilization"]) == 0
    assert "utilization (max)" in capsys.readouterr().out
    assert main(["pareto", str(db), "--heatmap", "array", "memory.l2_bytes", "--value",
                 "total_cycles", "--plot", str(tmp_path / "h.png")]) == 0
    assert (tmp_path / "h.png").stat().st_size > 1000
    assert main(["sweep", str(spec), "--out", str(db), "--dry-run"]) == 0
    assert "18 point(s)" in capsys.readouterr().out
    # bad input: one line, exit 2
    capsys.readouterr()
    assert main(["pareto", str(db), "--x", "pes", "--y", "nope"]) == 2
    assert main(["sweep", str(spec), "--out", str(db), "--export", str(tmp_path / "r.xlsx")]) \
        == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 2 and all(line.startswith("ewssim: error:") for line in err[-2:])
