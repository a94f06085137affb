"""Exact tests of the dataflow plug-in modules' own code (ewssim/dataflow/__init__.py, mvq.py,
s2ta.py, scalesim.py): each plug-in rule's one-line error (field, problem, allowed values)
and the configurations just inside each rule.  Written to kill surviving mutants
(docs/testing.md); the shared weight-stationary rules are in test_mut_systolic.py."""

from __future__ import annotations

import pytest

from ewssim.config.presets import preset
from ewssim.dataflow import DATAFLOWS, get_dataflow
from ewssim.dataflow.ews import EWS
from ewssim.dataflow.mvq import MVQ
from ewssim.dataflow.s2ta import S2TA
from ewssim.dataflow.scalesim import ScaleSimWS
from ewssim.dataflow.ws import WS
from ewssim.errors import InputError


def _error(name, over):
    with pytest.raises(InputError) as info:
        preset(name).replace(over)
    e = info.value
    return e.field, e.problem, e.allowed


def test_get_dataflow_returns_a_fresh_plug_in_of_each_kind():
    for kind, cls in (("ws", WS), ("ews", EWS), ("mvq", MVQ), ("s2ta", S2TA),
                      ("scalesim-ws", ScaleSimWS)):
        df = get_dataflow(kind)
        assert type(df) is cls and df.kind == kind
    assert get_dataflow("ws") is not get_dataflow("ws")


@pytest.mark.parametrize("kind", ["os", "WS", ""])
def test_get_dataflow_unknown_kind(kind):
    with pytest.raises(InputError) as info:
        get_dataflow(kind)
    e = info.value
    assert (e.field, e.problem, e.allowed) == (
        "dataflow.kind", f"unknown dataflow {kind!r}", "ws, ews, mvq, s2ta, scalesim-ws")
    assert str(e) == (f"field 'dataflow.kind': unknown dataflow {kind!r} "
                      "(allowed: ws, ews, mvq, s2ta, scalesim-ws)")
    assert e.__cause__ is None and e.__suppress_context__


def test_mvq_ssvq_does_not_prune():
    assert _error("ssvq", {"weights.nm": "2:4"}) == (
        "weights.nm", "format ssvq does not prune, got N:M = 2:4", "N = M (e.g. 1:1) for ssvq")
    # N = M is accepted, and a pruned mvq format is not ssvq
    preset("ssvq").replace("weights.nm", "4:4")
    preset("mvq").replace("weights.nm", "2:4")


def test_s2ta_activation_block_must_equal_weight_block():
    # N = 2, M = 4, BZ = 8: three different numbers, so each is named correctly
    assert _error("s2ta-aw", {"weights.nm": "2:4", "activations.block": 8}) == (
        "activations.block",
        "the time-unrolled tensor PE pairs a weight block of M = 4 with an activation block of 8",
        "4 (the weight block M of weights.nm)")
    preset("s2ta-aw").replace({"weights.nm": "2:4", "activations.block": 4})
    # without activation DBB the block is not used
    preset("s2ta-w").replace("activations.block", 4)


def test_s2ta_tensor_pe_holds_a_weight_block():
    assert _error("s2ta-aw", {"weights.nm": "3:8", "array.wrf_depth": 2}) == (
        "array.wrf_depth",
        "a time-unrolled tensor PE holds a whole weight block: wrf_depth 2 < NNZ_w = 3", ">= 3")
    preset("s2ta-aw").replace({"weights.nm": "3:8", "array.wrf_depth": 3})
    preset("s2ta-w").replace("array.wrf_depth", 1)


def test_scalesim_needs_ideal_memory():
    assert _error("scalesim-ws", {"memory.ideal": False}) == (
        "memory.ideal",
        "the scalesim-ws dataflow runs SCALE-Sim's own memory model ([scalesim] section), "
        "not ewssim's memories",
        "true with dataflow.kind = scalesim-ws")


_USER = {"scalesim.interface": "user"}


def test_scalesim_user_bandwidth_multiple_of_banks():
    assert _error("scalesim-ws", {**_USER, "scalesim.ifmap_bandwidth": 10,
                                  "scalesim.ifmap_banks": 4}) == (
        "scalesim.ifmap_bandwidth",
        "SCALE-Sim needs the ifmap bandwidth (10) to be a multiple of its banks (4)",
        "a multiple of 4")
    assert _error("scalesim-ws", {**_USER, "scalesim.filter_bandwidth": 10,
                                  "scalesim.filter_banks": 3}) == (
        "scalesim.filter_bandwidth",
        "SCALE-Sim needs the filter bandwidth (10) to be a multiple of its banks (3)",
        "a multiple of 3")
    # both wrong: the ifmap is checked first
    assert _error("scalesim-ws", {**_USER, "scalesim.ifmap_bandwidth": 7,
                                  "scalesim.ifmap_banks": 2, "scalesim.filter_bandwidth": 5,
                                  "scalesim.filter_banks": 3})[0] == "scalesim.ifmap_bandwidth"
    # exact multiples are accepted; the calc interface has no banks rule
    preset("scalesim-ws").replace({**_USER, "scalesim.ifmap_bandwidth": 12,
                                   "scalesim.ifmap_banks": 4, "scalesim.filter_bandwidth": 9,
                                   "scalesim.filter_banks": 3})
    preset("scalesim-ws").replace({"scalesim.interface": "calc",
                                   "scalesim.filter_bandwidth": 10,
                                   "scalesim.filter_banks": 3})


def test_dataflows_registry():
    assert DATAFLOWS == {
        "ws": WS, "ews": EWS, "mvq": MVQ, "s2ta": S2TA, "scalesim-ws": ScaleSimWS}
