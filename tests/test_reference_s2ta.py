"""The cycle-by-cycle reference on the S2TA-style arrays (presets sa-zvcg, s2ta-w, s2ta-aw).

Random small conv / linear layers (channels multiples of 8, and a few INT8 fallback layers) run
on the three presets with small arrays, random weight DBB (4:8, 2:8, 2:4; BZ = M), a fixed or
density-derived activation bound ``activations.nnz`` and inputs with an exact, known fraction of
zeros.  The layer's ``LayerContext.act_density`` is the real density of that input.  Reference
and fast model must agree EXACTLY on cycles, every tile's start and the L1 counts (activation
reads, with the compressed activations' position bits on S2TA-AW; weight bytes; psums and
outputs); outputs equal the plain convolution of the decoded dbb weights and -- S2TA-AW -- of the
DBB-pruned input (:func:`ewssim.engine.functional.prune_activations`).

Executed MACs with zero-value clock gating: the reference counts the MACs whose activation is
non-zero (and, on the sparsity-aware array, whose weight is non-zero), i.e. exactly
``sum(conv(1[x_pruned != 0], 1[w != 0 or dense]))``; the fast model counts the EXPECTED value
``macs x (N/M) x min(act_density, NNZ_a/BZ)``.  The two are equal only when the zeros are spread
evenly over what each PE sees; by construction that holds for

* ``blocks`` inputs (whole blocks of channels zero at every position) on a layer without
  padding: on the dense array and S2TA-W, and on S2TA-AW when NNZ_a = BZ (nothing pruned);
* ``rotating`` inputs of linear layers (exactly ``k`` non-zeros per block, at positions that
  rotate with the token; tokens a multiple of BZ) when nothing is pruned (NNZ_a >= k).

Otherwise (``random`` zeros, padding -- the padding zeros are gated but the input density does
not count them --, lossy activation pruning) the test asserts the documented relationships
instead: the reference equals the indicator convolution above, the fast model equals its
formula.  Kept dbb weights are drawn away from 0 so that "kept" and "non-zero" coincide (the
fast model's N/M assumes it).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers import forced_mapping, plan, reference_of
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ewssim.compress import compress_layer
from ewssim.compress.layer import CompressedLayer
from ewssim.compress.plan import LayerFormat
from ewssim.config import PRESETS, ArchConfig, validate
from ewssim.dataflow.base import LayerContext
from ewssim.engine.functional import (
    check_functional,
    conv2d_reference,
    dbb_prune,
    loader_weights,
    prune_activations,
    random_operands,
    run_functional,
)
from ewssim.engine.reference import ReferenceSimError
from ewssim.errors import EwssimError
from ewssim.hw.array import schedule_cycles, schedule_times
from ewssim.workload.layers import Layer, Network

MAX_CYCLES = 2500
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.filter_too_much,
                                                      HealthCheck.too_slow])
PRESETS_S2TA = ("sa-zvcg", "s2ta-w", "s2ta-aw")


# ----------------------------------------------------------------------------- helpers

def _event(what: str) -> None:
    try:
        event(what)
    except InvalidArgument:   # outside a hypothesis test
        pass


def _bytes(count: int, bits: int) -> int:
    return (count * bits + 7) // 8


def make_arch(preset: str, *, rows: int, cols: int, nm: tuple[int, int] = (4, 8),
              nnz: int = 0, wrf: int | None = None) -> ArchConfig:
    a = PRESETS[preset]
    array = dataclasses.replace(a.array, rows=rows, cols=cols,
                                wrf_depth=a.array.wrf_depth if wrf is None else wrf)
    a = dataclasses.replace(
        a, array=array,
        weights=dataclasses.replace(a.weights, nm=f"{nm[0]}:{nm[1]}"),
        activations=dataclasses.replace(a.activations, block=nm[1], nnz=nnz))
    return validate(a, "test")


def dbb_compress(layer: Layer, arch: ArchConfig, seed: int) -> CompressedLayer:
    """dbb weights with every kept INT8 value non-zero (magnitudes drawn from [0.25, 1])."""
    rng = np.random.default_rng(seed)
    mag = rng.uniform(0.25, 1.0, size=layer.weight_shape)
    w = np.where(rng.random(layer.weight_shape) < 0.5, -mag, mag).astype(np.float32)
    return compress_layer(w, method="dbb", nm=arch.weights.weight_format.nm,
                          mask_encoding="positions", layer=layer, small_layer_fallback=True)


def make_input(layer: Layer, pattern: str, seed: int, *, zeros: float, bz: int,
               k: int = 0) -> np.ndarray:
    """Non-zero random INT8 activations, then zeros by ``pattern``:
    ``random`` -- exactly ``round(zeros * size)`` zeros at random positions (at least one
    non-zero); ``blocks`` -- whole blocks of ``bz`` channels (of 1 when the channels are not a
    multiple) zero at every position, ``round(zeros * blocks)`` of them (at least one block
    kept); ``rotating`` -- at token ``p`` the channels with ``(c % bz - p) mod bz < k``."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(layer.in_c, layer.in_h, layer.in_w), dtype=np.int64)
    x[x == 0] = 1
    if pattern == "random":
        n = min(int(round(zeros * x.size)), x.size - 1)
        x.reshape(-1)[rng.permutation(x.size)[:n]] = 0
    elif pattern == "blocks":
        b = bz if layer.in_c % bz == 0 else 1
        nb = layer.in_c // b
        for blk in rng.permutation(nb)[:min(int(round(zeros * nb)), nb - 1)]:
            x[blk * b:(blk + 1) * b] = 0
    else:
        p = np.arange(layer.in_h * layer.in_w).reshape(layer.in_h, layer.in_w)
        c = np.arange(layer.in_c)[:, None, None]
        x[(c % bz - p[None]) % bz >= k] = 0
    return x


def max_block_nnz(x: np.ndarray, bz: int) -> int:
    c = x.shape[0]
    return int((x.reshape(c // bz, bz, -1) != 0).sum(1).max())


def run_case(layer: Layer, arch: ArchConfig, x: np.ndarray, seed: int, chunk: int = 0):
    """Plan with the input's real density (``chunk``: force the plug-in's pixel-chunked order
    with L1 blocks of ``chunk`` pixels, weights reloaded per block unless WRF-resident)."""
    density = np.count_nonzero(x) / x.size
    ctx = LayerContext(act_density=density)
    if arch.weights.format == "dbb":
        cl = dbb_compress(layer, arch, seed)
        fmt = LayerFormat.from_compressed(cl)
        w_run = cl
        w_dec = cl.decode()[0].astype(np.int64)
    else:
        cl = fmt = None
        w_run = w_dec = random_operands(layer, seed)[1]
    mapping = forced_mapping(layer, arch, fmt, ctx, chunk) if chunk else \
        plan(layer, arch, fmt, ctx)
    aw = arch.activations.dbb and fmt is not None and fmt.format.dbb and fmt.format.pruned
    act = (arch.activations.block, mapping.lhw.nnz_a) if aw else None
    return cl, fmt, w_run, w_dec, mapping, act, density


def check_case(layer: Layer, arch: ArchConfig, x: np.ndarray, seed: int, *,
               exact_macs: bool | None = None, chunk: int = 0):
    cl, fmt, w_run, w_dec, mapping, act, density = run_case(layer, arch, x, seed, chunk)
    s, t, dd = mapping.schedule, mapping.traffic, arch.data
    r = reference_of(mapping, arch, x, w_run)
    # timing
    starts, total = schedule_times(s)
    assert r.cycles == schedule_cycles(s) == total
    assert np.array_equal(r.starts, starts)
    # numbers: the (pruned-activation) convolution of the decoded weights
    x_eff = x if act is None else prune_activations(x, layer, *act)
    want = conv2d_reference(x_eff, w_dec, layer)
    assert np.array_equal(r.output, want)
    assert np.array_equal(run_functional(layer, s, x, w_run, act), want)
    check_functional(layer, mapping, seed, weights=w_run, act_dbb=act)
    if act is not None and max_block_nnz(x, act[0]) <= act[1]:
        _event("AW lossless (NNZ_a >= every block's non-zeros)")
        assert np.array_equal(r.output, conv2d_reference(x, w_dec, layer))
    # L1 counts
    assert t.l1_act_read_bytes == _bytes(r.act_reads, dd.act_bits + r.act_pos_bits)
    if act is not None:
        assert r.act_pos_bits == (act[0] - 1).bit_length()
    if fmt is None or fmt.format.int8:
        assert t.l1_weight_read_bytes == _bytes(r.weight_reads, dd.weight_bits)
    else:
        assert t.l1_weight_read_bytes == r.weight_l1_bytes + fmt.codebook_bytes
    assert t.l1_psum_read_bytes == _bytes(r.psum_reads, dd.psum_bits)
    assert t.l1_out_write_bytes == (_bytes(r.out_writes, dd.act_bits)
                                    + _bytes(r.psum_writes, dd.psum_bits))
    # executed MACs with zero-value clock gating
    sparse = s.logical_rows != s.rows
    w_ind = (w_dec != 0) if sparse else np.ones(layer.weight_shape, np.int64)
    want_nz = int(conv2d_reference((x_eff != 0).astype(np.int64), w_ind.astype(np.int64),
                                   layer).sum())
    assert r.nonzero_macs == want_nz
    base = layer.macs * fmt.format.nm[0] // fmt.format.nm[1] if sparse else layer.macs
    if act is None:
        assert r.executed_macs == base
    a = arch.activations
    # the NNZ_a cap applies where activations are pruned: weight-DBB layers (act is not None)
    cap = min(density, a.nnz / a.block) if act is not None and a.nnz else density
    assert t.executed_macs == int(round(base * cap))       # the documented expected value
    if exact_macs:
        assert r.nonzero_macs == t.executed_macs
    return cl, mapping, r, act


def exact_expected(layer: Layer, pattern: str, act, x: np.ndarray) -> bool:
    """When the fast model's expected value is exact by construction (module doc)."""
    no_pad = layer.pad_h == layer.pad_w == 0
    lossless = act is None or max_block_nnz(x, act[0]) <= act[1]
    if pattern == "blocks" or np.all(x != 0):
        # whole blocks zero: the aligned S2TA blocks see all-or-nothing; AW must prune nothing
        return no_pad and lossless and (act is None or act[1] == act[0])
    if pattern == "rotating":
        return lossless
    return False


# ----------------------------------------------------------------------------- strategies

@st.composite
def cases(draw):
    preset = draw(st.sampled_from(["sa-zvcg", "s2ta-w", "s2ta-aw", "s2ta-aw"]))
    nm = draw(st.sampled_from([(4, 8), (2, 8), (2, 4)]))
    bz = nm[1]
    rows = draw(st.sampled_from([r for r in range(2, 17) if preset == "sa-zvcg" or r % bz == 0]))
    cols = draw(st.integers(2, 12))
    nnz = draw(st.sampled_from([0, 0, draw(st.integers(1, bz))]))
    if preset == "s2ta-aw":
        wrf = draw(st.integers(nm[0], 2 * nm[0] + 1))
    else:
        wrf = draw(st.integers(1, 3))
    arch = make_arch(preset, rows=rows, cols=cols, nm=nm, nnz=nnz, wrf=wrf)
    style = draw(st.sampled_from(["conv", "conv", "linear", "linear", "grouped", "int8"]))
    pattern = draw(st.sampled_from(["random", "blocks", "rotating"] if style == "linear"
                                   else ["random", "blocks"]))
    out_c = draw(st.integers(1, 6))
    if style == "linear":
        c = 8 * draw(st.integers(1, 3))
        if pattern == "rotating":   # tokens a multiple of BZ
            ih, iw = 1, bz * draw(st.integers(1, 2))
        else:
            ih, iw = draw(st.integers(1, 3)), draw(st.integers(1, 4))
        layer = Layer("fc", "linear", ih, iw, c, out_c)
    else:
        groups = 2 if style == "grouped" else 1
        c_g = draw(st.sampled_from([3, 5])) if style == "int8" else 8 * draw(st.integers(1, 2))
        kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
        sw = draw(st.integers(1, 2))
        ih = draw(st.integers(max(1, kh - 2 * ph), 5))
        iw = draw(st.integers(max(1, kw - 2 * pw), 5))
        layer = Layer("c", "conv", ih, iw, c_g * groups, out_c * groups, kernel_h=kh,
                      kernel_w=kw, pad_h=ph, pad_w=pw, stride_w=sw, groups=groups)
    zeros = draw(st.sampled_from([0.0, 0.25, 0.5, 0.75, draw(st.floats(0, 0.9))]))
    k = draw(st.integers(1, bz))
    chunk = draw(st.sampled_from([0, 0, draw(st.integers(1, 6))]))
    return layer, arch, pattern, zeros, k, chunk


# ----------------------------------------------------------------------------- properties

@settings(max_examples=1500, **SETTINGS)
@given(case=cases(), seed=st.integers(0, 2**16))
def test_reference_matches_fast_model_s2ta(case, seed):
    layer, arch, pattern, zeros, k, chunk = case
    x = make_input(layer, pattern, seed, zeros=zeros, bz=arch.activations.block, k=k)
    cl, fmt, _, _, mapping, act, _ = run_case(layer, arch, x, seed, chunk)
    s = mapping.schedule
    assume(schedule_cycles(s) <= MAX_CYCLES)
    event(f"{arch.name}" + (" dense layer" if fmt is not None and fmt.format.int8 else "")
          + (f" NNZ_a={act[1]}/{act[0]}" if act else ""))
    event(f"pattern={pattern}")
    event(f"tiles>1={len(s) > 1} packed={s.pack > 1} chunked={len(set(s.p0.tolist())) > 1} "
          f"WRF reuse={int((s.load_cycles > 0).sum()) < len(s)}")
    exact = exact_expected(layer, pattern, act, x)
    event(f"MACs exact={exact}")
    check_case(layer, arch, x, seed, exact_macs=exact, chunk=chunk)


@pytest.mark.parametrize("preset", PRESETS_S2TA)
@pytest.mark.parametrize("nm", [(4, 8), (2, 8), (2, 4)])
def test_every_preset(preset, nm):
    """A fixed conv layer with several reduction and output folds and padding, on each preset
    and weight DBB; random zeros and the density-derived NNZ_a."""
    layer = Layer("c", "conv", 4, 5, 16, 6, kernel_h=3, kernel_w=2, pad_h=1, stride_w=2)
    arch = make_arch(preset, rows=8, cols=4, nm=nm)
    x = make_input(layer, "random", 3, zeros=0.5, bz=nm[1])
    cl, mapping, r, act = check_case(layer, arch, x, seed=3)
    s = mapping.schedule
    if preset == "s2ta-w":
        assert s.logical_rows == 8 * nm[1] // nm[0]
        assert r.executed_macs == layer.macs * nm[0] // nm[1]
    if preset == "s2ta-aw":
        assert act == (nm[1], -(-nm[1] // 2)) and s.slot_cycles == act[1]
        assert s.logical_rows == 8 * nm[1]


# ----------------------------------------------------------------------------- by hand

def test_aw_one_tile_by_hand():
    """s2ta-aw, 4:8, NNZ_a = 2: 2 tensor-PE rows hold 2 blocks (16 channels) per column.
    One tile, 3 columns: load 3 lines x NNZ_w = 4 cycles = 12; stream 3 tokens x 2 cycles = 6;
    cycles = 12 + 6 + L (2) + D (3) - 2 = 21.  Activation reads: 2 rows x 3 tokens x 2 entries,
    9 bits each (8 + 3 position bits) = 12 x 9 bits = 14 bytes."""
    layer = Layer("fc", "linear", 1, 3, 16, 3)
    arch = make_arch("s2ta-aw", rows=8, cols=4, nm=(4, 8), nnz=2, wrf=4)
    x = make_input(layer, "random", 0, zeros=0.0, bz=8)
    cl, mapping, r, act = check_case(layer, arch, x, seed=0)
    s = mapping.schedule
    assert act == (8, 2) and (s.rows, s.logical_rows, len(s)) == (8, 64, 1)
    assert int(s.load_cycles[0]) == 3 * 4
    assert r.cycles == 12 + 3 * 2 + 8 + 3 - 2 and list(r.starts) == [12]
    assert r.act_reads == 2 * 3 * 2 and mapping.traffic.l1_act_read_bytes == _bytes(12, 11)


def test_aw_exact_macs_when_every_nonzero_is_kept():
    """Rotating input: every block of every token holds exactly k = 3 non-zeros (density 3/8,
    NNZ_a = 3 from the density): nothing is pruned, and the gated MACs equal the fast model's
    expected value macs x N/M x 3/8 exactly; outputs equal the unpruned convolution."""
    layer = Layer("fc", "linear", 1, 16, 16, 5)
    arch = make_arch("s2ta-aw", rows=8, cols=4, nm=(4, 8), wrf=4)
    x = make_input(layer, "rotating", 1, zeros=0, bz=8, k=3)
    cl, mapping, r, act = check_case(layer, arch, x, seed=1, exact_macs=True)
    assert act == (8, 3)
    assert r.nonzero_macs == layer.macs * 4 // 8 * 3 // 8
    assert np.array_equal(r.output, conv2d_reference(x, cl.decode()[0], layer))


def test_aw_lossy_pruning_changes_outputs():
    """A fixed NNZ_a = 1 on a dense input drops activations: outputs equal the convolution of
    the pruned input, not of the input."""
    layer = Layer("c", "conv", 3, 3, 8, 2, kernel_h=2, kernel_w=2)
    arch = make_arch("s2ta-aw", rows=8, cols=2, nm=(2, 4), nnz=1, wrf=2)
    x = make_input(layer, "random", 2, zeros=0.0, bz=4)
    cl, mapping, r, act = check_case(layer, arch, x, seed=2)
    assert act == (4, 1)
    assert not np.array_equal(r.output, conv2d_reference(x, cl.decode()[0], layer))


def test_zvcg_exact_macs_blocks_of_zeros():
    """sa-zvcg and s2ta-w, a 1x1 conv (no padding) whose input has whole blocks of 8 channels
    zero: gated MACs = macs x (N/M) x density exactly."""
    layer = Layer("c", "conv", 3, 4, 32, 5)
    for preset in ("sa-zvcg", "s2ta-w"):
        arch = make_arch(preset, rows=8, cols=4, nm=(2, 8))
        x = make_input(layer, "blocks", 4, zeros=0.5, bz=8)
        assert np.count_nonzero(x) / x.size == 0.5
        check_case(layer, arch, x, seed=4, exact_macs=True)


def test_dbb_weights_on_a_dense_array():
    """s2ta-w with array.sparse = false: dbb blocks are read compressed and expanded to M
    values (zeros at the pruned positions) on a dense array: every logical PE multiplies."""
    layer = Layer("c", "conv", 3, 4, 16, 5, kernel_h=2, kernel_w=2, pad_w=1)
    arch = make_arch("s2ta-w", rows=8, cols=4, nm=(2, 8))
    arch = validate(dataclasses.replace(arch, array=dataclasses.replace(
        arch.array, sparse=False)), "test")
    x = make_input(layer, "random", 8, zeros=0.3, bz=8)
    cl, mapping, r, act = check_case(layer, arch, x, seed=8)
    assert mapping.schedule.logical_rows == mapping.schedule.rows == 8
    assert r.executed_macs == layer.macs


def test_padding_zeros_are_gated_but_not_in_the_density():
    """A padded 3x3 conv with a dense input (density 1): the fast model counts every MAC, the
    reference gates the MACs on padding zeros -- a definition difference, not a bug."""
    layer = Layer("c", "conv", 4, 4, 8, 3, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1)
    arch = make_arch("sa-zvcg", rows=8, cols=4)
    x = make_input(layer, "random", 5, zeros=0.0, bz=8)
    cl, mapping, r, act = check_case(layer, arch, x, seed=5)
    assert mapping.traffic.executed_macs == layer.macs
    inside = int(conv2d_reference(np.ones_like(x), np.ones(layer.weight_shape, np.int64),
                                  layer).sum())
    assert r.nonzero_macs == inside < layer.macs


def test_engine_path_npz_profile(tmp_path):
    """The density reaches the plug-in through the engine (activations.profile = an .npz of the
    test's own input): same mapping as planning with LayerContext(act_density=...)."""
    from ewssim.engine.sim import simulate as simulate_network

    layer = Layer("fc", "linear", 1, 8, 16, 4)
    x = make_input(layer, "rotating", 6, zeros=0, bz=8, k=5)
    np.savez(tmp_path / "acts.npz", fc=x)
    arch = make_arch("s2ta-aw", rows=8, cols=4, nm=(4, 8), wrf=4)
    arch = dataclasses.replace(arch, activations=dataclasses.replace(
        arch.activations, profile=str(tmp_path / "acts.npz")))
    cl = dbb_compress(layer, arch, 6)
    res = simulate_network(Network("n", (layer,)), arch,
                           formats={"fc": LayerFormat.from_compressed(cl)})
    m = res[0].mapping
    cl2, fmt, w_run, w_dec, mapping, act, density = run_case(layer, arch, x, 6)
    assert density == 5 / 8 and act == (8, 5)
    assert m.schedule.slot_cycles == 5
    assert m.traffic.as_dict() == mapping.traffic.as_dict()
    cl3, mapping2, r, act2 = check_case(layer, arch, x, 6, exact_macs=True)
    assert r.nonzero_macs == m.traffic.executed_macs


# ----------------------------------------------------------------------------- helpers' rules

def test_dbb_prune_tie_rule():
    b = np.array([[3, -5, 5, 0, 0, 1, -3, 2]])
    v, p = dbb_prune(b, 3)
    assert p.tolist() == [[0, 1, 2]] and v.tolist() == [[3, -5, 5]]      # 3 ties -3: lower pos
    v, p = dbb_prune(np.array([[0, 0, 7, 0]]), 3)
    assert p.tolist() == [[0, 1, 2]] and v.tolist() == [[0, 0, 7]]       # zeros from the lowest
    with pytest.raises(EwssimError):
        dbb_prune(b, 0)


def test_prune_activations_per_position_and_group():
    layer = Layer("g", "conv", 2, 2, 16, 2, kernel_w=1, groups=2)
    x = make_input(layer, "random", 7, zeros=0.0, bz=8)
    xp = prune_activations(x, layer, 8, 2)
    nz = (xp.reshape(2, 8, 4) != 0).sum(1)
    assert (nz == 2).all()
    # the kept ones are the two largest magnitudes of each block
    for blk in range(2):
        for pos in range(4):
            col = x.reshape(2, 8, 4)[blk, :, pos]
            kept = np.flatnonzero(xp.reshape(2, 8, 4)[blk, :, pos])
            assert sorted(np.abs(col[kept])) == sorted(np.abs(col))[-2:]
    with pytest.raises(EwssimError, match="not a multiple"):
        prune_activations(x[:12], Layer("h", "conv", 2, 2, 12, 2, kernel_w=1), 8, 2)


def test_check_functional_dbb_and_aw():
    layer = Layer("c", "conv", 4, 4, 16, 4, kernel_h=3, kernel_w=3, pad_h=1, pad_w=1)
    for preset, nnz in (("s2ta-w", 0), ("s2ta-aw", 0), ("s2ta-aw", 2)):
        arch = make_arch(preset, rows=8, cols=4, nm=(4, 8), nnz=nnz, wrf=4)
        cl = dbb_compress(layer, arch, 0)
        fmt = LayerFormat.from_compressed(cl)
        ctx = LayerContext(act_density=0.56)
        mapping = plan(layer, arch, fmt, ctx)
        act = (8, mapping.lhw.nnz_a) if arch.activations.dbb else None
        assert np.array_equal(loader_weights(cl), cl.decode()[0])
        assert check_functional(layer, mapping, 3, weights=cl, act_dbb=act).ok
        if act is not None and act[1] < 8:   # the functional mode really prunes
            x, _ = random_operands(layer, 3)
            got = run_functional(layer, mapping.schedule, x, cl, act)
            assert not np.array_equal(got, conv2d_reference(x, cl.decode()[0], layer))


# ----------------------------------------------------------------------------- faults

def test_aw_refuses_what_a_tensor_pe_cannot_run():
    layer = Layer("fc", "linear", 1, 3, 16, 3)
    arch = make_arch("s2ta-aw", rows=8, cols=4, nm=(4, 8), nnz=2, wrf=4)
    x = make_input(layer, "random", 0, zeros=0.0, bz=8)
    cl, fmt, w_run, _, mapping, act, _ = run_case(layer, arch, x, 0)
    assert mapping.lhw.time_unrolled
    with pytest.raises(ReferenceSimError, match="needs >= 4 cycles"):
        reference_of(mapping, arch, x, cl, line_cycles=1)
    with pytest.raises(ReferenceSimError, match="only with pruned dbb weights"):
        reference_of(mapping, arch, x, cl.decode()[0])


def test_aw_wrong_weight_position_shows_in_outputs(monkeypatch):
    """A weight path that swaps kept positions inside each block gives different outputs."""
    import ewssim.engine.reference as ref

    layer = Layer("fc", "linear", 1, 4, 16, 3)
    arch = make_arch("s2ta-aw", rows=8, cols=4, nm=(4, 8), wrf=4)
    x = make_input(layer, "random", 1, zeros=0.0, bz=8)
    cl, fmt, w_run, w_dec, mapping, act, _ = run_case(layer, arch, x, 1)
    orig = ref.dbb_subvectors

    def shifted(c):
        v, p = orig(c)
        return v[:, ::-1].copy(), p

    monkeypatch.setattr(ref, "dbb_subvectors", shifted)
    r = reference_of(mapping, arch, x, cl)
    assert not np.array_equal(r.output, conv2d_reference(prune_activations(x, layer, *act),
                                                         w_dec, layer))


# ----------------------------------------------------------------------------- disagreements

def test_dense_layer_on_s2ta_aw_executed_macs():
    """A dense INT8 layer on s2ta-aw runs as WS without activation pruning: its executed MACs
    are not capped by NNZ_a/BZ (found by this reference, fixed in traffic.array_traffic)."""
    layer = Layer("c0", "conv", 2, 2, 3, 2, kernel_w=1)   # 1x1, no padding, in_c = 3
    arch = make_arch("s2ta-aw", rows=8, cols=2, nm=(4, 8), nnz=2, wrf=4)
    x = make_input(layer, "blocks", 0, zeros=0.0, bz=8)  # dense input, density 1
    cl, fmt, w_run, w_dec, mapping, act, density = run_case(layer, arch, x, 0)
    assert fmt.format.int8 and act is None and density == 1.0
    r = reference_of(mapping, arch, x, w_run)
    assert np.array_equal(r.output, conv2d_reference(x, w_dec, layer))     # not pruned
    assert r.nonzero_macs == layer.macs == 24
    assert mapping.traffic.executed_macs == r.nonzero_macs
