"""Energy: monotone in every engine count, leakage only when idle, INT8 = VQ(d=1, k=256, 1:1)
weight payload at every level, and the run outputs."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ewssim import api, config
from ewssim.dataflow import resolve
from ewssim.energy import COMPONENTS, ENERGY_COLUMNS, EnergyModel, levels
from ewssim.tech import load as load_tech

COUNTS = sorted(api.TRAFFIC_COLUMNS)
MODELS = {name: EnergyModel(resolve(config.PRESETS[name])) for name in ("ews", "mvq", "ssvq")}


def _cost(em: EnergyModel, column: str) -> float:
    return sum(a.pJ for a in em.actions if a.count == column)


def test_a_missing_count_or_table_entry_raises():
    from ewssim.errors import EwssimError

    em = MODELS["mvq"]
    with pytest.raises(EwssimError, match="no count 'executed_macs'"):
        em.energy({}, 0)
    with pytest.raises(EwssimError, match="no entry 'nonsense'"):
        em.tech["nonsense"]
    with pytest.raises(EwssimError, match="SRAM of 0 B"):
        em.tech.sram_area(0)


def test_every_count_the_engine_produces_is_priced_or_is_a_duplicate():
    priced = {a.count for em in MODELS.values() for a in em.actions}
    # int8_weight_bytes is a reference figure, not traffic; the rest are all priced
    assert set(api.TRAFFIC_COLUMNS) - priced == {"int8_weight_bytes", "dram_read_bytes",
                                                 "dram_write_bytes", "l2_read_bytes",
                                                 "l2_write_bytes"} & set(api.TRAFFIC_COLUMNS)
    for em in MODELS.values():
        assert all(a.pJ >= 0 for a in em.actions)
        assert _cost(em, "executed_macs") > 0 and _cost(em, "dram_weight_read_bytes") > 0


@settings(max_examples=60, deadline=None)
@given(preset=st.sampled_from(sorted(MODELS)),
       counts=st.fixed_dictionaries({c: st.integers(0, 10**9) for c in COUNTS}),
       column=st.sampled_from(COUNTS), extra=st.integers(1, 10**6),
       cycles=st.integers(0, 10**7))
def test_energy_is_monotone_in_every_count(preset, counts, column, extra, cycles):
    em = MODELS[preset]
    before = em.energy(counts, cycles)
    after = em.energy({**counts, column: counts[column] + extra}, cycles)
    assert after["energy_pJ"] >= before["energy_pJ"]
    for c in COMPONENTS:
        assert after[f"energy_{c}_pJ"] >= before[f"energy_{c}_pJ"]
    if _cost(em, column) > 0:
        assert after["energy_pJ"] > before["energy_pJ"]
    else:
        assert after["energy_pJ"] == before["energy_pJ"]
    assert before["energy_pJ"] == pytest.approx(sum(before[f"energy_{c}_pJ"]
                                                    for c in COMPONENTS))


def test_zero_activity_costs_only_leakage():
    for em in MODELS.values():
        e = em.energy(dict.fromkeys(COUNTS, 0), cycles=1000)
        assert em.leakage_uW > 0
        assert e["energy_pJ"] == e["energy_leak_pJ"] == pytest.approx(em.leakage_uW * 1000 / 1000)
        assert em.energy(dict.fromkeys(COUNTS, 0), cycles=0)["energy_pJ"] == 0


def test_dram_type_and_tech_change_the_price():
    a = config.PRESETS["ews"]
    ddr3 = dataclasses.replace(a, memory=dataclasses.replace(a.memory, dram_type="DDR3"))
    c = {**dict.fromkeys(COUNTS, 0), "dram_act_read_bytes": 1000}
    assert EnergyModel(resolve(ddr3)).energy(c, 0)["energy_dram_pJ"] == pytest.approx(1000 * 8 * 70)
    assert EnergyModel(resolve(a)).energy(c, 0)["energy_dram_pJ"] == pytest.approx(1000 * 8 * 8)
    m16 = EnergyModel(resolve(a), load_tech("16nm"))
    one_mac = {**dict.fromkeys(COUNTS, 0), "executed_macs": 1}
    assert m16.energy(one_mac, 0)["energy_pJ"] < \
        EnergyModel(resolve(a)).energy(one_mac, 0)["energy_pJ"]


def _vq_int8_archs():
    """INT8 EWS and the same with d = 1, k = 256 VQ weights; DRAM bursts of one byte, so that
    DRAM bytes are the payload."""
    ews = config.PRESETS["ews"].replace("memory.dram_burst_bytes", 1)
    vq = config.PRESETS["vq"].replace({"weights.format": "vq", "weights.nm": "1:1",
                                       "weights.d": 1, "weights.k": 256,
                                       "weights.int8_if_larger": False,
                                       "memory.dram_burst_bytes": 1})
    return ews, vq


def test_vq_d1_k256_unpruned_moves_the_int8_payload_at_every_level():
    """With N = M, d = 1 and k = 256 every weight is an 8-bit index: with the same mapping the
    weight *payload* at DRAM, L2 and L1 equals INT8 byte for byte, and so does its energy;
    the overhead -- the codebook (256 x 1 B) and its float32 scale, 260 B per layer -- rides
    with the first weight block, which is read once at every level."""
    ews, vq = _vq_int8_archs()
    r8 = api.simulate(ews, "resnet18", weights="analytic")
    same = dict(zip(r8.layers["layer"], r8.layers["mapping"], strict=True))
    rq = api.simulate(vq, "resnet18", weights="analytic", mapping=same)
    assert (rq.layers["mapping"] == r8.layers["mapping"]).all()
    formats, _ = api.weight_formats(vq, r8.network, weights="analytic")
    assert len(formats) == len(r8.network.layers)
    assert all(not f.format.int8 and f.codebook_bytes == 260 for f in formats.values())
    t8, tq = r8.layers, rq.layers
    overhead = {"dram_weight_read_bytes": 260, "l2_weight_read_bytes": 260,
                "l1_weight_read_bytes": 260}
    arr = t8["mapping"] != "vector"
    arr &= t8["mapping"] != "fused"
    for col, over in overhead.items():
        assert ((tq[col] - over)[arr] == t8[col][arr]).all(), col  # payload, layer by layer
        assert (tq[col][~arr] == 0).all() and (t8[col][~arr] == 0).all(), col
    weight_cols = set(overhead)
    em8, emq = EnergyModel(resolve(ews)), EnergyModel(resolve(vq))
    for comp in ("dram", "l2", "l1"):
        p8 = [(a.count, a.pJ) for a in em8.actions if a.component == comp
              and a.count in weight_cols]
        pq = [(a.count, a.pJ) for a in emq.actions if a.component == comp
              and a.count in weight_cols]
        assert p8 == pq and p8, comp  # same price per weight byte
        e8 = sum(t8[c].sum() * pj for c, pj in p8)
        eq = sum(tq[c].sum() * pj for c, pj in pq)
        over = sum(overhead[c] * int(arr.sum()) * pj for c, pj in pq)
        assert eq - over == pytest.approx(e8, rel=1e-12), comp
        assert over > 0
    assert rq.totals["crf_reads"] > 0 and r8.totals["crf_reads"] == 0


def test_run_rows_totals_and_summary_carry_energy_and_area(tmp_path):
    r = api.simulate("mvq", "resnet18", weights="analytic")
    for c in [*ENERGY_COLUMNS, "tops_per_w_dense", "tops_per_w_executed", "area_mm2"]:
        assert c in r.layers.columns and c in r.totals, c
    tot = r.totals
    assert tot["energy_pJ"] == pytest.approx(r.layers["energy_pJ"].sum())
    assert tot["energy_pJ"] == pytest.approx(sum(levels(tot).values()))
    # TOPS/W = ops / energy: dense-equivalent vs executed MACs (1:4 -> 4x)
    assert tot["tops_per_w_dense"] == pytest.approx(2 * tot["macs"] / tot["energy_pJ"])
    assert tot["tops_per_w_dense"] / tot["tops_per_w_executed"] == \
        pytest.approx(tot["macs"] / tot["executed_macs"])
    assert tot["macs"] > tot["executed_macs"]
    r.write(tmp_path)
    s = json.loads((tmp_path / "summary.json").read_text())
    assert set(s["area"]) == {"total_mm2", "blocks"}
    assert set(s["area"]["blocks"]) == {"array", "loader", "crf", "vector", "l1", "l2"}
    assert s["totals"]["area_mm2"] == pytest.approx(s["area"]["total_mm2"])
