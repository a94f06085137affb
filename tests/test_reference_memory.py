"""The memory system, proven: the event engine against the cycle-by-cycle reference.

For random networks of one to three layers (INT8 on WS/EWS, MVQ on the sparsity-aware array,
SSVQ, S2TA-W dbb weights), random arrays and random memories -- DRAM 1-64 B/cycle (fractions
too), latency 0-400, bursts, L1 buffers small enough to force pixel chunking, single and double
buffering, L2 with 1-16 banks and small enough to spill activations to DRAM, several codebook
groups in a CRF that holds fewer (reloads) -- the engine's per-layer cycles, stall cycles, stall
causes and bytes per memory level equal the reference's exactly.  The reference
(``ewssim/engine/reference.py``) plans its own tiles and blocks and steps every port, buffer and
the loader cycle by cycle; it reads only the layers, the resolved hardware and each layer's
mapping choice (pixel chunk, partial sums in the PRF).

``test_strategy_reaches_every_branch`` counts, over the same strategy, how often each branch of
the memory model is taken (chunking, spills, single buffering, reloads, the sparse array, and
the engine's fast-forward of steady states): each in at least a quarter of the examples.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from ewssim.compress.compressor import compress_layer
from ewssim.compress.plan import LayerFormat
from ewssim.config import ArchConfig, preset
from ewssim.dataflow import dataflow_of, resolve
from ewssim.engine import sim
from ewssim.engine.functional import conv2d_reference, random_operands
from ewssim.engine.reference import LayerRun, simulate_network
from ewssim.errors import InputError
from ewssim.workload.layers import Layer, Network

#: engine cycles one example may take (the reference steps ~8k cycles/s here)
MAX_CYCLES = 8000
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.filter_too_much,
                                                      HealthCheck.too_slow])
TRAFFIC = ("dram_act_read_bytes", "dram_weight_read_bytes", "dram_out_write_bytes",
           "l2_act_read_bytes", "l2_weight_read_bytes", "l2_out_write_bytes")
#: presets and the d of their codebook formats (None: not a codebook format)
PRESETS = ("ews", "ws", "mvq", "mvq", "mvq", "ssvq", "ssvq", "s2ta-w")


# ----------------------------------------------------------------------------- strategies

def _layer(draw, name: str, kind: str, mult: int, style: str | None = None) -> Layer:
    """A small layer whose input channels per group are a multiple of ``mult``."""
    style = style or draw(st.sampled_from(["conv", "conv", "linear", "grouped", "deep"]))
    if kind == "int8" and draw(st.booleans()):
        style = draw(st.sampled_from([style, "depthwise", "matmul"]))
    if style == "deep":     # many reduction folds of one shape: steady states to fast-forward
        return Layer(name, "linear", 1, draw(st.integers(2, 12)),
                     mult * draw(st.integers(24, 64)) // (1 if mult == 1 else 2),
                     2 * draw(st.integers(1, 2)))
    if style == "linear":
        return Layer(name, "linear", draw(st.integers(1, 3)), draw(st.integers(1, 6)),
                     mult * draw(st.integers(1, 3)), 2 * draw(st.integers(1, 6)))
    if style == "matmul":
        return Layer(name, "matmul", draw(st.integers(1, 4)), draw(st.integers(1, 4)),
                     draw(st.integers(1, 12)), draw(st.integers(1, 12)),
                     batch=draw(st.integers(1, 3)))
    groups = {"conv": 1, "grouped": 2, "depthwise": draw(st.integers(2, 8))}[style]
    c_g = 1 if style == "depthwise" else mult * draw(st.integers(1, 2 if groups > 1 else 3))
    out_g = 1 if style == "depthwise" else 2 * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    return Layer(name, "conv", draw(st.integers(max(1, kh - 2 * ph), 6)),
                 draw(st.integers(max(1, kw - 2 * pw), 6)), c_g * groups, out_g * groups,
                 kernel_h=kh, kernel_w=kw, pad_h=ph, pad_w=pw,
                 stride_w=draw(st.integers(1, 2)), groups=groups)


@st.composite
def cases(draw):
    name = draw(st.sampled_from(PRESETS))
    a = preset(name)
    f = a.weights.weight_format
    codebook = f.codebook
    over: dict = {}
    if name == "mvq":
        nm = draw(st.sampled_from([(1, 4), (2, 4)]))
        over["weights.nm"] = f"{nm[0]}:{nm[1]}"
        over["weights.d"] = 4
        step = 4
    elif name == "ssvq":
        over["weights.d"] = 4
        step = 4
    elif name == "s2ta-w":
        step = 8
    else:
        step = 1
    rows = draw(st.sampled_from([r for r in range(2, 17) if r % step == 0]))
    cols = draw(st.integers(2, 8))
    n_layers = draw(st.integers(1, 3))
    # a third of the examples: deep layers in large weight blocks, steady states to skip
    steady = draw(st.integers(0, 2)) == 0
    layers = tuple(_layer(draw, f"l{i}", "int8" if step == 1 else "codebook",
                          over.get("weights.d", step), "deep" if steady else None)
                   for i in range(n_layers))
    if codebook:
        over["weights.k"] = 4
        if all(la.out_c % 2 == 0 for la in layers) and draw(st.integers(0, 3)):
            over["weights.codebook_groups"] = 2
            # a CRF of one group: reloads when the output folds alternate groups
            if draw(st.integers(0, 3)):
                over["weights.crf_groups"] = 1
                cols = min(cols, min(la.out_c // la.groups for la in layers) // 2 or 1)
                cols = max(cols, 1)
        over["weights.crf_write_bytes_per_cycle"] = draw(st.sampled_from([0, 1, 16]))
    db = draw(st.booleans())
    halves = 2 if db else 1
    w_unit = rows * cols * 3
    l1_w = halves * w_unit * (16 if steady else draw(st.sampled_from([1, 2, 8])))
    biggest = max(la.input_bytes(8) for la in layers)
    l1_a = halves * max(rows, int(biggest * (4.0 if steady else draw(st.sampled_from(
        [0.2, 0.35, 0.5, 1.0, 4.0])))))
    l1_o = halves * cols * 4 * draw(st.sampled_from([1, 2, 4, 32]))
    frac = draw(st.sampled_from([0.0, 0.0, 0.25, 0.5, 0.75]))
    l2 = (l1_a + l1_w) * draw(st.sampled_from([1, 1, 2, 4, 64]))
    while l2 - int(frac * l2) < l1_w // halves:
        l2 *= 2
    over.update({
        "array.rows": rows, "array.cols": cols,
        "memory.l1_act_bytes": l1_a, "memory.l1_weight_bytes": l1_w,
        "memory.l1_out_bytes": l1_o, "memory.l1_double_buffer": db,
        "memory.l2_bytes": l2, "memory.l2_act_fraction": frac,
        "memory.l2_banks": draw(st.integers(1, 16)),
        "memory.l2_bank_width_bytes": draw(st.sampled_from([1, 2, 4, 16])),
        "memory.dram_bytes_per_cycle": draw(st.one_of(st.integers(1, 64).map(float),
                                                      st.sampled_from([1.5, 2.25, 3.2]))),
        "memory.dram_latency_cycles": draw(st.one_of(st.integers(0, 400),
                                                     st.sampled_from([0, 1]))),
        "memory.dram_burst_bytes": draw(st.sampled_from([1, 16, 64])),
    })
    if name in ("ews", "mvq", "ssvq"):
        over["dataflow.wrf_double_buffer"] = draw(st.booleans())
        over["array.wrf_depth"] = draw(st.sampled_from([1, 2] if steady else
                                                        [1, 2, 3, 4, 6, 9]))
    try:
        arch = a.replace(over)
    except InputError:
        assume(False)
    # a matmul's stationary operand: a KV cache in DRAM for the 2-head matmuls, the previous
    # layer's output for the others (derived, not drawn: no extra draw shifts the examples
    # the branch shares below were measured on)
    layers = tuple(dataclasses.replace(la, operand="dram") if la.kind == "matmul" and
                   la.batch == 2 else la for la in layers)
    return Network("net", layers), arch


def weights_of(layer: Layer, arch: ArchConfig, seed: int):
    """The layer's weights as the architecture stores them: INT8 values, or compressed."""
    w = arch.weights
    f = w.weight_format
    if f.int8 or not layer.has_weights:
        return random_operands(layer, seed)[1], None
    rng = np.random.default_rng(seed)
    dense = rng.normal(size=layer.weight_shape).astype(np.float32)
    cl = compress_layer(dense, method=w.format, nm=f.nm if f.pruned else None, k=w.k, d=w.d,
                        mask_encoding=w.mask_encoding, codebook_groups=w.codebook_groups,
                        layer=layer, seed=seed, small_layer_fallback=True,
                        int8_if_larger=False)
    return cl, LayerFormat.from_compressed(cl)


def run_both(net: Network, arch: ArchConfig, seed: int = 0):
    """(engine results, reference result, per-layer operands) or ``None`` when the network
    does not fit the memories or is too long for the reference."""
    hw, flow = resolve(arch), dataflow_of(arch)
    ops, formats = [], {}
    for i, la in enumerate(net.layers):
        w, fmt = weights_of(la, arch, seed + i)
        ops.append((random_operands(la, seed + i)[0], w))
        if fmt is not None:
            formats[la.name] = fmt
    try:
        res = sim.simulate(net, hw, flow=flow, formats=formats)
    except InputError:
        return None
    if sum(r.total_cycles for r in res) > MAX_CYCLES:
        return None
    runs = []
    for r, (x, w) in zip(res, ops, strict=True):
        m = r.mapping
        fmt = formats.get(m.layer.name)
        runs.append(LayerRun(m.layer, m.lhw, m.chunk, m.psums_in_prf, x, w,
                             header_bytes=fmt.codebook_bytes if fmt else 0))
    return res, simulate_network(runs, hw), ops


def assert_equals_reference(res, ref) -> None:
    """Per layer, the engine's cycles, stall cycles, stall causes and bytes per memory level
    equal the reference's; and the network's total."""
    for r, q in zip(res, ref.layers, strict=True):
        name = r.mapping.layer.name
        assert (r.total_cycles, r.stall_cycles) == (q.cycles, q.stall_cycles), name
        assert {k: v for k, v in r.stalls.items() if v} == \
            {k: v for k, v in q.stalls.items() if v}, name
        for f in TRAFFIC:
            assert getattr(r.traffic, f) == getattr(q, f), (name, f)
    assert sum(r.total_cycles for r in res) == ref.cycles


def branches(res) -> dict[str, bool]:
    """Which branches of the memory model a simulated network takes."""
    blocks = [r.mapping.blocks for r in res]
    hw = res[0].mapping.lhw.hw
    return {
        "chunking": any(len(b.act) > 1 for b in blocks),
        "spill": any(b.act_src == "stream" for b in blocks),
        "single buffering": not hw.memory.l1_double_buffer,
        "reloads": any(int((b.w_kind == 0).sum()) > 1 for b in blocks)
        or any(len(set(map(tuple, np.stack([r.mapping.schedule.g0, r.mapping.schedule.n0,
                                            r.mapping.schedule.u0], 1)[
            r.mapping.schedule.load_cycles > 0].tolist()))) <
               int((r.mapping.schedule.load_cycles > 0).sum()) for r in res),
        "sparse array": any(r.mapping.lhw.sparse for r in res),
        "fast-forward": any(r.fast_forwarded for r in res),
    }


# ----------------------------------------------------------------------------- properties

# found by hypothesis: a pass's weights fit the L2 staging ring, but its last block runs into
# the next pass and brings that pass's first weights too -- together they did not fit, and
# the ring, freed only when that block is in L1, deadlocked (CI, 2026-12-02)
STAGING_DEADLOCK = (
    Network("net", (Layer("l0", "linear", 1, 3, 96, 4),)),
    preset("s2ta-w").replace({
        "array.rows": 16, "array.cols": 2, "array.wrf_depth": 1, "array.arf_depth": 3,
        "array.sparse_use": "throughput", "dataflow.wrf_double_buffer": False,
        "weights.nm": "4:8", "memory.l1_act_bytes": 57, "memory.l1_weight_bytes": 96,
        "memory.l1_out_bytes": 8, "memory.l1_double_buffer": False, "memory.l2_bytes": 153,
        "memory.l2_banks": 1, "memory.l2_bank_width_bytes": 1, "memory.l2_act_fraction": 0.0,
        "memory.dram_bytes_per_cycle": 1.0, "memory.dram_latency_cycles": 0,
        "memory.dram_burst_bytes": 1}))


# a decoder step: a projection, then attention reading its K from a KV cache in DRAM (no wait
# for the projection) and from the previous output
KV_CACHE = (
    Network("net", (Layer("q", "linear", 1, 1, 16, 16),
                    Layer("qk", "matmul", 2, 1, 8, 24, batch=2, operand="dram"),
                    Layer("av", "matmul", 2, 1, 24, 8, batch=2))),
    preset("ews").replace({"array.rows": 8, "array.cols": 4, "memory.l2_bytes": 1 << 17,
                           "memory.dram_bytes_per_cycle": 2.0,
                           "memory.dram_latency_cycles": 20}))


@settings(max_examples=250, **SETTINGS)
@given(case=cases(), seed=st.integers(0, 2**16))
@example(case=STAGING_DEADLOCK, seed=0)
@example(case=KV_CACHE, seed=1)
def test_engine_equals_reference_with_memories(case, seed):
    net, arch = case
    got = run_both(net, arch, seed)
    assume(got is not None)
    res, ref, ops = got
    for name, hit in branches(res).items():
        if hit:
            event(name)
    assert_equals_reference(res, ref)
    for r, q, (x, w) in zip(res, ref.layers, ops, strict=True):
        if r.mapping.lhw.decoder:
            assert r.traffic.crf_reload_bytes == q.crf_write_bytes
        want = conv2d_reference(x, w.decode()[0] if hasattr(w, "decode") else w, r.mapping.layer)
        assert np.array_equal(q.output, want)


@st.composite
def aw_cases(draw):
    """The memory strategy's S2TA cases (weight DBB) rebuilt as S2TA-AW: the same layers,
    array and memories, with activation DBB (``activations.nnz`` 0: the density-derived
    bound, or a fixed 2 or 3 of 8), so that activations are stored compressed in L1, L2 and
    DRAM (an activation storage ratio below 1)."""
    net, arch = draw(cases())
    assume(arch.name == "s2ta-w")
    over = {f"{sec}.{k}": v for sec in ("array", "memory")
            for k, v in dataclasses.asdict(getattr(arch, sec)).items() if k != "wrf_depth"}
    over["activations.nnz"] = draw(st.sampled_from([0, 2, 3]))
    try:
        return net, preset("s2ta-aw").replace(over)
    except InputError:
        assume(False)


@settings(max_examples=40, **SETTINGS)
@given(case=aw_cases(), seed=st.integers(0, 2**16))
def test_activation_dbb_with_memories_equals_reference(case, seed):
    """S2TA-AW with memories: the engine's compressed activation blocks and staged pieces
    equal the reference's own plan of them (``ref_plan``), cycle for cycle and byte for
    byte."""
    net, arch = case
    got = run_both(net, arch, seed)
    assume(got is not None)
    res, _ref, _ops = got
    event("activations stored compressed" if any(r.mapping.lhw.act_storage_ratio < 1
                                                 for r in res) else "dense activations")
    assert_equals_reference(res, _ref)


@st.composite
def batched_cases(draw):
    """The memory strategy's networks with their convolutions and linear layers run on a
    batch of 2 or 3 images (the matmuls keep their heads)."""
    net, arch = draw(cases())
    b = draw(st.integers(2, 3))
    layers = tuple(la if la.kind == "matmul" else dataclasses.replace(la, batch=b)
                   for la in net.layers)
    return Network("net", layers), arch


@settings(max_examples=30, **SETTINGS)
@given(case=batched_cases(), seed=st.integers(0, 2**16))
def test_batched_layers_with_memories_equal_reference(case, seed):
    """A batch of images is the layer's pixels times the batch, in every block the engine
    and the reference plan (the memory proof draws batch 1 for all but matmul heads)."""
    net, arch = case
    got = run_both(net, arch, seed)
    assume(got is not None)
    res, ref, _ops = got
    assert_equals_reference(res, ref)


def test_strategy_reaches_every_branch():
    """Each branch of the memory model in at least a quarter of the examples the property
    above draws (same strategy; the engine alone, so this is quick)."""
    seen: list[dict[str, bool]] = []

    @settings(max_examples=200, database=None, derandomize=True, **SETTINGS)
    @given(case=cases())
    def collect(case):
        net, arch = case
        try:
            res = sim.simulate(net, resolve(arch), flow=dataflow_of(arch),
                               formats={la.name: weights_of(la, arch, 0)[1] for la in net.layers
                                        if weights_of(la, arch, 0)[1] is not None})
        except InputError:
            assume(False)
        if sum(r.total_cycles for r in res) > MAX_CYCLES:
            assume(False)
        seen.append(branches(res))

    collect()
    assert len(seen) >= 100
    shares = {name: sum(s[name] for s in seen) / len(seen) for name in seen[0]}
    low = {name: f"{v:.0%}" for name, v in shares.items() if v < 0.25}
    assert not low, f"below a quarter of {len(seen)} examples: {low} (all: {shares})"


def test_a_pass_whose_weights_exactly_fill_the_staging_ring_stays_in_l2():
    """A linear layer of 16 tokens in four pixel chunks re-reads each output fold's 128 B of
    weights four times.  With a 128 B staging ring (all of L2) the fold's distinct weights fit
    exactly, so they stay in L2 and DRAM delivers the 256 B of weights once; with 127 B they
    do not, and every chunk fetches them again (1,024 B).  Engine = reference on both sides."""
    net = Network("n", (Layer("fc", "linear", 1, 16, 32, 8),))
    base = preset("ews").replace({
        "array.rows": 8, "array.cols": 4, "array.wrf_depth": 1,
        "memory.l1_act_bytes": 32, "memory.l1_weight_bytes": 64, "memory.l1_out_bytes": 64,
        "memory.l1_double_buffer": False, "memory.l2_act_fraction": 0.0,
        "memory.dram_bytes_per_cycle": 4.0})
    dram = {}
    for ring in (128, 127):
        arch = base.replace({"memory.l2_bytes": ring})
        assert resolve(arch).l2_stage_bytes == ring
        res, ref, _ops = run_both(net, arch)
        assert res[0].mapping.chunk == 4
        assert_equals_reference(res, ref)
        dram[ring] = res[0].traffic.dram_weight_read_bytes
    assert dram == {128: 256, 127: 1024}
