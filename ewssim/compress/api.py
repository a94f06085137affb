"""compress_layer / compress_network: N:M pruning + (masked) k-means + int8 codebook.

Methods (``method``):

* ``mvq``   -- N:M prune, masked k-means (distances and centroid updates on kept positions only).
* ``casec`` -- N:M prune, plain k-means on the pruned sub-vectors *with the zeros included* (the
  MVQ paper's ablation "case C"); same stored format as mvq (indices + mask + codebook).
* ``vq``    -- plain k-means on the dense sub-vectors, no mask (N:M must be N = M).
* ``ssvq``  -- signs split off (1 bit per kept weight), k-means on ``|W|`` (masked when N < M).
* ``dense`` -- per-layer symmetric INT8 of the raw weights (the reference format).
* ``dbb``   -- S2TA's density-bound blocks: N:M magnitude pruning (``N`` = NNZ, ``M`` = BZ, default
  4:8) of the dense INT8 weights (same per-layer scale); stores the kept int8 values + the mask.
  A sub-vector is one block (``d = M``); ``k``/``d``/codebook groups do not apply (normalised to
  ``k = 1``, ``d = M``, ``G = 1``).

After k-means the codebook is quantised to int8 (one scale per codebook) and every sub-vector is
re-assigned to its nearest *quantised* codeword (same masked distance), so the stored indices are
the best ones for what the hardware computes with.

Layers that do not fit the format (``fit`` rule, recorded per layer in ``note``):

* ``d`` does not divide ``in_c/groups`` (first conv with 3 channels, depthwise convs):
  ``fit="dense"`` (default) keeps the layer INT8; ``fit="pad"`` zero-pads the channel axis to a
  multiple of ``d`` (padding counted in storage, never in the weights or the error);
  ``fit="error"`` raises.
* fewer sub-vectors per codebook than ``k``: ``fit="dense"``/``"pad"`` keep the layer INT8;
  ``fit="error"`` raises.  In a network, ``k`` larger than the sub-vector count of *every*
  layer is always an error, and so is any such layer given to :func:`compress_layer` alone.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np

from ewssim.errors import InputError

from .format import (
    FITS,
    METHODS,
    CompressedLayer,
    CompressedNetwork,
    encode_mask,
    index_dtype,
    pack_uint,
)
from .kmeans import assign_nearest, kmeans
from .layout import from_subvectors, padded_channels, real_positions, to_subvectors
from .metrics import FORMULA, MASK_ENCODINGS
from .prune import nm_mask
from .quant import quantize_codebooks, quantize_symmetric
from .ssvq import split_signs
from .weights import open_weights

#: per-method defaults: (N:M, k, d).  N:M ``None`` = no pruning.
METHOD_DEFAULTS: dict[str, tuple[tuple[int, int] | None, int, int]] = {
    "mvq": ((1, 4), 256, 8),
    "casec": ((1, 4), 256, 8),
    "vq": (None, 256, 8),
    "ssvq": (None, 16, 8),  # SSVQ paper format: k=16, d=8 + 1 sign bit = 1.5 bits/weight
    "dense": (None, 256, 8),
    "dbb": ((4, 8), 1, 8),  # S2TA: at most NNZ = 4 non-zeros per block of BZ = 8
}
#: mask encoding per method when none is given (S2TA stores ceil(log2 BZ)-bit positions)
METHOD_MASK_ENCODING: dict[str, str] = {"dbb": "positions"}

ProgressFn = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Settings:
    """Compression settings; :meth:`checked` validates them (InputError naming the field)."""

    method: str = "mvq"
    nm: tuple[int, int] | None = (1, 4)
    k: int = 256
    d: int = 8
    mask_encoding: str = "bitmap"
    codebook_groups: int = 1
    fit: str = "dense"
    seed: int = 0
    max_iter: int = 20
    tol: float = 0.0
    source: str = "compression settings"

    @classmethod
    def for_method(cls, method: str, **kw) -> Settings:
        """Defaults of ``method`` (see METHOD_DEFAULTS) overridden by the non-None ``kw``."""
        if method not in METHODS:
            raise InputError(f"unknown method {method!r}", source=kw.get("source") or
                             "compression settings", field="method", allowed=", ".join(METHODS))
        nm, k, d = METHOD_DEFAULTS[method]
        base = cls(method=method, nm=nm, k=k, d=d,
                   mask_encoding=METHOD_MASK_ENCODING.get(method, "bitmap"))
        return replace(base, **{key: v for key, v in kw.items() if v is not None}).checked()

    @property
    def block(self) -> int:
        """dbb block size (BZ): ``M`` of ``nm``, or ``d`` when ``nm`` is None."""
        return self.nm[1] if self.nm is not None else self.d

    @property
    def n_m(self) -> tuple[int, int]:
        """N:M with "no pruning" normalised to (1, 1)."""
        if self.nm is None or self.nm[0] == self.nm[1]:
            return (1, 1)
        return self.nm

    def checked(self) -> Settings:
        src = self.source

        def bad(fld, problem, allowed=None):
            return InputError(problem, source=src, field=fld, allowed=allowed)

        if self.method not in METHODS:
            raise bad("method", f"unknown method {self.method!r}", ", ".join(METHODS))
        if self.fit not in FITS:
            raise bad("fit", f"unknown rule {self.fit!r}", ", ".join(FITS))
        if self.method == "dense":
            return self
        if self.method == "dbb":  # no codebook: a sub-vector is one block of M channels
            if self.nm is not None:
                n, m = self.nm
                if not (isinstance(n, int) and isinstance(m, int) and 1 <= n <= m):
                    raise bad("nm", f"N:M = {n}:{m} is not a valid pattern", "1 <= N <= M")
            elif isinstance(self.d, bool) or not isinstance(self.d, int) or self.d < 1:
                raise bad("d", f"must be a positive integer, got {self.d!r}", "integer >= 1")
            if (self.k, self.d, self.codebook_groups) != (1, self.block, 1):
                return replace(self, k=1, d=self.block, codebook_groups=1).checked()
        for fld in ("k", "d", "codebook_groups", "max_iter"):
            v = getattr(self, fld)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise bad(fld, f"must be a positive integer, got {v!r}", "integer >= 1")
        if self.k & (self.k - 1) or self.k > 1 << 16:
            raise bad("k", f"k={self.k} is not a power of two <= 65536", "1, 2, 4, ..., 65536")
        if self.nm is not None:
            n, m = self.nm
            if not (isinstance(n, int) and isinstance(m, int) and 1 <= n <= m):
                raise bad("nm", f"N:M = {n}:{m} is not a valid pattern", "1 <= N <= M")
            if n < m and self.d % m:
                raise bad("d", f"d={self.d} is not a multiple of M={m}",
                          f"a multiple of {m}")
            if n < m and self.method == "vq":
                raise bad("nm", f"vq does not prune (got {n}:{m}); use mvq or casec",
                          "N = M for vq")
        if self.n_m[0] < self.n_m[1] and self.mask_encoding not in MASK_ENCODINGS:
            raise bad("mask_encoding", f"unknown encoding {self.mask_encoding!r}",
                      ", ".join(MASK_ENCODINGS))
        if not (0.0 <= self.tol < 1.0):
            raise bad("tol", f"must be in [0, 1), got {self.tol}")
        return self

    def as_dict(self) -> dict:
        out = asdict(self)
        out.pop("source")
        out["nm"] = list(self.n_m)
        return out


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


def _dense(name: str, w: np.ndarray, fit: str, note: str) -> CompressedLayer:
    q, s = quantize_symmetric(w)
    cl = CompressedLayer(name=name, method="dense", weight_shape=tuple(w.shape),
                         scale=np.array([s], dtype=np.float32), int8_weights=q, fit=fit,
                         note=note)
    cl.stats = _stats(cl, w, None)
    return cl


def _as_4d(w: np.ndarray) -> np.ndarray:
    w = np.asarray(w, dtype=np.float32)
    if w.ndim == 2:
        w = w[:, :, None, None]
    return w


def fit_rule(name: str, weight_shape: tuple[int, int, int, int], s: Settings,
             small_layer_fallback: bool) -> tuple[bool, str]:
    """(keep the layer INT8?, note) for a VQ-family method -- the one rule that both the
    compressor and the simulator's analytic weight plan (:mod:`ewssim.compress.plan`) apply."""
    o, c, r, ss = weight_shape
    d, k, g = s.d, s.k, s.codebook_groups
    dbb = s.method == "dbb"
    if dbb:
        d, k, g = s.block, 1, 1
    if o % g:
        raise InputError(f"layer '{name}': codebook groups {g} do not divide out_c={o}",
                         source=s.source, field="codebook_groups", allowed=f"a divisor of {o}")
    note = ""
    if c % d:
        why = f"in_c/groups={c} is not a multiple of {'the block size M' if dbb else 'd'}={d}"
        if s.fit == "error":
            raise InputError(f"layer '{name}': {why}", source=s.source,
                             field="nm" if dbb else "d",
                             allowed="fit=pad or fit=dense to handle such layers")
        if s.fit == "dense":
            return True, f"{why}: kept INT8 (fit=dense)"
        note = f"{why}: channels zero-padded {c}->{padded_channels(c, d)} (fit=pad)"
    per_group = o * r * ss * padded_channels(c, d) // d // g
    if k > per_group:
        why = f"{per_group} sub-vectors per codebook < k={k}"
        if not small_layer_fallback or s.fit == "error":
            raise InputError(f"layer '{name}': k is larger than the number of sub-vectors "
                             f"({why})", source=s.source, field="k",
                             allowed=f"a power of two <= {per_group}")
        return True, f"{why}: kept INT8 (fit={s.fit})"
    return False, note


def compress_layer(weights: np.ndarray, settings: Settings | None = None, *, name: str = "layer",
                   layer=None, small_layer_fallback: bool = False, **kw) -> CompressedLayer:
    """Compress one weight tensor ``(out_c, in_c/groups, kh, kw)`` (or ``(out_c, in_c)``).

    ``settings`` or keyword overrides of :meth:`Settings.for_method` (``method=`` first).
    ``layer`` (a workload ``Layer``) checks the shape and gives the name.
    ``small_layer_fallback``: when the layer has fewer sub-vectors than ``k``, apply ``fit``
    (INT8) instead of raising (compress_network sets it).
    """
    if settings is None:
        settings = Settings.for_method(kw.pop("method", "mvq"), **kw)
    elif kw or settings.method == "dbb":
        settings = replace(settings, **kw).checked()
    s = settings
    if layer is not None:
        name = layer.name
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
    if s.method == "dense":
        return _dense(name, w, s.fit, "")
    if s.method == "dbb":
        return _dbb(name, w, s, small_layer_fallback)

    o, c, r, ss = w.shape
    d, k, g = s.d, s.k, s.codebook_groups
    n, m = s.n_m
    keep_dense, note = fit_rule(name, w.shape, s, small_layer_fallback)
    if keep_dense:
        return _dense(name, w, s.fit, note)
    n_sub = o * r * ss * padded_channels(c, d) // d
    per_group = n_sub // g

    x = to_subvectors(w, d)  # (n_sub, d), padding is zero
    real = real_positions(w.shape, d)
    pruned = n < m
    mask = nm_mask(x, n, m) if pruned else np.ones(x.shape, dtype=bool)
    padded = c % d != 0
    neg = None
    if s.method in ("mvq", "ssvq"):  # masked k-means on the kept (and real) positions
        data = x
        if s.method == "ssvq":
            data, neg = split_signs(x)
        kmask = mask & real if (pruned or padded) else None
    elif s.method == "casec":  # zeros included: no mask in k-means
        data, kmask = np.where(mask, x, np.float32(0)), (real if padded else None)
    else:  # vq
        data, kmask = x, (real if padded else None)
    data = np.ascontiguousarray(data, dtype=np.float32)

    cb = np.empty((g, k, d), dtype=np.float32)
    assign = np.empty(n_sub, dtype=np.int64)
    seed = _layer_seed(s.seed, name)
    for gi in range(g):
        sl = slice(gi * per_group, (gi + 1) * per_group)
        km = None if kmask is None else kmask[sl]
        res = kmeans(data[sl], k, mask=km, seed=seed + [gi], max_iter=s.max_iter, tol=s.tol,
                     reassign=False)
        cb[gi] = res.centroids
    if s.method == "ssvq":
        np.maximum(cb, 0.0, out=cb)
    qcb, scales = quantize_codebooks(cb)
    for gi in range(g):  # re-assign against the codewords the hardware will use
        sl = slice(gi * per_group, (gi + 1) * per_group)
        km = None if kmask is None else kmask[sl]
        assign[sl] = assign_nearest(data[sl], km, qcb[gi].astype(np.float32) * scales[gi])[0]

    cl = CompressedLayer(
        name=name, method=s.method, weight_shape=(o, c, r, ss), scale=scales, d=d, k=k,
        nm=(n, m), mask_encoding=s.mask_encoding if pruned else "none", codebook_groups=g,
        indices=assign.astype(index_dtype(k)), codebook=qcb, fit=s.fit, note=note,
        mask_data=encode_mask(mask, n, m, s.mask_encoding) if pruned else None,
        sign_data=pack_uint(neg[mask], 1) if neg is not None else None,
    )
    cl.__dict__["_mask"] = mask
    kept_w = None
    if pruned:
        kept_w = from_subvectors(mask, w.shape, d)
    cl.stats = _stats(cl, w, kept_w)
    return cl


def _dbb(name: str, w: np.ndarray, s: Settings, small_layer_fallback: bool) -> CompressedLayer:
    """S2TA density-bound blocks: the dense INT8 weights (one per-layer scale, as ``dense``),
    the ``N`` largest magnitudes of every block of ``M`` input channels kept (prune.py's N:M)."""
    keep_dense, note = fit_rule(name, w.shape, s, small_layer_fallback)
    if keep_dense:
        return _dense(name, w, s.fit, note)
    n, m = s.n_m
    d = s.d  # = the block size M (Settings.checked)
    q, scale = quantize_symmetric(w)  # max|W| is always kept, so this is also the kept scale
    x = to_subvectors(w, d)
    pruned = n < m
    mask = nm_mask(x, n, m) if pruned else np.ones(x.shape, dtype=bool)
    qx = to_subvectors(q, d)
    kept = qx[mask].reshape(x.shape[0], -1)
    cl = CompressedLayer(
        name=name, method="dbb", weight_shape=tuple(w.shape), scale=np.array([scale], np.float32),
        d=d, k=1, nm=(n, m), mask_encoding=s.mask_encoding if pruned else "none",
        codebook_groups=1, kept_values=np.ascontiguousarray(kept, dtype=np.int8), fit=s.fit,
        note=note, mask_data=encode_mask(mask, n, m, s.mask_encoding) if pruned else None)
    cl.__dict__["_mask"] = mask
    cl.stats = _stats(cl, w, from_subvectors(mask, w.shape, d) if pruned else None)
    return cl


# --------------------------------------------------------------------------- a network
def compress_network(network, weights="synthetic", settings: Settings | None = None, *,
                     progress: ProgressFn | None = None, **kw) -> CompressedNetwork:
    """Compress every weighted layer of ``network`` (a workload ``Network``).

    ``weights``: ``"synthetic"``, a path (see :mod:`ewssim.compress.weights`) or an object with
    ``get(layer)``.  ``progress(done, total, label)`` is called after every layer.
    """
    if settings is None:
        settings = Settings.for_method(kw.pop("method", "mvq"), **kw)
    elif kw or settings.method == "dbb":
        settings = replace(settings, **kw).checked()
    s = settings
    src = weights if hasattr(weights, "get") else open_weights(weights, network, s.seed)
    weighted = [la for la in network.layers if la.has_weights]
    skipped = [la.name for la in network.layers if not la.has_weights]
    if s.method not in ("dense", "dbb") and weighted:
        for la in weighted:
            if la.weight_shape[0] % s.codebook_groups:
                raise InputError(f"layer '{la.name}': codebook groups {s.codebook_groups} do "
                                 f"not divide out_c={la.weight_shape[0]}", source=s.source,
                                 field="codebook_groups", allowed="a divisor of every out_c")

        def n_sub(la):
            o, c, r, ss = la.weight_shape
            if c % s.d and s.fit != "pad":
                return 0
            return o * r * ss * padded_channels(c, s.d) // s.d // s.codebook_groups
        most = max(n_sub(la) for la in weighted)
        if most and s.k > most:
            raise InputError(f"k={s.k} is larger than the number of sub-vectors of every layer "
                             f"of {network.name} (at most {most})", source=s.source, field="k",
                             allowed=f"a power of two <= {most}")
    layers = []
    total = len(weighted)
    for i, la in enumerate(weighted):
        w = src.get(la)
        layers.append(compress_layer(w, s, layer=la, small_layer_fallback=True))
        if progress is not None:
            progress(i + 1, total, la.name)
    meta = s.as_dict()
    meta["weights"] = getattr(src, "description", type(src).__name__)
    return CompressedNetwork(name=network.name, layers=layers, settings=meta, skipped=skipped)


# --------------------------------------------------------------------------- reporting
def layer_row(cl: CompressedLayer) -> dict:
    """One inspect row: format, bits, ratios, errors."""
    b = cl.bits
    row = {"name": cl.name, "method": cl.method, "weight_shape": list(cl.weight_shape),
           "nm": None if cl.is_dense else list(cl.nm),
           "k": None if cl.is_dense or cl.is_dbb else cl.k,
           "d": None if cl.is_dense else cl.d, "mask_encoding": cl.mask_encoding,
           "codebook_groups": cl.codebook_groups, "n_sub": cl.n_sub, "note": cl.note}
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
