"""`ewssim reproduce mvq`: the paper table and a complete, linked report."""

from __future__ import annotations

import json
import re

import pytest

from ewssim.cli import main
from ewssim.reproduce import RUNS


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("r") / "mvq"
    assert main(["reproduce", "mvq", "--out", str(out), "--weights", "analytic"]) == 0
    return out


def test_first_table_is_paper_vs_ewssim(report):
    md = (report / "summary.md").read_text()
    first = md[md.index("| figure"):].splitlines()
    assert first[0].startswith("| figure | paper | ewssim | ewssim / paper")
    rows = json.loads((report / "reproduce.json").read_text())["rows"]
    figures = [r["figure"] for r in rows]
    for want in ("base EWS", "MVQ sparse array", "MVQ over EWS", "EWS over WS", "SSVQ"):
        assert any(want in f for f in figures), want
    area = {r["figure"]: r for r in rows}
    ews = next(r for f, r in area.items() if "base EWS" in f)
    mvq = next(r for f, r in area.items() if "MVQ sparse" in f)
    assert ews["paper"] == 4.236 and mvq["paper"] == 2.129
    # predictions, not fits: the EWS array misses by over 10%, and the row says why
    assert ews["ratio"] > 1.10 and "WRF" in ews["cause"] and "294,912" in ews["cause"]
    for want in ("16×16", "32×32", "64×64", "S2TA-AW", "Whole-accelerator area, mvq"):
        assert any(want in f for f in figures), want


def test_every_gap_over_ten_percent_has_a_cause(report):
    rows = json.loads((report / "reproduce.json").read_text())["rows"]
    for r in rows:
        if r["ratio"] is not None and abs(r["ratio"] - 1) > 0.10:
            assert r["cause"], r["figure"]
        assert r["runs"], r["figure"]
    bands = json.loads((report / "reproduce.json").read_text())["bands"]
    # SSVQ's speed-up falls with bandwidth; the paper's 3x sits between 2 and 4 B/cycle here
    sp = bands["ssvq_speedup"]
    assert all(a >= b for a, b in zip(sp, sp[1:], strict=False)) and sp[0] > 3 > sp[-1]
    assert 2 < bands["ssvq_3x_at_dram_bytes_per_cycle"] < 4
    assert 5 < bands["wrf_depth_implied"]["ews"] < bands["wrf_depth_implied"]["mvq"] < 9
    assert "## Bands" in (report / "summary.md").read_text()
    studies = (report / "studies.md").read_text()
    assert "ppocr-det" in studies and "tinyllama-1.1b-decode" in studies
    assert studies.count("| s2ta-aw |") == 2


def test_every_link_resolves(report):
    for page in [report / "index.html", *report.glob("runs/*/report/index.html")]:
        for target in re.findall(r'(?:href|src)="([^"#]+)"', page.read_text()):
            assert "://" not in target
            assert (page.parent / target).exists(), (page, target)
    assert {p.name for p in (report / "runs").iterdir()} == set(RUNS)


def test_refuses_to_replace_a_foreign_directory(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["reproduce", "mvq", "--out", str(tmp_path), "--weights", "analytic"]) == 2
    assert (tmp_path / "keep.txt").read_text() == "mine"
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
