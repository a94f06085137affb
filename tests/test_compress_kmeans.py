"""k-means, masked k-means, SSE of MVQ vs case C, exact reconstruction of int8-valued weights."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ewssim.compress import Settings, SyntheticWeights, compress_layer
from ewssim.compress.kmeans import assign_nearest, kmeans
from ewssim.workload import Layer


def _layer(o=64, c=64, k=3, name="conv"):
    return Layer(name, "conv", 8, 8, c, o, k, k, pad_h=k // 2, pad_w=k // 2)


@pytest.mark.parametrize("nm", [(1, 4), (2, 4)])
def test_masked_kmeans_beats_case_c_on_kept_weights(nm):
    la = _layer()
    w = SyntheticWeights(seed=3).get(la)
    mvq = compress_layer(w, method="mvq", nm=nm, k=64, d=8, layer=la)
    casec = compress_layer(w, method="casec", nm=nm, k=64, d=8, layer=la)
    assert mvq.stats["kept_weights"] == casec.stats["kept_weights"] == w.size * nm[0] / nm[1]
    assert mvq.stats["sse_kept"] < casec.stats["sse_kept"]
    # same mask (same pruning) for both
    assert np.array_equal(mvq.mask(), casec.mask())


def test_exact_reconstruction_int8_values_no_pruning_d1():
    rng = np.random.default_rng(0)
    q = rng.integers(-127, 128, size=(32, 16, 3, 3)).astype(np.int8)
    q.flat[0], q.flat[1] = 127, -127  # scale = max|w| / 127 = 1 exactly
    for method in ("vq", "mvq"):
        cl = compress_layer(q.astype(np.float32), method=method, nm=(4, 4), k=256, d=1)
        w8, scale = cl.decode()
        assert np.array_equal(w8, q)
        assert np.all(scale == 1.0)
        assert cl.stats["sse_all"] == 0.0
    # a scaled int8 tensor: int8 decode is exact, the float reconstruction matches to rounding
    s = np.float32(0.0123)
    cl = compress_layer(q.astype(np.float32) * s, method="vq", k=256, d=1)
    w8, scale = cl.decode()
    assert np.array_equal(w8, q)
    np.testing.assert_allclose(cl.dequantize(), q * s, rtol=1e-6, atol=1e-7)


def _brute(x, m, c):
    return (m[:, None, :] * (x[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 40), d=st.integers(1, 6), k=st.integers(1, 9), seed=st.integers(0, 99))
def test_masked_distance_matches_brute_force(n, d, k, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    m = rng.random((n, d)) < 0.5
    c = rng.standard_normal((k, d)).astype(np.float32)
    ref = _brute(x, m, c)
    a, dist = assign_nearest(x, m, c, chunk=7)
    np.testing.assert_allclose(dist, ref.min(axis=1), rtol=1e-4, atol=1e-4)
    assert np.all(ref[np.arange(n), a] <= ref.min(axis=1) + 1e-4)


def test_centroid_update_uses_only_unmasked_positions():
    # two obvious clusters on position 0; position 1 of cluster A is always masked and its
    # (masked) values are huge: the centroid must ignore them.
    x = np.array([[1.0, 1e6], [1.1, 1e6], [5.0, 2.0], [5.2, 2.2]], dtype=np.float32)
    m = np.array([[1, 0], [1, 0], [1, 1], [1, 1]], dtype=bool)
    r = kmeans(x, 2, mask=m, seed=0, init=np.array([[0, 0], [6, 0]], np.float32))
    c = r.centroids[np.argsort(r.centroids[:, 0])]
    np.testing.assert_allclose(c[0, 0], 1.05, rtol=1e-6)
    assert c[0, 1] == 0.0  # never observed: keeps its initial value
    np.testing.assert_allclose(c[1], [5.1, 2.1], rtol=1e-6)


def test_empty_clusters_are_reseeded_and_seed_is_deterministic():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((500, 4)).astype(np.float32)
    init = np.zeros((8, 4), np.float32)  # 7 clusters start empty
    r = kmeans(x, 8, seed=0, init=init, max_iter=5)
    assert r.reseeded >= 7
    assert len(np.unique(r.assign)) == 8
    a = kmeans(x, 8, seed=5)
    b = kmeans(x, 8, seed=5)
    assert np.array_equal(a.assign, b.assign) and np.array_equal(a.centroids, b.centroids)


def test_ssvq_codebook_is_nonnegative_and_signs_restore():
    la = _layer(32, 32)
    w = SyntheticWeights(seed=2).get(la)
    cl = compress_layer(w, method="ssvq", layer=la)
    assert (cl.format.k, cl.format.d, cl.format.nm) == (16, 8, (1, 1))
    assert cl.codebook.min() >= 0
    w8, _ = cl.decode()
    nz = w8 != 0
    assert np.array_equal(np.sign(w8[nz]), np.sign(w[nz]))
    assert cl.bits.payload / cl.bits.weights == 1.5  # SSVQ paper format: 1.5 bits/weight


def test_vq_rejects_pruning_and_settings_errors():
    from ewssim.errors import InputError
    with pytest.raises(InputError, match="field 'nm'"):
        Settings.for_method("vq", nm=(1, 4))
    with pytest.raises(InputError, match="field 'k'"):
        Settings.for_method("mvq", k=100)
    with pytest.raises(InputError, match="field 'd'.*multiple of M=4"):
        Settings.for_method("mvq", d=6)
    w = SyntheticWeights().get(_layer(4, 8, 1))
    with pytest.raises(InputError, match="field 'k'.*larger than the number of sub-vectors"):
        compress_layer(w, method="mvq", k=8)  # 4 sub-vectors
