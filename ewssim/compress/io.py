"""Versioned compressed-layer files: one ``.npz`` per layer, a directory per network.

Every field, dtype and rule is documented in docs/compression.md; :func:`load_layer` and
:func:`load_network_dir` check all of them and raise :class:`~ewssim.errors.InputError` naming
the file and the field.  Writes go to a temporary name and are renamed into place.

Layer archive members (format version 1):

``meta``      uint8, UTF-8 JSON: format, version, name, method, weight_shape, d, k, nm,
              mask_encoding, codebook_groups, fit, note, stats
``scale``     float32 ``(G,)``: one dequantisation scale per codebook (int8, dbb: ``(1,)``)
``indices``   smallest uint dtype for k (uint8 k<=256, uint16 k<=65536), ``(n_sub,)``
``codebook``  int8 ``(G, k, d)``, values in [-127, 127] (ssvq: [0, 127])
``mask``      uint8, packed bits in the chosen encoding (absent when N = M)
``signs``     uint8, packed bits, 1 = negative, one per kept position (ssvq only)
``weights``   int8 ``(out_c, in_c/groups, kh, kw)`` (int8 only)
``values``    int8 ``(n_sub, N*d/M)``: the kept int8 weights of every block, in ascending
              position order (dbb only; ``d`` = the block size M)
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
from pathlib import Path

import numpy as np

from ewssim.errors import InputError

from .codecs import decode_mask, index_dtype, unpack_bits
from .format import (
    FIT_ALIASES,
    FITS,
    METHOD_ALIASES,
    METHODS,
    WeightFormat,
)
from .layer import CompressedLayer, CompressedNetwork

LAYER_FORMAT = "ewssim-compressed-layer"
NETWORK_FORMAT = "ewssim-compressed-network"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"

_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error,
                UnicodeDecodeError, TypeError)


# --------------------------------------------------------------------------- layer -> arrays
def layer_meta(cl: CompressedLayer) -> dict:
    f = cl.format
    return {
        "format": LAYER_FORMAT,
        "version": FORMAT_VERSION,
        "name": cl.name,
        "method": f.method,
        "weight_shape": [int(v) for v in cl.weight_shape],
        "d": None if f.int8 else int(f.d),
        "k": int(f.k) if f.codebook else None,
        "nm": None if f.int8 else [int(v) for v in f.nm],
        "mask_encoding": f.mask_encoding,
        "codebook_groups": int(f.codebook_groups),
        "fit": cl.fit,
        "note": cl.note,
        "stats": {key: float(v) for key, v in cl.stats.items()},
    }


def layer_arrays(cl: CompressedLayer) -> dict[str, np.ndarray]:
    """The archive members of ``cl``."""
    f = cl.format
    meta = json.dumps(layer_meta(cl), sort_keys=True).encode()
    out = {"meta": np.frombuffer(meta, dtype=np.uint8),
           "scale": np.asarray(cl.scale, dtype=np.float32)}
    if f.int8:
        out["weights"] = cl.int8_weights
        return out
    if f.dbb:
        out["values"] = cl.kept_values
    else:
        out["indices"] = cl.indices
        out["codebook"] = cl.codebook
    if f.pruned:
        out["mask"] = cl.mask_data
    if f.signs:
        out["signs"] = cl.sign_data
    return out


def save_layer(layer: CompressedLayer, path: str | os.PathLike) -> Path:
    """Write ``layer`` to ``path`` atomically (temporary name in the same directory, rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **layer_arrays(layer))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# --------------------------------------------------------------------------- arrays -> layer
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


def _read_meta(arrays: dict[str, np.ndarray], src: str) -> dict:
    """The JSON metadata member, with its format and version checked."""
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
    return meta


def _read_common(meta: dict, src: str) -> dict:
    """name, weight_shape, fit, note and stats."""
    name = _get(meta, "name", src)
    if not isinstance(name, str) or not name:
        raise InputError(f"must be a non-empty string, got {name!r}", source=src, field="name")
    shape = _get(meta, "weight_shape", src)
    if not isinstance(shape, list) or len(shape) != 4:
        raise InputError(f"must be a list of 4 positive integers, got {shape!r}", source=src,
                         field="weight_shape")
    shape = tuple(_pos_int(v, src, "weight_shape") for v in shape)
    fit = _get(meta, "fit", src)
    fit = FIT_ALIASES.get(fit, fit)
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
    return dict(name=name, weight_shape=shape, fit=fit, note=note, stats=dict(stats))


def _read_format(meta: dict, shape: tuple[int, ...], src: str) -> WeightFormat:
    """The layer's :class:`WeightFormat`, every field checked against the others."""
    method = _get(meta, "method", src)
    method = METHOD_ALIASES.get(method, method)
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}", source=src, field="method",
                         allowed=", ".join(METHODS))
    if method == "int8":
        return WeightFormat()
    d = _pos_int(_get(meta, "d", src), src, "d")
    k = _get(meta, "k", src)
    if method == "dbb":
        if k is not None:
            raise InputError(f"must be null for dbb (no codebook), got {k!r}", source=src,
                             field="k", allowed="null")
        k = 1
    k = _pos_int(k, src, "k")
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
    groups = _pos_int(_get(meta, "codebook_groups", src), src, "codebook_groups")
    if method == "dbb" and groups != 1:
        raise InputError(f"must be 1 for dbb (no codebook), got {groups}", source=src,
                         field="codebook_groups", allowed="1")
    if shape[0] % groups:
        raise InputError(f"{groups} does not divide out_c={shape[0]}", source=src,
                         field="codebook_groups")
    enc = _get(meta, "mask_encoding", src)
    want = ("none",) if n == m else ("bitmap", "positions", "combinatorial")
    if enc not in want:
        raise InputError(f"{enc!r} with N:M = {n}:{m}", source=src, field="mask_encoding",
                         allowed=", ".join(want))
    return WeightFormat.make(method, nm=(n, m), d=d, k=k, codebook_groups=groups,
                             mask_encoding=None if n == m else enc, source=src)


def _members(f: WeightFormat) -> set[str]:
    out = {"meta", "scale"}
    if f.int8:
        return out | {"weights"}
    out |= {"values"} if f.dbb else {"indices", "codebook"}
    if f.pruned:
        out.add("mask")
    if f.signs:
        out.add("signs")
    return out


def _check_members(arrays: dict, f: WeightFormat, src: str) -> None:
    allowed = _members(f)
    for key in arrays:
        if key not in allowed:
            raise InputError(f"unexpected member {key!r} for method {f.method}", source=src,
                             field=key, allowed=", ".join(sorted(allowed)))
    for key in allowed:
        if key not in arrays:
            raise InputError(f"missing for method {f.method}", source=src, field=key)


def _attach_mask(layer: CompressedLayer, arrays: dict, src: str) -> None:
    f = layer.format
    if f.pruned:
        layer.mask_data = arrays["mask"]
        layer.__dict__["_mask"] = decode_mask(layer.mask_data, layer.n_sub, f.d, *f.nm,
                                              f.mask_encoding, src)


def _dbb_payload(layer: CompressedLayer, arrays: dict, src: str) -> None:
    vals = arrays["values"]
    _check_array(vals, np.int8, (layer.n_sub, layer.format.kept_per_subvector), src, "values")
    _int8_range(vals, -127, src, "values")
    layer.kept_values = vals
    _attach_mask(layer, arrays, src)
    if layer.padded_channels != layer.channels:  # zero padding must stay zero
        d = layer.format.d
        real = np.broadcast_to(np.arange(layer.padded_channels) < layer.channels,
                               (layer.n_sub * d // layer.padded_channels, layer.padded_channels))
        pad_vals = layer.values()[~real.reshape(layer.n_sub, d)]
        if pad_vals.any():
            raise InputError(f"{int(np.count_nonzero(pad_vals))} kept value(s) at zero-padded "
                             "channel positions are not 0", source=src, field="values",
                             allowed="0 at padded positions")


def _codebook_payload(layer: CompressedLayer, arrays: dict, src: str) -> None:
    f, n_sub = layer.format, layer.n_sub
    if n_sub % f.codebook_groups:
        raise InputError(f"{f.codebook_groups} groups do not divide {n_sub} sub-vectors",
                         source=src, field="codebook_groups")
    idx = arrays["indices"]
    _check_array(idx, index_dtype(f.k), (n_sub,), src, "indices")
    if idx.size and int(idx.max()) >= f.k:
        i = int(np.argmax(idx >= f.k))
        raise InputError(f"index {int(idx[i])} at sub-vector {i} is out of range for k={f.k}",
                         source=src, field="indices", allowed=f"0..{f.k - 1}")
    cb = arrays["codebook"]
    _check_array(cb, np.int8, (f.codebook_groups, f.k, f.d), src, "codebook")
    _int8_range(cb, 0 if f.signs else -127, src, "codebook")
    layer.indices, layer.codebook = idx, cb
    _attach_mask(layer, arrays, src)
    if f.signs:
        layer.sign_data = arrays["signs"]
        kept = int(layer.mask().sum())
        neg = np.zeros((n_sub, f.d), dtype=bool)
        neg[layer.mask()] = unpack_bits(layer.sign_data, kept, src, "signs").astype(bool)
        layer.__dict__["_signs"] = neg


def layer_from_arrays(arrays: dict[str, np.ndarray], src: str) -> CompressedLayer:
    """Validate archive members (already read) and build the layer; InputError on any problem."""
    meta = _read_meta(arrays, src)
    common = _read_common(meta, src)
    fmt = _read_format(meta, common["weight_shape"], src)
    _check_members(arrays, fmt, src)
    scale = arrays["scale"]
    _check_array(scale, np.float32, (fmt.codebook_groups,), src, "scale")
    if not (np.isfinite(scale).all() and (scale > 0).all()):
        raise InputError("must be finite and > 0", source=src, field="scale")
    layer = CompressedLayer(format=fmt, scale=scale, **common)
    if fmt.int8:
        w = arrays["weights"]
        _check_array(w, np.int8, common["weight_shape"], src, "weights")
        _int8_range(w, -127, src, "weights")
        layer.int8_weights = w
    elif fmt.dbb:
        _dbb_payload(layer, arrays, src)
    else:
        _codebook_payload(layer, arrays, src)
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
    if layer is not None and out.weight_shape != tuple(layer.weight_shape):
        raise InputError(f"shape {out.weight_shape} does not match layer '{layer.name}' "
                         f"{tuple(layer.weight_shape)}", source=src, field="weight_shape")
    return out


def decode(layer_file: str | os.PathLike | CompressedLayer) -> tuple[np.ndarray, np.ndarray]:
    """(int8 weights ``(out_c, in_c/g, kh, kw)``, float32 scale per output channel)."""
    cl = layer_file if isinstance(layer_file, CompressedLayer) else load_layer(layer_file)
    return cl.decode()


# --------------------------------------------------------------------------- network directory
def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80] or "layer"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_out_dir(out: Path) -> None:
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


def save_network(net: CompressedNetwork, out: str | os.PathLike) -> Path:
    """Write ``net`` as a directory: layer files + manifest.json, built in a temporary directory
    next to ``out`` and renamed into place, so ``out`` is never left half-written.  An existing
    ``out`` is replaced only if it is empty or an ewssim compressed-network directory."""
    out = Path(out)
    _check_out_dir(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        entries = []
        for i, la in enumerate(net.layers):
            fname = f"{i:03d}_{_safe(la.name)}.npz"
            save_layer(la, tmp / fname)
            entries.append({"name": la.name, "file": fname, "method": la.format.method,
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


def _read_manifest(root: Path) -> dict:
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
    if not isinstance(manifest.get("network"), str):
        raise InputError(f"must be a string, got {manifest.get('network')!r}", source=src,
                         field="network")
    if not isinstance(manifest.get("settings", {}), dict):
        raise InputError("must be an object", source=src, field="settings")
    skipped = manifest.get("skipped", [])
    if not isinstance(skipped, list) or not all(isinstance(s, str) for s in skipped):
        raise InputError("must be a list of layer names", source=src, field="skipped")
    if not isinstance(manifest.get("layers"), list):
        raise InputError("must be a list", source=src, field="layers")
    return manifest


def _read_entry(root: Path, i: int, e, want: dict | None, network) -> CompressedLayer:
    src = str(root / MANIFEST)
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
    return la


def load_network_dir(path: str | os.PathLike, network=None) -> CompressedNetwork:
    """Read and validate a compressed-network directory (manifest, every layer file, checksums).
    ``network`` (a workload ``Network``) additionally checks names and shapes."""
    root = Path(path)
    manifest = _read_manifest(root)
    want = None
    if network is not None:
        want = {la.name: la for la in network.layers if la.has_weights}
    layers = [_read_entry(root, i, e, want, network) for i, e in enumerate(manifest["layers"])]
    return CompressedNetwork(name=manifest["network"], layers=layers,
                             settings=manifest.get("settings", {}),
                             skipped=manifest.get("skipped", []))
