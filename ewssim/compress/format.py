"""Versioned compressed-layer file format, the typed :class:`CompressedLayer` and its decoder.

One ``.npz`` (uncompressed numpy archive) per layer; a network is a directory holding the layer
files and a ``manifest.json``.  Every field, dtype and rule is documented in docs/compression.md;
:func:`load_layer` / :func:`load_network_dir` check all of them and raise
:class:`~ewssim.errors.InputError` naming the file and the field.

Layer archive members (format version 1):

``meta``      uint8, UTF-8 JSON: format, version, name, method, weight_shape, d, k, nm,
              mask_encoding, codebook_groups, fit, note, stats
``scale``     float32 ``(G,)``: one dequantisation scale per codebook (dense, dbb: ``(1,)``)
``indices``   smallest uint dtype for k (uint8 k<=256, uint16 k<=65536, else uint32), ``(n_sub,)``
``codebook``  int8 ``(G, k, d)``, values in [-127, 127] (ssvq: [0, 127])
``mask``      uint8, packed bits in the chosen encoding (absent when N = M)
``signs``     uint8, packed bits, 1 = negative, one per kept position (ssvq only)
``weights``   int8 ``(out_c, in_c/groups, kh, kw)`` (dense only)
``values``    int8 ``(n_sub, N*d/M)``: the kept int8 weights of every block, in ascending
              position order (dbb only; ``d`` = the block size M)

Bit packing is MSB first (``numpy.packbits`` order); the unused bits of the last byte are zero.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ewssim.errors import InputError

from .layout import from_subvectors, padded_channels
from .metrics import MASK_ENCODINGS, LayerBits, clog2, layer_bits, mask_bits_per_group

LAYER_FORMAT = "ewssim-compressed-layer"
NETWORK_FORMAT = "ewssim-compressed-network"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
METHODS: tuple[str, ...] = ("mvq", "casec", "vq", "ssvq", "dense", "dbb")
VQ_METHODS: tuple[str, ...] = ("mvq", "casec", "vq", "ssvq")
FITS: tuple[str, ...] = ("dense", "pad", "error")


def index_dtype(k: int) -> np.dtype:
    """Smallest unsigned dtype that holds indices ``0 .. k-1``."""
    if k <= 1 << 8:
        return np.dtype(np.uint8)
    if k <= 1 << 16:
        return np.dtype(np.uint16)
    return np.dtype(np.uint32)


# --------------------------------------------------------------------------- bit packing
def pack_uint(values: np.ndarray, width: int) -> np.ndarray:
    """Pack non-negative integers, ``width`` bits each, MSB first, into uint8."""
    v = np.asarray(values, dtype=np.uint64).ravel()
    if width == 0 or v.size == 0:
        return np.zeros(0, dtype=np.uint8)
    shifts = np.arange(width - 1, -1, -1, dtype=np.uint64)
    bits = ((v[:, None] >> shifts) & np.uint64(1)).astype(np.uint8)
    return np.packbits(bits.ravel())


def _unpack_bits(data: np.ndarray, nbits: int, src: str, fld: str) -> np.ndarray:
    need = (nbits + 7) // 8
    if data.dtype != np.uint8 or data.ndim != 1:
        raise InputError(f"must be a 1-D uint8 array, got {data.dtype} with shape {data.shape}",
                         source=src, field=fld)
    if data.size != need:
        raise InputError(f"has {data.size} bytes, expected {need} for {nbits} bits",
                         source=src, field=fld)
    bits = np.unpackbits(data)
    if bits[nbits:].any():
        raise InputError("padding bits after the last value are not zero", source=src, field=fld)
    return bits[:nbits]


def unpack_uint(data: np.ndarray, width: int, count: int, src: str = "<memory>",
                fld: str = "data") -> np.ndarray:
    """Inverse of :func:`pack_uint` (validates length and padding): int64 ``(count,)``."""
    bits = _unpack_bits(data, width * count, src, fld)
    if width == 0:
        return np.zeros(count, dtype=np.int64)
    weights = (1 << np.arange(width - 1, -1, -1, dtype=np.int64))
    return bits.reshape(count, width).astype(np.int64) @ weights


# --------------------------------------------------------------------------- mask encodings
def _comb_table(m: int, n: int) -> np.ndarray:
    """``T[p, i] = C(p, i)`` for p < m, i <= n (int64)."""
    return np.array([[math.comb(p, i) for i in range(n + 1)] for p in range(m)], dtype=np.int64)


def encode_mask(mask: np.ndarray, n: int, m: int, encoding: str) -> np.ndarray:
    """Bool ``(n_sub, d)`` N:M mask -> packed uint8 in ``encoding`` (empty when N = M)."""
    if n == m:
        return np.zeros(0, dtype=np.uint8)
    g = np.asarray(mask, dtype=bool).reshape(-1, m)
    if encoding == "bitmap":
        return np.packbits(g.ravel())
    pos = np.nonzero(g)[1].reshape(-1, n)  # ascending within each group
    if encoding == "positions":
        return pack_uint(pos, clog2(m))
    if encoding == "combinatorial":
        t = _comb_table(m, n)
        rank = t[pos, np.arange(1, n + 1)].sum(axis=1)  # combinatorial number system
        return pack_uint(rank, clog2(math.comb(m, n)))
    raise ValueError(f"unknown mask encoding {encoding!r}")


def decode_mask(data: np.ndarray, n_sub: int, d: int, n: int, m: int, encoding: str,
                src: str = "<memory>") -> np.ndarray:
    """Packed mask -> bool ``(n_sub, d)``; raises InputError(field='mask') unless exactly N:M."""
    if n == m:
        return np.ones((n_sub, d), dtype=bool)
    if encoding not in MASK_ENCODINGS:
        raise InputError(f"unknown mask encoding {encoding!r}", source=src,
                         field="mask_encoding", allowed=", ".join(MASK_ENCODINGS))
    groups = n_sub * d // m
    bits_each = mask_bits_per_group(encoding, n, m)
    if encoding == "bitmap":
        g = _unpack_bits(data, groups * m, src, "mask").reshape(groups, m).astype(bool)
        bad = np.flatnonzero(g.sum(axis=1) != n)
        if bad.size:
            i = int(bad[0])
            raise InputError(f"M-group {i} keeps {int(g[i].sum())} weights, not exactly N={n} "
                             f"of M={m} ({bad.size} bad groups)", source=src, field="mask",
                             allowed=f"exactly {n} set bits per {m}")
        return g.reshape(n_sub, d)
    if encoding == "positions":
        vals = unpack_uint(data, clog2(m), groups * n, src, "mask")
    else:
        vals = unpack_uint(data, bits_each, groups, src, "mask")
    if encoding == "positions":
        pos = vals.reshape(groups, n)
        bad = np.flatnonzero((pos >= m).any(axis=1) | (np.diff(pos, axis=1) <= 0).any(axis=1))
        if bad.size:
            i = int(bad[0])
            raise InputError(f"M-group {i} has positions {pos[i].tolist()}: not {n} distinct "
                             f"increasing positions below M={m}", source=src, field="mask",
                             allowed=f"{n} increasing positions in 0..{m - 1}")
    else:  # combinatorial
        total = math.comb(m, n)
        bad = np.flatnonzero(vals >= total)
        if bad.size:
            i = int(bad[0])
            raise InputError(f"M-group {i} has rank {int(vals[i])} >= C({m},{n})={total}",
                             source=src, field="mask", allowed=f"0..{total - 1}")
        t = _comb_table(m, n)
        r = vals.copy()
        pos = np.empty((groups, n), dtype=np.int64)
        for i in range(n, 0, -1):  # greedy unranking, vectorised over groups
            p = np.searchsorted(t[:, i], r, side="right") - 1
            pos[:, i - 1] = p
            r -= t[p, i]
    g = np.zeros((groups, m), dtype=bool)
    np.put_along_axis(g, pos, True, axis=1)
    return g.reshape(n_sub, d)


# --------------------------------------------------------------------------- the layer object
@dataclass(eq=False)
class CompressedLayer:
    """One compressed layer, as the weight loader sees it.

    Sub-vector ``i`` covers output channel ``o``, tap ``(r, s)`` and channels ``c*d .. c*d+d-1``
    with ``i = ((o*kh + r)*kw + s)*(Cp/d) + c`` (``Cp`` = channels after padding).  Dense layers
    (``method == "dense"``) only carry ``int8_weights`` and ``scale``.

    ``method == "dbb"`` (S2TA density-bound blocks): a sub-vector is one block of ``d = M``
    channels; ``kept_values`` holds its ``N`` kept int8 weights (ascending positions), the mask
    says where they are, ``scale`` is one per-layer scale; no indices, no codebook (``k = 1``).
    """

    name: str
    method: str
    weight_shape: tuple[int, int, int, int]
    scale: np.ndarray
    d: int = 1
    k: int = 1
    nm: tuple[int, int] = (1, 1)
    mask_encoding: str = "none"
    codebook_groups: int = 1
    indices: np.ndarray | None = None
    codebook: np.ndarray | None = None
    mask_data: np.ndarray | None = None
    sign_data: np.ndarray | None = None
    int8_weights: np.ndarray | None = None
    kept_values: np.ndarray | None = None
    fit: str = "dense"
    note: str = ""
    stats: dict = field(default_factory=dict)

    # ---------------------------------------------------------------- shape facts
    @property
    def is_dense(self) -> bool:
        return self.method == "dense"

    @property
    def is_pruned(self) -> bool:
        return not self.is_dense and self.nm[0] < self.nm[1]

    @property
    def has_signs(self) -> bool:
        return self.method == "ssvq"

    @property
    def is_dbb(self) -> bool:
        return self.method == "dbb"

    @property
    def has_codebook(self) -> bool:
        """VQ family (indices into an int8 codebook); False for dense and dbb."""
        return self.method in VQ_METHODS

    @property
    def kept_per_subvector(self) -> int:
        """Kept weights per sub-vector, ``N*d/M`` (``d`` when not pruned)."""
        return self.d * self.nm[0] // self.nm[1] if self.is_pruned else self.d

    @property
    def n_weights(self) -> int:
        return int(np.prod(self.weight_shape))

    @property
    def channels(self) -> int:
        return self.weight_shape[1]

    @property
    def padded_channels(self) -> int:
        return self.channels if self.is_dense else padded_channels(self.channels, self.d)

    @property
    def subvectors_per_out_channel(self) -> int:
        _, _, r, s = self.weight_shape
        return r * s * self.padded_channels // self.d

    @property
    def n_sub(self) -> int:
        return 0 if self.is_dense else self.weight_shape[0] * self.subvectors_per_out_channel

    @property
    def index_bits(self) -> int:
        """Bits per index, ``ceil(log2 k)``."""
        return clog2(self.k)

    @property
    def bits(self) -> LayerBits:
        return layer_bits(self.method, self.weight_shape, nm=self.nm, k=self.k, d=self.d,
                          mask_encoding=self.mask_encoding, codebook_groups=self.codebook_groups)

    def _need_vq(self) -> None:
        if self.is_dense:
            raise ValueError(f"layer {self.name!r} is dense INT8: it has no sub-vectors")

    def _need_codebook(self) -> None:
        self._need_vq()
        if not self.has_codebook:
            raise ValueError(f"layer {self.name!r} is {self.method}: it has no codebook")

    # ---------------------------------------------------------------- decoded fields
    @cached_property
    def _mask(self) -> np.ndarray:
        self._need_vq()
        if not self.is_pruned:
            return np.ones((self.n_sub, self.d), dtype=bool)
        return decode_mask(self.mask_data, self.n_sub, self.d, *self.nm, self.mask_encoding,
                           self.name)

    def mask(self) -> np.ndarray:
        """Bool ``(n_sub, d)``: kept positions (all True when not pruned)."""
        return self._mask

    @cached_property
    def _signs(self) -> np.ndarray:
        self._need_vq()
        neg = np.zeros((self.n_sub, self.d), dtype=bool)
        if self.has_signs:
            m = self.mask()
            neg[m] = _unpack_bits(self.sign_data, int(m.sum()), self.name, "signs").astype(bool)
        return neg

    def signs(self) -> np.ndarray:
        """Bool ``(n_sub, d)``: True where the weight is negated (ssvq; False elsewhere)."""
        return self._signs

    def subvector_group(self) -> np.ndarray:
        """Codebook group of every sub-vector, int64 ``(n_sub,)`` (output channels in G blocks)."""
        self._need_codebook()
        per_group = self.n_sub // self.codebook_groups
        return np.arange(self.n_sub, dtype=np.int64) // per_group

    def index_grid(self) -> np.ndarray:
        """Indices as ``(out_c, kh, kw, Cp/d)``."""
        self._need_codebook()
        o, _, r, s = self.weight_shape
        return self.indices.reshape(o, r, s, self.padded_channels // self.d)

    def codewords(self) -> np.ndarray:
        """int8 ``(n_sub, d)``: the CRF read, ``codebook[group, index]``."""
        self._need_codebook()
        return self.codebook[self.subvector_group(), self.indices.astype(np.int64)]

    def values(self) -> np.ndarray:
        """int8 ``(n_sub, d)``: what the loader emits, ``codeword ⊙ mask (∘ sign)``; dbb: the
        kept values scattered to their positions, zeros elsewhere."""
        if self.is_dbb:
            v = np.zeros((self.n_sub, self.d), dtype=np.int8)
            v[self.mask()] = self.kept_values.ravel()
            return v
        v = np.where(self.mask(), self.codewords(), np.int8(0))
        if self.has_signs:
            v = np.where(self.signs(), -v, v)
        return v.astype(np.int8)

    def nonzeros(self) -> tuple[np.ndarray, np.ndarray]:
        """Per sub-vector, the ``N*d/M`` kept (position-in-sub-vector, int8 value) pairs, as two
        ``(n_sub, N*d/M)`` arrays (positions ascending): the sparse array's operands."""
        m = self.mask()
        per = int(m[0].sum()) if m.shape[0] else 0
        pos = np.nonzero(m)[1].reshape(-1, per)
        return pos, np.take_along_axis(self.values(), pos, axis=1)

    def scale_per_out_channel(self) -> np.ndarray:
        """float32 ``(out_c,)``: dequantisation scale of every output channel."""
        o = self.weight_shape[0]
        return np.repeat(self.scale.astype(np.float32), o // len(self.scale))

    def decode(self) -> tuple[np.ndarray, np.ndarray]:
        """(int8 weights ``(out_c, in_c/g, kh, kw)``, float32 scale per output channel
        ``(out_c,)``): what the hardware computes with; real weight = ``w[o] * scale[o]``."""
        if self.is_dense:
            return self.int8_weights, self.scale_per_out_channel()
        return from_subvectors(self.values(), self.weight_shape, self.d), \
            self.scale_per_out_channel()

    def dequantize(self) -> np.ndarray:
        """float32 reconstruction ``(out_c, in_c/g, kh, kw)``."""
        w, s = self.decode()
        return w.astype(np.float32) * s[:, None, None, None]

    # ---------------------------------------------------------------- serialisation
    def meta(self) -> dict:
        dense = self.is_dense
        return {
            "format": LAYER_FORMAT,
            "version": FORMAT_VERSION,
            "name": self.name,
            "method": self.method,
            "weight_shape": [int(v) for v in self.weight_shape],
            "d": None if dense else int(self.d),
            "k": None if dense or self.is_dbb else int(self.k),
            "nm": None if dense else [int(v) for v in self.nm],
            "mask_encoding": "none" if dense or not self.is_pruned else self.mask_encoding,
            "codebook_groups": 1 if dense else int(self.codebook_groups),
            "fit": self.fit,
            "note": self.note,
            "stats": {key: float(v) for key, v in self.stats.items()},
        }

    def arrays(self) -> dict[str, np.ndarray]:
        meta = json.dumps(self.meta(), sort_keys=True).encode()
        out = {"meta": np.frombuffer(meta, dtype=np.uint8),
               "scale": np.asarray(self.scale, dtype=np.float32)}
        if self.is_dense:
            out["weights"] = self.int8_weights
            return out
        if self.is_dbb:
            out["values"] = self.kept_values
            if self.is_pruned:
                out["mask"] = self.mask_data
            return out
        out["indices"] = self.indices
        out["codebook"] = self.codebook
        if self.is_pruned:
            out["mask"] = self.mask_data
        if self.has_signs:
            out["signs"] = self.sign_data
        return out


# --------------------------------------------------------------------------- save / load layer
def save_layer(layer: CompressedLayer, path: str | os.PathLike) -> Path:
    """Write ``layer`` to ``path`` atomically (temporary name in the same directory, rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **layer.arrays())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error,
                UnicodeDecodeError, TypeError)


def _get(meta: dict, key: str, src: str):
    if key not in meta:
        raise InputError("missing from the layer metadata", source=src, field=key)
    return meta[key]


def _pos_int(v, src: str, fld: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise InputError(f"must be a positive integer, got {v!r}", source=src, field=fld)
    return v


def _check_array(a: np.ndarray, dtype, shape: tuple | None, src: str, fld: str) -> None:
    if a.dtype != np.dtype(dtype):
        raise InputError(f"has dtype {a.dtype}, expected {np.dtype(dtype)}", source=src, field=fld)
    if shape is not None and tuple(a.shape) != tuple(shape):
        raise InputError(f"has shape {tuple(a.shape)}, expected {tuple(shape)}", source=src,
                         field=fld)


def _int8_range(a: np.ndarray, lo: int, src: str, fld: str) -> None:
    if a.size and int(a.min()) < lo:
        raise InputError(f"contains {int(a.min())}, below {lo}", source=src, field=fld,
                         allowed=f"{lo}..127")


def layer_from_arrays(arrays: dict[str, np.ndarray], src: str) -> CompressedLayer:
    """Validate archive members (already read) and build the layer; InputError on any problem."""
    if "meta" not in arrays:
        raise InputError("missing (not an ewssim compressed-layer file)", source=src, field="meta")
    raw = arrays["meta"]
    try:
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError("not a 1-D uint8 array")
        meta = json.loads(raw.tobytes().decode("utf-8"))
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        raise InputError(f"unreadable metadata: {exc}", source=src, field="meta") from None
    if _get(meta, "format", src) != LAYER_FORMAT:
        raise InputError(f"is {meta['format']!r}, not an ewssim compressed layer", source=src,
                         field="format", allowed=LAYER_FORMAT)
    version = _get(meta, "version", src)
    if version != FORMAT_VERSION:
        raise InputError(f"unsupported format version {version!r}", source=src, field="version",
                         allowed=str(FORMAT_VERSION))
    name = _get(meta, "name", src)
    if not isinstance(name, str) or not name:
        raise InputError(f"must be a non-empty string, got {name!r}", source=src, field="name")
    method = _get(meta, "method", src)
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}", source=src, field="method",
                         allowed=", ".join(METHODS))
    shape = _get(meta, "weight_shape", src)
    if not isinstance(shape, list) or len(shape) != 4:
        raise InputError(f"must be a list of 4 positive integers, got {shape!r}", source=src,
                         field="weight_shape")
    shape = tuple(_pos_int(v, src, "weight_shape") for v in shape)
    fit = _get(meta, "fit", src)
    if fit not in FITS:
        raise InputError(f"unknown fit rule {fit!r}", source=src, field="fit",
                         allowed=", ".join(FITS))
    note = _get(meta, "note", src)
    if not isinstance(note, str):
        raise InputError(f"must be a string, got {note!r}", source=src, field="note")
    stats = _get(meta, "stats", src)
    if not isinstance(stats, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in stats.values()):
        raise InputError("must be an object of finite numbers", source=src, field="stats")

    allowed = {"meta", "scale"} | ({"weights"} if method == "dense" else
                                   {"values"} if method == "dbb" else {"indices", "codebook"})
    if method == "dense":
        mask_encoding, d, k, nm, groups = "none", 1, 1, (1, 1), 1
    else:
        d = _pos_int(_get(meta, "d", src), src, "d")
        if method == "dbb":
            k = _get(meta, "k", src)
            if k is not None:
                raise InputError(f"must be null for dbb (no codebook), got {k!r}", source=src,
                                 field="k", allowed="null")
            k = 1
        else:
            k = _pos_int(_get(meta, "k", src), src, "k")
        if k & (k - 1):
            raise InputError(f"k={k} is not a power of two", source=src, field="k",
                             allowed="1, 2, 4, ... 65536")
        nm = _get(meta, "nm", src)
        if not isinstance(nm, list) or len(nm) != 2:
            raise InputError(f"must be [N, M], got {nm!r}", source=src, field="nm")
        n, m = (_pos_int(v, src, "nm") for v in nm)
        if n > m or d % m:
            raise InputError(f"N:M = {n}:{m} with d={d}: need N <= M and M dividing d",
                             source=src, field="nm")
        if method == "dbb" and n < m and d != m:
            raise InputError(f"d={d} must equal the block size M={m} for dbb", source=src,
                             field="d", allowed=str(m))
        nm = (n, m)
        groups = _pos_int(_get(meta, "codebook_groups", src), src, "codebook_groups")
        if method == "dbb" and groups != 1:
            raise InputError(f"must be 1 for dbb (no codebook), got {groups}", source=src,
                             field="codebook_groups", allowed="1")
        if shape[0] % groups:
            raise InputError(f"{groups} does not divide out_c={shape[0]}", source=src,
                             field="codebook_groups")
        mask_encoding = _get(meta, "mask_encoding", src)
        want = ("none",) if n == m else MASK_ENCODINGS
        if mask_encoding not in want:
            raise InputError(f"{mask_encoding!r} with N:M = {n}:{m}", source=src,
                             field="mask_encoding", allowed=", ".join(want))
        if n < m:
            allowed.add("mask")
        if method == "ssvq":
            allowed.add("signs")
    for key in arrays:
        if key not in allowed:
            raise InputError(f"unexpected member {key!r} for method {method}", source=src,
                             field=key, allowed=", ".join(sorted(allowed)))
    for key in allowed:
        if key not in arrays:
            raise InputError(f"missing for method {method}", source=src, field=key)

    scale = arrays["scale"]
    _check_array(scale, np.float32, (groups,), src, "scale")
    if not (np.isfinite(scale).all() and (scale > 0).all()):
        raise InputError("must be finite and > 0", source=src, field="scale")
    common = dict(name=name, method=method, weight_shape=shape, scale=scale, fit=fit, note=note,
                  stats=dict(stats))
    if method == "dense":
        w = arrays["weights"]
        _check_array(w, np.int8, shape, src, "weights")
        _int8_range(w, -127, src, "weights")
        return CompressedLayer(int8_weights=w, **common)

    layer = CompressedLayer(d=d, k=k, nm=nm, mask_encoding=mask_encoding, codebook_groups=groups,
                            **common)
    n_sub = layer.n_sub
    if method == "dbb":
        vals = arrays["values"]
        _check_array(vals, np.int8, (n_sub, layer.kept_per_subvector), src, "values")
        _int8_range(vals, -127, src, "values")
        layer.kept_values = vals
        if layer.is_pruned:
            layer.mask_data = arrays["mask"]
            layer.__dict__["_mask"] = decode_mask(layer.mask_data, n_sub, d, *nm, mask_encoding,
                                                  src)
        if layer.padded_channels != layer.channels:  # zero padding must stay zero
            real = np.broadcast_to(np.arange(layer.padded_channels) < layer.channels,
                                   (n_sub * d // layer.padded_channels, layer.padded_channels))
            pad_vals = layer.values()[~real.reshape(n_sub, d)]
            if pad_vals.any():
                raise InputError(f"{int(np.count_nonzero(pad_vals))} kept value(s) at zero-padded "
                                 "channel positions are not 0", source=src, field="values",
                                 allowed="0 at padded positions")
        return layer
    if n_sub % groups:
        raise InputError(f"{groups} groups do not divide {n_sub} sub-vectors", source=src,
                         field="codebook_groups")
    idx = arrays["indices"]
    _check_array(idx, index_dtype(k), (n_sub,), src, "indices")
    if idx.size and int(idx.max()) >= k:
        i = int(np.argmax(idx >= k))
        raise InputError(f"index {int(idx[i])} at sub-vector {i} is out of range for k={k}",
                         source=src, field="indices", allowed=f"0..{k - 1}")
    cb = arrays["codebook"]
    _check_array(cb, np.int8, (groups, k, d), src, "codebook")
    _int8_range(cb, 0 if method == "ssvq" else -127, src, "codebook")
    layer.indices, layer.codebook = idx, cb
    if layer.is_pruned:
        layer.mask_data = arrays["mask"]
        layer.__dict__["_mask"] = decode_mask(layer.mask_data, n_sub, d, *nm, mask_encoding, src)
    if method == "ssvq":
        layer.sign_data = arrays["signs"]
        kept = int(layer.mask().sum())
        neg = np.zeros((n_sub, d), dtype=bool)
        neg[layer.mask()] = _unpack_bits(layer.sign_data, kept, src, "signs").astype(bool)
        layer.__dict__["_signs"] = neg
    return layer


def load_layer(path: str | os.PathLike, layer=None) -> CompressedLayer:
    """Read and validate one layer file; ``layer`` (a workload ``Layer``) checks the shape."""
    src = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", source=src, field="file") from None
    return _layer_from_bytes(data, src, layer)


def _layer_from_bytes(data: bytes, src: str, layer=None) -> CompressedLayer:
    try:
        npz = np.load(io.BytesIO(data), allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
    except _READ_ERRORS as exc:
        raise InputError(f"not a readable .npz archive ({type(exc).__name__}: {exc})",
                         source=src, field="file") from None
    arrays: dict[str, np.ndarray] = {}
    with npz:
        for key in npz.files:
            try:
                arrays[key] = npz[key]
            except _READ_ERRORS as exc:
                raise InputError(f"corrupt or truncated member ({type(exc).__name__}: {exc})",
                                 source=src, field=key) from None
    out = layer_from_arrays(arrays, src)
    if layer is not None:
        if out.weight_shape != tuple(layer.weight_shape):
            raise InputError(f"shape {out.weight_shape} does not match layer '{layer.name}' "
                             f"{tuple(layer.weight_shape)}", source=src, field="weight_shape")
    return out


def decode(layer_file: str | os.PathLike | CompressedLayer) -> tuple[np.ndarray, np.ndarray]:
    """(int8 weights ``(out_c, in_c/g, kh, kw)``, float32 scale per output channel)."""
    cl = layer_file if isinstance(layer_file, CompressedLayer) else load_layer(layer_file)
    return cl.decode()


# --------------------------------------------------------------------------- network directory
@dataclass
class CompressedNetwork:
    """The compressed weighted layers of a network, in network order."""

    name: str
    layers: list[CompressedLayer]
    settings: dict = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # layers without weights (matmul)

    def __getitem__(self, name: str) -> CompressedLayer:
        for la in self.layers:
            if la.name == name:
                return la
        raise KeyError(name)

    def __iter__(self):
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def bits(self) -> LayerBits:
        total = LayerBits(weights=0)
        for la in self.layers:
            total = total + la.bits
        return total

    def stat_total(self, key: str) -> float | None:
        vals = [la.stats.get(key) for la in self.layers]
        return None if any(v is None for v in vals) else float(sum(vals))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80] or "layer"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_network(net: CompressedNetwork, out: str | os.PathLike) -> Path:
    """Write ``net`` as a directory: layer files + manifest.json, built in a temporary directory
    next to ``out`` and renamed into place, so ``out`` is never left half-written.  An existing
    ``out`` is replaced only if it is empty or an ewssim compressed-network directory."""
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise InputError("exists and is not a directory", source=str(out), field="--out")
        if any(out.iterdir()) and not (out / MANIFEST).is_file():
            raise InputError("exists and is not an ewssim compressed-network directory; "
                             "refusing to replace it", source=str(out), field="--out")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create: {exc.strerror or exc}", source=str(out.parent),
                         field="--out") from None
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        entries = []
        for i, la in enumerate(net.layers):
            fname = f"{i:03d}_{_safe(la.name)}.npz"
            save_layer(la, tmp / fname)
            entries.append({"name": la.name, "file": fname, "method": la.method,
                            "weight_shape": list(la.weight_shape),
                            "sha256": _sha256((tmp / fname).read_bytes())})
        manifest = {"format": NETWORK_FORMAT, "version": FORMAT_VERSION, "network": net.name,
                    "settings": net.settings, "layers": entries, "skipped": list(net.skipped)}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            old.rmdir()
            os.rename(out, old)
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def load_network_dir(path: str | os.PathLike, network=None) -> CompressedNetwork:
    """Read and validate a compressed-network directory (manifest, every layer file, checksums).
    ``network`` (a workload ``Network``) additionally checks names and shapes."""
    root = Path(path)
    mpath = root / MANIFEST
    src = str(mpath)
    if not root.is_dir():
        raise InputError("is not a directory", source=str(root), field="path")
    try:
        manifest = json.loads(mpath.read_text())
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", source=src, field="file") from None
    except ValueError as exc:
        raise InputError(f"not valid JSON: {exc}", source=src, field="file") from None
    if not isinstance(manifest, dict):
        raise InputError("must be a JSON object", source=src, field="file")
    if manifest.get("format") != NETWORK_FORMAT:
        raise InputError(f"is {manifest.get('format')!r}", source=src, field="format",
                         allowed=NETWORK_FORMAT)
    if manifest.get("version") != FORMAT_VERSION:
        raise InputError(f"unsupported format version {manifest.get('version')!r}", source=src,
                         field="version", allowed=str(FORMAT_VERSION))
    name = manifest.get("network")
    if not isinstance(name, str):
        raise InputError(f"must be a string, got {name!r}", source=src, field="network")
    settings = manifest.get("settings", {})
    skipped = manifest.get("skipped", [])
    if not isinstance(settings, dict):
        raise InputError("must be an object", source=src, field="settings")
    if not isinstance(skipped, list) or not all(isinstance(s, str) for s in skipped):
        raise InputError("must be a list of layer names", source=src, field="skipped")
    entries = manifest.get("layers")
    if not isinstance(entries, list):
        raise InputError("must be a list", source=src, field="layers")
    layers: list[CompressedLayer] = []
    want = None
    if network is not None:
        want = {la.name: la for la in network.layers if la.has_weights}
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not all(isinstance(e.get(f), str)
                                              for f in ("name", "file", "sha256")):
            raise InputError(f"entry {i} needs string name, file and sha256", source=src,
                             field="layers")
        fname = e["file"]
        if "/" in fname or "\\" in fname or fname.startswith("."):
            raise InputError(f"entry {i}: file name {fname!r} must be a plain name in the "
                             "directory", source=src, field="layers")
        fpath = root / fname
        try:
            data = fpath.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", source=str(fpath),
                             field="file") from None
        wl = None
        if want is not None:
            if e["name"] not in want:
                raise InputError(f"layer {e['name']!r} is not a weighted layer of network "
                                 f"{network.name!r}", source=src, field="layers")
            wl = want[e["name"]]
        la = _layer_from_bytes(data, str(fpath), wl)
        if la.name != e["name"]:
            raise InputError(f"layer file holds {la.name!r}, manifest says {e['name']!r}",
                             source=str(fpath), field="name")
        if _sha256(data) != e["sha256"]:
            raise InputError("checksum does not match the manifest (file changed or corrupt)",
                             source=str(fpath), field="sha256")
        layers.append(la)
    return CompressedNetwork(name=name, layers=layers, settings=settings, skipped=skipped)
