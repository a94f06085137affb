"""`ewssim report RESULTS.sqlite`: Pareto fronts and heat maps of a sweep."""

from __future__ import annotations

import re

import pandas as pd

from ewssim.cli import main

SPEC = """[sweep]
workloads = ["tiny"]
base = "ews"
weights = "analytic"

[axes]
"array" = ["8x8", "16x16"]
"memory.dram_bytes_per_cycle" = [4, 16]
"""


def test_sweep_report_has_fronts_heatmaps_and_resolving_links(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    db = tmp_path / "r.sqlite"
    assert main(["sweep", str(spec), "--out", str(db), "--executor", "inline"]) == 0
    out = tmp_path / "rep"
    assert main(["report", str(db), "--out", str(out)]) == 0
    page = (out / "index.html").read_text()
    targets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert targets and all((out / t).exists() for t in targets)
    assert any(t.startswith("pareto_tiny_energy_pJ_vs_area_mm2") for t in targets)
    assert any(t.startswith("heatmap_tiny_total_cycles") for t in targets)
    front = pd.read_csv(out / "pareto_tiny_energy_pJ_vs_area_mm2.csv")
    assert 1 <= len(front) <= 4
    # rerunning replaces its own report; a foreign directory is refused
    assert main(["report", str(db), "--out", str(out)]) == 0
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "x.txt").write_text("keep")
    capsys.readouterr()
    assert main(["report", str(db), "--out", str(foreign)]) == 2
    assert (foreign / "x.txt").read_text() == "keep"
