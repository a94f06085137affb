"""A chunk that holds the whole stream tiles a layer exactly as the stream does.

``SystolicDataflow.candidates`` relies on it: such a candidate shares the stream's schedule
instead of building its own (VGG-16's classifier at batch 1 on an 8x8 array has 1.6 M tiles).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ewssim.api import weight_formats
from ewssim.config import preset
from ewssim.dataflow import dataflow_of, resolve
from ewssim.dataflow.tiling import build_schedule, stream_pixels
from ewssim.engine.sim import _equal
from ewssim.workload.layers import Layer, Network


@st.composite
def layers(draw):
    k = draw(st.sampled_from([1, 3]))
    hw = draw(st.integers(1, 6))
    if draw(st.booleans()):
        return Layer("l", "linear", draw(st.integers(1, 3)), 1, draw(st.integers(8, 80)),
                     draw(st.integers(1, 40)))
    return Layer("l", "conv", hw, hw, draw(st.integers(8, 40)), draw(st.integers(1, 30)),
                 kernel_h=k, kernel_w=k, pad_h=k // 2, pad_w=k // 2)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(["ews", "ws", "mvq", "ssvq", "ews-cm", "scalesim-ws"]),
       rows=st.sampled_from([8, 16]), cols=st.sampled_from([4, 8, 16]), layer=layers(),
       extra=st.integers(0, 20))
def test_a_chunk_over_the_whole_stream_is_the_stream(name, rows, cols, layer, extra):
    arch = preset(name).replace({"array.rows": rows, "array.cols": cols})
    hw = resolve(arch)
    formats, _ = weight_formats(arch, Network("n", (layer,)))
    fmt = (formats or {}).get("l")
    lhw = hw.layer(fmt.format if fmt else None, 1.0)
    whole = build_schedule(layer, lhw, None)
    chunked = build_schedule(layer, lhw, stream_pixels(layer) + extra)
    assert _equal(chunked, whole)
    # and the candidates that say so share one schedule object
    cands = dataflow_of(arch).candidates(layer, lhw, layer.weights, lazy=True)
    prf = [c for c in cands if getattr(c, "chunk", None) is not None
           and c.chunk >= stream_pixels(layer)]
    stream = [c for c in cands if getattr(c, "name", "") == "stream"]
    for c in prf:
        assert not stream or c.schedule is stream[0].schedule
