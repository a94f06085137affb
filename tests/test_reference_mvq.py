"""The cycle-by-cycle reference on the MVQ weight path and the sparsity-aware array.

Random small layers compressed with every codebook method (mvq, casec, vq, ssvq; every mask
encoding; one or two codebook groups) run on archs derived from the presets ``vq``, ``ews-cm``,
``mvq`` (area and throughput use) and ``ssvq`` with small arrays, random CRF ports, decoder
latencies and EWS switches.  The reference decodes the weights line by line through its own
:class:`~ewssim.hw.loader.WeightLoader` (built here from the configuration, not taken from the
MVQ plug-in) and derives the line time and decode latency from it.  It must agree EXACTLY with
the fast model: cycles, every tile's start, outputs (= the plain convolution with
``cl.decode()``), executed MACs, CRF reads, LZC evaluations and L1 traffic.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers import build_schedule, hand_hw, ideal, plan, reference, reference_of
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from ewssim.compress import compress_layer
from ewssim.compress.layer import CompressedLayer
from ewssim.compress.plan import LayerFormat
from ewssim.config import PRESETS, ArchConfig, validate
from ewssim.dataflow import resolve
from ewssim.engine.functional import (
    check_functional,
    conv2d_reference,
    loader_weights,
    random_operands,
    run_functional,
)
from ewssim.engine.reference import ReferenceSimError
from ewssim.errors import EwssimError
from ewssim.hw.array import schedule_cycles, schedule_times
from ewssim.hw.loader import WeightLoader
from ewssim.workload.layers import Layer

MAX_CYCLES = 4000
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.filter_too_much,
                                                      HealthCheck.too_slow])
PRESET_OF = {"vq": ["vq"], "ssvq": ["ssvq"], "mvq": ["ews-cm", "mvq"],
             "casec": ["ews-cm", "mvq"]}


# ----------------------------------------------------------------------------- helpers

def _bytes(count: int, bits: int) -> int:
    return (count * bits + 7) // 8


def make_arch(preset: str, *, rows: int, cols: int, d: int, k: int, nm: tuple[int, int],
              use: str = "area", method: str | None = None, ports: int = 0,
              enc: str = "bitmap", groups: int = 1,
              wrf: int = 9, arf: int = 3, prf: int = 16, db: bool = True,
              arf_reuse: bool = True, prf_reuse: bool = True,
              latencies: tuple[int, int, int] = (1, 1, 1)) -> ArchConfig:
    a = PRESETS[preset]
    a = dataclasses.replace(
        a,
        array=dataclasses.replace(a.array, rows=rows, cols=cols, wrf_depth=wrf, arf_depth=arf,
                                  prf_depth=prf, sparse_use=use),
        dataflow=dataclasses.replace(a.dataflow, wrf_double_buffer=db, arf_reuse=arf_reuse,
                                     prf_reuse=prf_reuse),
        weights=dataclasses.replace(a.weights, format=method or a.weights.format, d=d, k=k,
                                    nm=f"{nm[0]}:{nm[1]}", crf_ports=ports,
                                    mask_encoding=enc, codebook_groups=groups,
                                    crf_latency_cycles=latencies[0],
                                    lzc_stage_cycles=latencies[1],
                                    sign_latency_cycles=latencies[2]))
    return validate(a, "test")


def compress(layer: Layer, arch: ArchConfig, seed: int = 0) -> CompressedLayer:
    w = arch.weights
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=layer.weight_shape).astype(np.float32)
    f = w.weight_format
    nm = f.nm if f.pruned else None
    return compress_layer(weights, method=w.format, nm=nm, k=w.k, d=w.d,
                          mask_encoding=w.mask_encoding, codebook_groups=w.codebook_groups,
                          layer=layer, seed=seed, small_layer_fallback=True,
                          int8_if_larger=False)


def own_loader(cl: CompressedLayer, arch: ArchConfig, logical_rows: int) -> WeightLoader:
    """The loader of the configuration, built here (independent of the MVQ plug-in)."""
    w = arch.weights
    return WeightLoader.for_layer(cl, line_length=logical_rows, ports=w.crf_ports or None,
                                  crf_groups=cl.format.codebook_groups,
                                  crf_latency=w.crf_latency_cycles,
                                  lzc_stage_cycles=w.lzc_stage_cycles,
                                  sign_latency=w.sign_latency_cycles)


def run_case(layer: Layer, arch: ArchConfig, seed: int = 0, cl: CompressedLayer | None = None):
    cl = cl if cl is not None else compress(layer, arch, seed)
    fmt = LayerFormat.from_compressed(cl)
    mapping = plan(layer, arch, fmt)
    s = mapping.schedule
    x, _ = random_operands(layer, seed)
    loader = None if cl.format.int8 else own_loader(cl, arch, s.logical_rows)
    r = reference_of(mapping, arch, x, cl, loader=loader)
    return cl, fmt, mapping, x, r


def check_case(layer: Layer, arch: ArchConfig, seed: int = 0, cl: CompressedLayer | None = None):
    cl, fmt, mapping, x, r = run_case(layer, arch, seed, cl)
    s, t, dd = mapping.schedule, mapping.traffic, arch.data
    # timing
    starts, total = schedule_times(s)
    assert r.cycles == schedule_cycles(s) == total
    assert np.array_equal(r.starts, starts)
    # numbers: the loader's weights give the plain convolution of the decoded weights
    w_int8 = cl.decode()[0]
    want = conv2d_reference(x, w_int8, layer)
    assert np.array_equal(r.output, want)
    assert np.array_equal(run_functional(layer, s, x, cl), want)
    check_functional(layer, mapping, seed, weights=cl)
    # work and weight path activity
    assert r.executed_macs == t.executed_macs
    assert r.crf_reads == t.crf_reads
    assert r.loader.lzc_evals == t.lzc_decodes
    if cl.format.int8:
        assert t.l1_weight_read_bytes == _bytes(r.weight_reads, dd.weight_bits)
    else:
        assert r.loader.crf_reads == r.crf_reads
        assert t.l1_weight_read_bytes == r.weight_l1_bytes + fmt.codebook_bytes
    # L1 activation / psum / output traffic
    assert t.l1_act_read_bytes == _bytes(r.act_reads, dd.act_bits)
    assert t.l1_psum_read_bytes == _bytes(r.psum_reads, dd.psum_bits)
    assert t.l1_out_write_bytes == (_bytes(r.out_writes, dd.act_bits)
                                    + _bytes(r.psum_writes, dd.psum_bits))
    return cl, mapping, r


# ----------------------------------------------------------------------------- strategies

@st.composite
def cases(draw):
    method = draw(st.sampled_from(["mvq", "mvq", "casec", "vq", "ssvq"]))
    preset = draw(st.sampled_from(PRESET_OF[method]))
    pruned = method in ("mvq", "casec")
    nm = draw(st.sampled_from([(1, 4), (2, 4), (2, 8)])) if pruned else (1, 1)
    d = 8 if nm[1] == 8 else draw(st.sampled_from([4, 8]))
    step = np.lcm(d, nm[1])
    rows = draw(st.sampled_from([r for r in range(4, 17) if r % step == 0]))
    use = draw(st.sampled_from(["area", "throughput"])) if preset == "mvq" else "area"
    enc = draw(st.sampled_from(["bitmap", "positions", "combinatorial"]))
    # the layer: channels per group a multiple of d (or, rarely, not: kept INT8 by fit=dense)
    style = draw(st.sampled_from(["conv", "conv", "conv", "grouped", "linear", "int8"]))
    groups = draw(st.sampled_from([2, 4])) if style == "grouped" else 1
    if style == "int8":
        c_g = draw(st.sampled_from([3, 5]))
    elif style == "grouped":
        c_g = d * draw(st.integers(1, 2))
    else:
        c_g = d * draw(st.integers(1, 3))
    out_c = groups * draw(st.integers(1, 8 // groups if groups > 1 else 6))
    if style == "linear":
        layer = Layer("fc", "linear", draw(st.integers(1, 3)), draw(st.integers(1, 4)),
                      c_g, draw(st.integers(2, 12)))
    else:
        kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 4))
        if style == "grouped":
            kh = draw(st.integers(1, 2))
        ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
        sw = draw(st.integers(1, 2))
        ih = draw(st.integers(max(1, kh - 2 * ph), 6))
        iw = draw(st.integers(max(1, kw - 2 * pw), 6))
        layer = Layer("c", "conv", ih, iw, c_g * groups, out_c, kernel_h=kh, kernel_w=kw,
                      pad_h=ph, pad_w=pw, stride_w=sw, groups=groups)
    n_sub = layer.out_c * layer.kernel_h * layer.kernel_w * max(c_g // d, 1)
    cb_groups = draw(st.sampled_from([1, 2])) if layer.out_c % 2 == 0 else 1
    ks = [k for k in (4, 8, 16) if k <= n_sub // cb_groups]
    if style != "int8":
        assume(ks)   # otherwise the layer would stay INT8 (too few sub-vectors)
    ks = ks or [4]
    arch = make_arch(
        preset, rows=rows, cols=draw(st.integers(2, 8)), d=d, k=draw(st.sampled_from(ks)),
        nm=nm, use=use, method=method, ports=draw(st.sampled_from([0, 1, 2])), enc=enc,
        groups=cb_groups,
        wrf=draw(st.integers(1, 9)), arf=draw(st.integers(1, 4)), prf=draw(st.integers(1, 12)),
        db=draw(st.booleans()), arf_reuse=draw(st.booleans()), prf_reuse=draw(st.booleans()),
        latencies=(draw(st.integers(0, 2)), draw(st.integers(0, 2)), draw(st.integers(0, 2))))
    return layer, arch


# ----------------------------------------------------------------------------- properties

@settings(max_examples=400, **SETTINGS)
@given(case=cases(), seed=st.integers(0, 2**16))
def test_reference_matches_fast_model_mvq(case, seed):
    layer, arch = case
    cl = compress(layer, arch, seed)
    mapping = plan(layer, arch, LayerFormat.from_compressed(cl))
    s = mapping.schedule
    assume(schedule_cycles(s) <= MAX_CYCLES)
    event(f"{arch.name}/{cl.format.method}"
          + (f"/{arch.array.sparse_use}" if arch.array.sparse else ""))
    event("sparse array" if s.logical_rows != s.rows else "dense array")
    event(f"packed={s.pack > 1} taps>1={s.taps > 1} in_prf={mapping.psums_in_prf}")
    check_case(layer, arch, seed, cl)


@pytest.mark.parametrize("preset,use,method", [
    ("vq", "area", "vq"), ("ews-cm", "area", "mvq"), ("ews-cm", "area", "casec"),
    ("mvq", "area", "mvq"), ("mvq", "throughput", "mvq"), ("mvq", "throughput", "casec"),
    ("ssvq", "area", "ssvq")])
def test_every_preset(preset, use, method):
    """A fixed layer with several reduction and output folds, a padded ARF tap and 2 CRF
    ports, on every preset (and both uses of the sparse array)."""
    layer = Layer("c", "conv", 5, 6, 16, 6, kernel_h=2, kernel_w=4, pad_w=1, stride_w=2)
    nm = (1, 1) if method in ("vq", "ssvq") else (2, 4)
    arch = make_arch(preset, rows=8, cols=4, d=8, k=8, nm=nm, use=use, method=method, ports=2,
                     wrf=6, prf=5)
    cl, mapping, r = check_case(layer, arch, seed=5)
    assert cl.format.method == method
    s = mapping.schedule
    if preset == "mvq":
        assert s.logical_rows == s.rows * 2
        assert r.executed_macs == layer.macs // 2


# ----------------------------------------------------------------------------- by hand

def test_one_tile_by_hand_throughput():
    """One tile on the throughput-use sparse array: 8 physical rows, 32 logical (1:4, d = 8),
    4 sub-vectors per line, default ports (4): one line per cycle; latency = CRF 1 + LZC 1.
    cycles = (2 lines * 1 + 2) + P + L_phys + used_cols - 2 = 4 + 3 + 8 + 2 - 2 = 15."""
    layer = Layer("fc", "linear", 1, 3, 32, 2)
    arch = make_arch("mvq", rows=8, cols=4, d=8, k=4, nm=(1, 4), use="throughput")
    cl, mapping, r = check_case(layer, arch)
    s = mapping.schedule
    assert (len(s), s.rows, s.logical_rows, int(s.load_cycles[0])) == (1, 8, 32, 4)
    assert r.cycles == 15 and list(r.starts) == [4]
    assert list(r.load_starts) == [0]
    assert r.crf_reads == 2 * 4 and r.executed_macs == 3 * 2 * 8   # 8 kept weights per column
    assert r.loader.lzc_evals == 8 * 2 * 1                          # 2 groups/sub-vector, N = 1


def test_one_tile_by_hand_slow_crf():
    """Area use, 1:4, d = 4: 16 logical rows on 4 physical; 1 CRF port, 4 sub-vectors per
    line: 4 cycles per line; latency 2 (CRF) + 1 (LZC): 3 lines -> 12 + 3 = 15 cycles of load,
    then 2 pixels: 15 + 2 + 4 + 3 - 2 = 22."""
    layer = Layer("fc", "linear", 1, 2, 16, 3)
    arch = make_arch("mvq", rows=16, cols=4, d=4, k=4, nm=(1, 4), ports=1,
                     latencies=(2, 1, 1))
    cl, mapping, r = check_case(layer, arch)
    s = mapping.schedule
    assert (s.rows, s.logical_rows, int(s.load_cycles[0])) == (4, 16, 15)
    assert r.cycles == 22 and r.crf_cycles == 12


def test_dense_int8_layer_on_sparse_array():
    """in_c = 3 is not a multiple of d: the layer stays INT8 and uses the physical PEs only."""
    layer = Layer("c0", "conv", 4, 4, 3, 4, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1)
    for use, phys in (("area", 4), ("throughput", 16)):
        arch = make_arch("mvq", rows=16, cols=4, d=8, k=16, nm=(1, 4), use=use)
        cl, mapping, r = check_case(layer, arch)
        assert cl.format.int8
        assert mapping.schedule.rows == mapping.schedule.logical_rows == phys
        assert r.executed_macs == layer.macs and r.crf_reads == 0


def test_packed_lines_read_fewer_subvectors():
    """Two groups packed in one tile: a column's line holds one real sub-vector, but the line
    time counts the tile's used logical rows (2 sub-vectors with 1 port): the CRF is idle every
    other cycle.  The reference follows the documented line time (model-reference.md section 2)
    and agrees with the fast model; the CRF could serve these lines twice as fast."""
    layer = Layer("g", "conv", 3, 3, 16, 4, kernel_w=1, groups=2)
    arch = make_arch("ews-cm", rows=16, cols=4, d=8, k=4, nm=(1, 4), ports=1)
    cl, mapping, r = check_case(layer, arch)
    s = mapping.schedule
    assert s.pack == 2 and len(s) == 1
    assert int(s.load_cycles[0]) == 4 * 2 + 2           # 4 lines x 2 cycles + latency
    assert r.crf_cycles == r.crf_reads == 4               # one real sub-vector per line


# ----------------------------------------------------------------------------- faults

class _WrongCodeword(WeightLoader):
    """A loader with a CRF addressing fault: it looks up index + 1."""

    def _decode(self, cl, ids):
        orig = self.crf.lookup

        def lookup(indices, group=0):
            return orig((np.asarray(indices).astype(np.int64) + 1) % cl.format.k, group)

        self.crf.lookup = lookup
        try:
            return super()._decode(cl, ids)
        finally:
            self.crf.lookup = orig


class _WrongPosition(WeightLoader):
    """A loader whose mask decoder swaps the last two kept positions' values."""

    def _decode(self, cl, ids):
        vals, pos = super()._decode(cl, ids)
        return vals[:, ::-1].copy(), pos


@pytest.mark.parametrize("use", ["area", "throughput"])
@pytest.mark.parametrize("fault", [_WrongCodeword, _WrongPosition])
def test_loader_fault_shows_in_outputs(use, fault):
    layer = Layer("c", "conv", 4, 4, 16, 4, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1)
    arch = make_arch("mvq", rows=8, cols=4, d=8, k=8, nm=(2, 4), use=use)
    cl = compress(layer, arch, seed=1)
    mapping = plan(layer, arch, LayerFormat.from_compressed(cl))
    s = mapping.schedule
    x, _ = random_operands(layer, 1)
    good = own_loader(cl, arch, s.logical_rows)
    bad = fault(good.crf, cl.format)
    want = conv2d_reference(x, cl.decode()[0], layer)
    assert np.array_equal(reference_of(mapping, arch, x, cl, loader=good).output, want)
    assert not np.array_equal(reference_of(mapping, arch, x, cl, loader=bad).output, want)


def test_loader_position_outside_mux_group_raises():
    class Shifted(WeightLoader):
        def _decode(self, cl, ids):
            vals, pos = super()._decode(cl, ids)
            return vals, (pos + self.m) % self.d

    layer = Layer("fc", "linear", 1, 2, 16, 2)
    arch = make_arch("mvq", rows=8, cols=4, d=8, k=4, nm=(1, 4), use="throughput")
    cl = compress(layer, arch)
    mapping = plan(layer, arch, LayerFormat.from_compressed(cl))
    x, _ = random_operands(layer, 0)
    good = own_loader(cl, arch, mapping.schedule.logical_rows)
    bad = Shifted(good.crf, cl.format)
    with pytest.raises(ReferenceSimError, match="outside the PE's 4-group"):
        reference_of(mapping, arch, x, cl, loader=bad)


def test_line_time_too_short_for_the_crf_ports_raises():
    """One cycle per line while the CRF has 1 port for 2 sub-vectors."""
    layer = Layer("fc", "linear", 1, 2, 16, 2)
    arch = make_arch("ews-cm", rows=16, cols=4, d=8, k=4, nm=(1, 4), ports=1)
    cl = compress(layer, arch)
    lhw = resolve(ideal(arch)).layer(cl.format)
    loader = own_loader(cl, arch, 16)
    x, _ = random_operands(layer, 0)
    with pytest.raises(ReferenceSimError, match="cannot be read by 1 CRF port"):
        reference(layer, lhw, x, cl, loader=loader, line_cycles=1)
    # with the loader's own line time (2 cycles) it runs, and agrees with a schedule built so
    s2 = build_schedule(layer, rows=16, cols=4, taps=1, chunk=None, wrf_depth=9,
                        double_buffer=True, line_cycles=2, load_latency=loader.latency)
    r = reference(layer, lhw, x, cl, loader=loader)
    assert r.cycles == schedule_cycles(s2)


def test_explicit_per_tile_line_cycles_and_latency():
    """Dense weights with a per-tile line-time array and a load latency, on a schedule built
    with the same numbers (the decode pipeline delays every line write)."""
    layer = Layer("c", "conv", 4, 5, 6, 5, kernel_h=2, kernel_w=3)
    s = build_schedule(layer, rows=4, cols=3, taps=3, chunk=None, wrf_depth=6,
                       double_buffer=True, line_cycles=lambda r: 1 + (r > 3), load_latency=3)
    x, w = random_operands(layer, 2)
    per_tile = 1 + (s.used_rows > 3)
    r = reference(layer, hand_hw(4, 3, wrf=6, db=True).layer(None), x, w, taps=3,
                  line_cycles=per_tile, load_latency=3)
    starts, total = schedule_times(s)
    assert r.cycles == total and np.array_equal(r.starts, starts)
    assert np.array_equal(r.output, conv2d_reference(x, w, layer))


# ----------------------------------------------------------------------------- functional

def test_check_functional_codebook_layers():
    layer = Layer("c", "conv", 4, 4, 16, 4, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1)
    for method, preset, nm in (("mvq", "mvq", (1, 4)), ("vq", "vq", (1, 1)),
                               ("ssvq", "ssvq", (1, 1)), ("casec", "ews-cm", (2, 4))):
        arch = make_arch(preset, rows=8, cols=4, d=8, k=8, nm=nm, method=method)
        cl = compress(layer, arch)
        assert cl.format.method == method
        mapping = plan(layer, arch, LayerFormat.from_compressed(cl))
        assert check_functional(layer, mapping, 3, weights=cl).ok
        assert check_functional(layer, mapping, 3, weights=cl.decode()[0]).ok
        assert np.array_equal(loader_weights(cl), cl.decode()[0])


def test_check_functional_catches_a_loader_fault(monkeypatch):
    layer = Layer("c", "conv", 4, 4, 16, 4, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1)
    arch = make_arch("mvq", rows=8, cols=4, d=8, k=8, nm=(2, 4))
    cl = compress(layer, arch)
    mapping = plan(layer, arch, LayerFormat.from_compressed(cl))
    orig = WeightLoader._decode

    def swapped(self, cl, ids):
        vals, pos = orig(self, cl, ids)
        return vals[:, ::-1].copy(), pos

    monkeypatch.setattr(WeightLoader, "_decode", swapped)
    with pytest.raises(EwssimError, match="differs from the reference"):
        check_functional(layer, mapping, 0, weights=cl)


def test_crf_reload_bytes_with_two_codebook_groups():
    """The CRF holds all of a layer's codebook groups (model-reference.md section 6): each group
    is written once per layer, k*d bytes (the float32 scale goes to the output path, not the
    CRF)."""
    layer = Layer("c", "conv", 4, 4, 16, 4, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1)
    arch = make_arch("mvq", rows=8, cols=4, d=8, k=8, nm=(2, 4), groups=2)
    cl = compress(layer, arch)
    mapping = plan(layer, arch, LayerFormat.from_compressed(cl))
    s = mapping.schedule
    loader = own_loader(cl, arch, s.logical_rows)
    x, _ = random_operands(layer, 0)
    reference_of(mapping, arch, x, cl, loader=loader)
    assert loader.crf.counters.reload_bytes == mapping.traffic.crf_reload_bytes == 2 * 8 * 8
