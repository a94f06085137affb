"""The dask executor (optional extra ``ewssim[dask]``) and parquet export (``ewssim[parquet]``);
skipped when those packages are absent."""

from __future__ import annotations

import time

import pytest

from ewssim.cli import main
from ewssim.errors import InputError
from ewssim.sweep import dump, export, parse_spec, read_results, run_sweep

DATA = {"sweep": {"workloads": ["tiny"]},
        "axes": {"array": ["4x4", "8x8", "16x16"], "preset": ["ews", "ws"]}}


def test_dask_local_cluster_equals_inline(tmp_path):
    pytest.importorskip("dask.distributed")
    spec = parse_spec(DATA)
    a, b = tmp_path / "dask.sqlite", tmp_path / "inline.sqlite"
    s = run_sweep(spec, a, executor="dask", workers=2)
    assert (s.ran, s.errors) == (6, 0), s.error_reasons
    run_sweep(spec, b, executor="inline")
    assert dump(a) == dump(b)


def test_unreachable_scheduler_is_a_quick_one_line_error(tmp_path, capsys):
    pytest.importorskip("dask.distributed")
    spec = parse_spec(DATA)
    db = tmp_path / "x.sqlite"
    t0 = time.monotonic()
    with pytest.raises(InputError, match="cannot reach the dask scheduler"):
        run_sweep(spec, db, executor="dask", scheduler="tcp://127.0.0.1:9",
                  scheduler_timeout=1.0)
    assert time.monotonic() - t0 < 10
    assert not db.exists()                      # nothing written
    (tmp_path / "s.toml").write_text('[sweep]\nworkloads = ["tiny"]\n')
    assert main(["sweep", str(tmp_path / "s.toml"), "--out", str(db), "--executor", "dask",
                 "--scheduler", "tcp://127.0.0.1:9", "--scheduler-timeout", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--scheduler" in err[0]


def test_parquet_export(tmp_path):
    pytest.importorskip("pyarrow")
    import pandas as pd

    spec = parse_spec(DATA)
    db = tmp_path / "r.sqlite"
    run_sweep(spec, db, executor="inline")
    out = export(db, tmp_path / "r.parquet")
    back = pd.read_parquet(out)
    ref = read_results(db, status=None)
    assert list(back.columns) == list(ref.columns) and len(back) == len(ref) == 6
    assert back["total_cycles"].tolist() == ref["total_cycles"].tolist()
