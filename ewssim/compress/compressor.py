"""compress_layer / compress_network: N:M pruning + (masked) k-means + int8 codebook.

Methods (``method``):

* ``mvq``   -- N:M prune, masked k-means (distances and centroid updates on kept positions only).
* ``casec`` -- N:M prune, plain k-means on the pruned sub-vectors *with the zeros included* (the
  MVQ paper's ablation "case C"); same stored format as mvq (indices + mask + codebook).
* ``vq``    -- plain k-means on the dense sub-vectors, no mask (N:M must be N = M).
* ``ssvq``  -- signs split off (1 bit per kept weight), k-means on ``|W|`` (masked when N < M).
* ``int8``  -- per-layer symmetric INT8 of the raw weights (the reference format; ``dense`` is
  accepted as another name).
* ``dbb``   -- S2TA's density-bound blocks: N:M magnitude pruning (``N`` = NNZ, ``M`` = BZ, default
  4:8) of the dense INT8 weights (same per-layer scale); stores the kept int8 values + the mask.
  A sub-vector is one block (``d = M``); ``k``/``d``/codebook groups do not apply (normalised to
  ``k = 1``, ``d = M``, ``G = 1``).

After k-means the codebook is quantised to int8 (one scale per codebook) and every sub-vector is
re-assigned to its nearest *quantised* codeword (same masked distance), so the stored indices are
the best ones for what the hardware computes with.

Layers that do not fit the format (``fit`` rule, recorded per layer in ``note``):

* ``d`` does not divide ``in_c/groups`` (first conv with 3 channels, depthwise convs):
  ``fit="int8"`` (default; also spelled ``dense``) keeps the layer INT8; ``fit="pad"``
  zero-pads the channel axis to a multiple of ``d`` (padding counted in storage, never in the
  weights or the error);
  ``fit="error"`` raises.
* fewer sub-vectors per codebook than ``k``: ``fit="int8"``/``"pad"`` keep the layer INT8;
  ``fit="error"`` raises.  In a network, ``k`` larger than the sub-vector count of *every*
  layer is always an error, and so is any such layer given to :func:`compress_layer` alone.
* in a network, a codebook format (vq, mvq, casec, ssvq) whose compressed form would not be
  smaller than INT8 (indices, masks, signs, codebooks and scales against INT8 weights and
  scale): the layer is kept INT8 and its note gives both sizes in bits per weight
  (``int8_if_larger``, default on; a layer given to :func:`compress_layer` alone is compressed
  as asked).
"""

from __future__ import annotations

import os
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from ewssim.errors import InputError

from .codecs import encode_mask, index_dtype, pack_uint
from .format import INT8, WeightFormat, canonical_fit
from .kmeans import assign_nearest, kmeans
from .layer import CompressedLayer, CompressedNetwork, int8_layer
from .layout import from_subvectors, padded_channels, real_positions, to_subvectors
from .metrics import FORMULA
from .prune import nm_mask
from .quant import quantize_codebooks, quantize_symmetric
from .ssvq import split_signs
from .weights import open_weights

ProgressFn = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Settings:
    """What to compress to (:class:`~ewssim.compress.format.WeightFormat`) and how: the fit
    rule for layers the format does not fit, the k-means seed, iterations and tolerance.
    Build with :meth:`for_method`, which validates (InputError naming the field)."""

    format: WeightFormat = field(default_factory=lambda: WeightFormat.make("mvq"))
    fit: str = "int8"
    #: in a network, keep a layer INT8 when its compressed form would not be smaller
    int8_if_larger: bool = True
    seed: int = 0
    max_iter: int = 20
    tol: float = 0.0
    source: str = "compression settings"

    @classmethod
    def for_method(cls, method: str, *, nm=None, k: int | None = None, d: int | None = None,
                   mask_encoding: str | None = None, codebook_groups: int | None = None,
                   fit: str | None = None, seed: int | None = None, max_iter: int | None = None,
                   tol: float | None = None, source: str | None = None,
                   strict: bool = False, int8_if_larger: bool | None = None) -> Settings:
        """``method``'s format with the given fields overridden (``None``: the method's
        defaults, docs/compression.md); with ``strict`` a field the method has no use for
        (``k`` for dbb, N:M for int8) is refused rather than ignored."""
        src = source or "compression settings"
        fmt = WeightFormat.make(method, nm=nm, k=k, d=d, mask_encoding=mask_encoding,
                                codebook_groups=codebook_groups, source=src, strict=strict)
        base = cls(format=fmt, source=src)
        kw = {"fit": fit, "seed": seed, "max_iter": max_iter, "tol": tol,
              "int8_if_larger": int8_if_larger}
        return replace(base, **{key: v for key, v in kw.items() if v is not None}).checked()

    def checked(self) -> Settings:
        src = self.source
        fit = canonical_fit(self.fit, source=src)
        for fld in ("seed", "max_iter"):
            v = getattr(self, fld)
            lo = 0 if fld == "seed" else 1
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise InputError(f"must be an integer >= {lo}, got {v!r}", source=src,
                                 field=fld, allowed=f"integer >= {lo}")
        if not (0.0 <= self.tol < 1.0):
            raise InputError(f"must be in [0, 1), got {self.tol}", source=src, field="tol")
        return self if fit == self.fit else replace(self, fit=fit)

    def as_dict(self) -> dict:
        f = self.format
        return {"method": f.method, "nm": list(f.nm), "k": f.k, "d": f.d,
                "mask_encoding": f.mask_encoding, "codebook_groups": f.codebook_groups,
                "fit": self.fit, "seed": self.seed, "max_iter": self.max_iter, "tol": self.tol,
                "int8_if_larger": self.int8_if_larger}


# --------------------------------------------------------------------------- one layer
def _layer_seed(seed: int, name: str) -> list[int]:
    return [int(seed), zlib.crc32(name.encode())]


def _stats(cl: CompressedLayer, w: np.ndarray, kept: np.ndarray | None) -> dict:
    err = (cl.dequantize().astype(np.float64) - w.astype(np.float64)) ** 2
    st = {"sse_all": float(err.sum()), "sum_sq": float((w.astype(np.float64) ** 2).sum())}
    if kept is None:
        st["sse_kept"], st["kept_weights"] = st["sse_all"], float(w.size)
    else:
        st["sse_kept"], st["kept_weights"] = float(err[kept].sum()), float(kept.sum())
    return st


def _int8(name: str, w: np.ndarray, fit: str, note: str) -> CompressedLayer:
    q, s = quantize_symmetric(w)
    cl = int8_layer(name, q, np.array([s], dtype=np.float32), fit=fit, note=note)
    cl.stats = _stats(cl, w, None)
    return cl


def _as_4d(w: np.ndarray) -> np.ndarray:
    w = np.asarray(w, dtype=np.float32)
    if w.ndim == 2:
        w = w[:, :, None, None]
    return w


def fit_rule(name: str, weight_shape: tuple[int, int, int, int], s: Settings,
             small_layer_fallback: bool) -> tuple[bool, str]:
    """(keep the layer INT8?, note) for a compressed format -- the one rule that both the
    compressor and the simulator's analytic weight plan (:mod:`ewssim.compress.plan`) apply."""
    f = s.format
    o, c, r, ss = weight_shape
    d, k, g = f.d, f.k, f.codebook_groups
    if o % g:
        raise InputError(f"layer '{name}': codebook groups {g} do not divide out_c={o}",
                         source=s.source, field="codebook_groups", allowed=f"a divisor of {o}")
    note = ""
    if c % d:
        why = f"in_c/groups={c} is not a multiple of {'the block size M' if f.dbb else 'd'}={d}"
        if s.fit == "error":
            raise InputError(f"layer '{name}': {why}", source=s.source,
                             field="nm" if f.dbb else "d",
                             allowed="fit=pad or fit=int8 to handle such layers")
        if s.fit == "int8":
            return True, f"{why}: kept INT8 (fit=int8)"
        note = f"{why}: channels zero-padded {c}->{padded_channels(c, d)} (fit=pad)"
    per_group = o * r * ss * padded_channels(c, d) // d // g
    if k > per_group:
        why = f"{per_group} sub-vectors per codebook < k={k}"
        if not small_layer_fallback or s.fit == "error":
            raise InputError(f"layer '{name}': k is larger than the number of sub-vectors "
                             f"({why})", source=s.source, field="k",
                             allowed=f"a power of two <= {per_group}")
        return True, f"{why}: kept INT8 (fit={s.fit})"
    mine, int8 = f.layer_bits(weight_shape), INT8.layer_bits(weight_shape)
    if small_layer_fallback and s.int8_if_larger and f.codebook and mine.total >= int8.total:
        return True, (f"compressed {mine.bits_per_weight:.2f} bits/weight is not smaller than "
                      f"INT8 {int8.bits_per_weight:.2f}: kept INT8")
    return False, note


def _checked_weights(weights, s: Settings, name: str, layer) -> np.ndarray:
    w = _as_4d(weights)
    if w.ndim != 4:
        raise InputError(f"layer '{name}': weights must be 2-D or 4-D, got shape {w.shape}",
                         source=s.source, field="weights")
    if layer is not None and tuple(w.shape) != tuple(layer.weight_shape):
        raise InputError(f"layer '{name}': weights have shape {tuple(w.shape)} but the layer "
                         f"needs {tuple(layer.weight_shape)}", source=s.source, field="weights")
    if not np.isfinite(w).all():
        raise InputError(f"layer '{name}': weights contain NaN or infinity", source=s.source,
                         field="weights")
    return w


def compress_layer(weights: np.ndarray, settings: Settings | None = None, *, name: str = "layer",
                   layer=None, small_layer_fallback: bool = False, **kw) -> CompressedLayer:
    """Compress one weight tensor ``(out_c, in_c/groups, kh, kw)`` (or ``(out_c, in_c)``).

    ``settings``, or the keywords of :meth:`Settings.for_method` (``method=`` first).
    ``layer`` (a workload ``Layer``) checks the shape and gives the name.
    ``small_layer_fallback``: when the layer has fewer sub-vectors than ``k``, apply ``fit``
    (INT8) instead of raising (compress_network sets it).
    """
    if settings is None:
        settings = Settings.for_method(kw.pop("method", "mvq"), **kw)
    elif kw:
        raise TypeError("give either settings or keyword overrides, not both")
    s = settings
    if layer is not None:
        name = layer.name
    w = _checked_weights(weights, s, name, layer)
    if s.format.int8:
        return _int8(name, w, s.fit, "")
    keep_int8, note = fit_rule(name, w.shape, s, small_layer_fallback)
    if keep_int8:
        return _int8(name, w, s.fit, note)
    if s.format.dbb:
        return _dbb(name, w, s, note)
    return _codebook_layer(name, w, s, note)


def _kmeans_inputs(x: np.ndarray, mask: np.ndarray, real: np.ndarray, f: WeightFormat,
                   padded: bool):
    """(data, k-means mask, negative signs or None) of the method: masked k-means on the kept
    (and real) positions for mvq and ssvq (on magnitudes), zeros included for case C, the dense
    sub-vectors for vq."""
    if f.method in ("mvq", "ssvq"):
        neg = None
        data = x
        if f.signs:
            data, neg = split_signs(x)
        return data, (mask & real if (f.pruned or padded) else None), neg
    if f.method == "casec":
        return np.where(mask, x, np.float32(0)), (real if padded else None), None
    return x, (real if padded else None), None


def _codebooks(data: np.ndarray, kmask, s: Settings, name: str) -> tuple:
    """k-means per codebook group, int8 codebooks, and every sub-vector re-assigned to its
    nearest *quantised* codeword: (int8 codebooks (G, k, d), scales (G,), indices)."""
    f = s.format
    g, k, d = f.codebook_groups, f.k, f.d
    n_sub = data.shape[0]
    per_group = n_sub // g
    cb = np.empty((g, k, d), dtype=np.float32)
    assign = np.empty(n_sub, dtype=np.int64)
    seed = _layer_seed(s.seed, name)
    for gi in range(g):
        sl = slice(gi * per_group, (gi + 1) * per_group)
        km = None if kmask is None else kmask[sl]
        res = kmeans(data[sl], k, mask=km, seed=seed + [gi], max_iter=s.max_iter, tol=s.tol,
                     reassign=False)
        cb[gi] = res.centroids
    if f.signs:
        np.maximum(cb, 0.0, out=cb)
    qcb, scales = quantize_codebooks(cb)
    for gi in range(g):
        sl = slice(gi * per_group, (gi + 1) * per_group)
        km = None if kmask is None else kmask[sl]
        assign[sl] = assign_nearest(data[sl], km, qcb[gi].astype(np.float32) * scales[gi])[0]
    return qcb, scales, assign


def _codebook_layer(name: str, w: np.ndarray, s: Settings, note: str) -> CompressedLayer:
    f = s.format
    n, m = f.nm
    x = to_subvectors(w, f.d)  # (n_sub, d), padding is zero
    mask = nm_mask(x, n, m) if f.pruned else np.ones(x.shape, dtype=bool)
    data, kmask, neg = _kmeans_inputs(x, mask, real_positions(w.shape, f.d), f,
                                      padded=w.shape[1] % f.d != 0)
    qcb, scales, assign = _codebooks(np.ascontiguousarray(data, dtype=np.float32), kmask, s,
                                     name)
    cl = CompressedLayer(
        name=name, format=f, weight_shape=tuple(w.shape), scale=scales,
        indices=assign.astype(index_dtype(f.k)), codebook=qcb, fit=s.fit, note=note,
        mask_data=encode_mask(mask, n, m, f.mask_encoding) if f.pruned else None,
        sign_data=pack_uint(neg[mask], 1) if neg is not None else None,
    )
    cl.__dict__["_mask"] = mask
    cl.stats = _stats(cl, w, from_subvectors(mask, w.shape, f.d) if f.pruned else None)
    return cl


def _dbb(name: str, w: np.ndarray, s: Settings, note: str) -> CompressedLayer:
    """S2TA density-bound blocks: the INT8 weights (one per-layer scale), the ``N`` largest
    magnitudes of every block of ``M`` input channels kept (prune.py's N:M)."""
    f = s.format
    n, m = f.nm
    q, scale = quantize_symmetric(w)  # max|W| is always kept, so this is also the kept scale
    x = to_subvectors(w, f.d)
    mask = nm_mask(x, n, m) if f.pruned else np.ones(x.shape, dtype=bool)
    kept = to_subvectors(q, f.d)[mask].reshape(x.shape[0], -1)
    cl = CompressedLayer(
        name=name, format=f, weight_shape=tuple(w.shape), scale=np.array([scale], np.float32),
        kept_values=np.ascontiguousarray(kept, dtype=np.int8), fit=s.fit, note=note,
        mask_data=encode_mask(mask, n, m, f.mask_encoding) if f.pruned else None)
    cl.__dict__["_mask"] = mask
    cl.stats = _stats(cl, w, from_subvectors(mask, w.shape, f.d) if f.pruned else None)
    return cl


# --------------------------------------------------------------------------- a network
def _check_network(network, weighted: list, s: Settings) -> None:
    """Errors that concern the whole network: codebook groups that do not divide a layer's
    output channels, and ``k`` larger than the sub-vectors of every layer."""
    f = s.format
    if f.int8 or f.dbb or not weighted:
        return
    for la in weighted:
        if la.weight_shape[0] % f.codebook_groups:
            raise InputError(f"layer '{la.name}': codebook groups {f.codebook_groups} do "
                             f"not divide out_c={la.weight_shape[0]}", source=s.source,
                             field="codebook_groups", allowed="a divisor of every out_c")

    def n_sub(la):
        o, c, r, ss = la.weight_shape
        if c % f.d and s.fit != "pad":
            return 0
        return o * r * ss * padded_channels(c, f.d) // f.d // f.codebook_groups
    most = max(n_sub(la) for la in weighted)
    if most and f.k > most:
        raise InputError(f"k={f.k} is larger than the number of sub-vectors of every layer "
                         f"of {network.name} (at most {most})", source=s.source, field="k",
                         allowed=f"a power of two <= {most}")


def _compress_one(args) -> CompressedLayer:
    w, s, la = args
    return compress_layer(w, s, layer=la, small_layer_fallback=True)


def compress_network(network, weights="synthetic", settings: Settings | None = None, *,
                     progress: ProgressFn | None = None, workers: int | None = None,
                     **kw) -> CompressedNetwork:
    """Compress every weighted layer of ``network`` (a workload ``Network``).

    ``weights``: ``"synthetic"``, a path (see :mod:`ewssim.compress.weights`) or an object with
    ``get(layer)``.  ``progress(done, total, label)`` is called after every layer.  ``workers``
    processes share the layers (default: one per CPU core, at most 4; 1 runs in this process);
    the result does not depend on it (every layer has its own seed).
    """
    if settings is None:
        settings = Settings.for_method(kw.pop("method", "mvq"), **kw)
    elif kw:
        raise TypeError("give either settings or keyword overrides, not both")
    s = settings
    src = weights if hasattr(weights, "get") else open_weights(weights, network, s.seed)
    weighted = [la for la in network.layers if la.has_weights]
    skipped = [la.name for la in network.layers if not la.has_weights]
    _check_network(network, weighted, s)
    n = len(weighted)
    workers = min(os.cpu_count() or 1, 4) if workers is None else max(1, workers)
    layers: list[CompressedLayer] = []

    def done(cl: CompressedLayer) -> None:
        layers.append(cl)
        if progress is not None:
            progress(len(layers), n, cl.name)

    if workers == 1 or n < 2 or s.format.int8:
        for la in weighted:
            done(_compress_one((src.get(la), s, la)))
    else:
        # at most 2 layers per worker in flight, so the weights are not all in memory at once
        with ProcessPoolExecutor(max_workers=min(workers, n)) as pool:
            pending: deque = deque()
            for la in weighted:
                pending.append(pool.submit(_compress_one, (src.get(la), s, la)))
                if len(pending) >= 2 * workers:
                    done(pending.popleft().result())
            while pending:
                done(pending.popleft().result())
    meta = s.as_dict()
    meta["weights"] = getattr(src, "description", type(src).__name__)
    return CompressedNetwork(name=network.name, layers=layers, settings=meta, skipped=skipped)


# --------------------------------------------------------------------------- reporting
def layer_row(cl: CompressedLayer) -> dict:
    """One inspect row: format, bits, ratios, errors."""
    b, f = cl.bits, cl.format
    row = {"name": cl.name, "method": f.method, "weight_shape": list(cl.weight_shape),
           "nm": None if f.int8 else list(f.nm), "k": f.k if f.codebook else None,
           "d": None if f.int8 else f.d, "mask_encoding": f.mask_encoding,
           "codebook_groups": f.codebook_groups, "n_sub": cl.n_sub, "note": cl.note}
    row.update(b.as_dict())
    for key in ("sse_all", "sse_kept", "sum_sq", "kept_weights"):
        row[key] = cl.stats.get(key)
    return row


def network_report(net: CompressedNetwork) -> dict:
    """Per-layer rows and totals (what ``ewssim compress inspect --json`` prints)."""
    total = net.bits.as_dict()
    for key in ("sse_all", "sse_kept", "sum_sq", "kept_weights"):
        total[key] = net.stat_total(key)
    return {"network": net.name, "settings": net.settings, "formula": FORMULA,
            "layers": [layer_row(la) for la in net.layers], "total": total,
            "skipped": net.skipped}
