"""`ewssim report`: files, figure labels, HTML links, runs with and without energy/area data,
many layers, bad inputs (InputError, exit 2, one stderr line), safe (re)writing of DIR."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ewssim import api
from ewssim.cli import main
from ewssim.errors import InputError
from ewssim.report import FIGURES, build_figures, data, make_report, plots, read_run

BASE_FIGURES = {"cycles", "utilization", "data_access"}
ALL_FIGURES = {s.name for s in FIGURES}
COMPONENTS = ["mac", "rf", "hop", "mux", "lzc", "crf", "l1", "l2", "dram", "leak"]
AREA = {"total_mm2": 2.5, "blocks": {"array": 1.0, "loader": 0.2, "crf": 0.05, "l1": 0.45,
                                     "l2": 0.8}}


@pytest.fixture(autouse=True)
def _small_pngs(monkeypatch):
    """Nothing here looks at pixels: render at a low DPI to keep the tests fast."""
    monkeypatch.setattr(plots, "DPI", 40)


@pytest.fixture(scope="module")
def sim_run(tmp_path_factory) -> Path:
    """A run directory as `ewssim run --out` writes it (with energy/area data once the energy
    model is in, without before)."""
    return api.simulate("ews", "tiny").write(tmp_path_factory.mktemp("run") / "tiny-ews")


@pytest.fixture(scope="module")
def tiny_run(sim_run, tmp_path_factory) -> Path:
    """The same run without any energy or area data (as runs made before the energy model)."""
    dst = tmp_path_factory.mktemp("run") / "tiny-plain"
    dst.mkdir()
    df = pd.read_csv(sim_run / "layers.csv")
    df.drop(columns=[c for c in df.columns if c.startswith(("energy_", "tops_per_w"))
                     or c == "area_mm2"]).to_csv(dst / "layers.csv", index=False)
    s = json.loads((sim_run / "summary.json").read_text())
    s.pop("area", None)
    s["totals"] = {k: v for k, v in s["totals"].items()
                   if not k.startswith(("energy_", "tops_per_w")) and k != "area_mm2"}
    (dst / "summary.json").write_text(json.dumps(s))
    return dst


def add_energy(src: Path, dst: Path, *, area: bool = True, other_pj: float = 0.0) -> Path:
    """Copy a run directory and give it the energy/area columns the energy model will add."""
    dst.mkdir(parents=True)
    df = pd.read_csv(src / "layers.csv")
    assert not any(c.startswith("energy_") for c in df.columns)
    rng = np.random.default_rng(1)
    for i, c in enumerate(COMPONENTS):
        df[f"energy_{c}_pJ"] = df["macs"] * (0.05 + 0.02 * i) * rng.uniform(0.5, 1.5, len(df))
    df["energy_pJ"] = df[[f"energy_{c}_pJ" for c in COMPONENTS]].sum(axis=1) + other_pj
    df["tops_per_w_dense"] = 2 * df["macs"] / df["energy_pJ"]
    df["tops_per_w_executed"] = 2 * df["executed_macs"] / df["energy_pJ"]
    df["area_mm2"] = AREA["total_mm2"]
    df.to_csv(dst / "layers.csv", index=False)
    s = json.loads((src / "summary.json").read_text())
    for c in df.columns:
        if c.startswith("energy_"):
            s["totals"][c] = float(df[c].sum())
    s["totals"]["tops_per_w_dense"] = float(2 * df["macs"].sum() / df["energy_pJ"].sum())
    if area:
        s["area"] = AREA
    (dst / "summary.json").write_text(json.dumps(s))
    return dst


def synthetic_run(dst: Path, n: int, *, energy: bool) -> Path:
    """A run directory written from scratch: ``n`` layers with long DeiT-like names."""
    dst.mkdir(parents=True)
    rng = np.random.default_rng(n)
    comp = rng.integers(1_000, 100_000, n)
    stall = rng.integers(0, 50_000, n)
    df = pd.DataFrame({"layer": [f"blocks.{i // 6}.attn.qkv_{i}" for i in range(n)],
                       "compute_cycles": comp, "stall_cycles": stall,
                       "total_cycles": comp + stall, "macs": comp * 4096,
                       "utilization": comp / (comp + stall),
                       "dram_read_bytes": rng.integers(0, 10**6, n),
                       "dram_write_bytes": rng.integers(0, 10**5, n),
                       "l2_read_bytes": rng.integers(0, 10**7, n),
                       "l2_write_bytes": rng.integers(0, 10**6, n)})
    totals = {"workload": "synthetic", "arch": "ews", "total_cycles": int(df.total_cycles.sum())}
    summary: dict = {"totals": totals}
    if energy:
        for c in COMPONENTS:
            df[f"energy_{c}_pJ"] = rng.uniform(1e5, 1e7, n)
        summary["area"] = AREA
    df.to_csv(dst / "layers.csv", index=False)
    (dst / "summary.json").write_text(json.dumps(summary))
    return dst


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[str] = []
        self.ids: set[str] = set()
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for key in ("src", "href"):
            if a.get(key) is not None:
                self.refs.append(a[key])


def check_page(out: Path) -> list[str]:
    """Every src/href of index.html is a file in the report or an anchor on the page; no
    script, no external URL.  Returns the image sources."""
    text = (out / "index.html").read_text()
    p = _Refs()
    p.feed(text)
    assert "script" not in p.tags and "<script" not in text.lower()
    assert "://" not in text and "url(" not in text
    imgs = []
    for ref in p.refs:
        if ref.startswith("#"):
            assert ref[1:] in p.ids, ref
            continue
        assert "/" not in ref and ":" not in ref, ref  # relative, inside DIR
        assert (out / ref).is_file(), ref
        if ref.endswith(".png"):
            imgs.append(ref)
    return imgs


def test_report_without_energy_or_area(tiny_run, tmp_path):
    out = tmp_path / "rep"
    index = make_report(tiny_run, out)
    assert index == out / "index.html"
    pngs = {p.stem for p in out.glob("*.png")}
    assert pngs == BASE_FIGURES
    assert {Path(s).stem for s in check_page(out)} == pngs
    for name in pngs:
        assert (out / f"{name}.csv").is_file()
    assert (out / "layers.csv").read_bytes() == (tiny_run / "layers.csv").read_bytes()
    assert (out / "summary.json").read_bytes() == (tiny_run / "summary.json").read_bytes()
    text = (out / "index.html").read_text()
    assert "This run has no energy data" in text and "This run has no area data" in text
    assert "tiny on ews" in text and "dw2" in text
    marker = json.loads((out / "report.json").read_text())
    assert set(marker["figures"]) == pngs and marker["has_energy"] is False
    cyc = pd.read_csv(out / "cycles.csv")
    run = pd.read_csv(tiny_run / "layers.csv")
    assert cyc["stall_cycles"].tolist() == run["stall_cycles"].tolist()


def test_report_with_energy_and_area(tiny_run, tmp_path):
    src = add_energy(tiny_run, tmp_path / "run-e", other_pj=5.0)
    out = tmp_path / "rep"
    make_report(src, out)
    pngs = {p.stem for p in out.glob("*.png")}
    assert pngs == ALL_FIGURES
    assert {Path(s).stem for s in check_page(out)} == pngs
    text = (out / "index.html").read_text()
    assert "no energy data" not in text and "no area data" not in text
    assert "mm²" in text and "TOPS/W" in text
    layers = pd.read_csv(src / "layers.csv")
    comp = pd.read_csv(out / "energy_by_component.csv")
    # components + the unattributed rest add up to each layer's energy_pJ
    assert np.allclose(comp.drop(columns="layer").sum(axis=1), layers["energy_pJ"])
    assert np.allclose(comp["energy_other_pJ"], 5.0)
    level = pd.read_csv(out / "energy_by_level.csv")
    assert np.allclose(level.drop(columns="layer").sum(axis=1), layers["energy_pJ"])
    tot = pd.read_csv(out / "energy_totals.csv")
    assert np.isclose(tot["energy_pJ"].sum(), layers["energy_pJ"].sum())
    area = pd.read_csv(out / "area.csv")
    assert list(area["block"]) == data.AREA_BLOCKS
    assert np.isclose(area["area_mm2"].sum(), AREA["total_mm2"])


def test_energy_without_area(tiny_run, tmp_path):
    src = add_energy(tiny_run, tmp_path / "run-e", area=False)
    out = tmp_path / "rep"
    make_report(src, out)
    assert {p.stem for p in out.glob("*.png")} == ALL_FIGURES - {"area"}
    text = (out / "index.html").read_text()
    assert "no area data" in text and "no energy data" not in text


@pytest.mark.parametrize("energy", [False, True])
def test_every_figure_labelled_with_units(tiny_run, tmp_path, energy):
    src = add_energy(tiny_run, tmp_path / "run-e") if energy else tiny_run
    figs = build_figures(read_run(src))
    assert set(figs) == (ALL_FIGURES if energy else BASE_FIGURES)
    for name, (fig, table) in figs.items():
        assert plots.label_problems(fig) == [], name
        assert any(ax.has_data() for ax in fig.axes), name
        assert any(ax.get_legend() for ax in fig.axes) or fig.legends or name in (
            "energy_totals", "area"), name  # those two label their bars directly
        assert not table.empty, name


def test_label_check_catches_missing_units():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("energy")
    ax.set_title("t")
    probs = plots.label_problems(fig)
    assert any("no unit" in p for p in probs) and any("empty y" in p for p in probs)


def test_many_layers_stay_readable(tmp_path):
    """74 layers (DeiT-tiny): every name is a tick label and no two labels overlap."""
    run = read_run(synthetic_run(tmp_path / "run", 74, energy=True))
    for fn in (plots.cycles, plots.energy_by_component):
        fig = fn(run)
        assert plots.label_problems(fig) == []
        ax = fig.axes[0]
        fig.canvas.draw()
        labels = [t for t in ax.get_yticklabels() if t.get_text()]
        assert [t.get_text() for t in labels] == run.layers["layer"].tolist()
        boxes = sorted((t.get_window_extent() for t in labels), key=lambda b: b.y0)
        assert all(a.y1 <= b.y0 + 0.5 for a, b in zip(boxes, boxes[1:], strict=False))
        assert min(t.get_fontsize() for t in labels) >= 7


def test_synthetic_minimal_run(tmp_path):
    """Only the required columns (no operand split, no L1): read/write totals are plotted."""
    src = synthetic_run(tmp_path / "run", 5, energy=False)
    out = tmp_path / "rep"
    make_report(src, out)
    acc = pd.read_csv(out / "data_access.csv")
    assert list(acc.columns) == ["layer", "dram_read_bytes", "dram_write_bytes",
                                 "l2_read_bytes", "l2_write_bytes"]
    check_page(out)


def test_cli(tiny_run, tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["report", str(tiny_run), "--out", str(out)]) == 0
    o, e = capsys.readouterr()
    assert o.strip() == f"wrote {out / 'index.html'}" and e == ""
    # an earlier report is replaced
    (out / "stale.txt").write_text("x")
    assert main(["report", str(tiny_run), "--out", str(out)]) == 0
    assert not (out / "stale.txt").exists() and (out / "index.html").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def _corrupt(run: Path, tmp: Path, how: str) -> tuple[Path, str]:
    """(bad run dir, text the error must name)."""
    d = tmp / f"bad-{how}"
    if how == "no-dir":
        return d, str(d)
    shutil.copytree(run, d)
    csv, js = d / "layers.csv", d / "summary.json"
    df = pd.read_csv(csv)
    if how == "no-layers":
        csv.unlink()
        return d, "layers.csv"
    if how == "empty-layers":
        csv.write_text("")
        return d, "layers.csv"
    if how == "missing-column":
        df.drop(columns="stall_cycles").to_csv(csv, index=False)
        return d, "'stall_cycles'"
    if how == "not-a-number":
        df["total_cycles"] = df["total_cycles"].astype(object)
        df.loc[2, "total_cycles"] = "lots"
        df.to_csv(csv, index=False)
        return d, "layers.csv:4: field 'total_cycles'"
    if how == "bad-energy":
        df["energy_mac_pJ"] = 1.0
        df["energy_mac_pJ"] = df["energy_mac_pJ"].astype(object)
        df.loc[0, "energy_mac_pJ"] = "n/a"
        df.to_csv(csv, index=False)
        return d, "'energy_mac_pJ'"
    if how == "no-summary":
        js.unlink()
        return d, "summary.json"
    if how == "bad-json":
        js.write_text('{"totals": {')
        return d, "summary.json"
    if how == "no-totals":
        js.write_text('{"arch_toml": ""}')
        return d, "'totals'"
    if how == "bad-area":
        s = json.loads(js.read_text())
        s["area"] = {"total_mm2": 1.0, "blocks": {"array": "big"}}
        js.write_text(json.dumps(s))
        return d, "'area.blocks.array'"
    raise AssertionError(how)


BAD = ["no-dir", "no-layers", "empty-layers", "missing-column", "not-a-number", "bad-energy",
       "no-summary", "bad-json", "no-totals", "bad-area"]


@pytest.mark.parametrize("how", BAD)
def test_bad_run_dir(tiny_run, tmp_path, capsys, how):
    bad, names = _corrupt(tiny_run, tmp_path, how)
    out = tmp_path / "rep"
    with pytest.raises(InputError, match=re.escape(names)):
        make_report(bad, out)
    assert main(["report", str(bad), "--out", str(out)]) == 2
    o, e = capsys.readouterr()
    assert o == "" and e.count("\n") == 1 and e.startswith("ewssim: error: ") and names in e
    assert "Traceback" not in e
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_refuses_to_overwrite_other_directories(tiny_run, tmp_path, capsys):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.tex").write_text("keep me")
    assert main(["report", str(tiny_run), "--out", str(out)]) == 2
    _, e = capsys.readouterr()
    assert e.count("\n") == 1 and "not an ewssim report" in e and str(out) in e
    assert (out / "thesis.tex").read_text() == "keep me" and len(list(out.iterdir())) == 1
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InputError, match="not an ewssim report"):
        make_report(tiny_run, f)
    # a run directory is not a report either
    with pytest.raises(InputError, match="not an ewssim report"):
        make_report(tiny_run, tiny_run)
    # an empty directory is fine
    empty = tmp_path / "empty"
    empty.mkdir()
    make_report(tiny_run, empty)
    assert (empty / "index.html").is_file()


def test_failure_leaves_no_half_written_dir(tiny_run, tmp_path, monkeypatch):
    out = tmp_path / "rep"
    make_report(tiny_run, out)
    before = sorted(p.name for p in out.iterdir())

    def boom(fig, path):
        raise RuntimeError("disk full")

    monkeypatch.setattr(plots, "save", boom)
    with pytest.raises(RuntimeError):
        make_report(tiny_run, out)  # the earlier report stays as it was
    assert sorted(p.name for p in out.iterdir()) == before
    with pytest.raises(RuntimeError):
        make_report(tiny_run, tmp_path / "new")
    assert not (tmp_path / "new").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_report_of_a_simulated_run(sim_run, tmp_path):
    """Whatever `RunResult.write` produces today (with or without energy/area) reports."""
    run = read_run(sim_run)
    out = tmp_path / "rep"
    make_report(sim_run, out)
    want = BASE_FIGURES | ({"energy_by_component", "energy_by_level", "energy_totals"}
                           if run.has_energy else set()) | ({"area"} if run.has_area else set())
    assert {p.stem for p in out.glob("*.png")} == want
    assert {Path(s).stem for s in check_page(out)} == want
    for fig, _ in build_figures(run).values():
        assert plots.label_problems(fig) == []


def test_report_of_a_report(tiny_run, tmp_path):
    """A report directory holds layers.csv and summary.json, so it can be re-rendered."""
    out = tmp_path / "rep"
    make_report(tiny_run, out)
    make_report(out, out)
    assert (out / "index.html").is_file() and (out / "layers.csv").is_file()
